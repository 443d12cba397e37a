//! The sidecar's configuration file (core/schema/sidecar.v1.schema.json): `ingest`,
//! `backends`, `spool`, `app`, read with serde into the types below. Every error names its
//! JSON path, and every error of a file is reported, not only the first. `backends` are the
//! core's own backend entries, checked by the core: the core `Config` is built by mapping
//! these keys onto the core's schema (`backends` -> `direct_backends`,
//! `ingest.max_batch_size` -> `batch.max_events`, ...), and the paths of the core's errors
//! are translated back into the sidecar's terms (`backends[1].url`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use serde::Deserialize;
use serde_json::{json, Map, Value};
use wafermon::config::{from_value_at_all, Secret};

/// One configuration problem, at a JSON path of the sidecar's config file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl ConfigError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl From<wafermon::Error> for ConfigError {
    fn from(e: wafermon::Error) -> Self {
        ConfigError::new(translate_path(e.path().unwrap_or_default()), e.message())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "invalid config: {}", self.message)
        } else {
            write!(f, "invalid config at {}: {}", self.path, self.message)
        }
    }
}

/// The file as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    pub ingest: IngestSection,
    /// Entries of the core's `direct_backends[]`, checked by the core.
    pub backends: Option<Vec<Value>>,
    pub spool: SpoolSection,
    pub app: AppSection,
}

/// Where and how the sidecar takes events in.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSection {
    pub host: IpAddr,
    pub port: u16,
    /// The core's `batch.max_events`.
    pub max_batch_size: Option<u64>,
    pub max_body_bytes: u64,
    /// The core's `batch.flush_interval`, in seconds.
    pub flush_interval: Option<f64>,
    /// Bearer token the ingest routes require; null: none.
    pub token: Option<Secret>,
    /// Seconds a request head may take to arrive (hostkit's default when absent).
    pub header_read_timeout_s: Option<f64>,
    /// Seconds a kept-alive connection may wait for its next request.
    pub idle_timeout_s: Option<f64>,
    /// Connections open at once; lowered to what the open-file limit allows.
    pub max_connections: Option<u64>,
}

impl Default for IngestSection {
    fn default() -> Self {
        IngestSection {
            host: IpAddr::from([127, 0, 0, 1]),
            port: DEFAULT_PORT,
            max_batch_size: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            flush_interval: None,
            token: None,
            header_read_timeout_s: None,
            idle_timeout_s: None,
            max_connections: None,
        }
    }
}

/// The core's `spool`, except that it cannot be disabled.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolSection {
    pub enabled: bool,
    pub path: String,
    pub max_size_mb: f64,
    pub fsync: Option<String>,
}

impl Default for SpoolSection {
    fn default() -> Self {
        SpoolSection {
            enabled: true,
            path: "./wafermon-sidecar/spool".into(),
            max_size_mb: 1024.0,
            fsync: None,
        }
    }
}

/// The core's `app`; the name defaults to `wafermon-sidecar`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AppSection {
    pub name: Option<String>,
    pub version: Option<String>,
    pub site_id: Option<String>,
    pub instance_id: Option<String>,
}

/// Everything the sidecar itself needs, plus the core's configuration.
#[derive(Debug, Clone)]
pub struct SidecarConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub token: Option<Secret>,
    /// Header-read and idle timeouts, connection cap (`ingest.*_timeout_s`,
    /// `ingest.max_connections`).
    pub connections: wafermon_hostkit::ConnectionLimits,
    /// Why `max_connections` was lowered, for the log.
    pub connections_note: Option<String>,
    pub core: wafermon::Config,
}

const DEFAULT_PORT: u16 = 17000;
const DEFAULT_MAX_BODY_BYTES: u64 = 10 * 1024 * 1024;

/// Read and validate the file at `path`; on failure, every problem found.
pub fn load(path: &Path) -> Result<SidecarConfig, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError::new(
            "",
            format!("cannot read config file {}: {e}", path.display()),
        )]
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        vec![ConfigError::new(
            "",
            format!("config file {} is not valid JSON: {e}", path.display()),
        )]
    })?;
    from_value(&value)
}

