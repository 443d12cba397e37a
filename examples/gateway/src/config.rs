//! Gateway configuration: an optional JSON file, then environment variables for secrets,
//! then command-line flags. Every error names its JSON path.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use wafermon::config::Secret;

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
    ingest_token: Option<Secret>,
    read_token: Option<Secret>,
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
    /// Ingest besides HTTP: `{"kafka": {...}}` (see `kafka::config`).
    ingest: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilesystemSource {
    name: String,
    #[serde(rename = "type")]
    _type: String,
    path: PathBuf,
}

/// An external source the gateway may read, by name. Requests pick sources by name only.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    /// The JSONL files the filesystem backend writes, under `path`.
    Filesystem { name: String, path: PathBuf },
    /// What a core backend wrote, read back with the same keys (s3, elasticsearch, loki, cloudwatch).
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
            SourceConfig::Backend { kind, .. } => kind.type_name(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    pub database_url: String,
    pub ingest_token: Option<Secret>,
    pub read_token: Option<Secret>,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub connections: wafermon_hostkit::ConnectionLimits,
    /// Why `max_connections` was lowered, for the log.
    pub connections_note: Option<String>,
    pub retention_days: Option<u32>,
    pub external_cache_ttl: Duration,
    pub external_cache_entries: usize,
    pub sources: Vec<SourceConfig>,
    /// Consume this Kafka topic into the store, beside the HTTP ingest.
    pub kafka: Option<crate::kafka::KafkaIngest>,
}

/// What the command line can override.
#[derive(Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub database_url: Option<String>,
}

/// One configuration problem: `invalid config at <JSON path>: <message>`, as the core's.
pub type ConfigError = wafermon::Error;

pub fn problem(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    wafermon::Error::config(path, message)
}

/// Build the configuration; `Err` lists every problem found, each with its path.
pub fn load(path: Option<&Path>, overrides: Overrides) -> Result<GatewayConfig, Vec<ConfigError>> {
    let (file, mut errors) = match path {
        Some(p) => read_file(p)?,
        None => (FileConfig::default(), Vec::new()),
    };
    let listen = match (overrides.listen, &file.listen) {
        (Some(addr), _) => addr,
        (None, Some(text)) => text.parse().unwrap_or_else(|_| {
            errors.push(problem("listen", format!("'{text}' is not HOST:PORT")));
            default_listen()
        }),
        (None, None) => default_listen(),
    };
    let env_token = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .map(Secret::from)
    };
    let ingest_token = env_token("WAFERMON_GATEWAY_INGEST_TOKEN").or(file.ingest_token);
    let read_token = env_token("WAFERMON_GATEWAY_READ_TOKEN").or(file.read_token);
    for (field, token) in [("ingest_token", &ingest_token), ("read_token", &read_token)] {
        if token.as_ref().is_some_and(|t| t.expose().trim().is_empty()) {
            errors.push(problem(field, "must not be blank"));
        }
    }
    if !listen.ip().is_loopback()
        && !file.allow_unauthenticated
        && (ingest_token.is_none() || read_token.is_none())
    {
        errors.push(problem(
            "listen",
            format!(
                "{listen} is reachable from other hosts, so ingest_token and read_token are \
                 required (or set allow_unauthenticated: true behind a trusted proxy)"
            ),
        ));
    }
    let max_body_bytes = file.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    if max_body_bytes < 1024 {
        errors.push(problem("max_body_bytes", "must be at least 1024"));
    }
    let timeout_s = file.request_timeout_s.unwrap_or(DEFAULT_REQUEST_TIMEOUT_S);
    if timeout_s == 0 {
        errors.push(problem("request_timeout_s", "must be at least 1"));
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
            Some(_) => errors.push(problem(field, "must be above 0 and at most 86400 seconds")),
        }
    }
    let mut connections_note = None;
    match file.max_connections {
        None => {}
        Some(0) => errors.push(problem("max_connections", "must be at least 1")),
        Some(n) => match wafermon_hostkit::fit_max_connections(n) {
            Ok(n) => connections.max_connections = n,
            Err((n, why)) => {
                connections.max_connections = n;
                connections_note = Some(why);
            }
        },
    }
    if file.retention_days == Some(0) {
        errors.push(problem(
            "retention_days",
            "must be at least 1 (leave it out to keep everything)",
        ));
    }
    let cache_ttl_s = file.external_cache_ttl_s.unwrap_or(DEFAULT_CACHE_TTL_S);
    if !cache_ttl_s.is_finite() || !(0.0..=3600.0).contains(&cache_ttl_s) {
        errors.push(problem("external_cache_ttl_s", "must be 0 to 3600 seconds"));
    }
    let sources = sources(&file.sources, &mut errors);
    let kafka = file
        .ingest
        .as_ref()
        .and_then(|ingest| crate::kafka::config::parse(ingest, &mut errors));
    let database_url = overrides
        .database_url
        .or(file.database_url)
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string());
    if let Err(e) = crate::store::check_url(&database_url) {
        errors.push(problem("database_url", e));
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
        kafka,
    })
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN
        .parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 18000)))
}

