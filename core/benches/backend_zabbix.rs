//! Delivered events/s to a real Zabbix server 6.0 (a private instance started here with
//! scripts/servers/zabbix.sh) from one process: each sample emits EVENTS progress events (two values each
//! with the default items: status and progress) into a client whose only backend is zabbix,
//! and is timed until `flush` returns, i.e. until the server answered every request.
//!
//! Run: `cargo bench -p wafermon --features zabbix --bench backend_zabbix`

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use serde_json::json;
use wafermon::{Client, Config, Kind, NewEvent};

const EVENTS: u64 = 20_000;

fn script(args: &[&str]) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/servers/zabbix.sh");
    let out = Command::new("bash")
        .arg(&script)
        .args(args)
        .output()
        .expect("run zabbix.sh");
    assert!(
        out.status.success(),
        "zabbix.sh {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout.lines().last().unwrap_or_default().trim().to_string()
}

/// A private Zabbix instance (its own database copy): the values a run leaves in the
/// server's history cache take minutes to reach PostgreSQL, and must not keep the shared
/// instance the tests use busy. Stopped by PID when dropped.
struct Private {
    port: String,
    address: String,
}

impl Private {
    fn start(dir: &std::path::Path) -> Private {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port()
            .to_string();
        let address = script(&["start", &port, &dir.to_string_lossy()]);
        Private { port, address }
    }

    fn port(&self) -> u16 {
        self.address
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .expect("port")
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        script(&["stop", &self.port]);
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let server = Private::start(&dir.path().join("server"));
    let port = server.port();
    let config = json!({
        "app": {"name": "bench", "site_id": "F1"},
        "direct_backends": [{"type": "zabbix", "server": "127.0.0.1", "port": port,
                             "host": "wafermon-test"}],
        "spool": {"path": dir.path().join("spool")},
        "batch": {"max_events": 5000}
    });
    let client = Client::new(Config::from_value(config).unwrap()).unwrap();
    let mut group = c.benchmark_group("zabbix");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(EVENTS));
    let mut n = 0u64;
    group.bench_function("delivered events", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for _ in 0..EVENTS {
                    n += 1;
                    let e =
                        NewEvent::new(Kind::Progress, "job", "bench").progress((n % 100) as f64);
                    client.emit(&e).unwrap();
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
    assert_eq!(backend.failed, 0, "{backend:?}");
    println!(
        "zabbix: sent {} events, failed {}, retried {}",
        backend.sent, backend.failed, backend.retried
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
