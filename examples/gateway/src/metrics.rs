//! `GET /metrics`: request counts and latencies per route, and what ingest did with events,
//! in the OpenMetrics text format through prometheus-client.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteOnly {
    pub route: String,
}

/// One partition of the consumed topic.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub topic: String,
    pub partition: i32,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RouteLabels, Counter>,
    pub latency: Family<RouteOnly, Histogram>,
    /// Events in well-formed ingest bodies.
    pub events_received: Counter,
    /// Events stored for the first time.
    pub events_stored: Counter,
    /// Valid events already stored (replays).
    pub events_duplicate: Counter,
    pub events_rejected: Counter,
    pub store_errors: Counter,
    pub stream_clients: Gauge,
    /// Messages after the store group's committed offset, per partition this gateway holds.
    pub kafka_lag: Family<PartitionLabels, Gauge>,
    /// Messages the store consumer polled (valid or not).
    pub kafka_consumed: Counter,
    /// Messages skipped because they do not decode or hold an invalid event.
    pub kafka_invalid: Counter,
    /// Events from Kafka stored for the first time.
    pub kafka_stored: Counter,
    /// Batches the store refused (not committed: consumed again).
    pub kafka_store_failures: Counter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("wafermon_gateway");
        let requests = Family::<RouteLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        // 0.5 ms .. ~16 s
        let latency = Family::<RouteOnly, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by route",
            latency.clone(),
        );
        let events_received = Counter::default();
        registry.register(
            "events_received",
            "Events in well-formed ingest bodies",
            events_received.clone(),
        );
        let events_stored = Counter::default();
        registry.register(
            "events_stored",
            "Events stored for the first time",
            events_stored.clone(),
        );
        let events_duplicate = Counter::default();
        registry.register(
            "events_duplicate",
            "Valid events that were already stored (replays)",
            events_duplicate.clone(),
        );
        let events_rejected = Counter::default();
        registry.register(
            "events_rejected",
            "Events rejected as invalid",
            events_rejected.clone(),
        );
        let store_errors = Counter::default();
        registry.register(
            "store_errors",
            "Store operations that failed",
            store_errors.clone(),
        );
        let stream_clients = Gauge::default();
        registry.register(
            "stream_clients",
            "Open /v1/stream connections",
            stream_clients.clone(),
        );
        let kafka_lag = Family::<PartitionLabels, Gauge>::default();
        registry.register(
            "kafka_lag",
            "Messages after the committed offset of the store group, per partition held",
            kafka_lag.clone(),
        );
        let kafka_consumed = Counter::default();
        registry.register(
            "kafka_messages_consumed",
            "Kafka messages the store consumer polled",
            kafka_consumed.clone(),
        );
        let kafka_invalid = Counter::default();
        registry.register(
            "kafka_messages_invalid",
            "Kafka messages skipped: not decodable or not a valid event",
            kafka_invalid.clone(),
        );
        let kafka_stored = Counter::default();
        registry.register(
            "kafka_events_stored",
            "Events from Kafka stored for the first time",
            kafka_stored.clone(),
        );
        let kafka_store_failures = Counter::default();
        registry.register(
            "kafka_store_failures",
            "Kafka batches the store refused, consumed again",
            kafka_store_failures.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            events_received,
            events_stored,
            events_duplicate,
            events_rejected,
            store_errors,
            stream_clients,
            kafka_lag,
            kafka_consumed,
            kafka_invalid,
            kafka_stored,
            kafka_store_failures,
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
