//! One error type for the whole core. Every language skin maps `ErrorKind` to its own
//! native exception through a single table, so the kinds are part of the public contract.

use std::fmt;

/// The category of an error, stable across languages (the C ABI exposes it as `wm_status`).
/// `core/conformance/error_kinds.json` lists every kind with its name (`as_str`) and its C
/// status; each skin's table is tested against that file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// An argument that is not part of an event is unusable: a job handle that is not live
    /// (released, or never issued), or no job open where one is needed.
    InvalidArgument,
    /// A configuration value is missing, of the wrong type, or out of range.
    InvalidConfig,
    /// An event (or an argument that becomes part of one) is invalid.
    InvalidEvent,
    /// The client was closed; nothing more is accepted.
    Closed,
    /// A flush or close did not finish within its timeout.
    Timeout,
    /// A local I/O operation (spool, file backend) failed.
    Io,
    /// A backend rejected data or could not be reached.
    Backend,
}

/// An error with its kind, the JSON path or field it concerns (if any), and a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    kind: ErrorKind,
    path: Option<String>,
    message: String,
}

impl ErrorKind {
    /// Every kind, in the order of `error_kinds.json`.
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::InvalidArgument,
        ErrorKind::InvalidConfig,
        ErrorKind::InvalidEvent,
        ErrorKind::Closed,
        ErrorKind::Timeout,
        ErrorKind::Io,
        ErrorKind::Backend,
    ];

    /// The stable name every skin uses for this kind ("invalid_config", "closed", ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::InvalidEvent => "invalid_event",
            ErrorKind::Closed => "closed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "io",
            ErrorKind::Backend => "backend",
        }
    }

    /// The kind named `name` (the inverse of `as_str`).
    pub fn parse(name: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// How a message starts ("invalid config at ...: ...").
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::InvalidConfig => "invalid config",
            ErrorKind::InvalidEvent => "invalid event",
            ErrorKind::Closed => "closed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "I/O error",
            ErrorKind::Backend => "backend error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            path: None,
            message: message.into(),
        }
    }

    /// An invalid configuration value at `path` (a JSON path such as `batch.max_events`).
    pub fn config(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::InvalidConfig,
            path: Some(path.into()),
            message: message.into(),
        }
    }

    /// An invalid event field at `field` (a JSON path such as `entity.id`).
    pub fn event(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::InvalidEvent,
            path: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn io(context: &str, err: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, format!("{context}: {err}"))
    }

    pub fn closed() -> Self {
        Error::new(ErrorKind::Closed, "the client is closed")
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The JSON path of the offending field, if the error concerns one.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = self.kind.describe();
        match &self.path {
            Some(p) if !p.is_empty() => write!(f, "{what} at {p}: {}", self.message),
            _ => write!(f, "{what}: {}", self.message),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// core/conformance/error_kinds.json is the list every skin's table is checked against;
    /// it must be exactly `ErrorKind::ALL`, in order.
    #[test]
    fn error_kinds_json_lists_exactly_every_kind() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance/error_kinds.json");
        let text = std::fs::read_to_string(path).expect("error_kinds.json");
        let file: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let names: Vec<&str> = file["kinds"]
            .as_array()
            .expect("kinds")
            .iter()
            .map(|k| k["name"].as_str().expect("name"))
            .collect();
        let ours: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, ours);
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::parse(kind.as_str()), Some(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert_eq!(ErrorKind::parse("panic"), None);
    }

    #[test]
    fn messages_start_with_the_kind_in_words_and_name_the_path() {
        let e = Error::config("batch.max_events", "must be at least 1");
        assert_eq!(
            e.to_string(),
            "invalid config at batch.max_events: must be at least 1"
        );
        let e = Error::new(ErrorKind::InvalidArgument, "job handle 3.1 is not live");
        assert_eq!(
            e.to_string(),
            "invalid argument: job handle 3.1 is not live"
        );
    }
}
