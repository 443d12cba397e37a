//! Events in the legacy Python SDK's format, end to end through the real binary: converted to
//! schema v1 on both ingest routes, with ids that survive a replay.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};
use wafermon::event::{from_legacy, App, LegacyDefaults};

fn start(dir: &Path) -> (Sidecar, PathBuf) {
    let data = dir.join("data");
    let cfg = config(dir, &data);
    (Sidecar::start(&write_config(dir, &cfg)), data)
}

/// A legacy event as the old SDK's `JobEvent.to_json()` writes it.
fn legacy(n: usize, kind: &str, status: &str) -> Value {
    json!({
        "idempotency_key": format!("00000000-0000-4000-8000-{n:012}"),
        "site_id": "fab9",
        "app": {"app_id": "7d3c2b1a-0f9e-4c8d-b7a6-5e4f3a2b1c0d", "name": "legacy-etch", "version": "1.4.2"},
        "entity": {"type": "job", "id": format!("job-{n}"), "parent_id": null,
                   "business_key": "LOT42", "sub_key": "W07"},
        "event": {"kind": kind, "at": "2025-11-27T09:33:37.123456+01:00", "status": status,
                  "metrics": {"wafers": n}, "metadata": {"tool": "ETCH-01"}}
    })
}

/// The id the sidecar must give `event`; it depends on the event only, not on the defaults.
fn id_of(event: &Value) -> String {
    let defaults = LegacyDefaults {
        site: "fab7".into(),
        app: App {
            name: "wafermon-sidecar".into(),
            version: None,
            instance: None,
        },
    };
    from_legacy(event, &defaults).unwrap().id.to_string()
}

fn find<'a>(events: &'a [Value], entity_id: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["entity"]["id"] == entity_id)
        .collect()
}

#[test]
fn legacy_events_on_both_routes_are_delivered_converted() {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, data) = start(dir.path());

    let started = legacy(1, "started", "running");
    let reply = sidecar.post_json("/v1/ingest/events", &started);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.json(),
        json!({"ok": true, "accepted": 1, "rejected": [], "rejected_count": 0})
    );

    // Legacy and v1 events mixed in one array.
    let v1 = event(2);
    let finished = legacy(3, "finished", "success");
    let reply = sidecar.post_json("/v1/ingest/events", &json!([v1, finished]));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["accepted"], 2);

    let error = legacy(4, "error", "error");
    let mut no_site = legacy(5, "progress", "running");
    no_site.as_object_mut().unwrap().remove("site_id");
    no_site["event"]["metrics"] = json!({"percent": 60});
    let reply = sidecar.post_json(
        "/v1/ingest/events:batch",
        &json!({"events": [error, no_site]}),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["accepted"], 2);

    let cancelled = legacy(6, "cancelled", "cancelled");
    let body = rmp_serde::to_vec_named(&json!({"events": [cancelled]})).unwrap();
    let reply = sidecar.request(
        "POST",
        "/v1/ingest/events:batch",
        &[("Content-Type", "application/msgpack")],
        &body,
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["accepted"], 1);

    let legacy_events = [&started, &finished, &error, &no_site, &cancelled];
    let mut want: Vec<String> = legacy_events.iter().map(|e| id_of(e)).collect();
    want.extend(ids(&[v1]));
    let events = wait_delivered(&data, &want);

    let e = find(&events, "job-1")[0];
    assert_eq!(e["id"], id_of(&started));
    assert_eq!(e["site"], "fab9");
    assert_eq!(e["app"], json!({"name": "legacy-etch", "version": "1.4.2"}));
    assert_eq!(
        e["entity"],
        json!({"kind": "job", "id": "job-1", "key": "LOT42"})
    );
    assert_eq!(
        (&e["kind"], &e["status"]),
        (&json!("started"), &json!("running"))
    );
    assert_eq!(e["time"], "2025-11-27T08:33:37.123456Z");
    assert_eq!(e["metrics"], json!({"wafers": 1.0}));
    assert_eq!(e["attrs"]["sub_key"], "W07");
    assert_eq!(e["attrs"]["tool"], "ETCH-01");
    assert_eq!(e["attrs"]["app_id"], "7d3c2b1a-0f9e-4c8d-b7a6-5e4f3a2b1c0d");

    let e = find(&events, "job-3")[0];
    assert_eq!(
        (&e["kind"], &e["status"]),
        (&json!("finished"), &json!("succeeded"))
    );
    assert_eq!(e["attrs"]["legacy_status"], "success");
    let e = find(&events, "job-4")[0];
    assert_eq!(
        (&e["kind"], &e["status"]),
        (&json!("failed"), &json!("failed"))
    );
    let e = find(&events, "job-5")[0];
    assert_eq!(
        e["site"], "fab7",
        "the sidecar's site when the event has none"
    );
    assert_eq!(e["progress"], 60.0);
    let e = find(&events, "job-6")[0];
    assert_eq!(
        (&e["kind"], &e["status"]),
        (&json!("canceled"), &json!("canceled"))
    );

    // Numbered by the sidecar like its own events.
    let seqs: HashSet<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs.len(), events.len(), "{events:?}");
    assert!(!seqs.contains(&0), "{events:?}");
}

