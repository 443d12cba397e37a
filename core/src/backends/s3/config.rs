//! Keys of the `s3` backend.

use serde::Deserialize;
use serde_json::Value;

use crate::backends::aws::AwsConfig;
use crate::config::from_value_at;
use crate::config::net::{default_retries, default_timeout, net, non_empty, NetConfig};
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

#[derive(Debug, Clone, PartialEq)]
pub struct S3Config {
    pub bucket: String,
    pub aws: AwsConfig,
    /// Key prefix, without leading or trailing '/'; may be empty.
    pub prefix: String,
    /// Address buckets as `endpoint/bucket` (S3-compatible servers) instead of by host name.
    pub path_style: bool,
    pub compression: Compression,
    pub net: NetConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawS3 {
    bucket: String,
    #[serde(default = "default_prefix")]
    prefix: String,
    #[serde(default)]
    path_style: bool,
    #[serde(default = "default_compression")]
    compression: String,
    #[serde(default = "default_timeout")]
    timeout: f64,
    #[serde(default = "default_retries")]
    retries: u32,
}

fn default_prefix() -> String {
    "wafermon".into()
}
fn default_compression() -> String {
    "none".into()
}

pub(crate) fn parse(mut value: Value, path: &str) -> Result<S3Config> {
    let aws = AwsConfig::take(&mut value, path)?;
    let raw: RawS3 = from_value_at(value, path)?;
    let compression = match raw.compression.as_str() {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        other => {
            return Err(Error::config(
                format!("{path}.compression"),
                format!("'{other}' is not one of none, gzip"),
            ))
        }
    };
    Ok(S3Config {
        bucket: non_empty(raw.bucket, &format!("{path}.bucket"))?,
        aws,
        prefix: raw.prefix.trim_matches('/').to_string(),
        path_style: raw.path_style,
        compression,
        net: net(raw.timeout, raw.retries, path)?,
    })
}

impl crate::backends::registry::ServiceConfig for S3Config {
    fn inline_retries(&self) -> u32 {
        self.net.retries
    }
}
