//! The keys every AWS backend (`s3`, `cloudwatch`, `xray`) takes: region, endpoint and
//! credentials.
//! Credentials and region left out of the config come from the standard AWS environment
//! variables when the backend is built, not here, so a config stays a pure value.

use serde::Deserialize;
use serde_json::Value;

use crate::config::from_value_at;
use crate::config::net::{base_url, non_empty};
use crate::config::Secret;
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
