//! The kafka backend against Apache Kafka 4.4 (the real broker, KRaft, one node) on
//! 127.0.0.1, read back by a plain consumer: the events, their keys and headers, each lot in
//! order in one partition of a 6-partition topic, MessagePack values, a broker killed
//! mid-stream, and the errors that end the retrying (an unknown topic, an oversized message,
//! a wrong password), and SASL (PLAIN, SCRAM-SHA-256) over TLS on a secured broker.
//! Every test writes to a topic of its own; the outage and the unknown-topic tests run
//! private brokers.
#![cfg(feature = "kafka")]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::servers::{server, server_script, PrivateServer};
use common::{
    backend_stats, client_beside_filesystem, direct_backend, read_events, run_lot, same_json,
    wafer_event, with_keys,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use serde::Deserialize;
use serde_json::{json, Value};
use wafermon::backends::DeliveryError;
use wafermon::{Batch, Kind};

fn kafka() -> String {
    server("kafka")
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// A topic with `partitions` partitions on the broker at `brokers`.
fn create_topic(brokers: &str, partitions: u32) -> String {
    let port = brokers.rsplit(':').next().unwrap();
    let name = unique("t-");
    server_script("kafka", &["topic", port, &name, &partitions.to_string()]);
    name
}

/// One message as a plain consumer sees it.
struct Consumed {
    partition: i32,
    offset: i64,
    key: String,
    headers: BTreeMap<String, String>,
    value: Vec<u8>,
}

impl Consumed {
    fn event(&self) -> Value {
        serde_json::from_slice(&self.value).unwrap()
    }
}

/// Every message on `topic` from the start, read by a consumer of a group of its own until
/// at least `expect` arrived and nothing more came for a second (so a duplicate would show).
fn consume(brokers: &str, topic: &str, expect: usize) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader-"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut quiet_since = Instant::now();
    let mut out = Vec::new();
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        (0..h.count())
                            .map(|i| {
                                let header = h.get(i);
                                let value = header
                                    .value
                                    .map(|v| String::from_utf8_lossy(v).into_owned());
                                (header.key.to_string(), value.unwrap_or_default())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Consumed {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                    headers,
                    value: m.payload().unwrap_or_default().to_vec(),
                });
                quiet_since = Instant::now();
            }
            Some(Err(e)) => panic!("consumer: {e}"),
            None if out.len() >= expect && quiet_since.elapsed() > Duration::from_secs(1) => break,
            None => {}
        }
    }
    out
}

fn backend_json(brokers: &str, topic: &str, extra: Value) -> Value {
    let base =
        json!({"type": "kafka", "name": "k", "brokers": brokers, "topic": topic, "timeout": 10});
    with_keys(base, extra)
}

