//! The zabbix backend against a real Zabbix server 6.0 (scripts/servers/zabbix.sh): values
//! are read back from the server's own database (history tables).
#![cfg(feature = "zabbix")]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use wafermon::backends::{build, DeliveryError};
use wafermon::event::{App, Entity};
use wafermon::{Batch, Client, Config, Event, Kind, Status, Timestamp};

use common::servers::{server, PrivateServer};

const HOST: &str = "wafermon-test";

const ALL_KEYS: &[&str] = &[
    "wafermon.status",
    "wafermon.kind",
    "wafermon.progress",
    "wafermon.message",
    "wafermon.wafers",
    "wafermon.duration_s",
    "wafermon.cpu_user_s",
    "wafermon.max_rss_bytes",
];

/// Items of the test host: the defaults plus the ones the tests add.
fn items() -> Json {
    json!({
        "wafermon.status": "status",
        "wafermon.kind": "kind",
        "wafermon.progress": "progress",
        "wafermon.message": "message",
        "wafermon.wafers": "metrics.wafers",
        "wafermon.duration_s": "metrics.duration_s",
        "wafermon.cpu_user_s": "metrics.cpu_user_s",
        "wafermon.max_rss_bytes": "metrics.max_rss_bytes"
    })
}

fn port_of(address: &str) -> u16 {
    address.rsplit(':').next().unwrap().parse().unwrap()
}

fn database(port: u16) -> String {
    if port == 10051 {
        "zabbix".into()
    } else {
        format!("zabbix_p{port}")
    }
}

/// A client writing to zabbix (and to JSONL under `dir`, so the test knows exactly what was
/// emitted).
fn client(dir: &Path, port: u16, zabbix: Json, extra: Json) -> Client {
    let mut backend = json!({"type": "zabbix", "server": "127.0.0.1", "port": port,
        "host": HOST, "items": items(), "timeout": 5});
    backend
        .as_object_mut()
        .unwrap()
        .extend(zabbix.as_object().unwrap().clone());
    let mut config = common::config_in(
        dir,
        json!({
            "direct_backends": [
                {"type": "filesystem", "name": "files", "path": dir.join("data")},
                backend
            ],
            "retry": {"initial_backoff": 0.05, "max_backoff": 0.5}
        }),
    );
    if let (Json::Object(c), Json::Object(e)) = (&mut config, extra) {
        c.extend(e);
    }
    Client::new(Config::from_value(config).expect("valid config")).expect("client")
}

/// One stored value: item key -> (clock, ns) -> value text.
type Stored = BTreeMap<String, BTreeMap<(i64, u32), String>>;

/// The values of the test host's items stored in [from, to] seconds.
fn stored(db: &str, from: i64, to: i64) -> Stored {
    let mut sql = String::new();
    for table in ["history", "history_str", "history_text", "history_uint"] {
        if !sql.is_empty() {
            sql.push_str(" UNION ALL ");
        }
        sql.push_str(&format!(
            "SELECT i.key_, h.clock, h.ns, h.value::text FROM {table} h JOIN items i \
             USING (itemid) WHERE i.hostid = 900001 AND h.clock BETWEEN {from} AND {to}"
        ));
    }
    let out = Command::new("psql")
        .env("PGPASSWORD", "zabbix")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "zabbix",
            "-d",
            db,
            "-qtAX",
            "-F",
            "\u{1f}",
        ])
        .args(["-c", &sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut values = Stored::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.splitn(4, '\u{1f}').collect();
        if f.len() < 4 {
            continue;
        }
        let previous = values.entry(f[0].to_string()).or_default().insert(
            (f[1].parse().unwrap(), f[2].parse().unwrap()),
            f[3].to_string(),
        );
        assert!(previous.is_none(), "value stored twice: {line}");
    }
    values
}

