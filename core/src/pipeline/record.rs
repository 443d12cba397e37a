//! The private record format of the in-memory queue and the spool: one MessagePack array per
//! event, written field by field without serde so that `emit` stays allocation-free and
//! cheap, and read back as a borrowed `EventRef` without copying a string. Site and app are
//! left nil on the hot path, and seq 0; the batch supplies them when the record is read.

use std::collections::BTreeMap;

use rmp::decode;
use uuid::Uuid;

use super::msgpack as mp;

use crate::event::view::{read_scalar, read_str};
use crate::event::{
    App, AppRef, Attrs as RawAttrs, Entity, EntityRef, Event, EventRef, Kind, Level,
    Metrics as RawMetrics, Scalar, ScalarRef, Status, Timestamp, SCHEMA_VERSION,
};

const FIELDS: u32 = 19;

/// Metric entries in whichever shape the caller has them.
#[derive(Clone, Copy)]
pub(crate) enum Metrics<'a> {
    None,
    One(&'a str, f64),
    Pairs(&'a [(&'a str, f64)]),
    List(&'a [(String, f64)]),
    Map(&'a BTreeMap<String, f64>),
    Raw(RawMetrics<'a>),
}

#[derive(Clone, Copy)]
pub(crate) enum Attrs<'a> {
    None,
    List(&'a [(String, Scalar)]),
    Map(&'a BTreeMap<String, Scalar>),
    Raw(RawAttrs<'a>),
}

/// An entity's parts, or the bytes `encode_entity` made of them: a job encodes its entity
/// once and copies it into each of its events.
#[derive(Clone, Copy)]
pub(crate) enum EntityFields<'a> {
    Parts(EntityRef<'a>),
    Encoded(&'a [u8]),
}

impl<'a> From<&'a Entity> for EntityFields<'a> {
    fn from(e: &'a Entity) -> Self {
        EntityFields::Parts(EntityRef {
            kind: &e.kind,
            id: &e.id,
            name: e.name.as_deref(),
            parent: e.parent.as_deref(),
            key: e.key.as_deref(),
        })
    }
}

/// The entity's five fields as they sit in a record.
pub(crate) fn encode_entity(entity: &EntityRef<'_>, out: &mut Vec<u8>) {
    mp::str(out, entity.kind);
    mp::str(out, entity.id);
    str_or_nil(out, entity.name);
    str_or_nil(out, entity.parent);
    str_or_nil(out, entity.key);
}

/// What `encode_entity` writes, in bytes (at most: a string's header is 1 to 5 bytes).
pub(crate) fn encoded_entity_len(entity: &EntityRef<'_>) -> usize {
    let text = |s: Option<&str>| s.map_or(1, |s| s.len() + 5);
    text(Some(entity.kind))
        + text(Some(entity.id))
        + text(entity.name)
        + text(entity.parent)
        + text(entity.key)
}

/// The entity `encode_entity` wrote (the caller's own bytes: they always decode).
pub(crate) fn decode_entity(bytes: &[u8]) -> EntityRef<'_> {
    let mut reader = Reader { rest: bytes };
    let mut text = || reader.opt_str().ok().flatten();
    EntityRef {
        kind: text().unwrap_or_default(),
        id: text().unwrap_or_default(),
        name: text(),
        parent: text(),
        key: text(),
    }
}

/// Borrowed view of everything a record holds.
pub(crate) struct Fields<'a> {
    pub id: Uuid,
    /// 0 = not assigned yet (the batch assigns sequence numbers).
    pub seq: u64,
    pub time: Timestamp,
    pub site: Option<&'a str>,
    /// (name, version, instance); `None` = the client's app.
    pub app: Option<(&'a str, Option<&'a str>, Option<&'a str>)>,
    pub entity: EntityFields<'a>,
    pub kind: Kind,
    pub status: Status,
    pub progress: Option<f64>,
    pub level: Option<Level>,
    pub message: Option<&'a str>,
    pub metrics: Metrics<'a>,
    pub attrs: Attrs<'a>,
}

pub(crate) fn app_fields(app: &App) -> (&str, Option<&str>, Option<&str>) {
    (&app.name, app.version.as_deref(), app.instance.as_deref())
}

impl<'a> Fields<'a> {
    pub fn of_event(e: &'a Event) -> Self {
        Fields {
            id: e.id,
            seq: e.seq,
            time: e.time,
            site: Some(&e.site),
            app: Some(app_fields(&e.app)),
            entity: (&e.entity).into(),
            kind: e.kind,
            status: e.status,
            progress: e.progress,
            level: e.level,
            message: e.message.as_deref(),
            metrics: Metrics::Map(&e.metrics),
            attrs: Attrs::Map(&e.attrs),
        }
    }

    /// A complete record of a view: seq, site and app written out explicitly.
    pub fn of_ref(e: &EventRef<'a>) -> Self {
        Fields {
            id: e.id,
            seq: e.seq,
            time: e.time,
            site: Some(e.site),
            app: Some((e.app.name, e.app.version, e.app.instance)),
            entity: EntityFields::Parts(e.entity),
            kind: e.kind,
            status: e.status,
            progress: e.progress,
            level: e.level,
            message: e.message,
            metrics: Metrics::Raw(e.metrics),
            attrs: Attrs::Raw(e.attrs),
        }
    }
}

fn str_or_nil(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(s) => mp::str(out, s),
        None => mp::nil(out),
    }
}

fn f64_or_nil(out: &mut Vec<u8>, value: Option<f64>) {
    match value {
        Some(v) => mp::f64(out, v),
        None => mp::nil(out),
    }
}

fn metric(out: &mut Vec<u8>, name: &str, value: f64) {
    mp::str(out, name);
    mp::f64(out, value);
}

fn scalar(out: &mut Vec<u8>, value: ScalarRef<'_>) {
    match value {
        ScalarRef::Bool(b) => mp::bool(out, b),
        ScalarRef::Int(i) => mp::sint(out, i),
        ScalarRef::Float(f) => mp::f64(out, f),
        ScalarRef::Str(s) => mp::str(out, s),
    }
}

/// One attribute entry as it sits in a record's attrs map.
pub(crate) fn encode_attr(out: &mut Vec<u8>, name: &str, value: ScalarRef<'_>) {
    mp::str(out, name);
    scalar(out, value);
}

/// Append one record (without a length prefix) to `out`.
pub(crate) fn encode(f: &Fields<'_>, out: &mut Vec<u8>) {
    mp::array_len(out, FIELDS);
    mp::bin(out, f.id.as_bytes());
    mp::uint(out, f.seq);
    mp::sint(out, f.time.unix_micros());
    str_or_nil(out, f.site);
    str_or_nil(out, f.app.map(|a| a.0));
    str_or_nil(out, f.app.and_then(|a| a.1));
    str_or_nil(out, f.app.and_then(|a| a.2));
    match &f.entity {
        EntityFields::Parts(parts) => encode_entity(parts, out),
        EntityFields::Encoded(bytes) => out.extend_from_slice(bytes),
    }
    mp::pfix(out, f.kind.code());
    mp::pfix(out, f.status.code());
    f64_or_nil(out, f.progress);
    match f.level {
        Some(l) => mp::pfix(out, l.code()),
        None => mp::nil(out),
    }
    str_or_nil(out, f.message);
    match f.metrics {
        Metrics::None => mp::map_len(out, 0),
        Metrics::One(name, value) => {
            mp::map_len(out, 1);
            metric(out, name, value);
        }
        Metrics::Pairs(list) => {
            mp::map_len(out, list.len() as u32);
            list.iter().for_each(|(n, v)| metric(out, n, *v));
        }
        Metrics::List(list) => {
            mp::map_len(out, list.len() as u32);
            list.iter().for_each(|(n, v)| metric(out, n, *v));
        }
        Metrics::Map(map) => {
            mp::map_len(out, map.len() as u32);
            map.iter().for_each(|(n, v)| metric(out, n, *v));
        }
        Metrics::Raw(raw) => {
            mp::map_len(out, raw.len);
            out.extend_from_slice(raw.raw);
        }
    }
    match f.attrs {
        Attrs::None => mp::map_len(out, 0),
        Attrs::List(list) => {
            mp::map_len(out, list.len() as u32);
            for (name, value) in list {
                encode_attr(out, name, value.borrowed());
            }
        }
        Attrs::Map(map) => {
            mp::map_len(out, map.len() as u32);
            for (name, value) in map {
                encode_attr(out, name, value.borrowed());
            }
        }
        Attrs::Raw(raw) => {
            mp::map_len(out, raw.len);
            out.extend_from_slice(raw.raw);
        }
    }
}

/// A record that does not decode (it is then skipped and counted as corrupt).
#[derive(Debug)]
pub(crate) struct Corrupt;

struct Reader<'a> {
    rest: &'a [u8],
}

const NIL: u8 = 0xc0;

impl<'a> Reader<'a> {
    fn nil(&mut self) -> bool {
        if self.rest.first() == Some(&NIL) {
            self.rest = &self.rest[1..];
            true
        } else {
            false
        }
    }

    fn str(&mut self) -> Result<&'a str, Corrupt> {
        read_str(&mut self.rest).ok_or(Corrupt)
    }

    fn opt_str(&mut self) -> Result<Option<&'a str>, Corrupt> {
        if self.nil() {
            Ok(None)
        } else {
            self.str().map(Some)
        }
    }

    fn u64(&mut self) -> Result<u64, Corrupt> {
        decode::read_int(&mut self.rest).map_err(|_| Corrupt)
    }

    fn i64(&mut self) -> Result<i64, Corrupt> {
        decode::read_int(&mut self.rest).map_err(|_| Corrupt)
    }

    fn u8(&mut self) -> Result<u8, Corrupt> {
        decode::read_int(&mut self.rest).map_err(|_| Corrupt)
    }

    fn f64(&mut self) -> Result<f64, Corrupt> {
        decode::read_f64(&mut self.rest).map_err(|_| Corrupt)
    }

    /// A map's entries, checked once here so views can iterate them without errors.
    fn map<T>(
        &mut self,
        value: impl Fn(&mut &'a [u8]) -> Option<T>,
    ) -> Result<(u32, &'a [u8]), Corrupt> {
        let len = decode::read_map_len(&mut self.rest).map_err(|_| Corrupt)?;
        let start = self.rest;
        for _ in 0..len {
            read_str(&mut self.rest).ok_or(Corrupt)?;
            value(&mut self.rest).ok_or(Corrupt)?;
        }
        let used = start.len() - self.rest.len();
        Ok((len, &start[..used]))
    }
}

