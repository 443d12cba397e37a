//! `ingest.kafka` against the real broker (Apache Kafka 4.4, scripts/servers/kafka.sh) and
//! the real gateway binary, on SQLite and on PostgreSQL: events the core's kafka writer
//! produced reach the store with their job states; redelivery, a SIGKILLed gateway and two
//! gateways sharing a group store every event exactly once; lag shows in /metrics and
//! /v1/health and falls to 0; a malformed message is counted and skipped; the live stream
//! of a gateway shows events another gateway stored; SASL over TLS end to end.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::{json, Value};

use common::servers::{server, server_script};
use common::{unique, Gateway, Launch, PgDb};

/// Longest wait for the gateways to catch up (the broker's group joins take seconds).
const CATCH_UP: Duration = Duration::from_secs(120);

fn brokers() -> String {
    server("kafka")
}

fn name(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        unique(),
        fastrand::u32(..)
    )
}

/// A fresh topic with `partitions` partitions.
fn topic(brokers: &str, partitions: u32) -> String {
    let port = brokers.rsplit(':').next().unwrap();
    let name = name("gw");
    server_script("kafka", &["topic", port, &name, &partitions.to_string()]);
    name
}

fn kafka_config(brokers: &str, topic: &str, group: &str) -> Value {
    json!({"ingest": {"kafka": {"brokers": brokers, "topic": topic, "group": group,
                                "client_id": name("gateway")}}})
}

fn gateway(database_url: &str, brokers: &str, topic: &str, group: &str) -> Gateway {
    Launch::new(database_url)
        .config(kafka_config(brokers, topic, group))
        .start()
}

/// A gateway the group gives up on after 6 s of silence (the broker's smallest), not 45.
fn quick_to_replace(database_url: &str, brokers: &str, topic: &str, group: &str) -> Gateway {
    let mut config = kafka_config(brokers, topic, group);
    config["ingest"]["kafka"]["session_timeout_ms"] = json!(6000);
    Launch::new(database_url).config(config).start()
}

/// An app writing straight to Kafka with the core's kafka writer.
fn producer(dir: &std::path::Path, brokers: &str, topic: &str, site: &str) -> wafermon::Client {
    let config = json!({
        "app": {"name": "litho", "site_id": site},
        "direct_backends": [{"type": "kafka", "name": "k", "brokers": brokers, "topic": topic}],
        "spool": {"path": dir.join("spool")},
        "batch": {"flush_interval": 0.05},
    });
    wafermon::Client::new(wafermon::Config::from_value(config).unwrap()).unwrap()
}

/// One lot with `wafers` wafers, each with a step; wafer `fail` (if any) fails and the lot
/// is canceled then. Returns the lot's id and its number of events (3 + 5 per wafer).
fn run_lot(client: &wafermon::Client, lot: &str, wafers: usize, fail: Option<usize>) -> usize {
    let job = client.job("expose").kind("lot").id(lot).start().unwrap();
    for w in 0..wafers {
        let wafer = job.subjob("coat").kind("wafer").start().unwrap();
        let step = wafer.subjob("bake").kind("step").start().unwrap();
        step.finish().unwrap();
        wafer.progress(50.0).unwrap();
        if fail == Some(w) {
            wafer.fail("resist too thin").unwrap();
        } else {
            wafer.finish().unwrap();
        }
    }
    job.progress(100.0).unwrap();
    if fail.is_some() {
        job.cancel("a wafer failed").unwrap();
    } else {
        job.finish().unwrap();
    }
    3 + 5 * wafers
}

fn finish(client: &wafermon::Client) {
    client.flush(Duration::from_secs(60)).unwrap();
    let stats = client.close(Duration::from_secs(10));
    let k = stats.backends.iter().find(|b| b.name == "k").unwrap();
    assert_eq!(k.failed, 0, "{k:?}");
}

/// Every stored event of `site` (by the read API), at most 10000.
fn stored(gw: &Gateway, site: &str) -> Vec<Value> {
    let body = gw.get_json(&format!(
        "/v1/data/unified?site_id={site}&start=2000-01-01T00:00:00Z&limit=10000"
    ));
    body["events"]
        .as_array()
        .map(|events| events.iter().map(|e| e["event"].clone()).collect())
        .unwrap_or_default()
}

