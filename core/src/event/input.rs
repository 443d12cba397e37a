//! `NewEvent`: what an application hands to `emit`. The core fills in what it owns (id,
//! sequence, time, site, app, derived status); a forwarded event may carry its own.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::validate::{check_unique, content, origin};
use super::{App, Entity, Event, Kind, Level, Scalar, Status, Timestamp};
use crate::error::{Error, Result};

/// An event before the core completes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: Kind,
    pub entity: Entity,
    pub status: Option<Status>,
    pub progress: Option<f64>,
    pub level: Option<Level>,
    pub message: Option<String>,
    pub metrics: Vec<(String, f64)>,
    pub attrs: Vec<(String, Scalar)>,
    /// Set only when forwarding an event that already has an identity.
    pub id: Option<Uuid>,
    pub seq: Option<u64>,
    pub time: Option<Timestamp>,
    pub site: Option<String>,
    pub app: Option<App>,
}

impl NewEvent {
    pub fn new(kind: Kind, entity_kind: impl Into<String>, entity_id: impl Into<String>) -> Self {
        NewEvent {
            kind,
            entity: Entity::new(entity_kind, entity_id),
            status: None,
            progress: None,
            level: None,
            message: None,
            metrics: Vec::new(),
            attrs: Vec::new(),
            id: None,
            seq: None,
            time: None,
            site: None,
            app: None,
        }
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.entity.name = Some(name.into());
        self
    }
    pub fn parent(mut self, parent: impl Into<String>) -> Self {
        self.entity.parent = Some(parent.into());
        self
    }
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.entity.key = Some(key.into());
        self
    }
    pub fn status(mut self, status: Status) -> Self {
        self.status = Some(status);
        self
    }
    pub fn progress(mut self, pct: f64) -> Self {
        self.progress = Some(pct);
        self
    }
    pub fn level(mut self, level: Level) -> Self {
        self.level = Some(level);
        self
    }
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
    pub fn metric(mut self, name: impl Into<String>, value: f64) -> Self {
        self.metrics.push((name.into(), value));
        self
    }
    pub fn attr(mut self, name: impl Into<String>, value: impl Into<Scalar>) -> Self {
        self.attrs.push((name.into(), value.into()));
        self
    }
    pub fn time(mut self, time: Timestamp) -> Self {
        self.time = Some(time);
        self
    }

    /// Check the fields an application controls; returns the status the event will carry.
    pub fn validate(&self) -> Result<Status> {
        // The same pairs of references whether metrics come from a Vec or a map.
        let metrics = self.metrics.iter().map(|(k, v)| (k, v));
        let attrs = self.attrs.iter().map(|(k, v)| (k, v));
        let status = content(
            &self.entity,
            self.kind,
            self.status,
            self.progress,
            self.message.as_deref(),
            metrics,
            attrs,
        )?;
        check_unique("metrics", &self.metrics)?;
        check_unique("attrs", &self.attrs)?;
        origin(self.id.as_ref(), self.site.as_deref(), self.app.as_ref())?;
        Ok(status)
    }
}

impl NewEvent {
    /// The complete event, for a receiver that stores what others emitted (the gateway):
    /// identity, sequence, time, site and app must all be present, because inventing them
    /// would break idempotency on replay.
    pub fn into_complete(self) -> Result<Event> {
        let status = self.validate()?;
        let id = self.id.ok_or_else(|| Error::event("id", "is required"))?;
        let seq = self.seq.ok_or_else(|| Error::event("seq", "is required"))?;
        let time = self
            .time
            .ok_or_else(|| Error::event("time", "is required"))?;
        let site = self
            .site
            .ok_or_else(|| Error::event("site", "is required"))?;
        let app = self.app.ok_or_else(|| Error::event("app", "is required"))?;
        Ok(Event {
            v: super::SCHEMA_VERSION,
            id,
            seq,
            time,
            site,
            app,
            entity: self.entity,
            kind: self.kind,
            status,
            progress: self.progress,
            level: self.level,
            message: self.message,
            metrics: self.metrics.into_iter().collect(),
            attrs: self.attrs.into_iter().collect(),
        })
    }
}

/// Parse one complete event (every required field of schema v1 present) from a JSON value.
pub fn parse_complete_event(value: &Value) -> Result<Event> {
    from_value(value)?.into_complete()
}

/// Parse an event given as JSON (from C, another language, or a forwarded complete event).
/// Only `kind` and `entity.kind`/`entity.id` are required; unknown fields are errors.
/// A key given twice in any object is an error naming its path.
pub fn parse_event_json(text: &str) -> Result<NewEvent> {
    use serde::de::DeserializeSeed;

    use super::strict::{Tree, TreeState};

    let state = TreeState::new(usize::MAX);
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Tree { state: &state }
        .deserialize(&mut de)
        .and_then(|value| de.end().map(|()| value))
        .map_err(|e| match state.duplicate_path() {
            Some(path) => Error::event(path, "duplicate key (a key may appear once per object)"),
            None => Error::event("", format!("malformed JSON: {e}")),
        })?;
    from_value(&value)
}

