//! Gateway configuration: an optional JSON file, then environment variables for secrets,
//! then command-line flags. Every error names its JSON path.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:18000";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./wafermon-data/gateway.sqlite3";
const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
const DEFAULT_REQUEST_TIMEOUT_S: u64 = 30;
const DEFAULT_CACHE_TTL_S: f64 = 5.0;
const DEFAULT_CACHE_ENTRIES: usize = 256;

/// Name the managed store answers to in unified results; no external source may take it.
pub const MANAGED_SOURCE: &str = "managed";

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database_url: Option<String>,
    ingest_token: Option<String>,
    read_token: Option<String>,
    /// Serve without tokens on an address other than loopback (behind a trusted proxy).
    #[serde(default)]
    allow_unauthenticated: bool,
    max_body_bytes: Option<usize>,
    request_timeout_s: Option<u64>,
    /// The longest a request head may take (seconds).
    header_read_timeout_s: Option<f64>,
    /// How long a keep-alive connection may wait for its next request (seconds).
    idle_timeout_s: Option<f64>,
    /// Connections open at once (default: half the open-file limit, at most 1024).
    max_connections: Option<usize>,
    retention_days: Option<u32>,
    /// How long a read of an external source is reused (0: never).
    external_cache_ttl_s: Option<f64>,
    /// Reads kept in that cache at most.
    external_cache_entries: Option<usize>,
    /// Each source's own reads, as a list of objects with at least `name` and `type`.
    #[serde(default)]
    sources: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilesystemSource {
    name: String,
    #[serde(rename = "type")]
    _type: String,
    path: PathBuf,
}

/// Source types whose keys are those of the core's backend of the same type, so one
/// config block describes both the writer and the reader.
const BACKEND_SOURCES: &[&str] = &["s3", "elk", "elasticsearch", "loki", "cloudwatch"];

/// An external source the gateway may read, by name. Requests pick sources by name only.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    /// The JSONL files the filesystem backend writes, under `path`.
    Filesystem { name: String, path: PathBuf },
    /// What a core backend wrote, read back with the same keys (s3, elk, loki, cloudwatch).
    Backend {
        name: String,
        kind: wafermon::config::BackendKind,
    },
    /// What the zabbix backend sent, read through the Zabbix API (keys: url, username +
    /// password or api_token, host, items, timeout_s).
    Zabbix {
        name: String,
        source: wafermon::backends::zabbix::read::ZabbixSource,
    },
}

impl SourceConfig {
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::Filesystem { name, .. }
            | SourceConfig::Backend { name, .. }
            | SourceConfig::Zabbix { name, .. } => name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Filesystem { .. } => "filesystem",
            SourceConfig::Zabbix { .. } => "zabbix",
            SourceConfig::Backend { kind, .. } => match kind {
                wafermon::config::BackendKind::Elastic(_) => "elasticsearch",
                other => other.type_name(),
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    pub database_url: String,
    pub ingest_token: Option<String>,
    pub read_token: Option<String>,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub connections: wafermon_hostkit::ConnectionLimits,
    /// Why `max_connections` was lowered, for the log.
    pub connections_note: Option<String>,
    pub retention_days: Option<u32>,
    pub external_cache_ttl: Duration,
    pub external_cache_entries: usize,
    pub sources: Vec<SourceConfig>,
}

/// What the command line can override.
#[derive(Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub database_url: Option<String>,
}