/// Wait until `check` holds; past `CATCH_UP`, fail with its last complaint.
fn eventually<T>(mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + CATCH_UP;
    loop {
        match check() {
            Ok(value) => return value,
            Err(why) => assert!(Instant::now() < deadline, "{why}"),
        }
        thread::sleep(Duration::from_millis(250));
    }
}

/// Every one of `expected` events of `site` stored, each exactly once.
fn all_stored_once(gw: &Gateway, site: &str, expected: usize) -> Vec<Value> {
    let events = eventually(|| {
        let events = stored(gw, site);
        if events.len() >= expected {
            Ok(events)
        } else {
            Err(format!("{} of {expected} events stored", events.len()))
        }
    });
    let ids: HashSet<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(events.len(), expected, "more events stored than sent");
    assert_eq!(ids.len(), expected, "an event stored twice");
    events
}

/// The gateway's `kafka` health object.
fn kafka_health(gw: &Gateway) -> Value {
    gw.get_json("/v1/health")["kafka"].clone()
}

/// Wait until the gateway holds some partition and its lag is 0 on all it holds.
fn caught_up(gw: &Gateway) -> Value {
    eventually(|| {
        let k = kafka_health(gw);
        let held = k["assigned"].as_array().map_or(0, Vec::len);
        let measured = k["lag"].as_object().map_or(0, |l| l.len());
        if held > 0 && measured == held && k["total_lag"] == 0 {
            Ok(k)
        } else {
            Err(format!("not caught up: {k}"))
        }
    })
}

/// A counter's value in /metrics (0 when absent).
fn counter(gw: &Gateway, name: &str) -> f64 {
    let metrics = gw.metrics();
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&format!("wafermon_gateway_{name}_total ")))
        .map_or(0.0, |v| v.parse().unwrap())
}

/// `wafermon_gateway_kafka_lag` per partition of `topic`, as /metrics gives it.
fn lag_metrics(gw: &Gateway, topic: &str) -> BTreeMap<i32, i64> {
    let prefix = format!("wafermon_gateway_kafka_lag{{topic=\"{topic}\",partition=\"");
    gw.metrics()
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix))
        .map(|rest| {
            let (partition, value) = rest.split_once("\"} ").unwrap();
            (partition.parse().unwrap(), value.parse().unwrap())
        })
        .collect()
}

/// (id, status, event_count) of every job of `site`.
fn job_states(gw: &Gateway, site: &str) -> Vec<(String, String, i64)> {
    let mut jobs: Vec<(String, String, i64)> = gw
        .all_jobs(&format!("site={site}"), 500)
        .iter()
        .map(|j| {
            (
                j["id"].as_str().unwrap().to_string(),
                j["status"].as_str().unwrap().to_string(),
                j["event_count"].as_i64().unwrap(),
            )
        })
        .collect();
    jobs.sort();
    jobs
}

/// Lots 0..n of `site`; lot 2 has a failed wafer and is canceled. Returns the events sent.
fn produce_lots(client: &wafermon::Client, site: &str, lots: usize, wafers: usize) -> usize {
    (0..lots)
        .map(|i| {
            let fail = (i == 2).then_some(1);
            run_lot(client, &format!("{site}-LOT{i}"), wafers, fail)
        })
        .sum()
}

fn assert_lot_states(gw: &Gateway, site: &str, lots: usize, wafers: usize) {
    let jobs = job_states(gw, site);
    // Per lot: the lot, its wafers and one step per wafer.
    assert_eq!(jobs.len(), lots * (1 + 2 * wafers), "{jobs:?}");
    for i in 0..lots {
        let lot = format!("{site}-LOT{i}");
        let (_, status, events) = jobs.iter().find(|j| j.0 == lot).unwrap();
        let expected = if i == 2 { "canceled" } else { "succeeded" };
        assert_eq!((status.as_str(), *events), (expected, 3), "{lot}");
    }
    let failed = jobs.iter().filter(|j| j.1 == "failed").count();
    assert_eq!(failed, 1, "{jobs:?}");
    assert!(jobs.iter().all(|j| j.1 != "running"), "{jobs:?}");
}

// ---------------------------------------------------------------------------------------