#[test]
fn a_replayed_legacy_event_keeps_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, data) = start(dir.path());
    let original = legacy(1, "metric", "running");
    let reply = sidecar.post_json("/v1/ingest/events", &original);
    assert_eq!(reply.status, 200, "{reply:?}");
    // The old SDK retries with the same idempotency key, on either route.
    let reply = sidecar.post_json("/v1/ingest/events:batch", &json!({"events": [original]}));
    assert_eq!(reply.status, 200, "{reply:?}");
    // Without a key the content decides: the same content twice, then a different one.
    let mut keyless = legacy(2, "metric", "running");
    keyless.as_object_mut().unwrap().remove("idempotency_key");
    let mut changed = keyless.clone();
    changed["event"]["metrics"]["wafers"] = json!(3);
    let reply = sidecar.post_json("/v1/ingest/events", &json!([keyless, keyless, changed]));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["accepted"], 3);

    let want = [id_of(&original), id_of(&keyless), id_of(&changed)];
    assert_ne!(want[1], want[2]);
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let events = delivered(&data);
        let replayed = find(&events, "job-1");
        let keyless = find(&events, "job-2");
        if replayed.len() == 2 && keyless.len() == 3 {
            assert!(replayed.iter().all(|e| e["id"] == want[0]), "{replayed:?}");
            let ids: Vec<&str> = keyless.iter().map(|e| e["id"].as_str().unwrap()).collect();
            assert_eq!(
                ids.iter().filter(|id| **id == want[1]).count(),
                2,
                "{ids:?}"
            );
            assert_eq!(
                ids.iter().filter(|id| **id == want[2]).count(),
                1,
                "{ids:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not delivered: {events:?}\n{}",
            sidecar.stderr()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn bad_legacy_fields_are_rejected_naming_the_legacy_path() {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, data) = start(dir.path());

    let mut bad_time = legacy(1, "started", "running");
    bad_time["event"]["at"] = json!("yesterday");
    let reply = sidecar.post_json("/v1/ingest/events", &bad_time);
    assert_eq!(reply.status, 400, "{reply:?}");
    let body = reply.json();
    assert_eq!((&body["ok"], &body["accepted"]), (&json!(false), &json!(0)));
    assert_eq!(body["rejected"][0]["path"], "event.at", "{body}");
    assert!(body["rejected"][0]["error"]
        .as_str()
        .unwrap()
        .contains("yesterday"));

    let good = legacy(2, "started", "running");
    let bad_kind = legacy(3, "exploded", "running");
    let mut no_type = legacy(4, "started", "running");
    no_type["entity"].as_object_mut().unwrap().remove("type");
    let mut bad_metric = legacy(5, "metric", "running");
    bad_metric["event"]["metrics"] = json!({"wafers": "many"});
    let mut unknown = legacy(6, "started", "running");
    unknown["event"]["colour"] = json!("red");
    let reply = sidecar.post_json(
        "/v1/ingest/events:batch",
        &json!({"events": [good, bad_kind, no_type, bad_metric, unknown]}),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = reply.json();
    assert_eq!(body["accepted"], 1);
    let rejected: Vec<(u64, &str)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rejected,
        [
            (1, "event.kind"),
            (2, "entity.type"),
            (3, "event.metrics.wafers"),
            (4, "event.colour")
        ],
        "{body}"
    );

    let mut bad_status = legacy(7, "finished", "done");
    bad_status["event"]["status"] = json!(7);
    let body = rmp_serde::to_vec_named(&bad_status).unwrap();
    let reply = sidecar.request(
        "POST",
        "/v1/ingest/events",
        &[("Content-Type", "application/msgpack")],
        &body,
    );
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.json()["rejected"][0]["path"], "event.status");

    // The shape of the batch body is checked as on /v1/ingest/batch.
    let reply = sidecar.post_json("/v1/ingest/events:batch", &json!("events"));
    assert_eq!(reply.status, 400, "{reply:?}");
    let reply = sidecar.request("GET", "/v1/ingest/events:batch", &[], b"");
    assert_eq!(reply.status, 405, "{reply:?}");

    wait_delivered(&data, &[id_of(&good)]);
}
