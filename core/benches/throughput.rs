//! Pipeline throughput to the filesystem backend: N = 2,000,000 events of about 320 bytes as
//! JSONL, emitted back to back from one thread into a client writing JSONL into a temporary
//! folder. One run is timed from the first emit until `client.flush(..)` returns; events/s
//! and MiB/s of JSONL written (sum of the file sizes) are printed for every run, and every
//! run checks that the number of lines written equals the number of events emitted.
//!
//! Run: `cargo bench -p wafermon --no-default-features --bench throughput`
//!
//! The client uses the default queue (64 MiB, on_full = spill) and spool settings. A first
//! run (printed plainly) sizes criterion's measurement; criterion then takes 10 samples of one
//! run each. If the emit loop of a run exceeds `WAFERMON_BENCH_BUDGET_SECS` (default 60 s) it
//! stops early, the run is reported as TRUNCATED with the events it did emit, and criterion
//! sampling is skipped. Nothing here asserts a timing.

mod common;

use std::hint::black_box;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::jsonl_lines_and_bytes;
use criterion::{Criterion, SamplingMode, Throughput};
use serde_json::json;
use wafermon::{Client, Config, Kind, Level, NewEvent, Stats};

const EVENTS: u64 = 2_000_000;
const QUICK_EVENTS: u64 = 20_000;
const CHECK_EVERY: u64 = 4096;

fn sample_event() -> NewEvent {
    NewEvent::new(Kind::Log, "wafer", "W-LOT4711-07")
        .key("LOT4711.03")
        .level(Level::Info)
        .message("etch endpoint detected after 41.7 s")
}

struct RunResult {
    wanted: u64,
    emitted: u64,
    wall: Duration,
    flush_ok: bool,
    lines: u64,
    bytes: u64,
    stats: Stats,
}

impl RunResult {
    fn events_per_s(&self) -> f64 {
        self.emitted as f64 / self.wall.as_secs_f64()
    }

    fn mib_per_s(&self) -> f64 {
        self.bytes as f64 / (1024.0 * 1024.0) / self.wall.as_secs_f64()
    }

    fn truncated(&self) -> bool {
        self.emitted < self.wanted
    }

    fn line(&self, label: &str) -> String {
        format!(
            "{label:<8} {:>9} events in {:>8.3} s = {:>10.0} events/s, {:>7.1} MiB/s of JSONL ({} bytes, {:.0} B/line); lines {} {} emitted {}: {}; dropped {}, spilled {}, backend spooled {}{}{}",
            self.emitted,
            self.wall.as_secs_f64(),
            self.events_per_s(),
            self.mib_per_s(),
            self.bytes,
            if self.lines > 0 { self.bytes as f64 / self.lines as f64 } else { 0.0 },
            self.lines,
            if self.lines == self.emitted { "==" } else { "!=" },
            self.emitted,
            if self.lines == self.emitted { "OK" } else { "MISMATCH" },
            self.stats.dropped,
            self.stats.spilled,
            self.stats.backends.iter().map(|b| b.spooled).sum::<u64>(),
            if self.flush_ok { "" } else { "; FLUSH FAILED" },
            if self.truncated() {
                format!("; TRUNCATED: budget hit after {} of {} events", self.emitted, self.wanted)
            } else {
                String::new()
            },
        )
    }
}

