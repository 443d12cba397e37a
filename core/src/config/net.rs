//! Keys every network backend shares: how long one request may take and how many quick
//! attempts a failing batch gets before it waits in the spool.

use std::time::Duration;

use super::load::duration_secs;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetConfig {
    pub timeout: Duration,
    pub retries: u32,
}

// Raw configs take these with `#[serde(default = "...")]` (serde's flatten would lose
// deny_unknown_fields, which is what names a misspelt key).
pub(crate) fn default_timeout() -> f64 {
    10.0
}
pub(crate) fn default_retries() -> u32 {
    3
}

pub(crate) fn net(timeout: f64, retries: u32, path: &str) -> Result<NetConfig> {
    Ok(NetConfig {
        timeout: duration_secs(timeout, &format!("{path}.timeout"))?,
        retries,
    })
}

/// `url` must be http(s); returned without a trailing slash.
pub(crate) fn base_url(url: &str, path: &str) -> Result<String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() <= 8 {
        return Err(Error::config(
            path,
            format!("'{url}' is not an http:// or https:// URL"),
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// A required text key must not be empty.
pub(crate) fn non_empty(value: String, path: &str) -> Result<String> {
    if value.trim().is_empty() {
        return Err(Error::config(path, "must not be empty"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_never_show_in_debug_output() {
        let config = crate::config::Config::from_value(serde_json::json!({
        "direct_backends": [
            {"type": "cloudwatch", "access_key_id": "s3cr3t-akid", "secret_access_key": "s3cr3t-aws",
             "session_token": "s3cr3t-session"},
            {"type": "elk", "url": "http://127.0.0.1:9200", "username": "u", "password": "s3cr3t-basic"},
            {"type": "elk", "url": "http://127.0.0.1:9200", "api_key": "s3cr3t-key"},
            {"type": "loki", "url": "http://127.0.0.1:3100", "username": "u", "password": "s3cr3t-loki"},
            {"type": "loki", "url": "http://127.0.0.1:3100", "token": "s3cr3t-token"}
        ]
    }))
    .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        // Which keys are set still shows, for whoever debugs a config.
        assert!(shown.contains("access_key_id: Some(***)"), "{shown}");
    }
}
