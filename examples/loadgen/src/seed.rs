//! Filling the gateway's store with history: `--events` events spread over the last
//! `--span-hours`, posted by several connections at once. Each connection walks its own
//! simulated clock from the start of the span to now, so the store fills roughly in time
//! order, as it would have in production. Failed batches are retried (the store is
//! idempotent on event id), so the count is exact.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;
use wafermon::event::Timestamp;

use crate::gen::{self, Clock, Format, Generator, Target};
use crate::http;
use crate::ingest::check_health;
use crate::stats::{thousands, Errors, Latency};

#[derive(Debug, Clone)]
pub struct Options {
    pub url: String,
    pub events: u64,
    pub connections: usize,
    pub batch: usize,
    pub span_hours: f64,
    pub format: Format,
}

pub struct Report {
    pub events: u64,
    pub stored: u64,
    pub duplicates: u64,
    pub elapsed: f64,
    pub errors: Errors,
    pub latency: Latency,
}

impl Report {
    pub fn print(&self) {
        println!(
            "== seed: {} events stored ({} duplicates) in {:.1} s = {} events/s (generation included)",
            thousands(self.stored as f64),
            self.duplicates,
            self.elapsed,
            thousands(self.events as f64 / self.elapsed.max(1e-9))
        );
        println!("   latency: {}", self.latency.summary());
        println!("   errors (retried): {}", self.errors.count);
        self.errors.print("   ");
    }
}

#[derive(Deserialize)]
struct Ack {
    accepted: u64,
    #[serde(default)]
    stored: u64,
    #[serde(default)]
    duplicates: u64,
}

const ATTEMPTS: u32 = 10;

pub fn run(o: &Options) -> Result<Report, String> {
    check_health(&o.url)?;
    let conns = o.connections.max(1);
    let now = Timestamp::now().unix_micros();
    let span = (o.span_hours * 3_600_000_000.0) as i64;
    let tag = gen::run_tag();
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    eprintln!(
        "loadgen: seeding {} events over the last {} h with {conns} connections ...",
        thousands(o.events as f64),
        o.span_hours
    );

    let mut workers = Vec::with_capacity(conns);
    for w in 0..conns {
        let quota = o.events / conns as u64 + u64::from((w as u64) < o.events % conns as u64);
        let clock = Clock::Simulated {
            start: now - span,
            end: now,
            events: quota,
        };
        let generator = Generator::new(&format!("{tag}-s{w}"), fastrand::u64(..), clock);
        let (o, done) = (o.clone(), done.clone());
        workers.push(
            thread::Builder::new()
                .name(format!("seed-{w}"))
                .spawn(move || seed_worker(&o, generator, quota, &done))
                .map_err(|e| format!("cannot start a seed thread: {e}"))?,
        );
    }

    // Progress every 10 s until every worker is done.
    let mut last = (Instant::now(), 0u64);
    while !workers.iter().all(|h| h.is_finished()) {
        thread::sleep(Duration::from_millis(200));
        if last.0.elapsed() >= Duration::from_secs(10) {
            let n = done.load(Ordering::Relaxed);
            eprintln!(
                "loadgen: seeded {} / {} ({} events/s lately)",
                thousands(n as f64),
                thousands(o.events as f64),
                thousands((n - last.1) as f64 / last.0.elapsed().as_secs_f64())
            );
            last = (Instant::now(), n);
        }
    }

    let mut report = Report {
        events: 0,
        stored: 0,
        duplicates: 0,
        elapsed: 0.0,
        errors: Errors::default(),
        latency: Latency::new(),
    };
    let mut failure = None;
    for h in workers {
        match h.join() {
            Ok(Ok(t)) => {
                report.events += t.events;
                report.stored += t.stored;
                report.duplicates += t.duplicates;
                report.errors.merge(&t.errors);
                report.latency.merge(&t.latency);
            }
            Ok(Err(e)) => failure = Some(e),
            Err(_) => failure = Some("a seed thread panicked".into()),
        }
    }
    report.elapsed = started.elapsed().as_secs_f64();
    match failure {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

struct Tally {
    events: u64,
    stored: u64,
    duplicates: u64,
    errors: Errors,
    latency: Latency,
}

fn seed_worker(
    o: &Options,
    mut generator: Generator,
    quota: u64,
    done: &AtomicU64,
) -> Result<Tally, String> {
    let agent = http::agent(Duration::from_secs(120));
    let url = format!("{}{}", o.url, Target::Gateway.path());
    let mut t = Tally {
        events: 0,
        stored: 0,
        duplicates: 0,
        errors: Errors::default(),
        latency: Latency::new(),
    };
    while t.events < quota {
        let n = (quota - t.events).min(o.batch as u64) as usize;
        let body = generator.body(n, Target::Gateway, o.format);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let began = Instant::now();
            let result = http::post(&agent, &url, o.format.content_type(), &body);
            t.latency.record(began.elapsed());
            let problem = match result {
                Ok(reply) if reply.ok() => match serde_json::from_slice::<Ack>(&reply.body) {
                    Ok(ack) => {
                        t.events += ack.accepted;
                        t.stored += ack.stored;
                        t.duplicates += ack.duplicates;
                        done.fetch_add(ack.accepted, Ordering::Relaxed);
                        if ack.accepted < n as u64 {
                            // Rejected events are a generator bug: stop rather than loop.
                            return Err(format!(
                                "the gateway rejected {} of {n} events: {}",
                                n as u64 - ack.accepted,
                                String::from_utf8_lossy(&reply.body)
                            ));
                        }
                        None
                    }
                    Err(e) => Some(format!("unexpected answer ({e}): {}", reply.describe())),
                },
                Ok(reply) => Some(reply.describe()),
                Err(e) => Some(e),
            };
            match problem {
                None => break,
                Some(p) if attempt < ATTEMPTS => {
                    t.errors.add(p);
                    thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
                }
                Some(p) => return Err(format!("seeding failed after {ATTEMPTS} attempts: {p}")),
            }
        }
    }
    Ok(t)
}
