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
use serde_json::{json, Map, Value};
use wafermon_hostkit::events::{read_events, Rejections, Shape};
use wafermon_hostkit::timeout::{within_limit, RequestTimeout};
use wafermon_hostkit::{authorized, body_format, memory, BodyFormat, HttpError};

use crate::metrics::{self, IngestCounters};
use wafermon::config::Secret;

/// What the handlers share.
pub struct App {
    pub client: wafermon::Client,
    pub counters: IngestCounters,
    pub max_body_bytes: usize,
    pub token: Option<Secret>,
}

/// The ingest routes. Which one a request came by decides its body shape and, with the
/// events it holds, how it is answered (see `answer`).
#[derive(Clone, Copy, PartialEq)]
enum Route {
    /// `/v1/ingest/events`: one event object or an array of them.
    Events,
    /// `/v1/ingest/batch`: what the core's sidecar backend posts.
    Batch,
    /// `/v1/ingest/events:batch`: the legacy ingest API's batch path.
    LegacyBatch,
}

impl Route {
    fn shape(self) -> Shape {
        match self {
            Route::Events => Shape::EventOrArray,
            Route::Batch | Route::LegacyBatch => Shape::ArrayOrEnvelope(&[]),
        }
    }
}

/// A request that takes longer (a client trickling its body) is answered 408 and its
/// connection freed; generous, because a durable write can wait on a slow disk.
const REQUEST_TIMEOUT: RequestTimeout = RequestTimeout {
    limit: Duration::from_secs(60),
    setting: "the sidecar's fixed request limit",
};