/// The file's keys, and every key serde refused (left out, so the checks of `load` still
/// run on the rest and a file shows all its mistakes at once).
fn read_file(path: &Path) -> Result<(FileConfig, Vec<ConfigError>), Vec<ConfigError>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![problem("", format!("cannot read {}: {e}", path.display()))])?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        vec![problem(
            "",
            format!("{} is not valid JSON: {e}", path.display()),
        )]
    })?;
    if !value.is_object() {
        return Err(vec![problem("", "the configuration must be a JSON object")]);
    }
    let (file, errors) = wafermon::config::from_value_at_all::<FileConfig>(value, "");
    Ok((file.unwrap_or_default(), errors))
}

fn sources(raw: &[serde_json::Value], errors: &mut Vec<ConfigError>) -> Vec<SourceConfig> {
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
            errors.push(problem(format!("{at}.{missing}"), "is required (a string)"));
            continue;
        };
        let s = NameAndType { name, kind };
        let valid_name = !s.name.is_empty()
            && s.name.len() <= 64
            && s.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid_name {
            errors.push(problem(
                format!("{at}.name"),
                format!("'{}' must be 1-64 letters, digits, '-', '_' or '.'", s.name),
            ));
            continue;
        }
        if s.name == MANAGED_SOURCE {
            errors.push(problem(
                format!("{at}.name"),
                format!("'{MANAGED_SOURCE}' is the gateway's own store"),
            ));
            continue;
        }
        if out.iter().any(|o| o.name() == s.name) {
            errors.push(problem(
                format!("{at}.name"),
                format!("'{}' is used twice", s.name),
            ));
            continue;
        }
        // Which types can be read, and with which keys, is the core's registry's to say; the
        // two services whose reader takes keys of its own are parsed by their reader.
        use wafermon::backends::registry::{source_keys, source_types, SourceKeys};
        match (source_keys(s.kind), s.kind) {
            (Some(SourceKeys::Own), "filesystem") => {
                match wafermon::config::from_value_at::<FilesystemSource>(value.clone(), &at) {
                    Ok(fs) => out.push(SourceConfig::Filesystem {
                        name: fs.name,
                        path: fs.path,
                    }),
                    Err(e) => errors.push(e),
                }
            }
            (Some(SourceKeys::Own), "zabbix") => {
                match wafermon::backends::zabbix::read::ZabbixSource::parse(value, &at) {
                    Ok(source) => out.push(SourceConfig::Zabbix {
                        name: s.name.to_string(),
                        source,
                    }),
                    Err(e) => errors.push(e),
                }
            }
            (Some(SourceKeys::Backend), _) => {
                let mut keys = value.clone();
                if let Some(map) = keys.as_object_mut() {
                    map.remove("name");
                }
                match wafermon::config::BackendConfig::from_value(&keys, &at) {
                    Ok(backend) => out.push(SourceConfig::Backend {
                        name: s.name.to_string(),
                        kind: backend.kind,
                    }),
                    Err(e) => errors.push(e),
                }
            }
            (_, other) => errors.push(problem(
                format!("{at}.type"),
                format!(
                    "unknown source type '{other}' (supported: {})",
                    source_types().join(", ")
                ),
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

    /// The errors as `path: message`.
    fn with_file(json: &str) -> Result<GatewayConfig, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.json");
        std::fs::write(&path, json).unwrap();
        load(Some(&path), Overrides::default()).map_err(|errors| {
            errors
                .iter()
                .map(|e| format!("{}: {}", e.path().unwrap_or_default(), e.message()))
                .collect()
        })
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
    fn unknown_source_types_list_what_the_core_can_read() {
        let errors = with_file(r#"{"sources": [{"name": "a", "type": "xray"}]}"#).unwrap_err();
        assert_eq!(
            errors,
            [
                "sources[0].type: unknown source type 'xray' (supported: filesystem, s3, \
              elasticsearch, elk, loki, zabbix, cloudwatch)"
            ]
        );
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
