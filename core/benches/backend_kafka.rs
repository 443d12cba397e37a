//! Delivered events/s from one process to Apache Kafka 4.4 (a private broker of
//! scripts/servers/kafka.sh in a temporary folder, deleted at the end: a run writes several
//! GB): each sample emits EVENTS log events into a client whose only
//! backend is kafka (acks=all, idempotent, JSON values keyed by the lot), and is timed until
//! `flush` returns, i.e. until the broker acknowledged every message. One row per batch
//! size: the lane waits for a batch's acknowledgements before it sends the next one.
//!
//! Run: `cargo bench -p wafermon --features kafka --bench backend_kafka`

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use serde_json::json;
use wafermon::{Client, Config, Kind, Level, NewEvent};
use wafermon_testkit::servers;

const EVENTS: u64 = 200_000;

fn bench(c: &mut Criterion, brokers: &str, max_events: u64, compression: &str) {
    let spool = tempfile::tempdir().unwrap();
    let topic = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let config = json!({
        "app": {"name": "bench", "site_id": "fab-b", "instance_id": "i-1"},
        "direct_backends": [{"type": "kafka", "name": "k", "brokers": brokers, "topic": topic,
                             "compression": compression}],
        "spool": {"path": spool.path()},
        "batch": {"max_events": max_events, "max_bytes": max_events * 200, "flush_interval": 0.05}
    });
    let client = Client::new(Config::from_value(config).unwrap()).unwrap();
    let event = NewEvent::new(Kind::Log, "wafer", "W-LOT4711-07")
        .key("LOT4711.03")
        .level(Level::Info)
        .message("etch endpoint detected after 41.7 s");
    let mut group = c.benchmark_group("backend_kafka");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(EVENTS));
    group.bench_function(format!("batch_{max_events}_{compression}"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for _ in 0..EVENTS {
                    client.emit(&event).unwrap();
                }
                client.flush(Duration::from_secs(300)).expect("flushed");
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
    let stats = client.close(Duration::from_secs(30));
    let backend = &stats.backends[0];
    assert_eq!((backend.failed, backend.retried), (0, 0), "{backend:?}");
    println!(
        "batch {max_events}, {compression}: sent {} events",
        backend.sent
    );
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let broker = servers::PrivateServer::start("kafka", &dir.path().join("kafka"));
    let brokers = broker.address.clone();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &brokers, 1_000, "none");
    bench(&mut c, &brokers, 10_000, "none");
    bench(&mut c, &brokers, 10_000, "lz4");
    bench(&mut c, &brokers, 50_000, "lz4");
    c.final_summary();
    drop(broker);
}
