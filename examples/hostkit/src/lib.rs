//! The HTTP edge the wafermon hosts (sidecar and gateway) share, so both answer the same way:
//! request bodies as JSON or MessagePack (ingest bodies read one event at a time: `events`;
//! `identity` encoding only: `encoding`; memory given back: `memory`), bearer tokens compared
//! in constant time, one JSON
//! error shape that names the offending field (also for rejected query strings, paths and
//! JSON bodies: `extract`), the shutdown signals, serving connections within timeouts and
//! a cap (`serve`), a limit on a whole request answered in that JSON shape (`timeout`), and
//! the core's warnings on stderr (`logs`).

pub mod extract;
mod serve;

pub use serve::{
    default_max_connections, fit_max_connections, serve, ConnectionLimits,
    DEFAULT_HEADER_READ_TIMEOUT_S, DEFAULT_IDLE_TIMEOUT_S, DEFAULT_MAX_CONNECTIONS,
};

mod encoding;
pub mod events;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod logs;
pub use logs::log_to_stderr;
pub mod memory;
pub mod timeout;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
pub use encoding::check_content_encoding;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

/// A request failure as the client sees it: `{"error": "...", "path": "..."}`.
#[derive(Debug)]
pub struct HttpError {
    pub status: StatusCode,
    pub message: String,
    /// The offending field, when one is to blame.
    pub path: Option<String>,
}

impl HttpError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        HttpError {
            status,
            message: message.into(),
            path: None,
        }
    }

    /// 400 naming the field: the message reads `path: message`.
    pub fn bad_request(path: impl Into<String>, message: impl Into<String>) -> Self {
        let path = path.into();
        HttpError {
            status: StatusCode::BAD_REQUEST,
            message: format!("{path}: {}", message.into()),
            path: Some(path),
        }
    }

    pub fn unauthorized(what: &str) -> Self {
        HttpError::new(
            StatusCode::UNAUTHORIZED,
            format!("a valid {what} bearer token is required"),
        )
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.message});
        if let (Some(path), Some(obj)) = (self.path, body.as_object_mut()) {
            obj.insert("path".into(), Value::String(path));
        }
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        match self.status {
            // Clients (the core's HTTP backends) retry these; tell them when.
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

/// How a request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    MsgPack,
}

/// The body format from `Content-Type`; anything else is 415, and so is a
/// `Content-Encoding` other than `identity`.
pub fn body_format(headers: &HeaderMap) -> Result<BodyFormat, HttpError> {
    check_content_encoding(headers)?;
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type is required: application/json or application/msgpack",
        ));
    };
    let media = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/json" => Ok(BodyFormat::Json),
        "application/msgpack" | "application/x-msgpack" | "application/vnd.msgpack" => {
            Ok(BodyFormat::MsgPack)
        }
        _ => Err(HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported Content-Type '{media}': use application/json or application/msgpack"
            ),
        )),
    }
}

/// Parse a body; errors say what was wrong (invalid UTF-8 names the byte).
pub fn decode(body: &[u8], format: BodyFormat) -> Result<Value, HttpError> {
    let bad = |message: String| HttpError::new(StatusCode::BAD_REQUEST, message);
    match format {
        BodyFormat::Json => {
            let text = std::str::from_utf8(body).map_err(|e| {
                bad(format!(
                    "the body is not valid UTF-8 (at byte {})",
                    e.valid_up_to()
                ))
            })?;
            serde_json::from_str(text).map_err(|e| bad(format!("malformed JSON: {e}")))
        }
        BodyFormat::MsgPack => {
            use serde::Deserialize;
            let mut de = rmp_serde::Deserializer::from_read_ref(body);
            de.set_max_depth(events::MAX_DEPTH);
            Value::deserialize(&mut de).map_err(|e| bad(format!("malformed MessagePack: {e}")))
        }
    }
}

/// `Authorization: Bearer <token>` compared in constant time; no token configured = open.
pub fn authorized(expected: Option<&str>, headers: &HeaderMap) -> bool {
    let Some(expected) = expected else {
        return true;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(expected.as_bytes())))
}

/// SIGTERM and SIGINT, watched from the moment this is created (so a signal that arrives
/// while the host is still starting is not lost). Needs a tokio runtime.
pub struct ShutdownSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    pub fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(ShutdownSignals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// The name of the next signal.
    pub async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

/// Command-line flags as both hosts take them: `--name value` or `--name=value`.
pub struct Flags {
    args: std::vec::IntoIter<String>,
    name: String,
    inline: Option<String>,
}

impl Flags {
    pub fn from_env() -> Flags {
        Flags::new(std::env::args().skip(1).collect())
    }

    pub fn new(args: Vec<String>) -> Flags {
        Flags {
            args: args.into_iter(),
            name: String::new(),
            inline: None,
        }
    }

    /// The next flag's name (`--listen`), or `None` at the end.
    pub fn next_flag(&mut self) -> Option<&str> {
        let arg = self.args.next()?;
        (self.name, self.inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg, None),
        };
        Some(&self.name)
    }

    /// The current flag's value; `what` says what it should be, for the error.
    pub fn value(&mut self, what: &str) -> Result<String, String> {
        self.inline
            .take()
            .or_else(|| self.args.next())
            .ok_or_else(|| format!("{} needs {what}", self.name))
    }

    /// The current flag's value as HOST:PORT.
    pub fn socket_addr(&mut self) -> Result<std::net::SocketAddr, String> {
        let text = self.value("HOST:PORT")?;
        text.parse()
            .map_err(|_| format!("{}: '{text}' is not HOST:PORT", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_take_both_spellings() {
        let args = [
            "--listen=127.0.0.1:1",
            "--config",
            "a.json",
            "--check",
            "--listen",
        ];
        let mut flags = Flags::new(args.iter().map(|s| s.to_string()).collect());
        assert_eq!(flags.next_flag(), Some("--listen"));
        assert_eq!(flags.socket_addr().unwrap().port(), 1);
        assert_eq!(flags.next_flag(), Some("--config"));
        assert_eq!(flags.value("a path").unwrap(), "a.json");
        assert_eq!(flags.next_flag(), Some("--check"));
        assert_eq!(flags.next_flag(), Some("--listen"));
        assert_eq!(flags.socket_addr().unwrap_err(), "--listen needs HOST:PORT");
        assert_eq!(flags.next_flag(), None);
    }

    #[test]
    fn tokens_are_checked_whole() {
        let mut headers = HeaderMap::new();
        assert!(authorized(None, &headers));
        assert!(!authorized(Some("s3cret"), &headers));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        assert!(authorized(Some("s3cret"), &headers));
        assert!(!authorized(Some("s3cre"), &headers));
        assert!(!authorized(Some("s3cret2"), &headers));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic s3cret"),
        );
        assert!(!authorized(Some("s3cret"), &headers));
    }

    #[test]
    fn formats_and_bodies() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            body_format(&headers).unwrap_err().status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert_eq!(body_format(&headers).unwrap(), BodyFormat::Json);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(body_format(&headers).is_err());
        let err = decode(b"{\"a\": \"\xff\"}", BodyFormat::Json).unwrap_err();
        assert!(err.message.contains("UTF-8"), "{}", err.message);
        assert!(decode(b"{", BodyFormat::Json)
            .unwrap_err()
            .message
            .contains("malformed JSON"));
        let packed = rmp_serde::to_vec(&json!({"events": [1]})).unwrap();
        assert_eq!(
            decode(&packed, BodyFormat::MsgPack).unwrap(),
            json!({"events": [1]})
        );
    }
}
