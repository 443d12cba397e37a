//! Query-string and body values shared by the read endpoints: times, windows, limits, text
//! filters, and the extractors whose rejections name the parameter.

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

/// Every text filter of an event filter set, named `prefix` + field (`filters.site`).
pub fn event_filters(prefix: &str, f: &crate::external::Filters) -> Result<(), ApiError> {
    for (name, value) in [
        ("site", &f.site),
        ("app", &f.app),
        ("kind", &f.kind),
        ("status", &f.status),
        ("entity_kind", &f.entity_kind),
        ("entity_id", &f.entity_id),
    ] {
        filter_text(&format!("{prefix}{name}"), value.as_deref())?;
    }
    Ok(())
}

/// An optional window: either bound may be absent, but when both are given `start` must be
/// before `end` (the rule of every route that takes a window).
pub fn window(
    start: &Option<String>,
    end: &Option<String>,
) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let start = optional_time("start", start)?;
    let end = optional_time("end", end)?;
    if let (Some(s), Some(e)) = (start, end) {
        if s >= e {
            return Err(ApiError::bad_request("start", "must be before end"));
        }
    }
    Ok((start, end))
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

/// The hosts' extractors: rejections are JSON errors naming the parameter, and query values
/// holding control characters are refused (a NUL must never widen a filter).
pub use wafermon_hostkit::extract::{Json, Path, Query};

/// Stored identifiers (site, app, entity kind, id, name, key, parent) are at most this many
/// characters; a text filter longer than that could never match.
pub const MAX_FILTER_CHARS: usize = wafermon::event::limits::MAX_IDENT;

/// A text filter named `name`: at most [`MAX_FILTER_CHARS`] characters, no control
/// characters (the query extractor refuses those already; JSON bodies come through here).
pub fn filter_text(name: &str, value: Option<&str>) -> Result<(), ApiError> {
    let Some(value) = value else {
        return Ok(());
    };
    wafermon_hostkit::extract::refuse_control(name, value)?;
    let chars = value.chars().count();
    if chars > MAX_FILTER_CHARS {
        return Err(ApiError::bad_request(
            name,
            format!("is {chars} characters long, the limit is {MAX_FILTER_CHARS}"),
        ));
    }
    Ok(())
}
