//! The event of schema v1 (core/schema/event.v1.schema.json) and the input form apps build.

mod bytescan;
pub(crate) mod clock;
mod id;
mod input;
pub(crate) mod json;
mod legacy;
pub mod strict;
mod time;
mod unique;
mod validate;
pub(crate) mod view;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use self::id::new_v7;
pub(crate) use self::id::{hyphenated, next_random};
pub use self::input::{parse_complete_event, parse_event_json, parse_event_value, NewEvent};
pub use self::legacy::{from_legacy, is_legacy, parse_legacy_value, LegacyDefaults};
pub use self::time::Timestamp;
pub use self::validate::limits;
pub(crate) use self::validate::{
    check_attr, check_entry_count, check_metric, check_name, check_progress, check_text,
    started as check_started,
};
pub use self::view::{AppRef, Attrs, EntityRef, EventRef, Metrics, ScalarRef};

/// The schema version this crate writes.
pub const SCHEMA_VERSION: u32 = 1;

/// A complete event as it reaches a backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub v: u32,
    pub id: Uuid,
    pub seq: u64,
    pub time: Timestamp,
    pub site: String,
    pub app: App,
    pub entity: Entity,
    pub kind: Kind,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Level>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique::map"
    )]
    pub metrics: BTreeMap<String, f64>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "unique::map"
    )]
    pub attrs: BTreeMap<String, Scalar>,
}

/// The application that produced an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// What an event is about: a job, subjob, lot, wafer, step, tool, or any other kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entity {
    pub kind: String,
    pub id: String,
    /// Human-readable name, e.g. the job name "etch".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The id of the parent entity; chains of any depth are built from these links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Business key, e.g. a lot number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl Entity {
    pub fn new(kind: impl Into<String>, id: impl Into<String>) -> Self {
        Entity {
            kind: kind.into(),
            id: id.into(),
            name: None,
            parent: None,
            key: None,
        }
    }
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parse the lowercase name; the error lists the accepted names.
            pub fn parse(text: &str) -> Result<Self, String> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!(
                        "'{}' is not one of {}",
                        text,
                        [$($text),+].join(", ")
                    )),
                }
            }

            pub(crate) fn code(self) -> u8 { self as u8 }

            pub(crate) fn from_code(code: u8) -> Option<Self> {
                Self::ALL.get(usize::from(code)).copied()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// What happened.
    Kind {
        Started = "started",
        Progress = "progress",
        Metric = "metric",
        Log = "log",
        Finished = "finished",
        Failed = "failed",
        Canceled = "canceled",
        Heartbeat = "heartbeat",
    }
);

string_enum!(
    /// The state of the entity after the event.
    Status {
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Canceled = "canceled",
    }
);

string_enum!(
    /// Severity of a log event.
    Level {
        Debug = "debug",
        Info = "info",
        Warning = "warning",
        Error = "error",
        Critical = "critical",
    }
);

impl Kind {
    /// The status this kind implies, if it implies one.
    pub fn implied_status(self) -> Option<Status> {
        match self {
            Kind::Started | Kind::Progress => Some(Status::Running),
            Kind::Finished => Some(Status::Succeeded),
            Kind::Failed => Some(Status::Failed),
            Kind::Canceled => Some(Status::Canceled),
            Kind::Metric | Kind::Log | Kind::Heartbeat => None,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Kind::Finished | Kind::Failed | Kind::Canceled)
    }
}

/// An attribute value: string, integer, float or boolean. Numbers are exact: integers are
/// 64-bit signed, and a number outside -2^63..2^63 is refused by validation (the schema says
/// so) rather than kept as the nearest double.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    /// The same value, its string borrowed.
    pub fn borrowed(&self) -> ScalarRef<'_> {
        match self {
            Scalar::Bool(b) => ScalarRef::Bool(*b),
            Scalar::Int(i) => ScalarRef::Int(*i),
            Scalar::Float(f) => ScalarRef::Float(*f),
            Scalar::Str(s) => ScalarRef::Str(s),
        }
    }

    /// The scalar a JSON value holds; `None` for null, arrays and objects.
    pub fn from_json(value: &serde_json::Value) -> Option<Scalar> {
        match value {
            serde_json::Value::Bool(b) => Some(Scalar::Bool(*b)),
            serde_json::Value::String(s) => Some(Scalar::Str(s.clone())),
            serde_json::Value::Number(n) => Some(match n.as_i64() {
                Some(i) => Scalar::Int(i),
                None => Scalar::Float(n.as_f64()?),
            }),
            _ => None,
        }
    }
}

impl From<&str> for Scalar {
    fn from(v: &str) -> Self {
        Scalar::Str(v.to_string())
    }
}
impl From<String> for Scalar {
    fn from(v: String) -> Self {
        Scalar::Str(v)
    }
}
impl From<i64> for Scalar {
    fn from(v: i64) -> Self {
        Scalar::Int(v)
    }
}
impl From<i32> for Scalar {
    fn from(v: i32) -> Self {
        Scalar::Int(i64::from(v))
    }
}
impl From<f64> for Scalar {
    fn from(v: f64) -> Self {
        Scalar::Float(v)
    }
}
impl From<bool> for Scalar {
    fn from(v: bool) -> Self {
        Scalar::Bool(v)
    }
}

impl Event {
    /// A test's event: `kind` of `entity` at `time` (seq 0, an id from `time`), at site
    /// "fab1" of app "etch"; a test changes what it needs.
    #[cfg(test)]
    pub(crate) fn sample(kind: Kind, entity: Entity, time: Timestamp) -> Event {
        Event {
            v: SCHEMA_VERSION,
            id: new_v7(time.unix_millis()),
            seq: 0,
            time,
            site: "fab1".into(),
            app: App {
                name: "etch".into(),
                version: None,
                instance: None,
            },
            entity,
            kind,
            status: Status::Running,
            progress: None,
            level: None,
            message: None,
            metrics: BTreeMap::new(),
            attrs: BTreeMap::new(),
        }
    }

    /// Check every field against the schema's rules; the error names the field.
    pub fn validate(&self) -> crate::Result<()> {
        validate::event(self)
    }

    /// The event as one line of JSON (no trailing newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
