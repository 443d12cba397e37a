//! The HTTP endpoints: ingest (JSON or MessagePack), health and metrics. Every request gets an
//! answer; a bad one never affects the next.

use std::io::Read;
use std::sync::atomic::Ordering;

use serde_json::{json, Value};
use tiny_http::{Header, Method, Request, Response};

use crate::metrics::{self, IngestCounters};

/// What the handlers share.
pub struct App {
    pub client: wafermon::Client,
    pub counters: IngestCounters,
    pub max_body_bytes: usize,
    pub token: Option<String>,
}

/// A response before it is written.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, &'static str)>,
}

impl Reply {
    fn json(status: u16, value: &Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(value).unwrap_or_default(),
            headers: Vec::new(),
        }
    }

    fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply::json(status, &json!({"error": message.into()}))
    }

    fn with_header(mut self, name: &'static str, value: &'static str) -> Reply {
        self.headers.push((name, value));
        self
    }
}

/// Answer one request.
pub fn handle(app: &App, mut request: Request) {
    let reply = route(app, &mut request);
    let mut response = Response::from_data(reply.body).with_status_code(reply.status);
    for (name, value) in [("Content-Type", reply.content_type)]
        .into_iter()
        .chain(reply.headers)
    {
        if let Ok(h) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(h);
        }
    }
    if let Err(e) = request.respond(response) {
        eprintln!("wafermon-sidecar: cannot send a response: {e}");
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// One event object or an array of them.
    Events,
    /// `{"events": [...]}`.
    Batch,
}

fn route(app: &App, request: &mut Request) -> Reply {
    let path = request
        .url()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let method = request.method().clone();
    match path.as_str() {
        "/v1/ingest/events" | "/v1/ingest/batch" => {
            if method != Method::Post {
                return Reply::error(405, "use POST").with_header("Allow", "POST");
            }
            let shape = if path.ends_with("/batch") {
                Shape::Batch
            } else {
                Shape::Events
            };
            ingest(app, request, shape)
        }
        "/v1/health" | "/metrics" => {
            if method != Method::Get && method != Method::Head {
                return Reply::error(405, "use GET").with_header("Allow", "GET, HEAD");
            }
            if path == "/metrics" {
                Reply {
                    status: 200,
                    content_type: metrics::CONTENT_TYPE,
                    body: metrics::render(&app.counters, &app.client.stats()).into_bytes(),
                    headers: Vec::new(),
                }
            } else {
                health(app)
            }
        }
        _ => Reply::error(404, format!("no endpoint {path}")),
    }
}

fn health(app: &App) -> Reply {
    let stats = app.client.stats();
    let backends: Vec<Value> = stats
        .backends
        .iter()
        .map(|b| {
            json!({
                "name": b.name,
                "type": b.kind,
                "healthy": b.healthy,
                "queued": b.queued,
                "last_error": b.last_error,
            })
        })
        .collect();
    Reply::json(
        200,
        &json!({"status": "ok", "spool_depth": stats.pending(), "backends": backends}),
    )
}

fn header<'r>(request: &'r Request, name: &'static str) -> Option<&'r str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

/// Compare without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(app: &App, request: &Request) -> bool {
    let Some(token) = &app.token else {
        return true;
    };
    let Some(value) = header(request, "Authorization") else {
        return false;
    };
    let value = value.trim();
    match value.split_once(' ') {
        Some((scheme, given)) if scheme.eq_ignore_ascii_case("bearer") => {
            constant_time_eq(given.trim().as_bytes(), token.as_bytes())
        }
        _ => false,
    }
}

#[derive(Clone, Copy)]
enum Format {
    Json,
    MsgPack,
}

fn format_of(request: &Request) -> Result<Format, Reply> {
    let Some(value) = header(request, "Content-Type") else {
        return Err(Reply::error(
            415,
            "Content-Type is required: application/json or application/msgpack",
        ));
    };
    let media = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/json" => Ok(Format::Json),
        "application/msgpack" | "application/x-msgpack" | "application/vnd.msgpack" => {
            Ok(Format::MsgPack)
        }
        _ => Err(Reply::error(
            415,
            format!(
                "unsupported Content-Type '{media}': use application/json or application/msgpack"
            ),
        )),
    }
}

fn read_body(app: &App, request: &mut Request) -> Result<Vec<u8>, Reply> {
    let limit = app.max_body_bytes;
    let too_large = || Reply::error(413, format!("the body is larger than {limit} bytes"));
    let declared = request.body_length();
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    if let Err(e) = request.as_reader().take(cap).read_to_end(&mut body) {
        return Err(Reply::error(400, format!("cannot read the body: {e}")));
    }
    if body.len() > limit {
        return Err(too_large());
    }
    Ok(body)
}

