//! The event format of the Python SDK that wafermon replaces ("legacy"), converted to schema v1
//! so a sidecar can take events from old applications unchanged. The shape, as that SDK's
//! `JobEvent.to_json()` writes it:
//!
//! ```json
//! {"idempotency_key": "<uuid4>", "site_id": "fab7",
//!  "app": {"app_id": "<uuid>", "name": "etch", "version": "1.2"},
//!  "entity": {"type": "job", "id": "<uuid>", "parent_id": null, "business_key": "LOT42", "sub_key": null},
//!  "event": {"kind": "started", "at": "2025-11-27T09:33:37.123456+01:00", "status": "running",
//!            "metrics": {"wafers": 25}, "metadata": {"tool": "ETCH-01"}}}
//! ```
//!
//! The mapping, with its reasons, is documented in core/conformance/README.md (section
//! "legacy_cases.json"); errors name the legacy field, e.g. `at event.at: ...`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::validate::check_attr_number;
use super::{App, Entity, Event, Kind, Level, NewEvent, Scalar, Status, Timestamp};
use crate::config::AppConfig;
use crate::error::{Error, Result};

const TOP_FIELDS: &[&str] = &["idempotency_key", "site_id", "app", "entity", "event"];
const APP_FIELDS: &[&str] = &["app_id", "name", "version"];
const ENTITY_FIELDS: &[&str] = &["type", "id", "parent_id", "business_key", "sub_key"];
const EVENT_FIELDS: &[&str] = &["kind", "at", "status", "metrics", "metadata"];

/// Metric names a legacy progress event reports its percentage under, in order of preference.
const PROGRESS_METRICS: &[&str] = &["progress", "percent"];

/// The latest instant schema v1 can write (its `time` has a four-digit year).
const MAX_EPOCH_SECONDS: i64 = 253_402_300_799;

/// What a legacy event may leave out and the host knows: where it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyDefaults {
    /// The site of an event without `site_id`.
    pub site: String,
    /// The app of an event without `app`.
    pub app: App,
}

impl LegacyDefaults {
    /// The site and app a client (the sidecar) is configured with.
    pub fn from_config(app: &AppConfig) -> Self {
        LegacyDefaults {
            site: app.site_id.clone(),
            app: App {
                name: app.name.clone(),
                version: app.version.clone(),
                instance: Some(app.instance_id.clone()),
            },
        }
    }
}

/// Whether `value` has the legacy shape: an object with `event` or `idempotency_key` and
/// none of the top-level fields of schema v1 that legacy events never carry (`kind`, `v`).
/// Checking presence rather than validity lets a malformed legacy event get errors in
/// legacy terms instead of "kind is required".
pub fn is_legacy(value: &Value) -> bool {
    let Some(obj) = value.as_object() else {
        return false;
    };
    !obj.contains_key("kind")
        && !obj.contains_key("v")
        && (obj.contains_key("event") || obj.contains_key("idempotency_key"))
}

