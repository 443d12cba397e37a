//! Secrets stay secret in the running sidecar: the ingest token and every secret of every
//! backend are set to a marker, which must show in no `--check` output, config error, log
//! line, `/v1/health` or `/metrics` answer, nor in the errors of backends whose servers
//! refuse the credential.

mod common;

use std::time::Instant;

use common::*;
use serde_json::{json, Value};
use wafermon_testkit::refuser::Refuser;
use wafermon_testkit::secrets::{
    assert_backend_secrets_covered, assert_no_marker, every_backend, keys_holding_marker,
    secret_backend_types, secret_keys, MARKER,
};

fn leaky_config(dir: &std::path::Path, url: &str) -> Value {
    json!({
        "ingest": {"token": MARKER, "flush_interval": 0.05},
        "backends": every_backend(url),
        "spool": {"path": dir.join("spool")},
        "app": {"site_id": "fab7"}
    })
}

fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_test_sets_every_secret_key_the_schemas_have() {
    let dir = tempfile::tempdir().unwrap();
    let config = leaky_config(dir.path(), "http://127.0.0.1:9");
    wafermon_testkit::assert_schema_valid("sidecar.v1.schema.json", &config);
    // The sidecar's own keys (backends are config.v1's entries, listed below).
    let own = secret_keys("sidecar.v1.schema.json", "");
    let mut outside_backends = config.clone();
    outside_backends["backends"] = json!([]);
    let have = keys_holding_marker(&outside_backends);
    let missing: Vec<&String> = own.difference(&have).collect();
    assert!(missing.is_empty(), "set {missing:?} in leaky_config()");
    assert!(own.contains("token"), "{own:?}");
    assert_backend_secrets_covered(
        config["backends"].as_array().unwrap(),
        &secret_backend_types(),
    );
}

#[test]
fn check_shows_no_secret_whether_the_config_is_good_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let good = leaky_config(dir.path(), "http://127.0.0.1:9");
    let out = check(&write_config(dir.path(), &good));
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_no_marker("--check of a good config", &text);

    // Mistakes elsewhere in the same file, and next to the secrets.
    let mut bad = good.clone();
    bad["ingest"]["port"] = json!("seventeen");
    bad["spool"]["fsync"] = json!("sometimes");
    bad["backends"][2]["colour"] = json!(MARKER);
    let out = check(&write_config(dir.path(), &bad));
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("ingest.port"), "{text}");
    assert!(text.contains("backends[2].colour"), "{text}");
    assert!(out.stdout.is_empty(), "{text}");
    // The misspelt key's value is the marker too: not even an unknown key's value shows.
    assert_no_marker("--check of a broken config", &text);
}

#[test]
fn health_metrics_logs_and_backend_errors_show_no_secret() {
    let refuser = Refuser::start();
    let dir = tempfile::tempdir().unwrap();
    let mut sidecar = Sidecar::start(&write_config(
        dir.path(),
        &leaky_config(dir.path(), &refuser.url),
    ));
    let bearer = format!("Bearer {MARKER}");
    // A job that starts and finishes: X-Ray takes only job spans, the others take all.
    let mut started = event(1);
    started["kind"] = json!("started");
    let mut finished = event(2);
    finished["kind"] = json!("finished");
    finished["entity"] = started["entity"].clone();
    finished["status"] = json!("succeeded");
    let events = json!([started, finished]);
    let body = serde_json::to_vec(&events).unwrap();
    let json_type = ("Content-Type", "application/json");
    let accepted = sidecar.request(
        "POST",
        "/v1/ingest/events",
        &[json_type, ("Authorization", &bearer)],
        &body,
    );
    assert_eq!(accepted.status, 202, "{accepted:?}");
    for headers in [
        vec![json_type],
        vec![json_type, ("Authorization", "Bearer wrong")],
    ] {
        let refused = sidecar.request("POST", "/v1/ingest/events", &headers, &body);
        assert_eq!(refused.status, 401, "{refused:?}");
        assert_no_marker("a 401 answer", &format!("{refused:?}"));
    }

    // Every backend tries, is refused, and says why in /v1/health.
    let started = Instant::now();
    let health = loop {
        // Backend errors show to token holders only.
        let health = sidecar.request("GET", "/v1/health", &[("Authorization", &bearer)], b"");
        assert_eq!(health.status, 200, "{health:?}");
        let backends = health.json()["backends"].as_array().cloned().unwrap();
        if backends.iter().all(|b| b["last_error"].is_string()) {
            break health;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "not every backend reports its refusal: {health:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_no_marker("/v1/health", &format!("{health:?}"));
    assert_no_marker(
        "/v1/health without a token",
        &sidecar.get("/v1/health").body,
    );
    let metrics = sidecar.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert_no_marker("/metrics", &metrics.body);
    // The backends did send the credential, to the server it is meant for.
    let heads = refuser.heads().join("\n");
    assert!(
        heads.contains(&bearer),
        "no backend sent its token:\n{heads}"
    );

    sigterm(&sidecar.child);
    let status = wait_exit(&mut sidecar.child);
    assert!(status.code().is_some(), "{status:?}");
    assert_no_marker("the sidecar's log", &sidecar.stderr());
}
