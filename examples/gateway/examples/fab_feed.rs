//! A fab that the dashboard's browser tests can look at: writes a fixed seed through the real
//! SDK to the gateway (managed_api) and to JSONL files (filesystem backend, which the gateway
//! reads as an external source), then takes commands on stdin to start and finish lots live.
//!
//! ```text
//! fab_feed --gateway http://127.0.0.1:PORT --files DIR [--token INGEST_TOKEN]
//! ```
//!
//! The seed (entity ids are fresh UUIDs each run; keys, names and outcomes are fixed):
//! - fab1 / litho-cell: lot LOT-1001 (finished) with wafers W01, W02, W03 (kind wafer), each
//!   with steps litho, etch, clean (kind step). W02's etch fails "chamber pressure out of
//!   range", so W02 fails and skips its clean; W01 and W03 finish.
//! - fab1 / etch-cell: lots LOT-2001 (finished) and LOT-2002 (failed "recipe not found").
//! - fab2 / cmp-cell: lot LOT-3001 at 40 %, left running.
//!
//! Once the seed is in the gateway, stdout gets `seeded <N> events` (N: events delivered to
//! the gateway). Then, one command per stdin line, each answered with one stdout line:
//! - `lot KEY`    -> a new running lot at fab1 / litho-cell: `sent <start event id> <epoch ms>`
//!   (the time the flush to the gateway returned)
//! - `finish KEY` -> that lot finishes: `finished KEY`
//! - `quit` or EOF -> deliver what is left and exit 0; LOT-3001 stays running.
//!
//! Anything that goes wrong is answered `error <why>` so a test never waits on a silent feeder.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use wafermon::{Client, Config, Job, Kind, NewEvent, Timestamp};

/// Long enough for a loaded CI machine; the gateway normally answers in milliseconds.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// CPU each job burns, so its `cpu_user_s` is measurably above zero.
const WORK_PER_JOB: Duration = Duration::from_millis(5);
const STEPS: [&str; 3] = ["litho", "etch", "clean"];

struct Args {
    gateway: String,
    files: PathBuf,
    token: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let (mut gateway, mut files, mut token) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--gateway" => gateway = Some(value()?),
            "--files" => files = Some(PathBuf::from(value()?)),
            "--token" => token = Some(value()?),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(Args {
        gateway: gateway.ok_or("--gateway is required")?,
        files: files.ok_or("--files is required")?,
        token,
    })
}

/// One client per (site, app), as each fab cell would run its own: every event goes both to
/// the gateway and to the JSONL files.
fn cell_client(args: &Args, site: &str, app: &str) -> wafermon::Result<Client> {
    let config = json!({
        "app": {"name": app, "site_id": site, "instance_id": "fab-feed"},
        "direct_backends": [
            {"type": "managed_api", "name": "gateway", "url": args.gateway, "token": args.token},
            {"type": "filesystem", "name": "files", "path": args.files},
        ],
        // The SDK's own layout (spool inside the data folder); one spool per client.
        "spool": {"path": spool_path(&args.files, app)},
    });
    Client::new(Config::from_value(config)?)
}

fn spool_path(files: &Path, app: &str) -> PathBuf {
    files.join(".spool").join(app)
}

/// Busy-work standing in for a process step.
fn burn_cpu() {
    let start = Instant::now();
    let mut checksum = 0u64;
    while start.elapsed() < WORK_PER_JOB {
        for i in 0..10_000u64 {
            checksum = checksum.wrapping_mul(31).wrapping_add(i);
        }
    }
    std::hint::black_box(checksum);
}

fn lot(client: &Client, key: &str) -> wafermon::Result<Job> {
    client.job("process-lot").kind("lot").key(key).start()
}

fn seed_litho(client: &Client) -> wafermon::Result<()> {
    let lot = lot(client, "LOT-1001")?;
    for wafer_key in ["W01", "W02", "W03"] {
        let wafer = lot.subjob("wafer").kind("wafer").key(wafer_key).start()?;
        let mut etch_failed = false;
        for (index, step_name) in STEPS.iter().enumerate() {
            let step = wafer.subjob(step_name).kind("step").start()?;
            burn_cpu();
            step.metric("chamber_pressure_pa", 12.0 + index as f64 * 0.5)?;
            if wafer_key == "W02" && *step_name == "etch" {
                step.fail("chamber pressure out of range")?;
                etch_failed = true;
                break;
            }
            step.finish()?;
        }
        if etch_failed {
            wafer.fail("step etch failed")?;
        } else {
            wafer.finish()?;
        }
    }
    lot.finish()
}

