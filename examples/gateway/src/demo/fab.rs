//! The simulated fab line: a dispatcher releases a lot every few seconds (at most `MAX_LOTS`
//! at once, at fab1 or fab2); a lot of 2 to 5 wafers moves through the route step by step,
//! each wafer in turn, as on real tools. Steps take 1 to 8 s, report progress, heartbeats and
//! a measurement or two, and about one in 25 fails out of spec: that wafer is scrapped and the
//! lot goes on with the rest (it fails when more than half are lost).
//!
//! Lots and wafers are reported by `lot-dispatch`, each step by the cell that runs it, all
//! through the SDK's job guards, so the SDK's own CPU, RSS and duration figures end them. The
//! SDK is synchronous: every lot has an OS thread of its own, never a runtime thread.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use fastrand::Rng;
use wafermon::{Client, Job, Level};

pub const SITES: [&str; 2] = ["fab1", "fab2"];
/// The app that releases lots and tracks them and their wafers.
const DISPATCH: &str = "lot-dispatch";
/// Every app of the line; each has a client per site.
pub const APPS: [&str; 5] = [DISPATCH, "litho-cell", "etch-cell", "cmp-cell", "metrology"];

const MAX_LOTS: usize = 6;
const FAILURE_RATE: f64 = 0.04;
/// How often a running step checks the stop flag; also the granularity of its CPU work.
const TICK: Duration = Duration::from_millis(100);
const HEARTBEAT_EVERY_S: f64 = 3.0;
const STOPPED: &str = "line stopped (demo shutting down)";
const PRODUCTS: [&str; 4] = ["MCU-40LP", "PMIC-180", "IMG-SENSOR-65", "RF-FEM-130"];

/// One process step of the route.
struct Step {
    name: &'static str,
    /// The cell app that runs it.
    app: &'static str,
    /// Tools are `<tool>-01` to `<tool>-04` at each site.
    tool: &'static str,
    recipe: &'static str,
    /// What the step measures: name, and the range of in-spec values.
    metrics: &'static [(&'static str, f64, f64)],
}

const ROUTE: [Step; 6] = [
    Step {
        name: "litho",
        app: "litho-cell",
        tool: "SCAN",
        recipe: "M1-193i",
        metrics: &[("overlay_nm", 1.1, 3.2), ("dose_mj_cm2", 24.2, 25.8)],
    },
    Step {
        name: "etch",
        app: "etch-cell",
        tool: "ETCH",
        recipe: "M1-OX-ETCH",
        metrics: &[
            ("chamber_pressure_pa", 12.0, 13.4),
            ("etch_rate_nm_min", 180.0, 220.0),
        ],
    },
    // Thin films and CMP share one cell, as in many fabs.
    Step {
        name: "deposition",
        app: "cmp-cell",
        tool: "CVD",
        recipe: "TEOS-250",
        metrics: &[("film_thickness_nm", 246.0, 254.0)],
    },
    Step {
        name: "cmp",
        app: "cmp-cell",
        tool: "CMP",
        recipe: "OX-CMP-2",
        metrics: &[
            ("removal_rate_nm_min", 140.0, 170.0),
            ("pad_temp_c", 41.0, 49.0),
        ],
    },
    Step {
        name: "clean",
        app: "etch-cell",
        tool: "WET",
        recipe: "SC1-SC2",
        metrics: &[("particles_added", 0.0, 25.0)],
    },
    Step {
        name: "inspect",
        app: "metrology",
        tool: "INSP",
        recipe: "DF-SCAN",
        metrics: &[("defect_density_cm2", 0.02, 0.18)],
    },
];

/// Why a step of this kind fails, with the value out of spec.
fn failure(step: &Step, rng: &mut Rng) -> String {
    if rng.u8(..10) == 0 {
        return format!(
            "wafer handling error: robot lost vacuum at load port {}",
            rng.u8(1..=4)
        );
    }
    let v = |lo: f64, hi: f64, rng: &mut Rng| lo + rng.f64() * (hi - lo);
    match step.name {
        "litho" => format!("overlay out of spec: {:.1} nm > 3.5 nm", v(3.6, 5.5, rng)),
        "etch" => format!(
            "chamber pressure out of range: {:.1} Pa > 13.5 Pa",
            v(13.6, 15.5, rng)
        ),
        "deposition" => format!(
            "film thickness out of spec: {:.1} nm < 240.0 nm",
            v(228.0, 239.5, rng)
        ),
        "cmp" => format!(
            "pad temperature too high: {:.1} °C > 55.0 °C",
            v(55.2, 61.0, rng)
        ),
        "clean" => format!(
            "particle count above limit: {} added > 50",
            rng.u32(51..=180)
        ),
        _ => format!(
            "defect density above limit: {:.2}/cm² > 0.30/cm²",
            v(0.31, 0.65, rng)
        ),
    }
}

