//! `GET /v1/sources/compare`: one time window read from the managed store and from every
//! external source, side by side: events per time bucket for each source, the events only
//! one source holds (by event id), and whether each source could be read.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::params::{self, render_time, Query};
use super::sources::{event_id, event_time};
use super::{unavailable, ApiError, AppState};
use crate::config::MANAGED_SOURCE;
use crate::external::{ExternalQuery, Filters};
use crate::store::EventRange;

const HOUR_MICROS: i64 = 3_600_000_000;
/// Events read per source; a window holding more is compared on its earliest events only.
const MAX_EVENTS: u32 = 10_000;
const DEFAULT_BUCKETS: u32 = 30;
const MAX_BUCKETS: u32 = 500;
/// Events shown per source among those it alone holds; the count covers them all.
const ONLY_SAMPLE: usize = 25;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareParams {
    start: Option<String>,
    end: Option<String>,
    site: Option<String>,
    app: Option<String>,
    buckets: Option<u32>,
}

/// What one source gave for the window.
struct Read {
    name: String,
    kind: String,
    /// (time in micros, event id, event)
    events: Vec<(i64, String, Value)>,
    truncated: bool,
    error: Option<String>,
    incomplete: Option<String>,
    millis: u128,
}

pub async fn compare(
    State(state): State<Arc<AppState>>,
    Query(p): Query<CompareParams>,
) -> Result<Json<Value>, ApiError> {
    params::filter_text("site", p.site.as_deref())?;
    params::filter_text("app", p.app.as_deref())?;
    let (start, end) = params::range(&p.start, &p.end, HOUR_MICROS)?;
    let buckets = match p.buckets {
        None => DEFAULT_BUCKETS,
        Some(n) if (1..=MAX_BUCKETS).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::bad_request(
                "buckets",
                format!("must be 1..={MAX_BUCKETS}"),
            ))
        }
    };
    // Every source sees exactly this window (no stepping to the cache's TTL as the unified
    // view does): what was just written must not look missing from one source.
    let filters = Filters {
        site: p.site.clone(),
        app: p.app.clone(),
        ..Filters::default()
    };
    let mut reads = vec![read_managed(&state, &filters, start, end).await?];
    let external = state.sources.names().map(|source| {
        let query = ExternalQuery {
            start,
            end,
            filters: filters.clone(),
            limit: MAX_EVENTS as usize,
            deadline: None,
        };
        let sources = &state.sources;
        async move {
            let began = Instant::now();
            let result = sources.query(source, query).await;
            let millis = began.elapsed().as_millis();
            let mut read = Read {
                name: source.name().to_string(),
                kind: source.kind().to_string(),
                events: Vec::new(),
                truncated: false,
                error: None,
                incomplete: None,
                millis,
            };
            match result {
                Ok(outcome) => {
                    read.truncated = outcome.truncated(MAX_EVENTS);
                    read.incomplete = outcome.incomplete.clone();
                    read.events = outcome
                        .events
                        .iter()
                        .map(|e| (e.time, e.id.clone(), e.body.clone()))
                        .collect();
                }
                Err(e) => read.error = Some(e),
            }
            read
        }
    });
    reads.extend(futures_util::future::join_all(external).await);
    Ok(Json(render(&reads, start, end, buckets)))
}

async fn read_managed(
    state: &AppState,
    filters: &Filters,
    start: i64,
    end: i64,
) -> Result<Read, ApiError> {
    let began = Instant::now();
    let stored = state
        .store
        .events(&EventRange {
            site: filters.site.clone(),
            start,
            end,
            limit: MAX_EVENTS + 1,
        })
        .await
        .map_err(|e| unavailable(state, &e))?;
    let truncated = stored.len() > MAX_EVENTS as usize;
    let events = stored
        .iter()
        .take(MAX_EVENTS as usize)
        .filter_map(|text| serde_json::from_str::<Value>(text).ok())
        .filter(|event| filters.matches(event))
        .map(|event| (event_time(&event), event_id(&event), event))
        .collect();
    Ok(Read {
        name: MANAGED_SOURCE.to_string(),
        kind: state.store.info().engine.to_string(),
        events,
        truncated,
        error: None,
        incomplete: None,
        millis: began.elapsed().as_millis(),
    })
}