/// What a record left open (site, app) and the seq it gets when it has none.
pub(crate) struct Defaults<'a> {
    pub site: &'a str,
    pub app: &'a App,
}

/// Read one record as a borrowed view.
pub(crate) fn decode_ref<'a>(
    bytes: &'a [u8],
    defaults: &Defaults<'a>,
    seq: u64,
) -> Result<EventRef<'a>, Corrupt> {
    let mut r = Reader { rest: bytes };
    let len = decode::read_array_len(&mut r.rest).map_err(|_| Corrupt)?;
    if len != FIELDS {
        return Err(Corrupt);
    }
    let bin_len = decode::read_bin_len(&mut r.rest).map_err(|_| Corrupt)?;
    if bin_len != 16 || r.rest.len() < 16 {
        return Err(Corrupt);
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&r.rest[..16]);
    r.rest = &r.rest[16..];
    let stored_seq = r.u64()?;
    let time = Timestamp::from_unix_micros(r.i64()?);
    let site = r.opt_str()?;
    let app_name = r.opt_str()?;
    let app_version = r.opt_str()?;
    let app_instance = r.opt_str()?;
    let app = match app_name {
        Some(name) => AppRef {
            name,
            version: app_version,
            instance: app_instance,
        },
        None => AppRef {
            name: &defaults.app.name,
            version: defaults.app.version.as_deref(),
            instance: defaults.app.instance.as_deref(),
        },
    };
    let entity = EntityRef {
        kind: r.str()?,
        id: r.str()?,
        name: r.opt_str()?,
        parent: r.opt_str()?,
        key: r.opt_str()?,
    };
    let kind = Kind::from_code(r.u8()?).ok_or(Corrupt)?;
    let status = Status::from_code(r.u8()?).ok_or(Corrupt)?;
    let progress = if r.nil() { None } else { Some(r.f64()?) };
    let level = if r.nil() {
        None
    } else {
        Some(Level::from_code(r.u8()?).ok_or(Corrupt)?)
    };
    let message = r.opt_str()?;
    let (metrics_len, metrics_raw) = r.map(|rest| decode::read_f64(rest).ok())?;
    let (attrs_len, attrs_raw) = r.map(|rest| read_scalar(rest).map(|_: ScalarRef| ()))?;
    if !r.rest.is_empty() {
        return Err(Corrupt);
    }
    Ok(EventRef {
        v: SCHEMA_VERSION,
        id: Uuid::from_bytes(id),
        seq: if stored_seq == 0 { seq } else { stored_seq },
        time,
        site: site.unwrap_or(defaults.site),
        app,
        entity,
        kind,
        status,
        progress,
        level,
        message,
        metrics: RawMetrics {
            len: metrics_len,
            raw: metrics_raw,
        },
        attrs: RawAttrs {
            len: attrs_len,
            raw: attrs_raw,
        },
    })
}

