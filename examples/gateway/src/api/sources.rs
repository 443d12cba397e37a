//! External sources through the gateway: the list of configured sources, a query against one
//! of them by name, and the unified view (managed store + every source, merged by time,
//! tagged by source, deduplicated by event id).

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::params::{self, render_time, Json, Query};
use super::{unavailable, ApiError, AppState};
use crate::config::MANAGED_SOURCE;
use crate::external::{ExternalQuery, Filters};
use crate::store::EventRange;

const DEFAULT_LIMIT: u32 = 1000;
const MAX_LIMIT: u32 = 10_000;
const HOUR_MICROS: i64 = 3_600_000_000;

pub async fn list(State(state): State<Arc<AppState>>) -> axum::Json<Value> {
    let mut sources = vec![json!({"name": MANAGED_SOURCE, "type": state.store.info().engine})];
    sources.extend(
        state
            .sources
            .names()
            .map(|s| json!({"name": s.name(), "type": s.kind()})),
    );
    axum::Json(json!({ "sources": sources }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    start: String,
    end: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalRequest {
    source: String,
    time_range: TimeRange,
    #[serde(default)]
    filters: Filters,
    limit: Option<u32>,
}

pub async fn external(
    State(state): State<Arc<AppState>>,
    Json(request): Json<ExternalRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    params::event_filters("filters.", &request.filters)?;
    let source = state.sources.get(&request.source).ok_or_else(|| {
        let known: Vec<&str> = state.sources.names().map(|s| s.name()).collect();
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "source: no external source named '{}' (configured: {})",
                request.source,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        )
    })?;
    let start = params::time("time_range.start", &request.time_range.start)?;
    let end = params::time("time_range.end", &request.time_range.end)?;
    if start >= end {
        return Err(ApiError::bad_request(
            "time_range.start",
            "must be before time_range.end",
        ));
    }
    let limit = params::limit(request.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let query = ExternalQuery {
        start,
        end,
        filters: request.filters,
        limit: limit as usize,
        deadline: None,
    };
    let outcome = state.sources.query(source, query).await.map_err(|e| {
        eprintln!("wafermon-gateway: source {}: {e}", source.name());
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("source '{}' could not be read: {e}", source.name()),
        )
    })?;
    Ok(axum::Json(json!({
        "source": source.name(),
        "type": source.kind(),
        "events": outcome.events.iter().map(|e| &e.body).collect::<Vec<_>>(),
        "matched": outcome.matched,
        "truncated": outcome.truncated(limit),
        "incomplete": outcome.incomplete,
        "files_scanned": outcome.files_scanned,
        "skipped_lines": outcome.skipped_lines,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnifiedParams {
    site_id: Option<String>,
    start: Option<String>,
    end: Option<String>,
    limit: Option<u32>,
}

/// One event of the unified view, before rendering.
struct Tagged {
    time: i64,
    seq: u64,
    id: String,
    source: String,
    event: Value,
}

pub async fn unified(
    State(state): State<Arc<AppState>>,
    Query(p): Query<UnifiedParams>,
) -> Result<axum::Json<Value>, ApiError> {
    params::filter_text("site_id", p.site_id.as_deref())?;
    let (start, end) = params::range(&p.start, &p.end, HOUR_MICROS)?;
    let limit = params::limit(p.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    // One more than asked tells whether the managed store alone has more than `limit`.
    let managed = state
        .store
        .events(&EventRange {
            site: p.site_id.clone(),
            start,
            end,
            limit: limit + 1,
        })
        .await
        .map_err(|e| unavailable(&state, &e))?;
    let mut merged: Vec<Tagged> = Vec::with_capacity(managed.len());
    let mut truncated = managed.len() > limit as usize;
    for text in managed {
        if let Ok(event) = serde_json::from_str::<Value>(&text) {
            merged.push(tag(event, MANAGED_SOURCE));
        }
    }
    let mut report = vec![json!({"name": MANAGED_SOURCE, "ok": true})];
    // Each source returns at most `limit` of its earliest events, so the earliest `limit`
    // of the merge are all here.
    let (external_start, external_end) = if p.end.is_none() {
        state.sources.until_now_range(start, end, p.start.is_some())
    } else {
        (start, end)
    };
    let queries = state.sources.names().map(|source| {
        let query = ExternalQuery {
            start: external_start,
            end: external_end,
            filters: Filters {
                site: p.site_id.clone(),
                ..Filters::default()
            },
            limit: limit as usize,
            deadline: None,
        };
        let sources = &state.sources;
        async move { (source, sources.query(source, query).await) }
    });
    for (source, result) in futures_util::future::join_all(queries).await {
        match result {
            Ok(outcome) => {
                truncated |= outcome.truncated(limit);
                let mut entry =
                    json!({"name": source.name(), "ok": true, "matched": outcome.matched});
                if let Some(why) = &outcome.incomplete {
                    entry["incomplete"] = json!(why);
                }
                report.push(entry);
                merged.extend(outcome.events.iter().map(|e| Tagged {
                    time: e.time,
                    seq: e.seq,
                    id: e.id.clone(),
                    source: source.name().to_string(),
                    event: e.body.clone(),
                }));
            }
            // A broken source must not hide the others: report it and go on.
            Err(e) => report.push(json!({"name": source.name(), "ok": false, "error": e})),
        }
    }
    // Managed first among equals, so its copy is the one kept.
    merged.sort_by(|a, b| {
        (a.time, a.seq, &a.id, a.source != MANAGED_SOURCE).cmp(&(
            b.time,
            b.seq,
            &b.id,
            b.source != MANAGED_SOURCE,
        ))
    });
    let mut seen = HashSet::with_capacity(merged.len());
    let unique: Vec<Tagged> = merged
        .into_iter()
        .filter(|t| seen.insert(t.id.clone()))
        .collect();
    truncated |= unique.len() > limit as usize;
    let events: Vec<Value> = unique
        .into_iter()
        .take(limit as usize)
        .map(|t| json!({"source": t.source, "event": t.event}))
        .collect();
    Ok(axum::Json(json!({
        "start": render_time(start),
        "end": render_time(end),
        "events": events,
        "truncated": truncated,
        "sources": report,
    })))
}

fn tag(event: Value, source: &str) -> Tagged {
    Tagged {
        time: event_time(&event),
        seq: event.get("seq").and_then(Value::as_u64).unwrap_or(0),
        id: event_id(&event),
        source: source.to_string(),
        event,
    }
}

/// A stored event's time in microseconds (0 if it has none a reader can parse).
pub fn event_time(event: &Value) -> i64 {
    event
        .get("time")
        .and_then(Value::as_str)
        .and_then(|t| wafermon::event::Timestamp::parse(t).ok())
        .map_or(0, wafermon::event::Timestamp::unix_micros)
}

pub fn event_id(event: &Value) -> String {
    event
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}
