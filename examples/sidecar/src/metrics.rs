//! `GET /metrics`: the sidecar's own request counters and the core's per-backend counters,
//! in the OpenMetrics text format (which Prometheus scrapes), through prometheus-client.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The content type of the text this module renders.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Events seen by the ingest endpoints.
#[derive(Default)]
pub struct IngestCounters {
    /// Events in well-formed request bodies (valid or not).
    pub received: AtomicU64,
    /// Events acknowledged (durable in the spool).
    pub accepted: AtomicU64,
    /// Events rejected as invalid.
    pub rejected: AtomicU64,
}

type Labels = Vec<(String, String)>;

/// A metric name, its help text, and how to read it from one backend's counters.
type BackendMetric = (
    &'static str,
    &'static str,
    fn(&wafermon::BackendStats) -> u64,
);

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

/// Render the current values. The core's counters are absolute, so each scrape builds a fresh
/// registry from one `stats()` snapshot.
pub fn render(ingest: &IngestCounters, stats: &wafermon::Stats) -> String {
    let mut registry = Registry::with_prefix("wafermon_sidecar");
    counter(
        &mut registry,
        "events_received",
        "Events received in well-formed request bodies",
        ingest.received.load(Ordering::Relaxed),
    );
    counter(
        &mut registry,
        "events_accepted",
        "Events acknowledged after they were durable in the spool",
        ingest.accepted.load(Ordering::Relaxed),
    );
    counter(
        &mut registry,
        "events_rejected",
        "Events rejected as invalid",
        ingest.rejected.load(Ordering::Relaxed),
    );
    let depth = Gauge::<i64>::default();
    depth.set(i64::try_from(stats.pending()).unwrap_or(i64::MAX));
    registry.register(
        "spool_depth",
        "Events accepted and not yet delivered, failed or dropped",
        depth,
    );

    let counters: [BackendMetric; 5] = [
        (
            "backend_events_sent",
            "Events delivered to the backend",
            |b| b.sent,
        ),
        (
            "backend_events_retried",
            "Delivery attempts that failed transiently and were retried",
            |b| b.retried,
        ),
        (
            "backend_events_spooled",
            "Events written to the backend's spool because it was slow or down",
            |b| b.spooled,
        ),
        (
            "backend_events_dropped",
            "Events lost to the spool's size cap or a broken spool",
            |b| b.dropped,
        ),
        (
            "backend_events_failed",
            "Events the backend rejected permanently",
            |b| b.failed,
        ),
    ];
    for (name, help, get) in counters {
        let family = Family::<Labels, Counter<u64>>::default();
        for b in &stats.backends {
            family.get_or_create(&labels(b)).inc_by(get(b));
        }
        registry.register(name, help, family);
    }
    let gauges: [BackendMetric; 2] = [
        (
            "backend_events_queued",
            "Events routed to the backend and not yet settled",
            |b| b.queued,
        ),
        (
            "backend_healthy",
            "1 while the backend answers, 0 after a transient failure",
            |b| u64::from(b.healthy),
        ),
    ];
    for (name, help, get) in gauges {
        let family = Family::<Labels, Gauge<i64>>::default();
        for b in &stats.backends {
            family
                .get_or_create(&labels(b))
                .set(i64::try_from(get(b)).unwrap_or(i64::MAX));
        }
        registry.register(name, help, family);
    }

    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}

fn labels(b: &wafermon::BackendStats) -> Labels {
    vec![("backend".to_string(), b.name.clone())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_backend_labels() {
        let ingest = IngestCounters::default();
        ingest.received.store(3, Ordering::Relaxed);
        ingest.accepted.store(2, Ordering::Relaxed);
        ingest.rejected.store(1, Ordering::Relaxed);
        let stats = wafermon::Stats {
            backends: vec![wafermon::BackendStats {
                name: "fs".into(),
                kind: "filesystem".into(),
                queued: 4,
                sent: 5,
                retried: 0,
                spooled: 0,
                dropped: 0,
                failed: 0,
                corrupt: 0,
                healthy: true,
                last_error: None,
            }],
            ..Default::default()
        };
        let text = render(&ingest, &stats);
        assert!(
            text.contains("wafermon_sidecar_events_received_total 3\n"),
            "{text}"
        );
        assert!(
            text.contains("wafermon_sidecar_events_rejected_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("wafermon_sidecar_backend_events_sent_total{backend=\"fs\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains("wafermon_sidecar_backend_events_queued{backend=\"fs\"} 4\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