/// Validate a config object; on failure, every problem found.
pub fn from_value(value: &Value) -> Result<SidecarConfig, Vec<ConfigError>> {
    if !value.is_object() {
        return Err(vec![ConfigError::new(
            "",
            "the configuration must be a JSON object",
        )]);
    }
    // Keys serde refuses are left out of what follows (defaults stand in), so the checks
    // below still run on the rest and a file shows all its mistakes at once.
    let (file, errors) = from_value_at_all::<FileConfig>(value.clone(), "");
    let mut errors: Vec<ConfigError> = errors.into_iter().map(ConfigError::from).collect();
    let file = file.unwrap_or_default();
    let ingest = &file.ingest;
    if ingest.max_body_bytes == 0 {
        errors.push(ConfigError::new(
            "ingest.max_body_bytes",
            "must be at least 1",
        ));
    }
    if ingest.token.as_ref().is_some_and(Secret::is_empty) {
        errors.push(ConfigError::new(
            "ingest.token",
            "must not be empty (use null for no token)",
        ));
    }
    let (connections, connections_note) = connection_limits(ingest, &mut errors);
    if !file.spool.enabled {
        errors.push(ConfigError::new(
            "spool.enabled",
            "the sidecar acknowledges events only once they are in its spool, so the spool \
             cannot be disabled",
        ));
    }
    let core = match wafermon::Config::from_value(core_value(&file)) {
        Ok(core) => Some(core),
        Err(e) => {
            let e = ConfigError::from(e);
            // A key serde already refused is not reported twice.
            if !errors.iter().any(|known| known.path == e.path) {
                errors.push(e);
            }
            None
        }
    };
    match core {
        Some(core) if errors.is_empty() => Ok(SidecarConfig {
            listen: SocketAddr::new(file.ingest.host, file.ingest.port),
            max_body_bytes: usize::try_from(file.ingest.max_body_bytes).unwrap_or(usize::MAX),
            token: file.ingest.token,
            connections,
            connections_note,
            core,
        }),
        _ => {
            // In file order as far as a reader cares: by path.
            errors.sort_by(|a, b| a.path.cmp(&b.path));
            Err(errors)
        }
    }
}

/// `ingest.header_read_timeout_s`, `ingest.idle_timeout_s` (seconds, fractions allowed) and
/// `ingest.max_connections`; a cap above what the open-file limit allows is lowered, with a
/// note.
fn connection_limits(
    ingest: &IngestSection,
    errors: &mut Vec<ConfigError>,
) -> (wafermon_hostkit::ConnectionLimits, Option<String>) {
    let mut limits = wafermon_hostkit::ConnectionLimits::default();
    let mut seconds = |key: &str, value: Option<f64>, into: &mut std::time::Duration| match value {
        None => {}
        Some(s) if s > 0.0 && s <= 86_400.0 => *into = std::time::Duration::from_secs_f64(s),
        Some(s) => errors.push(ConfigError::new(
            format!("ingest.{key}"),
            format!("must be a number of seconds above 0, at most 86400, got {s}"),
        )),
    };
    seconds(
        "header_read_timeout_s",
        ingest.header_read_timeout_s,
        &mut limits.header_read_timeout,
    );
    seconds(
        "idle_timeout_s",
        ingest.idle_timeout_s,
        &mut limits.idle_timeout,
    );
    let mut note = None;
    if let Some(v) = ingest.max_connections {
        match usize::try_from(v) {
            Ok(n) if n >= 1 => match wafermon_hostkit::fit_max_connections(n) {
                Ok(n) => limits.max_connections = n,
                Err((n, why)) => {
                    limits.max_connections = n;
                    note = Some(why);
                }
            },
            _ => errors.push(ConfigError::new(
                "ingest.max_connections",
                format!("must be a whole number of at least 1, got {v}"),
            )),
        }
    }
    (limits, note)
}

/// The core's configuration for this file: direct mode, spill when the queue is full.
fn core_value(file: &FileConfig) -> Value {
    let mut batch = Map::new();
    if let Some(n) = file.ingest.max_batch_size {
        batch.insert("max_events".into(), json!(n));
    }
    if let Some(s) = file.ingest.flush_interval {
        batch.insert("flush_interval".into(), json!(s));
    }
    let mut spool = Map::new();
    spool.insert("path".into(), json!(file.spool.path));
    spool.insert("max_size_mb".into(), json!(file.spool.max_size_mb));
    if let Some(fsync) = &file.spool.fsync {
        spool.insert("fsync".into(), json!(fsync));
    }
    let app = &file.app;
    let mut core = json!({
        "mode": "direct",
        "app": {"name": app.name.as_deref().unwrap_or("wafermon-sidecar")},
        "batch": batch,
        "queue": {"on_full": "spill"},
        "spool": spool,
    });
    for (key, value) in [
        ("version", &app.version),
        ("site_id", &app.site_id),
        ("instance_id", &app.instance_id),
    ] {
        if let Some(v) = value {
            core["app"][key] = json!(v);
        }
    }
    if let Some(backends) = &file.backends {
        core["direct_backends"] = Value::Array(backends.clone());
    }
    core
}

