//! The HTTP endpoints: ingest (JSON or MessagePack; events of schema v1 or of the legacy
//! Python SDK, converted by the core), health and metrics. Every request gets an answer; a bad
//! one never affects the next.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tower_http::timeout::TimeoutLayer;
use wafermon_hostkit::{authorized, body_format, decode, BodyFormat, HttpError};

use crate::metrics::{self, IngestCounters};
use wafermon::config::Secret;

/// What the handlers share.
pub struct App {
    pub client: wafermon::Client,
    pub counters: IngestCounters,
    pub max_body_bytes: usize,
    pub token: Option<Secret>,
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// One event object or an array of them.
    Events,
    /// `{"events": [...]}`.
    Batch,
}

/// A request that takes longer (a client trickling its body) is answered 408 and its
/// connection freed; generous, because a durable write can wait on a slow disk.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub fn router(app: Arc<App>) -> Router {
    let limit = app.max_body_bytes;
    Router::new()
        .route("/v1/ingest/events", post(ingest_events))
        // Two batch paths, one body: `batch` is what the core's sidecar backend posts,
        // `events:batch` what clients of the legacy ingest API post.
        .route("/v1/ingest/batch", post(ingest_batch))
        .route("/v1/ingest/events:batch", post(ingest_batch))
        .route("/v1/health", get(health))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(
            wafermon_hostkit::extract::json_errors,
        ))
        .with_state(app)
}

async fn not_found(request: Request) -> HttpError {
    HttpError::new(
        StatusCode::NOT_FOUND,
        format!("no endpoint {}", request.uri().path()),
    )
}

/// Open to everyone; a backend's last error (which can name files, spool paths and backend
/// addresses) only to holders of the ingest token when one is configured.
async fn health(State(app): State<Arc<App>>, headers: HeaderMap) -> Json<Value> {
    let trusted = authorized(app.token.as_ref().map(Secret::expose), &headers);
    let stats = app.client.stats();
    let backends: Vec<Value> = stats
        .backends
        .iter()
        .map(|b| {
            let mut backend = json!({
                "name": b.name,
                "type": b.kind,
                "healthy": b.healthy,
                "queued": b.queued,
            });
            if trusted {
                backend["last_error"] = json!(b.last_error);
            }
            backend
        })
        .collect();
    Json(json!({"status": "ok", "spool_depth": stats.pending(), "backends": backends}))
}

async fn metrics_text(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        metrics::render(&app.counters, &app.client.stats()),
    )
        .into_response()
}

async fn ingest_events(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    ingest(app, &headers, body, Shape::Events).await
}

async fn ingest_batch(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    ingest(app, &headers, body, Shape::Batch).await
}

async fn ingest(
    app: Arc<App>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    shape: Shape,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    if !authorized(app.token.as_ref().map(Secret::expose), headers) {
        return Err(HttpError::unauthorized("ingest"));
    }
    let format = body_format(headers)?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            HttpError::new(
                e.status(),
                format!("the body is larger than {} bytes", app.max_body_bytes),
            )
        } else {
            HttpError::new(e.status(), e.body_text())
        }
    })?;
    // Parsing and the durable write (fsync) are blocking work: keep them off the I/O threads.
    tokio::task::spawn_blocking(move || accept(&app, &body, format, shape))
        .await
        .map_err(|e| {
            HttpError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("ingest failed: {e}"),
            )
        })?
}

/// Validate every event on its own, make the valid ones durable, answer with what happened.
fn accept(
    app: &App,
    body: &[u8],
    format: BodyFormat,
    shape: Shape,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    let items = events_of(decode(body, format)?, shape)?;
    let mut valid = Vec::with_capacity(items.len());
    let mut rejected = Vec::new();
    // Built on the first legacy item only: most requests carry none.
    let mut legacy_defaults = None;
    for (index, item) in items.iter().enumerate() {
        let parsed = if wafermon::event::is_legacy(item) {
            let defaults = legacy_defaults.get_or_insert_with(|| {
                wafermon::event::LegacyDefaults::from_config(&app.client.config().app)
            });
            wafermon::event::parse_legacy_value(item, defaults)
        } else {
            wafermon::event::parse_event_value(item)
        }
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
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            return Ok((
                status,
                Json(
                    json!({"error": format!("events not accepted: {e}"), "accepted": 0, "rejected": rejected}),
                ),
            ));
        }
        counters
            .accepted
            .fetch_add(valid.len() as u64, Ordering::Relaxed);
    }
    let status = if valid.is_empty() && !rejected.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::ACCEPTED
    };
    Ok((
        status,
        Json(json!({"accepted": valid.len(), "rejected": rejected})),
    ))
}

fn events_of(value: Value, shape: Shape) -> Result<Vec<Value>, HttpError> {
    let bad = |message: &str| HttpError::new(StatusCode::BAD_REQUEST, message);
    match (shape, value) {
        (Shape::Events, Value::Array(items)) => Ok(items),
        (Shape::Events, event @ Value::Object(_)) => Ok(vec![event]),
        (Shape::Events, _) => Err(bad(
            "the body must be an event object or an array of events",
        )),
        (Shape::Batch, Value::Object(mut map)) => {
            if let Some(key) = map.keys().find(|k| *k != "events") {
                return Err(HttpError::bad_request(
                    key.clone(),
                    "unknown field (the body is {\"events\": [...]})",
                ));
            }
            match map.remove("events") {
                Some(Value::Array(items)) => Ok(items),
                Some(_) => Err(HttpError::bad_request(
                    "events",
                    "must be an array of events",
                )),
                None => Err(HttpError::bad_request("events", "is required")),
            }
        }
        (Shape::Batch, _) => Err(bad("the body must be an object {\"events\": [...]}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let len = |v: Value, shape| events_of(v, shape).ok().map(|items| items.len());
        assert_eq!(len(json!({"kind": "x"}), Shape::Events), Some(1));
        assert_eq!(len(json!([{}, {}]), Shape::Events), Some(2));
        assert_eq!(len(json!(3), Shape::Events), None);
        assert_eq!(len(json!({"events": [{}]}), Shape::Batch), Some(1));
        assert_eq!(len(json!({"events": [], "x": 1}), Shape::Batch), None);
        assert_eq!(len(json!([]), Shape::Batch), None);
    }
}
