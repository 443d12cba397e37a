//! Delivered events/s to Elasticsearch/OpenSearch (`elk` backend) from one process: a
//! client emits N events of about 350 bytes from one thread, and a run is timed from the
//! first emit until `flush` returns, i.e. until the cluster has acknowledged every document.
//! Each run writes to a fresh index, checks that the cluster counts N documents (`_count`
//! after `_refresh`, outside the timed part) and deletes the index.
//!
//! The server is a private osmem-server (OpenSearch-compatible, in memory) on 127.0.0.1,
//! started by scripts/servers/osmem.sh on a free port and stopped at the end. Run:
//! `cargo bench -p wafermon --features elasticsearch --bench backend_elastic`

use wafermon_testkit::servers;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use serde_json::{json, Value};
use wafermon::{Client, Config, Kind, Level, NewEvent};

const EVENTS: u64 = 100_000;
const QUICK_EVENTS: u64 = 2_000;

fn sample_event(i: u64) -> NewEvent {
    NewEvent::new(Kind::Log, "wafer", format!("W-LOT4711-{:02}", i % 25))
        .key("LOT4711.03")
        .level(Level::Info)
        .message("etch endpoint detected after 41.7 s")
        .metric("endpoint_s", 41.7)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

fn documents(url: &str, index: &str) -> u64 {
    let agent = agent();
    let _ = agent
        .post(format!("{url}/{index}/_refresh"))
        .send_empty()
        .map(|mut r| r.body_mut().read_to_string());
    let answer: Value = agent
        .get(format!("{url}/{index}/_count"))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    answer["count"].as_u64().unwrap_or(0)
}

/// One timed run into a fresh index; returns the time from the first emit to the end of
/// `flush`, and whether every event was stored.
fn one_run(url: &str, events: u64, run: usize) -> (Duration, bool) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let index = format!("wm-bench-{}-{run}", std::process::id());
    let config = Config::from_value(json!({
        "app": {"name": "etch-ctl", "site_id": "fab1", "instance_id": "host-1"},
        "direct_backends": [{"type": "elk", "url": url, "index": index}],
        "spool": {"path": dir.path().join("spool")},
    }))
    .expect("bench configuration");
    let client = Client::new(config).expect("wafermon client");
    let sample: Vec<NewEvent> = (0..25).map(sample_event).collect();

    let start = Instant::now();
    for i in 0..events {
        client
            .emit(black_box(&sample[(i % 25) as usize]))
            .expect("emit");
    }
    let flushed = client.flush(Duration::from_secs(600));
    let wall = start.elapsed();
    let stats = client.close(Duration::from_secs(60));

    let stored = documents(url, &index);
    let sent = stats.backends[0].sent;
    let ok = flushed.is_ok() && stored == events && sent == events;
    println!(
        "run {run}: {events} events in {:.3} s = {:.0} events/s; sent {sent}, stored {stored}, failed {}{}",
        wall.as_secs_f64(),
        events as f64 / wall.as_secs_f64(),
        stats.backends[0].failed,
        if ok { "" } else { " MISMATCH" }
    );
    let _ = agent().delete(format!("{url}/{index}")).call();
    (wall, ok)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let bench_mode = has("--bench") && !has("--test");
    let events = if bench_mode { EVENTS } else { QUICK_EVENTS };
    let mut c = Criterion::default().without_plots().configure_from_args();
    let function = format!("elk_{}k_events", events / 1000);
    if has("--list") {
        c.benchmark_group("backend_elastic")
            .bench_function(&function, |b| b.iter(|| ()));
        c.final_summary();
        return;
    }

    // A private instance, stopped when the bench ends: osmem holds every document in memory.
    let dir = tempfile::tempdir().expect("temporary folder");
    let es = servers::PrivateServer::start("osmem", dir.path());
    let url = es.address.clone();
    println!("elk backend: {events} events of ~350 bytes from one thread to osmem-server at {url}");
    let mut run = 0;
    let (probe, ok) = one_run(&url, events, run);
    assert!(ok, "the probe run did not store every event");
    let mut group = c.benchmark_group("backend_elastic");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(probe.mul_f64(10.0))
        .throughput(Throughput::Elements(events));
    group.bench_function(&function, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                run += 1;
                let (wall, ok) = one_run(&url, events, run);
                assert!(ok, "run {run} did not store every event");
                total += wall;
            }
            total
        })
    });
    group.finish();
    c.final_summary();
}
