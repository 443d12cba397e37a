//! Hostile request bodies (issue 11, part 1b) against the real binary: a worst-case body
//! within the limit costs a bounded multiple of its size and its memory is given back, the
//! answer describes only the first rejections, duplicate keys and compressed bodies are
//! refused naming what is wrong, and attribute integers stay exact or are refused.

mod common;

use common::*;
use serde_json::{json, Value};
use wafermon_testkit::bodies::{
    msgpack_duplicate_key, msgpack_events, msgpack_nested, zeros_json, zeros_msgpack,
};
use wafermon_testkit::process::{assert_memory_ceiling, memory};

const LIMIT: usize = 16 * 1024 * 1024;

fn start(dir: &std::path::Path) -> (Sidecar, std::path::PathBuf) {
    let data = dir.join("data");
    let mut cfg = config(dir, &data);
    cfg["ingest"]["max_body_bytes"] = json!(LIMIT);
    (Sidecar::start(&write_config(dir, &cfg)), data)
}

fn worst_case(path: &str, content_type: &str, (body, n): (Vec<u8>, usize)) {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, _) = start(dir.path());
    assert!(body.len() <= LIMIT);
    // Warm up: one ordinary request, so the runtime's threads exist before the baseline.
    let reply = sidecar.post_json("/v1/ingest/events", &event(1));
    assert_eq!(reply.status, 202, "{reply:?}");
    let before = memory(sidecar.child.id());
    let reply = sidecar.request("POST", path, &[("Content-Type", content_type)], &body);
    assert_eq!(
        reply.status,
        400,
        "{}",
        &reply.body[..reply.body.len().min(300)]
    );
    assert!(
        reply.body.len() < 64 * 1024,
        "answer of {} bytes",
        reply.body.len()
    );
    let answer = reply.json();
    assert_eq!(answer["accepted"], 0);
    assert_eq!(answer["rejected_count"], n);
    let shown = answer["rejected"].as_array().unwrap();
    assert_eq!(shown.len(), 100);
    assert_eq!(shown[99]["index"], 99);
    assert_eq!(shown[0]["error"], "an event must be an object");
    assert_memory_ceiling(before, memory(sidecar.child.id()), body.len(), 0);
    // And it still serves.
    let reply = sidecar.post_json("/v1/ingest/events", &event(2));
    assert_eq!(reply.status, 202, "{reply:?}");
}

#[test]
fn a_json_body_of_zeros_within_the_limit_costs_a_bounded_multiple_of_its_size() {
    worst_case(
        "/v1/ingest/batch",
        "application/json",
        zeros_json(LIMIT - 1024),
    );
}

#[test]
fn a_msgpack_body_of_zeros_within_the_limit_costs_a_bounded_multiple_of_its_size() {
    worst_case(
        "/v1/ingest/events",
        "application/msgpack",
        zeros_msgpack(LIMIT - 1024),
    );
}

#[test]
fn duplicate_keys_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, data) = start(dir.path());
    let json_ct = ("Content-Type", "application/json");
    let one = serde_json::to_string(&event(1)).unwrap();

    let body = format!("{{\"events\": [{one}], \"events\": []}}");
    let reply = sidecar.request("POST", "/v1/ingest/batch", &[json_ct], body.as_bytes());
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.json()["path"], "events", "{reply:?}");
    assert!(reply.json()["error"]
        .as_str()
        .unwrap()
        .contains("duplicate key"));

    let twice = one.replacen(
        "\"kind\":\"log\"",
        "\"kind\":\"log\",\"kind\":\"heartbeat\"",
        1,
    );
    assert_ne!(twice, one);
    let body = format!("[{one}, {twice}]");
    let reply = sidecar.request("POST", "/v1/ingest/events", &[json_ct], body.as_bytes());
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.json()["path"], "[1].kind", "{reply:?}");

    let mut attrs = event(2);
    attrs["attrs"] = json!({"tool": "ETCH-01"});
    let text = serde_json::to_string(&attrs).unwrap();
    let twice = text.replacen(
        "\"tool\":\"ETCH-01\"",
        "\"tool\":\"ETCH-01\",\"tool\":\"ETCH-02\"",
        1,
    );
    let reply = sidecar.request("POST", "/v1/ingest/events", &[json_ct], twice.as_bytes());
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.json()["path"], "attrs.tool", "{reply:?}");

    // MessagePack: {"events": [{"kind": ..., "kind": ...}]}, written by hand.
    let body = msgpack_events(&msgpack_duplicate_key("kind", &["log", "metric"]));
    let reply = sidecar.request(
        "POST",
        "/v1/ingest/events:batch",
        &[("Content-Type", "application/msgpack")],
        &body,
    );
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.json()["path"], "events[0].kind", "{reply:?}");

    // Nothing of the refused bodies was stored; the one good event after them is.
    let good = event(3);
    assert_eq!(sidecar.post_json("/v1/ingest/events", &good).status, 202);
    let events = wait_delivered(&data, &ids(std::slice::from_ref(&good)));
    assert_eq!(events.len(), 1, "{events:?}");
}

