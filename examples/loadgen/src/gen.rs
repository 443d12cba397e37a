//! Realistic event streams for the load runs: jobs under lots, at several sites, from several
//! apps. Each generator keeps a set of jobs in flight and interleaves their events, so a
//! job's lifecycle (started, progress x N, then finished with duration/cpu/rss metrics,
//! sometimes failed or canceled) spans several batches, as it does when real apps report
//! through a sidecar. Every event gets a fresh UUIDv7 and every entity a run-unique id.

use std::collections::{HashMap, VecDeque};

use serde::{Serialize, Serializer};
use wafermon::event::{new_v7, Timestamp};

pub const SITES: &[&str] = &["fab1", "fab2", "fab7", "fab12"];

pub struct AppSpec {
    pub name: &'static str,
    pub version: &'static str,
    pub recipes: &'static [&'static str],
    pub tools: &'static [&'static str],
}

pub const APPS: &[AppSpec] = &[
    AppSpec {
        name: "etch",
        version: "4.2.1",
        recipes: &["poly-etch-a", "oxide-etch", "metal-etch-m2"],
        tools: &["ETCH-01", "ETCH-02", "ETCH-07"],
    },
    AppSpec {
        name: "litho",
        version: "2.9.0",
        recipes: &["euv-m1", "duv-via", "duv-contact"],
        tools: &["LITHO-03", "LITHO-04"],
    },
    AppSpec {
        name: "cmp",
        version: "1.14.3",
        recipes: &["cu-cmp", "ox-cmp"],
        tools: &["CMP-11", "CMP-12"],
    },
    AppSpec {
        name: "deposition",
        version: "3.0.0",
        recipes: &["ald-hfo2", "pvd-tin", "cvd-w"],
        tools: &["DEP-21", "DEP-22", "DEP-23"],
    },
    AppSpec {
        name: "metrology",
        version: "0.9.8",
        recipes: &["cd-sem", "overlay", "film-thickness"],
        tools: &["MET-31", "MET-32"],
    },
];

/// Jobs a generator keeps in flight; their events are interleaved.
const IN_FLIGHT: usize = 48;
/// Jobs per lot.
const JOBS_PER_LOT: u32 = 25;

/// Where event times come from.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The wall clock when the event is generated.
    Live,
    /// History: times walk from `start` to `end` (micros) over `events` events.
    Simulated { start: i64, end: i64, events: u64 },
}

/// How a job ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Succeeded,
    Failed,
    Canceled,
}

struct Job {
    site: &'static str,
    app: &'static AppSpec,
    id: String,
    name: &'static str,
    lot: String,
    lot_key: String,
    tool: &'static str,
    steps: u32,
    done: u32,
    started: bool,
    outcome: Outcome,
}

