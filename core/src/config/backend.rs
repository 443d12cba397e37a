//! Backend entries of `direct_backends[]` (and `backends[]` in the sidecar's config): common
//! keys (`type`, `name`, `enabled`, `priority`, `group`, `filter`) plus the keys of each type.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::aws::{self, CloudWatchConfig, XRayConfig};
use super::elastic::{self, ElasticConfig};
use super::load::{duration_secs, from_value_at};
use super::loki::{self, LokiConfig};
use super::s3::{self, S3Config};
use super::zabbix::{self, ZabbixConfig};
use super::{Secret, SidecarConfig};
use crate::error::{Error, Result};
use crate::event::Kind;

/// The backend types this build knows.
pub const BACKEND_TYPES: &[&str] = &[
    "filesystem",
    "sidecar",
    "managed_api",
    "webhook",
    "s3",
    "elk",
    "elasticsearch",
    "loki",
    "zabbix",
    "cloudwatch",
    "xray",
];

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

#[derive(Debug, Clone, PartialEq)]
pub enum BackendKind {
    Filesystem(FilesystemConfig),
    Sidecar(HttpConfig),
    ManagedApi(HttpConfig),
    Webhook(WebhookConfig),
    S3(S3Config),
    /// `elk`, alias `elasticsearch`.
    Elastic(ElasticConfig),
    Loki(LokiConfig),
    Zabbix(ZabbixConfig),
    CloudWatch(CloudWatchConfig),
    XRay(XRayConfig),
}

impl BackendKind {
    /// Quick attempts in a row before a failing batch is parked in the spool.
    pub fn inline_retries(&self) -> u32 {
        match self {
            BackendKind::Sidecar(h) | BackendKind::ManagedApi(h) => h.retries,
            BackendKind::Webhook(w) => w.http.retries,
            BackendKind::Filesystem(_) => 0,
            BackendKind::S3(c) => c.net.retries,
            BackendKind::Elastic(c) => c.net.retries,
            BackendKind::Loki(c) => c.net.retries,
            BackendKind::Zabbix(c) => c.net.retries,
            BackendKind::CloudWatch(c) => c.net.retries,
            BackendKind::XRay(c) => c.net.retries,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            BackendKind::Filesystem(_) => "filesystem",
            BackendKind::Sidecar(_) => "sidecar",
            BackendKind::ManagedApi(_) => "managed_api",
            BackendKind::Webhook(_) => "webhook",
            BackendKind::S3(_) => "s3",
            BackendKind::Elastic(_) => "elk",
            BackendKind::Loki(_) => "loki",
            BackendKind::Zabbix(_) => "zabbix",
            BackendKind::CloudWatch(_) => "cloudwatch",
            BackendKind::XRay(_) => "xray",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FilesystemConfig {
    pub path: PathBuf,
    pub format: FileFormat,
    /// Start a new file once the current one reaches this size.
    pub rotate_bytes: u64,
    /// Start a new file on each UTC day.
    pub rotate_daily: bool,
}

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

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    pub http: HttpConfig,
    pub headers: BTreeMap<String, String>,
    /// HMAC-SHA256 key; when set every request carries the signature header.
    pub secret: Option<Secret>,
    pub signature_header: String,
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
            kind: BackendKind::Filesystem(FilesystemConfig {
                path: path.into(),
                format: FileFormat::Jsonl,
                rotate_bytes: 64 * 1024 * 1024,
                rotate_daily: true,
            }),
        }
    }
}

pub(crate) fn join_url(base: &str, endpoint: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        endpoint.trim_start_matches('/')
    )
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilesystem {
    #[serde(default = "default_data_dir")]
    path: String,
    #[serde(default = "default_jsonl")]
    format: String,
    #[serde(default = "default_rotate_mb")]
    rotate_size_mb: f64,
    #[serde(default = "yes")]
    rotate_daily: bool,
}

fn default_data_dir() -> String {
    "./wafermon-data".into()
}
fn default_jsonl() -> String {
    "jsonl".into()
}
fn default_rotate_mb() -> f64 {
    64.0
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

const COMMON_KEYS: &[&str] = &["type", "name", "enabled", "priority", "group", "filter"];

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
    let specific = Value::Object(specific);
    let kind = match common.kind.as_str() {
        "filesystem" => {
            let raw: RawFilesystem = from_value_at(specific, path)?;
            let format = match raw.format.as_str() {
                "jsonl" => FileFormat::Jsonl,
                "csv" => FileFormat::Csv,
                other => {
                    return Err(Error::config(
                        format!("{path}.format"),
                        format!("'{other}' is not one of jsonl, csv"),
                    ))
                }
            };
            if raw.rotate_size_mb.is_nan() || raw.rotate_size_mb <= 0.0 {
                return Err(Error::config(
                    format!("{path}.rotate_size_mb"),
                    "must be a positive number",
                ));
            }
            BackendKind::Filesystem(FilesystemConfig {
                path: PathBuf::from(raw.path),
                format,
                rotate_bytes: (raw.rotate_size_mb * 1024.0 * 1024.0) as u64,
                rotate_daily: raw.rotate_daily,
            })
        }
        t @ ("sidecar" | "managed_api" | "webhook") => {
            let raw: RawHttp = from_value_at(specific, path)?;
            parse_http(t, raw, path)?
        }
        "s3" => BackendKind::S3(s3::parse(specific, path)?),
        "elk" | "elasticsearch" => BackendKind::Elastic(elastic::parse(specific, path)?),
        "loki" => BackendKind::Loki(loki::parse(specific, path)?),
        "zabbix" => BackendKind::Zabbix(zabbix::parse(specific, path)?),
        "cloudwatch" => BackendKind::CloudWatch(aws::parse_cloudwatch(specific, path)?),
        "xray" => BackendKind::XRay(aws::parse_xray(specific, path)?),
        other => {
            return Err(Error::config(
                format!("{path}.type"),
                format!(
                    "unknown backend type '{other}' (known: {})",
                    BACKEND_TYPES.join(", ")
                ),
            ))
        }
    };
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
        None if index == 0 => kind.type_name().to_string(),
        None => format!("{}-{index}", kind.type_name()),
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

fn parse_http(kind: &str, raw: RawHttp, path: &str) -> Result<BackendKind> {
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
    Ok(match kind {
        "sidecar" => BackendKind::Sidecar(http),
        "managed_api" => BackendKind::ManagedApi(http),
        _ => BackendKind::Webhook(WebhookConfig {
            http,
            headers: raw.headers,
            secret: raw.secret,
            signature_header: raw
                .signature_header
                .unwrap_or_else(|| "X-Wafermon-Signature".into()),
        }),
    })
}
