//! The s3 source against a real SeaweedFS on 127.0.0.1: events written by the core's s3
//! backend (plain for one site, gzip for the other) come back through
//! `POST /v1/query/external` and `GET /v1/data/unified`, filtered and in order, and a dead
//! S3 source is reported per source in the unified view.

mod common;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use common::{
    ev, fab1_jobs_and_outliers, fab2_failures, read_jsonl, ts, Ev, Launch, HOUR, MINUTE, T0,
};

/// The window most events fall in: 2026-03-01 14:00 to 15:00 UTC.
const W: i64 = T0 + 14 * HOUR;
const DAY_AND_HOUR: i64 = 25 * HOUR;

/// Write `events` of `site` through a real core client to S3 (and, to know exactly what was
/// written, to JSONL files under `files`). Returns the events as written, by seq.
fn write_with_s3_backend(
    s3: &Value,
    files: &Path,
    site: &str,
    gzip: bool,
    events: &[Ev],
) -> Vec<Value> {
    let spool = tempfile::tempdir().unwrap();
    let mut backend = s3.clone();
    backend["type"] = json!("s3");
    backend["name"] = json!("s3");
    backend["compression"] = json!(if gzip { "gzip" } else { "none" });
    let config = json!({
        "app": {"name": "etch-tool", "version": "1.0", "site_id": site, "instance_id": "t-1"},
        "direct_backends": [backend, {"type": "filesystem", "path": files}],
        "spool": {"path": spool.path()},
        "batch": {"flush_interval": 0.05}
    });
    let client = wafermon::Client::new(wafermon::Config::from_value(config).unwrap()).unwrap();
    for e in events {
        let body = e.build();
        let kind = wafermon::Kind::parse(body["kind"].as_str().unwrap()).unwrap();
        let new = wafermon::NewEvent::new(kind, "job", body["entity"]["id"].as_str().unwrap())
            .time(wafermon::Timestamp::parse(body["time"].as_str().unwrap()).unwrap());
        client.emit(&new).unwrap();
    }
    client.flush(Duration::from_secs(30)).unwrap();
    let stats = client.close(Duration::from_secs(30));
    let s3_stats = stats.backends.iter().find(|b| b.name == "s3").unwrap();
    assert_eq!(s3_stats.sent, events.len() as u64, "{s3_stats:?}");
    let mut written = read_jsonl(&files.join(site));
    written.sort_by_key(|e| e["seq"].as_u64());
    written
}

/// The keys of an s3 source (and backend) on the shared SeaweedFS, under a fresh prefix.
fn s3_keys(endpoint: &str) -> Value {
    json!({
        "bucket": "wafermon", "endpoint": endpoint, "path_style": true,
        "prefix": format!("gateway-tests/{}", uuid::Uuid::now_v7()),
        "access_key_id": "any", "secret_access_key": "any", "timeout": 5
    })
}

fn source(name: &str, keys: &Value) -> Value {
    let mut s = keys.clone();
    s["name"] = json!(name);
    s["type"] = json!("s3");
    s
}

fn entity_ids(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["entity"]["id"].as_str().unwrap())
        .collect()
}

struct Written {
    fab1: Vec<Value>,
    fab2: Vec<Value>,
    keys: Value,
}

/// fab1 (plain JSONL): six events in the window, one the day before, one two hours later;
/// fab2 (gzip): three in the window.
fn write_both_sites() -> Written {
    let endpoint = common::servers::server("seaweedfs");
    let keys = s3_keys(&endpoint);
    let files = tempfile::tempdir().unwrap();
    let fab1 = fab1_jobs_and_outliers(W);
    let fab2 = fab2_failures(W);
    Written {
        fab1: write_with_s3_backend(&keys, files.path(), "fab1", false, &fab1),
        fab2: write_with_s3_backend(&keys, files.path(), "fab2", true, &fab2),
        keys,
    }
}