/// Convert one legacy event to a complete, valid schema v1 event.
///
/// `seq` is 0: a converted event has not been numbered yet; a host that ingests it (see
/// [`parse_legacy_value`]) leaves it to the pipeline, which numbers it like its own events.
pub fn from_legacy(value: &Value, defaults: &LegacyDefaults) -> Result<Event> {
    let top = object(value, "")?;
    reject_unknown(top, "", TOP_FIELDS)?;
    let mut origins = Origins {
        app: "app.name",
        attrs: Vec::new(),
    };

    let key = optional_text(top, "idempotency_key", "idempotency_key")?;
    let site = optional_text(top, "site_id", "site_id")?
        .map(str::to_string)
        .unwrap_or_else(|| defaults.site.clone());

    let mut derived: Vec<(&'static str, &'static str, String)> = Vec::new();
    let app = match top.get("app") {
        None | Some(Value::Null) => {
            origins.app = "app";
            defaults.app.clone()
        }
        Some(a) => {
            let a = object(a, "app")?;
            reject_unknown(a, "app", APP_FIELDS)?;
            let app_id = optional_text(a, "app_id", "app.app_id")?;
            if let Some(id) = app_id {
                derived.push(("app_id", "app.app_id", id.to_string()));
            }
            let name = match (optional_text(a, "name", "app.name")?, app_id) {
                (Some(name), _) => name,
                (None, Some(id)) => {
                    origins.app = "app.app_id";
                    id
                }
                (None, None) => return Err(Error::event("app.name", "is required")),
            };
            App {
                name: name.to_string(),
                version: optional_text(a, "version", "app.version")?.map(str::to_string),
                instance: None,
            }
        }
    };

    let e = object(required(top, "entity", "entity")?, "entity")?;
    reject_unknown(e, "entity", ENTITY_FIELDS)?;
    let entity = Entity {
        kind: required_text(e, "type", "entity.type")?.to_string(),
        id: required_text(e, "id", "entity.id")?.to_string(),
        name: None,
        parent: optional_text(e, "parent_id", "entity.parent_id")?.map(str::to_string),
        key: optional_text(e, "business_key", "entity.business_key")?.map(str::to_string),
    };
    if let Some(sub_key) = optional_text(e, "sub_key", "entity.sub_key")? {
        derived.push(("sub_key", "entity.sub_key", sub_key.to_string()));
    }

    let ev = object(required(top, "event", "event")?, "event")?;
    reject_unknown(ev, "event", EVENT_FIELDS)?;
    let kind_text = required_text(ev, "kind", "event.kind")?;
    let legacy_kind = parse_kind(kind_text).ok_or_else(|| {
        Error::event(
            "event.kind",
            format!(
                "'{kind_text}' is not a known kind (started, progress, metric, finished, error, \
                 canceled, log, heartbeat, or a synonym such as completed, success, failed, cancelled)"
            ),
        )
    })?;
    let status_text = match ev.get("status") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()).filter(|s| !s.is_empty()),
        Some(other) => {
            return Err(Error::event(
                "event.status",
                format!("must be a string, got {other}"),
            ))
        }
    };
    let (kind, status) = resolve(legacy_kind, status_text.and_then(terminal_status));
    if let Some(raw) = status_text {
        if raw != status.as_str() {
            derived.push(("legacy_status", "event.status", raw.to_string()));
        }
    }
    let time =
        parse_time(required(ev, "at", "event.at")?).map_err(|m| Error::event("event.at", m))?;

    let mut metrics = BTreeMap::new();
    if let Some(m) = present(ev, "metrics") {
        let m = m
            .as_object()
            .ok_or_else(|| Error::event("event.metrics", "must be an object of name -> number"))?;
        for (name, value) in m {
            let number = value.as_f64().ok_or_else(|| {
                Error::event(
                    format!("event.metrics.{name}"),
                    format!("must be a number, got {value}"),
                )
            })?;
            metrics.insert(name.clone(), number);
        }
    }
    let mut progress = None;
    if kind == Kind::Progress {
        // Out of range it is not a percentage; it stays a metric rather than failing the event.
        let source = PROGRESS_METRICS.iter().find(|name| {
            metrics
                .get(**name)
                .is_some_and(|v| (0.0..=100.0).contains(v))
        });
        if let Some(name) = source {
            progress = metrics.remove(*name);
        }
    }

    let mut message = None;
    let mut attrs = BTreeMap::new();
    if let Some(m) = present(ev, "metadata") {
        let m = m
            .as_object()
            .ok_or_else(|| Error::event("event.metadata", "must be an object of name -> value"))?;
        for (name, value) in m {
            match value {
                Value::Null => {}
                // v1 has a place for it, with room for a stack trace (attrs stop at 4096).
                Value::String(s) if name == "message" => message = Some(s.clone()),
                Value::Array(_) | Value::Object(_) => {
                    let mut text = Vec::new();
                    canonical_json(value, &mut text);
                    attrs.insert(
                        name.clone(),
                        Scalar::Str(String::from_utf8_lossy(&text).into_owned()),
                    );
                }
                scalar => {
                    if let Some(s) = Scalar::from_json(scalar) {
                        if let Scalar::Float(f) = s {
                            check_attr_number(|| format!("event.metadata.{name}"), f)?;
                        }
                        attrs.insert(name.clone(), s);
                    }
                }
            }
        }
    }
    if let Some(key) = key {
        derived.push(("idempotency_key", "idempotency_key", key.to_string()));
    }
    for (name, source, value) in derived {
        let value = Scalar::Str(value);
        match attrs.get(name) {
            None => {
                attrs.insert(name.to_string(), value);
                origins.attrs.push((name, source));
            }
            Some(same) if *same == value => {}
            // Either choice would silently lose one of the two values.
            Some(_) => {
                return Err(Error::event(
                    format!("event.metadata.{name}"),
                    format!(
                        "differs from {source}, which the conversion also stores as attrs.{name}"
                    ),
                ))
            }
        }
    }

    let event = Event {
        v: super::SCHEMA_VERSION,
        id: legacy_id(key, value, time),
        seq: 0,
        time,
        site,
        app,
        entity,
        kind,
        status,
        progress,
        level: (kind == Kind::Log).then_some(Level::Info),
        message,
        metrics,
        attrs,
    };
    event.validate().map_err(|e| {
        Error::event(
            origins.legacy_path(e.path().unwrap_or_default()),
            e.message(),
        )
    })?;
    Ok(event)
}

