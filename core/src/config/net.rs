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
