//! Keys of the `xray` backend (X-Ray segments).

use serde::Deserialize;
use serde_json::Value;

use crate::backends::aws::AwsConfig;
use crate::config::from_value_at;
use crate::config::net::{default_retries, default_timeout, net, NetConfig};
use crate::error::Result;

#[derive(Debug, Clone, PartialEq)]
pub struct XRayConfig {
    pub aws: AwsConfig,
    pub net: NetConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawXRay {
    #[serde(default = "default_timeout")]
    timeout: f64,
    #[serde(default = "default_retries")]
    retries: u32,
}

pub(crate) fn parse(mut value: Value, path: &str) -> Result<XRayConfig> {
    let aws = AwsConfig::take(&mut value, path)?;
    let raw: RawXRay = from_value_at(value, path)?;
    Ok(XRayConfig {
        aws,
        net: net(raw.timeout, raw.retries, path)?,
    })
}

impl crate::backends::registry::ServiceConfig for XRayConfig {
    fn inline_retries(&self) -> u32 {
        self.net.retries
    }
}
