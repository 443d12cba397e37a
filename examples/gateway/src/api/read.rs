//! The read API over the managed store: entities (`/v1/jobs`, `/v1/jobs/{id}`) and
//! aggregates (`/v1/stats`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::params::{self, render_time, Query};
use super::{unavailable, ApiError, AppState};
use crate::store::{Cursor, JobFilter, JobState, StatsQuery};

const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;
const DEFAULT_EVENTS: u32 = 1000;
const MAX_EVENTS: u32 = 10_000;
const DAY_MICROS: i64 = 86_400_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsParams {
    site: Option<String>,
    app: Option<String>,
    status: Option<String>,
    kind: Option<String>,
    parent: Option<String>,
    q: Option<String>,
    start: Option<String>,
    end: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

pub async fn jobs(
    State(state): State<Arc<AppState>>,
    Query(p): Query<JobsParams>,
) -> Result<Json<Value>, ApiError> {
    if let Some(status) = &p.status {
        wafermon::event::Status::parse(status).map_err(|e| ApiError::bad_request("status", e))?;
    }
    let cursor = match &p.cursor {
        Some(text) => Some(
            Cursor::decode(text)
                .ok_or_else(|| ApiError::bad_request("cursor", "is not a cursor this API gave"))?,
        ),
        None => None,
    };
    let filter = JobFilter {
        site: p.site,
        app: p.app,
        status: p.status,
        entity_kind: p.kind,
        parent: p.parent,
        search: p.q.map(|q| q.trim().to_string()).filter(|q| !q.is_empty()),
        start: params::optional_time("start", &p.start)?,
        end: params::optional_time("end", &p.end)?,
        limit: params::limit(p.limit, DEFAULT_PAGE, MAX_PAGE)?,
        cursor,
    };
    let page = state
        .store
        .jobs(&filter)
        .await
        .map_err(|e| unavailable(&state, &e))?;
    Ok(Json(json!({
        "jobs": page.jobs.iter().map(job_json).collect::<Vec<_>>(),
        "next_cursor": page.next.map(|c| c.encode()),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobParams {
    site: Option<String>,
    events_limit: Option<u32>,
}

pub async fn job(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(p): Query<JobParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = params::limit(p.events_limit, DEFAULT_EVENTS, MAX_EVENTS)
        .map_err(|_| ApiError::bad_request("events_limit", format!("must be 1..={MAX_EVENTS}")))?;
    let mut found = state
        .store
        .job(&id, p.site.as_deref(), limit)
        .await
        .map_err(|e| unavailable(&state, &e))?;
    match found.len() {
        0 => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no entity with id '{id}'"),
        )),
        1 => {
            let detail = found.remove(0);
            let events: Vec<Value> = detail
                .events
                .iter()
                .filter_map(|e| serde_json::from_str(e).ok())
                .collect();
            Ok(Json(json!({
                "job": job_json(&detail.job),
                "subtree": detail.subtree.iter().map(job_json).collect::<Vec<_>>(),
                "events": events,
            })))
        }
        _ => {
            let sites: Vec<&str> = found.iter().map(|d| d.job.site.as_str()).collect();
            Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "entity id '{id}' exists at several sites ({}); pass ?site=",
                    sites.join(", ")
                ),
            ))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsParams {
    site: Option<String>,
    app: Option<String>,
    kind: Option<String>,
    start: Option<String>,
    end: Option<String>,
}

pub async fn stats(
    State(state): State<Arc<AppState>>,
    Query(p): Query<StatsParams>,
) -> Result<Json<Value>, ApiError> {
    let (start, end) = params::range(&p.start, &p.end, DAY_MICROS)?;
    let query = StatsQuery {
        site: p.site,
        app: p.app,
        entity_kind: p.kind,
        start,
        end,
    };
    let stats = state
        .store
        .stats(&query)
        .await
        .map_err(|e| unavailable(&state, &e))?;
    let rate = |succeeded: i64, ended: i64| (ended > 0).then(|| succeeded as f64 / ended as f64);
    let (mut ended, mut succeeded, mut failed, mut canceled) = (0, 0, 0, 0);
    let hours: Vec<Value> = stats
        .hours
        .iter()
        .map(|h| {
            ended += h.ended;
            succeeded += h.succeeded;
            failed += h.failed;
            canceled += h.canceled;
            json!({
                "app": h.app,
                "hour": render_time(h.hour),
                "ended": h.ended,
                "succeeded": h.succeeded,
                "failed": h.failed,
                "canceled": h.canceled,
                "success_rate": rate(h.succeeded, h.ended),
                "p50_duration_s": h.p50_duration_s,
                "p95_duration_s": h.p95_duration_s,
            })
        })
        .collect();
    Ok(Json(json!({
        "start": render_time(start),
        "end": render_time(end),
        "running": stats.running,
        "totals": {
            "ended": ended,
            "succeeded": succeeded,
            "failed": failed,
            "canceled": canceled,
            "success_rate": rate(succeeded, ended),
        },
        "hours": hours,
        "apps": stats.apps.iter().map(|a| json!({
            "app": a.app,
            "ended": a.ended,
            "succeeded": a.succeeded,
            "failed": a.failed,
            "canceled": a.canceled,
            "success_rate": rate(a.succeeded, a.ended),
            "p50_duration_s": a.p50_duration_s,
            "p95_duration_s": a.p95_duration_s,
            "mean_cpu_s": a.mean_cpu_s,
            "peak_rss_bytes": a.peak_rss_bytes,
        })).collect::<Vec<_>>(),
    })))
}

/// An entity as the API shows it.
pub fn job_json(job: &JobState) -> Value {
    let end = job.end.as_ref();
    json!({
        "site": job.site,
        "id": job.entity_id,
        "app": job.app,
        "kind": job.entity_kind,
        "name": job.name,
        "key": job.key,
        "parent": job.parent,
        "status": job.status().as_str(),
        "progress": job.shown_progress(),
        "started_at": job.started_at.map(render_time),
        "ended_at": job.ended_at().map(render_time),
        "duration_s": job.duration_s(),
        "cpu_s": end.and_then(|e| e.cpu_s),
        "max_rss_bytes": job.max_rss_bytes,
        "message": end.and_then(|e| e.message.clone()),
        "first_event_at": render_time(job.first_event_at),
        "last_event_at": render_time(job.last_event_at),
        "event_count": job.event_count,
    })
}