/// Build the configuration; `Err` lists every problem found, each with its path.
pub fn load(path: Option<&Path>, overrides: Overrides) -> Result<GatewayConfig, Vec<String>> {
    let file = match path {
        Some(p) => read_file(p)?,
        None => FileConfig::default(),
    };
    let mut errors = Vec::new();
    let listen = match (overrides.listen, &file.listen) {
        (Some(addr), _) => addr,
        (None, Some(text)) => text.parse().unwrap_or_else(|_| {
            errors.push(format!("listen: '{text}' is not HOST:PORT"));
            default_listen()
        }),
        (None, None) => default_listen(),
    };
    let env_token = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let ingest_token = env_token("WAFERMON_GATEWAY_INGEST_TOKEN").or(file.ingest_token);
    let read_token = env_token("WAFERMON_GATEWAY_READ_TOKEN").or(file.read_token);
    for (field, token) in [("ingest_token", &ingest_token), ("read_token", &read_token)] {
        if token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            errors.push(format!("{field}: must not be blank"));
        }
    }
    if !listen.ip().is_loopback()
        && !file.allow_unauthenticated
        && (ingest_token.is_none() || read_token.is_none())
    {
        errors.push(format!(
            "listen: {listen} is reachable from other hosts, so ingest_token and read_token \
             are required (or set allow_unauthenticated: true behind a trusted proxy)"
        ));
    }
    let max_body_bytes = file.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    if max_body_bytes < 1024 {
        errors.push("max_body_bytes: must be at least 1024".into());
    }
    let timeout_s = file.request_timeout_s.unwrap_or(DEFAULT_REQUEST_TIMEOUT_S);
    if timeout_s == 0 {
        errors.push("request_timeout_s: must be at least 1".into());
    }
    let mut connections = wafermon_hostkit::ConnectionLimits::default();
    for (field, value, into) in [
        (
            "header_read_timeout_s",
            file.header_read_timeout_s,
            &mut connections.header_read_timeout,
        ),
        (
            "idle_timeout_s",
            file.idle_timeout_s,
            &mut connections.idle_timeout,
        ),
    ] {
        match value {
            None => {}
            Some(s) if s > 0.0 && s <= 86_400.0 => *into = Duration::from_secs_f64(s),
            Some(_) => errors.push(format!(
                "{field}: must be above 0 and at most 86400 seconds"
            )),
        }
    }
    let mut connections_note = None;
    match file.max_connections {
        None => {}
        Some(0) => errors.push("max_connections: must be at least 1".into()),
        Some(n) => match wafermon_hostkit::fit_max_connections(n) {
            Ok(n) => connections.max_connections = n,
            Err((n, why)) => {
                connections.max_connections = n;
                connections_note = Some(why);
            }
        },
    }
    if file.retention_days == Some(0) {
        errors.push("retention_days: must be at least 1 (leave it out to keep everything)".into());
    }
    let cache_ttl_s = file.external_cache_ttl_s.unwrap_or(DEFAULT_CACHE_TTL_S);
    if !cache_ttl_s.is_finite() || !(0.0..=3600.0).contains(&cache_ttl_s) {
        errors.push("external_cache_ttl_s: must be 0 to 3600 seconds".into());
    }
    let sources = sources(&file.sources, &mut errors);
    let database_url = overrides
        .database_url
        .or(file.database_url)
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
    if let Err(e) = crate::store::check_url(&database_url) {
        errors.push(format!("database_url: {e}"));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(GatewayConfig {
        listen,
        database_url,
        ingest_token,
        read_token,
        max_body_bytes,
        request_timeout: Duration::from_secs(timeout_s),
        connections,
        connections_note,
        retention_days: file.retention_days,
        external_cache_ttl: Duration::from_secs_f64(cache_ttl_s.clamp(0.0, 3600.0)),
        external_cache_entries: file.external_cache_entries.unwrap_or(DEFAULT_CACHE_ENTRIES),
        sources,
    })
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN
        .parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 18000)))
}

fn read_file(path: &Path) -> Result<FileConfig, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("cannot read {}: {e}", path.display())])?;
    let mut de = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let at = e.path().to_string();
        let at = if at == "." { String::new() } else { at };
        vec![format!("{at}: {}", e.inner())]
    })
}

fn sources(raw: &[serde_json::Value], errors: &mut Vec<String>) -> Vec<SourceConfig> {
    let mut out: Vec<SourceConfig> = Vec::new();
    for (i, value) in raw.iter().enumerate() {
        let at = format!("sources[{i}]");
        let text = |key: &str| value.get(key).and_then(serde_json::Value::as_str);
        let (Some(name), Some(kind)) = (text("name"), text("type")) else {
            let missing = if text("name").is_none() {
                "name"
            } else {
                "type"
            };
            errors.push(format!("{at}.{missing}: is required (a string)"));
            continue;
        };
        let s = NameAndType { name, kind };
        let valid_name = !s.name.is_empty()
            && s.name.len() <= 64
            && s.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid_name {
            errors.push(format!(
                "{at}.name: '{}' must be 1-64 letters, digits, '-', '_' or '.'",
                s.name
            ));
            continue;
        }
        if s.name == MANAGED_SOURCE {
            errors.push(format!(
                "{at}.name: '{MANAGED_SOURCE}' is the gateway's own store"
            ));
            continue;
        }
        if out.iter().any(|o| o.name() == s.name) {
            errors.push(format!("{at}.name: '{}' is used twice", s.name));
            continue;
        }
        match s.kind {
            "filesystem" => {
                match serde_path_to_error::deserialize::<_, FilesystemSource>(value.clone()) {
                    Ok(fs) => out.push(SourceConfig::Filesystem {
                        name: fs.name,
                        path: fs.path,
                    }),
                    Err(e) => {
                        let inner = e.inner().to_string();
                        // serde names a missing key in its message, not its path.
                        let key = inner
                            .strip_prefix("missing field `")
                            .and_then(|r| r.strip_suffix('`'))
                            .map_or_else(|| e.path().to_string(), str::to_string);
                        errors.push(format!("{at}.{key}: {inner}"))
                    }
                }
            }
            "zabbix" => match wafermon::backends::zabbix::read::ZabbixSource::parse(value, &at) {
                Ok(source) => out.push(SourceConfig::Zabbix {
                    name: s.name.to_string(),
                    source,
                }),
                Err(e) => errors.push(e),
            },
            kind if BACKEND_SOURCES.contains(&kind) => {
                let mut keys = value.clone();
                if let Some(map) = keys.as_object_mut() {
                    map.remove("name");
                }
                match wafermon::config::BackendConfig::from_value(&keys, &at) {
                    Ok(backend) => out.push(SourceConfig::Backend {
                        name: s.name.to_string(),
                        kind: backend.kind,
                    }),
                    Err(e) => errors.push(format!("{}: {}", e.path().unwrap_or(&at), e.message())),
                }
            }
            other => errors.push(format!(
                "{at}.type: unknown source type '{other}' (supported: filesystem, zabbix, {})",
                BACKEND_SOURCES.join(", ")
            )),
        }
    }
    out
}

