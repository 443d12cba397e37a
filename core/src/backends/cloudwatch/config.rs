//! Keys of the `cloudwatch` backend (CloudWatch Logs and metrics).

use serde::Deserialize;
use serde_json::Value;

use crate::backends::aws::AwsConfig;
use crate::config::from_value_at;
use crate::config::net::{default_retries, default_timeout, net, non_empty, NetConfig};
use crate::error::Result;

#[derive(Debug, Clone, PartialEq)]
pub struct CloudWatchConfig {
    pub aws: AwsConfig,
    pub log_group: String,
    /// None: one stream per app instance.
    pub log_stream: Option<String>,
    /// Namespace of PutMetricData; None (`null` in the config): no metrics are written.
    pub namespace: Option<String>,
    /// Create the log group and stream when they do not exist (needs the permission).
    pub create: bool,
    pub net: NetConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCloudWatch {
    #[serde(default = "default_log_group")]
    log_group: String,
    log_stream: Option<String>,
    #[serde(default = "default_namespace")]
    namespace: Option<String>,
    #[serde(default = "yes")]
    create: bool,
    #[serde(default = "default_timeout")]
    timeout: f64,
    #[serde(default = "default_retries")]
    retries: u32,
}

fn default_log_group() -> String {
    "/wafermon/events".into()
}
fn default_namespace() -> Option<String> {
    Some("Wafermon".into())
}
fn yes() -> bool {
    true
}

pub(crate) fn parse(mut value: Value, path: &str) -> Result<CloudWatchConfig> {
    let aws = AwsConfig::take(&mut value, path)?;
    let raw: RawCloudWatch = from_value_at(value, path)?;
    Ok(CloudWatchConfig {
        aws,
        log_group: non_empty(raw.log_group, &format!("{path}.log_group"))?,
        log_stream: raw
            .log_stream
            .map(|s| non_empty(s, &format!("{path}.log_stream")))
            .transpose()?,
        namespace: raw
            .namespace
            .map(|n| non_empty(n, &format!("{path}.namespace")))
            .transpose()?,
        create: raw.create,
        net: net(raw.timeout, raw.retries, path)?,
    })
}

impl crate::backends::registry::ServiceConfig for CloudWatchConfig {
    fn inline_retries(&self) -> u32 {
        self.net.retries
    }
}