/// What the line's threads share.
struct Shared {
    clients: HashMap<(&'static str, &'static str), Client>,
    stop: AtomicBool,
}

impl Shared {
    /// The client of `app` at `site`; the caller built one for every pair of SITES and APPS.
    fn client(&self, site: &'static str, app: &'static str) -> &Client {
        &self.clients[&(site, app)]
    }

    /// Sleep `d`, waking early on stop; false once stopped.
    fn pause(&self, d: Duration) -> bool {
        let until = Instant::now() + d;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return false;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            thread::sleep(left.min(TICK));
        }
    }
}

/// The running line: the dispatcher thread, which joins its lots when stopped.
pub struct Line {
    shared: Arc<Shared>,
    dispatcher: JoinHandle<()>,
}

impl Line {
    /// Start dispatching lots; `clients` holds one client per (site, app) of SITES and APPS.
    pub fn start(
        clients: HashMap<(&'static str, &'static str), Client>,
        seed: u64,
    ) -> std::io::Result<Line> {
        let shared = Arc::new(Shared {
            clients,
            stop: AtomicBool::new(false),
        });
        let rng = Rng::with_seed(seed);
        let dispatcher = {
            let shared = shared.clone();
            thread::Builder::new()
                .name("demo-dispatch".into())
                .spawn(move || dispatch(&shared, rng))?
        };
        Ok(Line { shared, dispatcher })
    }

    /// Cancel what runs and wait for every thread of the line (within about one `TICK`).
    pub fn stop(self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let _ = self.dispatcher.join();
    }
}

fn dispatch(shared: &Arc<Shared>, mut rng: Rng) {
    let mut number = rng.u32(10_000..90_000);
    let mut lots: Vec<JoinHandle<()>> = Vec::new();
    loop {
        lots.retain(|lot| !lot.is_finished());
        if lots.len() < MAX_LOTS {
            let site = SITES[rng.usize(..SITES.len())];
            let key = format!("LOT-{number}");
            number += 1;
            let mut lot_rng = rng.fork();
            let lot_shared = shared.clone();
            let spawned = thread::Builder::new()
                .name(format!("demo-{key}"))
                .spawn(move || {
                    if let Err(e) = run_lot(&lot_shared, site, &key, &mut lot_rng) {
                        eprintln!("wafermon-gateway: demo: {key}: {e}");
                    }
                });
            match spawned {
                Ok(lot) => lots.push(lot),
                Err(e) => eprintln!("wafermon-gateway: demo: cannot start a lot: {e}"),
            }
        }
        let next = Duration::from_secs_f64(2.0 + rng.f64() * 3.0);
        if !shared.pause(next) {
            break;
        }
    }
    for lot in lots {
        let _ = lot.join();
    }
}