/// Defaults no decode reads: the records decoded with them either carry their own site and
/// app (`Fields::of_event`) or are only checked.
static NO_APP: App = App {
    name: String::new(),
    version: None,
    instance: None,
};

pub(crate) fn no_defaults() -> Defaults<'static> {
    Defaults {
        site: "",
        app: &NO_APP,
    }
}

/// True when `bytes` are a whole record (a spool read checks each one, so a batch never
/// holds a record its backends would skip).
pub(crate) fn decodes(bytes: &[u8]) -> bool {
    decode_ref(bytes, &no_defaults(), 0).is_ok()
}

/// A test's event as the record a batch carries, read back as the view a backend gets.
#[cfg(test)]
pub(crate) fn with_view<T>(event: &Event, f: impl FnOnce(&EventRef<'_>) -> T) -> T {
    let mut record = Vec::new();
    encode(&Fields::of_event(event), &mut record);
    f(&decode_ref(&record, &no_defaults(), event.seq).expect("a record just encoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Event {
        let mut metrics = BTreeMap::new();
        metrics.insert("wafers".to_string(), 25.0);
        let mut attrs = BTreeMap::new();
        attrs.insert("tool".to_string(), Scalar::Str("ETCH-01".into()));
        attrs.insert("slot".to_string(), Scalar::Int(-3));
        attrs.insert("temp".to_string(), Scalar::Float(21.5));
        attrs.insert("ok".to_string(), Scalar::Bool(true));
        Event {
            v: 1,
            id: crate::event::new_v7(1_700_000_000_000),
            seq: 7,
            time: Timestamp::from_unix_micros(1_700_000_000_123_456),
            site: "fab1".into(),
            app: App {
                name: "etch".into(),
                version: Some("1.0".into()),
                instance: None,
            },
            entity: Entity {
                kind: "job".into(),
                id: "J1".into(),
                name: Some("etch".into()),
                parent: Some("LOT1".into()),
                key: None,
            },
            kind: Kind::Progress,
            status: Status::Running,
            progress: Some(42.5),
            level: None,
            message: Some("half way".into()),
            metrics,
            attrs,
        }
    }

    fn defaults_app() -> App {
        App {
            name: "other".into(),
            version: None,
            instance: None,
        }
    }

    #[test]
    fn round_trips_a_full_event_and_serializes_like_it() {
        let event = sample();
        let mut buf = Vec::new();
        encode(&Fields::of_event(&event), &mut buf);
        let app = defaults_app();
        let defaults = Defaults {
            site: "x",
            app: &app,
        };
        let view = decode_ref(&buf, &defaults, 99).unwrap();
        assert_eq!(view.to_event(), event);
        let from_view: serde_json::Value = serde_json::to_value(view).unwrap();
        let from_event: serde_json::Value = serde_json::to_value(&event).unwrap();
        assert_eq!(from_view, from_event);
        // Re-encoding a view gives the same record.
        let mut again = Vec::new();
        encode(&Fields::of_ref(&view), &mut again);
        assert_eq!(again, buf);
    }

    #[test]
    fn truncated_or_garbage_records_are_corrupt_not_panics() {
        let event = sample();
        let mut buf = Vec::new();
        encode(&Fields::of_event(&event), &mut buf);
        let app = defaults_app();
        let defaults = Defaults {
            site: "s",
            app: &app,
        };
        for cut in 0..buf.len() {
            assert!(decode_ref(&buf[..cut], &defaults, 1).is_err());
        }
        assert!(decode_ref(&[0xff; 40], &defaults, 1).is_err());
    }
}
