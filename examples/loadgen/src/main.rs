//! wafermon-loadgen: load for the sidecar and the gateway, and what they do under it.
//! A benchmark tool, not a test: it reports figures and goals, and never fails on them.

mod all;
mod args;
mod cpu;
mod gen;
mod http;
mod ingest;
mod read;
mod scale_out;
mod seed;
mod setup;
mod stats;
mod table;

use std::process::ExitCode;

use args::{base_url, Args};
use gen::{Format, Target};

const USAGE: &str = "\
usage:
  wafermon-loadgen sidecar [--url http://127.0.0.1:17000] [COMMON] [--format json|msgpack] [--rate EV/S] [--timeline]
  wafermon-loadgen gateway [--url http://127.0.0.1:18000] [COMMON] [--format json|msgpack] [--rate EV/S] [--timeline]
  wafermon-loadgen seed    [--url http://127.0.0.1:18000] --events N [--connections 8] [--batch 1000] [--span-hours 168]
  wafermon-loadgen read    [--url http://127.0.0.1:18000] [--seconds 20] [--warmup 2] [--connections 8] [--span-hours 168]
  wafermon-loadgen all     [--events 10000000] [COMMON] [--read-seconds S] [--span-hours 168]
                           [--no-build] [--keep-db] [--skip-sidecar]
  wafermon-loadgen scale-out [--events 1000000] [--partitions 6] [--gateways 1,2] [--max-batch 5000]
                           [--seconds 20] [--warmup 2] [--connections 8] [--batch 1000] [--no-build]
  wafermon-loadgen sample  [--events 20]   (print generated events as JSON lines)

COMMON: [--seconds 20] [--warmup 2] [--connections 8] [--batch 1000] [--pregen-mb 4096]

sidecar/gateway: post batches of pre-serialized events (job lifecycles) for --seconds after
  --warmup; print events/s, requests/s, p50/p95/p99/max latency, errors. Without --rate each
  connection sends as soon as the last batch is acknowledged (max rate); with --rate the
  connections send on a schedule and latency counts from the scheduled time.
seed: add --events events to the gateway's store, spread over the last --span-hours.
read: typical read queries under concurrency, latency per query type.
all: PostgreSQL, a fresh database, release builds of both hosts on free ports, every run
  above, seeding to --events in all, one summary table against the goals, then clean up.
scale-out: a private Kafka broker and PostgreSQL; a topic of --partitions filled with --events
  events; one gateway's HTTP ingest (--seconds), then the topic drained by each count of
  --gateways (a fresh group and database each, every event checked stored once); one table.";

fn main() -> ExitCode {
    let mut raw = std::env::args().skip(1);
    let Some(command) = raw.next() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if matches!(command.as_str(), "-h" | "--help" | "help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let result = Args::parse(raw).and_then(|mut a| {
        if a.flag("--help") || a.flag("-h") {
            println!("{USAGE}");
            return Ok(());
        }
        match command.as_str() {
            "sidecar" => ingest_command(a, Target::Sidecar),
            "gateway" => ingest_command(a, Target::Gateway),
            "seed" => seed_command(a),
            "read" => read_command(a),
            "all" => all_command(a),
            "scale-out" => scale_out_command(a),
            "sample" => sample_command(a),
            other => Err(format!("unknown command '{other}'")),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wafermon-loadgen: {e}");
            if e.starts_with("unknown") || e.contains("is required") || e.contains("needs a value")
            {
                eprintln!("{USAGE}");
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn default_url(target: Target) -> &'static str {
    match target {
        Target::Sidecar => "http://127.0.0.1:17000",
        Target::Gateway => "http://127.0.0.1:18000",
    }
}

fn positive(name: &str, v: usize) -> Result<usize, String> {
    if v == 0 {
        return Err(format!("{name} must be at least 1"));
    }
    Ok(v)
}

fn seconds(name: &str, v: f64) -> Result<f64, String> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("{name} must be a number of seconds"));
    }
    Ok(v)
}

fn ingest_options(a: &mut Args, target: Target) -> Result<ingest::Options, String> {
    let url = base_url(&a.get("--url", default_url(target).to_string())?)?;
    let format = Format::parse(&a.get("--format", "json".to_string())?)?;
    let rate: Option<f64> = a.opt("--rate")?;
    if rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        return Err("--rate must be a positive number of events/s".into());
    }
    Ok(ingest::Options {
        url,
        target,
        seconds: seconds("--seconds", a.get("--seconds", 20.0)?)?,
        warmup: seconds("--warmup", a.get("--warmup", 2.0)?)?,
        connections: positive("--connections", a.get("--connections", 8)?)?,
        batch: positive("--batch", a.get("--batch", 1000)?)?,
        format,
        rate,
        pregen_mb: a.get("--pregen-mb", 4096)?,
        timeline: a.flag("--timeline"),
    })
}

fn ingest_command(mut a: Args, target: Target) -> Result<(), String> {
    let options = ingest_options(&mut a, target)?;
    a.finish()?;
    ingest::run(&options)?.print();
    Ok(())
}

fn seed_command(mut a: Args) -> Result<(), String> {
    let options = seed::Options {
        url: base_url(&a.get("--url", default_url(Target::Gateway).to_string())?)?,
        events: a.opt("--events")?.ok_or("--events is required")?,
        connections: positive("--connections", a.get("--connections", 8)?)?,
        batch: positive("--batch", a.get("--batch", 1000)?)?,
        span_hours: a.get("--span-hours", 168.0)?,
        format: Format::parse(&a.get("--format", "json".to_string())?)?,
    };
    a.finish()?;
    seed::run(&options)?.print();
    Ok(())
}

fn read_command(mut a: Args) -> Result<(), String> {
    let options = read::Options {
        url: base_url(&a.get("--url", default_url(Target::Gateway).to_string())?)?,
        seconds: seconds("--seconds", a.get("--seconds", 20.0)?)?,
        warmup: seconds("--warmup", a.get("--warmup", 2.0)?)?,
        connections: positive("--connections", a.get("--connections", 8)?)?,
        span_hours: a.get("--span-hours", 168.0)?,
    };
    a.finish()?;
    read::run(&options)?.print();
    Ok(())
}

fn all_command(mut a: Args) -> Result<(), String> {
    let secs = seconds("--seconds", a.get("--seconds", 20.0)?)?;
    let options = all::Options {
        events: a.get("--events", 10_000_000)?,
        seconds: secs,
        read_seconds: seconds("--read-seconds", a.get("--read-seconds", secs)?)?,
        warmup: seconds("--warmup", a.get("--warmup", 2.0)?)?,
        connections: positive("--connections", a.get("--connections", 8)?)?,
        batch: positive("--batch", a.get("--batch", 1000)?)?,
        span_hours: a.get("--span-hours", 168.0)?,
        pregen_mb: a.get("--pregen-mb", 4096)?,
        build: !a.flag("--no-build"),
        keep_db: a.flag("--keep-db"),
        skip_sidecar: a.flag("--skip-sidecar"),
    };
    a.finish()?;
    all::run(&options)
}

fn scale_out_command(mut a: Args) -> Result<(), String> {
    let gateways = a
        .get("--gateways", "1,2".to_string())?
        .split(',')
        .map(|n| match n.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("--gateways: '{n}' is not a positive count")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = scale_out::Options {
        events: a.get("--events", 1_000_000)?,
        partitions: a.get("--partitions", 6)?,
        gateways,
        max_batch: positive("--max-batch", a.get("--max-batch", 5000)?)?,
        seconds: seconds("--seconds", a.get("--seconds", 20.0)?)?,
        warmup: seconds("--warmup", a.get("--warmup", 2.0)?)?,
        connections: positive("--connections", a.get("--connections", 8)?)?,
        batch: positive("--batch", a.get("--batch", 1000)?)?,
        build: !a.flag("--no-build"),
    };
    a.finish()?;
    if options.events == 0 || options.partitions == 0 {
        return Err("--events and --partitions must be at least 1".into());
    }
    scale_out::run(&options)
}

fn sample_command(mut a: Args) -> Result<(), String> {
    let n: usize = a.get("--events", 20)?;
    a.finish()?;
    let mut g = gen::Generator::new(&gen::run_tag(), fastrand::u64(..), gen::Clock::Live);
    for e in g.batch(n) {
        println!("{}", serde_json::to_string(&e).map_err(|e| e.to_string())?);
    }
    Ok(())
}