/// [`from_legacy`] as input for `Client::ingest`/`emit`: the event keeps its id, time, site
/// and app; its sequence number is left to the pipeline.
pub fn parse_legacy_value(value: &Value, defaults: &LegacyDefaults) -> Result<NewEvent> {
    let e = from_legacy(value, defaults)?;
    Ok(NewEvent {
        kind: e.kind,
        entity: e.entity,
        status: Some(e.status),
        progress: e.progress,
        level: e.level,
        message: e.message,
        metrics: e.metrics.into_iter().collect(),
        attrs: e.attrs.into_iter().collect(),
        id: Some(e.id),
        seq: None,
        time: Some(e.time),
        site: Some(e.site),
        app: Some(e.app),
    })
}

/// Where the fields of the v1 event came from, to name the legacy field in an error.
struct Origins {
    /// The legacy path of `app.name`.
    app: &'static str,
    /// Attributes derived from fields other than `event.metadata`.
    attrs: Vec<(&'static str, &'static str)>,
}

impl Origins {
    fn legacy_path(&self, v1: &str) -> String {
        let (head, rest) = match v1.split_once('.') {
            Some((head, rest)) => (head, Some(rest)),
            None => (v1, None),
        };
        let fixed = match (head, rest) {
            ("id", None) => "idempotency_key",
            ("time", None) => "event.at",
            ("site", None) => "site_id",
            ("kind", None) => "event.kind",
            ("status", None) => "event.status",
            ("progress", None) => "event.metrics",
            ("message", None) => "event.metadata.message",
            ("metrics", None) => "event.metrics",
            ("attrs", None) => "event.metadata",
            ("app", Some("name")) => self.app,
            ("app", Some("instance")) => "app",
            ("entity", Some("kind")) => "entity.type",
            ("entity", Some("parent")) => "entity.parent_id",
            ("entity", Some("key")) => "entity.business_key",
            ("metrics", Some(name)) => return format!("event.metrics.{name}"),
            ("attrs", Some(name)) => {
                return match self.attrs.iter().find(|(attr, _)| *attr == name) {
                    Some((_, source)) => source.to_string(),
                    None => format!("event.metadata.{name}"),
                }
            }
            _ => v1,
        };
        fixed.to_string()
    }
}

/// The v1 kind of a legacy kind; synonyms that old applications send are accepted.
fn parse_kind(text: &str) -> Option<Kind> {
    Some(match normalize(text).as_str() {
        "started" | "start" | "begin" => Kind::Started,
        "progress" | "update" => Kind::Progress,
        "metric" | "metrics" => Kind::Metric,
        "log" => Kind::Log,
        "heartbeat" | "ping" | "alive" => Kind::Heartbeat,
        "finished" | "finish" | "completed" | "complete" | "done" | "success" | "succeeded"
        | "end" | "ended" => Kind::Finished,
        "error" | "failed" | "fail" | "failure" | "errored" => Kind::Failed,
        "canceled" | "cancelled" | "cancel" | "aborted" | "abort" => Kind::Canceled,
        _ => return None,
    })
}