/// Events the core's kafka writer sent reach the store and the read API with their job
/// states; the lag shows in /metrics and /v1/health and falls to 0; the counters add up.
fn kafka_events_reach_the_store(database_url: &str) {
    let brokers = brokers();
    let topic = topic(&brokers, 3);
    let site = name("site");
    let gw = gateway(database_url, &brokers, &topic, &name("group"));
    let dir = tempfile::tempdir().unwrap();
    let client = producer(dir.path(), &brokers, &topic, &site);
    let sent = produce_lots(&client, &site, 6, 3);
    finish(&client);
    let events = all_stored_once(&gw, &site, sent);
    assert!(events.iter().all(|e| e["site"] == site.as_str()));
    assert_lot_states(&gw, &site, 6, 3);
    let health = caught_up(&gw);
    assert_eq!(health["topic"], topic.as_str());
    assert_eq!(health["assigned"], json!([0, 1, 2]), "{health}");
    assert_eq!(
        lag_metrics(&gw, &topic),
        BTreeMap::from([(0, 0), (1, 0), (2, 0)])
    );
    assert_eq!(counter(&gw, "kafka_events_stored"), sent as f64);
    assert_eq!(counter(&gw, "kafka_messages_consumed"), sent as f64);
    assert_eq!(counter(&gw, "kafka_messages_invalid"), 0.0);
}

/// The same messages consumed again (a second gateway, a fresh group, the same database)
/// leave every event once and every job state as it was.
fn redelivery_is_harmless(database_url: &str) {
    let brokers = brokers();
    let topic = topic(&brokers, 2);
    let site = name("site");
    let first = gateway(database_url, &brokers, &topic, &name("group"));
    let dir = tempfile::tempdir().unwrap();
    let client = producer(dir.path(), &brokers, &topic, &site);
    let sent = produce_lots(&client, &site, 4, 2);
    finish(&client);
    all_stored_once(&first, &site, sent);
    let before = job_states(&first, &site);
    drop(first);

    let again = gateway(database_url, &brokers, &topic, &name("group"));
    eventually(|| {
        let consumed = counter(&again, "kafka_messages_consumed");
        if consumed >= sent as f64 {
            Ok(())
        } else {
            Err(format!("{consumed} of {sent} consumed again"))
        }
    });
    caught_up(&again);
    assert_eq!(counter(&again, "kafka_events_stored"), 0.0);
    assert_eq!(counter(&again, "events_duplicate"), sent as f64);
    all_stored_once(&again, &site, sent);
    assert_eq!(job_states(&again, &site), before);
    assert_lot_states(&again, &site, 4, 2);
}

/// A gateway SIGKILLed while lots stream in, restarted in the same group, loses nothing
/// and stores nothing twice.
fn a_killed_gateway_loses_nothing(database_url: &str) {
    let brokers = brokers();
    let topic = topic(&brokers, 3);
    let site = name("site");
    let group = name("group");
    let mut gw = quick_to_replace(database_url, &brokers, &topic, &group);
    let dir = tempfile::tempdir().unwrap();
    let client = Arc::new(producer(dir.path(), &brokers, &topic, &site));
    let sent = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (client, sent, site) = (client.clone(), sent.clone(), site.clone());
        thread::spawn(move || {
            for i in 0..40 {
                let n = run_lot(&client, &format!("{site}-LOT{i}"), 2, None);
                sent.fetch_add(n, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(25));
            }
        })
    };
    // Killed once some, not all, of the stream is stored.
    eventually(|| {
        let n = stored(&gw, &site).len();
        if n > 0 {
            Ok(())
        } else {
            Err("nothing stored yet".to_string())
        }
    });
    let pid = libc::pid_t::try_from(gw.pid()).unwrap();
    // SAFETY: signalling the child this test spawned.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    drop(gw);
    writer.join().unwrap();
    finish(&client);
    let sent = sent.load(Ordering::SeqCst);
    gw = quick_to_replace(database_url, &brokers, &topic, &group);
    all_stored_once(&gw, &site, sent);
    caught_up(&gw);
    let jobs = job_states(&gw, &site);
    assert_eq!(jobs.len(), 40 * 5);
    assert!(jobs.iter().all(|j| j.1 == "succeeded"), "{jobs:?}");
}

