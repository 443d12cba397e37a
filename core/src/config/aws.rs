//! Keys of the AWS backends (`s3`, `cloudwatch`, `xray`): region, endpoint and credentials.
//! Credentials and region left out of the config come from the standard AWS environment
//! variables when the backend is built, not here, so a config stays a pure value.

use serde::Deserialize;
use serde_json::Value;

use super::load::from_value_at;
use super::net::{base_url, default_retries, default_timeout, net, non_empty, NetConfig};
use super::Secret;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct AwsConfig {
    /// None: `AWS_REGION`, then `AWS_DEFAULT_REGION`, then us-east-1.
    pub region: Option<String>,
    /// An AWS-compatible endpoint (moto, SeaweedFS...); None: the AWS default.
    pub endpoint: Option<String>,
    /// None: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`.
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    pub session_token: Option<Secret>,
}

/// The AWS keys every AWS backend takes, in one place.
const AWS_KEYS: &[&str] = &[
    "region",
    "endpoint",
    "access_key_id",
    "secret_access_key",
    "session_token",
];

#[derive(Deserialize)]
struct RawAws {
    region: Option<String>,
    endpoint: Option<String>,
    access_key_id: Option<Secret>,
    secret_access_key: Option<Secret>,
    session_token: Option<Secret>,
}

impl AwsConfig {
    /// Take the AWS keys out of a backend entry and check them; the rest is the backend's
    /// own keys (each type reads those with deny_unknown_fields, which names a misspelt key).
    pub(crate) fn take(value: &mut Value, path: &str) -> Result<AwsConfig> {
        let mut keys = serde_json::Map::new();
        if let Some(entry) = value.as_object_mut() {
            for key in AWS_KEYS {
                if let Some(v) = entry.remove(*key) {
                    keys.insert((*key).to_string(), v);
                }
            }
        }
        let raw: RawAws = from_value_at(Value::Object(keys), path)?;
        if raw.access_key_id.is_some() != raw.secret_access_key.is_some() {
            let missing = if raw.access_key_id.is_some() {
                "secret_access_key"
            } else {
                "access_key_id"
            };
            return Err(Error::config(
                format!("{path}.{missing}"),
                "is required: access_key_id and secret_access_key go together",
            ));
        }
        Ok(AwsConfig {
            region: raw
                .region
                .map(|r| non_empty(r, &format!("{path}.region")))
                .transpose()?,
            endpoint: raw
                .endpoint
                .map(|e| base_url(&e, &format!("{path}.endpoint")))
                .transpose()?,
            access_key_id: raw.access_key_id,
            secret_access_key: raw.secret_access_key,
            session_token: raw.session_token,
        })
    }
}

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

pub(crate) fn parse_cloudwatch(mut value: Value, path: &str) -> Result<CloudWatchConfig> {
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

pub(crate) fn parse_xray(mut value: Value, path: &str) -> Result<XRayConfig> {
    let aws = AwsConfig::take(&mut value, path)?;
    let raw: RawXRay = from_value_at(value, path)?;
    Ok(XRayConfig {
        aws,
        net: net(raw.timeout, raw.retries, path)?,
    })
}
