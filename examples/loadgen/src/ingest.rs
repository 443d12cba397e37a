//! The ingest benchmark: N connections posting batches of pre-serialized events to the
//! sidecar (`/v1/ingest/batch`) or the gateway (`/v1/ingest/managed`) for a fixed time.
//!
//! Closed loop by default (each connection sends its next batch as soon as the previous one
//! is acknowledged: the host's maximum rate). With `--rate`, each connection sends on a fixed
//! schedule instead and latency is measured from the scheduled send time, so a host that falls
//! behind shows its queueing delay (no coordinated omission).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::gen::{self, Clock, Format, Generator, Target};
use crate::http;
use crate::stats::{thousands, Errors, Latency};

#[derive(Debug, Clone)]
pub struct Options {
    pub url: String,
    pub target: Target,
    pub seconds: f64,
    pub warmup: f64,
    pub connections: usize,
    pub batch: usize,
    pub format: Format,
    /// Total events/s to offer; `None` = as fast as the host answers.
    pub rate: Option<f64>,
    /// Memory for pre-serialized bodies; beyond it, batches are made inside the timed run.
    pub pregen_mb: usize,
    /// Print events/s and the slowest request for every second of the run.
    pub timeline: bool,
}

impl Options {
    /// The goal of the issue for this host, events/s.
    pub fn goal(&self) -> f64 {
        match self.target {
            Target::Sidecar => 200_000.0,
            Target::Gateway => 100_000.0,
        }
    }
}

pub struct Report {
    pub options: Options,
    /// Measured wall time, seconds.
    pub elapsed: f64,
    pub requests: u64,
    /// Events acknowledged (accepted by the host).
    pub events: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub rejected: u64,
    pub errors: Errors,
    pub latency: Latency,
    /// Batches that had to be generated inside the timed run.
    pub generated_inline: u64,
    pub body_bytes: f64,
    /// Fewest and most measured requests of one connection.
    pub per_connection: (u64, u64),
    /// Per second of the run (by completion): events acknowledged, slowest request (us).
    pub timeline: Vec<(u64, u64)>,
}

impl Report {
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.elapsed
    }

    pub fn requests_per_s(&self) -> f64 {
        self.requests as f64 / self.elapsed
    }

    pub fn label(&self) -> String {
        let o = &self.options;
        let mode = match o.rate {
            Some(r) => format!("paced at {} ev/s", thousands(r)),
            None => "closed loop".to_string(),
        };
        format!(
            "{} ingest, {}, {} connections x {}-event batches, {mode}",
            o.target.name(),
            o.format.name(),
            o.connections,
            o.batch
        )
    }

    pub fn print(&self) {
        println!("== {}", self.label());
        println!(
            "   {} events/s   {} requests/s   ({} events in {:.1} s, {:.0} KiB per body)",
            thousands(self.events_per_s()),
            thousands(self.requests_per_s()),
            thousands(self.events as f64),
            self.elapsed,
            self.body_bytes / 1024.0
        );
        println!(
            "   latency: {}   (requests per connection: {} to {})",
            self.latency.summary(),
            self.per_connection.0,
            self.per_connection.1
        );
        let mut extra = format!("   errors: {}", self.errors.count);
        if self.options.target == Target::Gateway {
            extra.push_str(&format!(
                "   stored: {}   duplicates: {}",
                thousands(self.stored as f64),
                self.duplicates
            ));
        }
        extra.push_str(&format!("   rejected events: {}", self.rejected));
        if self.generated_inline > 0 {
            extra.push_str(&format!(
                "   batches generated during the run: {}",
                self.generated_inline
            ));
        }
        println!("{extra}");
        self.errors.print("   ");
        if self.options.timeline {
            println!("   second   events   slowest request");
            for (i, (events, slowest)) in self.timeline.iter().enumerate() {
                println!(
                    "   {i:>6} {:>8}   {}",
                    thousands(*events as f64),
                    crate::stats::ms(*slowest as f64 / 1000.0)
                );
            }
        }
    }
}

/// What a host answers to an ingest request.
#[derive(Deserialize)]
struct Ack {
    accepted: u64,
    #[serde(default)]
    stored: Option<u64>,
    #[serde(default)]
    duplicates: Option<u64>,
    /// The first rejections only (the hosts describe at most 100) ...
    #[serde(default)]
    rejected: Vec<serde::de::IgnoredAny>,
    /// ... and all of them counted.
    #[serde(default)]
    rejected_count: Option<u64>,
}