#[test]
fn external_queries_read_what_the_s3_backend_wrote() {
    let written = write_both_sites();
    let store = tempfile::tempdir().unwrap();
    let gw = Launch::new(&sqlite_url(store.path()))
        .config(json!({"sources": [source("plant-s3", &written.keys)]}))
        .start();
    let range = json!({"start": ts(W), "end": ts(W + HOUR)});
    let query = |body: Value| gw.post_json("/v1/query/external", &body).expect(200);

    let all = query(json!({"source": "plant-s3", "time_range": range}));
    assert_eq!(all["type"], "s3");
    assert_eq!(all["matched"], 9, "{all}");
    assert_eq!(all["truncated"], false);
    assert_eq!(all["skipped_lines"], 0);
    let events = all["events"].as_array().unwrap();
    let times: Vec<&str> = events.iter().map(|e| e["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // The gzip objects of fab2 read like the plain ones of fab1.
    for want in written.fab2.iter() {
        let got = events.iter().find(|e| e["id"] == want["id"]).unwrap();
        assert!(common::same_json(got, want), "{got} != {want}");
    }

    let fab1 = query(json!({"source": "plant-s3", "time_range": range,
                            "filters": {"site": "fab1"}, "limit": 4}));
    assert_eq!(fab1["matched"], 6);
    assert_eq!(fab1["truncated"], true);
    let got = fab1["events"].as_array().unwrap();
    assert_eq!(entity_ids(got), ["F-0", "F-1", "F-2", "F-3"]);
    for (g, w) in got.iter().zip(&written.fab1) {
        assert!(common::same_json(g, w), "{g} != {w}");
    }

    let failed = query(json!({"source": "plant-s3", "time_range": range,
                              "filters": {"kind": "failed", "app": "etch-tool",
                                          "entity_kind": "job"}}));
    assert_eq!(
        entity_ids(failed["events"].as_array().unwrap()),
        ["G-0", "G-1", "G-2", "F-2", "F-5"]
    );
    let one = query(json!({"source": "plant-s3", "time_range": range,
                           "filters": {"entity_id": "G-1"}}));
    assert_eq!(entity_ids(one["events"].as_array().unwrap()), ["G-1"]);

    // 49 hours: the reader walks the folders instead of listing each hour.
    let day_before = query(json!({"source": "plant-s3",
        "time_range": {"start": ts(W - 2 * DAY_AND_HOUR), "end": ts(W - HOUR)}}));
    assert_eq!(
        entity_ids(day_before["events"].as_array().unwrap()),
        ["F-old"]
    );
    let three_days = query(json!({"source": "plant-s3",
        "time_range": {"start": ts(W - 2 * DAY_AND_HOUR), "end": ts(W + 2 * DAY_AND_HOUR)},
        "filters": {"site": "fab1"}}));
    assert_eq!(three_days["matched"], 8, "{three_days}");

    let empty = query(json!({"source": "plant-s3",
        "time_range": {"start": ts(W + 3 * HOUR), "end": ts(W + 4 * HOUR)}}));
    assert_eq!(empty["matched"], 0);
}

#[test]
fn the_unified_view_merges_s3_and_reports_a_dead_source() {
    let written = write_both_sites();
    let mut dead = written.keys.clone();
    dead["endpoint"] = json!(format!("http://127.0.0.1:{}", common::servers::free_port()));
    dead["timeout"] = json!(2);
    let store = tempfile::tempdir().unwrap();
    let gw = Launch::new(&sqlite_url(store.path()))
        .config(json!({"sources": [source("plant-s3", &written.keys), source("dead-s3", &dead)]}))
        .start();
    // One event reached both S3 and the managed store.
    let shared = written.fab1[1].clone();
    let managed = ev("fab1", "etch", "M-1", "started", W + 7 * MINUTE).build();
    gw.ingest(&[shared.clone(), managed.clone()]);

    let window = format!(
        "start={}&end={}",
        common::encode(&ts(W)),
        common::encode(&ts(W + HOUR))
    );
    let view = gw.get_json(&format!("/v1/data/unified?site_id=fab1&{window}"));
    let events = view["events"].as_array().unwrap();
    // Six fab1 S3 events in the window (one of them also managed, shown once) + one managed.
    assert_eq!(events.len(), 7, "{view}");
    let source_of = |id: &Value| {
        events
            .iter()
            .find(|e| e["event"]["id"] == *id)
            .map(|e| e["source"].as_str().unwrap().to_string())
    };
    assert_eq!(source_of(&managed["id"]).as_deref(), Some("managed"));
    for e in written
        .fab1
        .iter()
        .take(6)
        .filter(|e| e["id"] != shared["id"])
    {
        assert_eq!(source_of(&e["id"]).as_deref(), Some("plant-s3"), "{e}");
    }
    let reports = view["sources"].as_array().unwrap();
    let report = |name: &str| reports.iter().find(|r| r["name"] == name).unwrap().clone();
    assert_eq!(
        report("plant-s3"),
        json!({"name": "plant-s3", "ok": true, "matched": 6})
    );
    let dead_report = report("dead-s3");
    assert_eq!(dead_report["ok"], false, "{view}");
    assert!(
        dead_report["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{dead_report}"
    );

    gw.post_json(
        "/v1/query/external",
        &json!({"source": "dead-s3", "time_range": {"start": ts(W), "end": ts(W + HOUR)}}),
    )
    .expect_error(502, "dead-s3");
}

/// A fresh SQLite store in `dir`: the s3 source does not depend on the store.
fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("gateway.sqlite3").display())
}
