//! Keys of the `webhook` backend: the shared HTTP keys plus headers and an HMAC signature.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::backends::http::{self, HttpConfig};
use crate::config::Secret;
use crate::error::Result;

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    pub http: HttpConfig,
    pub headers: BTreeMap<String, String>,
    /// HMAC-SHA256 key; when set every request carries the signature header.
    pub secret: Option<Secret>,
    pub signature_header: String,
}

pub(crate) fn parse(value: Value, path: &str) -> Result<WebhookConfig> {
    let entry = http::config::parse("webhook", value, path)?;
    Ok(WebhookConfig {
        http: entry.http,
        headers: entry.headers,
        secret: entry.secret,
        signature_header: entry
            .signature_header
            .unwrap_or_else(|| "X-Wafermon-Signature".into()),
    })
}

impl crate::backends::registry::ServiceConfig for WebhookConfig {
    fn inline_retries(&self) -> u32 {
        self.http.retries
    }
}
