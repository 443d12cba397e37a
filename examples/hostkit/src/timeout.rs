//! The hosts' limit on a whole request: one that is not answered in time (a client trickling
//! its body, a store that hangs) is answered 408 in the JSON error shape, saying which limit
//! it hit, and its connection is freed. tower-http's timeout answers with an empty body,
//! which only the last-resort guard in `extract` would turn into a bare "Request Timeout".

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::HttpError;

/// How long a request may take, and what the host calls that limit (a config key, or a
/// sentence when the limit is fixed), for the answer.
#[derive(Debug, Clone, Copy)]
pub struct RequestTimeout {
    pub limit: Duration,
    pub setting: &'static str,
}

/// Middleware (`axum::middleware::from_fn_with_state(RequestTimeout {..}, within_limit)`).
pub async fn within_limit(
    State(timeout): State<RequestTimeout>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    match tokio::time::timeout(timeout.limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => timed_out(&timeout, &method, &path).into_response(),
    }
}

fn timed_out(timeout: &RequestTimeout, method: &axum::http::Method, path: &str) -> HttpError {
    HttpError::new(
        StatusCode::REQUEST_TIMEOUT,
        format!(
            "{method} {path} was not done within {} s ({}): the body arrived too slowly \
             or the work took too long; send it again",
            timeout.limit.as_secs_f64(),
            timeout.setting
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use serde_json::Value;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_slow_request_is_a_json_408_naming_the_limit() {
        let timeout = RequestTimeout {
            limit: Duration::from_millis(10),
            setting: "request_timeout_s",
        };
        let app = Router::new()
            .route("/slow", get(std::future::pending::<&'static str>))
            .route("/quick", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(timeout, within_limit));
        let call = |uri: &'static str| {
            app.clone()
                .oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap())
        };
        let slow = call("/slow").await.unwrap();
        assert_eq!(slow.status(), StatusCode::REQUEST_TIMEOUT);
        let bytes = axum::body::to_bytes(slow.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("GET /slow"), "{error}");
        assert!(error.contains("request_timeout_s"), "{error}");
        assert_eq!(call("/quick").await.unwrap().status(), StatusCode::OK);
    }
}
