//! Placeholder until the zabbix backend lands in this increment.

use super::{Backend, Batch, DeliveryError};
use crate::config::{AppConfig, ZabbixConfig};
use crate::error::{Error, Result};

pub struct Zabbix;

impl Zabbix {
    pub fn new(_config: ZabbixConfig, _app: &AppConfig) -> Result<Zabbix> {
        Err(Error::config("type", "the zabbix backend is not built yet"))
    }
}

impl Backend for Zabbix {
    fn send(&mut self, _batch: &Batch) -> std::result::Result<(), DeliveryError> {
        Err(DeliveryError::permanent(
            "the zabbix backend is not built yet",
        ))
    }
}
