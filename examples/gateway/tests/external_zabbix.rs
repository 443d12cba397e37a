//! The `zabbix` source: events written by the core's zabbix backend to a real Zabbix server
//! 6.0, read back through the real Zabbix frontend API (scripts/servers/zabbix-api.sh).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wafermon::{Client, Config, Kind, NewEvent, Timestamp};

use common::servers::{free_port, server};
use common::{encode, ts, Launch, DAY, SECOND};

const HOST: &str = "wafermon-test";

fn items() -> Value {
    json!({
        "wafermon.status": "status",
        "wafermon.kind": "kind",
        "wafermon.progress": "progress",
        "wafermon.message": "message",
        "wafermon.wafers": "metrics.wafers",
        "wafermon.duration_s": "metrics.duration_s"
    })
}

/// A window of its own, a month back: no other test writes there, and one run's events
/// fall within 10 ms, so runs never share a window.
fn window() -> i64 {
    Timestamp::now().unix_micros() - 30 * DAY
}

/// Write six events through the zabbix backend (and JSONL, to know what was written).
fn write_events(w: i64) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let address = server("zabbix");
    let port: u16 = address.rsplit(':').next().unwrap().parse().unwrap();
    let config = json!({
        "app": {"name": "etch-app", "version": "1.0", "site_id": "fab1", "instance_id": "t-1"},
        "direct_backends": [
            {"type": "filesystem", "path": dir.path().join("data")},
            {"type": "zabbix", "server": "127.0.0.1", "port": port, "host": HOST,
             "items": items()}
        ],
        "spool": {"path": dir.path().join("spool")},
        "batch": {"flush_interval": 0.05}
    });
    let client = Client::new(Config::from_value(config).unwrap()).unwrap();
    let at = |ms: i64| Timestamp::from_unix_micros(w + ms * 1000);
    let events = [
        NewEvent::new(Kind::Started, "job", "J1").time(at(0)),
        NewEvent::new(Kind::Progress, "job", "J1")
            .progress(40.0)
            .message("loading")
            .time(at(1)),
        NewEvent::new(Kind::Metric, "job", "J1")
            .metric("wafers", 25.0)
            .time(at(2)),
        NewEvent::new(Kind::Finished, "job", "J1")
            .metric("duration_s", 12.5)
            .time(at(3)),
        NewEvent::new(Kind::Started, "job", "J2").time(at(4)),
        NewEvent::new(Kind::Failed, "job", "J2")
            .message("chamber fault")
            .time(at(5)),
    ];
    for e in &events {
        client.emit(e).unwrap();
    }
    client.flush(common::PATIENCE).unwrap();
    let stats = client.close(common::PATIENCE);
    let zabbix = stats.backends.iter().find(|b| b.kind == "zabbix").unwrap();
    assert_eq!((zabbix.sent, zabbix.failed), (6, 0), "{zabbix:?}");
    let mut written = common::read_jsonl(&dir.path().join("data"));
    written.sort_by_key(|e| e["seq"].as_u64());
    written
}

fn range(w: i64) -> Value {
    json!({"start": ts(w - SECOND), "end": ts(w + SECOND)})
}

