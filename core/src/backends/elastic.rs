//! Placeholder until the elastic backend lands in this increment.

use super::{Backend, Batch, DeliveryError};
use crate::config::{AppConfig, ElasticConfig};
use crate::error::{Error, Result};

pub struct Elastic;

impl Elastic {
    pub fn new(_config: ElasticConfig, _app: &AppConfig) -> Result<Elastic> {
        Err(Error::config(
            "type",
            "the elastic backend is not built yet",
        ))
    }
}

impl Backend for Elastic {
    fn send(&mut self, _batch: &Batch) -> std::result::Result<(), DeliveryError> {
        Err(DeliveryError::permanent(
            "the elastic backend is not built yet",
        ))
    }
}
