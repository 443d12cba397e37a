//! Delivered events/s from one process to X-Ray on a private moto server (started through
//! scripts/servers/moto.sh on a free port): one run starts and finishes N/2 jobs (N events, N/2
//! segments) in a client whose only backend is xray, timed until `flush` returns.
//!
//! Run: `cargo bench -p wafermon --features xray --bench backend_xray`
//!
//! moto is a Python emulator: the figure measures this backend plus moto on the same two
//! cores, not what X-Ray itself would take.

#[path = "common/moto.rs"]
mod moto;

use std::time::{Duration, Instant};

use serde_json::json;
use wafermon::{Client, Config};

const EVENTS: u64 = 4_000;

fn run(endpoint: &str, spool: &std::path::Path, n: u64) -> Duration {
    let config = json!({
        "app": {"name": "bench", "site_id": "fab-b", "instance_id": "i-1"},
        "direct_backends": [{"type": "xray", "name": "xr", "endpoint": endpoint,
            "region": "eu-west-1", "access_key_id": "bench", "secret_access_key": "bench"}],
        "spool": {"path": spool.join(uuid::Uuid::now_v7().simple().to_string())},
        "batch": {"flush_interval": 0.05}
    });
    let client = Client::new(Config::from_value(config).unwrap()).unwrap();
    let started = Instant::now();
    for _ in 0..n / 2 {
        client.job("etch").start().unwrap().finish().unwrap();
    }
    client.flush(Duration::from_secs(600)).unwrap();
    let wall = started.elapsed();
    let stats = client.close(Duration::from_secs(10));
    assert_eq!(stats.backends[0].sent, n, "{stats:?}");
    wall
}

fn main() {
    let what = format!("events ({} segments)", EVENTS / 2);
    moto::delivered_per_second(
        "backend_xray",
        "put_trace_segments_moto",
        EVENTS,
        &what,
        run,
    );
}
