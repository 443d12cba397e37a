//! Delivered events/s of the loki backend from one process, against a real server:
//! VictoriaLogs through its Loki-compatible push endpoint (scripts/servers/victorialogs.sh;
//! not Loki itself, which no registry here has). One run emits N events of about 330 bytes
//! back to back from one thread and is timed until `client.flush` returns; the run checks
//! that the backend counted every event as sent, and the server's own count (LogsQL) is
//! compared once at the end.
//!
//! Run: `cargo bench -p wafermon --features loki --bench backend_loki`
//! (WAFERMON_BENCH_EVENTS overrides N, default 100,000.)

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use serde_json::json;
use wafermon::{Client, Config, Kind, Level, NewEvent, Timestamp};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/servers/victorialogs.sh")
}

/// A private VictoriaLogs on a free port, stopped when dropped.
struct Server {
    port: String,
    url: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port()
            .to_string();
        let dir = tempfile::tempdir().expect("temporary folder");
        let out = Command::new("bash")
            .arg(script())
            .args(["start", &port, &dir.path().to_string_lossy()])
            .output()
            .expect("run victorialogs.sh");
        assert!(
            out.status.success(),
            "victorialogs.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        Server {
            port,
            url,
            _dir: dir,
        }
    }

    /// The server's own count of the lines of `site`, once it has them all.
    fn count(&self, site: &str, want: u64) -> u64 {
        let agent: ureq::Agent = ureq::Agent::config_builder().proxy(None).build().into();
        let query = format!("{{site=\"{site}\"}} | stats count() n");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = agent
                .post(format!("{}/select/logsql/query", self.url))
                .send_form([("query", query.as_str())])
                .expect("LogsQL")
                .body_mut()
                .read_to_string()
                .expect("LogsQL answer");
            let n = serde_json::from_str::<serde_json::Value>(text.trim())
                .ok()
                .and_then(|v| v["n"].as_str().and_then(|n| n.parse().ok()))
                .unwrap_or(0);
            if n >= want || Instant::now() > deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &self.port])
            .output();
    }
}

fn sample_event() -> NewEvent {
    NewEvent::new(Kind::Log, "wafer", "W-LOT4711-07")
        .key("LOT4711.03")
        .level(Level::Info)
        .message("etch endpoint detected after 41.7 s")
}

/// One run into `site`: the time from the first emit until every event was delivered.
fn one_run(server: &Server, site: &str, events: u64) -> Duration {
    let dir = tempfile::tempdir().expect("temporary folder");
    let config = Config::from_value(json!({
        "app": {"name": "etch-ctl", "site_id": site, "instance_id": "host-1"},
        "direct_backends": [{"type": "loki", "url": server.url,
                             "endpoint": "/insert/loki/api/v1/push?disable_message_parsing=1"}],
        "spool": {"path": dir.path().join("spool")},
    }))
    .expect("bench configuration");
    let client = Client::new(config).expect("wafermon client");
    let event = sample_event();
    let start = Instant::now();
    for _ in 0..events {
        client.emit(black_box(&event)).expect("emit");
    }
    client
        .flush(Duration::from_secs(600))
        .expect("every event delivered");
    let wall = start.elapsed();
    let stats = client.close(Duration::from_secs(60));
    assert_eq!(stats.backends[0].sent, events, "{stats:?}");
    wall
}

fn bench(c: &mut Criterion) {
    let events: u64 = std::env::var("WAFERMON_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let server = Server::start();
    let site = format!("bench-{}", Timestamp::now().unix_micros());
    let mut runs = 0u64;

    let wall = one_run(&server, &site, events);
    runs += 1;
    println!(
        "loki -> VictoriaLogs: {events} events in {:.3} s = {:.0} delivered events/s",
        wall.as_secs_f64(),
        events as f64 / wall.as_secs_f64()
    );

    let mut group = c.benchmark_group("backend_loki");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.throughput(Throughput::Elements(events));
    group.bench_function("victorialogs_push", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += one_run(&server, &site, events);
                runs += 1;
            }
            total
        })
    });
    group.finish();

    let stored = server.count(&site, runs * events);
    println!(
        "VictoriaLogs holds {stored} lines of {} sent ({runs} runs)",
        runs * events
    );
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
}