#[derive(Default)]
struct Tally {
    requests: u64,
    events: u64,
    stored: u64,
    duplicates: u64,
    rejected: u64,
    errors: Errors,
    latency: Latency,
    generated_inline: u64,
    last_done: Option<Instant>,
    /// Measured requests of each connection (to see whether the host serves them fairly).
    per_connection: Vec<u64>,
    timeline: Vec<(u64, u64)>,
}

/// Fail early, with a clear message, when nothing answers at `url`.
pub fn check_health(url: &str) -> Result<(), String> {
    let agent = http::agent(Duration::from_secs(10));
    let reply = http::get(&agent, &format!("{url}/v1/health"))
        .map_err(|e| format!("{url} does not answer: {e}"))?;
    if !reply.ok() {
        return Err(format!("{url}/v1/health: {}", reply.describe()));
    }
    Ok(())
}

pub fn run(options: &Options) -> Result<Report, String> {
    check_health(&options.url)?;
    let o = options.clone();
    let conns = o.connections.max(1);
    let tag = gen::run_tag();

    // How many bodies to prepare: what the run should need, within the memory budget.
    let sample =
        Generator::new(&format!("{tag}-probe"), 0, Clock::Live).body(o.batch, o.target, o.format);
    let body_bytes = sample.len() as f64;
    // Paced: what the schedule needs. Closed loop: enough for well above the goal. Plus a
    // margin, since connections do not all go at the same pace.
    let rate_hint = o.rate.unwrap_or(o.goal() * 1.6);
    let wanted =
        ((o.seconds + o.warmup) * rate_hint * 1.15 / o.batch as f64).ceil() as usize + 2 * conns;
    let budget = (o.pregen_mb * 1024 * 1024) / sample.len().max(1);
    let count = wanted.min(budget).max(conns);
    drop(sample);

    eprintln!(
        "loadgen: preparing {} bodies of {} events ({:.0} MiB, {}) for {} ...",
        count,
        o.batch,
        count as f64 * body_bytes / 1048576.0,
        o.format.name(),
        o.target.name()
    );
    let pool = Arc::new(Pool {
        bodies: prepare(&tag, count, &o),
        next: AtomicUsize::new(0),
    });

    let barrier = Arc::new(Barrier::new(conns + 1));
    let mut workers = Vec::with_capacity(conns);
    for w in 0..conns {
        let (barrier, pool, o) = (barrier.clone(), pool.clone(), o.clone());
        let generator = Generator::new(&format!("{tag}-{w}"), fastrand::u64(..), Clock::Live);
        workers.push(
            thread::Builder::new()
                .name(format!("load-{w}"))
                .spawn(move || {
                    barrier.wait();
                    worker(w, &o, generator, &pool)
                })
                .map_err(|e| format!("cannot start a load thread: {e}"))?,
        );
    }
    eprintln!(
        "loadgen: {} warm-up {:.0} s, then {:.0} s measured ...",
        o.target.name(),
        o.warmup,
        o.seconds
    );
    barrier.wait();
    let start = Instant::now();
    let measured_from = start + Duration::from_secs_f64(o.warmup);

    let mut total = Tally::default();
    for handle in workers {
        let t = handle
            .join()
            .map_err(|_| "a load thread panicked".to_string())?;
        total.requests += t.requests;
        total.events += t.events;
        total.stored += t.stored;
        total.duplicates += t.duplicates;
        total.rejected += t.rejected;
        total.errors.merge(&t.errors);
        total.latency.merge(&t.latency);
        total.generated_inline += t.generated_inline;
        total.last_done = total.last_done.max(t.last_done);
        total.per_connection.push(t.requests);
        if total.timeline.len() < t.timeline.len() {
            total.timeline.resize(t.timeline.len(), (0, 0));
        }
        for (mine, theirs) in total.timeline.iter_mut().zip(&t.timeline) {
            mine.0 += theirs.0;
            mine.1 = mine.1.max(theirs.1);
        }
    }
    let end = total
        .last_done
        .unwrap_or_else(Instant::now)
        .max(measured_from + Duration::from_millis(1));
    Ok(Report {
        options: o,
        elapsed: (end - measured_from).as_secs_f64(),
        requests: total.requests,
        events: total.events,
        stored: total.stored,
        duplicates: total.duplicates,
        rejected: total.rejected,
        errors: total.errors,
        latency: total.latency,
        generated_inline: total.generated_inline,
        body_bytes,
        per_connection: (
            total.per_connection.iter().copied().min().unwrap_or(0),
            total.per_connection.iter().copied().max().unwrap_or(0),
        ),
        timeline: total.timeline,
    })
}