#[test]
fn a_plain_consumer_reads_back_the_events_keyed_by_their_lot() {
    let brokers = kafka();
    let topic = unique("rt-");
    let dir = tempfile::tempdir().unwrap();
    let client = client_beside_filesystem(
        dir.path(),
        "kafka-test",
        backend_json(&brokers, &topic, json!({})),
    );
    run_lot(&client, "LOT-7", 3);
    client.flush(Duration::from_secs(60)).unwrap();
    let k = backend_stats(&client, "k");
    assert_eq!((k.sent, k.failed), (17, 0), "{k:?}");

    let written = read_events(&dir.path().join("data"));
    let mut consumed = consume(&brokers, &topic, written.len());
    assert_eq!(consumed.len(), written.len());
    consumed.sort_by_key(|c| c.event()["seq"].as_u64());
    for (c, w) in consumed.iter().zip(&written) {
        assert!(same_json(&c.event(), w), "{}\n{w}", c.event());
        assert_eq!(
            c.key, "LOT-7",
            "every level of the tree is keyed by its lot"
        );
        let expected: BTreeMap<String, String> = [
            ("app", "kafka-test"),
            ("kind", w["kind"].as_str().unwrap()),
            ("site", w["site"].as_str().unwrap()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(c.headers, expected);
    }
    client.close(Duration::from_secs(5));
}

#[test]
fn each_lot_stays_in_order_in_one_partition_of_six() {
    let brokers = kafka();
    let topic = create_topic(&brokers, 6);
    let dir = tempfile::tempdir().unwrap();
    let client = client_beside_filesystem(
        dir.path(),
        "kafka-test",
        backend_json(&brokers, &topic, json!({})),
    );
    let lots: Vec<String> = (0..8).map(|i| format!("LOT-{i}")).collect();
    std::thread::scope(|s| {
        for lot in &lots {
            let client = &client;
            s.spawn(move || run_lot(client, lot, 4));
        }
    });
    client.flush(Duration::from_secs(60)).unwrap();
    let per_lot = 2 + 5 * 4;
    assert_eq!(
        backend_stats(&client, "k").sent,
        (lots.len() * per_lot) as u64
    );

    let consumed = consume(&brokers, &topic, lots.len() * per_lot);
    assert_eq!(consumed.len(), lots.len() * per_lot);
    let mut by_lot: BTreeMap<&str, Vec<&Consumed>> = BTreeMap::new();
    for c in &consumed {
        by_lot.entry(c.key.as_str()).or_default().push(c);
    }
    assert_eq!(by_lot.len(), lots.len());
    let mut partitions_used = std::collections::BTreeSet::new();
    for (lot, mut messages) in by_lot {
        messages.sort_by_key(|c| c.offset);
        let partitions: std::collections::BTreeSet<i32> =
            messages.iter().map(|c| c.partition).collect();
        assert_eq!(partitions.len(), 1, "{lot} is in one partition");
        partitions_used.extend(partitions);
        let seqs: Vec<u64> = messages
            .iter()
            .map(|c| c.event()["seq"].as_u64().unwrap())
            .collect();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{lot} in order: {seqs:?}"
        );
        assert_eq!(seqs.len(), per_lot);
    }
    assert!(
        partitions_used.len() > 1,
        "8 lots over 6 partitions use more than one"
    );
    client.close(Duration::from_secs(5));
}

#[test]
fn messagepack_values_decode_to_the_events() {
    let brokers = kafka();
    let topic = unique("mp-");
    let dir = tempfile::tempdir().unwrap();
    let client = client_beside_filesystem(
        dir.path(),
        "kafka-test",
        backend_json(
            &brokers,
            &topic,
            json!({"format": "msgpack", "compression": "lz4"}),
        ),
    );
    run_lot(&client, "LOT-M", 1);
    client.flush(Duration::from_secs(60)).unwrap();
    let written = read_events(&dir.path().join("data"));
    let consumed = consume(&brokers, &topic, written.len());
    assert_eq!(consumed.len(), written.len());
    for c in &consumed {
        let mut decoder = rmp_serde::Deserializer::from_read_ref(&c.value).with_human_readable();
        let event = Value::deserialize(&mut decoder).unwrap();
        let same = written.iter().find(|w| w["id"] == event["id"]).unwrap();
        assert!(same_json(&event, same), "{event}\n{same}");
    }
    client.close(Duration::from_secs(5));
}

#[test]
fn a_broker_stopped_mid_stream_loses_nothing_and_writes_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let broker = PrivateServer::start("kafka", &dir.path().join("kafka"));
    let brokers = broker.address.clone();
    let topic = unique("outage-");
    let client = client_beside_filesystem(
        dir.path(),
        "kafka-test",
        backend_json(&brokers, &topic, json!({"timeout": 2})),
    );
    let jobs = 300;
    std::thread::scope(|s| {
        // Jobs keep coming while the broker goes down and comes back.
        s.spawn(|| {
            for i in 0..jobs {
                let job = client.job("etch").id(format!("job-{i}")).start().unwrap();
                job.finish().unwrap();
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        std::thread::sleep(Duration::from_millis(500));
        broker.stop();
        assert!(
            client.flush(Duration::from_secs(1)).is_err(),
            "the broker is down"
        );
        broker.restart();
    });
    client.flush(Duration::from_secs(120)).unwrap();

    let consumed = consume(&brokers, &topic, 2 * jobs);
    let mut ids: Vec<String> = consumed
        .iter()
        .map(|c| c.event()["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2 * jobs, "every event arrived");
    assert_eq!(consumed.len(), 2 * jobs, "none twice");
    let k = backend_stats(&client, "k");
    assert_eq!((k.sent, k.failed), (2 * jobs as u64, 0), "{k:?}");
    assert!(k.retried > 0 || k.spooled > 0, "{k:?}");
    client.close(Duration::from_secs(5));
}

#[test]
fn an_unknown_topic_the_brokers_do_not_create_is_a_permanent_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let broker = PrivateServer::start_with(
        "kafka",
        &dir.path().join("kafka"),
        &[("KAFKA_AUTO_CREATE", "false")],
    );
    let client = client_beside_filesystem(
        dir.path(),
        "kafka-test",
        backend_json(&broker.address, "no-such-topic", json!({})),
    );
    run_lot(&client, "LOT-U", 1);
    client.flush(Duration::from_secs(60)).unwrap();
    let k = backend_stats(&client, "k");
    assert_eq!((k.sent, k.failed, k.spooled), (0, 7, 0), "{k:?}");
    let error = k.last_error.unwrap();
    assert!(
        error.contains("topic 'no-such-topic' does not exist"),
        "{error}"
    );
    client.close(Duration::from_secs(5));
}

#[test]
fn an_oversized_message_alone_is_rejected_and_the_rest_delivered() {
    let brokers = kafka();
    let topic = unique("big-");
    let mut backend = direct_backend(backend_json(&brokers, &topic, json!({})));
    let message = |len: usize| "m".repeat(len);
    let events = vec![
        wafer_event(0, Kind::Log, message(10)),
        wafer_event(1, Kind::Log, message(2_000_000)),
        wafer_event(2, Kind::Log, message(10)),
    ];
    match backend.send(&Batch::from_events(&events)) {
        Err(DeliveryError::Partial {
            rejected,
            retry,
            message,
            ..
        }) => {
            assert_eq!(rejected, [1]);
            assert!(retry.is_empty());
            assert!(
                message.contains(&topic) && message.contains("too large"),
                "{message}"
            );
        }
        other => panic!("expected one rejection, got {other:?}"),
    }
    let consumed = consume(&brokers, &topic, 2);
    let mut ids: Vec<String> = consumed
        .iter()
        .map(|c| c.event()["entity"]["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, ["w-0", "w-2"]);
}

#[test]
fn brokers_down_at_start_mean_the_spool_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::servers::free_port();
    let brokers = format!("127.0.0.1:{port}");
    let client = client_beside_filesystem(
        dir.path(),
        "kafka-test",
        backend_json(&brokers, "later", json!({"timeout": 1})),
    );
    run_lot(&client, "LOT-D", 1);
    assert!(client.flush(Duration::from_secs(2)).is_err());
    let k = backend_stats(&client, "k");
    assert_eq!((k.sent, k.failed), (0, 0), "{k:?}");
    let error = k.last_error.unwrap_or_default();
    assert!(error.contains(&brokers), "{error}");
    client.close(Duration::from_secs(1));
}

/// One secured broker (kafka.sh with KAFKA_SECURE: SASL over TLS on PORT+2, a CA of its
/// own) for every SASL and TLS case: right credentials by each mechanism, a wrong password,
/// and TLS without the broker's CA.
#[test]
fn sasl_over_tls_delivers_with_each_mechanism_and_names_what_was_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("kafka");
    let broker = PrivateServer::start_with("kafka", &data, &[("KAFKA_SECURE", "true")]);
    let plain = format!("127.0.0.1:{}", broker.port);
    assert_eq!(broker.address, format!("127.0.0.1:{}", broker.port + 2));
    let ca = data.join("tls/ca.pem");
    let secured = |sasl: Value, tls: Value| json!({"sasl": sasl, "tls": tls, "timeout": 10});
    let user = |mechanism: &str, password: &str| json!({"mechanism": mechanism, "username": "wafermon", "password": password});

    for mechanism in ["PLAIN", "SCRAM-SHA-256"] {
        let topic = unique("sec-");
        let mut backend = direct_backend(backend_json(
            &broker.address,
            &topic,
            secured(user(mechanism, "wafermon-secret"), json!({"ca_file": ca})),
        ));
        let events: Vec<_> = (0..5)
            .map(|i| wafer_event(i, Kind::Log, format!("over TLS by {mechanism}")))
            .collect();
        backend
            .send(&Batch::from_events(&events))
            .unwrap_or_else(|e| panic!("{mechanism}: {e:?}"));
        let consumed = consume(&plain, &topic, 5);
        assert_eq!(consumed.len(), 5, "{mechanism}");
        assert_eq!(
            consumed[0].event()["message"],
            format!("over TLS by {mechanism}")
        );
    }

    let events = vec![wafer_event(0, Kind::Log, "refused".to_string())];
    let mut wrong_password = direct_backend(backend_json(
        &broker.address,
        &unique("sec-"),
        secured(
            user("SCRAM-SHA-256", "not-the-secret"),
            json!({"ca_file": ca}),
        ),
    ));
    match wrong_password.send(&Batch::from_events(&events)) {
        Err(DeliveryError::Permanent { message }) => {
            assert!(
                message.contains("SASL authentication error") && message.contains("SCRAM-SHA-256"),
                "{message}"
            )
        }
        other => panic!("a wrong password must end the retrying, got {other:?}"),
    }

    let mut unknown_ca = direct_backend(backend_json(
        &broker.address,
        &unique("sec-"),
        secured(user("PLAIN", "wafermon-secret"), json!(true)),
    ));
    match unknown_ca.send(&Batch::from_events(&events)) {
        Err(e) => {
            let message = format!("{e:?}");
            assert!(
                matches!(e, DeliveryError::Transient { .. }) && message.contains("certificate"),
                "a TLS failure is worth retrying (certificates get fixed) and names the cause: {message}"
            )
        }
        Ok(()) => panic!("a broker certificate no known CA signed must be refused"),
    }
}
