//! Placeholder until the cloudwatch backend lands in this increment.

use super::{Backend, Batch, DeliveryError};
use crate::config::{AppConfig, CloudWatchConfig};
use crate::error::{Error, Result};

pub struct CloudWatch;

impl CloudWatch {
    pub fn new(_config: CloudWatchConfig, _app: &AppConfig) -> Result<CloudWatch> {
        Err(Error::config(
            "type",
            "the cloudwatch backend is not built yet",
        ))
    }
}

impl Backend for CloudWatch {
    fn send(&mut self, _batch: &Batch) -> std::result::Result<(), DeliveryError> {
        Err(DeliveryError::permanent(
            "the cloudwatch backend is not built yet",
        ))
    }
}
