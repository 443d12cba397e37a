//! The private record format of the in-memory queue and the spool: one MessagePack array per
//! event, written field by field without serde so that `emit` stays allocation-free and
//! cheap. Site and app are left nil on the hot path and filled from the client's config
//! when the worker decodes the record.

use std::collections::BTreeMap;

use rmp::decode;
use rmp::encode;
use uuid::Uuid;

use crate::event::{App, Entity, Event, Kind, Level, Scalar, Status, Timestamp, SCHEMA_VERSION};

const FIELDS: u32 = 19;

/// Metric entries in whichever shape the caller has them.
#[derive(Clone, Copy)]
pub(crate) enum Metrics<'a> {
    None,
    One(&'a str, f64),
    Pairs(&'a [(&'a str, f64)]),
    List(&'a [(String, f64)]),
    Map(&'a BTreeMap<String, f64>),
}

#[derive(Clone, Copy)]
pub(crate) enum Attrs<'a> {
    None,
    List(&'a [(String, Scalar)]),
    Map(&'a BTreeMap<String, Scalar>),
}

/// Borrowed view of everything a record holds.
pub(crate) struct Fields<'a> {
    pub id: Uuid,
    /// 0 = not assigned yet (the worker assigns sequence numbers).
    pub seq: u64,
    pub time: Timestamp,
    pub site: Option<&'a str>,
    pub app: Option<&'a App>,
    pub entity: &'a Entity,
    pub kind: Kind,
    pub status: Status,
    pub progress: Option<f64>,
    pub level: Option<Level>,
    pub message: Option<&'a str>,
    pub metrics: Metrics<'a>,
    pub attrs: Attrs<'a>,
}

impl<'a> Fields<'a> {
    pub fn of_event(e: &'a Event) -> Self {
        Fields {
            id: e.id,
            seq: e.seq,
            time: e.time,
            site: Some(&e.site),
            app: Some(&e.app),
            entity: &e.entity,
            kind: e.kind,
            status: e.status,
            progress: e.progress,
            level: e.level,
            message: e.message.as_deref(),
            metrics: Metrics::Map(&e.metrics),
            attrs: Attrs::Map(&e.attrs),
        }
    }
}

// Writing into a Vec<u8> cannot fail; the Results of rmp are only there for io::Write sinks.
fn str_or_nil(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(s) => {
            let _ = encode::write_str(out, s);
        }
        None => {
            let _ = encode::write_nil(out);
        }
    }
}

fn scalar(out: &mut Vec<u8>, value: &Scalar) {
    let _ = match value {
        Scalar::Bool(b) => encode::write_bool(out, *b).map_err(|_| ()),
        Scalar::Int(i) => encode::write_sint(out, *i).map(|_| ()).map_err(|_| ()),
        Scalar::Float(f) => encode::write_f64(out, *f).map_err(|_| ()),
        Scalar::Str(s) => encode::write_str(out, s).map_err(|_| ()),
    };
}

