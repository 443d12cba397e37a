//! `wafermon-loadgen scale-out`: the figures of docs/scale-out.md in one run. A private Kafka
//! broker (scripts/servers/kafka.sh) in a temporary folder and PostgreSQL (scripts/postgres.sh);
//! a topic filled with N generated events before any gateway starts; then, each into a fresh
//! database: the HTTP ingest of one gateway, and the drain of the topic by 1 and by 2 gateways
//! (a fresh consumer group each, so each drain reads the same N events). A benchmark, never a
//! test: it checks that every event was stored exactly once, and reports, but fails on no
//! figure.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use serde_json::json;

use crate::cpu;
use crate::gen::{self, Clock, Format, Generator, Target};
use crate::http;
use crate::ingest;
use crate::setup::{build, psql, start_postgres, workspace_root, Database, Host, PgCounters};
use crate::stats::{ms, thousands};
use crate::table::{print_table, Row};

#[derive(Debug, Clone)]
pub struct Options {
    pub events: u64,
    pub partitions: u32,
    /// How many gateways drain the topic, one drain per entry.
    pub gateways: Vec<usize>,
    /// Each gateway's `ingest.kafka.max_batch`.
    pub max_batch: usize,
    pub seconds: f64,
    pub warmup: f64,
    pub connections: usize,
    pub batch: usize,
    pub build: bool,
}

/// A private single-node broker on free ports, stopped (by PID) when dropped.
struct Broker {
    script: PathBuf,
    port: u16,
    address: String,
}

impl Broker {
    fn start(root: &Path, dir: &Path) -> Result<Broker, String> {
        let script = root.join("scripts/servers/kafka.sh");
        let port = free_port_pair()?;
        let data = dir.join("kafka");
        eprintln!("loadgen: starting Kafka on 127.0.0.1:{port}");
        let address = run_script(
            &script,
            &["start", &port.to_string(), &data.display().to_string()],
        )?;
        Ok(Broker {
            script,
            port,
            address,
        })
    }

    fn topic(&self, name: &str, partitions: u32) -> Result<(), String> {
        run_script(
            &self.script,
            &[
                "topic",
                &self.port.to_string(),
                name,
                &partitions.to_string(),
            ],
        )
        .map(drop)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = run_script(&self.script, &["stop", &self.port.to_string()]);
        eprintln!("loadgen: Kafka stopped");
    }
}

/// Run a server script; its last line of output.
fn run_script(script: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("bash")
        .arg(script)
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("{} {} failed", script.display(), args.join(" ")));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string())
}

/// A free port whose successor is free too (the broker's controller listens on PORT+1).
fn free_port_pair() -> Result<u16, String> {
    for _ in 0..50 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot find a free port: {e}"))?
            .port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return Ok(port);
        }
    }
    Err("cannot find two free ports in a row".into())
}

/// Counts the messages the brokers refused, for the fill's check.
#[derive(Default)]
struct Refusals {
    count: AtomicU64,
}

impl ClientContext for Refusals {}

