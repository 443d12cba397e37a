//! External sources: monitoring data the gateway does not store but can read, by the name
//! given in its config. A request names a source; it never supplies an address or a path.

mod cache;
mod cloudwatch;
mod earliest;
mod elastic;
mod filesystem;
mod loki;
mod s3;
pub mod zabbix;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use wafermon::config::BackendKind;
use wafermon::event::Timestamp;

use crate::config::SourceConfig;

/// Equality filters on event fields; absent means any.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    pub site: Option<String>,
    pub app: Option<String>,
    pub kind: Option<String>,
    pub status: Option<String>,
    pub entity_kind: Option<String>,
    pub entity_id: Option<String>,
}

impl Filters {
    pub fn matches(&self, event: &Value) -> bool {
        let field = |path: &[&str]| {
            path.iter()
                .try_fold(event, |v, key| v.get(key))
                .and_then(Value::as_str)
        };
        let checks: [(&Option<String>, &[&str]); 6] = [
            (&self.site, &["site"]),
            (&self.app, &["app", "name"]),
            (&self.kind, &["kind"]),
            (&self.status, &["status"]),
            (&self.entity_kind, &["entity", "kind"]),
            (&self.entity_id, &["entity", "id"]),
        ];
        checks
            .iter()
            .all(|(want, path)| want.as_deref().is_none_or(|w| field(path) == Some(w)))
    }
}

/// Events in [start, end) (micros), the earliest `limit` of them.
#[derive(Debug, Clone)]
pub struct ExternalQuery {
    pub start: i64,
    pub end: i64,
    pub filters: Filters,
    pub limit: usize,
    /// When the gateway stops waiting for this read. Readers that page check it between
    /// pages, so a read the gateway gave up on stops instead of going on in the background.
    pub deadline: Option<Instant>,
}

#[derive(Debug, Clone)]
pub struct ExternalEvent {
    pub time: i64,
    pub seq: u64,
    pub id: String,
    pub body: Value,
}

impl ExternalQuery {
    /// Whether an event read from a source answers this query: inside [start, end) and
    /// through the filters. Sources filter coarsely (by day, hour, millisecond or label), so
    /// readers check every event again.
    pub fn admits(&self, event: &ExternalEvent) -> bool {
        event.time >= self.start && event.time < self.end && self.filters.matches(&event.body)
    }

    /// Err once the gateway no longer waits for this read: called between pages.
    pub fn check_deadline(&self, read_so_far: &str) -> Result<(), String> {
        match self.deadline {
            Some(at) if Instant::now() >= at => Err(format!(
                "stopped at the gateway's limit for one source, after {read_so_far}"
            )),
            _ => Ok(()),
        }
    }
}

impl ExternalEvent {
    /// A JSON line as the core writes it (the filesystem, S3 and Loki backends); None for a
    /// line that is not one, which readers count as skipped.
    pub fn from_json_line(line: &[u8]) -> Option<ExternalEvent> {
        let body: Value = serde_json::from_slice(line).ok()?;
        let time = Timestamp::parse(body.get("time")?.as_str()?)
            .ok()?
            .unix_micros();
        let id = body.get("id")?.as_str()?.to_string();
        let seq = body.get("seq").and_then(Value::as_u64).unwrap_or(0);
        Some(ExternalEvent {
            time,
            seq,
            id,
            body,
        })
    }
}

#[derive(Debug, Default)]
pub struct QueryOutcome {
    /// Oldest first.
    pub events: Vec<ExternalEvent>,
    /// Matches before the limit was applied.
    pub matched: u64,
    pub files_scanned: u64,
    pub skipped_lines: u64,
    /// Why the reader stopped before the source ran out (a cap on what one read may scan):
    /// then more may match than `matched` says, and the answer is marked truncated.
    pub incomplete: Option<String>,
}

impl QueryOutcome {
    /// Whether more matches exist than the answer holds.
    pub fn truncated(&self, limit: u32) -> bool {
        self.matched > u64::from(limit) || self.incomplete.is_some()
    }
}

/// The configured sources, with a short-lived cache of their answers so that dashboards
/// refreshing the same view do not hammer the fab's monitoring systems.
pub struct Sources {
    configs: Vec<SourceConfig>,
    cache: cache::Cache,
    /// A source that has not answered by then is reported as failed, so the unified view
    /// still answers with the others inside the request timeout.
    timeout: Duration,
}