/// One run: a fresh client in a fresh folder; the clock runs from the first emit until
/// `flush` returns.
fn one_run(events: u64, budget: Duration, on_full: &str) -> RunResult {
    let dir = tempfile::tempdir().expect("temporary folder");
    let config = Config::from_value(json!({
        "app": {"name": "etch-ctl", "site_id": "fab1", "instance_id": "host-1"},
        "direct_backends": [{"type": "filesystem", "path": dir.path().join("data")}],
        "spool": {"path": dir.path().join("spool")},
        "queue": {"on_full": on_full},
    }))
    .expect("bench configuration");
    let client = Client::new(config).expect("wafermon client");
    let event = sample_event();

    let start = Instant::now();
    let deadline = start + budget;
    let mut emitted = 0u64;
    while emitted < events {
        let n = (events - emitted).min(CHECK_EVERY);
        for _ in 0..n {
            client.emit(black_box(&event)).expect("emit");
        }
        emitted += n;
        if emitted < events && Instant::now() >= deadline {
            break;
        }
    }
    let flush = client.flush(Duration::from_secs(600));
    let wall = start.elapsed();
    if let Err(e) = &flush {
        eprintln!("flush: {e}");
    }

    let stats = client.close(Duration::from_secs(600));
    let (lines, bytes) = jsonl_lines_and_bytes(&dir.path().join("data"));
    RunResult {
        wanted: events,
        emitted,
        wall,
        flush_ok: flush.is_ok(),
        lines,
        bytes,
        stats,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let listing = has("--list");
    let bench_mode = has("--bench") && !has("--test");
    let events = if bench_mode { EVENTS } else { QUICK_EVENTS };
    let budget = std::env::var("WAFERMON_BENCH_BUDGET_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(60));

    let function = format!("wafermon_{}k_events", events / 1000);
    let mut c = Criterion::default().without_plots().configure_from_args();
    if listing {
        c.benchmark_group("throughput_fs_jsonl")
            .bench_function(&function, |b| b.iter(|| ()));
        c.final_summary();
        return;
    }

    println!("filesystem JSONL throughput: {events} events of ~320 bytes from one thread, default queue (64 MiB, on_full = spill)");
    let probe = one_run(events, budget, "spill");
    println!("{}", probe.line("probe"));

    let results: Mutex<Vec<RunResult>> = Mutex::new(Vec::new());
    if probe.truncated() {
        println!(
            "criterion sampling SKIPPED: one run of {events} events would take longer than the {:?} budget (set WAFERMON_BENCH_BUDGET_SECS to allow it)",
            budget
        );
    } else {
        let mut group = c.benchmark_group("throughput_fs_jsonl");
        group
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .warm_up_time(Duration::from_millis(1))
            .measurement_time(probe.wall.mul_f64(10.0))
            .nresamples(10_000)
            .throughput(Throughput::ElementsAndBytes {
                elements: events,
                bytes: probe.bytes,
            });
        group.bench_function(&function, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let r = one_run(events, budget, "spill");
                    total += r.wall;
                    let n = results.lock().map(|v| v.len()).unwrap_or(0) + 1;
                    println!("{}", r.line(&format!("run {n}")));
                    if let Ok(mut v) = results.lock() {
                        v.push(r);
                    }
                }
                total
            })
        });
        group.finish();
    }
    c.final_summary();

    let mut runs = results.into_inner().unwrap_or_default();
    runs.insert(0, probe);
    let mut rates: Vec<f64> = runs.iter().map(RunResult::events_per_s).collect();
    let mut mibs: Vec<f64> = runs.iter().map(RunResult::mib_per_s).collect();
    rates.sort_by(f64::total_cmp);
    mibs.sort_by(f64::total_cmp);
    let median = |v: &[f64]| v[v.len() / 2];
    let all_lines_ok = runs.iter().all(|r| r.lines == r.emitted);
    let any_truncated = runs.iter().any(RunResult::truncated);
    let dropped: u64 = runs.iter().map(|r| r.stats.dropped).sum();
    let spilled: u64 = runs.iter().map(|r| r.stats.spilled).sum();
    println!();
    println!("==================================================================================");
    println!(
        "throughput summary over {} runs (probe included)",
        runs.len()
    );
    println!(
        "events/s: median {:.0}, min {:.0}, max {:.0}",
        median(&rates),
        rates[0],
        rates[rates.len() - 1]
    );
    println!(
        "MiB/s of JSONL: median {:.1}, min {:.1}, max {:.1}",
        median(&mibs),
        mibs[0],
        mibs[mibs.len() - 1]
    );
    println!(
        "lines written == events emitted in every run: {}",
        if all_lines_ok { "yes" } else { "NO" }
    );
    println!("dropped (all runs): {dropped}, spilled (all runs): {spilled}");
    if any_truncated {
        println!("TRUNCATED runs present: the emit loop hit the {budget:?} budget");
    }
    println!("==================================================================================");

    // Diagnostic only (not the headline): the same run with on_full = block, where emit waits
    // for room instead of spilling, shows how fast the pipeline itself drains to files.
    let blocking = one_run(events, budget, "block");
    println!("diagnostic, queue.on_full = block (emit waits for room instead of spilling):");
    println!("{}", blocking.line("block"));
}
