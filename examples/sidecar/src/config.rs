//! The sidecar's configuration file: `ingest`, `backends`, `spool`, `app`. Every error names
//! its JSON path. The core `Config` is built by mapping these keys onto the core's schema
//! (`backends` -> `direct_backends`, `ingest.max_batch_size` -> `batch.max_events`, ...), and
//! the paths of the core's errors are translated back into the sidecar's terms.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use serde_json::{json, Map, Value};

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

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "invalid config: {}", self.message)
        } else {
            write!(f, "invalid config at {}: {}", self.path, self.message)
        }
    }
}

/// Everything the sidecar itself needs, plus the core's configuration.
#[derive(Debug, Clone)]
pub struct SidecarConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub token: Option<String>,
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
    let mut errors = Vec::new();
    let Some(root) = value.as_object() else {
        return Err(vec![ConfigError::new(
            "",
            "the configuration must be a JSON object",
        )]);
    };
    unknown_keys(
        root,
        "",
        &["ingest", "backends", "spool", "app"],
        &mut errors,
    );

    // The core's configuration, filled with what validated here.
    let mut core = Map::new();
    core.insert("mode".into(), json!("direct"));
    let mut batch = Map::new();
    let mut queue = Map::new();
    queue.insert("on_full".into(), json!("spill"));

    // ingest
    let ingest = section(root, "ingest", &mut errors);
    unknown_keys(
        &ingest,
        "ingest",
        &[
            "port",
            "host",
            "max_batch_size",
            "max_body_bytes",
            "flush_interval",
            "token",
            "header_read_timeout_s",
            "idle_timeout_s",
            "max_connections",
        ],
        &mut errors,
    );
    let port = match ingest.get("port") {
        None => Some(DEFAULT_PORT),
        Some(v) => match v.as_u64().and_then(|n| u16::try_from(n).ok()) {
            Some(p) => Some(p),
            None => {
                errors.push(ConfigError::new(
                    "ingest.port",
                    format!("must be a port number from 0 to 65535, got {v}"),
                ));
                None
            }
        },
    };
    let host = match ingest.get("host") {
        None => Some(IpAddr::from([127, 0, 0, 1])),
        Some(Value::String(s)) => match s.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                errors.push(ConfigError::new(
                    "ingest.host",
                    format!("'{s}' is not an IP address"),
                ));
                None
            }
        },
        Some(v) => {
            errors.push(type_error("ingest.host", "a string", v));
            None
        }
    };
    if let Some(v) = ingest.get("max_batch_size") {
        match v.as_u64() {
            Some(n) => {
                batch.insert("max_events".into(), json!(n));
            }
            None => errors.push(type_error("ingest.max_batch_size", "a whole number", v)),
        }
    }
    let max_body_bytes = match ingest.get("max_body_bytes") {
        None => Some(DEFAULT_MAX_BODY_BYTES),
        Some(v) => match v.as_u64() {
            Some(0) => {
                errors.push(ConfigError::new(
                    "ingest.max_body_bytes",
                    "must be at least 1",
                ));
                None
            }
            Some(n) => Some(n),
            None => {
                errors.push(type_error("ingest.max_body_bytes", "a whole number", v));
                None
            }
        },
    };
    if let Some(v) = ingest.get("flush_interval") {
        match v.as_f64() {
            Some(_) => {
                batch.insert("flush_interval".into(), v.clone());
            }
            None => errors.push(type_error("ingest.flush_interval", "a number", v)),
        }
    }
    let token = match ingest.get("token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => {
            errors.push(ConfigError::new(
                "ingest.token",
                "must not be empty (use null for no token)",
            ));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => {
            errors.push(type_error("ingest.token", "a string or null", v));
            None
        }
    };

    let (connections, connections_note) = connection_limits(&ingest, &mut errors);

    // backends: exactly the core's direct_backends entries.
    match root.get("backends") {
        None => {}
        Some(Value::Array(items)) => {
            core.insert("direct_backends".into(), Value::Array(items.clone()));
        }
        Some(v) => errors.push(type_error("backends", "an array", v)),
    }

    // spool
    let spool_in = section(root, "spool", &mut errors);
    unknown_keys(
        &spool_in,
        "spool",
        &["enabled", "path", "max_size_mb", "fsync"],
        &mut errors,
    );
    match spool_in.get("enabled") {
        None | Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => errors.push(ConfigError::new(
            "spool.enabled",
            "the sidecar acknowledges events only once they are in its spool, so the spool \
             cannot be disabled",
        )),
        Some(v) => errors.push(type_error("spool.enabled", "a boolean", v)),
    }
    let mut spool = Map::new();
    spool.insert("path".into(), json!("./wafermon-sidecar/spool"));
    spool.insert("max_size_mb".into(), json!(1024));
    for key in ["path", "max_size_mb", "fsync"] {
        if let Some(v) = spool_in.get(key) {
            spool.insert(key.into(), v.clone());
        }
    }

    // app
    let app_in = section(root, "app", &mut errors);
    unknown_keys(
        &app_in,
        "app",
        &["name", "version", "site_id", "instance_id"],
        &mut errors,
    );
    let mut app = app_in.clone();
    app.entry("name")
        .or_insert_with(|| json!("wafermon-sidecar"));

    core.insert("app".into(), Value::Object(app));
    core.insert("batch".into(), Value::Object(batch));
    core.insert("queue".into(), Value::Object(queue));
    core.insert("spool".into(), Value::Object(spool));

    let core = match wafermon::Config::from_value(Value::Object(core)) {
        Ok(c) => Some(c),
        Err(e) => {
            let path = translate_path(e.path().unwrap_or_default());
            // A type error the checks above already reported is not repeated.
            if !errors.iter().any(|known| known.path == path) {
                errors.push(ConfigError::new(path, e.message()));
            }
            None
        }
    };

    match (errors.is_empty(), core, host, port, max_body_bytes) {
        (true, Some(core), Some(host), Some(port), Some(max_body)) => Ok(SidecarConfig {
            listen: SocketAddr::new(host, port),
            max_body_bytes: usize::try_from(max_body).unwrap_or(usize::MAX),
            token,
            connections,
            connections_note,
            core,
        }),
        _ => Err(errors),
    }
}

