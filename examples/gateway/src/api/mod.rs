//! The HTTP API: routes, the shared state, bearer tokens, request metrics and the JSON error
//! shape every endpoint uses.

mod compare;
mod ingest;
mod params;
mod read;
mod sources;
mod stream;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};
use wafermon::config::Secret;
use wafermon_hostkit::authorized;

use crate::config::GatewayConfig;
use crate::external::Sources;
use crate::metrics::{self, Metrics, RouteLabels, RouteOnly};
use crate::store::Store;

pub use self::ingest::{read_message, store_events};
pub use self::stream::Published;

/// The OpenAPI document served at /v1/openapi.json; a test checks it lists exactly `ROUTES`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Every (method, path) the router serves, as written in the OpenAPI document.
#[cfg(test)]
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/ingest/managed"),
    ("get", "/v1/jobs"),
    ("get", "/v1/jobs/{id}"),
    ("get", "/v1/stats"),
    ("get", "/v1/stream"),
    ("get", "/v1/sources"),
    ("get", "/v1/sources/compare"),
    ("post", "/v1/query/external"),
    ("get", "/v1/data/unified"),
    ("get", "/v1/health"),
    ("get", "/metrics"),
    ("get", "/v1/openapi.json"),
];

/// How many published events a slow stream client may fall behind before it is told so.
const STREAM_BACKLOG: usize = 4096;

pub struct AppState {
    pub store: Store,
    pub sources: Sources,
    pub metrics: Metrics,
    pub published: broadcast::Sender<Arc<Published>>,
    pub shutdown: watch::Receiver<bool>,
    /// What the Kafka consumers report, when `ingest.kafka` is configured.
    pub kafka: Option<Arc<crate::kafka::Status>>,
    ingest_token: Option<Secret>,
    read_token: Option<Secret>,
}

impl AppState {
    pub fn new(
        store: Store,
        config: &GatewayConfig,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<AppState> {
        let (published, _) = broadcast::channel(STREAM_BACKLOG);
        Arc::new(AppState {
            store,
            sources: Sources::new(
                config.sources.clone(),
                config.external_cache_ttl,
                config.external_cache_entries,
                source_timeout(config.request_timeout),
            ),
            metrics: Metrics::new(),
            published,
            shutdown,
            kafka: config
                .kafka
                .as_ref()
                .map(|k| Arc::new(crate::kafka::Status::new(&k.connection.topic, &k.group))),
            ingest_token: config.ingest_token.clone(),
            read_token: config.read_token.clone(),
        })
    }
}

/// How long one external source may take: most of a request's time, so a unified view
/// waiting on a dead source still answers with the others before the request times out.
fn source_timeout(request_timeout: std::time::Duration) -> std::time::Duration {
    request_timeout.mul_f64(0.75)
}

use wafermon_hostkit::timeout::{within_limit, RequestTimeout};
/// Every error answer is the hosts' shared JSON shape: `{"error": "...", "path": "..."}`.
pub use wafermon_hostkit::HttpError as ApiError;

/// The store failed: log the detail, count it, tell the client to retry.
pub fn unavailable(state: &AppState, e: &crate::store::StoreError) -> ApiError {
    state.metrics.store_errors.inc();
    eprintln!("wafermon-gateway: {e}");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the store is unavailable; retry later",
    )
}

pub fn router(state: Arc<AppState>, config: &GatewayConfig) -> Router {
    let ingest = Router::new()
        .route("/v1/ingest/managed", post(ingest::managed))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_ingest,
        ));
    let read = Router::new()
        .route("/v1/jobs", get(read::jobs))
        .route("/v1/jobs/{id}", get(read::job))
        .route("/v1/stats", get(read::stats))
        .route("/v1/sources", get(sources::list))
        .route("/v1/sources/compare", get(compare::compare))
        .route("/v1/query/external", post(sources::external))
        .route("/v1/data/unified", get(sources::unified))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_read));
    let open = Router::new()
        .route("/v1/health", get(health))
        .route("/metrics", get(metrics_text))
        .route("/v1/openapi.json", get(openapi));
    let bounded = ingest
        .merge(read)
        .merge(open)
        .layer(middleware::from_fn_with_state(
            RequestTimeout {
                limit: config.request_timeout,
                setting: "request_timeout_s",
            },
            within_limit,
        ));
    // The stream lives as long as its client; only shutdown ends it.
    let stream = Router::new()
        .route("/v1/stream", get(stream::subscribe))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_read));
    bounded
        .merge(stream)
        .merge(crate::dashboard::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), measure))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(middleware::from_fn(wafermon_hostkit::extract::json_errors))
        .with_state(state)
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no endpoint {} {}", request.method(), request.uri().path()),
    )
}

async fn measure(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .requests
        .get_or_create(&RouteLabels {
            route: route.clone(),
            status: response.status().as_u16(),
        })
        .inc();
    state
        .metrics
        .latency
        .get_or_create(&RouteOnly { route })
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn require_ingest(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if authorized(
        state.ingest_token.as_ref().map(Secret::expose),
        request.headers(),
    ) {
        next.run(request).await
    } else {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "a valid ingest bearer token is required",
        )
        .into_response()
    }
}

async fn require_read(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if authorized(
        state.read_token.as_ref().map(Secret::expose),
        request.headers(),
    ) {
        next.run(request).await
    } else {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "a valid read bearer token is required",
        )
        .into_response()
    }
}

/// Open to everyone, so load balancers need no token; where the store lives (a file path, a
/// database host) and its errors are shown to read-token holders only.
async fn health(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let info = state.store.info();
    let store_ok = state.store.ping().await;
    let trusted = authorized(state.read_token.as_ref().map(Secret::expose), &headers);
    let sources: Vec<Value> = state
        .sources
        .names()
        .map(|s| json!({"name": s.name(), "type": s.kind()}))
        .collect();
    let mut store = json!({
        "engine": info.engine,
        "ok": store_ok.is_ok(),
    });
    if trusted {
        store["detail"] = json!(info.detail);
        store["error"] = json!(store_ok.as_ref().err().map(|e| e.to_string()));
    }
    let mut body = json!({
        "status": if store_ok.is_ok() { "ok" } else { "degraded" },
        "store": store,
        "sources": sources,
        "stream_clients": state.metrics.stream_clients.get(),
    });
    if let Some(kafka) = &state.kafka {
        body["kafka"] = kafka.to_json(trusted);
    }
    let status = if body["store"]["ok"] == Value::Bool(true) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_lists_exactly_the_routes() {
        let doc: Value = serde_json::from_str(OPENAPI).unwrap();
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                documented.push((method.clone(), path.clone()));
            }
        }
        documented.sort();
        let mut served: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        served.sort();
        assert_eq!(documented, served);
    }
}
