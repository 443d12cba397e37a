//! Extractors whose rejections answer in the hosts' JSON error shape and name the parameter,
//! and a last guard that turns any other plain-text or empty error answer (axum's 405, a
//! timeout in tower-http) into that shape too, so a client parses every error the same way.

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::HttpError;

/// The query string as `T`: errors name the parameter, and a value holding a control
/// character (`q=%00`) is refused rather than matched, because stored identifiers never hold
/// one and a NUL would end the text early in some databases, widening a filter to everything.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, HttpError> {
        let raw = parts.uri.query().unwrap_or_default();
        for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
            refuse_control(&name, &value)?;
        }
        let pairs = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
        serde_path_to_error::deserialize(pairs)
            .map(Query)
            .map_err(|e| {
                let path = e.path().to_string();
                if path == "." || path.is_empty() {
                    HttpError::new(
                        StatusCode::BAD_REQUEST,
                        format!("query string: {}", e.inner()),
                    )
                } else {
                    HttpError::bad_request(path, e.inner().to_string())
                }
            })
    }
}

/// Path parameters as `T`: invalid UTF-8 (`/v1/jobs/%FF`), control characters and values of
/// the wrong type are 400s naming the parameter.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, HttpError> {
        if let Ok(params) = RawPathParams::from_request_parts(parts, state).await {
            for (name, value) in &params {
                refuse_control(name, value)?;
            }
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|rejection| match &rejection {
                PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
                    ErrorKind::InvalidUtf8InPathParam { key } => {
                        HttpError::bad_request(key.clone(), "is not valid UTF-8")
                    }
                    ErrorKind::ParseErrorAtKey {
                        key,
                        value,
                        expected_type,
                    } => HttpError::bad_request(
                        key.clone(),
                        format!("'{value}' is not a valid {expected_type}"),
                    ),
                    ErrorKind::DeserializeError { key, message, .. } => {
                        HttpError::bad_request(key.clone(), message.clone())
                    }
                    _ => HttpError::new(rejection.status(), rejection.body_text()),
                },
                _ => HttpError::new(rejection.status(), rejection.body_text()),
            })
    }
}

/// A JSON body as `T`: a value of the wrong shape is a 400 naming its field (`path`), as the
/// hosts document for every bad body (axum would say 422 and name it in prose only).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = HttpError;

    async fn from_request(request: Request, state: &S) -> Result<Self, HttpError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(HttpError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json",
            ));
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|e| HttpError::new(e.status(), e.body_text()))?;
        let malformed = |e: serde_json::Error| {
            HttpError::new(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}"))
        };
        let mut reader = serde_json::Deserializer::from_slice(&body);
        let value = serde_path_to_error::deserialize(&mut reader).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                malformed(inner)
            } else if path == "." {
                HttpError::new(StatusCode::BAD_REQUEST, inner.to_string())
            } else {
                HttpError::bad_request(path, inner.to_string())
            }
        })?;
        reader.end().map_err(malformed)?;
        Ok(Json(value))
    }
}

/// 400 naming `name` when `value` holds a control character (a NUL must never silently
/// widen a filter).
pub fn refuse_control(name: &str, value: &str) -> Result<(), HttpError> {
    match value.chars().find(|c| c.is_control()) {
        Some(c) => Err(HttpError::bad_request(
            name,
            format!(
                "must not contain control characters (found U+{:04X})",
                u32::from(c)
            ),
        )),
        None => Ok(()),
    }
}

/// Middleware (`axum::middleware::from_fn(json_errors)`): an error answer that is not JSON
/// already becomes `{"error": ...}`, keeping its status and headers (`Allow`, ...).
pub async fn json_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    // axum's own rejections are short sentences; anything longer is not one of them.
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        format!(
            "{} ({method} {path})",
            status.canonical_reason().unwrap_or("error")
        )
    } else {
        text
    };
    let mut answer = HttpError::new(status, message).into_response();
    for name in parts.headers.keys() {
        if name == header::CONTENT_TYPE
            || name == header::CONTENT_LENGTH
            || answer.headers().contains_key(name)
        {
            continue;
        }
        for value in parts.headers.get_all(name) {
            answer.headers_mut().append(name.clone(), value.clone());
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use axum::Router;
    use serde::Deserialize;
    use serde_json::Value;
    use tower::ServiceExt;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Params {
        #[allow(dead_code)]
        q: Option<String>,
        #[allow(dead_code)]
        limit: Option<u32>,
    }

    async fn answer(uri: &str) -> (StatusCode, Value) {
        let app = Router::new()
            .route("/q", get(|Query(_): Query<Params>| async { "ok" }))
            .route("/p/{id}", get(|Path(id): Path<String>| async move { id }))
            .layer(axum::middleware::from_fn(json_errors));
        let response = app
            .oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned())),
        )
    }

    #[tokio::test]
    async fn rejections_name_the_parameter_in_json() {
        let (status, body) = answer("/q?q=%00").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["path"], "q", "{body}");
        let (_, body) = answer("/q?limit=ten").await;
        assert_eq!(body["path"], "limit", "{body}");
        let (_, body) = answer("/q?colour=red").await;
        assert!(body["error"].as_str().unwrap().contains("colour"), "{body}");
        let (status, body) = answer("/p/%FF").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["path"], "id", "{body}");
        let (_, body) = answer("/p/a%01b").await;
        assert_eq!(body["path"], "id", "{body}");
        let (status, body) = answer("/p/fine").await;
        assert_eq!((status, body), (StatusCode::OK, Value::from("fine")));
    }
}
