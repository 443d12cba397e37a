//! Hostile ingest bodies (issue 11, part 1b) against the real binary on SQLite: a worst-case
//! body within the 16 MiB limit costs a bounded multiple of its size and its memory is given
//! back, the answer describes only the first rejections, duplicate keys and compressed bodies
//! are refused naming what is wrong, and attribute integers stay exact or are refused.

use serde_json::{json, Value};
use wafermon_testkit::bodies::{
    msgpack_duplicate_key, msgpack_events, msgpack_nested, zeros_json, zeros_msgpack,
};
use wafermon_testkit::process::{assert_memory_ceiling, memory};

mod common;
use common::{agent, ev, Gateway, T0};

const LIMIT: usize = 16 * 1024 * 1024;

fn sqlite_gateway(dir: &tempfile::TempDir) -> Gateway {
    Gateway::start(&format!(
        "sqlite://{}",
        dir.path().join("gw.sqlite3").display()
    ))
}

/// Send `body` and check the answer and the gateway's memory; the answer. `kept` is what may
/// stay resident besides (the store's bounded caches, once events were stored).
fn within_ceiling(gw: &Gateway, content_type: &str, body: &[u8], kept: usize) -> (u16, Value) {
    assert!(body.len() <= LIMIT);
    // Warm up, so the runtime's threads exist before the baseline.
    gw.ingest(&[ev("fab1", "etch", "warm", "started", T0).build()]);
    let before = memory(gw.pid());
    let reply = gw.request(
        "POST",
        "/v1/ingest/managed",
        None,
        Some(content_type),
        Some(body),
    );
    assert!(
        reply.body.len() < 64 * 1024,
        "answer of {} bytes",
        reply.body.len()
    );
    assert_memory_ceiling(before, memory(gw.pid()), body.len(), kept);
    (reply.status, reply.json())
}

/// POST a MessagePack body that must be refused (400); the error.
fn refused_msgpack(gw: &Gateway, body: &[u8]) -> Value {
    gw.request(
        "POST",
        "/v1/ingest/managed",
        None,
        Some("application/msgpack"),
        Some(body),
    )
    .expect(400)
}

fn check_zeros_answer(status: u16, answer: &Value, n: usize) {
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["accepted"], 0);
    assert_eq!(answer["rejected_count"], n);
    let shown = answer["rejected"].as_array().unwrap();
    assert_eq!(shown.len(), 100);
    assert_eq!(shown[7]["path"], "events[7]");
    assert_eq!(shown[7]["error"], "an event must be an object");
}

#[test]
fn a_json_body_of_zeros_within_the_limit_costs_a_bounded_multiple_of_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let gw = sqlite_gateway(&dir);
    let (body, n) = zeros_json(LIMIT - 1024);
    let (status, answer) = within_ceiling(&gw, "application/json", &body, 0);
    check_zeros_answer(status, &answer, n);
}

#[test]
fn a_msgpack_body_of_zeros_within_the_limit_costs_a_bounded_multiple_of_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let gw = sqlite_gateway(&dir);
    let (zeros, n) = zeros_msgpack(LIMIT - 1024);
    let body = msgpack_events(&zeros);
    let (status, answer) = within_ceiling(&gw, "application/msgpack", &body, 0);
    check_zeros_answer(status, &answer, n);
}

#[test]
fn a_body_of_small_valid_events_costs_a_bounded_multiple_of_its_size() {
    // 4 MiB, not 16: storing 16 MiB of events takes a debug build longer than a request may
    // (the parsed events cost a multiple of their bytes, so the ceiling is the same).
    const SIZE: usize = 4 * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let gw = sqlite_gateway(&dir);
    let mut body = b"{\"events\":[".to_vec();
    let mut n = 0;
    loop {
        let event = ev("f", "a", &format!("j{n}"), "started", T0 + n as i64).build();
        let text = serde_json::to_vec(&event).unwrap();
        if body.len() + text.len() + 3 > SIZE {
            break;
        }
        if n > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&text);
        n += 1;
    }
    body.extend_from_slice(b"]}");
    // SQLite's page cache (2 MiB per connection) stays warm.
    let (status, answer) = within_ceiling(&gw, "application/json", &body, 8 << 20);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["stored"], n);
}