/// The outcome a legacy status reports, if it reports one. Legacy statuses are free text, so
/// anything else (running, pending, ok, ...) means "not over yet".
fn terminal_status(text: &str) -> Option<Status> {
    Some(match normalize(text).as_str() {
        "succeeded" | "success" | "successful" | "completed" | "complete" | "done" | "finished"
        | "passed" => Status::Succeeded,
        "failed" | "fail" | "failure" | "error" | "errored" | "fault" => Status::Failed,
        "canceled" | "cancelled" | "aborted" | "killed" => Status::Canceled,
        _ => return None,
    })
}

fn normalize(text: &str) -> String {
    text.trim().to_ascii_lowercase().replace(['-', ' '], "_")
}

/// The v1 kind and status of a legacy kind and the outcome its status reports.
fn resolve(kind: Kind, outcome: Option<Status>) -> (Kind, Status) {
    match kind {
        // The worse of the two wins: a monitor must never show a failed job as succeeded
        // (old applications send e.g. kind "finished" with status "failed").
        Kind::Finished | Kind::Failed | Kind::Canceled => {
            let severity = |s: Status| match s {
                Status::Failed => 3,
                Status::Canceled => 2,
                _ => 1,
            };
            let by_kind = kind.implied_status().unwrap_or(Status::Succeeded);
            let status = match outcome {
                Some(o) if severity(o) > severity(by_kind) => o,
                _ => by_kind,
            };
            let kind = match status {
                Status::Failed => Kind::Failed,
                Status::Canceled => Kind::Canceled,
                _ => Kind::Finished,
            };
            (kind, status)
        }
        // The kind says the entity is running; a contradicting status stays in legacy_status.
        Kind::Started | Kind::Progress => (kind, Status::Running),
        Kind::Metric | Kind::Log | Kind::Heartbeat => (kind, outcome.unwrap_or(Status::Running)),
    }
}

/// `event.at`: an ISO 8601 / RFC 3339 string (what Python's `datetime.isoformat()` writes,
/// any offset, any fraction; without an offset it is UTC) or epoch seconds.
fn parse_time(value: &Value) -> std::result::Result<Timestamp, String> {
    let time = match value {
        Value::String(text) => parse_iso(text)?,
        Value::Number(n) => {
            let micros = if let Some(secs) = n.as_i64() {
                secs.checked_mul(1_000_000)
            } else {
                n.as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 1e15)
                    .map(|f| (f * 1e6).round() as i64)
            };
            let micros = micros
                .filter(|m| *m <= MAX_EPOCH_SECONDS * 1_000_000)
                .ok_or_else(|| {
                    format!(
                        "{n} is out of range (epoch seconds up to 9999-12-31 are expected, \
                         not milliseconds)"
                    )
                })?;
            Timestamp::from_unix_micros(micros)
        }
        other => {
            return Err(format!(
                "must be an ISO 8601 timestamp string or epoch seconds, got {other}"
            ))
        }
    };
    if time.unix_micros() < 0 {
        return Err(format!("{value} is before 1970"));
    }
    Ok(time)
}

fn parse_iso(text: &str) -> std::result::Result<Timestamp, String> {
    let mut text = text.trim().to_string();
    // isoformat(sep=' ') and str(datetime) put a space between date and time.
    if text.len() > 10 && text.as_bytes()[10] == b' ' {
        text.replace_range(10..11, "T");
    }
    let first = match Timestamp::parse(&text) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    // A naive datetime: the legacy SDK stamps events with UTC, so that is what it means.
    let time_part = text.get(11..).unwrap_or_default();
    let has_offset = time_part.ends_with(['Z', 'z']) || time_part.contains(['+', '-']);
    if !has_offset {
        if let Ok(t) = Timestamp::parse(&format!("{text}Z")) {
            return Ok(t);
        }
    }
    Err(first)
}