fn seed_etch(client: &Client) -> wafermon::Result<()> {
    let good = lot(client, "LOT-2001")?;
    burn_cpu();
    good.finish()?;
    let bad = lot(client, "LOT-2002")?;
    burn_cpu();
    bad.fail("recipe not found")
}

/// Returns the running lot: dropping it would record it as canceled.
fn seed_cmp(client: &Client) -> wafermon::Result<Job> {
    let running = lot(client, "LOT-3001")?;
    burn_cpu();
    running.progress(40.0)?;
    Ok(running)
}

/// Flush, then check the gateway really has every event: the flush alone would also return
/// once an undeliverable batch had been parked in the spool.
fn deliver(client: &Client) -> Result<u64, String> {
    client.flush(DELIVERY_TIMEOUT).map_err(|e| e.to_string())?;
    let stats = client.stats();
    let mut gateway_sent = 0;
    for backend in &stats.backends {
        if backend.sent != stats.emitted {
            return Err(format!(
                "backend {} delivered {} of {} events (last error: {})",
                backend.name,
                backend.sent,
                stats.emitted,
                backend.last_error.as_deref().unwrap_or("none")
            ));
        }
        if backend.name == "gateway" {
            gateway_sent = backend.sent;
        }
    }
    Ok(gateway_sent)
}

fn epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// The live lots started from stdin, by key. They are plain events rather than `Job` guards
/// so the start event's id can be chosen here and reported to the test.
struct LiveLots {
    client: Client,
    entity_ids: HashMap<String, String>,
}

impl LiveLots {
    fn start(&mut self, key: &str) -> Result<String, String> {
        let time = Timestamp::now();
        let event_id = wafermon::event::new_v7(time.unix_millis());
        let entity_id = wafermon::event::new_v7(time.unix_millis()).to_string();
        let mut started = NewEvent::new(Kind::Started, "lot", entity_id.clone())
            .name("process-lot")
            .key(key);
        started.id = Some(event_id);
        started.time = Some(time);
        self.client.emit(&started).map_err(|e| e.to_string())?;
        deliver(&self.client)?;
        self.entity_ids.insert(key.to_string(), entity_id);
        Ok(format!("sent {event_id} {}", epoch_ms()))
    }

    fn finish(&mut self, key: &str) -> Result<String, String> {
        let entity_id = self
            .entity_ids
            .remove(key)
            .ok_or(format!("no running lot {key} started here"))?;
        let finished = NewEvent::new(Kind::Finished, "lot", entity_id)
            .name("process-lot")
            .key(key);
        self.client.emit(&finished).map_err(|e| e.to_string())?;
        deliver(&self.client)?;
        Ok(format!("finished {key}"))
    }
}

fn answer(lots: &mut LiveLots, line: &str) -> Option<String> {
    let mut words = line.split_whitespace();
    let reply = match (words.next(), words.next(), words.next()) {
        (Some("quit"), None, _) => return None,
        (Some("lot"), Some(key), None) => lots.start(key),
        (Some("finish"), Some(key), None) => lots.finish(key),
        _ => Err(format!("unknown command '{line}'")),
    };
    Some(reply.unwrap_or_else(|e| format!("error {e}")))
}

fn run(args: &Args) -> Result<(), String> {
    let fail = |e: wafermon::Error| e.to_string();
    let litho = cell_client(args, "fab1", "litho-cell").map_err(fail)?;
    let etch = cell_client(args, "fab1", "etch-cell").map_err(fail)?;
    let cmp = cell_client(args, "fab2", "cmp-cell").map_err(fail)?;
    seed_litho(&litho).map_err(fail)?;
    seed_etch(&etch).map_err(fail)?;
    let still_running = seed_cmp(&cmp).map_err(fail)?;
    let mut seeded = 0;
    for client in [&litho, &etch, &cmp] {
        seeded += deliver(client)?;
    }
    println!("seeded {seeded} events");

    let mut lots = LiveLots {
        client: litho.clone(),
        entity_ids: HashMap::new(),
    };
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("cannot read stdin: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        match answer(&mut lots, line.trim()) {
            Some(reply) => println!("{reply}"),
            None => break,
        }
    }
    // Never ended on purpose: the live view must keep a running job after the feeder exits.
    std::mem::forget(still_running);
    for client in [&litho, &etch, &cmp] {
        let stats = client.close(DELIVERY_TIMEOUT);
        if stats.pending() > 0 {
            return Err(format!("{} events left undelivered", stats.pending()));
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let result = parse_args().and_then(|args| run(&args));
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fab_feed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