/// `ingest.header_read_timeout_s`, `ingest.idle_timeout_s` (seconds, fractions allowed) and
/// `ingest.max_connections`; a cap above what the open-file limit allows is lowered, with a
/// note.
fn connection_limits(
    ingest: &Map<String, Value>,
    errors: &mut Vec<ConfigError>,
) -> (wafermon_hostkit::ConnectionLimits, Option<String>) {
    let mut limits = wafermon_hostkit::ConnectionLimits::default();
    let mut seconds = |key: &str, into: &mut std::time::Duration| {
        if let Some(v) = ingest.get(key) {
            match v.as_f64() {
                Some(s) if s > 0.0 && s <= 86_400.0 => {
                    *into = std::time::Duration::from_secs_f64(s);
                }
                _ => errors.push(ConfigError::new(
                    format!("ingest.{key}"),
                    format!("must be a number of seconds above 0, at most 86400, got {v}"),
                )),
            }
        }
    };
    seconds("header_read_timeout_s", &mut limits.header_read_timeout);
    seconds("idle_timeout_s", &mut limits.idle_timeout);
    let mut note = None;
    if let Some(v) = ingest.get("max_connections") {
        match v.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if n >= 1 => match wafermon_hostkit::fit_max_connections(n) {
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

/// The object at `root[key]` (empty when absent); a non-object is an error.
fn section(
    root: &Map<String, Value>,
    key: &str,
    errors: &mut Vec<ConfigError>,
) -> Map<String, Value> {
    match root.get(key) {
        None => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(v) => {
            errors.push(type_error(key, "an object", v));
            Map::new()
        }
    }
}

fn unknown_keys(
    obj: &Map<String, Value>,
    prefix: &str,
    known: &[&str],
    errors: &mut Vec<ConfigError>,
) {
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            errors.push(ConfigError::new(
                path,
                format!(
                    "unknown field `{key}`, expected one of {}",
                    known.join(", ")
                ),
            ));
        }
    }
}

fn type_error(path: &str, expected: &str, got: &Value) -> ConfigError {
    ConfigError::new(path, format!("must be {expected}, got {got}"))
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
        assert_eq!(c.token.as_deref(), Some("s3cret"));
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