/// A UUIDv7 that is a function of the event, so a replayed legacy event gets the id it got
/// the first time and every store dedupes it: bytes 0-5 are `event.at` in Unix milliseconds
/// (big-endian), bytes 6-15 the first ten bytes of SHA-256 of `wafermon-legacy-key:` + the
/// idempotency key (or, without a key, `wafermon-legacy-event:` + the canonical JSON of the
/// whole legacy event), with the version (7) and variant (0b10) bits set.
fn legacy_id(key: Option<&str>, event: &Value, at: Timestamp) -> Uuid {
    let mut input = Vec::with_capacity(64);
    match key {
        Some(key) => {
            input.extend_from_slice(b"wafermon-legacy-key:");
            input.extend_from_slice(key.as_bytes());
        }
        None => {
            input.extend_from_slice(b"wafermon-legacy-event:");
            canonical_json(event, &mut input);
        }
    }
    let digest = sha256(&input);
    let millis = at.unix_millis().clamp(0, (1 << 48) - 1) as u64;
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&millis.to_be_bytes()[2..]);
    bytes[6..].copy_from_slice(&digest[..10]);
    bytes[6] = 0x70 | (bytes[6] & 0x0f);
    bytes[8] = 0x80 | (bytes[8] & 0x3f);
    Uuid::from_bytes(bytes)
}

/// JSON with object keys sorted by their UTF-8 bytes and no whitespace, so the same event
/// hashes the same however its sender ordered the keys (and whatever serde_json's map is).
fn canonical_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, key);
                out.push(b':');
                canonical_json(item, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

/// SHA-256 rather than a smaller hash because every language can recompute it to check an id.
fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>> {
    value.as_object().ok_or_else(|| {
        let what = if path.is_empty() {
            "a legacy event "
        } else {
            ""
        };
        Error::event(path, format!("{what}must be a JSON object, got {value}"))
    })
}

fn reject_unknown(obj: &Map<String, Value>, at: &str, known: &[&str]) -> Result<()> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(key) => {
            let path = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            Err(Error::event(
                path,
                format!("unknown field (expected one of {})", known.join(", ")),
            ))
        }
    }
}

/// A field that is there and not null (the legacy SDK writes absent optionals as null).
fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn required<'a>(obj: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a Value> {
    present(obj, key).ok_or_else(|| Error::event(path, "is required"))
}

fn required_text<'a>(obj: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a str> {
    match required(obj, key, path)? {
        Value::String(s) => Ok(s),
        other => Err(Error::event(path, format!("must be a string, got {other}"))),
    }
}