fn render(reads: &[Read], start: i64, end: i64, buckets: u32) -> Value {
    let width = (end - start).div_euclid(i64::from(buckets)).max(1);
    let bucket_count = usize::try_from((end - start + width - 1) / width).unwrap_or(1);
    let bucket_starts: Vec<String> = (0..bucket_count)
        .map(|i| render_time(start + width * i as i64))
        .collect();
    // Which readable sources hold each id; a source that failed proves nothing either way.
    let mut holders: HashMap<&str, u32> = HashMap::new();
    for read in reads.iter().filter(|r| r.error.is_none()) {
        for (_, id, _) in &read.events {
            *holders.entry(id.as_str()).or_default() += 1;
        }
    }
    let readable = reads.iter().filter(|r| r.error.is_none()).count();
    let sources: Vec<Value> = reads
        .iter()
        .map(|read| {
            let mut counts = vec![0u64; bucket_count];
            for (time, _, _) in &read.events {
                let i = usize::try_from((time - start) / width).unwrap_or(0);
                counts[i.min(bucket_count - 1)] += 1;
            }
            let only: Vec<&Value> = if readable > 1 {
                read.events
                    .iter()
                    .filter(|(_, id, _)| holders.get(id.as_str()) == Some(&1))
                    .map(|(_, _, event)| event)
                    .collect()
            } else {
                Vec::new()
            };
            json!({
                "name": read.name,
                "type": read.kind,
                "ok": read.error.is_none(),
                "error": read.error,
                "incomplete": read.incomplete,
                "truncated": read.truncated,
                "read_ms": read.millis,
                "total": read.events.len(),
                "counts": counts,
                "only_here": only.len(),
                "only_here_sample": only.into_iter().take(ONLY_SAMPLE).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "start": render_time(start),
        "end": render_time(end),
        "bucket_s": width as f64 / 1e6,
        "buckets": bucket_starts,
        "sources": sources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, events: &[(i64, &str)]) -> Read {
        Read {
            name: name.into(),
            kind: "test".into(),
            events: events
                .iter()
                .map(|(t, id)| (*t, id.to_string(), json!({"id": id})))
                .collect(),
            truncated: false,
            error: None,
            incomplete: None,
            millis: 0,
        }
    }

    #[test]
    fn counts_fall_in_their_buckets_and_ids_held_by_one_source_are_named() {
        let managed = read("managed", &[(0, "a"), (5, "b"), (9, "c")]);
        let files = read("files", &[(0, "a"), (9, "c"), (9, "d")]);
        let out = render(&[managed, files], 0, 10, 2);
        assert_eq!(out["buckets"].as_array().unwrap().len(), 2);
        assert_eq!(out["sources"][0]["counts"], json!([1, 2]));
        assert_eq!(out["sources"][1]["counts"], json!([1, 2]));
        assert_eq!(out["sources"][0]["only_here"], 1);
        assert_eq!(out["sources"][0]["only_here_sample"][0]["id"], "b");
        assert_eq!(out["sources"][1]["only_here_sample"][0]["id"], "d");
    }

    #[test]
    fn a_failed_source_makes_no_event_unique_elsewhere() {
        let managed = read("managed", &[(0, "a")]);
        let mut broken = read("files", &[]);
        broken.error = Some("connection refused".into());
        let out = render(&[managed, broken], 0, 10, 1);
        assert_eq!(out["sources"][0]["only_here"], 0);
        assert_eq!(out["sources"][1]["ok"], false);
        assert_eq!(out["sources"][1]["error"], "connection refused");
    }
}