/// A core config path in the sidecar's terms.
pub fn translate_path(core_path: &str) -> String {
    const MAP: &[(&str, &str)] = &[
        ("direct_backends", "backends"),
        ("batch.max_events", "ingest.max_batch_size"),
        ("batch.flush_interval", "ingest.flush_interval"),
    ];
    for (from, to) in MAP {
        if let Some(rest) = core_path.strip_prefix(from) {
            if rest.is_empty() || rest.starts_with('[') || rest.starts_with('.') {
                return format!("{to}{rest}");
            }
        }
    }
    core_path.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(value: Value) -> Vec<ConfigError> {
        from_value(&value).expect_err("config should be invalid")
    }

    #[test]
    fn defaults_are_valid_and_bind_localhost() {
        let c = from_value(&json!({})).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:17000");
        assert_eq!(c.max_body_bytes, 10 * 1024 * 1024);
        assert_eq!(c.core.app.name, "wafermon-sidecar");
        assert_eq!(c.core.queue.on_full, wafermon::config::OnFull::Spill);
    }

    #[test]
    fn keys_map_onto_the_core() {
        let c = from_value(&json!({
            "ingest": {"max_batch_size": 50, "flush_interval": 0.05, "token": "s3cret"},
            "backends": [{"type": "filesystem", "path": "/tmp/x"}],
            "spool": {"path": "/tmp/spool", "max_size_mb": 2, "fsync": "always"},
            "app": {"site_id": "fab7"}
        }))
        .unwrap();
        assert_eq!(c.core.batch.max_events, 50);
        assert_eq!(c.core.spool.max_size_bytes, 2 * 1024 * 1024);
        assert_eq!(c.core.app.site_id, "fab7");
        assert_eq!(c.token.as_ref().map(Secret::expose), Some("s3cret"));
        assert_eq!(c.core.direct_backends.len(), 1);
    }

    #[test]
    fn every_error_names_its_path() {
        let errs = errors(json!({
            "ingest": {"port": "x", "colour": 1},
            "nope": 1,
            "spool": {"enabled": false}
        }));
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"ingest.port"), "{paths:?}");
        assert!(paths.contains(&"ingest.colour"), "{paths:?}");
        assert!(paths.contains(&"nope"), "{paths:?}");
        assert!(paths.contains(&"spool.enabled"), "{paths:?}");
    }

    #[test]
    fn core_paths_are_translated() {
        let errs = errors(json!({"backends": [{"type": "carrier-pigeon"}]}));
        assert_eq!(errs[0].path, "backends[0].type");
        let errs = errors(json!({"ingest": {"max_batch_size": 0}}));
        assert_eq!(errs[0].path, "ingest.max_batch_size");
        let errs = errors(json!({"ingest": {"flush_interval": -1}}));
        assert_eq!(errs[0].path, "ingest.flush_interval");
        let errs = errors(json!({"spool": {"fsync": "sometimes"}}));
        assert_eq!(errs[0].path, "spool.fsync");
        assert_eq!(translate_path("direct_backends"), "backends");
    }

    #[test]
    fn connection_limits_are_read_and_checked() {
        let c = from_value(&json!({"ingest": {
            "header_read_timeout_s": 2.5, "idle_timeout_s": 30, "max_connections": 1
        }}))
        .unwrap();
        assert_eq!(c.connections.header_read_timeout.as_millis(), 2500);
        assert_eq!(c.connections.idle_timeout.as_secs(), 30);
        assert_eq!(c.connections.max_connections, 1);
        let defaults = from_value(&json!({})).unwrap().connections;
        assert_eq!(defaults.header_read_timeout.as_secs(), 10);
        assert!(defaults.max_connections >= 1);
        let errs = errors(json!({"ingest": {
            "header_read_timeout_s": 0, "idle_timeout_s": "long", "max_connections": 0
        }}));
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "ingest.header_read_timeout_s",
                "ingest.idle_timeout_s",
                "ingest.max_connections"
            ]
        );
    }
}