struct NameAndType<'a> {
    name: &'a str,
    kind: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(json: &str) -> Result<GatewayConfig, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.json");
        std::fs::write(&path, json).unwrap();
        load(Some(&path), Overrides::default())
    }

    #[test]
    fn defaults_need_no_file() {
        let c = load(None, Overrides::default()).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert!(c.sources.is_empty());
    }

    #[test]
    fn errors_name_their_path() {
        let errors = with_file(r#"{"sources": [{"name": "a", "type": "kafka"}, {"name": "managed", "type": "filesystem", "path": "/x"}, {"name": "b", "type": "s3"}, {"name": "c", "type": "elasticsearch", "url": "ftp://x"}, {"type": "loki"}]}"#)
            .unwrap_err();
        assert!(errors[0].starts_with("sources[0].type:"), "{errors:?}");
        assert!(errors[1].starts_with("sources[1].name:"), "{errors:?}");
        // Backend sources take the backend's keys, checked by the core with their paths.
        assert!(errors[2].starts_with("sources[2].bucket:"), "{errors:?}");
        assert!(errors[3].starts_with("sources[3].url:"), "{errors:?}");
        assert!(errors[4].starts_with("sources[4].name:"), "{errors:?}");
        let errors =
            with_file(r#"{"sources": [{"name": "a", "type": "filesystem", "pth": "/x"}]}"#)
                .unwrap_err();
        assert!(errors[0].starts_with("sources[0]"), "{errors:?}");
        assert!(errors[0].contains("pth"), "{errors:?}");
        let errors = with_file(r#"{"max_body_bytes": "big"}"#).unwrap_err();
        assert!(errors[0].starts_with("max_body_bytes:"), "{errors:?}");
    }

    #[test]
    fn backend_sources_keep_their_type_and_keys() {
        let c = with_file(
            r#"{"sources": [{"name": "logs", "type": "elk", "url": "http://127.0.0.1:9200/", "index": "fab-%Y"},
                            {"name": "bucket", "type": "s3", "bucket": "b", "endpoint": "http://127.0.0.1:8333", "path_style": true}],
                "external_cache_ttl_s": 0}"#,
        )
        .unwrap();
        assert_eq!(c.sources[0].kind(), "elasticsearch");
        assert_eq!(c.sources[1].kind(), "s3");
        assert!(c.external_cache_ttl.is_zero());
        match &c.sources[0] {
            SourceConfig::Backend {
                kind: wafermon::config::BackendKind::Elastic(e),
                ..
            } => {
                assert_eq!(e.url, "http://127.0.0.1:9200");
                assert_eq!(e.index, "fab-%Y");
            }
            other => panic!("{other:?}"),
        }
        let errors = with_file(r#"{"external_cache_ttl_s": -1}"#).unwrap_err();
        assert!(errors[0].starts_with("external_cache_ttl_s:"), "{errors:?}");
    }

    #[test]
    fn open_listeners_need_tokens() {
        let errors = with_file(r#"{"listen": "0.0.0.0:18000"}"#).unwrap_err();
        assert!(errors[0].starts_with("listen:"), "{errors:?}");
        assert!(with_file(
            r#"{"listen": "0.0.0.0:18000", "ingest_token": "a", "read_token": "b"}"#
        )
        .is_ok());
    }
}
