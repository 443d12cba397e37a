//! Keys of the `zabbix` backend (Zabbix sender protocol).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::config::from_value_at;
use crate::config::net::{default_retries, default_timeout, net, non_empty, NetConfig};
use crate::error::{Error, Result};

/// Where an item's value comes from in an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemSource {
    Status,
    Kind,
    Progress,
    Message,
    /// `metrics.<name>`, e.g. `metrics.duration_s`.
    Metric(String),
}

impl ItemSource {
    /// `status`, `kind`, `progress`, `message` or `metrics.<name>` (the gateway's zabbix
    /// reader takes the same mapping).
    pub fn parse(text: &str) -> Option<ItemSource> {
        Some(match text {
            "status" => ItemSource::Status,
            "kind" => ItemSource::Kind,
            "progress" => ItemSource::Progress,
            "message" => ItemSource::Message,
            _ => ItemSource::Metric(
                text.strip_prefix("metrics.")
                    .filter(|m| !m.is_empty())?
                    .to_string(),
            ),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ZabbixConfig {
    /// Zabbix server (or proxy) host name or address.
    pub server: String,
    pub port: u16,
    /// The Zabbix host the items belong to.
    pub host: String,
    /// Item key -> what of an event it receives. An event sends the items it has a value for.
    pub items: BTreeMap<String, ItemSource>,
    pub net: NetConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZabbix {
    server: String,
    #[serde(default = "default_port")]
    port: u16,
    host: String,
    items: Option<BTreeMap<String, String>>,
    #[serde(default = "default_timeout")]
    timeout: f64,
    #[serde(default = "default_retries")]
    retries: u32,
}

fn default_port() -> u16 {
    10051
}

/// Item keys used when the config names none.
pub const DEFAULT_ITEMS: &[(&str, &str)] = &[
    ("wafermon.status", "status"),
    ("wafermon.progress", "progress"),
    ("wafermon.duration_s", "metrics.duration_s"),
    ("wafermon.cpu_user_s", "metrics.cpu_user_s"),
    ("wafermon.max_rss_bytes", "metrics.max_rss_bytes"),
];

pub(crate) fn parse(value: Value, path: &str) -> Result<ZabbixConfig> {
    let raw: RawZabbix = from_value_at(value, path)?;
    let items_raw = raw.items.unwrap_or_else(|| {
        DEFAULT_ITEMS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    });
    if items_raw.is_empty() {
        return Err(Error::config(
            format!("{path}.items"),
            "must map at least one item key",
        ));
    }
    let mut items = BTreeMap::new();
    for (key, source) in items_raw {
        let at = format!("{path}.items.{key}");
        if key.is_empty() || key.len() > 2048 {
            return Err(Error::config(at, "item keys are 1 to 2048 characters"));
        }
        let parsed = ItemSource::parse(&source).ok_or_else(|| {
            Error::config(
                &at,
                format!("'{source}' is not one of status, kind, progress, message, metrics.<name>"),
            )
        })?;
        items.insert(key, parsed);
    }
    if raw.port == 0 {
        return Err(Error::config(format!("{path}.port"), "must be 1-65535"));
    }
    Ok(ZabbixConfig {
        server: non_empty(raw.server, &format!("{path}.server"))?,
        port: raw.port,
        host: non_empty(raw.host, &format!("{path}.host"))?,
        items,
        net: net(raw.timeout, raw.retries, path)?,
    })
}

impl crate::backends::registry::ServiceConfig for ZabbixConfig {
    fn inline_retries(&self) -> u32 {
        self.net.retries
    }
}