/// A message that is not an event is counted, logged with its partition and offset, and
/// skipped: the events after it on the same partition are stored, the lag falls to 0.
fn a_malformed_message_is_skipped(database_url: &str) {
    let brokers = brokers();
    let topic = topic(&brokers, 1);
    let site = name("site");
    let mut gw = gateway(database_url, &brokers, &topic, &name("group"));
    let raw: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    for value in [&b"{not json"[..], br#"{"v": 1, "kind": "started"}"#] {
        raw.send(BaseRecord::<str, [u8]>::to(&topic).key("x").payload(value))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    raw.flush(Duration::from_secs(30)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = producer(dir.path(), &brokers, &topic, &site);
    let sent = run_lot(&client, &format!("{site}-LOT0"), 1, None);
    finish(&client);
    all_stored_once(&gw, &site, sent);
    caught_up(&gw);
    assert_eq!(counter(&gw, "kafka_messages_invalid"), 2.0);
    assert_eq!(counter(&gw, "kafka_messages_consumed"), (sent + 2) as f64);
    let log = gw.stderr();
    assert!(
        log.contains(&format!("'{topic}' partition 0 offset 0")),
        "{log}"
    );
    assert!(log.contains("offset 1") && log.contains("id"), "{log}");
    // SIGTERM stops the consumers too: the gateway exits cleanly.
    assert!(gw.terminate().success(), "{}", gw.stderr());
}

on_both_stores! {
    kafka_events_reach_the_store => kafka_events_reach_the_store_sqlite, kafka_events_reach_the_store_postgres;
    redelivery_is_harmless => redelivery_is_harmless_sqlite, redelivery_is_harmless_postgres;
    a_killed_gateway_loses_nothing => a_killed_gateway_loses_nothing_sqlite, a_killed_gateway_loses_nothing_postgres;
    a_malformed_message_is_skipped => a_malformed_message_is_skipped_sqlite, a_malformed_message_is_skipped_postgres;
}

/// Two gateways in one group on a 6-partition topic share the partitions (each holds some,
/// none both) and together store every event once; the live stream of each shows events
/// the other stored.
#[test]
fn two_gateways_in_one_group_share_the_partitions() {
    let db = PgDb::create();
    let brokers = brokers();
    let topic = topic(&brokers, 6);
    let site = name("site");
    let group = name("group");
    let a = gateway(&db.url, &brokers, &topic, &group);
    let b = gateway(&db.url, &brokers, &topic, &group);
    // Both joined, the partitions split between them, and each live reader holds all six.
    eventually(|| {
        let (ka, kb) = (kafka_health(&a), kafka_health(&b));
        let held = |k: &Value| -> Vec<i64> {
            k["assigned"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_i64().unwrap())
                .collect()
        };
        let (pa, pb) = (held(&ka), held(&kb));
        let mut all: Vec<i64> = pa.iter().chain(&pb).copied().collect();
        all.sort_unstable();
        let live_ready = [&ka, &kb]
            .iter()
            .all(|k| k["live"]["assigned"].as_array().map_or(0, Vec::len) == 6);
        if !pa.is_empty() && !pb.is_empty() && all == [0, 1, 2, 3, 4, 5] && live_ready {
            Ok(())
        } else {
            Err(format!("not shared yet: {ka} / {kb}"))
        }
    });
    let mut stream = b.stream(&format!("?site={site}"), None);
    let dir = tempfile::tempdir().unwrap();
    let client = producer(dir.path(), &brokers, &topic, &site);
    let sent = produce_lots(&client, &site, 20, 2);
    finish(&client);
    let events = all_stored_once(&a, &site, sent);
    caught_up(&a);
    caught_up(&b);
    let (stored_a, stored_b) = (
        counter(&a, "kafka_events_stored"),
        counter(&b, "kafka_events_stored"),
    );
    assert!(stored_a > 0.0 && stored_b > 0.0, "{stored_a} / {stored_b}");
    assert_eq!(stored_a + stored_b, sent as f64);
    assert_lot_states(&a, &site, 20, 2);
    // B's stream shows every event, those A stored included.
    let frames = stream.take(sent);
    let streamed: HashSet<String> = frames.iter().filter_map(|f| f.id.clone()).collect();
    let ids: HashSet<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(streamed, ids);
}

/// While the store refuses (another process holds SQLite's write lock), nothing is
/// committed and the lag shows what waits; once the store takes writes again, the batch
/// is consumed again, stored once, and the lag falls to 0.
#[test]
fn lag_shows_while_the_store_refuses_and_falls_to_zero() {
    let brokers = brokers();
    let topic = topic(&brokers, 1);
    let site = name("site");
    let db_dir = tempfile::tempdir().unwrap();
    let path = db_dir.path().join("gateway.sqlite3");
    let url = format!("sqlite://{}", path.display());
    let gw = gateway(&url, &brokers, &topic, &name("group"));
    caught_up_or_empty(&gw);
    let lock = rusqlite::Connection::open(&path).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = producer(dir.path(), &brokers, &topic, &site);
    let sent = run_lot(&client, &format!("{site}-LOT0"), 2, None);
    finish(&client);
    let lagging = eventually(|| {
        let k = kafka_health(&gw);
        let failures = counter(&gw, "kafka_store_failures");
        if k["lag"]["0"] == sent && failures > 0.0 {
            Ok(k)
        } else {
            Err(format!("no lag shown yet ({failures} failures): {k}"))
        }
    });
    assert!(lagging["last_error"].as_str().unwrap().contains("store"));
    assert_eq!(lag_metrics(&gw, &topic), BTreeMap::from([(0, sent as i64)]));
    lock.execute_batch("ROLLBACK").unwrap();
    all_stored_once(&gw, &site, sent);
    caught_up(&gw);
    assert_eq!(lag_metrics(&gw, &topic), BTreeMap::from([(0, 0)]));
}

/// Wait until the gateway holds its partitions (nothing to consume yet).
fn caught_up_or_empty(gw: &Gateway) {
    eventually(|| {
        let k = kafka_health(gw);
        if k["assigned"].as_array().is_some_and(|a| !a.is_empty()) && k["total_lag"] == 0 {
            Ok(())
        } else {
            Err(format!("not assigned yet: {k}"))
        }
    });
}

/// Gateways without `ingest.kafka` say nothing about Kafka; a gateway whose brokers are
/// down still serves HTTP and names the problem in its health.
#[test]
fn a_gateway_with_brokers_down_still_serves() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("g.sqlite3").display());
    let plain = Gateway::start(&url);
    assert!(plain.get_json("/v1/health").get("kafka").is_none());
    drop(plain);
    let port = wafermon_testkit::servers::free_port();
    let gw = gateway(&url, &format!("127.0.0.1:{port}"), "nowhere", "g");
    let health = gw.get_json("/v1/health");
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["kafka"]["topic"], "nowhere");
    assert_eq!(health["kafka"]["assigned"], json!([]));
    // librdkafka's own error reaches the health answer.
    eventually(|| {
        let k = kafka_health(&gw);
        match k["last_error"].as_str() {
            Some(e) if e.to_lowercase().contains("broker") => Ok(()),
            _ => Err(format!("no broker error yet: {k}")),
        }
    });
}

