//! `EventRef`: a borrowed view of one event, read straight out of a batch's record bytes.
//! Backends serialize these without copying a string, so delivery allocates nothing per
//! event; the JSON it produces has exactly the shape of `Event` (schema v1). The JSON
//! writers of files, S3 and Elasticsearch use `event/json.rs`, the same bytes written by
//! hand.

use std::collections::BTreeMap;

use rmp::decode;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use uuid::Uuid;

use super::{App, Entity, Event, Kind, Level, Scalar, Status, Timestamp};

/// The application part of an `EventRef`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AppRef<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<&'a str>,
}

/// The entity part of an `EventRef`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EntityRef<'a> {
    pub kind: &'a str,
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<&'a str>,
}

/// An attribute value without copying its string.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ScalarRef<'a> {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl ScalarRef<'_> {
    pub fn to_scalar(self) -> Scalar {
        match self {
            ScalarRef::Bool(b) => Scalar::Bool(b),
            ScalarRef::Int(i) => Scalar::Int(i),
            ScalarRef::Float(f) => Scalar::Float(f),
            ScalarRef::Str(s) => Scalar::Str(s.to_string()),
        }
    }
}

/// Metric entries still in their MessagePack form (already checked when the view was made).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metrics<'a> {
    pub(crate) len: u32,
    pub(crate) raw: &'a [u8],
}

/// Attribute entries still in their MessagePack form (already checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attrs<'a> {
    pub(crate) len: u32,
    pub(crate) raw: &'a [u8],
}

pub(crate) fn read_str<'a>(rest: &mut &'a [u8]) -> Option<&'a str> {
    let (s, tail) = decode::read_str_from_slice(*rest).ok()?;
    *rest = tail;
    Some(s)
}

pub(crate) fn read_scalar<'a>(rest: &mut &'a [u8]) -> Option<ScalarRef<'a>> {
    match *rest.first()? {
        0xc2 | 0xc3 => decode::read_bool(rest).ok().map(ScalarRef::Bool),
        0xcb => decode::read_f64(rest).ok().map(ScalarRef::Float),
        0xa0..=0xbf | 0xd9..=0xdb => read_str(rest).map(ScalarRef::Str),
        _ => decode::read_int(rest).ok().map(ScalarRef::Int),
    }
}

impl<'a> Metrics<'a> {
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'a str, f64)> + 'a {
        let mut rest = self.raw;
        (0..self.len).map_while(move |_| {
            let name = read_str(&mut rest)?;
            let value = decode::read_f64(&mut rest).ok()?;
            Some((name, value))
        })
    }
}

impl<'a> Attrs<'a> {
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'a str, ScalarRef<'a>)> + 'a {
        let mut rest = self.raw;
        (0..self.len).map_while(move |_| {
            let name = read_str(&mut rest)?;
            let value = read_scalar(&mut rest)?;
            Some((name, value))
        })
    }
}

impl Serialize for Metrics<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (name, value) in self.iter() {
            map.serialize_entry(name, &value)?;
        }
        map.end()
    }
}

impl Serialize for Attrs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (name, value) in self.iter() {
            map.serialize_entry(name, &value)?;
        }
        map.end()
    }
}

/// One event, borrowed from the batch it travels in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EventRef<'a> {
    pub v: u32,
    pub id: Uuid,
    pub seq: u64,
    pub time: Timestamp,
    pub site: &'a str,
    pub app: AppRef<'a>,
    pub entity: EntityRef<'a>,
    pub kind: Kind,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a str>,
    #[serde(skip_serializing_if = "Metrics::is_empty")]
    pub metrics: Metrics<'a>,
    #[serde(skip_serializing_if = "Attrs::is_empty")]
    pub attrs: Attrs<'a>,
}

impl EventRef<'_> {
    /// An owned copy.
    pub fn to_event(&self) -> Event {
        let owned = |s: Option<&str>| s.map(str::to_string);
        Event {
            v: self.v,
            id: self.id,
            seq: self.seq,
            time: self.time,
            site: self.site.to_string(),
            app: App {
                name: self.app.name.to_string(),
                version: owned(self.app.version),
                instance: owned(self.app.instance),
            },
            entity: Entity {
                kind: self.entity.kind.to_string(),
                id: self.entity.id.to_string(),
                name: owned(self.entity.name),
                parent: owned(self.entity.parent),
                key: owned(self.entity.key),
            },
            kind: self.kind,
            status: self.status,
            progress: self.progress,
            level: self.level,
            message: owned(self.message),
            metrics: self
                .metrics
                .iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect::<BTreeMap<_, _>>(),
            attrs: self
                .attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_scalar()))
                .collect::<BTreeMap<_, _>>(),
        }
    }
}