/// Append one record (without a length prefix) to `out`.
pub(crate) fn encode(f: &Fields<'_>, out: &mut Vec<u8>) {
    let _ = encode::write_array_len(out, FIELDS);
    let _ = encode::write_bin(out, f.id.as_bytes());
    let _ = encode::write_uint(out, f.seq);
    let _ = encode::write_sint(out, f.time.unix_micros());
    str_or_nil(out, f.site);
    str_or_nil(out, f.app.map(|a| a.name.as_str()));
    str_or_nil(out, f.app.and_then(|a| a.version.as_deref()));
    str_or_nil(out, f.app.and_then(|a| a.instance.as_deref()));
    let _ = encode::write_str(out, &f.entity.kind);
    let _ = encode::write_str(out, &f.entity.id);
    str_or_nil(out, f.entity.name.as_deref());
    str_or_nil(out, f.entity.parent.as_deref());
    str_or_nil(out, f.entity.key.as_deref());
    let _ = encode::write_pfix(out, f.kind.code());
    let _ = encode::write_pfix(out, f.status.code());
    match f.progress {
        Some(p) => {
            let _ = encode::write_f64(out, p);
        }
        None => {
            let _ = encode::write_nil(out);
        }
    }
    match f.level {
        Some(l) => {
            let _ = encode::write_pfix(out, l.code());
        }
        None => {
            let _ = encode::write_nil(out);
        }
    }
    str_or_nil(out, f.message);
    match f.metrics {
        Metrics::None => {
            let _ = encode::write_map_len(out, 0);
        }
        Metrics::One(name, value) => {
            let _ = encode::write_map_len(out, 1);
            let _ = encode::write_str(out, name);
            let _ = encode::write_f64(out, value);
        }
        Metrics::Pairs(list) => {
            let _ = encode::write_map_len(out, list.len() as u32);
            for (name, value) in list {
                let _ = encode::write_str(out, name);
                let _ = encode::write_f64(out, *value);
            }
        }
        Metrics::List(list) => {
            let _ = encode::write_map_len(out, list.len() as u32);
            for (name, value) in list {
                let _ = encode::write_str(out, name);
                let _ = encode::write_f64(out, *value);
            }
        }
        Metrics::Map(map) => {
            let _ = encode::write_map_len(out, map.len() as u32);
            for (name, value) in map {
                let _ = encode::write_str(out, name);
                let _ = encode::write_f64(out, *value);
            }
        }
    }
    match f.attrs {
        Attrs::None => {
            let _ = encode::write_map_len(out, 0);
        }
        Attrs::List(list) => {
            let _ = encode::write_map_len(out, list.len() as u32);
            for (name, value) in list {
                let _ = encode::write_str(out, name);
                scalar(out, value);
            }
        }
        Attrs::Map(map) => {
            let _ = encode::write_map_len(out, map.len() as u32);
            for (name, value) in map {
                let _ = encode::write_str(out, name);
                scalar(out, value);
            }
        }
    }
}

/// Why a record could not be decoded (it is then skipped and counted as corrupt).
#[derive(Debug)]
pub(crate) struct Corrupt(pub &'static str);

struct Reader<'a> {
    rest: &'a [u8],
}

const NIL: u8 = 0xc0;

impl<'a> Reader<'a> {
    fn peek_nil(&mut self) -> bool {
        if self.rest.first() == Some(&NIL) {
            self.rest = &self.rest[1..];
            true
        } else {
            false
        }
    }