/// One event as sent: complete schema v1, so the gateway accepts it as is.
#[derive(Debug, Clone, Serialize)]
pub struct Wire {
    pub v: u8,
    pub id: String,
    pub seq: u64,
    pub time: Timestamp,
    pub site: &'static str,
    pub app: WireApp,
    pub entity: WireEntity,
    pub kind: &'static str,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "as_map")]
    pub metrics: Vec<(&'static str, f64)>,
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "as_map")]
    pub attrs: Vec<(&'static str, Attr)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WireApp {
    pub name: &'static str,
    pub version: &'static str,
    pub instance: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WireEntity {
    pub kind: &'static str,
    pub id: String,
    pub name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Attr {
    Str(&'static str),
    Int(i64),
}

fn as_map<S: Serializer, V: Serialize>(
    entries: &[(&'static str, V)],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(entries.iter().map(|(k, v)| (k, v)))
}

/// The body shapes the hosts accept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    Json,
    MsgPack,
}

impl Format {
    pub fn parse(text: &str) -> Result<Format, String> {
        match text {
            "json" => Ok(Format::Json),
            "msgpack" => Ok(Format::MsgPack),
            other => Err(format!("--format: '{other}' is not json or msgpack")),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::MsgPack => "application/msgpack",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::MsgPack => "msgpack",
        }
    }
}

/// Which host a body is for: the envelopes differ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// `POST /v1/ingest/batch`: `{"events": [...]}` and nothing else.
    Sidecar,
    /// `POST /v1/ingest/managed`: `{"events": [...], "source": ...}`.
    Gateway,
}

impl Target {
    pub fn path(self) -> &'static str {
        match self {
            Target::Sidecar => "/v1/ingest/batch",
            Target::Gateway => "/v1/ingest/managed",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Target::Sidecar => "sidecar",
            Target::Gateway => "gateway",
        }
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    events: &'a [Wire],
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'static str>,
}

/// Serialize a batch for `target` in `format`.
pub fn encode(events: &[Wire], target: Target, format: Format) -> Vec<u8> {
    let envelope = Envelope {
        events,
        source: (target == Target::Gateway).then_some("wafermon-loadgen"),
    };
    let encoded = match format {
        Format::Json => serde_json::to_vec(&envelope).map_err(|e| e.to_string()),
        // Named fields: the hosts decode MessagePack into the same JSON objects.
        Format::MsgPack => rmp_serde::to_vec_named(&envelope).map_err(|e| e.to_string()),
    };
    // Only strings, finite numbers and maps with string keys go in: this cannot fail.
    encoded.unwrap_or_else(|e| panic!("cannot encode a batch: {e}"))
}

/// A deterministic-per-seed stream of events for one emitter (one load connection).
pub struct Generator {
    rng: fastrand::Rng,
    /// Run-unique prefix of every entity id this generator makes.
    tag: String,
    instance: String,
    clock: Clock,
    seq: u64,
    emitted: u64,
    jobs_made: u64,
    lots_made: u64,
    lot: Option<(String, String, &'static str)>,
    jobs_in_lot: u32,
    /// Lots with jobs still running: (key, site, jobs not yet ended).
    open_lots: HashMap<String, (String, &'static str, u32)>,
    in_flight: Vec<Job>,
    pending: VecDeque<Wire>,
}

impl Generator {
    /// `tag` must be unique per generator across everything sent to one store.
    pub fn new(tag: &str, seed: u64, clock: Clock) -> Generator {
        let mut g = Generator {
            rng: fastrand::Rng::with_seed(seed),
            tag: tag.to_string(),
            instance: format!("loadgen-{tag}"),
            clock,
            seq: 0,
            emitted: 0,
            jobs_made: 0,
            lots_made: 0,
            lot: None,
            jobs_in_lot: 0,
            open_lots: HashMap::new(),
            in_flight: Vec::with_capacity(IN_FLIGHT),
            pending: VecDeque::new(),
        };
        for _ in 0..IN_FLIGHT {
            let job = g.new_job();
            g.in_flight.push(job);
        }
        g
    }

    /// The next `n` events.
    pub fn batch(&mut self, n: usize) -> Vec<Wire> {
        (0..n).map(|_| self.next_event()).collect()
    }

    /// The next `n` events, encoded for `target`.
    pub fn body(&mut self, n: usize, target: Target, format: Format) -> Vec<u8> {
        encode(&self.batch(n), target, format)
    }

    pub fn next_event(&mut self) -> Wire {
        if let Some(e) = self.pending.pop_front() {
            return e;
        }
        let i = self.rng.usize(..self.in_flight.len());
        let event = self.advance(i);
        if let Some(e) = event {
            return e;
        }
        // The job is done: its terminal event goes out and a new job takes its place (the
        // lot events a new job may cause are queued in `pending`, after this one).
        let ended = self.in_flight.swap_remove(i);
        let terminal = self.terminal(&ended);
        self.job_ended(&ended.lot);
        let job = self.new_job();
        self.in_flight.push(job);
        terminal
    }

    /// The next event of job `i`, or `None` when only its ending is left (made by the caller).
    fn advance(&mut self, i: usize) -> Option<Wire> {
        let (started, done, steps) = {
            let j = &self.in_flight[i];
            (j.started, j.done, j.steps)
        };
        if started && done >= steps {
            return None;
        }
        let time = self.time();
        let seq = self.next_seq();
        if !started {
            let wafers = 25 - i64::from(self.rng.u8(..3));
            let chamber = ["A", "B", "C", "D"][self.rng.usize(..4)];
            let job = &self.in_flight[i];
            let mut e = job_event(seq, &self.instance, time, job, "started", "running");
            e.attrs = vec![
                ("chamber", Attr::Str(chamber)),
                ("tool", Attr::Str(job.tool)),
                ("wafers", Attr::Int(wafers)),
            ];
            e.message = Some(format!("{} started on {}", job.name, job.tool));
            self.in_flight[i].started = true;
            return Some(e);
        }
        let done = done + 1;
        let progress = (f64::from(done) * 100.0 / f64::from(steps + 1)).round();
        let temp = 20.0 + self.rng.f64() * 380.0;
        let pressure = self.rng.f64() * 10.0;
        let job = &self.in_flight[i];
        let mut e = job_event(seq, &self.instance, time, job, "progress", "running");
        e.progress = Some(progress);
        e.metrics = vec![
            ("chamber_pressure_torr", round3(pressure)),
            ("step", f64::from(done)),
            ("temperature_c", round3(temp)),
        ];
        self.in_flight[i].done = done;
        Some(e)
    }

    fn terminal(&mut self, job: &Job) -> Wire {
        let time = self.time();
        let seq = self.next_seq();
        let duration = round3(30.0 + self.rng.f64().powi(3) * 3600.0);
        let cpu_user = round3(duration * (0.2 + self.rng.f64() * 0.7));
        let cpu_system = round3(cpu_user * 0.1 * self.rng.f64());
        let rss = f64::from(64 + self.rng.u32(..4032)) * 1_048_576.0;
        let failure = [
            "chamber pressure out of range",
            "wafer handler timeout",
            "recipe parameter rejected by tool",
            "endpoint detection failed",
        ][self.rng.usize(..4)];
        let mut e = match job.outcome {
            Outcome::Succeeded => {
                job_event(seq, &self.instance, time, job, "finished", "succeeded")
            }
            Outcome::Failed => {
                let mut e = job_event(seq, &self.instance, time, job, "failed", "failed");
                e.level = Some("error");
                e.message = Some(failure.to_string());
                e
            }
            Outcome::Canceled => {
                let mut e = job_event(seq, &self.instance, time, job, "canceled", "canceled");
                e.message = Some("canceled by operator".to_string());
                e
            }
        };
        e.metrics = vec![
            ("cpu_system_s", cpu_system),
            ("cpu_user_s", cpu_user),
            ("duration_s", duration),
            ("max_rss_bytes", rss),
        ];
        e
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn new_job(&mut self) -> Job {
        if self.lot.is_none() || self.jobs_in_lot >= JOBS_PER_LOT {
            self.new_lot();
        }
        self.jobs_in_lot += 1;
        self.jobs_made += 1;
        let (lot, lot_key, site) = self.lot.clone().unwrap_or_default();
        if let Some(entry) = self.open_lots.get_mut(&lot) {
            entry.2 += 1;
        }
        let app = &APPS[self.rng.usize(..APPS.len())];
        let roll = self.rng.u32(..1000);
        let outcome = match roll {
            0..=49 => Outcome::Failed,
            50..=59 => Outcome::Canceled,
            _ => Outcome::Succeeded,
        };
        Job {
            site,
            app,
            id: format!("job-{}-{}", self.tag, self.jobs_made),
            name: app.recipes[self.rng.usize(..app.recipes.len())],
            lot,
            lot_key,
            tool: app.tools[self.rng.usize(..app.tools.len())],
            steps: 3 + self.rng.u32(..8),
            done: 0,
            started: false,
            outcome,
        }
    }

    /// Start the next lot; its `started` event goes out next.
    fn new_lot(&mut self) {
        let time = self.time();
        if let Some((id, _, _)) = self.lot.take() {
            // The lot had all its jobs: it finishes with the last of them.
            if self.open_lots.get(&id).is_some_and(|l| l.2 == 0) {
                self.finish_lot(&id);
            }
        }
        self.lots_made += 1;
        let site = SITES[self.rng.usize(..SITES.len())];
        let id = format!("lot-{}-{}", self.tag, self.lots_made);
        let key = format!("L{:08}", self.rng.u32(..100_000_000));
        let e = self.lot_event(time, &id, &key, site, "started", "running");
        self.pending.push_back(e);
        self.open_lots.insert(id.clone(), (key.clone(), site, 0));
        self.lot = Some((id, key, site));
        self.jobs_in_lot = 0;
    }

    /// A job of lot `lot` ended; the lot finishes when it was its last job.
    fn job_ended(&mut self, lot: &str) {
        let current = self.lot.as_ref().is_some_and(|l| l.0 == lot);
        let Some(entry) = self.open_lots.get_mut(lot) else {
            return;
        };
        entry.2 = entry.2.saturating_sub(1);
        if entry.2 == 0 && !current {
            self.finish_lot(lot);
        }
    }

    fn finish_lot(&mut self, lot: &str) {
        if let Some((key, site, _)) = self.open_lots.remove(lot) {
            let time = self.time();
            let e = self.lot_event(time, lot, &key, site, "finished", "succeeded");
            self.pending.push_back(e);
        }
    }

    fn lot_event(
        &mut self,
        time: Timestamp,
        id: &str,
        key: &str,
        site: &'static str,
        kind: &'static str,
        status: &'static str,
    ) -> Wire {
        Wire {
            v: 1,
            id: new_v7(time.unix_millis()).to_string(),
            seq: self.next_seq(),
            time,
            site,
            app: WireApp {
                name: "mes-dispatch",
                version: "7.1.0",
                instance: self.instance.clone(),
            },
            entity: WireEntity {
                kind: "lot",
                id: id.to_string(),
                name: "lot",
                parent: None,
                key: Some(key.to_string()),
            },
            kind,
            status,
            progress: None,
            level: None,
            message: None,
            metrics: Vec::new(),
            attrs: Vec::new(),
        }
    }

    fn time(&mut self) -> Timestamp {
        self.emitted += 1;
        match self.clock {
            Clock::Live => Timestamp::now(),
            Clock::Simulated { start, end, events } => {
                let span = (end - start).max(1) as f64;
                let at = start + (span * self.emitted as f64 / events.max(1) as f64) as i64;
                // A little jitter so concurrent emitters do not share exact times.
                let jitter = self.rng.i64(0..1000);
                Timestamp::from_unix_micros(at.saturating_sub(jitter).min(end))
            }
        }
    }
}

/// An event of job `job`, without the kind-specific fields.
fn job_event(
    seq: u64,
    instance: &str,
    time: Timestamp,
    job: &Job,
    kind: &'static str,
    status: &'static str,
) -> Wire {
    Wire {
        v: 1,
        id: new_v7(time.unix_millis()).to_string(),
        seq,
        time,
        site: job.site,
        app: WireApp {
            name: job.app.name,
            version: job.app.version,
            instance: instance.to_string(),
        },
        entity: WireEntity {
            kind: "job",
            id: job.id.clone(),
            name: job.name,
            parent: Some(job.lot.clone()),
            key: Some(job.lot_key.clone()),
        },
        kind,
        status,
        progress: None,
        level: None,
        message: None,
        metrics: Vec::new(),
        attrs: Vec::new(),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A short random hex tag, unique enough to tell runs apart in one store.
pub fn run_tag() -> String {
    format!("{:08x}", fastrand::u32(..))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn events_are_complete_valid_and_unique() {
        let mut g = Generator::new("t0", 7, Clock::Live);
        let events = g.batch(5000);
        let mut ids = HashSet::new();
        let mut kinds = HashSet::new();
        for e in &events {
            let value = serde_json::to_value(e).unwrap();
            wafermon::event::parse_complete_event(&value)
                .unwrap_or_else(|err| panic!("{value}: {err}"));
            assert!(ids.insert(e.id.clone()), "duplicate id");
            kinds.insert(e.kind);
        }
        for kind in ["started", "progress", "finished", "failed"] {
            assert!(kinds.contains(kind), "no {kind} event in {kinds:?}");
        }
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_job_starts_before_it_progresses_and_ends_once() {
        let mut g = Generator::new("t1", 1, Clock::Live);
        let events = g.batch(20_000);
        let mut started = HashSet::new();
        let mut ended = HashSet::new();
        let mut lots_finished = 0;
        for e in &events {
            if e.entity.kind == "lot" {
                if e.kind == "finished" {
                    lots_finished += 1;
                    let lot = Some(e.entity.id.clone());
                    let open = events
                        .iter()
                        .filter(|j| j.entity.parent == lot && j.kind == "started")
                        .filter(|j| !ended.contains(&j.entity.id))
                        .count();
                    assert_eq!(open, 0, "{} finished with jobs running", e.entity.id);
                    assert!(started.insert(e.entity.id.clone()), "lot finished twice");
                }
                continue;
            }
            match e.kind {
                "started" => assert!(started.insert(e.entity.id.clone())),
                "progress" => assert!(started.contains(&e.entity.id)),
                _ => {
                    assert!(started.contains(&e.entity.id));
                    assert!(ended.insert(e.entity.id.clone()), "ended twice");
                    assert!(e.metrics.iter().any(|(k, _)| *k == "duration_s"));
                }
            }
        }
        assert!(ended.len() > 1000, "{} jobs ended", ended.len());
        assert!(lots_finished > 40, "{lots_finished} lots finished");
    }

    #[test]
    fn simulated_time_walks_through_the_span() {
        let (start, end) = (1_700_000_000_000_000, 1_700_086_400_000_000);
        let clock = Clock::Simulated {
            start,
            end,
            events: 1000,
        };
        let mut g = Generator::new("t2", 3, clock);
        let events = g.batch(1000);
        let first = events[0].time.unix_micros();
        let last = events[999].time.unix_micros();
        assert!(first >= start && first < start + 86_400_000_000 / 100);
        assert!(last <= end && last > end - 86_400_000_000 / 100);
    }

    #[test]
    fn bodies_decode_in_both_formats() {
        let mut g = Generator::new("t3", 9, Clock::Live);
        let events = g.batch(10);
        let json: serde_json::Value =
            serde_json::from_slice(&encode(&events, Target::Gateway, Format::Json)).unwrap();
        assert_eq!(json["events"].as_array().unwrap().len(), 10);
        assert_eq!(json["source"], "wafermon-loadgen");
        let packed: serde_json::Value =
            rmp_serde::from_slice(&encode(&events, Target::Sidecar, Format::MsgPack)).unwrap();
        assert_eq!(packed.as_object().unwrap().len(), 1, "sidecar: events only");
        let first = &packed["events"][0];
        wafermon::event::parse_complete_event(first).unwrap();
        assert_eq!(first, &json["events"][0]);
    }
}