impl ProducerContext for Refusals {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Produce `events` generated events, one JSON event per message keyed by its lot, with a
/// plain idempotent rdkafka producer; the seconds it took until every one was acknowledged.
fn fill(brokers: &str, topic: &str, events: u64) -> Result<f64, String> {
    let producer: BaseProducer<Refusals> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "20")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .create_with_context(Refusals::default())
        .map_err(|e| format!("cannot make a Kafka producer: {e}"))?;
    let mut generator = Generator::new(&gen::run_tag(), fastrand::u64(..), Clock::Live);
    let started = Instant::now();
    let mut value = Vec::with_capacity(1024);
    for n in 0..events {
        let event = generator.next_event();
        value.clear();
        serde_json::to_writer(&mut value, &event).map_err(|e| e.to_string())?;
        let key = event.entity.parent.as_deref().unwrap_or(&event.entity.id);
        let mut record = BaseRecord::to(topic).key(key).payload(&value[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    producer.poll(Duration::from_millis(10));
                    record = back;
                }
                Err((e, _)) => return Err(format!("producing to {topic}: {e}")),
            }
        }
        if n % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer
        .flush(Duration::from_secs(300))
        .map_err(|e| format!("flushing to {topic}: {e}"))?;
    let refused = producer.context().count.load(Ordering::Relaxed);
    if refused > 0 {
        return Err(format!("the broker refused {refused} of the messages"));
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Sum of a counter over the gateways' /metrics.
fn counter(hosts: &[Host], name: &str) -> u64 {
    let agent = http::agent(Duration::from_secs(5));
    hosts
        .iter()
        .filter_map(|h| http::get(&agent, &format!("{}/metrics", h.url)).ok())
        .map(|reply| {
            String::from_utf8_lossy(&reply.body)
                .lines()
                .filter_map(|l| l.strip_prefix(name))
                .filter_map(|rest| rest.trim().parse::<f64>().ok())
                .sum::<f64>() as u64
        })
        .sum()
}

/// Whether every gateway holds partitions of the topic (its `/v1/health` says which).
fn all_assigned(hosts: &[Host]) -> bool {
    let agent = http::agent(Duration::from_secs(5));
    hosts.iter().all(|h| {
        http::get(&agent, &format!("{}/v1/health", h.url))
            .ok()
            .and_then(|r| serde_json::from_slice::<serde_json::Value>(&r.body).ok())
            .and_then(|v| v["kafka"]["assigned"].as_array().map(|a| !a.is_empty()))
            .unwrap_or(false)
    })
}

struct Drain {
    gateways: usize,
    /// From the gateways' start to the last event stored.
    wall: f64,
    /// From the moment every gateway held partitions to the last event stored: the group's
    /// joins and rebalances excluded, every gateway at work.
    steady: f64,
    /// Events stored before that moment (counted out of the steady rate).
    head: u64,
    cpu: String,
    postgres: String,
}

impl Drain {
    fn rate(&self, events: u64) -> f64 {
        (events - self.head) as f64 / self.steady.max(1e-3)
    }
}

/// Start `gateways` gateways in one new group on a fresh database, and time them until they
/// stored every event of the topic; then check the store holds each event once.
#[allow(clippy::too_many_arguments)]
fn drain(
    gateway_bin: &Path,
    admin_url: &str,
    brokers: &str,
    topic: &str,
    gateways: usize,
    o: &Options,
    dir: &Path,
) -> Result<Drain, String> {
    let db = Database::create(admin_url, false)?;
    let group = format!("scale-out-{gateways}-{}", gen::run_tag());
    let pg_before = PgCounters::read(admin_url);
    let started = Instant::now();
    let mut hosts = Vec::new();
    for i in 1..=gateways {
        let home = dir.join(format!("drain{gateways}-gw{i}"));
        fs::create_dir_all(&home).map_err(|e| format!("{}: {e}", home.display()))?;
        let config = json!({
            "database_url": db.url,
            "ingest": {"kafka": {"brokers": brokers, "topic": topic, "group": group,
                                 "client_id": format!("gw{i}"), "live": false,
                                 "max_batch": o.max_batch}}
        });
        let path = home.join("gateway.json");
        fs::write(&path, config.to_string()).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut command = Command::new(gateway_bin);
        command
            .args(["--listen", "127.0.0.1:0", "--config"])
            .arg(&path);
        hosts.push(Host::start("gateway", command, &home)?);
    }
    let pids: Vec<(String, u32)> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (format!("gateway {}", i + 1), h.pid()))
        .collect();
    let named: Vec<(&str, u32)> = pids.iter().map(|(n, p)| (n.as_str(), *p)).collect();
    let cpu_before = cpu::snapshot(&named);
    let limit = Duration::from_secs(60 + o.events / 2_000);
    let name = "wafermon_gateway_kafka_events_stored_total";
    let mut settled: Option<(Instant, u64)> = None;
    loop {
        let stored = counter(&hosts, name);
        let now = Instant::now();
        if settled.is_none() && all_assigned(&hosts) {
            settled = Some((now, stored));
        }
        if stored >= o.events {
            break;
        }
        if started.elapsed() > limit {
            return Err(format!(
                "{gateways} gateway(s) stored {stored} of {} events in {} s",
                o.events,
                limit.as_secs()
            ));
        }
        thread::sleep(Duration::from_millis(50));
    }
    let ended = Instant::now();
    let cpu_after = cpu::snapshot(&named);
    let pg_after = PgCounters::read(admin_url);
    let duplicates = counter(&hosts, "wafermon_gateway_events_duplicate_total");
    drop(hosts);
    let stored = db.count_events()?;
    if stored != o.events {
        return Err(format!(
            "the store holds {stored} events, not the {} produced",
            o.events
        ));
    }
    let (settled_at, head) = settled.unwrap_or((started, 0));
    eprintln!(
        "loadgen: {gateways} gateway(s) stored {} events ({duplicates} duplicates skipped)",
        thousands(stored as f64)
    );
    Ok(Drain {
        gateways,
        wall: ended.duration_since(started).as_secs_f64(),
        steady: ended.duration_since(settled_at).as_secs_f64(),
        head,
        cpu: cpu::usage(&cpu_before, &cpu_after),
        postgres: PgCounters::describe(&pg_before, &pg_after, o.events),
    })
}

/// One gateway's HTTP ingest at full rate into a fresh database: the path beside Kafka.
fn http_ingest(
    gateway_bin: &Path,
    admin_url: &str,
    o: &Options,
    dir: &Path,
) -> Result<ingest::Report, String> {
    let db = Database::create(admin_url, false)?;
    let home = dir.join("http-gw");
    fs::create_dir_all(&home).map_err(|e| format!("{}: {e}", home.display()))?;
    let mut command = Command::new(gateway_bin);
    command.args(["--listen", "127.0.0.1:0", "--database-url", &db.url]);
    let gateway = Host::start("gateway", command, &home)?;
    let before = cpu::snapshot(&[("gateway", gateway.pid())]);
    let report = ingest::run(&ingest::Options {
        url: gateway.url.clone(),
        target: Target::Gateway,
        seconds: o.seconds,
        warmup: o.warmup,
        connections: o.connections,
        batch: o.batch,
        format: Format::Json,
        rate: None,
        pregen_mb: 1024,
        timeline: false,
    })?;
    let after = cpu::snapshot(&[("gateway", gateway.pid())]);
    report.print();
    println!("   {}", cpu::usage(&before, &after));
    Ok(report)
}

pub fn run(o: &Options) -> Result<(), String> {
    let root = workspace_root();
    let admin_url = start_postgres(&root)?;
    let (_, gateway_bin) = build(&root, o.build)?;
    let dir = tempfile::Builder::new()
        .prefix("wafermon-scale-out-")
        .tempdir()
        .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let broker = Broker::start(&root, dir.path())?;
    let topic = format!("scale-out-{}", gen::run_tag());
    broker.topic(&topic, o.partitions)?;
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let pg_version = psql(&admin_url, "SHOW server_version").unwrap_or_default();

    eprintln!(
        "loadgen: filling {topic} ({} partitions) with {} events",
        o.partitions,
        thousands(o.events as f64)
    );
    let fill_seconds = fill(&broker.address, &topic, o.events)?;
    let mut rows = vec![Row {
        measure: format!(
            "fill: one plain rdkafka producer, lz4, {} partitions",
            o.partitions
        ),
        result: format!(
            "{} ev/s ({} events in {fill_seconds:.1} s)",
            thousands(o.events as f64 / fill_seconds),
            thousands(o.events as f64)
        ),
        goal: "-".into(),
        verdict: "",
    }];

    eprintln!("loadgen: HTTP ingest, one gateway");
    let http = http_ingest(&gateway_bin, &admin_url, o, dir.path())?;
    rows.push(Row {
        measure: format!(
            "HTTP -> 1 gateway -> PostgreSQL, json, {} conns x {}-event batches",
            o.connections, o.batch
        ),
        result: format!(
            "{} ev/s (p99 {} per request, {} errors)",
            thousands(http.events_per_s()),
            ms(http.latency.ms(0.99)),
            http.errors.count
        ),
        goal: "-".into(),
        verdict: "",
    });

    let mut drains: Vec<Drain> = Vec::new();
    for &gateways in &o.gateways {
        eprintln!("loadgen: draining the topic with {gateways} gateway(s)");
        let d = drain(
            &gateway_bin,
            &admin_url,
            &broker.address,
            &topic,
            gateways,
            o,
            dir.path(),
        )?;
        println!(
            "kafka -> {gateways} gateway(s): {} events stored in {:.1} s from their start; {} of them in the last {:.1} s, every gateway holding partitions",
            thousands(o.events as f64),
            d.wall,
            thousands((o.events - d.head) as f64),
            d.steady
        );
        println!("   {}", d.cpu);
        println!("   {}", d.postgres);
        drains.push(d);
    }
    let single = drains
        .iter()
        .find(|d| d.gateways == 1)
        .map(|d| d.rate(o.events));
    for d in &drains {
        let ratio = match single {
            Some(one) if d.gateways > 1 => format!(", {:.2}x one gateway", d.rate(o.events) / one),
            _ => String::new(),
        };
        let early = if d.head * 2 > o.events {
            "; most were stored before every gateway held partitions: use more --events"
        } else {
            ""
        };
        rows.push(Row {
            measure: format!(
                "Kafka -> {} gateway(s) -> PostgreSQL, max_batch {}",
                d.gateways, o.max_batch
            ),
            result: format!(
                "{} ev/s{ratio} (whole drain incl. group join: {} ev/s{early})",
                thousands(d.rate(o.events)),
                thousands(o.events as f64 / d.wall)
            ),
            goal: "-".into(),
            verdict: "",
        });
    }
    drop(broker);

    println!();
    println!("=== wafermon scale-out summary ===");
    println!(
        "machine: {cpus} CPUs shared by the load tool, Kafka (one broker), the gateways and \
         PostgreSQL {pg_version}; every drain stored each of the {} events exactly once",
        thousands(o.events as f64)
    );
    print_table(&rows);
    Ok(())
}
