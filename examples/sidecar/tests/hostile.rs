//! Hostile request bodies (issue 11, part 1b) against the real binary: a worst-case body
//! within the limit costs a bounded multiple of its size and its memory is given back, the
//! answer describes only the first rejections, duplicate keys and compressed bodies are
//! refused naming what is wrong, and attribute integers stay exact or are refused.

mod common;

use common::*;
use serde_json::{json, Value};

const LIMIT: usize = 16 * 1024 * 1024;

/// Peak RSS growth allowed per body byte. A body is held once as received (hyper may hold
/// it twice while collecting it); parsing adds nothing per rejected element. 8 leaves room for
/// the allocator and the runtime's threads.
const PEAK_PER_BODY_BYTE: usize = 8;

fn start(dir: &std::path::Path) -> (Sidecar, std::path::PathBuf) {
    let data = dir.join("data");
    let mut cfg = config(dir, &data);
    cfg["ingest"]["max_body_bytes"] = json!(LIMIT);
    (Sidecar::start(&write_config(dir, &cfg)), data)
}

/// `VmHWM` and `VmRSS` of a process, in bytes.
fn memory(pid: u32) -> (usize, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<usize>()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no {name} in {status}"))
            * 1024
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// `{"events":[0,0,...]}` of about `size` bytes: every element rejected.
fn zeros_json(size: usize) -> (Vec<u8>, usize) {
    let n = (size - 16) / 2;
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(b"{\"events\":[");
    for i in 0..n {
        body.extend_from_slice(if i == 0 { b"0" } else { b",0" });
    }
    body.extend_from_slice(b"]}");
    (body, n)
}

/// The same in MessagePack: an array32 of positive fixint zeros.
fn zeros_msgpack(size: usize) -> (Vec<u8>, usize) {
    let n = size - 5;
    let mut body = Vec::with_capacity(size);
    body.push(0xdd);
    body.extend_from_slice(&(n as u32).to_be_bytes());
    body.resize(size, 0);
    (body, n)
}

fn worst_case(path: &str, content_type: &str, (body, n): (Vec<u8>, usize)) {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, _) = start(dir.path());
    assert!(body.len() <= LIMIT);
    // Warm up: one ordinary request, so the runtime's threads exist before the baseline.
    let reply = sidecar.post_json("/v1/ingest/events", &event(1));
    assert_eq!(reply.status, 202, "{reply:?}");
    let (peak_before, _) = memory(sidecar.child.id());
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
    let (peak_after, rss_after) = memory(sidecar.child.id());
    let growth = peak_after.saturating_sub(peak_before);
    eprintln!(
        "peak growth {growth} for {} bytes; resident after {rss_after}, peak before {peak_before}",
        body.len()
    );
    assert!(
        growth <= PEAK_PER_BODY_BYTE * body.len(),
        "peak RSS grew by {growth} bytes for a {}-byte body",
        body.len()
    );
    // Given back: what stays resident is far below the body's size again.
    assert!(
        rss_after <= peak_before + body.len(),
        "{rss_after} bytes resident after the request (peak before it: {peak_before})"
    );
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
    let mut body = vec![0x81, 0xa6];
    body.extend_from_slice(b"events");
    body.extend_from_slice(&[0x91, 0x82]);
    for kind in ["log", "metric"] {
        body.extend_from_slice(&[0xa4]);
        body.extend_from_slice(b"kind");
        body.push(0xa0 | kind.len() as u8);
        body.extend_from_slice(kind.as_bytes());
    }
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
    let (peak_before, _) = memory(sidecar.child.id());
    let reply = sidecar.request(
        "POST",
        "/v1/ingest/batch",
        &[("Content-Type", "application/json")],
        &body,
    );
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(reply.json()["accepted"], n);
    let (peak_after, rss_after) = memory(sidecar.child.id());
    let growth = peak_after.saturating_sub(peak_before);
    eprintln!("peak growth {growth} for {} bytes", body.len());
    assert!(
        growth <= PEAK_PER_BODY_BYTE * body.len(),
        "peak RSS grew by {growth} bytes for a {}-byte body",
        body.len()
    );
    assert!(
        rss_after <= peak_before + body.len(),
        "{rss_after} bytes resident after the request (peak before it: {peak_before})"
    );
}

#[test]
fn deeply_nested_messagepack_is_refused_and_the_sidecar_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (sidecar, _) = start(dir.path());
    // [[[[...]]]] 100,000 deep: a recursive decoder would overflow its thread's stack.
    let mut body = vec![0x91; 100_000];
    body.push(0);
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
