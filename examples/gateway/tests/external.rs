//! External sources and the unified view on both stores, over JSONL files written by the
//! real core filesystem backend.

mod common;

use std::path::Path;

use serde_json::{json, Value};

use common::{
    counts, encode, ev, fab1_jobs_and_outliers, fab2_failures, ts, Launch, HOUR, MINUTE, T0,
};

on_both_stores! {
    external_queries_read_configured_files_by_name => external_queries_read_configured_files_by_name_sqlite, external_queries_read_configured_files_by_name_postgres;
    the_unified_view_merges_dedupes_and_reports_sources => the_unified_view_merges_dedupes_and_reports_sources_sqlite, the_unified_view_merges_dedupes_and_reports_sources_postgres;
    the_comparison_counts_each_source_and_names_what_only_one_holds => the_comparison_counts_each_source_and_names_what_only_one_holds_sqlite, the_comparison_counts_each_source_and_names_what_only_one_holds_postgres;
}

/// The window the file events fall in: 2026-03-01 14:00 to 15:00 UTC.
const W: i64 = T0 + 14 * HOUR;

/// Files for two sites written by the core's filesystem backend; returns the events of
/// fab1 and fab2 as they were written.
fn write_files(root: &Path) -> (Vec<Value>, Vec<Value>) {
    let fab1 = fab1_jobs_and_outliers(W);
    let fab2 = fab2_failures(W);
    let one = common::write_with_core_client(root, "fab1", "etch-tool", &fab1);
    let two = common::write_with_core_client(root, "fab2", "etch-tool", &fab2);
    assert_eq!(one.len(), fab1.len(), "the client wrote every fab1 event");
    assert_eq!(two.len(), fab2.len(), "the client wrote every fab2 event");
    (one, two)
}

const DAY_AND_HOUR: i64 = 25 * HOUR;

fn config(root: &Path) -> Value {
    json!({
        "sources": [
            {"name": "plant-files", "type": "filesystem", "path": root},
            {"name": "gone", "type": "filesystem", "path": root.join("does-not-exist")}
        ]
    })
}

fn entity_ids(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["entity"]["id"].as_str().unwrap())
        .collect()
}

