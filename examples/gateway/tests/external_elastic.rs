//! An `elk` source: events written by the core's elk backend to a real OpenSearch-compatible
//! server (osmem-server, scripts/servers/osmem.sh) are read back through the gateway's
//! external query and unified view.

mod common;

use std::path::Path;

use serde_json::{json, Value};

use common::servers::{free_port, server};
use common::{
    encode, ev, fab1_jobs_and_outliers, fab2_failures, ts, Ev, Launch, HOUR, MINUTE, PATIENCE, T0,
};

/// 2026-03-01 14:00 to 15:00 UTC.
const W: i64 = T0 + 14 * HOUR;

fn unique_index(name: &str) -> String {
    format!("wm-gw-{name}-{}-{}", std::process::id(), common::unique())
}

/// Write `events` with a core client to both the cluster and JSONL files under `files`;
/// what the filesystem backend wrote is what the elk backend was given.
fn write(url: &str, index: &str, template: bool, files: &Path, events: &[Ev]) -> Vec<Value> {
    let spool = tempfile::tempdir().unwrap();
    let config = json!({
        "app": {"name": "etch-tool", "site_id": "fab1"},
        "direct_backends": [
            {"type": "filesystem", "path": files},
            {"type": "elk", "url": url, "index": index, "install_template": template}
        ],
        "spool": {"path": spool.path()},
        "batch": {"flush_interval": 0.05}
    });
    let client = wafermon::Client::new(wafermon::Config::from_value(config).unwrap()).unwrap();
    let parsed: Vec<_> = events
        .iter()
        .map(|e| wafermon::event::parse_event_value(&e.build()).unwrap())
        .collect();
    client.ingest(&parsed).unwrap();
    client.flush(PATIENCE).unwrap();
    let stats = client.close(PATIENCE);
    for b in &stats.backends {
        assert_eq!((b.sent, b.failed), (events.len() as u64, 0), "{b:?}");
    }
    let mut written = common::read_jsonl(files);
    written.sort_by_key(|e| e["time"].as_str().unwrap().to_string());
    // Search sees what was written once the indices are refreshed.
    let agent = common::agent(Some(PATIENCE));
    let refreshed = agent
        .post(format!("{url}/{}/_refresh", index.replace("%Y.%m.%d", "*")))
        .send_empty()
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    written
}

fn plant_events() -> Vec<Ev> {
    // F-old lands in yesterday's index.
    let mut events = fab1_jobs_and_outliers(W);
    events.extend([
        // Text search would match "fab1" here; an exact filter must not.
        ev("fab1 annex", "etch-tool", "A-1", "started", W + 10 * MINUTE),
        ev("fab1", "litho", "L-1", "progress", W + 12 * MINUTE)
            .entity_kind("wafer")
            .progress(40.0),
        // One microsecond before the window's end, and one at the end.
        ev("fab1", "etch-tool", "F-edge", "started", W + HOUR - 1),
        ev("fab1", "etch-tool", "F-end", "started", W + HOUR),
    ]);
    events.extend(fab2_failures(W));
    events
}

fn entity_ids(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["entity"]["id"].as_str().unwrap())
        .collect()
}

fn by_entity<'a>(written: &'a [Value], id: &str) -> &'a Value {
    written
        .iter()
        .find(|e| e["entity"]["id"] == id)
        .unwrap_or_else(|| panic!("{id} not written"))
}

#[test]
fn elastic_source_with_dynamic_mappings() {
    read_back(false);
}

#[test]
fn elastic_source_with_the_index_template() {
    read_back(true);
}

