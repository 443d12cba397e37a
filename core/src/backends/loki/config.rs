//! Keys of the `loki` backend (Loki push API).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::config::from_value_at;
use crate::config::net::{base_url, default_retries, default_timeout, net, NetConfig};
use crate::config::Secret;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct LokiConfig {
    /// Base URL of Loki, no trailing slash; `endpoint` is appended.
    pub url: String,
    /// Path (and optional query) of the push API: `/loki/api/v1/push` for Loki itself;
    /// other servers that take Loki's push body serve it elsewhere (VictoriaLogs:
    /// `/insert/loki/api/v1/push?disable_message_parsing=1`).
    pub endpoint: String,
    /// Fixed labels added to every stream (e.g. `{"env": "prod"}`). The backend adds its own
    /// bounded set (site, app, entity kind, kind); never per-event values such as ids.
    pub labels: BTreeMap<String, String>,
    /// `X-Scope-OrgID` for multi-tenant Loki.
    pub tenant: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub token: Option<Secret>,
    /// Upper bound of one push request body.
    pub max_bytes: usize,
    pub net: NetConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoki {
    url: String,
    #[serde(default = "default_endpoint")]
    endpoint: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    tenant: Option<String>,
    username: Option<String>,
    password: Option<Secret>,
    token: Option<Secret>,
    #[serde(default = "default_max_bytes")]
    max_bytes: u64,
    #[serde(default = "default_timeout")]
    timeout: f64,
    #[serde(default = "default_retries")]
    retries: u32,
}

/// Loki's own push path.
pub const DEFAULT_ENDPOINT: &str = "/loki/api/v1/push";

/// The labels the backend sets itself on every stream; a fixed label may not reuse them.
pub const STREAM_LABELS: [&str; 4] = ["site", "app", "entity_kind", "kind"];

fn default_endpoint() -> String {
    DEFAULT_ENDPOINT.to_string()
}

fn default_max_bytes() -> u64 {
    1024 * 1024
}

/// Prometheus label names: `[a-zA-Z_][a-zA-Z0-9_]*`, and `__` is reserved.
fn valid_label(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

pub(crate) fn parse(value: Value, path: &str) -> Result<LokiConfig> {
    let raw: RawLoki = from_value_at(value, path)?;
    for name in raw.labels.keys() {
        if !valid_label(name) {
            return Err(Error::config(
                format!("{path}.labels.{name}"),
                "is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)",
            ));
        }
        if STREAM_LABELS.contains(&name.as_str()) {
            return Err(Error::config(
                format!("{path}.labels.{name}"),
                "is set by the backend from each event (site, app, entity_kind, kind)",
            ));
        }
    }
    if !raw.endpoint.starts_with('/') {
        return Err(Error::config(
            format!("{path}.endpoint"),
            format!("'{}' must be a path starting with /", raw.endpoint),
        ));
    }
    if raw.username.is_some() != raw.password.is_some() {
        let missing = if raw.username.is_some() {
            "password"
        } else {
            "username"
        };
        return Err(Error::config(
            format!("{path}.{missing}"),
            "is required: username and password go together",
        ));
    }
    if raw.max_bytes < 1024 {
        return Err(Error::config(
            format!("{path}.max_bytes"),
            "must be at least 1024",
        ));
    }
    Ok(LokiConfig {
        url: base_url(&raw.url, &format!("{path}.url"))?,
        endpoint: raw.endpoint,
        labels: raw.labels,
        tenant: raw.tenant,
        username: raw.username,
        password: raw.password,
        token: raw.token,
        max_bytes: usize::try_from(raw.max_bytes).unwrap_or(usize::MAX),
        net: net(raw.timeout, raw.retries, path)?,
    })
}

impl crate::backends::registry::ServiceConfig for LokiConfig {
    fn inline_retries(&self) -> u32 {
        self.net.retries
    }
}
