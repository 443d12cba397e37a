//! Query-string and body values shared by the read endpoints: times, limits, and turning
//! rejected extractors into errors that name the parameter.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use wafermon::event::Timestamp;

use super::ApiError;

/// Parse an RFC 3339 time given as `name`.
pub fn time(name: &str, text: &str) -> Result<i64, ApiError> {
    Timestamp::parse(text)
        .map(Timestamp::unix_micros)
        .map_err(|e| ApiError::bad_request(name, e))
}

pub fn optional_time(name: &str, text: &Option<String>) -> Result<Option<i64>, ApiError> {
    text.as_deref().map(|t| time(name, t)).transpose()
}

/// A time range with defaults: `end` = now, `start` = `end` - `default_span_micros`.
pub fn range(
    start: &Option<String>,
    end: &Option<String>,
    default_span_micros: i64,
) -> Result<(i64, i64), ApiError> {
    let end = optional_time("end", end)?.unwrap_or_else(|| Timestamp::now().unix_micros() + 1);
    let start = optional_time("start", start)?.unwrap_or(end - default_span_micros);
    if start >= end {
        return Err(ApiError::bad_request("start", "must be before end"));
    }
    Ok((start, end))
}

/// `limit` within [1, max], `default` when absent.
pub fn limit(value: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    match value {
        None => Ok(default),
        Some(0) => Err(ApiError::bad_request("limit", "must be at least 1")),
        Some(n) if n > max => Err(ApiError::bad_request(
            "limit",
            format!("must be at most {max}"),
        )),
        Some(n) => Ok(n),
    }
}

pub fn render_time(micros: i64) -> String {
    Timestamp::from_unix_micros(micros).to_string()
}

/// `Query<T>` whose rejection is our JSON error naming what was wrong.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e: QueryRejection| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("query string: {}", e.body_text()),
                )
            })
    }
}

/// `Json<T>` whose rejection is our JSON error; the message includes serde's field path.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::Json::<T>::from_request(request, state)
            .await
            .map(|j| Json(j.0))
            .map_err(|e: JsonRejection| {
                // axum answers 422 for well-formed JSON of the wrong shape (an unknown field,
                // a wrong type); the API documents 400 for every bad request body.
                let status = match e {
                    JsonRejection::JsonDataError(_) => StatusCode::BAD_REQUEST,
                    _ => e.status(),
                };
                ApiError::new(status, e.body_text())
            })
    }
}
