//! Delivered events/s from one process to CloudWatch Logs on a private moto server (started
//! through scripts/servers/moto.sh on a free port): one run emits N log events into a client
//! whose only backend is cloudwatch (metrics off), and is timed until `flush` returns, that
//! is until moto has answered every PutLogEvents. Each run writes to a new log group.
//!
//! Run: `cargo bench -p wafermon --features cloudwatch --bench backend_cloudwatch`
//!
//! moto is a Python emulator: the figure measures this backend plus moto on the same two
//! cores, not what CloudWatch itself would take.

#[path = "common/moto.rs"]
mod moto;

use std::time::{Duration, Instant};

use serde_json::json;
use wafermon::{Client, Config, Kind, Level, NewEvent};

const EVENTS: u64 = 20_000;

fn run(endpoint: &str, spool: &std::path::Path, n: u64) -> Duration {
    let group = format!("/wafermon/bench/{}", uuid::Uuid::now_v7().simple());
    let config = json!({
        "app": {"name": "bench", "site_id": "fab-b", "instance_id": "i-1"},
        "direct_backends": [{"type": "cloudwatch", "name": "cw", "endpoint": endpoint,
            "region": "eu-west-1", "access_key_id": "bench", "secret_access_key": "bench",
            "log_group": group, "namespace": null}],
        "spool": {"path": spool.join(group[1..].replace('/', "-"))},
        "batch": {"flush_interval": 0.05}
    });
    let client = Client::new(Config::from_value(config).unwrap()).unwrap();
    let event = NewEvent::new(Kind::Log, "wafer", "W-LOT4711-07")
        .key("LOT4711.03")
        .level(Level::Info)
        .message("etch endpoint detected after 41.7 s");
    let started = Instant::now();
    for _ in 0..n {
        client.emit(&event).unwrap();
    }
    client.flush(Duration::from_secs(600)).unwrap();
    let wall = started.elapsed();
    let stats = client.close(Duration::from_secs(10));
    assert_eq!(stats.backends[0].sent, n, "{stats:?}");
    wall
}

fn main() {
    moto::delivered_per_second(
        "backend_cloudwatch",
        "put_log_events_moto",
        EVENTS,
        "events",
        run,
    );
}
