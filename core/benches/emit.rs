//! Cost of one emit on the calling thread: wafermon (`Client::emit`, `Job::progress`) side by
//! side with OpenTelemetry Rust 0.33 (a log record with 4 attributes through the SDK's batch
//! log processor into a no-op exporter), in one run, on the same machine.
//!
//! Run: `cargo bench -p wafermon --no-default-features --bench emit`
//!
//! Variants (criterion group = variant, function = system):
//! - `*_burst`: bursts of 1,000 calls while the consumer is idle; the pipeline is flushed
//!   between bursts, outside the timed region.
//! - `*_sustained`: back-to-back calls while the pipeline drains on the other core.
//! - `1t` / `2t`: one thread, or two threads emitting concurrently into the same client or
//!   provider (each thread times its own calls; the figure is the per-call cost per thread).
//!
//! After criterion, the bench times 1,000,000 individual calls per row (minus the measured
//! cost of an empty timer pair) and prints p50/p99, counts the emitting thread's heap
//! allocations with a counting global allocator, prints the criterion medians, wafermon's
//! `stats()` (dropped must be 0; spilled is reported) and how many records the OpenTelemetry
//! batch processor dropped (records emitted minus records its exporter received after a
//! forced flush; the SDK has no public counter for it).
//!
//! wafermon runs with the default `queue.on_full = "spill"`: dropping would hide cost. When
//! the pipeline cannot keep up, a sustained run can become very slow; every sustained phase
//! therefore has a wall-clock budget (`WAFERMON_BENCH_BUDGET_SECS`, default 20 s). A phase
//! that hits it stops early and says so: criterion figures of such a phase are extrapolated
//! from the calls made (marked TRUNCATED), percentile rows say how many calls they cover.
//! A sustained wafermon run is bimodal (cheap while the queue has room, one spool append with
//! fdatasync per call while it spills); criterion's small samples weight the slow periods by
//! time, so the summary also gives "all timed": every timed call's time over their number.
//! Nothing here asserts a timing.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::jsonl_lines_and_bytes;
use criterion::{Criterion, SamplingMode};
use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{
    BatchConfigBuilder, BatchLogProcessor, LogBatch, LogExporter, SdkLogger, SdkLoggerProvider,
};
use serde_json::json;
use wafermon::{Client, Config, Job, Kind, Level, NewEvent};

// ---------------------------------------------------------------------------------------------
// Counting allocator: per-thread counts for the thread that asks for them, and (only while a
// measurement window is open) the process-wide net heap growth.

struct CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Process-wide net bytes (allocated - freed), counted only while `WINDOW_OPEN`.
static WINDOW_OPEN: AtomicBool = AtomicBool::new(false);
static WINDOW_NET_BYTES: AtomicI64 = AtomicI64::new(0);

#[derive(Clone, Copy, Default)]
struct ThreadCounts {
    tracking: bool,
    allocs: u64,
    alloc_bytes: u64,
    frees: u64,
    freed_bytes: u64,
}

thread_local! {
    static COUNTS: Cell<ThreadCounts> = const {
        Cell::new(ThreadCounts { tracking: false, allocs: 0, alloc_bytes: 0, frees: 0, freed_bytes: 0 })
    };
}

fn note_alloc(size: usize) {
    if WINDOW_OPEN.load(Ordering::Relaxed) {
        WINDOW_NET_BYTES.fetch_add(size as i64, Ordering::Relaxed);
    }
    let _ = COUNTS.try_with(|c| {
        let mut v = c.get();
        if v.tracking {
            v.allocs += 1;
            v.alloc_bytes += size as u64;
            c.set(v);
        }
    });
}