#[test]
fn duplicate_keys_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let gw = sqlite_gateway(&dir);
    let post = |body: &str| {
        gw.request(
            "POST",
            "/v1/ingest/managed",
            None,
            Some("application/json"),
            Some(body.as_bytes()),
        )
    };
    let good = ev("fab1", "etch", "D-1", "started", T0).build();
    let text = serde_json::to_string(&good).unwrap();

    let e = post(&format!("{{\"events\": [{text}], \"events\": []}}")).expect(400);
    assert_eq!(e["path"], "events", "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("duplicate key"),
        "{e}"
    );

    let twice = text.replacen(
        "\"site\":\"fab1\"",
        "\"site\":\"fab1\",\"site\":\"fab2\"",
        1,
    );
    assert_ne!(twice, text);
    let e = post(&format!("{{\"events\": [{text}, {twice}]}}")).expect(400);
    assert_eq!(e["path"], "events[1].site", "{e}");

    let mut with_attrs = good.clone();
    with_attrs["attrs"] = json!({"tool": "ETCH-01"});
    let twice = serde_json::to_string(&with_attrs).unwrap().replacen(
        "\"tool\":\"ETCH-01\"",
        "\"tool\":\"ETCH-01\",\"tool\":\"ETCH-02\"",
        1,
    );
    let e = post(&format!("{{\"events\": [{twice}]}}")).expect(400);
    assert_eq!(e["path"], "events[0].attrs.tool", "{e}");

    let e = post(&format!(
        "{{\"events\": [{text}], \"source\": \"a\", \"source\": \"b\"}}"
    ))
    .expect(400);
    assert_eq!(e["path"], "source", "{e}");

    // MessagePack: {"events": [{"site": ..., "site": ...}]}, written by hand.
    let body = msgpack_events(&msgpack_duplicate_key("site", &["f1", "f2"]));
    let e = refused_msgpack(&gw, &body);
    assert_eq!(e["path"], "events[0].site", "{e}");

    // Nothing of the refused bodies was stored.
    let jobs = gw.get_json("/v1/jobs?site=fab1");
    assert_eq!(jobs["jobs"].as_array().map(Vec::len), Some(0), "{jobs}");
}

#[test]
fn compressed_bodies_are_refused_naming_the_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let gw = sqlite_gateway(&dir);
    let body =
        serde_json::to_vec(&json!({"events": [ev("fab1", "etch", "Z-1", "started", T0).build()]}))
            .unwrap();
    let agent = agent(None);
    let post = |coding: &str| {
        let mut response = agent
            .post(&gw.url("/v1/ingest/managed"))
            .header("Content-Type", "application/json")
            .header("Content-Encoding", coding)
            .send(&body[..])
            .unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        (status, text)
    };
    for coding in ["gzip", "br", "zstd"] {
        let (status, text) = post(coding);
        assert_eq!(status, 415, "{coding}: {text}");
        assert!(text.contains(coding), "{text}");
    }
    let (status, text) = post("identity");
    assert_eq!(status, 200, "{text}");
}

#[test]
fn attribute_integers_stay_exact_or_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let gw = sqlite_gateway(&dir);
    let mut exact = ev("fab1", "etch", "I-1", "started", T0).build();
    exact["attrs"] = json!({"above": 9007199254740993i64, "max": i64::MAX});
    let answer = gw.ingest(&[exact]);
    assert_eq!(answer["stored"], 1, "{answer}");
    let job = gw.job("I-1");
    let text = job.to_string();
    assert!(text.contains("9007199254740993"), "{text}");
    assert!(text.contains("9223372036854775807"), "{text}");

    let mut refused = ev("fab1", "etch", "I-2", "started", T0).build();
    refused["attrs"] = json!({"serial": u64::MAX});
    let e = gw
        .post_json("/v1/ingest/managed", &json!({"events": [refused]}))
        .expect(400);
    assert_eq!(e["rejected"][0]["path"], "events[0].attrs.serial", "{e}");
}

#[test]
fn deeply_nested_messagepack_is_refused_and_the_gateway_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let gw = sqlite_gateway(&dir);
    // {"events": [[[[...]]]]} 100,000 deep: a recursive decoder would overflow its stack.
    let body = msgpack_events(&msgpack_nested(100_000));
    let e = refused_msgpack(&gw, &body);
    assert!(e["error"].as_str().unwrap().contains("depth"), "{e}");
    gw.ingest(&[ev("fab1", "etch", "after", "started", T0).build()]);
}
