//! Backend entries of `direct_backends[]` (and `backends[]` in the sidecar's config): common
//! keys (`type`, `name`, `enabled`, `priority`, `group`, `filter`) plus the keys of each type.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::load::from_value_at;
use super::SidecarConfig;
use crate::backends::filesystem::FilesystemConfig;
use crate::backends::http::config::join_url;
use crate::backends::http::HttpConfig;
use crate::backends::registry::{BackendKind, BACKEND_TYPES};
use crate::error::{Error, Result};
use crate::event::Kind;

#[derive(Debug, Clone, PartialEq)]
pub struct BackendConfig {
    /// Unique name; also the spool folder name. Defaults to the type (plus index if repeated).
    pub name: String,
    pub enabled: bool,
    /// Lower is preferred within a failover group.
    pub priority: i32,
    /// Backends sharing a group form a failover chain; without one a backend gets every event.
    pub group: Option<String>,
    pub filter: Filter,
    pub kind: BackendKind,
}

/// Which events a backend receives; an empty list means all.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    pub kinds: Vec<Kind>,
    pub entity_kinds: Vec<String>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty() && self.entity_kinds.is_empty()
    }

    pub fn accepts(&self, kind: Kind, entity_kind: &str) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&kind))
            && (self.entity_kinds.is_empty() || self.entity_kinds.iter().any(|k| k == entity_kind))
    }
}

impl BackendConfig {
    pub(crate) fn sidecar_from(s: &SidecarConfig) -> BackendConfig {
        BackendConfig {
            name: "sidecar".into(),
            enabled: true,
            priority: 0,
            group: None,
            filter: Filter::default(),
            kind: BackendKind::Sidecar(HttpConfig {
                url: join_url(&s.url, "/v1/ingest/batch"),
                timeout: s.timeout,
                retries: s.retries,
                format: s.format,
                token: s.token.clone(),
                source: "sidecar".into(),
            }),
        }
    }

    /// One backend entry on its own, with the keys of `direct_backends[]`: the gateway's
    /// external sources use the same keys. Errors name their path under `path`.
    pub fn from_value(value: &Value, path: &str) -> Result<BackendConfig> {
        parse_backend(value, path, 0)
    }

    /// A filesystem backend writing JSONL under `path` (the default backend).
    pub fn filesystem(path: impl Into<PathBuf>) -> BackendConfig {
        BackendConfig {
            name: "filesystem".into(),
            enabled: true,
            priority: 0,
            group: None,
            filter: Filter::default(),
            kind: BackendKind::Filesystem(FilesystemConfig::jsonl(path)),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommon {
    #[serde(rename = "type")]
    kind: String,
    name: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    priority: i32,
    group: Option<String>,
    #[serde(default)]
    filter: RawFilter,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFilter {
    #[serde(default)]
    kinds: Vec<String>,
    #[serde(default)]
    entity_kinds: Vec<String>,
}

const COMMON_KEYS: &[&str] = &["type", "name", "enabled", "priority", "group", "filter"];

/// The name of an entry without one, which is also its spool folder: its type name, except
/// that Elasticsearch entries keep `elk`, the name every earlier version gave them whichever
/// spelling the config used, so a spool an older version left behind is still delivered.
fn default_name(kind: &BackendKind) -> &'static str {
    match kind {
        BackendKind::Elastic(_) => "elk",
        other => other.type_name(),
    }
}

/// Parse one entry; `path` is its JSON path (`direct_backends[2]`), used in every error.
pub(crate) fn parse_backend(value: &Value, path: &str, index: usize) -> Result<BackendConfig> {
    let obj = value
        .as_object()
        .ok_or_else(|| Error::config(path, "must be an object with a \"type\""))?;
    let (common, specific): (Map<String, Value>, Map<String, Value>) = obj
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .partition(|(k, _)| COMMON_KEYS.contains(&k.as_str()));
    let common: RawCommon = from_value_at(Value::Object(common), path)?;
    let filter = parse_filter(common.filter, &format!("{path}.filter"))?;
    let kind =
        BackendKind::parse(&common.kind, Value::Object(specific), path).unwrap_or_else(|| {
            Err(Error::config(
                format!("{path}.type"),
                format!(
                    "unknown backend type '{}' (known: {})",
                    common.kind,
                    BACKEND_TYPES.join(", ")
                ),
            ))
        })?;
    let name = match common.name {
        Some(n) => {
            crate::event::check_name("name", &n, 64)
                .map_err(|e| Error::config(format!("{path}.name"), e.message().to_string()))?;
            if n.contains(['/', '\\']) || n.starts_with('.') {
                return Err(Error::config(
                    format!("{path}.name"),
                    "must not contain path separators or start with '.'",
                ));
            }
            n
        }
        None if index == 0 => default_name(&kind).to_string(),
        None => format!("{}-{index}", default_name(&kind)),
    };
    Ok(BackendConfig {
        name,
        enabled: common.enabled,
        priority: common.priority,
        group: common.group,
        filter,
        kind,
    })
}

fn parse_filter(raw: RawFilter, path: &str) -> Result<Filter> {
    let mut kinds = Vec::new();
    for (i, k) in raw.kinds.iter().enumerate() {
        kinds.push(Kind::parse(k).map_err(|m| Error::config(format!("{path}.kinds[{i}]"), m))?);
    }
    Ok(Filter {
        kinds,
        entity_kinds: raw.entity_kinds,
    })
}
