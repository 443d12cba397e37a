//! The read API over the managed store: entities (`/v1/jobs`, `/v1/jobs/{id}`) and
//! aggregates (`/v1/stats`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::params::{self, filter_text, render_time, Path, Query};
use super::{unavailable, ApiError, AppState};
use crate::store::{Cursor, EndedJobs, JobFilter, JobState, StatsQuery};

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
    for (name, value) in [
        ("site", &p.site),
        ("app", &p.app),
        ("status", &p.status),
        ("kind", &p.kind),
        ("parent", &p.parent),
        ("q", &p.q),
    ] {
        filter_text(name, value.as_deref())?;
    }
    let (start, end) = params::window(&p.start, &p.end)?;
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
        start,
        end,
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
    filter_text("id", Some(&id))?;
    filter_text("site", p.site.as_deref())?;
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
    bucket_s: Option<u32>,
}

const HOUR_S: u32 = 3600;
const DAY_S: u32 = 86_400;
/// The smallest bucket: a week of one-minute buckets is about 10,000 per app.
const MIN_BUCKET_S: u32 = 60;

pub async fn stats(
    State(state): State<Arc<AppState>>,
    Query(p): Query<StatsParams>,
) -> Result<Json<Value>, ApiError> {
    for (name, value) in [("site", &p.site), ("app", &p.app), ("kind", &p.kind)] {
        filter_text(name, value.as_deref())?;
    }
    let (start, end) = params::range(&p.start, &p.end, DAY_MICROS)?;
    let bucket_s = p.bucket_s.unwrap_or(HOUR_S);
    if !(MIN_BUCKET_S..=DAY_S).contains(&bucket_s) || !DAY_S.is_multiple_of(bucket_s) {
        return Err(ApiError::bad_request(
            "bucket_s",
            format!("must divide a day ({DAY_S} s) and be at least {MIN_BUCKET_S} s, e.g. 60, 300, 600, 3600"),
        ));
    }
    let query = StatsQuery {
        site: p.site,
        app: p.app,
        entity_kind: p.kind,
        start,
        end,
        bucket_s,
    };
    let stats = state
        .store
        .stats(&query)
        .await
        .map_err(|e| unavailable(&state, &e))?;
    let mut totals = EndedJobs {
        count: 0,
        succeeded: 0,
        failed: 0,
        canceled: 0,
        p50_duration_s: None,
        p95_duration_s: None,
    };
    let hours: Vec<Value> = stats
        .hours
        .iter()
        .map(|h| {
            totals.count += h.jobs.count;
            totals.succeeded += h.jobs.succeeded;
            totals.failed += h.jobs.failed;
            totals.canceled += h.jobs.canceled;
            let mut row = ended_json(&h.jobs);
            row.insert("app".into(), json!(h.app));
            row.insert("hour".into(), json!(render_time(h.hour)));
            Value::Object(row)
        })
        .collect();
    let apps: Vec<Value> = stats
        .apps
        .iter()
        .map(|a| {
            let mut row = ended_json(&a.jobs);
            row.insert("app".into(), json!(a.app));
            row.insert("mean_cpu_s".into(), json!(a.mean_cpu_s));
            row.insert("peak_rss_bytes".into(), json!(a.peak_rss_bytes));
            Value::Object(row)
        })
        .collect();
    // Percentiles do not add up across hours; the totals carry counts only.
    let mut totals = ended_json(&totals);
    totals.remove("p50_duration_s");
    totals.remove("p95_duration_s");
    Ok(Json(json!({
        "start": render_time(start),
        "end": render_time(end),
        "running": stats.running,
        "bucket_s": bucket_s,
        "totals": totals,
        "hours": hours,
        "apps": apps,
    })))
}

/// Counts, success rate and duration percentiles of finished entities, as the API shows them.
fn ended_json(jobs: &EndedJobs) -> serde_json::Map<String, Value> {
    let rate = (jobs.count > 0).then(|| jobs.succeeded as f64 / jobs.count as f64);
    [
        ("ended", json!(jobs.count)),
        ("succeeded", json!(jobs.succeeded)),
        ("failed", json!(jobs.failed)),
        ("canceled", json!(jobs.canceled)),
        ("success_rate", json!(rate)),
        ("p50_duration_s", json!(jobs.p50_duration_s)),
        ("p95_duration_s", json!(jobs.p95_duration_s)),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect()
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
