//! Delivered events/s from one process to RabbitMQ 3.10 (the shared broker of
//! scripts/servers/rabbitmq.sh): each sample emits EVENTS log events into a client whose only
//! backend is rabbitmq (persistent messages, publisher confirms, into a topic exchange with
//! one durable queue bound, declared by the bench with lapin), and is timed until `flush`
//! returns, i.e. until the broker confirmed every message. The queue is purged between
//! samples, outside the timing.
//!
//! Run: `cargo bench -p wafermon --features rabbitmq --bench backend_rabbitmq`

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use lapin::options::{
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use serde_json::json;
use wafermon::{Client, Config, Kind, Level, NewEvent};
use wafermon_testkit::servers;

const EVENTS: u64 = 50_000;

/// The exchange, and a durable queue bound to it for `key`, declared with lapin (a client of
/// the bench's own); returns what purges the queue.
fn declare(url: &str, name: &str, key: &str) -> impl Fn() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let channel = runtime.block_on(async {
        let connection = Connection::connect(url, ConnectionProperties::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        channel
            .exchange_declare(
                name.into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await
            .unwrap();
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(name.into(), durable, FieldTable::default())
            .await
            .unwrap();
        channel
            .queue_bind(
                name.into(),
                name.into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        std::mem::forget(connection);
        channel
    });
    let name = name.to_string();
    move || {
        runtime
            .block_on(channel.queue_purge(name.as_str().into(), QueuePurgeOptions::default()))
            .unwrap();
    }
}

fn main() {
    let url = servers::server("rabbitmq");
    let name = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let spool = tempfile::tempdir().unwrap();
    let config = json!({
        "app": {"name": "bench", "site_id": "fab-b", "instance_id": "i-1"},
        "direct_backends": [{"type": "rabbitmq", "name": "r", "url": url, "exchange": name,
                             "routing_key": "events"}],
        "spool": {"path": spool.path()},
        "batch": {"max_events": 10_000, "flush_interval": 0.05}
    });
    let client = Client::new(Config::from_value(config).unwrap()).unwrap();
    let purge = declare(&url, &name, "events");
    let event = NewEvent::new(Kind::Log, "wafer", "W-LOT4711-07")
        .key("LOT4711.03")
        .level(Level::Info)
        .message("etch endpoint detected after 41.7 s");
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("backend_rabbitmq");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(EVENTS));
    group.bench_function("confirmed_persistent_messages", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for _ in 0..EVENTS {
                    client.emit(&event).unwrap();
                }
                client.flush(Duration::from_secs(300)).expect("flushed");
                total += start.elapsed();
                purge();
            }
            total
        })
    });
    group.finish();
    let stats = client.close(Duration::from_secs(30));
    let backend = &stats.backends[0];
    assert_eq!((backend.failed, backend.retried), (0, 0), "{backend:?}");
    println!("rabbitmq: sent {} events", backend.sent);
    c.final_summary();
}