pub fn router(app: Arc<App>) -> Router {
    let limit = app.max_body_bytes;
    Router::new()
        .route("/v1/ingest/events", post(ingest_events))
        // Two batch paths, one body (a bare array or {"events": [...]}): `batch` is what the
        // core's sidecar backend posts, `events:batch` what clients of the legacy ingest API
        // post (and they get the legacy answer).
        .route("/v1/ingest/batch", post(ingest_batch))
        .route("/v1/ingest/events:batch", post(ingest_legacy_batch))
        .route("/v1/health", get(health))
        .route("/v1/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            REQUEST_TIMEOUT,
            within_limit,
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

/// The legacy sidecar API's health answer, for the clients and probes written against it.
/// Like `/v1/health`'s errors, the spool's path shows only to holders of the ingest token
/// when one is configured.
async fn healthz(State(app): State<Arc<App>>, headers: HeaderMap) -> Json<Value> {
    let trusted = authorized(app.token.as_ref().map(Secret::expose), &headers);
    let mut health = json!({
        "status": "ok",
        "service": "wafermon-sidecar",
        "version": env!("CARGO_PKG_VERSION"),
        "spool_count": app.client.stats().pending(),
    });
    if trusted {
        health["spool_dir"] = json!(app.client.config().spool.path.display().to_string());
    }
    Json(health)
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
    ingest(app, &headers, body, Route::Events).await
}

async fn ingest_batch(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    ingest(app, &headers, body, Route::Batch).await
}

async fn ingest_legacy_batch(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    ingest(app, &headers, body, Route::LegacyBatch).await
}

async fn ingest(
    app: Arc<App>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    route: Route,
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
    tokio::task::spawn_blocking(move || {
        let len = body.len();
        let answer = accept(&app, &body, format, route);
        drop(body);
        memory::release_after(len);
        answer
    })
    .await
    .map_err(|e| {
        HttpError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("ingest failed: {e}"),
        )
    })?
}

/// What became of a request's events.
struct Outcome {
    accepted: usize,
    rejections: Rejections,
    /// The events could not be made durable (status and message).
    failed: Option<(StatusCode, String)>,
    /// The request came from a client of the legacy API (see `answer`).
    legacy: bool,
}

/// Validate every event on its own, make the valid ones durable, answer with what happened.
fn accept(
    app: &App,
    body: &[u8],
    format: BodyFormat,
    route: Route,
) -> Result<(StatusCode, Json<Value>), HttpError> {
    // Each valid event is encoded into the batch at once: a large request never holds its
    // events as `NewEvent`s (a few hundred bytes each), only as compact records.
    let mut valid = wafermon::IngestBatch::default();
    let mut rejections = Rejections::default();
    let mut any_legacy = false;
    // Built on the first legacy item only: most requests carry none.
    let mut legacy_defaults = None;
    let envelope = read_events(body, format, route.shape(), |item| {
        let index = item.index;
        let object = match item.object()? {
            Ok(object) => object,
            Err(why) => {
                rejections.add(index, "", &why);
                return Ok(());
            }
        };
        let parsed = if wafermon::event::is_legacy(&object) {
            any_legacy = true;
            let defaults = legacy_defaults.get_or_insert_with(|| {
                wafermon::event::LegacyDefaults::from_config(&app.client.config().app)
            });
            wafermon::event::parse_legacy_value(&object, defaults)
        } else {
            wafermon::event::parse_event_value(&object)
        }
        .and_then(|event| valid.push(&event));
        if let Err(e) = parsed {
            rejections.add(index, e.path().unwrap_or_default(), e.message());
        }
        Ok(())
    })?;
    let counters = &app.counters;
    counters
        .received
        .fetch_add(envelope.received as u64, Ordering::Relaxed);
    counters
        .rejected
        .fetch_add(rejections.count() as u64, Ordering::Relaxed);
    let count = valid.len();
    let mut outcome = Outcome {
        accepted: count,
        rejections,
        failed: None,
        legacy: route == Route::LegacyBatch || any_legacy,
    };
    if count > 0 {
        match app.client.ingest_batch(valid) {
            Ok(()) => {
                counters.accepted.fetch_add(count as u64, Ordering::Relaxed);
            }
            Err(e) => {
                eprintln!("wafermon-sidecar: cannot accept {count} events: {e}");
                let status = if e.kind() == wafermon::ErrorKind::InvalidEvent {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                outcome.accepted = 0;
                outcome.failed = Some((status, format!("events not accepted: {e}")));
            }
        }
    }
    Ok(answer(outcome))
}

/// The answer. Our own API: `202 {"accepted", "rejected", "rejected_count"}`, 400 when every
/// event was rejected. A client of the legacy API (it posted to `/v1/ingest/events:batch`, or
/// any of its events is in the legacy format) gets what that API documented: `200` with
/// `"ok": true` (our counts beside it), and `"ok": false` on any failure.
fn answer(outcome: Outcome) -> (StatusCode, Json<Value>) {
    let mut body = Map::new();
    let status = match outcome.failed {
        Some((status, error)) => {
            body.insert("error".into(), Value::String(error));
            status
        }
        None if outcome.accepted == 0 && !outcome.rejections.is_empty() => StatusCode::BAD_REQUEST,
        None if outcome.legacy => StatusCode::OK,
        None => StatusCode::ACCEPTED,
    };
    if outcome.legacy {
        body.insert("ok".into(), Value::Bool(status.is_success()));
    }
    body.insert("accepted".into(), Value::from(outcome.accepted));
    outcome.rejections.write_into(&mut body);
    (status, Json(Value::Object(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(accepted: usize, rejected: usize, legacy: bool) -> Outcome {
        let mut rejections = Rejections::default();
        for i in 0..rejected {
            rejections.add(i, "kind", "is required");
        }
        Outcome {
            accepted,
            rejections,
            failed: None,
            legacy,
        }
    }

    #[test]
    fn legacy_clients_get_the_legacy_answer() {
        let (status, Json(body)) = answer(outcome(2, 1, false));
        assert_eq!(status, StatusCode::ACCEPTED);
        assert_eq!(body.get("ok"), None);
        let (status, Json(body)) = answer(outcome(2, 1, true));
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (&body["ok"], &body["accepted"], &body["rejected_count"]),
            (&json!(true), &json!(2), &json!(1))
        );
        let (status, Json(body)) = answer(outcome(0, 1, true));
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["ok"], false);
        let mut failed = outcome(0, 0, true);
        failed.failed = Some((StatusCode::SERVICE_UNAVAILABLE, "spool full".into()));
        let (status, Json(body)) = answer(failed);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!((&body["ok"], &body["accepted"]), (&json!(false), &json!(0)));
    }
}
