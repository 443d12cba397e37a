//! The config file's schema (core/schema/sidecar.v1.schema.json) and the sidecar agree: the
//! example config is valid for both, and each mistake is refused by both, the sidecar
//! naming the key's JSON path. (Every config the other tests start a sidecar with is
//! checked against the schema in `Sidecar::start`.)

mod common;

use common::*;
use serde_json::{json, Value};

fn example() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sidecar.example.json");
    wafermon_testkit::load_json(&path)
}

#[test]
fn the_example_config_is_valid_for_the_schema_and_the_sidecar() {
    let config = example();
    wafermon_testkit::assert_schema_valid("sidecar.v1.schema.json", &config);
    let dir = tempfile::tempdir().unwrap();
    let out = check(&write_config(dir.path(), &config));
    wafermon_testkit::assert_check_ok(&out);
}

#[test]
fn the_schema_and_the_sidecar_refuse_the_same_mistakes() {
    let schema = wafermon_testkit::schema_validator("sidecar.v1.schema.json");
    let dir = tempfile::tempdir().unwrap();
    let base = config(dir.path(), &dir.path().join("data"));
    assert!(schema.is_valid(&base));
    let cases: Vec<(&str, Value)> = vec![
        ("extra", json!({"extra": 1})),
        ("ingest.colour", json!({"ingest": {"colour": "blue"}})),
        ("ingest.port", json!({"ingest": {"port": 70000}})),
        ("ingest.host", json!({"ingest": {"host": 7}})),
        ("ingest.token", json!({"ingest": {"token": ""}})),
        (
            "ingest.max_body_bytes",
            json!({"ingest": {"max_body_bytes": 0}}),
        ),
        (
            "ingest.max_batch_size",
            json!({"ingest": {"max_batch_size": 0}}),
        ),
        (
            "ingest.flush_interval",
            json!({"ingest": {"flush_interval": -1}}),
        ),
        ("spool.enabled", json!({"spool": {"enabled": false}})),
        ("spool.fsync", json!({"spool": {"fsync": "sometimes"}})),
        ("app.site_id", json!({"app": {"site_id": ""}})),
        ("app.nmae", json!({"app": {"nmae": "x"}})),
        ("backends", json!({"backends": {"type": "filesystem"}})),
        (
            "backends[1].type",
            json!({"backends": [{"type": "filesystem"}, {"type": "carrier-pigeon"}]}),
        ),
        (
            "backends[1].url",
            json!({"backends": [{"type": "filesystem"}, {"type": "loki", "url": "ftp://x"}]}),
        ),
        (
            "backends[0].pth",
            json!({"backends": [{"type": "filesystem", "pth": "/x"}]}),
        ),
    ];
    for (path, change) in cases {
        let mut config = base.clone();
        for (section, value) in change.as_object().unwrap() {
            match (config.get_mut(section), value) {
                (Some(Value::Object(existing)), Value::Object(keys)) => {
                    existing.extend(keys.clone());
                }
                _ => config[section] = value.clone(),
            }
        }
        let out = check(&write_config(dir.path(), &config));
        wafermon_testkit::assert_mistake_refused(&schema, path, &config, &out);
    }
}

#[test]
fn every_mistake_of_a_file_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), &dir.path().join("data"));
    config["ingest"]["port"] = json!("seventeen");
    config["ingest"]["colour"] = json!(1);
    config["ingest"]["token"] = json!("");
    config["spool"]["enabled"] = json!(false);
    config["backends"][0]["type"] = json!("carrier-pigeon");
    config["nope"] = json!(1);
    let out = check(&write_config(dir.path(), &config));
    wafermon_testkit::assert_mistakes_reported(
        &out,
        &[
            "ingest.port",
            "ingest.colour",
            "ingest.token",
            "spool.enabled",
            "backends[0].type",
            "nope",
        ],
    );
}
