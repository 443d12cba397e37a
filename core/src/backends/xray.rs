//! Placeholder until the xray backend lands in this increment.

use super::{Backend, Batch, DeliveryError};
use crate::config::{AppConfig, XRayConfig};
use crate::error::{Error, Result};

pub struct XRay;

impl XRay {
    pub fn new(_config: XRayConfig, _app: &AppConfig) -> Result<XRay> {
        Err(Error::config("type", "the xray backend is not built yet"))
    }
}

impl Backend for XRay {
    fn send(&mut self, _batch: &Batch) -> std::result::Result<(), DeliveryError> {
        Err(DeliveryError::permanent(
            "the xray backend is not built yet",
        ))
    }
}