fn external_queries_read_configured_files_by_name(db: &str) {
    let files = tempfile::tempdir().unwrap();
    let (fab1, _) = write_files(files.path());
    let gw = Launch::new(db).config(config(files.path())).start();
    let range = json!({"start": ts(W), "end": ts(W + HOUR)});

    let sources = gw.get_json("/v1/sources");
    assert_eq!(
        sources["sources"][1],
        json!({"name": "plant-files", "type": "filesystem"})
    );
    assert_eq!(sources["sources"][0]["name"], "managed");

    let all = gw
        .post_json(
            "/v1/query/external",
            &json!({"source": "plant-files", "time_range": range}),
        )
        .expect(200);
    assert_eq!(all["source"], "plant-files");
    assert_eq!(all["type"], "filesystem");
    assert_eq!(all["matched"], 9, "{all}");
    assert_eq!(all["truncated"], false);
    // Only today's file of each site.
    assert_eq!(all["files_scanned"], 2, "{all}");
    assert_eq!(all["skipped_lines"], 0);
    let events = all["events"].as_array().unwrap();
    let times: Vec<&str> = events.iter().map(|e| e["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    let fab1_only = gw
        .post_json(
            "/v1/query/external",
            &json!({"source": "plant-files", "time_range": range,
                    "filters": {"site": "fab1"}, "limit": 4}),
        )
        .expect(200);
    assert_eq!(fab1_only["matched"], 6);
    assert_eq!(fab1_only["truncated"], true);
    let got = fab1_only["events"].as_array().unwrap();
    assert_eq!(entity_ids(got), ["F-0", "F-1", "F-2", "F-3"]);
    // Events come back as the backend wrote them.
    assert!(
        common::same_json(&got[0], &fab1[0]),
        "{} != {}",
        got[0],
        fab1[0]
    );

    let failed = gw
        .post_json(
            "/v1/query/external",
            &json!({"source": "plant-files", "time_range": range,
                    "filters": {"site": "fab1", "kind": "failed", "app": "etch-tool"}}),
        )
        .expect(200);
    assert_eq!(
        entity_ids(failed["events"].as_array().unwrap()),
        ["F-2", "F-5"]
    );

    let day_before = gw
        .post_json(
            "/v1/query/external",
            &json!({"source": "plant-files",
                    "time_range": {"start": ts(W - 2 * DAY_AND_HOUR), "end": ts(W - HOUR)}}),
        )
        .expect(200);
    assert_eq!(
        entity_ids(day_before["events"].as_array().unwrap()),
        ["F-old"]
    );

    gw.post_json(
        "/v1/query/external",
        &json!({"source": "nope", "time_range": range}),
    )
    .expect_error(404, "nope");
    // A request names a source; it can not point the gateway at a path or an address.
    for field in ["path", "url"] {
        let mut body = json!({"source": "plant-files", "time_range": range});
        body[field] = json!("/etc");
        gw.post_json("/v1/query/external", &body)
            .expect_error(400, field);
    }
    let mut sneaky = json!({"source": "plant-files", "time_range": range});
    sneaky["filters"]["path"] = json!("/etc");
    gw.post_json("/v1/query/external", &sneaky)
        .expect_error(400, "path");
    let bad_time = gw
        .post_json(
            "/v1/query/external",
            &json!({"source": "plant-files", "time_range": {"start": "yesterday", "end": ts(W)}}),
        )
        .expect(400);
    assert_eq!(bad_time["path"], "time_range.start");
    gw.post_json(
        "/v1/query/external",
        &json!({"source": "plant-files", "time_range": {"start": ts(W), "end": ts(W)}}),
    )
    .expect_error(400, "time_range.start");
    gw.post_json(
        "/v1/query/external",
        &json!({"source": "plant-files", "time_range": range, "limit": 0}),
    )
    .expect_error(400, "limit");
    gw.post_json("/v1/query/external", &json!({"source": "plant-files"}))
        .expect_error(400, "time_range");
    // A configured source that can not be read is the source's fault, not the client's.
    gw.post_json(
        "/v1/query/external",
        &json!({"source": "gone", "time_range": range}),
    )
    .expect_error(502, "gone");
}

fn the_unified_view_merges_dedupes_and_reports_sources(db: &str) {
    let files = tempfile::tempdir().unwrap();
    let (fab1, fab2) = write_files(files.path());
    let gw = Launch::new(db).config(config(files.path())).start();

    // One event reached both the files and the managed store.
    let shared = fab1[1].clone();
    let managed_only = [
        ev("fab1", "etch", "M-1", "started", W + 7 * MINUTE).build(),
        ev("fab1", "etch", "M-2", "failed", W + 59 * MINUTE).build(),
    ];
    let counts_reply = gw.ingest(&[
        shared.clone(),
        managed_only[0].clone(),
        managed_only[1].clone(),
    ]);
    assert_eq!(counts_reply["stored"], 3);
    gw.ingest(&[ev("fab2", "etch", "M-3", "started", W + MINUTE).build()]);

    let window = format!("start={}&end={}", encode(&ts(W)), encode(&ts(W + HOUR)));
    let view = gw.get_json(&format!("/v1/data/unified?site_id=fab1&{window}"));
    assert_eq!(view["start"], ts(W));
    assert_eq!(view["end"], ts(W + HOUR));
    assert_eq!(view["truncated"], false, "{view}");
    let events = view["events"].as_array().unwrap();
    // Six fab1 file events in the window, two managed-only, the shared one once.
    assert_eq!(events.len(), 8, "{view}");
    let times: Vec<&str> = events
        .iter()
        .map(|e| e["event"]["time"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "not merged by time: {times:?}"
    );
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap())
        .collect();
    assert!(
        counts(ids.iter().copied()).values().all(|&n| n == 1),
        "{ids:?}"
    );
    let source_of = |id: &Value| {
        events
            .iter()
            .find(|e| e["event"]["id"] == *id)
            .map(|e| e["source"].as_str().unwrap().to_string())
    };
    assert_eq!(source_of(&shared["id"]).as_deref(), Some("managed"));
    for m in &managed_only {
        assert_eq!(source_of(&m["id"]).as_deref(), Some("managed"));
    }
    for f in fab1.iter().filter(|e| e["id"] != shared["id"]) {
        let outside = ["F-old", "F-late"].contains(&f["entity"]["id"].as_str().unwrap());
        let want = (!outside).then(|| "plant-files".to_string());
        assert_eq!(source_of(&f["id"]), want, "{f}");
    }
    assert!(events.iter().all(|e| e["event"]["site"] == "fab1"));

    let reports = view["sources"].as_array().unwrap();
    assert_eq!(reports.len(), 3, "{view}");
    assert_eq!(reports[0], json!({"name": "managed", "ok": true}));
    assert_eq!(
        reports[1],
        json!({"name": "plant-files", "ok": true, "matched": 6})
    );
    assert_eq!(reports[2]["name"], "gone");
    assert_eq!(reports[2]["ok"], false);
    assert!(reports[2]["error"].as_str().is_some_and(|e| !e.is_empty()));

    // Without a site: both sites, still each id once.
    let both = gw.get_json(&format!("/v1/data/unified?{window}"));
    let n = both["events"].as_array().unwrap().len();
    assert_eq!(n, 6 + 2 + fab2.len() + 1, "{both}");

    // A limit keeps the earliest events and says it cut.
    let first3 = gw.get_json(&format!("/v1/data/unified?site_id=fab1&{window}&limit=3"));
    let got: Vec<&str> = first3["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids[..3]);
    assert_eq!(first3["truncated"], true);
    // A limit that exactly fits cuts nothing, as with external queries.
    let exact = gw.get_json(&format!("/v1/data/unified?site_id=fab1&{window}&limit=8"));
    assert_eq!(exact["events"].as_array().unwrap().len(), 8);
    assert_eq!(exact["truncated"], false, "{exact}");
    let managed_only = gw.get_json(&format!("/v1/data/unified?site_id=fab2&{window}&limit=4"));
    assert_eq!(managed_only["events"].as_array().unwrap().len(), 4);
    assert_eq!(managed_only["truncated"], false, "{managed_only}");
    let cut = gw.get_json(&format!("/v1/data/unified?site_id=fab2&{window}&limit=3"));
    assert_eq!(cut["truncated"], true, "{cut}");
}

fn the_comparison_counts_each_source_and_names_what_only_one_holds(db: &str) {
    let files = tempfile::tempdir().unwrap();
    let (fab1, _) = write_files(files.path());
    let gw = Launch::new(db).config(config(files.path())).start();
    // The store holds the first two fab1 file events and one of its own.
    let managed_only = ev("fab1", "etch", "M-1", "started", W + 45 * MINUTE).build();
    gw.ingest(&[fab1[0].clone(), fab1[1].clone(), managed_only.clone()]);

    let window = format!("start={}&end={}", encode(&ts(W)), encode(&ts(W + HOUR)));
    let view = gw.get_json(&format!("/v1/sources/compare?site=fab1&{window}&buckets=4"));
    assert_eq!(
        (&view["start"], &view["end"]),
        (&json!(ts(W)), &json!(ts(W + HOUR)))
    );
    assert_eq!(view["bucket_s"], 900.0, "{view}");
    assert_eq!(view["buckets"].as_array().unwrap().len(), 4, "{view}");
    let sources = view["sources"].as_array().unwrap();
    let names: Vec<&str> = sources
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["managed", "plant-files", "gone"]);

    let (managed, plant, gone) = (&sources[0], &sources[1], &sources[2]);
    assert_eq!(managed["ok"], true);
    assert_eq!(managed["total"], 3, "{managed}");
    let counted = |s: &Value| -> u64 {
        s["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .sum()
    };
    assert_eq!(counted(managed), 3);
    assert_eq!(
        managed["counts"][3], 1,
        "M-1 falls in the last quarter hour: {managed}"
    );
    assert_eq!(managed["only_here"], 1);
    assert_eq!(managed["only_here_sample"][0]["id"], managed_only["id"]);

    let in_window: Vec<&Value> = fab1
        .iter()
        .filter(|e| {
            e["site"] == "fab1" && {
                let t = e["time"].as_str().unwrap();
                t >= ts(W).as_str() && t < ts(W + HOUR).as_str()
            }
        })
        .collect();
    assert_eq!(plant["ok"], true, "{plant}");
    assert_eq!(plant["type"], "filesystem");
    assert_eq!(plant["total"], in_window.len(), "{plant}");
    assert_eq!(counted(plant), in_window.len() as u64);
    assert_eq!(plant["only_here"], in_window.len() - 2, "{plant}");
    let only: Vec<&str> = plant["only_here_sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(!only.contains(&fab1[0]["id"].as_str().unwrap()), "{plant}");

    // A source that cannot be read is reported, and proves nothing about the others.
    assert_eq!(gone["ok"], false, "{gone}");
    assert!(
        gone["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{gone}"
    );
    assert_eq!(gone["total"], 0);

    let app = gw.get_json(&format!("/v1/sources/compare?site=fab1&app=etch&{window}"));
    assert_eq!(
        app["sources"][0]["total"], 1,
        "only M-1 is from app etch: {app}"
    );
    assert_eq!(app["sources"][1]["total"], 0, "{app}");

    gw.get(&format!("/v1/sources/compare?{window}&buckets=0"))
        .expect_error(400, "buckets");
    gw.get("/v1/sources/compare?start=yesterday")
        .expect_error(400, "start");
}