fn decode(body: &[u8], format: Format) -> Result<Value, Reply> {
    match format {
        Format::Json => {
            let text = std::str::from_utf8(body).map_err(|e| {
                Reply::error(
                    400,
                    format!("the body is not valid UTF-8 (at byte {})", e.valid_up_to()),
                )
            })?;
            serde_json::from_str(text)
                .map_err(|e| Reply::error(400, format!("malformed JSON: {e}")))
        }
        Format::MsgPack => rmp_serde::from_slice(body)
            .map_err(|e| Reply::error(400, format!("malformed MessagePack: {e}"))),
    }
}

fn events_of(value: Value, shape: Shape) -> Result<Vec<Value>, Reply> {
    match (shape, value) {
        (Shape::Events, Value::Array(items)) => Ok(items),
        (Shape::Events, event @ Value::Object(_)) => Ok(vec![event]),
        (Shape::Events, _) => Err(Reply::error(
            400,
            "the body must be an event object or an array of events",
        )),
        (Shape::Batch, Value::Object(mut map)) => {
            if let Some(key) = map.keys().find(|k| *k != "events") {
                return Err(Reply::error(
                    400,
                    format!("unknown field `{key}` (the body is {{\"events\": [...]}})"),
                ));
            }
            match map.remove("events") {
                Some(Value::Array(items)) => Ok(items),
                Some(_) => Err(Reply::error(400, "events: must be an array of events")),
                None => Err(Reply::error(400, "events: is required")),
            }
        }
        (Shape::Batch, _) => Err(Reply::error(
            400,
            "the body must be an object {\"events\": [...]}",
        )),
    }
}

fn ingest(app: &App, request: &mut Request, shape: Shape) -> Reply {
    if !authorized(app, request) {
        return Reply::error(401, "a valid bearer token is required")
            .with_header("WWW-Authenticate", "Bearer");
    }
    let result = format_of(request)
        .and_then(|format| read_body(app, request).map(|body| (format, body)))
        .and_then(|(format, body)| decode(&body, format))
        .and_then(|value| events_of(value, shape));
    let items = match result {
        Ok(items) => items,
        Err(reply) => return reply,
    };

    let mut valid = Vec::with_capacity(items.len());
    let mut rejected = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let parsed = wafermon::event::parse_event_value(item)
            .and_then(|event| event.validate().map(|_| event));
        match parsed {
            Ok(event) => valid.push(event),
            Err(e) => rejected.push(json!({
                "index": index,
                "path": e.path().unwrap_or_default(),
                "error": e.message(),
            })),
        }
    }
    let counters = &app.counters;
    counters
        .received
        .fetch_add(items.len() as u64, Ordering::Relaxed);
    counters
        .rejected
        .fetch_add(rejected.len() as u64, Ordering::Relaxed);
    if !valid.is_empty() {
        if let Err(e) = app.client.ingest(&valid) {
            eprintln!(
                "wafermon-sidecar: cannot accept {} events: {e}",
                valid.len()
            );
            let status = if e.kind() == wafermon::ErrorKind::InvalidEvent {
                400
            } else {
                503
            };
            return Reply::json(
                status,
                &json!({"error": format!("events not accepted: {e}"), "accepted": 0, "rejected": rejected}),
            );
        }
        counters
            .accepted
            .fetch_add(valid.len() as u64, Ordering::Relaxed);
    }
    let status = if valid.is_empty() && !rejected.is_empty() {
        400
    } else {
        202
    };
    Reply::json(
        status,
        &json!({"accepted": valid.len(), "rejected": rejected}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }

    #[test]
    fn shapes() {
        assert_eq!(
            events_of(json!({"kind": "x"}), Shape::Events)
                .ok()
                .map(|v| v.len()),
            Some(1)
        );
        assert_eq!(
            events_of(json!([{}, {}]), Shape::Events)
                .ok()
                .map(|v| v.len()),
            Some(2)
        );
        assert!(events_of(json!(3), Shape::Events).is_err());
        assert_eq!(
            events_of(json!({"events": [{}]}), Shape::Batch)
                .ok()
                .map(|v| v.len()),
            Some(1)
        );
        assert!(events_of(json!({"events": [], "x": 1}), Shape::Batch).is_err());
        assert!(events_of(json!([]), Shape::Batch).is_err());
    }

    #[test]
    fn invalid_utf8_is_named() {
        let err = decode(b"{\"a\": \"\xff\"}", Format::Json).err().unwrap();
        assert_eq!(err.status, 400);
        assert!(String::from_utf8_lossy(&err.body).contains("UTF-8"));
    }
}