/// The issue's scale-out run: a 6-partition topic, 3 producing apps and 2 gateways in one
/// group on PostgreSQL; one gateway is SIGKILLed mid-stream, the other takes over all its
/// partitions, the killed one is restarted later and gets its share back. Every event
/// acknowledged by Kafka is in the store exactly once and every job's state is right.
#[test]
fn three_producers_two_gateways_one_killed_and_restarted() {
    let db = PgDb::create();
    let brokers = brokers();
    let topic = topic(&brokers, 6);
    let site = name("site");
    let group = name("group");
    let launch = || quick_to_replace(&db.url, &brokers, &topic, &group);
    let a = launch();
    let mut b = launch();
    let dir = tempfile::tempdir().unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let lots_per_producer = 30;
    let writers: Vec<_> = (0..3)
        .map(|p| {
            let client = producer(&dir.path().join(format!("p{p}")), &brokers, &topic, &site);
            let (sent, site) = (sent.clone(), site.clone());
            thread::spawn(move || {
                for i in 0..lots_per_producer {
                    let lot = format!("{site}-P{p}-LOT{i}");
                    let n = run_lot(&client, &lot, 2, (i == 4).then_some(0));
                    sent.fetch_add(n, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(100));
                }
                finish(&client);
            })
        })
        .collect();
    eventually(|| {
        let n = stored(&a, &site).len();
        let held_by_b = kafka_health(&b)["assigned"].as_array().map_or(0, Vec::len);
        if n > 0 && held_by_b > 0 {
            Ok(())
        } else {
            Err(format!("{n} stored, B holds {held_by_b} partitions"))
        }
    });
    let pid = libc::pid_t::try_from(b.pid()).unwrap();
    // SAFETY: signalling the child this test spawned.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    drop(b);
    // The survivor is handed every partition once the group gives up on B.
    eventually(|| {
        let k = kafka_health(&a);
        if k["assigned"] == json!([0, 1, 2, 3, 4, 5]) {
            Ok(())
        } else {
            Err(format!("A has not taken over: {k}"))
        }
    });
    b = launch();
    for writer in writers {
        writer.join().unwrap();
    }
    let sent = sent.load(Ordering::SeqCst);
    assert_eq!(sent, 3 * lots_per_producer * 13);
    all_stored_once(&a, &site, sent);
    caught_up(&a);
    caught_up(&b);
    let jobs = job_states(&a, &site);
    assert_eq!(jobs.len(), 3 * lots_per_producer * 5, "{jobs:?}");
    let count = |status: &str| jobs.iter().filter(|j| j.1 == status).count();
    assert_eq!(count("canceled"), 3, "{jobs:?}");
    assert_eq!(count("failed"), 3, "{jobs:?}");
    assert_eq!(count("succeeded"), jobs.len() - 6, "{jobs:?}");
    // Each stored event counted once in its job's state.
    let counted: i64 = jobs.iter().map(|j| j.2).sum();
    assert_eq!(counted, sent as i64);
}

