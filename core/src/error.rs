//! One error type for the whole core. Every language skin maps `ErrorKind` to its own
//! native exception through a single table, so the kinds are part of the public contract.

use std::fmt;

/// The category of an error, stable across languages (the C ABI exposes it as `wm_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
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
        let what = match self.kind {
            ErrorKind::InvalidConfig => "invalid config",
            ErrorKind::InvalidEvent => "invalid event",
            ErrorKind::Closed => "closed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "I/O error",
            ErrorKind::Backend => "backend error",
        };
        match &self.path {
            Some(p) if !p.is_empty() => write!(f, "{what} at {p}: {}", self.message),
            _ => write!(f, "{what}: {}", self.message),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
