//! Placeholder until the s3 backend lands in this increment.

use super::{Backend, Batch, DeliveryError};
use crate::config::{AppConfig, S3Config};
use crate::error::{Error, Result};

pub struct S3;

impl S3 {
    pub fn new(_config: S3Config, _app: &AppConfig) -> Result<S3> {
        Err(Error::config("type", "the s3 backend is not built yet"))
    }
}

impl Backend for S3 {
    fn send(&mut self, _batch: &Batch) -> std::result::Result<(), DeliveryError> {
        Err(DeliveryError::permanent("the s3 backend is not built yet"))
    }
}
