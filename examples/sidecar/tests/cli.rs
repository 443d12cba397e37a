//! Command line: `--check` and graceful shutdown.

mod common;

use common::*;
use serde_json::json;

fn check_output(value: &serde_json::Value) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = check(&write_config(dir.path(), value));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn check_accepts_a_good_config() {
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = check_output(&config(dir.path(), &dir.path().join("data")));
    assert_eq!(code, 0, "{text}");
    assert_eq!(text.trim(), "ok");
}

#[test]
fn check_names_the_path_of_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = config(dir.path(), &dir.path().join("data"));

    let mut unknown = good.clone();
    unknown["ingest"]["colour"] = json!("blue");
    let (code, text) = check_output(&unknown);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("ingest.colour"), "{text}");

    let mut top_unknown = good.clone();
    top_unknown["extra"] = json!(1);
    let (code, text) = check_output(&top_unknown);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("at extra:"), "{text}");

    let mut wrong_type = good.clone();
    wrong_type["ingest"]["port"] = json!("seventeen");
    wrong_type["ingest"]["max_body_bytes"] = json!(-5);
    let (code, text) = check_output(&wrong_type);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("ingest.port"), "{text}");
    assert!(text.contains("ingest.max_body_bytes"), "{text}");

    let mut bad_backend = good.clone();
    bad_backend["backends"][0]["type"] = json!("carrier-pigeon");
    let (code, text) = check_output(&bad_backend);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("backends[0].type"), "{text}");
    assert!(!text.contains("direct_backends"), "{text}");

    let mut core_value = good.clone();
    core_value["ingest"]["max_batch_size"] = json!(0);
    let (code, text) = check_output(&core_value);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("ingest.max_batch_size"), "{text}");

    let dir2 = tempfile::tempdir().unwrap();
    let path = dir2.path().join("broken.json");
    std::fs::write(&path, "{not json").unwrap();
    let out = check(&path);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sigterm_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut sidecar = Sidecar::start(&write_config(dir.path(), &config(dir.path(), &data)));
    let events = vec![event(1), event(2)];
    let reply = sidecar.post_json("/v1/ingest/events", &json!(events));
    assert_eq!(reply.status, 202, "{reply:?}");
    sigterm(&sidecar.child);
    let status = wait_exit(&mut sidecar.child);
    assert_eq!(status.code(), Some(0), "stderr: {}", sidecar.stderr());
    // Whatever was acknowledged is delivered by the drain (or kept in the spool).
    wait_delivered(&data, &ids(&events));
}
