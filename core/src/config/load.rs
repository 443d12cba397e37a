//! Layering of configuration sources and conversion of the merged JSON into `Config`, with
//! every error naming its JSON path (and the environment variable, when it came from one).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::backend::parse_backend;
use super::{
    AppConfig, BatchConfig, Config, FsyncPolicy, Mode, OnFull, QueueConfig, RetryConfig, Secret,
    SidecarConfig, SpoolConfig, WireFormat,
};
use crate::error::{Error, Result};

/// Environment variables read by `Config::load`, and the config path each one sets.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("WAFERMON_MODE", "mode"),
    ("WAFERMON_SIDECAR_URL", "sidecar.url"),
    ("WAFERMON_SIDECAR_TIMEOUT", "sidecar.timeout"),
    ("WAFERMON_SIDECAR_RETRIES", "sidecar.retries"),
    ("WAFERMON_SIDECAR_TOKEN", "sidecar.token"),
    ("WAFERMON_APP_NAME", "app.name"),
    ("WAFERMON_APP_VERSION", "app.version"),
    ("WAFERMON_SITE_ID", "app.site_id"),
    ("WAFERMON_INSTANCE_ID", "app.instance_id"),
    ("WAFERMON_BATCH_MAX_EVENTS", "batch.max_events"),
    ("WAFERMON_BATCH_MAX_BYTES", "batch.max_bytes"),
    ("WAFERMON_FLUSH_INTERVAL", "batch.flush_interval"),
    ("WAFERMON_QUEUE_CAPACITY_BYTES", "queue.capacity_bytes"),
    ("WAFERMON_ON_FULL", "queue.on_full"),
    ("WAFERMON_SPOOL_PATH", "spool.path"),
    ("WAFERMON_SPOOL_MAX_SIZE_MB", "spool.max_size_mb"),
    ("WAFERMON_SPOOL_FSYNC", "spool.fsync"),
    ("WAFERMON_DATA_DIR", "direct_backends"),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default = "default_mode")]
    mode: String,
    #[serde(default)]
    app: RawApp,
    #[serde(default)]
    sidecar: RawSidecar,
    direct_backends: Option<Vec<Value>>,
    #[serde(default)]
    batch: RawBatch,
    #[serde(default)]
    queue: RawQueue,
    #[serde(default)]
    spool: RawSpool,
    #[serde(default)]
    retry: RawRetry,
}