/// `count` pre-serialized bodies, made on all cores (one generator per core).
fn prepare(tag: &str, count: usize, o: &Options) -> Vec<Vec<u8>> {
    let threads = thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(1);
    thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let n = count / threads + usize::from(t < count % threads);
                    let mut g =
                        Generator::new(&format!("{tag}-p{t}"), fastrand::u64(..), Clock::Live);
                    (0..n)
                        .map(|_| g.body(o.batch, o.target, o.format))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Bodies shared by all connections, taken in turn: a connection the host serves faster
/// simply takes more of them.
struct Pool {
    bodies: Vec<Vec<u8>>,
    next: AtomicUsize,
}

impl Pool {
    fn take(&self) -> Option<&[u8]> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.bodies.get(i).map(Vec::as_slice)
    }
}

fn worker(w: usize, o: &Options, mut generator: Generator, pool: &Pool) -> Tally {
    let agent = http::agent(Duration::from_secs(120));
    let url = format!("{}{}", o.url, o.target.path());
    let content_type = o.format.content_type();
    let conns = o.connections.max(1) as f64;
    let start = Instant::now();
    let measured_from = start + Duration::from_secs_f64(o.warmup);
    let deadline = measured_from + Duration::from_secs_f64(o.seconds);
    // Paced: this connection's share of the rate, its first slot staggered among the others.
    let interval = o
        .rate
        .map(|r| Duration::from_secs_f64(o.batch as f64 * conns / r.max(1.0)));
    let mut next_slot = interval.map(|i| start + i.mul_f64(w as f64 / conns));

    let mut tally = Tally::default();
    let mut made;
    loop {
        // When this batch is due: its slot when paced, now otherwise.
        let due = match (next_slot, interval) {
            (Some(slot), Some(i)) => {
                if slot >= deadline {
                    break;
                }
                let now = Instant::now();
                if slot > now {
                    thread::sleep(slot - now);
                }
                next_slot = Some(slot + i);
                slot
            }
            _ => {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                now
            }
        };
        let body: &[u8] = match pool.take() {
            Some(b) => b,
            None => {
                if due >= measured_from {
                    tally.generated_inline += 1;
                }
                made = generator.body(o.batch, o.target, o.format);
                &made
            }
        };
        // Paced: measured from the slot, so falling behind shows as latency.
        let began = if interval.is_some() {
            due
        } else {
            Instant::now()
        };
        let result = http::post(&agent, &url, content_type, body);
        let done = Instant::now();
        // Counted by completion: a request stuck since the warm-up shows in the figures.
        if done < measured_from {
            continue;
        }
        tally.requests += 1;
        tally.latency.record(done - began);
        let second = (done - measured_from).as_secs() as usize;
        if tally.timeline.len() <= second {
            tally.timeline.resize(second + 1, (0, 0));
        }
        let micros = u64::try_from((done - began).as_micros()).unwrap_or(u64::MAX);
        tally.timeline[second].1 = tally.timeline[second].1.max(micros);
        tally.last_done = Some(done);
        match result {
            Ok(reply) if reply.ok() => match serde_json::from_slice::<Ack>(&reply.body) {
                Ok(ack) => {
                    tally.events += ack.accepted;
                    tally.timeline[second].0 += ack.accepted;
                    tally.stored += ack.stored.unwrap_or(0);
                    tally.duplicates += ack.duplicates.unwrap_or(0);
                    tally.rejected += ack.rejected_count.unwrap_or(ack.rejected.len() as u64);
                }
                Err(e) => tally
                    .errors
                    .add(format!("unexpected answer ({e}): {}", reply.describe())),
            },
            Ok(reply) => {
                tally.errors.add(reply.describe());
                thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                tally.errors.add(e);
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
    tally
}
