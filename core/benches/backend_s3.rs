//! Delivered events/s from one process to a real S3 server (a private SeaweedFS on
//! 127.0.0.1 in a temporary folder, started by scripts/servers/seaweedfs.sh, so the data of
//! the runs is gone afterwards and never fills the shared test instance): one run emits N events back to back into a client whose
//! only backend is s3, and is timed until `flush` returns with every event delivered (the
//! run checks the backend's `sent` count). Default batching (1,000 events or 1 MiB per
//! batch, so one PUT per 1,000 events); plain JSONL and gzip.
//!
//! Run: `cargo bench -p wafermon --features s3 --bench backend_s3`

use wafermon_testkit::servers;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use serde_json::json;
use wafermon::{Client, Config, Kind, NewEvent};

const EVENTS: u64 = 20_000;

fn run(endpoint: &str, compression: &str) -> Duration {
    let spool = tempfile::tempdir().unwrap();
    let config = json!({
        "app": {"name": "bench", "site_id": "fab-bench"},
        "direct_backends": [{
            "type": "s3", "name": "s3", "bucket": "wafermon", "endpoint": endpoint,
            "path_style": true, "prefix": format!("bench/{}", uuid::Uuid::now_v7()),
            "access_key_id": "any", "secret_access_key": "any", "compression": compression
        }],
        "spool": {"path": spool.path()}
    });
    let client = Client::new(Config::from_value(config).unwrap()).unwrap();
    let start = Instant::now();
    for i in 0..EVENTS {
        let event = NewEvent::new(Kind::Progress, "wafer", format!("W-LOT4711-{:02}", i % 25))
            .key("LOT4711.03")
            .progress((i % 100) as f64)
            .metric("chamber_pressure_pa", 2.5)
            .message("etch endpoint detected after 41.7 s");
        client.emit(&event).unwrap();
    }
    client.flush(Duration::from_secs(300)).expect("flushed");
    let elapsed = start.elapsed();
    let stats = client.close(Duration::from_secs(10));
    assert_eq!(stats.backends[0].sent, EVENTS, "{:?}", stats.backends[0]);
    elapsed
}

fn bench(c: &mut Criterion) {
    let data = tempfile::tempdir().unwrap();
    let seaweed = servers::PrivateServer::start("seaweedfs", data.path());
    let endpoint = seaweed.address.clone();
    let mut group = c.benchmark_group("backend_s3");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        // About one run per sample: each run writes ~8 MB (the instance holds 8 x 64 MB).
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(EVENTS));
    for compression in ["none", "gzip"] {
        group.bench_function(format!("deliver_{EVENTS}_{compression}"), |b| {
            b.iter_custom(|iters| (0..iters).map(|_| run(&endpoint, compression)).sum())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