    fn str(&mut self, what: &'static str) -> Result<&'a str, Corrupt> {
        let (s, rest) = decode::read_str_from_slice(self.rest).map_err(|_| Corrupt(what))?;
        self.rest = rest;
        Ok(s)
    }

    fn opt_str(&mut self, what: &'static str) -> Result<Option<&'a str>, Corrupt> {
        if self.peek_nil() {
            Ok(None)
        } else {
            self.str(what).map(Some)
        }
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, Corrupt> {
        decode::read_int(&mut self.rest).map_err(|_| Corrupt(what))
    }

    fn i64(&mut self, what: &'static str) -> Result<i64, Corrupt> {
        decode::read_int(&mut self.rest).map_err(|_| Corrupt(what))
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, Corrupt> {
        decode::read_int(&mut self.rest).map_err(|_| Corrupt(what))
    }

    fn f64(&mut self, what: &'static str) -> Result<f64, Corrupt> {
        decode::read_f64(&mut self.rest).map_err(|_| Corrupt(what))
    }

    fn map_len(&mut self, what: &'static str) -> Result<u32, Corrupt> {
        decode::read_map_len(&mut self.rest).map_err(|_| Corrupt(what))
    }

    fn scalar(&mut self) -> Result<Scalar, Corrupt> {
        let marker = *self.rest.first().ok_or(Corrupt("attr value"))?;
        match marker {
            0xc2 | 0xc3 => {
                let b = decode::read_bool(&mut self.rest).map_err(|_| Corrupt("attr bool"))?;
                Ok(Scalar::Bool(b))
            }
            0xcb => Ok(Scalar::Float(self.f64("attr float")?)),
            0xa0..=0xbf | 0xd9..=0xdb => Ok(Scalar::Str(self.str("attr string")?.to_string())),
            _ => Ok(Scalar::Int(self.i64("attr int")?)),
        }
    }
}

/// What the decoder fills in where a record left site/app open.
pub(crate) struct Defaults<'a> {
    pub site: &'a str,
    pub app: &'a App,
}

/// Decode one record. `seq` replaces an unassigned (0) sequence number.
pub(crate) fn decode(bytes: &[u8], defaults: &Defaults<'_>, seq: u64) -> Result<Event, Corrupt> {
    let mut r = Reader { rest: bytes };
    let len = decode::read_array_len(&mut r.rest).map_err(|_| Corrupt("header"))?;
    if len != FIELDS {
        return Err(Corrupt("field count"));
    }
    let bin_len = decode::read_bin_len(&mut r.rest).map_err(|_| Corrupt("id"))?;
    if bin_len != 16 || r.rest.len() < 16 {
        return Err(Corrupt("id"));
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&r.rest[..16]);
    r.rest = &r.rest[16..];
    let stored_seq = r.u64("seq")?;
    let time = Timestamp::from_unix_micros(r.i64("time")?);
    let site = r.opt_str("site")?;
    let app_name = r.opt_str("app.name")?;
    let app_version = r.opt_str("app.version")?;
    let app_instance = r.opt_str("app.instance")?;
    let app = match app_name {
        Some(name) => App {
            name: name.to_string(),
            version: app_version.map(str::to_string),
            instance: app_instance.map(str::to_string),
        },
        None => defaults.app.clone(),
    };
    let entity = Entity {
        kind: r.str("entity.kind")?.to_string(),
        id: r.str("entity.id")?.to_string(),
        name: r.opt_str("entity.name")?.map(str::to_string),
        parent: r.opt_str("entity.parent")?.map(str::to_string),
        key: r.opt_str("entity.key")?.map(str::to_string),
    };
    let kind = Kind::from_code(r.u8("kind")?).ok_or(Corrupt("kind"))?;
    let status = Status::from_code(r.u8("status")?).ok_or(Corrupt("status"))?;
    let progress = if r.peek_nil() {
        None
    } else {
        Some(r.f64("progress")?)
    };
    let level = if r.peek_nil() {
        None
    } else {
        Some(Level::from_code(r.u8("level")?).ok_or(Corrupt("level"))?)
    };
    let message = r.opt_str("message")?.map(str::to_string);
    let mut metrics = BTreeMap::new();
    for _ in 0..r.map_len("metrics")? {
        let name = r.str("metric name")?.to_string();
        metrics.insert(name, r.f64("metric value")?);
    }
    let mut attrs = BTreeMap::new();
    for _ in 0..r.map_len("attrs")? {
        let name = r.str("attr name")?.to_string();
        attrs.insert(name, r.scalar()?);
    }
    if !r.rest.is_empty() {
        return Err(Corrupt("trailing bytes"));
    }
    Ok(Event {
        v: SCHEMA_VERSION,
        id: Uuid::from_bytes(id),
        seq: if stored_seq == 0 { seq } else { stored_seq },
        time,
        site: site.unwrap_or(defaults.site).to_string(),
        app,
        entity,
        kind,
        status,
        progress,
        level,
        message,
        metrics,
        attrs,
    })
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

    #[test]
    fn round_trips_a_full_event() {
        let event = sample();
        let mut buf = Vec::new();
        encode(&Fields::of_event(&event), &mut buf);
        let app = App {
            name: "other".into(),
            version: None,
            instance: None,
        };
        let defaults = Defaults {
            site: "x",
            app: &app,
        };
        assert_eq!(decode(&buf, &defaults, 99).unwrap(), event);
    }

    #[test]
    fn truncated_or_garbage_records_are_corrupt_not_panics() {
        let event = sample();
        let mut buf = Vec::new();
        encode(&Fields::of_event(&event), &mut buf);
        let app = App {
            name: "a".into(),
            version: None,
            instance: None,
        };
        let defaults = Defaults {
            site: "s",
            app: &app,
        };
        for cut in 0..buf.len() {
            assert!(decode(&buf[..cut], &defaults, 1).is_err());
        }
        assert!(decode(&[0xff; 40], &defaults, 1).is_err());
    }
}