/// The same, for an event already parsed as a JSON value (one element of a batch).
pub fn parse_event_value(value: &Value) -> Result<NewEvent> {
    from_value(value)
}

fn from_value(value: &Value) -> Result<NewEvent> {
    let obj = value
        .as_object()
        .ok_or_else(|| Error::event("", "an event must be a JSON object"))?;
    reject_unknown(
        obj,
        "",
        &[
            "v", "id", "seq", "time", "site", "app", "entity", "kind", "status", "progress",
            "level", "message", "metrics", "attrs",
        ],
    )?;
    if let Some(v) = obj.get("v") {
        if v.as_u64() != Some(1) {
            return Err(Error::event("v", format!("must be 1, got {v}")));
        }
    }
    let kind =
        Kind::parse(required_str(obj, "kind", "kind")?).map_err(|m| Error::event("kind", m))?;
    let entity_obj = obj
        .get("entity")
        .ok_or_else(|| Error::event("entity", "is required"))?
        .as_object()
        .ok_or_else(|| Error::event("entity", "must be an object"))?;
    reject_unknown(
        entity_obj,
        "entity",
        &["kind", "id", "name", "parent", "key"],
    )?;
    let mut event = NewEvent::new(
        kind,
        required_str(entity_obj, "kind", "entity.kind")?,
        required_str(entity_obj, "id", "entity.id")?,
    );
    event.entity.name = optional_str(entity_obj, "name", "entity.name")?;
    event.entity.parent = optional_str(entity_obj, "parent", "entity.parent")?;
    event.entity.key = optional_str(entity_obj, "key", "entity.key")?;
    if let Some(s) = optional_str(obj, "status", "status")? {
        event.status = Some(Status::parse(&s).map_err(|m| Error::event("status", m))?);
    }
    if let Some(p) = obj.get("progress") {
        event.progress = Some(
            p.as_f64()
                .ok_or_else(|| Error::event("progress", "must be a number"))?,
        );
    }
    if let Some(s) = optional_str(obj, "level", "level")? {
        event.level = Some(Level::parse(&s).map_err(|m| Error::event("level", m))?);
    }
    event.message = optional_str(obj, "message", "message")?;
    if let Some(m) = obj.get("metrics") {
        let map = m
            .as_object()
            .ok_or_else(|| Error::event("metrics", "must be an object of name -> number"))?;
        for (name, value) in map {
            let number = value
                .as_f64()
                .ok_or_else(|| Error::event(format!("metrics.{name}"), "must be a number"))?;
            event.metrics.push((name.clone(), number));
        }
    }
    if let Some(a) = obj.get("attrs") {
        let map = a
            .as_object()
            .ok_or_else(|| Error::event("attrs", "must be an object of name -> scalar"))?;
        for (name, value) in map {
            let scalar = Scalar::from_json(value).ok_or_else(|| {
                Error::event(
                    format!("attrs.{name}"),
                    "must be a string, number or boolean",
                )
            })?;
            event.attrs.push((name.clone(), scalar));
        }
    }
    if let Some(s) = optional_str(obj, "id", "id")? {
        event.id = Some(
            Uuid::parse_str(&s)
                .map_err(|e| Error::event("id", format!("'{s}' is not a UUID: {e}")))?,
        );
    }
    if let Some(s) = obj.get("seq") {
        event.seq = Some(
            s.as_u64()
                .ok_or_else(|| Error::event("seq", "must be a non-negative integer"))?,
        );
    }
    if let Some(s) = optional_str(obj, "time", "time")? {
        event.time = Some(Timestamp::parse(&s).map_err(|m| Error::event("time", m))?);
    }
    event.site = optional_str(obj, "site", "site")?;
    if let Some(a) = obj.get("app") {
        let app = a
            .as_object()
            .ok_or_else(|| Error::event("app", "must be an object"))?;
        reject_unknown(app, "app", &["name", "version", "instance"])?;
        event.app = Some(App {
            name: required_str(app, "name", "app.name")?.to_string(),
            version: optional_str(app, "version", "app.version")?,
            instance: optional_str(app, "instance", "app.instance")?,
        });
    }
    event.validate()?;
    Ok(event)
}

fn reject_unknown(obj: &Map<String, Value>, at: &str, known: &[&str]) -> Result<()> {
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            let path = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            return Err(Error::event(
                path,
                format!("unknown field (expected one of {})", known.join(", ")),
            ));
        }
    }
    Ok(())
}

fn required_str<'a>(obj: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a str> {
    match obj.get(key) {
        None | Some(Value::Null) => Err(Error::event(path, "is required")),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(Error::event(path, format!("must be a string, got {other}"))),
    }
}

fn optional_str(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::event(path, format!("must be a string, got {other}"))),
    }
}