/// Query until the server has written every value of all six events to its history. It
/// syncs each value type's table on its own (every second or so), so an event can show up
/// while its float items (progress, metrics) are still on their way. At the deadline the
/// last answer is returned, for the caller's assertions to say what is missing.
fn query_all(gw: &common::Gateway, w: i64, written: &[Value]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = gw
            .post_json(
                "/v1/query/external",
                &json!({"source": "plant-zabbix", "time_range": range(w)}),
            )
            .expect(200);
        let complete = reply["matched"] == 6
            && reply["events"].as_array().is_some_and(|events| {
                events
                    .iter()
                    .zip(written)
                    .all(|(got, sent)| common::same_json(&comparable(got), &comparable(sent)))
            });
        if complete || Instant::now() >= deadline {
            return reply;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// What the zabbix source gives back of an event, with numbers as floats: Zabbix stores
/// progress as a float item, so 40 comes back as 40.0.
fn comparable(event: &Value) -> Value {
    let mut view = zabbix_view(event);
    if let Some(p) = view["progress"].as_f64() {
        view["progress"] = json!(p);
    }
    view
}

/// The fields the zabbix source can give back, as the writer wrote them.
fn zabbix_view(written: &Value) -> Value {
    let metrics: BTreeMap<String, Value> = written["metrics"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| ["wafers", "duration_s"].contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "time": written["time"], "kind": written["kind"], "status": written["status"],
        "progress": written.get("progress"), "message": written.get("message"),
        "metrics": metrics,
    })
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

#[test]
fn the_zabbix_source_reads_back_what_the_backend_sent() {
    common::on_sqlite(|db| {
        let api = server("zabbix-api");
        let w = window();
        let written = write_events(w);
        assert_eq!(written.len(), 6);
        let dead = format!("http://127.0.0.1:{}/api_jsonrpc.php", free_port());
        let source = |name: &str, url: &str| {
            json!({"name": name, "type": "zabbix", "url": url, "username": "Admin",
                   "password": "zabbix", "host": HOST, "items": items(), "timeout_s": 5})
        };
        let gw = Launch::new(db)
            .config(json!({
                "external_cache_ttl_s": 0,
                "sources": [source("plant-zabbix", &api), source("dead-zabbix", &dead)]
            }))
            .start();
        let sources = gw.get_json("/v1/sources");
        assert_eq!(
            sources["sources"][1],
            json!({"name": "plant-zabbix", "type": "zabbix"})
        );

        let all = query_all(&gw, w, &written);
        assert_eq!(all["type"], "zabbix");
        assert_eq!(all["truncated"], false);
        let events = all["events"].as_array().unwrap();
        for (got, sent) in events.iter().zip(&written) {
            let (view, want) = (comparable(got), comparable(sent));
            assert!(common::same_json(&view, &want), "{view} != {want}");
            assert_eq!(got["site"], HOST);
            assert_eq!(got["app"]["name"], "zabbix");
            assert_eq!(got["entity"], json!({"kind": "host", "id": HOST}));
        }
        // The same rows give the same ids on every read.
        let again = query_all(&gw, w, &written);
        let ids = |r: &Value| -> Vec<String> {
            r["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(ids(&all), ids(&again));

        let query = |filters: Value, limit: u32| {
            gw.post_json(
                "/v1/query/external",
                &json!({"source": "plant-zabbix", "time_range": range(w),
                        "filters": filters, "limit": limit}),
            )
            .expect(200)
        };
        let first_two = query(json!({}), 2);
        assert_eq!(first_two["matched"], 6);
        assert_eq!(first_two["truncated"], true);
        assert_eq!(
            kinds(first_two["events"].as_array().unwrap()),
            ["started", "progress"]
        );
        let failed = query(json!({"kind": "failed"}), 100);
        assert_eq!(kinds(failed["events"].as_array().unwrap()), ["failed"]);
        assert_eq!(failed["events"][0]["message"], "chamber fault");
        let done = query(json!({"status": "succeeded", "entity_id": HOST}), 100);
        assert_eq!(kinds(done["events"].as_array().unwrap()), ["finished"]);
        assert_eq!(done["events"][0]["metrics"]["duration_s"], 12.5);
        let elsewhere = query(json!({"site": "fab9"}), 100);
        assert_eq!(elsewhere["matched"], 0);

        // A dead source is its own error; the unified view answers with the others.
        gw.post_json(
            "/v1/query/external",
            &json!({"source": "dead-zabbix", "time_range": range(w)}),
        )
        .expect_error(502, "dead-zabbix");
        let view = gw.get_json(&format!(
            "/v1/data/unified?site_id={HOST}&start={}&end={}",
            encode(&ts(w - SECOND)),
            encode(&ts(w + SECOND))
        ));
        let unified = view["events"].as_array().unwrap();
        assert_eq!(unified.len(), 6, "{view}");
        assert!(unified.iter().all(|e| e["source"] == "plant-zabbix"));
        let reports = view["sources"].as_array().unwrap();
        assert_eq!(
            reports[1],
            json!({"name": "plant-zabbix", "ok": true, "matched": 6})
        );
        assert_eq!(reports[2]["name"], "dead-zabbix");
        assert_eq!(reports[2]["ok"], false);
        assert!(
            reports[2]["error"].as_str().unwrap().contains("zabbix API"),
            "{view}"
        );
    });
}