impl Sources {
    pub fn new(
        configs: Vec<SourceConfig>,
        cache_ttl: Duration,
        cache_entries: usize,
        timeout: Duration,
    ) -> Self {
        Sources {
            configs,
            cache: cache::Cache::new(cache_ttl, cache_entries),
            timeout,
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &SourceConfig> {
        self.configs.iter()
    }

    /// The range to ask the sources for when a view asks "until now": the end steps back to
    /// a multiple of the cache's TTL (and a defaulted start with it), so refreshes within one
    /// TTL share one read per source instead of each missing the cache by microseconds.
    /// Data newer than that step waits for the next one: no staler than a cache hit.
    pub fn until_now_range(&self, start: i64, end: i64, start_given: bool) -> (i64, i64) {
        let step = i64::try_from(self.cache.ttl().as_micros()).unwrap_or(i64::MAX);
        if step <= 0 {
            return (start, end);
        }
        let snapped = end - end.rem_euclid(step);
        let start = if start_given {
            start
        } else {
            start - (end - snapped)
        };
        if start >= snapped {
            return (start.min(end), end);
        }
        (start, snapped)
    }

    pub fn get(&self, name: &str) -> Option<&SourceConfig> {
        self.configs.iter().find(|c| c.name() == name)
    }

    /// One source's answer to a query: from the cache when a recent identical read is there,
    /// else read now, bounded by the sources' timeout.
    pub async fn query(
        &self,
        source: &SourceConfig,
        q: ExternalQuery,
    ) -> Result<Arc<QueryOutcome>, String> {
        let key = cache::Key::new(source.name(), &q);
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit);
        }
        let q = ExternalQuery {
            deadline: Some(Instant::now() + self.timeout),
            ..q
        };
        let outcome = tokio::time::timeout(self.timeout, read(source, q))
            .await
            .map_err(|_| {
                format!(
                    "no answer within {:.1} s (the gateway's limit for one source)",
                    self.timeout.as_secs_f64()
                )
            })??;
        let outcome = Arc::new(outcome);
        self.cache.put(key, outcome.clone());
        Ok(outcome)
    }
}

/// Read one source, uncached.
async fn read(source: &SourceConfig, q: ExternalQuery) -> Result<QueryOutcome, String> {
    match source {
        SourceConfig::Filesystem { path, .. } => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || filesystem::query(&path, &q))
                .await
                .map_err(|e| format!("the query failed: {e}"))?
        }
        SourceConfig::Zabbix { source, .. } => zabbix::query(source, &q).await,
        SourceConfig::Backend { kind, .. } => match kind {
            BackendKind::S3(c) => s3::query(c, &q).await,
            BackendKind::Elastic(c) => elastic::query(c, &q).await,
            BackendKind::Loki(c) => loki::query(c, &q).await,
            BackendKind::CloudWatch(c) => cloudwatch::query(c, &q).await,
            other => Err(format!(
                "the gateway cannot read sources of type '{}'",
                other.type_name()
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(ttl_s: u64) -> Sources {
        Sources::new(
            Vec::new(),
            Duration::from_secs(ttl_s),
            8,
            Duration::from_secs(1),
        )
    }

    #[test]
    fn until_now_steps_back_to_the_cache_ttl() {
        let s = sources(5);
        let now = 1_000_003_700_000; // 3.7 s past a multiple of 5 s
        let hour = 3_600_000_000;
        assert_eq!(
            s.until_now_range(now - hour, now, false),
            (now - 3_700_000 - hour, now - 3_700_000)
        );
        // An explicit start stays; one inside the last step keeps the exact end.
        assert_eq!(s.until_now_range(7, now, true), (7, now - 3_700_000));
        assert_eq!(s.until_now_range(now - 10, now, true), (now - 10, now));
        // No cache, no stepping.
        assert_eq!(sources(0).until_now_range(5, now, false), (5, now));
    }

    #[test]
    fn a_read_past_its_deadline_stops_with_what_it_had_read() {
        let mut q = ExternalQuery {
            start: 0,
            end: 1,
            filters: Filters::default(),
            limit: 1,
            deadline: None,
        };
        assert!(q.check_deadline("3 pages").is_ok());
        q.deadline = Some(Instant::now());
        let error = q.check_deadline("3 pages").unwrap_err();
        assert!(error.contains("after 3 pages"), "{error}");
    }
}
