//! External sources: monitoring data the gateway does not store but can read, by the name
//! given in its config. A request names a source; it never supplies an address or a path.

mod cache;

use std::sync::Arc;
use std::time::{Duration, Instant};

use wafermon::backends::{filesystem, zabbix};

pub use wafermon::backends::read::{ExternalQuery, Filters, QueryOutcome};

use crate::config::SourceConfig;

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

/// Read one source, uncached. The readers are synchronous (the core has no async runtime of
/// its own to lend), so each read takes a blocking thread.
async fn read(source: &SourceConfig, q: ExternalQuery) -> Result<QueryOutcome, String> {
    let source = source.clone();
    tokio::task::spawn_blocking(move || match &source {
        SourceConfig::Filesystem { path, .. } => filesystem::read::query(path, &q),
        SourceConfig::Zabbix { source, .. } => zabbix::read::query(source, &q),
        SourceConfig::Backend { kind, .. } => wafermon::backends::read::query(kind, &q)
            .unwrap_or_else(|| {
                Err(format!(
                    "the gateway cannot read sources of type '{}'",
                    kind.type_name()
                ))
            }),
    })
    .await
    .map_err(|e| format!("the query failed: {e}"))?
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
}