fn default_mode() -> String {
    "direct".into()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApp {
    name: Option<String>,
    version: Option<String>,
    site_id: Option<String>,
    instance_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSidecar {
    url: String,
    timeout: f64,
    retries: u32,
    format: String,
    token: Option<Secret>,
}

impl Default for RawSidecar {
    fn default() -> Self {
        RawSidecar {
            url: "http://127.0.0.1:17000".into(),
            timeout: 5.0,
            retries: 3,
            format: "json".into(),
            token: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawBatch {
    max_events: u64,
    max_bytes: u64,
    flush_interval: f64,
}

impl Default for RawBatch {
    fn default() -> Self {
        RawBatch {
            max_events: 1000,
            max_bytes: 1024 * 1024,
            flush_interval: 0.2,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawQueue {
    capacity_bytes: u64,
    on_full: String,
}

impl Default for RawQueue {
    fn default() -> Self {
        RawQueue {
            capacity_bytes: 64 * 1024 * 1024,
            on_full: "spill".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSpool {
    path: String,
    max_size_mb: f64,
    fsync: String,
}

impl Default for RawSpool {
    fn default() -> Self {
        RawSpool {
            path: "./wafermon-data/.spool".into(),
            max_size_mb: 256.0,
            fsync: "batch".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRetry {
    initial_backoff: f64,
    max_backoff: f64,
}

impl Default for RawRetry {
    fn default() -> Self {
        RawRetry {
            initial_backoff: 0.1,
            max_backoff: 30.0,
        }
    }
}

/// Deserialize `value` into `T`; errors carry `prefix` + the path inside `value`, as every
/// config error of the core does. The hosts read their own config files with it too.
pub fn from_value_at<T: DeserializeOwned>(value: Value, prefix: &str) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| path_error(e, prefix))
}

/// Like `from_value_at`, but every key serde refuses, not only the first: each refused key
/// is left out and the rest read again, so a file with three mistakes shows three errors.
/// Returns what the accepted keys make (None when even that fails, e.g. a required key is
/// missing) and the errors; no errors means the value is the whole of `value`.
pub fn from_value_at_all<T: DeserializeOwned>(
    mut value: Value,
    prefix: &str,
) -> (Option<T>, Vec<Error>) {
    let mut errors: Vec<Error> = Vec::new();
    // Each round removes one key, so the rounds are bounded by the keys there are.
    loop {
        match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(parsed) => return (Some(parsed), errors),
            Err(e) => {
                let segments: Vec<serde_path_to_error::Segment> =
                    e.path().iter().cloned().collect();
                // serde names a missing field at its parent: removing that would report the
                // parent as missing next, a key the user did write.
                let missing = e.inner().to_string().starts_with("missing field");
                let error = path_error(e, prefix);
                let repeated = errors.iter().any(|known| known.path() == error.path());
                if !repeated {
                    errors.push(error);
                }
                if missing || repeated || !remove_at(&mut value, &segments) {
                    return (None, errors);
                }
            }
        }
    }
}

/// Remove the object key `segments` leads to; false when it names no object key.
fn remove_at(value: &mut Value, segments: &[serde_path_to_error::Segment]) -> bool {
    use serde_path_to_error::Segment;
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut node = value;
    for segment in parents {
        node = match (segment, node) {
            (Segment::Map { key }, Value::Object(map)) => match map.get_mut(key) {
                Some(child) => child,
                None => return false,
            },
            (Segment::Seq { index }, Value::Array(items)) => match items.get_mut(*index) {
                Some(child) => child,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, node) {
        (Segment::Map { key }, Value::Object(map)) => map.remove(key).is_some(),
        _ => false,
    }
}

fn path_error(e: serde_path_to_error::Error<serde_json::Error>, prefix: &str) -> Error {
    let mut inner = e.path().to_string();
    if inner == "." {
        inner.clear();
    }
    let message = e.into_inner().to_string();
    // serde reports a missing field at its parent; the path should name the field.
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        inner = if inner.is_empty() {
            field.to_string()
        } else {
            format!("{inner}.{field}")
        };
    }
    let path = match (prefix.is_empty(), inner.is_empty()) {
        (true, _) => inner,
        (false, true) => prefix.to_string(),
        (false, false) if inner.starts_with('[') => format!("{prefix}{inner}"),
        (false, false) => format!("{prefix}.{inner}"),
    };
    Error::config(path, message)
}

pub(crate) fn duration_secs(secs: f64, path: &str) -> Result<Duration> {
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(Error::config(
            path,
            format!("must be a number of seconds above 0 and at most 86400, got {secs}"),
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn positive(value: u64, path: &str) -> Result<usize> {
    if value == 0 {
        return Err(Error::config(path, "must be at least 1"));
    }
    usize::try_from(value).map_err(|_| Error::config(path, "is too large"))
}

fn one_of<T: Copy>(text: &str, path: &str, choices: &[(&str, T)]) -> Result<T> {
    choices
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            Error::config(path, format!("'{text}' is not one of {}", names.join(", ")))
        })
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

impl Config {
    /// Defaults, `WAFERMON_*` variables, then the `WAFERMON_CONFIG` file.
    pub fn from_env() -> Result<Config> {
        Config::load(None)
    }

    /// Every source, with `explicit` (a JSON object) on top.
    pub fn load(explicit: Option<Value>) -> Result<Config> {
        let mut merged = env_layer(|name| std::env::var(name).ok())?;
        if let Ok(path) = std::env::var("WAFERMON_CONFIG") {
            if !path.is_empty() {
                merge(&mut merged, read_file(Path::new(&path))?);
            }
        }
        if let Some(explicit) = explicit {
            if !explicit.is_object() {
                return Err(Error::config("", "the configuration must be a JSON object"));
            }
            merge(&mut merged, explicit);
        }
        Config::from_value(merged)
    }

    /// Exactly this JSON object on top of the defaults (no environment, no file).
    pub fn from_json_str(text: &str) -> Result<Config> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::config("", format!("malformed JSON: {e}")))?;
        Config::from_value(value)
    }

    /// Exactly this file on top of the defaults.
    pub fn from_file(path: &Path) -> Result<Config> {
        Config::from_value(read_file(path)?)
    }

    /// Build from one JSON object on top of the defaults.
    pub fn from_value(value: Value) -> Result<Config> {
        if !value.is_object() {
            return Err(Error::config("", "the configuration must be a JSON object"));
        }
        let raw: Raw = from_value_at(value, "")?;
        let mode = one_of(
            &raw.mode,
            "mode",
            &[("direct", Mode::Direct), ("sidecar", Mode::Sidecar)],
        )?;
        let app = AppConfig {
            name: raw
                .app
                .name
                .unwrap_or_else(crate::skin::names::default_app_name),
            version: raw.app.version,
            site_id: raw.app.site_id.unwrap_or_else(|| "default".into()),
            instance_id: raw
                .app
                .instance_id
                .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id())),
        };
        for (path, value) in [
            ("app.name", Some(&app.name)),
            ("app.version", app.version.as_ref()),
            ("app.site_id", Some(&app.site_id)),
            ("app.instance_id", Some(&app.instance_id)),
        ] {
            if let Some(v) = value {
                crate::event::check_name(path, v, crate::event::limits::MAX_IDENT)
                    .map_err(|e| Error::config(path, e.message().to_string()))?;
            }
        }
        if !(raw.sidecar.url.starts_with("http://") || raw.sidecar.url.starts_with("https://")) {
            return Err(Error::config(
                "sidecar.url",
                format!("'{}' is not an http:// or https:// URL", raw.sidecar.url),
            ));
        }
        let sidecar = SidecarConfig {
            url: raw.sidecar.url,
            timeout: duration_secs(raw.sidecar.timeout, "sidecar.timeout")?,
            retries: raw.sidecar.retries,
            format: one_of(
                &raw.sidecar.format,
                "sidecar.format",
                &[("json", WireFormat::Json), ("msgpack", WireFormat::MsgPack)],
            )?,
            token: raw.sidecar.token,
        };
        let backend_values = raw.direct_backends.unwrap_or_else(|| {
            vec![serde_json::json!({"type": "filesystem", "path": "./wafermon-data", "format": "jsonl"})]
        });
        let mut direct_backends = Vec::with_capacity(backend_values.len());
        for (i, value) in backend_values.iter().enumerate() {
            let backend = parse_backend(value, &format!("direct_backends[{i}]"), i)?;
            if direct_backends
                .iter()
                .any(|b: &super::BackendConfig| b.name == backend.name)
            {
                return Err(Error::config(
                    format!("direct_backends[{i}].name"),
                    format!("'{}' is used by another backend", backend.name),
                ));
            }
            direct_backends.push(backend);
        }
        if mode == Mode::Direct && !direct_backends.iter().any(|b| b.enabled) {
            return Err(Error::config(
                "direct_backends",
                "direct mode needs at least one enabled backend",
            ));
        }
        let batch = BatchConfig {
            max_events: positive(raw.batch.max_events, "batch.max_events")?,
            max_bytes: positive(raw.batch.max_bytes, "batch.max_bytes")?,
            flush_interval: duration_secs(raw.batch.flush_interval, "batch.flush_interval")?,
        };
        let queue = QueueConfig {
            capacity_bytes: positive(raw.queue.capacity_bytes, "queue.capacity_bytes")?,
            on_full: one_of(
                &raw.queue.on_full,
                "queue.on_full",
                &[
                    ("spill", OnFull::Spill),
                    ("drop_newest", OnFull::DropNewest),
                    ("block", OnFull::Block),
                ],
            )?,
        };
        if raw.spool.path.is_empty() {
            return Err(Error::config("spool.path", "must not be empty"));
        }
        if !raw.spool.max_size_mb.is_finite() || raw.spool.max_size_mb <= 0.0 {
            return Err(Error::config(
                "spool.max_size_mb",
                "must be a positive number",
            ));
        }
        let spool = SpoolConfig {
            path: PathBuf::from(raw.spool.path),
            max_size_bytes: (raw.spool.max_size_mb * 1024.0 * 1024.0) as u64,
            fsync: one_of(
                &raw.spool.fsync,
                "spool.fsync",
                &[
                    ("always", FsyncPolicy::Always),
                    ("batch", FsyncPolicy::Batch),
                    ("never", FsyncPolicy::Never),
                ],
            )?,
        };
        let retry = RetryConfig {
            initial_backoff: duration_secs(raw.retry.initial_backoff, "retry.initial_backoff")?,
            max_backoff: duration_secs(raw.retry.max_backoff, "retry.max_backoff")?,
        };
        if retry.max_backoff < retry.initial_backoff {
            return Err(Error::config(
                "retry.max_backoff",
                "must not be below retry.initial_backoff",
            ));
        }
        Ok(Config {
            mode,
            app,
            sidecar,
            direct_backends,
            batch,
            queue,
            spool,
            retry,
        })
    }
}

impl Default for Config {
    /// Direct mode to JSONL files under ./wafermon-data.
    fn default() -> Self {
        match Config::from_value(Value::Object(Map::new())) {
            Ok(c) => c,
            Err(e) => unreachable!("the built-in defaults are valid: {e}"),
        }
    }
}

fn read_file(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::config(
            "",
            format!("cannot read config file {}: {e}", path.display()),
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Error::config(
            "",
            format!("config file {} is not valid JSON: {e}", path.display()),
        )
    })
}

/// Deep-merge objects; anything else (arrays included) is replaced by the upper layer.
fn merge(base: &mut Value, upper: Value) {
    match (base, upper) {
        (Value::Object(b), Value::Object(u)) => {
            for (k, v) in u {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, u) => *b = u,
    }
}

/// The environment as a config object. `lookup` is injectable for tests.
pub(crate) fn env_layer(lookup: impl Fn(&str) -> Option<String>) -> Result<Value> {
    let mut root = Value::Object(Map::new());
    for (var, path) in ENV_VARS {
        let Some(text) = lookup(var) else { continue };
        let value = if *var == "WAFERMON_DATA_DIR" {
            serde_json::json!([{"type": "filesystem", "path": text, "format": "jsonl"}])
        } else if is_numeric_path(path) {
            let n: f64 = text
                .trim()
                .parse()
                .map_err(|_| Error::config(*path, format!("{var}='{text}' is not a number")))?;
            if path.ends_with("timeout")
                || path.ends_with("interval")
                || path.ends_with("max_size_mb")
            {
                serde_json::json!(n)
            } else if n.fract() == 0.0 && n >= 0.0 {
                serde_json::json!(n as u64)
            } else {
                return Err(Error::config(
                    *path,
                    format!("{var}='{text}' is not a whole number"),
                ));
            }
        } else {
            Value::String(text)
        };
        set_path(&mut root, path, value);
    }
    Ok(root)
}

fn is_numeric_path(path: &str) -> bool {
    matches!(
        path,
        "sidecar.timeout"
            | "sidecar.retries"
            | "batch.max_events"
            | "batch.max_bytes"
            | "batch.flush_interval"
            | "queue.capacity_bytes"
            | "spool.max_size_mb"
    )
}

fn set_path(root: &mut Value, path: &str, value: Value) {
    let mut node = root;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let Value::Object(map) = node else { return };
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            return;
        }
        node = map
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_land_on_their_paths() {
        let env = |name: &str| match name {
            "WAFERMON_APP_NAME" => Some("etch".to_string()),
            "WAFERMON_BATCH_MAX_EVENTS" => Some("50".to_string()),
            "WAFERMON_DATA_DIR" => Some("/tmp/x".to_string()),
            _ => None,
        };
        let config = Config::from_value(env_layer(env).unwrap()).unwrap();
        assert_eq!(config.app.name, "etch");
        assert_eq!(config.batch.max_events, 50);
        assert_eq!(config.direct_backends.len(), 1);
    }

    #[test]
    fn env_errors_name_the_variable() {
        let env = |name: &str| (name == "WAFERMON_BATCH_MAX_EVENTS").then(|| "lots".to_string());
        let err = env_layer(env).unwrap_err();
        assert_eq!(err.path(), Some("batch.max_events"));
        assert!(err.message().contains("WAFERMON_BATCH_MAX_EVENTS"));
    }

    #[test]
    fn every_refused_key_is_reported_and_the_rest_still_read() {
        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct Section {
            port: Option<u16>,
            name: Option<String>,
        }
        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct File {
            section: Section,
            count: Option<u32>,
        }
        let value = serde_json::json!({
            "section": {"port": "x", "colour": 1, "name": "kept"},
            "count": -1,
            "extra": true
        });
        let (read, errors) = from_value_at_all::<File>(value, "top");
        let paths: Vec<&str> = errors.iter().filter_map(|e| e.path()).collect();
        assert_eq!(
            paths,
            [
                "top.count",
                "top.extra",
                "top.section.colour",
                "top.section.port"
            ],
            "{errors:?}"
        );
        let read = read.expect("what is left reads");
        assert_eq!(read.section.name.as_deref(), Some("kept"));
        assert_eq!((read.section.port, read.count), (None, None));

        // A required key that is missing ends the search: nothing is left to read.
        let (read, errors) = from_value_at_all::<File>(serde_json::json!({"count": "x"}), "");
        assert!(read.is_none());
        let paths: Vec<&str> = errors.iter().filter_map(|e| e.path()).collect();
        assert_eq!(paths, ["count", "section"], "{errors:?}");

        // A required key missing inside a section that is there is named, and the section
        // itself is not then called missing.
        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Strict {
            port: u16,
        }
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Outer {
            section: Strict,
        }
        let (read, errors) = from_value_at_all::<Outer>(serde_json::json!({"section": {}}), "top");
        assert!(read.is_none());
        let paths: Vec<&str> = errors.iter().filter_map(|e| e.path()).collect();
        assert_eq!(paths, ["top.section.port"], "{errors:?}");
    }

    #[test]
    fn merge_replaces_arrays_and_merges_objects() {
        let mut base =
            serde_json::json!({"app": {"name": "a", "version": "1"}, "direct_backends": [1, 2]});
        merge(
            &mut base,
            serde_json::json!({"app": {"name": "b"}, "direct_backends": [3]}),
        );
        assert_eq!(
            base,
            serde_json::json!({"app": {"name": "b", "version": "1"}, "direct_backends": [3]})
        );
    }
}