/// An optional string; empty counts as absent, since v1 has no empty identifiers and an
/// empty legacy value carries nothing to keep.
fn optional_text<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>> {
    match present(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str()).filter(|s| !s.is_empty())),
        Some(other) => Err(Error::event(path, format!("must be a string, got {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defaults() -> LegacyDefaults {
        LegacyDefaults {
            site: "fab-default".into(),
            app: App {
                name: "wafermon-sidecar".into(),
                version: Some("0.1".into()),
                instance: Some("host-1".into()),
            },
        }
    }

    fn legacy() -> Value {
        json!({
            "idempotency_key": "3f0c5a52-9d6e-4d1c-8a43-2b7f1e0c9a11",
            "site_id": "fab7",
            "app": {"app_id": "7d3c2b1a-0f9e-4c8d-b7a6-5e4f3a2b1c0d", "name": "etch", "version": "1.4.2"},
            "entity": {"type": "job", "id": "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e",
                       "parent_id": null, "business_key": "LOT42", "sub_key": "W07"},
            "event": {"kind": "started", "at": "2025-11-27T09:33:37.123456+01:00",
                      "status": "running", "metrics": {"wafers": 25},
                      "metadata": {"tool": "ETCH-01", "recipe": {"name": "r1", "steps": [1, 2]}}}
        })
    }

    fn with(mut value: Value, path: &str, new: Value) -> Value {
        let mut target = &mut value;
        let parts: Vec<&str> = path.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            target = &mut target[*part];
        }
        target[parts[parts.len() - 1]] = new;
        value
    }

    fn convert(value: &Value) -> Event {
        from_legacy(value, &defaults()).unwrap_or_else(|e| panic!("{value}: {e}"))
    }

    fn error_path(value: &Value) -> String {
        let err = from_legacy(value, &defaults()).expect_err("should be rejected");
        assert_eq!(err.kind(), crate::ErrorKind::InvalidEvent);
        let path = err.path().unwrap_or_default().to_string();
        if !path.is_empty() {
            assert!(err.to_string().contains(&format!(" at {path}: ")), "{err}");
        }
        path
    }

    #[test]
    fn sha256_is_the_standard_one() {
        let hex = |d: [u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn detects_the_legacy_shape_only() {
        assert!(is_legacy(&legacy()));
        assert!(is_legacy(&json!({"event": 5})));
        assert!(is_legacy(&json!({"idempotency_key": "k"})));
        assert!(!is_legacy(
            &json!({"kind": "log", "entity": {"kind": "job", "id": "j"}, "message": "m"})
        ));
        assert!(!is_legacy(&json!({"v": 1, "event": {}})));
        assert!(!is_legacy(&json!([legacy()])));
        assert!(!is_legacy(&json!("event")));
    }

    #[test]
    fn converts_every_field() {
        let e = convert(&legacy());
        let got = serde_json::to_value(&e).unwrap();
        assert_eq!(got["time"], "2025-11-27T08:33:37.123456Z");
        assert_eq!(got["site"], "fab7");
        assert_eq!(got["seq"], 0);
        assert_eq!(
            got["app"],
            json!({"name": "etch", "version": "1.4.2"}),
            "the legacy app has no instance"
        );
        assert_eq!(
            got["entity"],
            json!({"kind": "job", "id": "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e", "key": "LOT42"})
        );
        assert_eq!(got["kind"], "started");
        assert_eq!(got["status"], "running");
        assert_eq!(got["metrics"], json!({"wafers": 25.0}));
        assert_eq!(
            got["attrs"],
            json!({
                "app_id": "7d3c2b1a-0f9e-4c8d-b7a6-5e4f3a2b1c0d",
                "idempotency_key": "3f0c5a52-9d6e-4d1c-8a43-2b7f1e0c9a11",
                "recipe": "{\"name\":\"r1\",\"steps\":[1,2]}",
                "sub_key": "W07",
                "tool": "ETCH-01"
            })
        );
        assert_eq!(e.id.get_version_num(), 7);
        let millis = e.id.get_timestamp().unwrap().to_unix();
        assert_eq!(millis, (1_764_232_417, 123_000_000));
        e.validate().unwrap();
    }

    #[test]
    fn ids_are_stable_per_key_and_time() {
        let a = convert(&legacy()).id;
        // A retry of the same event, even with changed details, keeps its id.
        let retried = with(legacy(), "event.metadata.attempt", json!(2));
        assert_eq!(convert(&retried).id, a);
        let other_key = with(legacy(), "idempotency_key", json!("another"));
        assert_ne!(convert(&other_key).id, a);
        let later = with(legacy(), "event.at", json!("2025-11-27T09:33:38+01:00"));
        assert_ne!(convert(&later).id, a);

        // Without a key the content decides, whatever the order of its keys.
        let mut no_key = legacy();
        no_key.as_object_mut().unwrap().remove("idempotency_key");
        let b = convert(&no_key).id;
        assert_ne!(b, a);
        let reordered: Value = serde_json::from_str(
            r#"{"event": {"metadata": {"recipe": {"steps": [1, 2], "name": "r1"}, "tool": "ETCH-01"},
                "metrics": {"wafers": 25}, "status": "running",
                "at": "2025-11-27T09:33:37.123456+01:00", "kind": "started"},
               "entity": {"sub_key": "W07", "business_key": "LOT42", "parent_id": null,
                "id": "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e", "type": "job"},
               "app": {"version": "1.4.2", "name": "etch", "app_id": "7d3c2b1a-0f9e-4c8d-b7a6-5e4f3a2b1c0d"},
               "site_id": "fab7"}"#,
        )
        .unwrap();
        assert_eq!(convert(&reordered).id, b);
        let changed = with(no_key, "event.metrics.wafers", json!(24));
        assert_ne!(convert(&changed).id, b);
    }

    #[test]
    fn kinds_and_statuses_map_to_v1() {
        let case = |kind: &str, status: Value| {
            let value = with(
                with(legacy(), "event.kind", json!(kind)),
                "event.status",
                status,
            );
            let e = convert(&value);
            (
                e.kind.as_str(),
                e.status.as_str(),
                e.attrs.get("legacy_status").cloned(),
            )
        };
        assert_eq!(
            case("started", json!("running")),
            ("started", "running", None)
        );
        assert_eq!(case("progress", json!(null)), ("progress", "running", None));
        assert_eq!(case("metric", json!("ok")).1, "running");
        assert_eq!(case("finished", json!("success")).0, "finished");
        assert_eq!(
            case("finished", json!("success")).2,
            Some(Scalar::Str("success".into()))
        );
        assert_eq!(case("Completed", json!(null)).0, "finished");
        assert_eq!(
            case("error", json!("error")),
            ("failed", "failed", Some(Scalar::Str("error".into())))
        );
        assert_eq!(
            case("finished", json!("failed")),
            ("failed", "failed", None)
        );
        assert_eq!(case("error", json!("completed")).0, "failed");
        assert_eq!(case("cancelled", json!("cancelled")).0, "canceled");
        assert_eq!(case("finished", json!("aborted")).0, "canceled");
        assert_eq!(case("canceled", json!("failed")).0, "failed");
        assert_eq!(case("heartbeat", json!("alive")).1, "running");
        assert_eq!(case("metric", json!("Failed")).1, "failed");
        assert_eq!(case("progress", json!("done")).1, "running");
        assert_eq!(
            error_path(&with(legacy(), "event.kind", json!("exploded"))),
            "event.kind"
        );
        assert_eq!(
            error_path(&with(legacy(), "event.status", json!(3))),
            "event.status"
        );
    }

    #[test]
    fn times_in_any_offset_or_epoch_seconds() {
        let at = |v: Value| convert(&with(legacy(), "event.at", v)).time.to_string();
        assert_eq!(
            at(json!("2025-11-27T08:33:37Z")),
            "2025-11-27T08:33:37.000000Z"
        );
        assert_eq!(
            at(json!("2025-11-27T03:03:37.5-05:30")),
            "2025-11-27T08:33:37.500000Z"
        );
        assert_eq!(
            at(json!("2025-11-27 08:33:37.123456+00:00")),
            "2025-11-27T08:33:37.123456Z"
        );
        assert_eq!(
            at(json!("2025-11-27T08:33:37.123456")),
            "2025-11-27T08:33:37.123456Z",
            "naive is UTC"
        );
        assert_eq!(at(json!(1_764_232_417)), "2025-11-27T08:33:37.000000Z");
        assert_eq!(at(json!(1_764_232_417.25)), "2025-11-27T08:33:37.250000Z");
        for bad in [
            json!("yesterday"),
            json!(1_764_232_417_000_i64),
            json!(-1),
            json!(true),
            json!("2025-13-01T00:00:00Z"),
        ] {
            assert_eq!(error_path(&with(legacy(), "event.at", bad)), "event.at");
        }
        let mut no_at = legacy();
        no_at["event"].as_object_mut().unwrap().remove("at");
        assert_eq!(error_path(&no_at), "event.at");
    }

    #[test]
    fn progress_metric_becomes_progress() {
        let value = with(
            with(legacy(), "event.kind", json!("progress")),
            "event.metrics",
            json!({"percent": 40, "wafers": 10}),
        );
        let e = convert(&value);
        assert_eq!(e.progress, Some(40.0));
        assert_eq!(e.metrics.keys().collect::<Vec<_>>(), ["wafers"]);
        // Not a percentage: it stays a metric.
        let value = with(value, "event.metrics", json!({"progress": 250}));
        let e = convert(&value);
        assert_eq!(e.progress, None);
        assert_eq!(e.metrics.get("progress"), Some(&250.0));
        // Only progress events report progress.
        let e = convert(&with(legacy(), "event.metrics", json!({"percent": 40})));
        assert_eq!(e.progress, None);
    }

    #[test]
    fn defaults_fill_site_and_app() {
        let mut value = legacy();
        let obj = value.as_object_mut().unwrap();
        obj.remove("site_id");
        obj.remove("app");
        let e = convert(&value);
        assert_eq!(e.site, "fab-default");
        assert_eq!(e.app, defaults().app);
        let e = convert(&with(legacy(), "app", json!({"app_id": "A-1"})));
        assert_eq!(e.app.name, "A-1");
        assert_eq!(
            error_path(&with(legacy(), "app", json!({"version": "1"}))),
            "app.name"
        );
        assert_eq!(
            error_path(&with(legacy(), "site_id", json!("a\u{1}b"))),
            "site_id"
        );
    }

    #[test]
    fn metadata_becomes_attrs_and_message() {
        let value = with(
            with(legacy(), "event.kind", json!("error")),
            "event.metadata",
            json!({"message": "chamber fault", "retries": 3, "ratio": 0.5, "ok": false, "gone": null}),
        );
        let e = convert(&value);
        assert_eq!(e.message.as_deref(), Some("chamber fault"));
        assert_eq!(e.attrs.get("retries"), Some(&Scalar::Int(3)));
        assert_eq!(e.attrs.get("ratio"), Some(&Scalar::Float(0.5)));
        assert_eq!(e.attrs.get("ok"), Some(&Scalar::Bool(false)));
        assert!(!e.attrs.contains_key("gone"));
        assert!(!e.attrs.contains_key("message"));

        // A log needs its message.
        let log = with(legacy(), "event.kind", json!("log"));
        assert_eq!(error_path(&log), "event.metadata.message");
        let log = with(log, "event.metadata", json!({"message": "hello"}));
        assert_eq!(convert(&log).level, Some(Level::Info));

        // The same name from two places must agree.
        let clash = with(legacy(), "event.metadata.sub_key", json!("W08"));
        assert_eq!(error_path(&clash), "event.metadata.sub_key");
        let agree = with(legacy(), "event.metadata.sub_key", json!("W07"));
        convert(&agree);
    }

    #[test]
    fn errors_name_the_legacy_field() {
        let cases = [
            (json!([]), ""),
            (with(legacy(), "colour", json!(1)), "colour"),
            (with(legacy(), "entity.kind", json!("job")), "entity.kind"),
            (with(legacy(), "entity.type", json!("")), "entity.type"),
            (with(legacy(), "entity.type", json!(null)), "entity.type"),
            (with(legacy(), "entity.id", json!(7)), "entity.id"),
            (
                with(legacy(), "entity.id", json!("x".repeat(300))),
                "entity.id",
            ),
            (
                with(legacy(), "entity.parent_id", json!("a\nb")),
                "entity.parent_id",
            ),
            (
                with(legacy(), "entity.business_key", json!(["L"])),
                "entity.business_key",
            ),
            (
                with(legacy(), "entity.sub_key", json!("s".repeat(5000))),
                "entity.sub_key",
            ),
            (with(legacy(), "app.app_id", json!(5)), "app.app_id"),
            (with(legacy(), "app", json!("etch")), "app"),
            (with(legacy(), "event", json!("started")), "event"),
            (
                with(legacy(), "event.metrics.wafers", json!("25")),
                "event.metrics.wafers",
            ),
            (with(legacy(), "event.metrics", json!([1])), "event.metrics"),
            (
                with(legacy(), "event.metadata", json!("x")),
                "event.metadata",
            ),
            (
                with(legacy(), "event.metadata.big", json!("b".repeat(5000))),
                "event.metadata.big",
            ),
            (
                with(legacy(), "idempotency_key", json!(12)),
                "idempotency_key",
            ),
        ];
        for (value, path) in cases {
            assert_eq!(error_path(&value), path, "{value}");
        }
        let mut no_entity = legacy();
        no_entity.as_object_mut().unwrap().remove("entity");
        assert_eq!(error_path(&no_entity), "entity");
    }

    #[test]
    fn the_input_form_leaves_seq_to_the_pipeline() {
        let input = parse_legacy_value(&legacy(), &defaults()).unwrap();
        let event = convert(&legacy());
        assert_eq!(input.seq, None);
        assert_eq!(input.id, Some(event.id));
        assert_eq!(input.site.as_deref(), Some("fab7"));
        assert_eq!(input.validate().unwrap(), Status::Running);
    }
}
