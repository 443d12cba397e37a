//! The keys the HTTP backends (`sidecar`, `managed_api`, `webhook`) share: one parse, so the
//! three take the same keys with the same checks and errors.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::config::load::duration_secs;
use crate::config::{from_value_at, Secret};
use crate::error::{Error, Result};

/// How HTTP bodies are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    Json,
    MsgPack,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// Full URL of the endpoint events are posted to.
    pub url: String,
    pub timeout: Duration,
    /// Quick in-line attempts before the batch is parked in the spool for later.
    pub retries: u32,
    pub format: WireFormat,
    pub token: Option<Secret>,
    /// `source` of the managed_api envelope.
    pub source: String,
}

/// An HTTP entry's keys: the shared ones, and those only a webhook takes (refused for the
/// others by [`parse`]).
pub(crate) struct HttpEntry {
    pub http: HttpConfig,
    pub headers: BTreeMap<String, String>,
    pub secret: Option<Secret>,
    pub signature_header: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    url: String,
    endpoint: Option<String>,
    #[serde(default = "default_timeout")]
    timeout: f64,
    #[serde(default = "default_retries")]
    retries: u32,
    #[serde(default = "default_json")]
    format: String,
    token: Option<Secret>,
    source: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    secret: Option<Secret>,
    signature_header: Option<String>,
}

fn default_timeout() -> f64 {
    5.0
}
fn default_retries() -> u32 {
    3
}
fn default_json() -> String {
    "json".into()
}

pub(crate) fn join_url(base: &str, endpoint: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        endpoint.trim_start_matches('/')
    )
}

/// Parse the entry of an HTTP backend of type `kind`; `path` is its JSON path.
pub(crate) fn parse(kind: &str, value: Value, path: &str) -> Result<HttpEntry> {
    let raw: RawHttp = from_value_at(value, path)?;
    if !(raw.url.starts_with("http://") || raw.url.starts_with("https://")) {
        return Err(Error::config(
            format!("{path}.url"),
            format!("'{}' is not an http:// or https:// URL", raw.url),
        ));
    }
    let timeout = duration_secs(raw.timeout, &format!("{path}.timeout"))?;
    let format = match raw.format.as_str() {
        "json" => WireFormat::Json,
        "msgpack" if kind == "sidecar" => WireFormat::MsgPack,
        other => {
            let allowed = if kind == "sidecar" {
                "json, msgpack"
            } else {
                "json"
            };
            return Err(Error::config(
                format!("{path}.format"),
                format!("'{other}' is not one of {allowed}"),
            ));
        }
    };
    let only_webhook = [
        ("headers", !raw.headers.is_empty()),
        ("secret", raw.secret.is_some()),
        ("signature_header", raw.signature_header.is_some()),
    ];
    if kind != "webhook" {
        if let Some((key, _)) = only_webhook.iter().find(|(_, set)| *set) {
            return Err(Error::config(
                format!("{path}.{key}"),
                format!("unknown field for type '{kind}' (only webhook takes it)"),
            ));
        }
    }
    if raw.secret.as_ref().is_some_and(Secret::is_empty) {
        return Err(Error::config(
            format!("{path}.secret"),
            "must not be empty (leave it out to send unsigned requests)",
        ));
    }
    for (name, value) in &raw.headers {
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(Error::config(
                format!("{path}.headers"),
                format!("'{name}' is not a valid HTTP header name"),
            ));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(Error::config(
                format!("{path}.headers.{name}"),
                "must not contain line breaks or NUL",
            ));
        }
    }
    let default_endpoint = match kind {
        "sidecar" => "/v1/ingest/batch",
        "managed_api" => "/v1/ingest/managed",
        _ => "",
    };
    let endpoint = raw.endpoint.as_deref().unwrap_or(default_endpoint);
    let url = if endpoint.is_empty() {
        raw.url.clone()
    } else {
        join_url(&raw.url, endpoint)
    };
    let http = HttpConfig {
        url,
        timeout,
        retries: raw.retries,
        format,
        token: raw.token,
        source: raw.source.unwrap_or_else(|| "wafermon".into()),
    };
    Ok(HttpEntry {
        http,
        headers: raw.headers,
        secret: raw.secret,
        signature_header: raw.signature_header,
    })
}

impl crate::backends::registry::ServiceConfig for HttpConfig {
    fn inline_retries(&self) -> u32 {
        self.retries
    }
}
