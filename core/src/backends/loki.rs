//! Placeholder until the loki backend lands in this increment.

use super::{Backend, Batch, DeliveryError};
use crate::config::{AppConfig, LokiConfig};
use crate::error::{Error, Result};

pub struct Loki;

impl Loki {
    pub fn new(_config: LokiConfig, _app: &AppConfig) -> Result<Loki> {
        Err(Error::config("type", "the loki backend is not built yet"))
    }
}

impl Backend for Loki {
    fn send(&mut self, _batch: &Batch) -> std::result::Result<(), DeliveryError> {
        Err(DeliveryError::permanent(
            "the loki backend is not built yet",
        ))
    }
}
