//! Reading events back from the services the backends write to (feature "read"): the query
//! every reader answers, and the tail they share. Each service's reader lives in its own
//! folder beside its writer (`filesystem/read.rs`, `s3/read.rs`, ...); the gateway adds the
//! cache, the deadline and the merge.

mod earliest;

use std::time::Instant;

use serde::Deserialize;
use serde_json::Value;

use crate::event::Timestamp;

pub use earliest::Earliest;

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

/// Read back what the backend of `kind` wrote, with its backend keys; None when its service
/// has no such reader in this build (the registry's `source` column says which do).
pub fn query(
    kind: &crate::config::BackendKind,
    q: &ExternalQuery,
) -> Option<Result<QueryOutcome, String>> {
    super::read_back(kind, q)
}

#[cfg(test)]
mod tests {
    use super::*;

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