#[test]
fn compressed_bodies_are_refused_naming_the_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, _) = start(dir.path());
    let body = serde_json::to_vec(&event(1)).unwrap();
    for coding in ["gzip", "br", "deflate"] {
        let reply = sidecar.request(
            "POST",
            "/v1/ingest/events",
            &[
                ("Content-Type", "application/json"),
                ("Content-Encoding", coding),
            ],
            &body,
        );
        assert_eq!(reply.status, 415, "{coding}: {reply:?}");
        assert!(
            reply.json()["error"].as_str().unwrap().contains(coding),
            "{reply:?}"
        );
    }
    let reply = sidecar.request(
        "POST",
        "/v1/ingest/events",
        &[
            ("Content-Type", "application/json"),
            ("Content-Encoding", "identity"),
        ],
        &body,
    );
    assert_eq!(reply.status, 202, "{reply:?}");
}

#[test]
fn attribute_integers_stay_exact_or_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, data) = start(dir.path());
    let exact = event(1);
    let id = exact["id"].as_str().unwrap();
    let body = serde_json::to_string(&exact).unwrap().replacen(
        &format!("\"id\":\"{id}\""),
        &format!(
            "\"id\":\"{id}\",\"attrs\":{{\"above\":9007199254740993,\"max\":9223372036854775807}}"
        ),
        1,
    );
    let reply = sidecar.request(
        "POST",
        "/v1/ingest/events",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(reply.status, 202, "{reply:?}");
    let events = wait_delivered(&data, &ids(&[exact]));
    // Read back as text: a JSON reader that goes through f64 would hide the difference.
    let written: Value = events[0].clone();
    assert_eq!(written["attrs"]["above"].as_i64(), Some(9007199254740993));
    assert_eq!(written["attrs"]["max"].as_i64(), Some(i64::MAX));

    let refused = event(2);
    let rid = refused["id"].as_str().unwrap();
    let body = serde_json::to_string(&refused).unwrap().replacen(
        &format!("\"id\":\"{rid}\""),
        &format!("\"id\":\"{rid}\",\"attrs\":{{\"serial\":18446744073709551615}}"),
        1,
    );
    let reply = sidecar.request(
        "POST",
        "/v1/ingest/events",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(
        reply.json()["rejected"][0]["path"],
        "attrs.serial",
        "{reply:?}"
    );
}

#[test]
fn a_body_of_small_valid_events_within_the_limit_costs_a_bounded_multiple_of_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, _) = start(dir.path());
    let one = br#"{"kind":"heartbeat","entity":{"kind":"t","id":"1"}}"#;
    let mut body = b"[".to_vec();
    let mut n = 0;
    while body.len() + one.len() + 2 < LIMIT - 1024 {
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(one);
        n += 1;
    }
    body.push(b']');
    let reply = sidecar.post_json("/v1/ingest/events", &event(1));
    assert_eq!(reply.status, 202, "{reply:?}");
    let before = memory(sidecar.child.id());
    let reply = sidecar.request(
        "POST",
        "/v1/ingest/batch",
        &[("Content-Type", "application/json")],
        &body,
    );
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(reply.json()["accepted"], n);
    assert_memory_ceiling(before, memory(sidecar.child.id()), body.len(), 0);
}

#[test]
fn deeply_nested_messagepack_is_refused_and_the_sidecar_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, _) = start(dir.path());
    // [[[[...]]]] 100,000 deep: a recursive decoder would overflow its thread's stack.
    let body = msgpack_nested(100_000);
    let reply = sidecar.request(
        "POST",
        "/v1/ingest/batch",
        &[("Content-Type", "application/msgpack")],
        &body,
    );
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.body.contains("depth"), "{reply:?}");
    let reply = sidecar.post_json("/v1/ingest/events", &event(1));
    assert_eq!(reply.status, 202, "{reply:?}");
}