fn read_back(template: bool) {
    let url = server("osmem");
    let files = tempfile::tempdir().unwrap();
    let db = tempfile::tempdir().unwrap();
    let index = format!(
        "{}-%Y.%m.%d",
        unique_index(if template { "tpl" } else { "dyn" })
    );
    let written = write(&url, &index, template, files.path(), &plant_events());
    let dead = format!("http://127.0.0.1:{}", free_port());
    let gw = Launch::new(&format!(
        "sqlite://{}",
        db.path().join("gateway.sqlite3").display()
    ))
    .config(json!({"sources": [
        {"name": "plant-es", "type": "elk", "url": url, "index": index},
        {"name": "dead-es", "type": "elasticsearch", "url": dead, "timeout": 2}
    ]}))
    .start();
    let range = json!({"start": ts(W), "end": ts(W + HOUR)});
    let query = |body: Value| gw.post_json("/v1/query/external", &body).expect(200);

    let all = query(json!({"source": "plant-es", "time_range": range}));
    assert_eq!(all["type"], "elasticsearch");
    // Six F, A-1, L-1, F-edge, three G; not F-old, F-late, F-end.
    assert_eq!(all["matched"], 12, "{all}");
    let events = all["events"].as_array().unwrap();
    assert_eq!(events.len(), 12);
    let times: Vec<&str> = events.iter().map(|e| e["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // Every event comes back exactly as the backend was given it.
    for got in events {
        let want = by_entity(&written, got["entity"]["id"].as_str().unwrap());
        assert!(common::same_json(got, want), "{got} != {want}");
    }
    assert!(entity_ids(events).contains(&"F-edge"));

    let fab1 = query(json!({"source": "plant-es", "time_range": range,
                            "filters": {"site": "fab1", "app": "etch-tool"}, "limit": 4}));
    assert_eq!(fab1["matched"], 7, "{fab1}");
    assert_eq!(fab1["truncated"], true);
    assert_eq!(
        entity_ids(fab1["events"].as_array().unwrap()),
        ["F-0", "F-1", "F-2", "F-3"]
    );

    let failed = query(json!({"source": "plant-es", "time_range": range,
                              "filters": {"site": "fab1", "kind": "failed", "status": "failed"}}));
    assert_eq!(
        entity_ids(failed["events"].as_array().unwrap()),
        ["F-2", "F-5"]
    );
    let wafer = query(json!({"source": "plant-es", "time_range": range,
                             "filters": {"entity_kind": "wafer"}}));
    assert_eq!(entity_ids(wafer["events"].as_array().unwrap()), ["L-1"]);
    let one = query(json!({"source": "plant-es", "time_range": range,
                           "filters": {"entity_id": "G-1"}}));
    assert_eq!(entity_ids(one["events"].as_array().unwrap()), ["G-1"]);
    let annex = query(json!({"source": "plant-es", "time_range": range,
                             "filters": {"site": "fab1 annex"}}));
    assert_eq!(entity_ids(annex["events"].as_array().unwrap()), ["A-1"]);

    // Yesterday's index, and a range over both days.
    let yesterday = query(json!({"source": "plant-es",
        "time_range": {"start": ts(W - 26 * HOUR), "end": ts(W - HOUR)}}));
    assert_eq!(
        entity_ids(yesterday["events"].as_array().unwrap()),
        ["F-old"]
    );
    let two_days = query(json!({"source": "plant-es",
        "time_range": {"start": ts(W - 26 * HOUR), "end": ts(W + 3 * HOUR)},
        "filters": {"entity_id": "F-late"}}));
    assert_eq!(
        entity_ids(two_days["events"].as_array().unwrap()),
        ["F-late"]
    );
    // Pages: more than one page of search_after is exercised by the writer's volume
    // elsewhere; here a small limit stops early and still counts every match.
    let first = query(json!({"source": "plant-es", "time_range": range, "limit": 1}));
    assert_eq!(first["matched"], 12);
    assert_eq!(entity_ids(first["events"].as_array().unwrap()), ["F-0"]);

    // A dead cluster is the source's error, not the client's.
    gw.post_json(
        "/v1/query/external",
        &json!({"source": "dead-es", "time_range": range}),
    )
    .expect_error(502, "dead-es");

    // The unified view merges the cluster with the managed store and reports the dead one.
    gw.ingest(&[ev("fab1", "etch-tool", "M-1", "started", W + 7 * MINUTE).build()]);
    let window = format!("start={}&end={}", encode(&ts(W)), encode(&ts(W + HOUR)));
    let view = gw.get_json(&format!("/v1/data/unified?site_id=fab1&{window}"));
    let merged = view["events"].as_array().unwrap();
    let sources: Vec<(&str, &str)> = merged
        .iter()
        .map(|e| {
            (
                e["event"]["entity"]["id"].as_str().unwrap(),
                e["source"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sources,
        [
            ("F-0", "plant-es"),
            ("F-1", "plant-es"),
            ("M-1", "managed"),
            ("F-2", "plant-es"),
            ("L-1", "plant-es"),
            ("F-3", "plant-es"),
            ("F-4", "plant-es"),
            ("F-5", "plant-es"),
            ("F-edge", "plant-es"),
        ],
        "{view}"
    );
    let reports = view["sources"].as_array().unwrap();
    assert_eq!(
        reports[1],
        json!({"name": "plant-es", "ok": true, "matched": 8})
    );
    assert_eq!(reports[2]["name"], "dead-es");
    assert_eq!(reports[2]["ok"], false);
    assert!(
        reports[2]["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{view}"
    );
}

#[test]
fn many_pages_come_back_in_order() {
    let url = server("osmem");
    let files = tempfile::tempdir().unwrap();
    let db = tempfile::tempdir().unwrap();
    let index = unique_index("pages");
    // 2,500 events, several per millisecond: three pages of search_after.
    let events: Vec<Ev> = (0..2500)
        .map(|i| {
            ev(
                "fab1",
                "etch-tool",
                &format!("P-{i:04}"),
                "metric",
                W + i * 333,
            )
        })
        .collect();
    let written = write(&url, &index, false, files.path(), &events);
    let gw = Launch::new(&format!(
        "sqlite://{}",
        db.path().join("gateway.sqlite3").display()
    ))
    .config(json!({"sources": [{"name": "es", "type": "elk", "url": url, "index": index}]}))
    .start();
    let got = gw
        .post_json(
            "/v1/query/external",
            &json!({"source": "es", "time_range": {"start": ts(W), "end": ts(W + HOUR)},
                    "limit": 2400}),
        )
        .expect(200);
    assert_eq!(got["matched"], 2500);
    assert_eq!(got["truncated"], true);
    let ids = entity_ids(got["events"].as_array().unwrap());
    let want: Vec<&str> = written[..2400]
        .iter()
        .map(|e| e["entity"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, want);
}