fn note_free(size: usize) {
    if WINDOW_OPEN.load(Ordering::Relaxed) {
        WINDOW_NET_BYTES.fetch_sub(size as i64, Ordering::Relaxed);
    }
    let _ = COUNTS.try_with(|c| {
        let mut v = c.get();
        if v.tracking {
            v.frees += 1;
            v.freed_bytes += size as u64;
            c.set(v);
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the bookkeeping neither
// allocates nor touches the returned memory.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            note_alloc(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            note_alloc(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        note_free(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // A realloc counts as one allocation of the new size and one free of the old.
            note_free(layout.size());
            note_alloc(new_size);
        }
        p
    }
}

fn set_tracking(on: bool) {
    COUNTS.with(|c| {
        let mut v = c.get();
        v.tracking = on;
        c.set(v);
    });
}

fn thread_counts() -> ThreadCounts {
    COUNTS.with(|c| c.get())
}

// ---------------------------------------------------------------------------------------------
// Run mode, filter and budget.

#[derive(Clone, Copy, PartialEq, Eq)]
enum RunMode {
    /// `cargo bench`: full sizes.
    Bench,
    /// `cargo test --benches` / `-- --test`: tiny sizes, just prove it works.
    Quick,
    /// `--list`, `--profile-time`: criterion only.
    CriterionOnly,
}

struct Settings {
    mode: RunMode,
    filter: Option<String>,
    budget: Duration,
    /// Calls per percentile / allocation row.
    calls: u64,
    burst: u64,
}

impl Settings {
    fn from_env_and_args() -> Settings {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let has = |flag: &str| args.iter().any(|a| a == flag);
        let mode = if has("--list") || args.iter().any(|a| a.starts_with("--profile-time")) {
            RunMode::CriterionOnly
        } else if has("--bench") && !has("--test") {
            RunMode::Bench
        } else {
            RunMode::Quick
        };
        // The first positional argument is criterion's filter; apply it to our phases too.
        let mut filter = None;
        let mut skip_next = false;
        for a in &args {
            if skip_next {
                skip_next = false;
                continue;
            }
            if a.starts_with("--") {
                // Options of criterion that take a value as the next argument.
                skip_next = !a.contains('=')
                    && matches!(
                        a.as_str(),
                        "--save-baseline"
                            | "--baseline"
                            | "--load-baseline"
                            | "--sample-size"
                            | "--warm-up-time"
                            | "--measurement-time"
                            | "--nresamples"
                            | "--noise-threshold"
                            | "--confidence-level"
                            | "--significance-level"
                            | "--plotting-backend"
                            | "--output-format"
                            | "--format"
                            | "--color"
                            | "--profile-time"
                    );
                continue;
            }
            if a.starts_with('-') {
                continue;
            }
            filter = Some(a.clone());
            break;
        }
        let budget = std::env::var("WAFERMON_BENCH_BUDGET_SECS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| *s > 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(Duration::from_secs(20));
        let (calls, burst) = match mode {
            RunMode::Bench => (1_000_000, 1_000),
            _ => (20_000, 1_000),
        };
        Settings {
            mode,
            filter,
            budget,
            calls,
            burst,
        }
    }

    fn wants(&self, id: &str) -> bool {
        self.filter.as_ref().is_none_or(|f| id.contains(f.as_str()))
    }
}

/// A wall-clock budget for one phase. Loops check it every `CHECK_EVERY` calls.
struct Budget {
    deadline: Instant,
    hit: AtomicBool,
}

const CHECK_EVERY: u64 = 1024;

impl Budget {
    fn new(limit: Duration) -> Budget {
        Budget {
            deadline: Instant::now() + limit,
            hit: AtomicBool::new(false),
        }
    }

    fn expired(&self) -> bool {
        if Instant::now() >= self.deadline {
            self.hit.store(true, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    fn was_hit(&self) -> bool {
        self.hit.load(Ordering::Relaxed)
    }
}

/// Calls criterion timed in one phase and their summed (unscaled) time, for the
/// call-weighted mean per call.
#[derive(Default)]
struct Timed {
    calls: AtomicU64,
    nanos: AtomicU64,
}

impl Timed {
    fn add(&self, calls: u64, elapsed: Duration) {
        self.calls.fetch_add(calls, Ordering::Relaxed);
        self.nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    fn mean_ns(&self) -> f64 {
        self.nanos.load(Ordering::Relaxed) as f64 / self.calls.load(Ordering::Relaxed).max(1) as f64
    }
}

/// Run `f` `iters` times back to back; returns the elapsed time and the number of calls made.
/// If `budget` runs out first, stops early (the budget records that it was hit).
fn timed_loop(iters: u64, budget: Option<&Budget>, mut f: impl FnMut()) -> (Duration, u64) {
    let start = Instant::now();
    let mut done = 0;
    while done < iters {
        let n = (iters - done).min(CHECK_EVERY);
        for _ in 0..n {
            f();
        }
        done += n;
        if done < iters && budget.is_some_and(Budget::expired) {
            break;
        }
    }
    (start.elapsed(), done)
}

/// The time `iters` calls would take at the rate of the `done` calls that took `elapsed`
/// (only used once a budget was hit; such figures are reported as TRUNCATED).
fn scaled(elapsed: Duration, done: u64, iters: u64) -> Duration {
    if done >= iters || done == 0 {
        return elapsed;
    }
    Duration::try_from_secs_f64(elapsed.as_secs_f64() * iters as f64 / done as f64)
        .unwrap_or(Duration::MAX)
}

// ---------------------------------------------------------------------------------------------
// Two persistent emitting threads, so that thread-local state (wafermon's shard buffers,
// OpenTelemetry's context) lives as long as in a real application.

type Task = Arc<dyn Fn(usize, u64) -> Duration + Send + Sync>;

struct Duo {
    senders: Vec<mpsc::Sender<(Task, u64)>>,
    results: mpsc::Receiver<(usize, Duration)>,
    handles: Vec<JoinHandle<()>>,
}

impl Duo {
    fn new() -> Duo {
        let start = Arc::new(Barrier::new(2));
        let (result_tx, results) = mpsc::channel();
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for idx in 0..2 {
            let (tx, rx) = mpsc::channel::<(Task, u64)>();
            let start = start.clone();
            let result_tx = result_tx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("bench-emitter-{idx}"))
                .spawn(move || {
                    for (task, iters) in rx {
                        start.wait();
                        let d = task(idx, iters);
                        if result_tx.send((idx, d)).is_err() {
                            return;
                        }
                    }
                })
                .expect("spawn an emitting thread");
            senders.push(tx);
            handles.push(handle);
        }
        Duo {
            senders,
            results,
            handles,
        }
    }

    /// Run `task(thread_index, iters)` on both threads at once; their own timings.
    fn run(&self, task: &Task, iters: u64) -> [Duration; 2] {
        for s in &self.senders {
            s.send((task.clone(), iters)).expect("emitting thread gone");
        }
        let mut out = [Duration::ZERO; 2];
        for _ in 0..2 {
            let (i, d) = self.results.recv().expect("emitting thread gone");
            out[i] = d;
        }
        out
    }

    /// Per-thread time, averaged over the two threads.
    fn run_mean(&self, task: &Task, iters: u64) -> Duration {
        let [a, b] = self.run(task, iters);
        (a + b) / 2
    }
}

impl Drop for Duo {
    fn drop(&mut self) {
        self.senders.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The systems under test.

/// What both systems emit: entity kind, entity id, business key and message (4 strings);
/// about 320 bytes as a JSONL line once the core has added id, seq, time, site and app.
const ENTITY_KIND: &str = "wafer";
const ENTITY_ID: &str = "W-LOT4711-07";
const ENTITY_KEY: &str = "LOT4711.03";
const MESSAGE: &str = "etch endpoint detected after 41.7 s";

fn sample_event() -> NewEvent {
    NewEvent::new(Kind::Log, ENTITY_KIND, ENTITY_ID)
        .key(ENTITY_KEY)
        .level(Level::Info)
        .message(MESSAGE)
}

/// A wafermon client writing JSONL into its own temporary folder, with the default queue
/// (64 MiB, on_full = spill) and spool settings.
struct Wafermon {
    client: Client,
    dir: tempfile::TempDir,
}

impl Wafermon {
    fn new() -> Wafermon {
        let dir = tempfile::tempdir().expect("temporary folder");
        let config = Config::from_value(json!({
            "app": {"name": "etch-ctl", "site_id": "fab1", "instance_id": "host-1"},
            "direct_backends": [{"type": "filesystem", "path": dir.path().join("data")}],
            "spool": {"path": dir.path().join("spool")},
        }))
        .expect("bench configuration");
        let client = Client::new(config).expect("wafermon client");
        Wafermon { client, dir }
    }

    fn flush(&self) {
        if let Err(e) = self.client.flush(Duration::from_secs(300)) {
            eprintln!("wafermon flush: {e}");
        }
    }

    /// Deliver everything, close, and report what happened to the events.
    fn finish(self, id: &str, calls: u64, report: &Report) {
        self.flush();
        let stats = self.client.close(Duration::from_secs(300));
        let (lines, bytes) = jsonl_lines_and_bytes(&self.dir.path().join("data"));
        let sent: u64 = stats.backends.iter().map(|b| b.sent).sum();
        let spooled: u64 = stats.backends.iter().map(|b| b.spooled).sum();
        report.wafermon_stats.lock().expect("report").push(format!(
            "{id:<46} | {calls:>11} | {:>11} | {:>7} | {:>9} | {:>9} | {:>11} | {:>11} | {:>6.0}",
            stats.emitted,
            stats.dropped,
            stats.spilled,
            spooled,
            sent,
            lines,
            if lines > 0 {
                bytes as f64 / lines as f64
            } else {
                0.0
            },
        ));
        drop(self.dir);
    }
}

/// An exporter that does nothing but count what it receives.
#[derive(Debug, Clone)]
struct NoopExporter {
    received: Arc<AtomicU64>,
}

impl LogExporter for NoopExporter {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        self.received
            .fetch_add(batch.iter().count() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// OpenTelemetry logs with the SDK's batch log processor at its default settings (queue
/// 2,048, export batch 512, delay 1 s) and the no-op exporter.
struct Otel {
    provider: SdkLoggerProvider,
    logger: SdkLogger,
    received: Arc<AtomicU64>,
}

impl Otel {
    fn new() -> Otel {
        let received = Arc::new(AtomicU64::new(0));
        let exporter = NoopExporter {
            received: received.clone(),
        };
        let processor = BatchLogProcessor::builder(exporter)
            .with_batch_config(BatchConfigBuilder::default().build())
            .build();
        let provider = SdkLoggerProvider::builder()
            .with_log_processor(processor)
            .build();
        let logger = provider.logger("wafermon-bench");
        Otel {
            provider,
            logger,
            received,
        }
    }

    fn flush(&self) {
        if let Err(e) = self.provider.force_flush() {
            eprintln!("opentelemetry force_flush: {e:?}");
        }
    }

    /// Flush, shut down and report emitted vs received.
    fn finish(self, id: &str, calls: u64, report: &Report) {
        self.flush();
        if let Err(e) = self.provider.shutdown() {
            eprintln!("opentelemetry shutdown: {e:?}");
        }
        let received = self.received.load(Ordering::Relaxed);
        let dropped = calls.saturating_sub(received);
        report.otel_drops.lock().expect("report").push(format!(
            "{id:<46} | {calls:>11} | {received:>11} | {dropped:>11} | {:>6.2} %",
            if calls > 0 {
                dropped as f64 * 100.0 / calls as f64
            } else {
                0.0
            }
        ));
    }
}

/// One OpenTelemetry log record: severity, body and 4 attributes carrying the same strings as
/// the wafermon event, through the Logger API.
#[inline]
fn otel_emit(logger: &SdkLogger) {
    let mut record = logger.create_log_record();
    record.set_severity_number(Severity::Info);
    record.set_severity_text("INFO");
    record.set_body(MESSAGE.into());
    record.add_attribute("entity.kind", ENTITY_KIND);
    record.add_attribute("entity.id", ENTITY_ID);
    record.add_attribute("entity.key", ENTITY_KEY);
    record.add_attribute("event.kind", "log");
    logger.emit(record);
}

#[inline]
fn wafermon_emit(client: &Client, event: &NewEvent) {
    client.emit(black_box(event)).expect("emit");
}

#[inline]
fn wafermon_progress(job: &Job) {
    job.progress(black_box(42.5)).expect("progress");
}

// ---------------------------------------------------------------------------------------------
// Results gathered across phases, printed at the end.

#[derive(Default)]
struct Report {
    /// criterion ids that ran in this process, and whether their budget was hit.
    criterion_ids: Mutex<Vec<(String, bool, f64)>>,
    latency_rows: Mutex<Vec<LatencyRow>>,
    alloc_rows: Mutex<Vec<String>>,
    wafermon_stats: Mutex<Vec<String>>,
    otel_drops: Mutex<Vec<String>>,
    timer_overhead_ns: Mutex<Option<(u64, u64)>>,
}

struct LatencyRow {
    operation: String,
    threads: usize,
    calls: u64,
    wanted: u64,
    p50: u64,
    p90: u64,
    p99: u64,
    p999: u64,
    max: u64,
    mean: f64,
}

/// Which operation a phase times.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    WafermonEmit,
    WafermonProgress,
    OtelEmit,
}

impl Op {
    fn label(self) -> &'static str {
        match self {
            Op::WafermonEmit => "wafermon emit",
            Op::WafermonProgress => "wafermon job.progress",
            Op::OtelEmit => "otel log emit",
        }
    }

    fn function_id(self) -> &'static str {
        match self {
            Op::WafermonEmit => "wafermon",
            Op::WafermonProgress => "wafermon_job_progress",
            Op::OtelEmit => "otel",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Load {
    Burst,
    Sustained,
}

impl Load {
    fn label(self) -> &'static str {
        match self {
            Load::Burst => "burst",
            Load::Sustained => "sustained",
        }
    }
}

/// The thing a phase emits into; created fresh for every phase so that each reports its own
/// counters.
enum Target {
    Wafermon {
        w: Wafermon,
        event: Arc<NewEvent>,
        jobs: Arc<Vec<Job>>,
    },
    Otel(Otel),
}

impl Target {
    fn new(op: Op) -> Target {
        match op {
            Op::OtelEmit => Target::Otel(Otel::new()),
            Op::WafermonEmit | Op::WafermonProgress => {
                let w = Wafermon::new();
                let jobs = if op == Op::WafermonProgress {
                    (0..2)
                        .map(|i| {
                            w.client
                                .job("etch")
                                .key(format!("LOT4711.0{i}"))
                                .start()
                                .expect("start job")
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                Target::Wafermon {
                    w,
                    event: Arc::new(sample_event()),
                    jobs: Arc::new(jobs),
                }
            }
        }
    }

    /// A closure doing one call of `op` as thread `idx`; cheap to clone into threads.
    fn caller(&self, op: Op, idx: usize) -> Caller {
        match self {
            Target::Wafermon { w, event, jobs } => match op {
                Op::WafermonProgress => Caller::Progress(jobs.clone(), idx),
                _ => Caller::Emit(w.client.clone(), event.clone()),
            },
            Target::Otel(o) => Caller::Otel(o.logger.clone()),
        }
    }

    fn flusher(&self) -> Flusher {
        match self {
            Target::Wafermon { w, .. } => Flusher::Wafermon(w.client.clone()),
            Target::Otel(o) => Flusher::Otel(o.provider.clone()),
        }
    }

    fn finish(self, id: &str, calls: u64, report: &Report) {
        match self {
            Target::Wafermon { w, jobs, .. } => {
                if let Ok(jobs) = Arc::try_unwrap(jobs) {
                    for job in jobs {
                        let _ = job.finish();
                    }
                }
                w.finish(id, calls, report)
            }
            Target::Otel(o) => o.finish(id, calls, report),
        }
    }
}

#[derive(Clone)]
enum Caller {
    Emit(Client, Arc<NewEvent>),
    Progress(Arc<Vec<Job>>, usize),
    Otel(SdkLogger),
}

impl Caller {
    #[inline]
    fn call(&self) {
        match self {
            Caller::Emit(client, event) => wafermon_emit(client, event),
            Caller::Progress(jobs, idx) => wafermon_progress(&jobs[*idx]),
            Caller::Otel(logger) => otel_emit(logger),
        }
    }
}

#[derive(Clone)]
enum Flusher {
    Wafermon(Client),
    Otel(SdkLoggerProvider),
}

impl Flusher {
    fn flush(&self) {
        match self {
            Flusher::Wafermon(c) => {
                if let Err(e) = c.flush(Duration::from_secs(300)) {
                    eprintln!("wafermon flush: {e}");
                }
            }
            Flusher::Otel(p) => {
                if let Err(e) = p.force_flush() {
                    eprintln!("opentelemetry force_flush: {e:?}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// criterion phases.

struct Variant {
    threads: usize,
    load: Load,
}

impl Variant {
    fn group(&self, op: Op) -> String {
        let base = if op == Op::WafermonProgress {
            "job_progress"
        } else {
            "emit"
        };
        format!("{base}_{}t_{}", self.threads, self.load.label())
    }
}

fn criterion_phase(
    c: &mut Criterion,
    settings: &Settings,
    report: &Report,
    duo: &Duo,
    op: Op,
    variant: &Variant,
) {
    let group_name = variant.group(op);
    let id = format!("{group_name}/{}", op.function_id());
    if !settings.wants(&id) {
        return;
    }
    let target = Target::new(op);
    // Every call made (prefill included), and the calls criterion timed with their time.
    let calls = Arc::new(AtomicU64::new(0));
    let timed = Arc::new(Timed::default());
    let budget = Arc::new(Budget::new(settings.budget));
    let burst = settings.burst;

    let mut group = c.benchmark_group(&group_name);
    group.sample_size(20).nresamples(20_000);
    match variant.load {
        Load::Burst => {
            group
                .warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_millis(1000));
        }
        Load::Sustained => {
            group
                .warm_up_time(Duration::from_millis(700))
                .measurement_time(Duration::from_millis(2000))
                .sampling_mode(SamplingMode::Flat);
        }
    }

    // Sustained: get into the steady state first (the queue filled to whatever level the
    // consumer keeps up with), so criterion's warm-up estimates the steady-state cost.
    if variant.load == Load::Sustained && settings.mode == RunMode::Bench {
        let prefill = Budget::new(Duration::from_millis(1500).min(settings.budget / 4));
        let callers: Vec<Caller> = (0..variant.threads).map(|i| target.caller(op, i)).collect();
        if variant.threads == 1 {
            let (_, n) = timed_loop(u64::MAX, Some(&prefill), || callers[0].call());
            calls.fetch_add(n, Ordering::Relaxed);
        } else {
            let callers = Arc::new(callers);
            let prefill = Arc::new(prefill);
            let counted = calls.clone();
            let task: Task = Arc::new(move |idx, _| {
                let (d, n) = timed_loop(u64::MAX, Some(&prefill), || callers[idx].call());
                counted.fetch_add(n, Ordering::Relaxed);
                d
            });
            duo.run(&task, 0);
        }
    }

    let function = op.function_id();
    match (variant.threads, variant.load) {
        (1, Load::Sustained) => {
            let caller = target.caller(op, 0);
            let budget = budget.clone();
            let calls = calls.clone();
            let timed = timed.clone();
            group.bench_function(function, move |b| {
                b.iter_custom(|iters| {
                    let (d, n) = timed_loop(iters, Some(&budget), || caller.call());
                    calls.fetch_add(n, Ordering::Relaxed);
                    timed.add(n, d);
                    scaled(d, n, iters)
                })
            });
        }
        (1, Load::Burst) => {
            let caller = target.caller(op, 0);
            let flusher = target.flusher();
            let calls = calls.clone();
            let timed = timed.clone();
            group.bench_function(function, move |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    let mut left = iters;
                    while left > 0 {
                        let n = left.min(burst);
                        let (d, _) = timed_loop(n, None, || caller.call());
                        total += d;
                        left -= n;
                        flusher.flush();
                    }
                    calls.fetch_add(iters, Ordering::Relaxed);
                    timed.add(iters, total);
                    total
                })
            });
        }
        (_, Load::Sustained) => {
            let callers: Arc<Vec<Caller>> =
                Arc::new((0..2).map(|i| target.caller(op, i)).collect());
            let budget = budget.clone();
            let counted = calls.clone();
            let timed = timed.clone();
            let task: Task = Arc::new(move |idx, iters| {
                let (d, n) = timed_loop(iters, Some(&budget), || callers[idx].call());
                counted.fetch_add(n, Ordering::Relaxed);
                timed.add(n, d);
                scaled(d, n, iters)
            });
            group.bench_function(function, move |b| {
                b.iter_custom(|iters| duo.run_mean(&task, iters))
            });
        }
        (_, Load::Burst) => {
            let callers: Arc<Vec<Caller>> =
                Arc::new((0..2).map(|i| target.caller(op, i)).collect());
            let flusher = target.flusher();
            let between = Arc::new(Barrier::new(2));
            let counted = calls.clone();
            let timed = timed.clone();
            let task: Task = Arc::new(move |idx, iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(burst);
                    between.wait();
                    let (d, _) = timed_loop(n, None, || callers[idx].call());
                    total += d;
                    left -= n;
                    between.wait();
                    if idx == 0 {
                        flusher.flush();
                    }
                }
                counted.fetch_add(iters, Ordering::Relaxed);
                timed.add(iters, total);
                total
            });
            group.bench_function(function, move |b| {
                b.iter_custom(|iters| duo.run_mean(&task, iters))
            });
        }
    }
    group.finish();

    let truncated = budget.was_hit();
    if truncated {
        eprintln!(
            "\nTRUNCATED: {id} hit its {:?} budget; its criterion figures are extrapolated from the calls made.",
            settings.budget
        );
    }
    report
        .criterion_ids
        .lock()
        .expect("report")
        .push((id.clone(), truncated, timed.mean_ns()));
    target.finish(&id, calls.load(Ordering::Relaxed), report);
}

// ---------------------------------------------------------------------------------------------
// Per-call latency (p50 / p99) and allocation phases.

/// Median and p99 of an empty timer pair, in ns.
fn timer_overhead() -> (u64, u64) {
    let mut samples = Vec::with_capacity(1_000_000);
    for _ in 0..1_000_000 {
        let t0 = Instant::now();
        let t1 = Instant::now();
        samples.push(t1.duration_since(t0).as_nanos() as u64);
    }
    samples.sort_unstable();
    (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}

/// How one thread times individual calls.
struct LatencyRun<'a> {
    caller: &'a Caller,
    flusher: &'a Flusher,
    load: Load,
    burst: u64,
    /// ns subtracted from every sample (the empty timer pair).
    overhead: u64,
    budget: &'a Budget,
    /// Two threads: meet before and after every burst.
    sync: Option<&'a Barrier>,
    /// Whether this thread flushes between bursts.
    flushes: bool,
}

impl LatencyRun<'_> {
    /// Time `calls` individual calls (in bursts with a flush between them, or back to back
    /// until the budget runs out) and append the samples.
    fn record(&self, calls: u64, samples: &mut Vec<u64>) {
        let mut done = 0u64;
        while done < calls {
            let n = match self.load {
                Load::Burst => self.burst.min(calls - done),
                Load::Sustained => CHECK_EVERY.min(calls - done),
            };
            if self.load == Load::Burst {
                if let Some(b) = self.sync {
                    b.wait();
                }
            }
            for _ in 0..n {
                let t0 = Instant::now();
                self.caller.call();
                let t1 = Instant::now();
                samples
                    .push((t1.duration_since(t0).as_nanos() as u64).saturating_sub(self.overhead));
            }
            done += n;
            match self.load {
                Load::Burst => {
                    if let Some(b) = self.sync {
                        b.wait();
                    }
                    if self.flushes {
                        self.flusher.flush();
                    }
                }
                Load::Sustained => {
                    if self.budget.expired() {
                        break;
                    }
                }
            }
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn latency_phase(
    settings: &Settings,
    report: &Report,
    duo: &Duo,
    op: Op,
    threads: usize,
    load: Load,
    overhead: u64,
) {
    let id = format!("latency/{}_{}t_{}", op.function_id(), threads, load.label());
    if !settings.wants(&id) {
        return;
    }
    let target = Target::new(op);
    let flusher = target.flusher();
    let calls = settings.calls;
    let burst = settings.burst;
    // Warm up the path (thread-local buffers, lazily built state) outside the window.
    let warm_calls = 10 * burst;
    let warm = Budget::new(settings.budget);
    let made: u64;
    let mut all: Vec<u64>;
    if threads == 1 {
        let caller = target.caller(op, 0);
        let budget = Budget::new(settings.budget);
        let warm_run = LatencyRun {
            caller: &caller,
            flusher: &flusher,
            load: Load::Burst,
            burst,
            overhead: 0,
            budget: &warm,
            sync: None,
            flushes: true,
        };
        let mut scratch = Vec::with_capacity(warm_calls as usize);
        warm_run.record(warm_calls, &mut scratch);
        flusher.flush();
        all = Vec::with_capacity(calls as usize);
        LatencyRun {
            load,
            overhead,
            budget: &budget,
            ..warm_run
        }
        .record(calls, &mut all);
        made = all.len() as u64 + warm_calls;
    } else {
        let callers: Arc<Vec<Caller>> = Arc::new((0..2).map(|i| target.caller(op, i)).collect());
        let per_thread: Arc<Vec<Mutex<Vec<u64>>>> = Arc::new(
            (0..2)
                .map(|_| Mutex::new(Vec::with_capacity(calls as usize)))
                .collect(),
        );
        let sync = Arc::new(Barrier::new(2));
        let budget = Arc::new(Budget::new(settings.budget));
        let warm = Arc::new(warm);
        {
            let (callers, per_thread, sync, flusher, budget, warm) = (
                callers.clone(),
                per_thread.clone(),
                sync.clone(),
                flusher.clone(),
                budget.clone(),
                warm.clone(),
            );
            let task: Task = Arc::new(move |idx, n| {
                let warm_run = LatencyRun {
                    caller: &callers[idx],
                    flusher: &flusher,
                    load: Load::Burst,
                    burst,
                    overhead: 0,
                    budget: &warm,
                    sync: Some(&sync),
                    flushes: idx == 0,
                };
                let mut scratch = Vec::with_capacity(warm_calls as usize);
                warm_run.record(warm_calls, &mut scratch);
                sync.wait();
                let mut samples = per_thread[idx].lock().expect("samples");
                let start = Instant::now();
                LatencyRun {
                    load,
                    overhead,
                    budget: &budget,
                    ..warm_run
                }
                .record(n, &mut samples);
                start.elapsed()
            });
            duo.run(&task, calls);
        }
        all = Vec::with_capacity(2 * calls as usize);
        for m in per_thread.iter() {
            all.extend_from_slice(&m.lock().expect("samples"));
        }
        made = all.len() as u64 + 2 * warm_calls;
    }
    all.sort_unstable();
    let mean = all.iter().sum::<u64>() as f64 / all.len().max(1) as f64;
    report
        .latency_rows
        .lock()
        .expect("report")
        .push(LatencyRow {
            operation: format!("{} ({})", op.label(), load.label()),
            threads,
            calls: all.len() as u64,
            wanted: calls * threads as u64,
            p50: percentile(&all, 0.50),
            p90: percentile(&all, 0.90),
            p99: percentile(&all, 0.99),
            p999: percentile(&all, 0.999),
            max: all.last().copied().unwrap_or(0),
            mean,
        });
    target.finish(&id, made, report);
}

/// Heap allocations made by the emitting thread over `calls` calls after a warm-up, and the
/// process-wide heap growth from before the calls to after a flush.
fn alloc_phase(settings: &Settings, report: &Report, op: Op, load: Load) {
    let id = format!("allocs/{}_1t_{}", op.function_id(), load.label());
    if !settings.wants(&id) {
        return;
    }
    let target = Target::new(op);
    let caller = target.caller(op, 0);
    let flusher = target.flusher();
    let burst = settings.burst;
    // Warm-up: 100 bursts (100,000 calls), then let everything settle.
    let warm_bursts = (settings.calls / burst / 10).max(1);
    for _ in 0..warm_bursts {
        for _ in 0..burst {
            caller.call();
        }
        flusher.flush();
    }
    flusher.flush();
    let budget = Budget::new(settings.budget);
    WINDOW_NET_BYTES.store(0, Ordering::Relaxed);
    WINDOW_OPEN.store(true, Ordering::SeqCst);
    let mut done = 0u64;
    let mut counted = ThreadCounts::default();
    while done < settings.calls {
        let n = match load {
            Load::Burst => burst,
            Load::Sustained => CHECK_EVERY,
        }
        .min(settings.calls - done);
        let start = thread_counts();
        set_tracking(true);
        for _ in 0..n {
            caller.call();
        }
        set_tracking(false);
        let end = thread_counts();
        counted.allocs += end.allocs - start.allocs;
        counted.alloc_bytes += end.alloc_bytes - start.alloc_bytes;
        counted.frees += end.frees - start.frees;
        counted.freed_bytes += end.freed_bytes - start.freed_bytes;
        done += n;
        if load == Load::Burst {
            flusher.flush();
        } else if budget.expired() {
            break;
        }
    }
    // Let the pipeline take everything, then read the process-wide growth.
    flusher.flush();
    std::thread::sleep(Duration::from_millis(300));
    flusher.flush();
    WINDOW_OPEN.store(false, Ordering::SeqCst);
    let growth = WINDOW_NET_BYTES.load(Ordering::Relaxed);
    let per_k = |x: u64| x as f64 * 1000.0 / done.max(1) as f64;
    report.alloc_rows.lock().expect("report").push(format!(
        "{:<32} | {:>9} | {:>13.2} | {:>13.1} | {:>12.2} | {:>15} {}",
        format!("{} ({})", op.label(), load.label()),
        done,
        per_k(counted.allocs),
        per_k(counted.alloc_bytes) / 1000.0,
        per_k(counted.frees),
        growth,
        if done < settings.calls {
            "(budget hit)"
        } else {
            ""
        },
    ));
    target.finish(&id, done + warm_bursts * burst, report);
}

// ---------------------------------------------------------------------------------------------
// Printing.

fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    // <target>/<profile>/deps/<bench binary>
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(|t| t.join("criterion")))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

fn criterion_estimates(id: &str) -> Option<(f64, f64)> {
    let path = criterion_home().join(id).join("new").join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let median = v.get("median")?.get("point_estimate")?.as_f64()?;
    let mean = v.get("mean")?.get("point_estimate")?.as_f64()?;
    Some((median, mean))
}

fn print_report(settings: &Settings, report: &Report) {
    println!();
    println!("==================================================================================");
    println!("wafermon emit vs OpenTelemetry 0.33 log emit: summary");
    println!("==================================================================================");
    if let Some((p50, p99)) = *report.timer_overhead_ns.lock().expect("report") {
        println!(
            "empty timer pair (Instant::now() x2): p50 {p50} ns, p99 {p99} ns; p50 subtracted from every call below"
        );
    }

    let ids = report.criterion_ids.lock().expect("report");
    if !ids.is_empty() {
        println!();
        println!("criterion (ns per call on the calling thread; 2t = per thread while both emit)");
        println!(
            "{:<48} | {:>11} | {:>11} | {:>13}",
            "benchmark id", "median", "mean", "all timed"
        );
        println!("{:-<48}-+-{:->11}-+-{:->11}-+-{:->13}", "", "", "", "");
        for (id, truncated, all_timed) in ids.iter() {
            let (median, mean) = match criterion_estimates(id) {
                Some((m, a)) => (format!("{m:.1}"), format!("{a:.1}")),
                None => ("n/a".to_string(), "n/a".to_string()),
            };
            println!(
                "{id:<48} | {median:>11} | {mean:>11} | {all_timed:>13.1}{}",
                if *truncated {
                    "  TRUNCATED (budget hit, extrapolated)"
                } else {
                    ""
                }
            );
        }
        println!("(median, mean: criterion's estimates per sample; all timed: total time of every call criterion timed / number of those calls)");
    }

    let rows = report.latency_rows.lock().expect("report");
    if !rows.is_empty() {
        println!();
        println!(
            "per-call latency, individually timed ({} calls per thread and row unless noted)",
            settings.calls
        );
        println!(
            "{:<40} | {:>7} | {:>8} | {:>8}",
            "operation", "threads", "p50 ns", "p99 ns"
        );
        println!("{:-<40}-+-{:->7}-+-{:->8}-+-{:->8}", "", "", "", "");
        for r in rows.iter() {
            println!(
                "{:<40} | {:>7} | {:>8} | {:>8}{}",
                r.operation,
                r.threads,
                r.p50,
                r.p99,
                if r.calls < r.wanted {
                    format!("   (budget hit: {} of {} calls)", r.calls, r.wanted)
                } else {
                    String::new()
                }
            );
        }
        println!();
        println!(
            "{:<40} | {:>7} | {:>8} | {:>9} | {:>10} | {:>10}",
            "more detail", "threads", "p90 ns", "p99.9 ns", "max ns", "mean ns"
        );
        println!(
            "{:-<40}-+-{:->7}-+-{:->8}-+-{:->9}-+-{:->10}-+-{:->10}",
            "", "", "", "", "", ""
        );
        for r in rows.iter() {
            println!(
                "{:<40} | {:>7} | {:>8} | {:>9} | {:>10} | {:>10.1}",
                r.operation, r.threads, r.p90, r.p999, r.max, r.mean
            );
        }
    }

    let allocs = report.alloc_rows.lock().expect("report");
    if !allocs.is_empty() {
        println!();
        println!("heap allocations by the emitting thread (1 thread, after warm-up)");
        println!(
            "{:<32} | {:>9} | {:>13} | {:>13} | {:>12} | {:>15}",
            "operation", "calls", "allocs/1000", "KB alloc/1000", "frees/1000", "heap growth B"
        );
        println!(
            "{:-<32}-+-{:->9}-+-{:->13}-+-{:->13}-+-{:->12}-+-{:->15}",
            "", "", "", "", "", ""
        );
        for r in allocs.iter() {
            println!("{r}");
        }
        println!("(heap growth: process-wide live heap after the calls and a flush, minus before)");
    }

    let stats = report.wafermon_stats.lock().expect("report");
    if !stats.is_empty() {
        println!();
        println!("wafermon stats() per phase (queue.on_full = spill; dropped must be 0)");
        println!(
            "{:<46} | {:>11} | {:>11} | {:>7} | {:>9} | {:>9} | {:>11} | {:>11} | {:>6}",
            "phase",
            "calls",
            "emitted",
            "dropped",
            "spilled",
            "spooled",
            "sent",
            "JSONL lines",
            "B/line"
        );
        println!(
            "{:-<46}-+-{:->11}-+-{:->11}-+-{:->7}-+-{:->9}-+-{:->9}-+-{:->11}-+-{:->11}-+-{:->6}",
            "", "", "", "", "", "", "", "", ""
        );
        for r in stats.iter() {
            println!("{r}");
        }
        println!("(spilled: emits that went to the ingress spool because the queue was full; spooled: events the");
        println!(" filesystem lane parked in its own spool; 'emitted' also counts the jobs' started/finished events)");
    }

    let drops = report.otel_drops.lock().expect("report");
    if !drops.is_empty() {
        println!();
        println!("OpenTelemetry batch processor: records emitted vs received by the no-op exporter after force_flush + shutdown");
        println!(
            "{:<46} | {:>11} | {:>11} | {:>11} | {:>8}",
            "phase", "emitted", "received", "dropped", "dropped"
        );
        println!(
            "{:-<46}-+-{:->11}-+-{:->11}-+-{:->11}-+-{:->8}",
            "", "", "", "", ""
        );
        for r in drops.iter() {
            println!("{r}");
        }
    }
    println!();
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let settings = Settings::from_env_and_args();
    let report = Report::default();
    let mut c = Criterion::default().without_plots().configure_from_args();
    let duo = Duo::new();

    let variants = [
        Variant {
            threads: 1,
            load: Load::Burst,
        },
        Variant {
            threads: 2,
            load: Load::Burst,
        },
        Variant {
            threads: 1,
            load: Load::Sustained,
        },
        Variant {
            threads: 2,
            load: Load::Sustained,
        },
    ];
    for v in &variants {
        for op in [Op::WafermonEmit, Op::OtelEmit] {
            criterion_phase(&mut c, &settings, &report, &duo, op, v);
        }
    }
    for v in [
        Variant {
            threads: 1,
            load: Load::Burst,
        },
        Variant {
            threads: 1,
            load: Load::Sustained,
        },
    ] {
        criterion_phase(&mut c, &settings, &report, &duo, Op::WafermonProgress, &v);
    }

    if settings.mode != RunMode::CriterionOnly {
        let (overhead, overhead_p99) = timer_overhead();
        *report.timer_overhead_ns.lock().expect("report") = Some((overhead, overhead_p99));
        for (op, threads, load) in [
            (Op::WafermonEmit, 1, Load::Burst),
            (Op::OtelEmit, 1, Load::Burst),
            (Op::WafermonEmit, 2, Load::Burst),
            (Op::OtelEmit, 2, Load::Burst),
            (Op::WafermonProgress, 1, Load::Burst),
            (Op::WafermonEmit, 1, Load::Sustained),
            (Op::OtelEmit, 1, Load::Sustained),
            (Op::WafermonEmit, 2, Load::Sustained),
            (Op::OtelEmit, 2, Load::Sustained),
            (Op::WafermonProgress, 1, Load::Sustained),
        ] {
            latency_phase(&settings, &report, &duo, op, threads, load, overhead);
        }
        for (op, load) in [
            (Op::WafermonEmit, Load::Burst),
            (Op::OtelEmit, Load::Burst),
            (Op::WafermonEmit, Load::Sustained),
            (Op::OtelEmit, Load::Sustained),
        ] {
            alloc_phase(&settings, &report, op, load);
        }
    }

    c.final_summary();
    drop(duo);
    if settings.mode != RunMode::CriterionOnly {
        print_report(&settings, &report);
    }
}
