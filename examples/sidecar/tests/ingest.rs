//! The HTTP endpoints, end to end through the real binary into JSONL files.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn start(dir: &std::path::Path, edit: impl FnOnce(&mut Value)) -> (Sidecar, std::path::PathBuf) {
    let data = dir.join("data");
    let mut cfg = config(dir, &data);
    edit(&mut cfg);
    (Sidecar::start(&write_config(dir, &cfg)), data)
}

#[test]
fn one_event_an_array_and_a_batch_are_accepted_and_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, data) = start(dir.path(), |_| {});

    let one = event(1);
    let reply = sidecar.post_json("/v1/ingest/events", &one);
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(
        reply.json(),
        json!({"accepted": 1, "rejected": [], "rejected_count": 0})
    );

    let array = vec![event(2), event(3), event(4)];
    let reply = sidecar.post_json("/v1/ingest/events", &json!(array));
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(reply.json()["accepted"], 3);

    let batch = vec![event(5), event(6)];
    let reply = sidecar.post_json("/v1/ingest/batch", &json!({"events": batch}));
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(reply.json()["accepted"], 2);

    let mut want = ids(&[one]);
    want.extend(ids(&array));
    want.extend(ids(&batch));
    let delivered = wait_delivered(&data, &want);
    let e = delivered
        .iter()
        .find(|e| e["entity"]["id"] == "job-5")
        .unwrap();
    assert_eq!(e["message"], "event 5");
    assert_eq!(e["site"], "fab7");
}

#[test]
fn invalid_events_reject_only_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, data) = start(dir.path(), |_| {});

    let good = event(1);
    let mut bad = event(2);
    bad["entity"]["id"] = json!(42);
    let reply = sidecar.post_json("/v1/ingest/batch", &json!({"events": [good, bad]}));
    assert_eq!(reply.status, 202, "{reply:?}");
    let body = reply.json();
    assert_eq!(body["accepted"], 1);
    let rejected = body["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{body}");
    assert_eq!(rejected[0]["index"], 1);
    assert_eq!(rejected[0]["path"], "entity.id");
    assert!(rejected[0]["error"].as_str().is_some_and(|s| !s.is_empty()));

    let mut no_kind = event(3);
    no_kind.as_object_mut().unwrap().remove("kind");
    let mut extra = event(4);
    extra["colour"] = json!("red");
    let reply = sidecar.post_json("/v1/ingest/events", &json!([no_kind, extra]));
    assert_eq!(reply.status, 400, "{reply:?}");
    let body = reply.json();
    assert_eq!(body["accepted"], 0);
    let paths: Vec<&str> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["kind", "colour"], "{body}");

    wait_delivered(&data, &ids(&[good]));
}

#[test]
fn bad_requests_get_clear_4xx_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, data) = start(dir.path(), |c| {
        c["ingest"]["max_body_bytes"] = json!(2048);
        c["ingest"]["token"] = json!("s3cret");
    });
    let auth = ("Authorization", "Bearer s3cret");
    let json_ct = ("Content-Type", "application/json");
    let post = |headers: &[(&str, &str)], body: &[u8]| {
        sidecar.request("POST", "/v1/ingest/events", headers, body)
    };
    let good = serde_json::to_vec(&event(1)).unwrap();

    // Missing and wrong token.
    let reply = post(&[json_ct], &good);
    assert_eq!(reply.status, 401, "{reply:?}");
    let reply = post(&[json_ct, ("Authorization", "Bearer s3creT")], &good);
    assert_eq!(reply.status, 401, "{reply:?}");
    let reply = post(&[json_ct, ("Authorization", "Basic s3cret")], &good);
    assert_eq!(reply.status, 401, "{reply:?}");

    // Malformed JSON and invalid UTF-8.
    let reply = post(&[json_ct, auth], b"{\"kind\": \"log\", ");
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.json()["error"]
        .as_str()
        .unwrap()
        .contains("malformed JSON"));
    let reply = post(
        &[json_ct, auth],
        b"{\"kind\": \"log\", \"entity\": {\"kind\": \"job\", \"id\": \"\xff\xfe\"}}",
    );
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.json()["error"].as_str().unwrap().contains("UTF-8"));
    let reply = post(&[json_ct, auth], b"42");
    assert_eq!(reply.status, 400, "{reply:?}");
    let reply = sidecar.request("POST", "/v1/ingest/batch", &[json_ct, auth], b"\"events\"");
    assert_eq!(reply.status, 400, "{reply:?}");
    // A bare array is a batch too (issue 11: the legacy SDK posts one); empty, it holds nothing.
    let reply = sidecar.request("POST", "/v1/ingest/batch", &[json_ct, auth], b"[]");
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(reply.json()["accepted"], 0);

    // Content types.
    let reply = post(&[("Content-Type", "text/plain"), auth], &good);
    assert_eq!(reply.status, 415, "{reply:?}");
    let reply = post(&[auth], &good);
    assert_eq!(reply.status, 415, "{reply:?}");

    // Bodies over the limit: declared, and sent chunked without a length.
    let big = vec![b' '; 4096];
    let reply = post(&[json_ct, auth], &big);
    assert_eq!(reply.status, 413, "{reply:?}");
    let mut chunked = format!("{:x}\r\n", big.len()).into_bytes();
    chunked.extend_from_slice(&big);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let reply = post(&[json_ct, auth, ("Transfer-Encoding", "chunked")], &chunked);
    assert_eq!(reply.status, 413, "{reply:?}");

    // Unknown path and wrong method.
    assert_eq!(sidecar.get("/v1/nothing").status, 404);
    let reply = sidecar.request("GET", "/v1/ingest/events", &[auth], b"");
    assert_eq!(reply.status, 405, "{reply:?}");
    let reply = sidecar.request("DELETE", "/v1/health", &[], b"");
    assert_eq!(reply.status, 405, "{reply:?}");

    // Still serving.
    let ok = event(2);
    let reply = post(
        &[json_ct, auth, ("Content-Type", "application/json")],
        &serde_json::to_vec(&ok).unwrap(),
    );
    assert_eq!(reply.status, 202, "{reply:?}");
    wait_delivered(&data, &ids(&[ok]));
}