fn run_lot(shared: &Shared, site: &'static str, key: &str, rng: &mut Rng) -> wafermon::Result<()> {
    let count = rng.usize(2..=5);
    let lot = shared
        .client(site, DISPATCH)
        .job("lot")
        .kind("lot")
        .key(key)
        .attr("product", PRODUCTS[rng.usize(..PRODUCTS.len())])
        .attr("wafers", count as i64)
        .start()?;
    // Slot number and wafer; `None` once scrapped.
    let mut wafers: Vec<(usize, Option<Job>)> = Vec::with_capacity(count);
    for slot in 1..=count {
        let wafer = lot
            .subjob("wafer")
            .kind("wafer")
            .key(format!("W{slot:02}"))
            .attr("slot", slot as i64)
            .start()?;
        wafers.push((slot, Some(wafer)));
    }
    let total = count * ROUTE.len();
    let (mut done, mut scrapped) = (0, 0);
    let mut stopped = false;
    'route: for (s, step) in ROUTE.iter().enumerate() {
        for (slot, entry) in wafers.iter_mut() {
            let Some(wafer) = entry.take() else { continue };
            let job = shared
                .client(site, step.app)
                .job(step.name)
                .kind("step")
                .parent(wafer.id())
                .attr("tool", format!("{}-{:02}", step.tool, rng.u8(1..=4)))
                .attr("recipe", step.recipe)
                .start()?;
            match run_step(shared, &job, step, rng)? {
                Outcome::Done => {
                    job.finish()?;
                    wafer.progress(100.0 * (s + 1) as f64 / ROUTE.len() as f64)?;
                    *entry = Some(wafer);
                    done += 1;
                }
                Outcome::Failed(why) => {
                    job.fail(&why)?;
                    wafer.fail(&format!("{} failed: {why}", step.name))?;
                    lot.log(
                        Level::Warning,
                        &format!("W{slot:02} scrapped at {}: {why}", step.name),
                    )?;
                    scrapped += 1;
                    done += ROUTE.len() - s;
                }
                Outcome::Stopped => {
                    job.cancel(STOPPED)?;
                    wafer.cancel(STOPPED)?;
                    stopped = true;
                    break 'route;
                }
            }
            lot.progress_with(
                100.0 * done as f64 / total as f64,
                &format!("{} W{slot:02} ({done} of {total} wafer steps)", step.name),
            )?;
        }
    }
    let left = wafers.into_iter().filter_map(|(_, w)| w);
    if stopped {
        for wafer in left {
            wafer.cancel(STOPPED)?;
        }
        return lot.cancel(STOPPED);
    }
    for wafer in left {
        wafer.finish()?;
    }
    lot.metric("wafers_good", (count - scrapped) as f64)?;
    if scrapped * 2 > count {
        lot.fail(&format!(
            "{scrapped} of {count} wafers scrapped; lot on hold for engineering review"
        ))
    } else {
        if scrapped > 0 {
            lot.log(
                Level::Warning,
                &format!("finished with {scrapped} of {count} wafers scrapped"),
            )?;
        }
        lot.finish()
    }
}

enum Outcome {
    Done,
    Failed(String),
    Stopped,
}

/// Run one step on one wafer: progress about every second, heartbeats on long steps, a
/// little CPU and memory so the SDK's figures show work, then the step's measurements.
fn run_step(shared: &Shared, job: &Job, step: &Step, rng: &mut Rng) -> wafermon::Result<Outcome> {
    let duration = 1.0 + rng.f64() * 7.0;
    let fails_at = (rng.f64() < FAILURE_RATE).then(|| rng.f64() * duration);
    // A recipe's data held while the step runs: a few MB, touched so they count in the RSS.
    let mut recipe = vec![0u8; rng.usize(1..=6) << 20];
    for page in recipe.iter_mut().step_by(4096) {
        *page = 1;
    }
    black_box(&recipe);
    let started = Instant::now();
    let (mut next_progress, mut next_heartbeat) = (1.0, HEARTBEAT_EVERY_S);
    loop {
        let elapsed = started.elapsed().as_secs_f64();
        if fails_at.is_some_and(|at| elapsed >= at) {
            return Ok(Outcome::Failed(failure(step, rng)));
        }
        if elapsed >= duration {
            break;
        }
        if elapsed >= next_progress {
            job.progress((100.0 * elapsed / duration).min(99.0).round())?;
            next_progress += 1.0;
        }
        if elapsed >= next_heartbeat {
            job.heartbeat()?;
            next_heartbeat += HEARTBEAT_EVERY_S;
        }
        burn(Duration::from_micros(rng.u64(500..=4_000)));
        if !shared.pause(TICK) {
            return Ok(Outcome::Stopped);
        }
    }
    for (name, lo, hi) in step.metrics {
        let value = lo + rng.f64() * (hi - lo);
        job.metric(name, (value * 100.0).round() / 100.0)?;
    }
    Ok(Outcome::Done)
}

/// Busy work for about `d` (a tool controller crunching sensor data).
fn burn(d: Duration) {
    let until = Instant::now() + d;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    while Instant::now() < until {
        for _ in 0..1024 {
            x = black_box(x.rotate_left(5) ^ x.wrapping_mul(0x2545_f491_4f6c_dd1d));
        }
    }
    black_box(x);
}
