//! The cloudwatch external source against moto server on 127.0.0.1: events written by the
//! core's cloudwatch backend come back through `POST /v1/query/external` and
//! `GET /v1/data/unified` as the same schema v1 events. CloudWatch refuses events older than
//! 14 days, so the times here are relative to now.

mod common;

use serde_json::{json, Value};

use common::servers::{free_port, server};
use common::{counts, encode, on_sqlite, same_json, ts, Launch, MINUTE, PATIENCE};

fn source(name: &str, endpoint: &str, group: &str) -> Value {
    json!({"name": name, "type": "cloudwatch", "endpoint": endpoint, "region": "eu-west-1",
           "access_key_id": "testing", "secret_access_key": "testing",
           "log_group": group, "timeout": 3})
}

/// Events of two sites written with the core's cloudwatch backend; as written (schema v1).
fn write(endpoint: &str, group: &str, start: i64) -> Vec<Value> {
    let mut written = Vec::new();
    // fab2's events a minute after fab1's, so the order by time is one order.
    for (site, prefix, offset) in [("fab1", "F", 0), ("fab2", "G", MINUTE)] {
        let spool = tempfile::tempdir().unwrap();
        let config = json!({
            "app": {"name": "etch-tool", "version": "1.0", "site_id": site, "instance_id": "t-1"},
            "direct_backends": [
                {"type": "filesystem", "path": spool.path().join("data")},
                {"type": "cloudwatch", "endpoint": endpoint, "region": "eu-west-1",
                 "access_key_id": "testing", "secret_access_key": "testing",
                 "log_group": group, "namespace": null}
            ],
            "spool": {"path": spool.path().join("spool")},
            "batch": {"flush_interval": 0.05}
        });
        let client = wafermon::Client::new(wafermon::Config::from_value(config).unwrap()).unwrap();
        for i in 0..5i64 {
            let kind = if i % 3 == 2 {
                wafermon::Kind::Failed
            } else {
                wafermon::Kind::Started
            };
            let event = wafermon::NewEvent::new(kind, "job", format!("{prefix}-{i}"))
                .time(wafermon::Timestamp::from_unix_micros(
                    start + i * 5 * MINUTE + offset + 123,
                ))
                .message(format!("{prefix} {i} ü"));
            client.emit(&event).unwrap();
        }
        client.flush(PATIENCE).unwrap();
        let stats = client.close(PATIENCE);
        assert!(stats.backends.iter().all(|b| b.sent == 5), "{stats:?}");
        written.extend(read_jsonl(&spool.path().join("data")));
    }
    written.sort_by_key(|e| (e["time"].as_str().unwrap().to_string(), e["seq"].as_u64()));
    written
}

fn read_jsonl(dir: &std::path::Path) -> Vec<Value> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let text = std::fs::read_to_string(&path).unwrap();
                out.extend(
                    text.lines()
                        .map(|l| serde_json::from_str::<Value>(l).unwrap()),
                );
            }
        }
    }
    out
}

fn ids(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["entity"]["id"].as_str().unwrap())
        .collect()
}

#[test]
fn cloudwatch_events_come_back_through_the_gateway() {
    on_sqlite(scenario);
}

fn scenario(db: &str) {
    let endpoint = server("moto");
    let group = format!("/wafermon/gateway-test/{}", uuid::Uuid::now_v7().simple());
    let now = wafermon::Timestamp::now().unix_micros();
    let start = now - 60 * MINUTE;
    let written = write(&endpoint, &group, start);
    assert_eq!(written.len(), 10);
    let dead = format!("http://127.0.0.1:{}", free_port());
    let gw = Launch::new(db)
        .config(
            json!({"sources": [source("cw", &endpoint, &group), source("dead-cw", &dead, &group)]}),
        )
        .start();
    let range = json!({"start": ts(start), "end": ts(start + 30 * MINUTE)});

    let all = gw
        .post_json(
            "/v1/query/external",
            &json!({"source": "cw", "time_range": range}),
        )
        .expect(200);
    assert_eq!(all["type"], "cloudwatch");
    assert_eq!(all["matched"], 10, "{all}");
    let got = all["events"].as_array().unwrap();
    assert_eq!(got.len(), 10);
    for (a, b) in got.iter().zip(&written) {
        assert!(same_json(a, b), "{a}\n{b}");
    }

    // Filters: site, kind, entity; a limit keeps the earliest.
    let failed = gw
        .post_json(
            "/v1/query/external",
            &json!({"source": "cw", "time_range": range,
                    "filters": {"site": "fab1", "kind": "failed", "app": "etch-tool"}}),
        )
        .expect(200);
    assert_eq!(ids(failed["events"].as_array().unwrap()), ["F-2"]);
    let one = gw
        .post_json(
            "/v1/query/external",
            &json!({"source": "cw", "time_range": range, "filters": {"entity_id": "G-3"}}),
        )
        .expect(200);
    assert_eq!(ids(one["events"].as_array().unwrap()), ["G-3"]);
    let first = gw
        .post_json(
            "/v1/query/external",
            &json!({"source": "cw", "time_range": range, "filters": {"site": "fab2"}, "limit": 2}),
        )
        .expect(200);
    assert_eq!(
        (first["matched"].as_u64(), first["truncated"].as_bool()),
        (Some(5), Some(true))
    );
    assert_eq!(ids(first["events"].as_array().unwrap()), ["G-0", "G-1"]);
    // The range is half-open, to the microsecond: [time of F-1, time of F-3).
    let narrow = json!({"start": written[2]["time"], "end": written[6]["time"]});
    let part = gw
        .post_json(
            "/v1/query/external",
            &json!({"source": "cw", "time_range": narrow}),
        )
        .expect(200);
    assert_eq!(ids(part["events"].as_array().unwrap()), ids(&written[2..6]));

    // The dead source is that source's error.
    gw.post_json(
        "/v1/query/external",
        &json!({"source": "dead-cw", "time_range": range}),
    )
    .expect_error(502, "dead-cw");

    // The unified view: managed + cloudwatch, one copy per id, a per-source error.
    gw.ingest(&[written[0].clone()]);
    let window = format!(
        "start={}&end={}",
        encode(&ts(start)),
        encode(&ts(start + 30 * MINUTE))
    );
    let view = gw.get_json(&format!("/v1/data/unified?site_id=fab1&{window}"));
    let events = view["events"].as_array().unwrap();
    assert_eq!(events.len(), 5, "{view}");
    let event_ids: Vec<&str> = events
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap())
        .collect();
    assert!(counts(event_ids.iter().copied()).values().all(|&n| n == 1));
    let sources = view["sources"].as_array().unwrap();
    let report = |name: &str| sources.iter().find(|s| s["name"] == name).unwrap().clone();
    assert_eq!(report("cw")["ok"], true, "{view}");
    assert_eq!(report("dead-cw")["ok"], false, "{view}");
    assert!(report("dead-cw")["error"]
        .as_str()
        .is_some_and(|e| !e.is_empty()));
}