/// What Zabbix should hold for `events` under the item mapping `items()` restricted to `keys`.
fn expected(events: &[Json], keys: &[&str]) -> Stored {
    let mapping = items();
    let mut want = Stored::new();
    for e in events {
        let micros = Timestamp::parse(e["time"].as_str().unwrap())
            .unwrap()
            .unix_micros();
        // The backend puts the event's seq below the microseconds (see its `nanos`).
        let seq = e["seq"].as_u64().unwrap();
        let at = (
            micros.div_euclid(1_000_000),
            (micros.rem_euclid(1_000_000) * 1000) as u32 + (seq % 1000) as u32,
        );
        for key in keys {
            let source = mapping[*key].as_str().unwrap();
            let value = match source.strip_prefix("metrics.") {
                Some(name) => e["metrics"].get(name).cloned(),
                None => e.get(source).cloned(),
            };
            let text = match value {
                Some(Json::String(s)) => s,
                Some(Json::Number(n)) => n.to_string(),
                _ => continue,
            };
            want.entry(key.to_string()).or_default().insert(at, text);
        }
    }
    want
}

fn same_value(a: &str, b: &str) -> bool {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Wait until every wanted value is in the database (the server writes history every
/// second or so); then compare.
fn assert_stored(db: &str, want: &Stored) {
    let clocks = want.values().flat_map(|v| v.keys().map(|(c, _)| *c));
    let (from, to) = (clocks.clone().min().unwrap(), clocks.max().unwrap());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = stored(db, from, to);
        let missing: Vec<String> = want
            .iter()
            .flat_map(|(key, values)| {
                let got = got.get(key);
                values.iter().filter_map(move |(at, v)| {
                    let stored = got.and_then(|g| g.get(at));
                    match stored {
                        Some(s) if same_value(s, v) => None,
                        Some(s) => Some(format!("{key} at {at:?}: stored {s}, sent {v}")),
                        None => Some(format!("{key} at {at:?}: {v} not stored")),
                    }
                })
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "values missing in {db}:\n{}",
            missing.join("\n")
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn zabbix_stats(client: &Client) -> wafermon::BackendStats {
    client
        .stats()
        .backends
        .into_iter()
        .find(|b| b.kind == "zabbix")
        .expect("zabbix backend stats")
}

fn run_jobs(client: &Client, jobs: usize) {
    for n in 0..jobs {
        let job = client.job("etch").key(format!("LOT{n}")).start().unwrap();
        job.progress_with(50.0, "half the wafers").unwrap();
        job.metric("wafers", 25.0 + n as f64).unwrap();
        if n % 2 == 0 {
            job.finish().unwrap();
        } else {
            job.fail("chamber pressure out of range").unwrap();
        }
    }
}

#[test]
fn round_trip_stores_every_mapped_value() {
    let address = server("zabbix");
    let dir = tempfile::tempdir().unwrap();
    let client = client(dir.path(), port_of(&address), json!({}), json!({}));
    run_jobs(&client, 4);
    client.flush(Duration::from_secs(30)).expect("flushed");
    let stats = zabbix_stats(&client);
    assert_eq!((stats.sent, stats.failed), (16, 0), "{stats:?}");
    assert_eq!(stats.last_error, None);

    let events = common::read_events(&dir.path().join("data"));
    assert_eq!(events.len(), 16);
    let want = expected(&events, ALL_KEYS);
    // Every event sends status and kind; finish events carry the resource metrics.
    assert_eq!(want["wafermon.status"].len(), 16);
    assert!(want["wafermon.progress"].len() >= 4);
    assert!(want["wafermon.duration_s"].len() >= 2);
    assert!(want["wafermon.message"]
        .values()
        .any(|m| m == "chamber pressure out of range"));
    assert!(want["wafermon.status"].values().any(|s| s == "failed"));
    assert_stored("zabbix", &want);
}

#[test]
fn a_big_batch_is_split_into_several_requests() {
    let address = server("zabbix");
    let dir = tempfile::tempdir().unwrap();
    let client = client(
        dir.path(),
        port_of(&address),
        json!({"items": {"wafermon.wafers": "metrics.wafers"}}),
        json!({"batch": {"max_events": 5000, "flush_interval": 5}}),
    );
    let job = client.job("bulk").start().unwrap();
    for n in 0..2500 {
        job.metric("wafers", n as f64).unwrap();
    }
    job.finish().unwrap();
    client.flush(Duration::from_secs(60)).expect("flushed");
    let stats = zabbix_stats(&client);
    assert_eq!((stats.sent, stats.failed), (2502, 0), "{stats:?}");
    let events = common::read_events(&dir.path().join("data"));
    let want = expected(&events, &["wafermon.wafers"]);
    assert_eq!(want["wafermon.wafers"].len(), 2500);
    assert_stored("zabbix", &want);
}

#[test]
fn unknown_and_disabled_items_are_failed_with_their_keys_and_the_good_ones_stored() {
    let address = server("zabbix");
    let dir = tempfile::tempdir().unwrap();
    let client = client(
        dir.path(),
        port_of(&address),
        json!({"items": {
            "wafermon.progress": "progress",
            "wafermon.no_such_item": "metrics.wafers",
            "wafermon.disabled": "message"
        }, "retries": 2}),
        json!({}),
    );
    run_jobs(&client, 2);
    client.flush(Duration::from_secs(30)).expect("flushed");
    let stats = zabbix_stats(&client);
    // Job 0: started (nothing mapped: delivered), progress (its message goes to the disabled
    // item), metric (unknown item), finished (nothing mapped). Job 1 fails with a message.
    assert_eq!((stats.sent, stats.failed), (3, 5), "{stats:?}");
    // Refusals are not retried.
    assert_eq!(stats.retried, 0, "{stats:?}");
    let error = stats.last_error.expect("last_error");
    assert!(
        error.contains("'wafermon.no_such_item' (2 values)"),
        "{error}"
    );
    assert!(error.contains("'wafermon.disabled' (3 values)"), "{error}");
    assert!(error.contains("host 'wafermon-test'"), "{error}");
    assert!(
        error.contains("item not found or not a trapper item"),
        "{error}"
    );
    assert!(error.contains("failed: "), "{error}");

    // The good item of the refused events is stored all the same.
    let events = common::read_events(&dir.path().join("data"));
    assert_stored("zabbix", &expected(&events, &["wafermon.progress"]));
}

#[test]
fn an_unknown_host_fails_every_value_with_the_servers_answer() {
    let address = server("zabbix");
    let dir = tempfile::tempdir().unwrap();
    let client = client(
        dir.path(),
        port_of(&address),
        json!({"host": "no-such-host", "items": {"wafermon.status": "status"}}),
        json!({}),
    );
    run_jobs(&client, 1);
    client.flush(Duration::from_secs(30)).expect("flushed");
    let stats = zabbix_stats(&client);
    assert_eq!(
        (stats.sent, stats.failed, stats.retried),
        (0, 4, 0),
        "{stats:?}"
    );
    let error = stats.last_error.expect("last_error");
    assert!(error.contains("host 'no-such-host'"), "{error}");
    assert!(error.contains("'wafermon.status' (4 values)"), "{error}");
    assert!(
        error.contains("processed: 0; failed: 4; total: 4"),
        "{error}"
    );
}

fn event(n: u64, kind: Kind, progress: Option<f64>, message: Option<&str>) -> Event {
    Event {
        v: 1,
        id: uuid::Uuid::now_v7(),
        seq: n,
        time: Timestamp::from_unix_micros(Timestamp::now().unix_micros() + n as i64),
        site: "F1".into(),
        app: App {
            name: "etch-app".into(),
            version: None,
            instance: None,
        },
        entity: Entity::new("job", format!("j{n}")),
        kind,
        status: Status::Running,
        progress,
        level: None,
        message: message.map(str::to_string),
        metrics: BTreeMap::new(),
        attrs: BTreeMap::new(),
    }
}

fn backend(port: u16, items: Json) -> Box<dyn wafermon::backends::Backend> {
    let config = Config::from_value(json!({
        "app": {"name": "etch-app", "site_id": "F1"},
        "direct_backends": [{"type": "zabbix", "server": "127.0.0.1", "port": port,
            "host": HOST, "items": items, "timeout": 5}]
    }))
    .expect("valid config");
    build(&config.direct_backends[0], &config.app).expect("backend builds")
}

#[test]
fn partial_results_name_the_positions_of_refused_events() {
    let address = server("zabbix");
    let mut zabbix = backend(
        port_of(&address),
        json!({"wafermon.progress": "progress", "wafermon.nope": "message"}),
    );
    let batch = Batch::from_events(&[
        event(0, Kind::Progress, Some(10.0), None),
        event(1, Kind::Started, None, None),
        event(2, Kind::Log, None, Some("refused")),
        event(3, Kind::Progress, Some(30.0), Some("refused too")),
    ]);
    match zabbix.send(&batch) {
        Err(DeliveryError::Partial {
            rejected,
            retry,
            message,
            ..
        }) => {
            assert_eq!(rejected, [2, 3]);
            assert!(retry.is_empty());
            assert!(message.contains("'wafermon.nope' (2 values)"), "{message}");
        }
        other => panic!("expected a partial failure, got {other:?}"),
    }
    // Events without any mapped value have nothing to send: delivered.
    let nothing = Batch::from_events(&[event(4, Kind::Started, None, None)]);
    assert_eq!(zabbix.send(&nothing), Ok(()));
}

#[test]
fn events_of_one_microsecond_are_all_stored() {
    let address = server("zabbix");
    let mut zabbix = backend(port_of(&address), json!({"wafermon.progress": "progress"}));
    let at = Timestamp::now();
    let events: Vec<Event> = (0..3)
        .map(|n| Event {
            time: at,
            ..event(n, Kind::Progress, Some(10.0 * n as f64), None)
        })
        .collect();
    assert_eq!(zabbix.send(&Batch::from_events(&events)), Ok(()));
    let json: Vec<Json> = events
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    let want = expected(&json, &["wafermon.progress"]);
    assert_eq!(want["wafermon.progress"].len(), 3);
    assert_stored("zabbix", &want);
}

#[test]
fn a_closed_port_is_transient() {
    let port = common::servers::free_port();
    let mut zabbix = backend(port, json!({"wafermon.progress": "progress"}));
    let batch = Batch::from_events(&[event(0, Kind::Progress, Some(10.0), None)]);
    match zabbix.send(&batch) {
        Err(DeliveryError::Transient { message, .. }) => {
            assert!(message.contains("cannot connect"), "{message}")
        }
        other => panic!("expected a transient failure, got {other:?}"),
    }
}

#[test]
fn an_outage_loses_nothing_and_stores_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let instance = PrivateServer::start("zabbix", &dir.path().join("server"));
    let db = database(instance.port);
    let client = client(
        &dir.path().join("client"),
        port_of(&instance.address),
        json!({"retries": 1, "timeout": 2}),
        json!({}),
    );
    run_jobs(&client, 2);
    client
        .flush(Duration::from_secs(30))
        .expect("flushed before the outage");

    instance.stop();
    run_jobs(&client, 3);
    assert!(
        client.flush(Duration::from_secs(1)).is_err(),
        "nothing can be delivered while the server is down"
    );
    let down = zabbix_stats(&client);
    assert!(down.retried > 0 || down.spooled > 0, "{down:?}");

    instance.restart();
    client
        .flush(Duration::from_secs(60))
        .expect("flushed after the outage");
    let stats = zabbix_stats(&client);
    assert_eq!((stats.sent, stats.failed), (20, 0), "{stats:?}");

    let events = common::read_events(&dir.path().join("client/data"));
    assert_eq!(events.len(), 20);
    // `stored` panics on a value stored twice.
    assert_stored(&db, &expected(&events, ALL_KEYS));
}

#[test]
fn config_errors_name_the_field() {
    let error = |backend: Json| {
        let mut entry = json!({"type": "zabbix", "server": "127.0.0.1", "host": HOST});
        entry
            .as_object_mut()
            .unwrap()
            .extend(backend.as_object().unwrap().clone());
        let config = json!({"app": {"name": "a", "site_id": "F1"}, "direct_backends": [entry]});
        match Config::from_value(config).and_then(Client::new) {
            Ok(_) => panic!("{backend} was accepted"),
            Err(e) => e.to_string(),
        }
    };
    let e = error(json!({"server": "http://zabbix:10051"}));
    assert!(e.contains("server") && e.contains("not a host name"), "{e}");
    let e = error(json!({"host": ""}));
    assert!(e.contains("direct_backends[0].host"), "{e}");
    let e = error(json!({"port": 0}));
    assert!(e.contains("direct_backends[0].port"), "{e}");
    let e = error(json!({"items": {"k": "cpu"}}));
    assert!(e.contains("direct_backends[0].items.k"), "{e}");
    let e = error(json!({"items": {}}));
    assert!(e.contains("direct_backends[0].items"), "{e}");
    let e = error(json!({"prot": 1}));
    assert!(e.contains("prot"), "{e}");
}
