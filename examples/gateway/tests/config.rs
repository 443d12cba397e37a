//! The config file's schema (core/schema/gateway.v1.schema.json) and the gateway agree: the
//! example config is valid for both, and each mistake is refused by both, the gateway
//! naming the key's JSON path. (Every config the other tests start a gateway with is
//! checked against the schema in `Gateway::launch`.)

mod common;

use std::path::Path;

use serde_json::{json, Value};

use common::run_cli;

fn check(dir: &Path, config: &Value) -> std::process::Output {
    let path = dir.join("gateway.json");
    std::fs::write(&path, config.to_string()).unwrap();
    run_cli(&["--config", path.to_str().unwrap(), "--check"], dir)
}

#[test]
fn the_example_config_is_valid_for_the_schema_and_the_gateway() {
    let example = wafermon_testkit::load_json(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway.example.json"),
    );
    wafermon_testkit::assert_schema_valid("gateway.v1.schema.json", &example);
    let dir = tempfile::tempdir().unwrap();
    let out = check(dir.path(), &example);
    wafermon_testkit::assert_check_ok(&out);
}

#[test]
fn the_schema_and_the_gateway_refuse_the_same_mistakes() {
    let schema = wafermon_testkit::schema_validator("gateway.v1.schema.json");
    let dir = tempfile::tempdir().unwrap();
    let files = json!({"name": "files", "type": "filesystem", "path": "/x"});
    let elk = json!({"name": "logs", "type": "elk", "url": "http://127.0.0.1:9200"});
    let zabbix = json!({"name": "z", "type": "zabbix", "url": "http://127.0.0.1/api_jsonrpc.php",
                        "username": "Admin", "password": "zabbix", "host": "h"});
    let base = json!({"sources": [files, elk, zabbix]});
    assert!(schema.is_valid(&base));
    assert_eq!(check(dir.path(), &base).status.code(), Some(0));
    let with_source = |i: usize, key: &str, value: Value| {
        let mut config = base.clone();
        if value.is_null() {
            config["sources"][i].as_object_mut().unwrap().remove(key);
        } else {
            config["sources"][i][key] = value;
        }
        config
    };
    let cases: Vec<(&str, Value)> = vec![
        ("lisen", json!({"lisen": "127.0.0.1:1"})),
        ("max_body_bytes", json!({"max_body_bytes": "big"})),
        ("max_body_bytes", json!({"max_body_bytes": 10})),
        ("request_timeout_s", json!({"request_timeout_s": 0})),
        ("retention_days", json!({"retention_days": 0})),
        ("external_cache_ttl_s", json!({"external_cache_ttl_s": -1})),
        ("ingest_token", json!({"ingest_token": "  "})),
        ("database_url", json!({"database_url": "mysql://x"})),
        ("sources[0].pth", with_source(0, "pth", json!("/x"))),
        ("sources[0].name", with_source(0, "name", json!("managed"))),
        ("sources[0].name", with_source(0, "name", json!("a b"))),
        ("sources[1].type", with_source(1, "type", json!("kafka"))),
        ("sources[1].url", with_source(1, "url", json!("ftp://x"))),
        ("sources[1].colour", with_source(1, "colour", json!(1))),
        ("sources[2].host", with_source(2, "host", Value::Null)),
        ("sources[2].items", with_source(2, "items", json!({}))),
        (
            "sources[2].timeout_s",
            with_source(2, "timeout_s", json!(0)),
        ),
        ("ingest.kafka.group", kafka("group", Value::Null)),
        ("ingest.kafka.brokers", kafka("brokers", json!("nohost"))),
        ("ingest.kafka.brokers", kafka("brokers", json!([]))),
        ("ingest.kafka.topic", kafka("topic", json!(""))),
        ("ingest.kafka.format", kafka("format", json!("avro"))),
        ("ingest.kafka.client_id", kafka("client_id", json!(" "))),
        ("ingest.kafka.max_batch", kafka("max_batch", json!(0))),
        (
            "ingest.kafka.batch_wait_ms",
            kafka("batch_wait_ms", json!(-1)),
        ),
        ("ingest.kafka.acks", kafka("acks", json!("all"))),
        ("ingest.kafka.topic", kafka("topic", json!("fab events"))),
        ("ingest.kafka.topic", kafka("topic", json!(".."))),
        (
            "ingest.kafka.sasl.mechanism",
            kafka(
                "sasl",
                json!({"mechanism": "GSSAPI", "username": "u", "password": "p"}),
            ),
        ),
        (
            "ingest.kafka.sasl.password",
            kafka("sasl", json!({"username": "u"})),
        ),
        (
            "ingest.kafka.tls.key_file",
            kafka("tls", json!({"cert_file": "/c.pem"})),
        ),
        ("ingest.kafka.tls", kafka("tls", json!("yes"))),
        (
            "ingest.kafka.session_timeout_ms",
            kafka("session_timeout_ms", json!(100)),
        ),
        (
            "ingest.kafka",
            json!({"ingest": {"kafka": "127.0.0.1:9092"}}),
        ),
        ("ingest.rabbitmq", json!({"ingest": {"rabbitmq": {}}})),
    ];
    let good_kafka = json!({"ingest": {"kafka": {"brokers": ["127.0.0.1:9092", "b2:9092"],
        "topic": "fab.events_1", "group": "gateways", "format": "msgpack", "client_id": "gw-1",
        "sasl": {"mechanism": "SCRAM-SHA-512", "username": "u", "password": "p"},
        "tls": {"ca_file": "/etc/ca.pem", "cert_file": "/c.pem", "key_file": "/k.pem"}}}});
    assert!(schema.is_valid(&good_kafka));
    assert_eq!(check(dir.path(), &good_kafka).status.code(), Some(0));
    for (path, change) in cases {
        let mut config = base.clone();
        for (key, value) in change.as_object().unwrap() {
            config[key] = value.clone();
        }
        wafermon_testkit::assert_mistake_refused(
            &schema,
            path,
            &config,
            &check(dir.path(), &config),
        );
    }
}

/// `ingest.kafka` with one key changed (`null`: removed).
fn kafka(key: &str, value: Value) -> Value {
    let mut section = json!({"brokers": "127.0.0.1:9092,127.0.0.1:9093", "topic": "events",
                             "group": "gateways"});
    if value.is_null() {
        section.as_object_mut().unwrap().remove(key);
    } else {
        section[key] = value;
    }
    json!({"ingest": {"kafka": section}})
}

#[test]
fn every_mistake_of_a_file_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "lisen": "127.0.0.1:1",
        "max_body_bytes": "big",
        "retention_days": 0,
        "sources": [{"name": "a", "type": "kafka"}, {"name": "b", "type": "s3"}]
    });
    let out = check(dir.path(), &config);
    wafermon_testkit::assert_mistakes_reported(
        &out,
        &[
            "lisen",
            "max_body_bytes",
            "retention_days",
            "sources[0].type",
            "sources[1].bucket",
        ],
    );
}