/// A broker that takes only SASL over TLS (kafka.sh with KAFKA_SECURE): a writer and a
/// gateway with SCRAM-SHA-256 and the broker's CA store every event once; a gateway with a
/// wrong password stores nothing and says why in its health.
#[test]
fn over_sasl_and_tls_the_gateway_stores_what_a_secured_writer_sent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("kafka");
    let broker =
        common::servers::PrivateServer::start_with("kafka", &data, &[("KAFKA_SECURE", "true")]);
    let plain = format!("127.0.0.1:{}", broker.port);
    let topic = topic(&plain, 3);
    let security = |password: &str| {
        json!({"sasl": {"mechanism": "SCRAM-SHA-256", "username": "wafermon", "password": password},
               "tls": {"ca_file": data.join("tls/ca.pem")}})
    };
    let with_security = |mut entry: Value, password: &str| {
        for (k, v) in security(password).as_object().unwrap() {
            entry[k] = v.clone();
        }
        entry
    };

    let site = name("site");
    let url = format!("sqlite://{}", dir.path().join("g.sqlite3").display());
    let mut config = kafka_config(&broker.address, &topic, &name("group"));
    config["ingest"]["kafka"] = with_security(config["ingest"]["kafka"].clone(), "wafermon-secret");
    let gw = Launch::new(&url).config(config).start();

    let app = json!({
        "app": {"name": "litho", "site_id": site},
        "direct_backends": [with_security(
            json!({"type": "kafka", "name": "k", "brokers": broker.address, "topic": topic}),
            "wafermon-secret")],
        "spool": {"path": dir.path().join("spool")},
        "batch": {"flush_interval": 0.05},
    });
    let client = wafermon::Client::new(wafermon::Config::from_value(app).unwrap()).unwrap();
    let sent = produce_lots(&client, &site, 3, 2);
    finish(&client);
    all_stored_once(&gw, &site, sent);
    assert_lot_states(&gw, &site, 3, 2);

    let refused_url = format!("sqlite://{}", dir.path().join("r.sqlite3").display());
    let mut config = kafka_config(&broker.address, &topic, &name("group"));
    config["ingest"]["kafka"] = with_security(config["ingest"]["kafka"].clone(), "not-the-secret");
    let refused = Launch::new(&refused_url).config(config).start();
    let why = eventually(|| {
        let health = refused.get_json("/v1/health");
        let error = health["kafka"]["last_error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if error.is_empty() {
            Err(format!("no error in the health yet: {health}"))
        } else {
            Ok(error)
        }
    });
    assert!(why.contains("Authentication"), "{why}");
    assert!(stored(&refused, &site).is_empty());
}
