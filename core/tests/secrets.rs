//! Secrets stay secret: every secret-bearing key of every backend (and the sidecar client's
//! token) is set to a marker, which must show in no `Debug` output, no config error and no
//! delivery error, while each backend still sends its credential to the server.
#![cfg(feature = "backends")]

mod common;

use std::time::Duration;

use serde_json::{json, Value};
use wafermon::{Client, Config};
use wafermon_testkit::refuser::Refuser;
use wafermon_testkit::secrets::{
    assert_backend_secrets_covered, assert_no_marker, every_backend, keys_holding_marker,
    secret_backend_types, secret_keys, MARKER,
};

fn config(dir: &std::path::Path, url: &str) -> Value {
    json!({
        "mode": "direct",
        "app": {"name": "leak", "site_id": "fab-t", "instance_id": "i-1"},
        "sidecar": {"token": MARKER},
        "direct_backends": every_backend(url),
        "spool": {"path": dir.join("spool")},
        "batch": {"flush_interval": 0.05},
        "retry": {"initial_backoff": 0.05, "max_backoff": 0.1}
    })
}

#[test]
fn the_test_sets_every_secret_key_the_schema_has() {
    let dir = tempfile::tempdir().unwrap();
    let value = config(dir.path(), "http://127.0.0.1:9");
    wafermon_testkit::assert_schema_valid("config.v1.schema.json", &value);
    let backends = value["direct_backends"].as_array().unwrap();
    // Every type whose keys in the schema look like secrets, read from the schema.
    let types = secret_backend_types();
    assert!(types.len() >= 9, "{types:?}");
    assert_backend_secrets_covered(backends, &types);
    // And outside the backends (the sidecar client's token): each section sets every
    // secret key the schema gives it.
    let schema = wafermon_testkit::load_json(
        &wafermon_testkit::schema::schema_dir().join("config.v1.schema.json"),
    );
    let mut checked = 0;
    for section in schema["properties"].as_object().unwrap().keys() {
        if section == "direct_backends" {
            continue;
        }
        let want = secret_keys("config.v1.schema.json", &format!("/properties/{section}"));
        let have = keys_holding_marker(&value[section.as_str()]);
        let missing: Vec<&String> = want.difference(&have).collect();
        assert!(
            missing.is_empty(),
            "{section}: set {missing:?} in config() above"
        );
        checked += want.len();
    }
    assert!(checked >= 1);
}

#[test]
fn debug_output_and_config_errors_never_show_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let value = config(dir.path(), "http://127.0.0.1:9");
    let parsed = Config::from_value(value.clone()).expect("the config is valid");
    assert_no_marker("{:?} of the config", &format!("{parsed:?}"));
    assert_no_marker("{:#?} of the config", &format!("{parsed:#?}"));
    for backend in parsed.active_backends() {
        assert_no_marker("{:?} of a backend", &format!("{backend:?}"));
    }
    // Which secrets are set still shows, for whoever debugs a config.
    assert!(format!("{parsed:?}").contains("token: Some(***)"));

    // A mistake elsewhere in the same file: the error names the key, never a secret.
    let mistakes: Vec<(&str, Value)> = vec![
        ("batch.max_events", json!({"batch": {"max_events": 0}})),
        (
            "sidecar.url",
            json!({"sidecar": {"url": "ftp://x", "token": MARKER}}),
        ),
        (
            "direct_backends[N].url",
            json!({"direct_backends": [
            {"type": "loki", "url": "ftp://x", "username": "u", "password": MARKER}]}),
        ),
        (
            "direct_backends[N].colour",
            json!({"direct_backends": [
            {"type": "webhook", "url": "http://127.0.0.1:9", "secret": MARKER, "colour": 1}]}),
        ),
        (
            "direct_backends[N].headers",
            json!({"direct_backends": [
            {"type": "webhook", "url": "http://127.0.0.1:9", "secret": MARKER,
             "headers": {"bad name": MARKER}}]}),
        ),
        (
            "direct_backends[N].api_key",
            json!({"direct_backends": [
            {"type": "elk", "url": "http://127.0.0.1:9", "api_key": MARKER,
             "username": "u", "password": MARKER}]}),
        ),
        (
            "direct_backends[N].secret_access_key",
            json!({"direct_backends": [
            {"type": "xray", "access_key_id": MARKER}]}),
        ),
        (
            "direct_backends[N].token",
            json!({"direct_backends": [
            {"type": "filesystem", "token": MARKER}]}),
        ),
    ];
    let n = value["direct_backends"].as_array().unwrap().len();
    for (path, change) in mistakes {
        let path = path.replace("[N]", &format!("[{n}]"));
        let path = path.as_str();
        let mut broken = value.clone();
        for (key, v) in change.as_object().unwrap() {
            match (key.as_str(), v) {
                ("direct_backends", Value::Array(extra)) => broken["direct_backends"]
                    .as_array_mut()
                    .unwrap()
                    .extend(extra.iter().cloned()),
                _ => {
                    for (k, inner) in v.as_object().unwrap() {
                        broken[key][k] = inner.clone();
                    }
                }
            }
        }
        let err = Config::from_value(broken).expect_err(path);
        assert_eq!(err.path(), Some(path), "{err}");
        assert_no_marker("a config error", &format!("{err} {err:?}"));
    }
}

#[test]
fn a_refused_credential_is_sent_but_never_reported() {
    let server = Refuser::start();
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(Config::from_value(config(dir.path(), &server.url)).unwrap())
        .expect("the client starts");
    client.job("etch").start().unwrap().finish().unwrap();
    // The servers refuse every batch; a refusal settles it or leaves it spooled: either way
    // the backends have tried by then.
    let _ = client.flush(Duration::from_secs(20));
    let stats = client.close(Duration::from_secs(5));
    for backend in &stats.backends {
        let error = backend.last_error.clone().unwrap_or_default();
        assert!(
            !error.is_empty(),
            "{} reports no error after a 401: {backend:?}",
            backend.name
        );
        assert_no_marker(&format!("the last error of {}", backend.name), &error);
        assert_no_marker("the stats", &format!("{backend:?}"));
    }
    // The credentials did go out, in clear, to the server they are meant for.
    let heads = server.heads().join("\n").to_ascii_lowercase();
    for sent in [
        format!("authorization: bearer {MARKER}"),
        format!("authorization: apikey {MARKER}"),
        format!("x-amz-security-token: {MARKER}"),
    ] {
        assert!(heads.contains(&sent), "no request carried {sent}:\n{heads}");
    }
}
