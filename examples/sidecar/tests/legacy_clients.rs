//! Clients of the legacy ingest API (issue 11, part 1): every request shape in
//! core/conformance/legacy_requests.json against the real binary, and what those answers
//! promise checked in the files the sidecar delivers.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{json, Value};

fn start(dir: &Path) -> (Sidecar, PathBuf) {
    let data = dir.join("data");
    let cfg = config(dir, &data);
    (Sidecar::start(&write_config(dir, &cfg)), data)
}

fn cases() -> Vec<Value> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../core/conformance/legacy_requests.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// `want` holds in `got`: objects key by key (`got` may have more), arrays element by
/// element with the same length, numbers by value, anything else equal.
fn matches(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w
            .iter()
            .all(|(k, v)| g.get(k).is_some_and(|gv| matches(v, gv))),
        (Value::Array(w), Value::Array(g)) => {
            w.len() == g.len() && w.iter().zip(g).all(|(a, b)| matches(a, b))
        }
        (Value::Number(w), Value::Number(g)) => w.as_f64() == g.as_f64(),
        _ => want == got,
    }
}

/// Send one case's request; the reply.
fn send(sidecar: &Sidecar, case: &Value) -> Reply {
    let method = case["method"].as_str().unwrap();
    let path = case["path"].as_str().unwrap();
    let Some(content_type) = case["content_type"].as_str() else {
        return sidecar.request(method, path, &[], b"");
    };
    let body = match content_type {
        "application/msgpack" => rmp_serde::to_vec_named(&case["body"]).unwrap(),
        _ => serde_json::to_vec(&case["body"]).unwrap(),
    };
    sidecar.request(method, path, &[("Content-Type", content_type)], &body)
}

#[test]
fn legacy_request_shapes_get_the_answers_the_conformance_file_gives() {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, _) = start(dir.path());
    let cases = cases();
    assert!(cases.len() >= 10);
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let reply = send(&sidecar, case);
        assert_eq!(
            u64::from(reply.status),
            case["status"].as_u64().unwrap(),
            "{name}: {reply:?}"
        );
        let answer = reply.json();
        assert!(
            matches(&case["answer"], &answer),
            "{name}: {answer} does not match {}",
            case["answer"]
        );
        for key in case["present"].as_array().into_iter().flatten() {
            let key = key.as_str().unwrap();
            assert!(answer.get(key).is_some(), "{name}: no {key} in {answer}");
        }
        for key in case["absent"].as_array().into_iter().flatten() {
            let key = key.as_str().unwrap();
            assert!(answer.get(key).is_none(), "{name}: {key} in {answer}");
        }
    }
}

#[test]
fn the_old_sdks_bare_array_batch_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, data) = start(dir.path());
    let case = cases()
        .into_iter()
        .find(|c| {
            c["name"]
                .as_str()
                .unwrap()
                .starts_with("old SDK send_batch")
        })
        .unwrap();
    let reply = send(&sidecar, &case);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["ok"], true);
    let keys: Vec<&str> = case["body"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entity"]["id"].as_str().unwrap())
        .collect();
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let events = delivered(&data);
        let found: Vec<&Value> = events
            .iter()
            .filter(|e| keys.contains(&e["entity"]["id"].as_str().unwrap_or_default()))
            .collect();
        if found.len() == keys.len() {
            assert!(found.iter().all(|e| e["site"] == "fab9"), "{found:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not delivered: {events:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn healthz_answers_as_the_legacy_api_documented() {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, _) = start(dir.path());
    let reply = sidecar.get("/v1/healthz");
    assert_eq!(reply.status, 200, "{reply:?}");
    let health = reply.json();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["service"], "wafermon-sidecar");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(health["spool_count"], json!(0));
    assert_eq!(
        health["spool_dir"],
        dir.path().join("spool").display().to_string()
    );
    // Beside /v1/health, which keeps its own answer.
    assert_eq!(sidecar.get("/v1/health").json()["status"], "ok");
}

#[test]
fn healthz_shows_the_spool_path_only_to_token_holders_when_a_token_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cfg = config(dir.path(), &data);
    cfg["ingest"]["token"] = json!("s3cret");
    let sidecar = Sidecar::start(&write_config(dir.path(), &cfg));
    let open = sidecar.get("/v1/healthz");
    assert_eq!(open.status, 200, "{open:?}");
    let open = open.json();
    assert_eq!(open["status"], "ok");
    assert!(open.get("spool_dir").is_none(), "{open}");
    let reply = sidecar.request(
        "GET",
        "/v1/healthz",
        &[("Authorization", "Bearer s3cret")],
        b"",
    );
    assert_eq!(
        reply.json()["spool_dir"],
        dir.path().join("spool").display().to_string()
    );
}