#[test]
fn messagepack_bodies_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, data) = start(dir.path(), |_| {});
    let events = vec![event(1), event(2)];
    let msgpack = ("Content-Type", "application/msgpack");

    let body = rmp_serde::to_vec_named(&json!({"events": events})).unwrap();
    let reply = sidecar.request("POST", "/v1/ingest/batch", &[msgpack], &body);
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(reply.json()["accepted"], 2);

    let single = event(3);
    let body = rmp_serde::to_vec_named(&single).unwrap();
    let reply = sidecar.request("POST", "/v1/ingest/events", &[msgpack], &body);
    assert_eq!(reply.status, 202, "{reply:?}");

    let reply = sidecar.request("POST", "/v1/ingest/events", &[msgpack], b"\xc1\xc1");
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.body.contains("MessagePack"), "{reply:?}");

    let mut want = ids(&events);
    want.extend(ids(&[single]));
    wait_delivered(&data, &want);
}

#[test]
fn health_and_metrics_report_counters() {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, data) = start(dir.path(), |_| {});
    let events = vec![event(1), event(2), event(3)];
    let mut bad = event(4);
    bad["progress"] = json!("half");
    let mut body = events.clone();
    body.push(bad);
    let reply = sidecar.post_json("/v1/ingest/events", &json!(body));
    assert_eq!(reply.status, 202, "{reply:?}");
    wait_delivered(&data, &ids(&events));

    let reply = sidecar.get("/v1/health");
    assert_eq!(reply.status, 200, "{reply:?}");
    let health = reply.json();
    assert_eq!(health["status"], "ok");
    assert!(health["spool_depth"].is_u64(), "{health}");
    let backend = &health["backends"][0];
    assert_eq!(backend["name"], "files");
    assert_eq!(backend["type"], "filesystem");
    assert!(backend["healthy"].is_boolean(), "{health}");
    assert!(backend["queued"].is_u64(), "{health}");
    assert!(backend.get("last_error").is_some(), "{health}");

    let reply = sidecar.get("/metrics");
    assert_eq!(reply.status, 200, "{reply:?}");
    let text = &reply.body;
    for line in [
        "wafermon_sidecar_events_received_total 4\n",
        "wafermon_sidecar_events_accepted_total 3\n",
        "wafermon_sidecar_events_rejected_total 1\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    for name in [
        "sent_total",
        "retried_total",
        "spooled_total",
        "dropped_total",
        "failed_total",
        "queued",
    ] {
        let prefix = format!("wafermon_sidecar_backend_events_{name}{{backend=\"files\"}} ");
        assert!(text.contains(&prefix), "missing {prefix:?} in\n{text}");
    }
    // Delivery is counted once the files are written (the counter may trail the file a bit).
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let text = sidecar.get("/metrics").body;
        if text.contains("wafermon_sidecar_backend_events_sent_total{backend=\"files\"} 3\n") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sent never reached 3:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_sdk_in_sidecar_mode_delivers_through_the_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, data) = start(dir.path(), |_| {});
    let config = wafermon::Config::from_value(json!({
        "mode": "sidecar",
        "sidecar": {"url": format!("http://127.0.0.1:{}", sidecar.port)},
        "spool": {"path": dir.path().join("sdk-spool")},
        "batch": {"flush_interval": 0.05},
        "app": {"name": "etch-tool", "site_id": "fab7"}
    }))
    .unwrap();
    let client = wafermon::Client::new(config).unwrap();
    let lot = client.job("process-lot").key("LOT42").start().unwrap();
    let wafer = lot.subjob("wafer").key("W07").start().unwrap();
    wafer.progress(50.0).unwrap();
    wafer.finish().unwrap();
    lot.finish().unwrap();
    client.flush(PATIENCE).unwrap();
    let stats = client.close(PATIENCE);
    assert_eq!(stats.pending(), 0, "{stats:?}");

    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let events = delivered(&data);
        let from_sdk: Vec<&Value> = events
            .iter()
            .filter(|e| e["app"]["name"] == "etch-tool")
            .collect();
        let finished = from_sdk.iter().filter(|e| e["kind"] == "finished").count();
        if finished == 2 {
            assert!(from_sdk.iter().any(|e| e["entity"]["key"] == "LOT42"));
            assert!(from_sdk.iter().any(|e| e["kind"] == "progress"));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "SDK events did not arrive: {events:?}\n{}",
            sidecar.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
