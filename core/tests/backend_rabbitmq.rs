//! The rabbitmq backend against RabbitMQ 3.10 (the real broker) on 127.0.0.1, read back by a
//! plain AMQP consumer (basic.get on queues the test binds): the events, their routing keys,
//! properties and headers, a lot's events in order in one queue, MessagePack bodies, a broker
//! stopped mid-stream, connections the broker drops between batches, an exchange that does
//! not exist or is declared otherwise, a key no queue is bound for, a queue that nacks,
//! refused credentials, amqps:// (feature "rabbitmq-tls"), and config errors that name their
//! key and never show the password. Every test uses an exchange and queues of its own; the
//! tests that stop or disconnect the broker run private nodes.
#![cfg(feature = "rabbitmq")]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::servers::{server, server_script, PrivateServer};
use common::{
    backend_stats, client_beside_filesystem, config_in, direct_backend, read_events, run_lot,
    same_json, wafer_event, with_keys,
};
use lapin::options::{
    BasicGetOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use serde::Deserialize;
use serde_json::{json, Value};
use wafermon::backends::{build, DeliveryError};
use wafermon::{Batch, Config, Kind, Timestamp};

fn rabbitmq() -> String {
    server("rabbitmq")
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

/// A plain AMQP client of the test's own: declares, binds and reads queues with basic.get.
struct Reader {
    runtime: tokio::runtime::Runtime,
    _connection: Connection,
    channel: Channel,
}

/// One message as the reader got it.
struct Got {
    routing_key: String,
    properties: BasicProperties,
    data: Vec<u8>,
}

impl Got {
    fn event(&self) -> Value {
        serde_json::from_slice(&self.data).unwrap()
    }

    fn headers(&self) -> BTreeMap<String, String> {
        let table = self.properties.headers().clone().unwrap_or_default();
        table
            .inner()
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    AMQPValue::LongString(s) => s.to_string(),
                    other => format!("{other:?}"),
                };
                (k.to_string(), value)
            })
            .collect()
    }
}

impl Reader {
    fn new(url: &str) -> Reader {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (connection, channel) = runtime.block_on(async {
            let connection = Connection::connect(url, ConnectionProperties::default())
                .await
                .unwrap();
            let channel = connection.create_channel().await.unwrap();
            (connection, channel)
        });
        Reader {
            runtime,
            _connection: connection,
            channel,
        }
    }

    /// A durable topic exchange named `name`.
    fn exchange(&self, name: &str) {
        let options = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        self.runtime
            .block_on(self.channel.exchange_declare(
                name.into(),
                ExchangeKind::Topic,
                options,
                FieldTable::default(),
            ))
            .unwrap();
    }

    /// A durable queue of its own bound to `exchange` with `pattern`.
    fn queue(&self, exchange: &str, pattern: &str) -> String {
        self.queue_with(exchange, pattern, FieldTable::default())
    }

    /// `queue`, with arguments (`x-max-length`...).
    fn queue_with(&self, exchange: &str, pattern: &str, arguments: FieldTable) -> String {
        let name = unique("q-");
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        self.runtime.block_on(async {
            self.channel
                .queue_declare(name.as_str().into(), options, arguments)
                .await
                .unwrap();
            self.channel
                .queue_bind(
                    name.as_str().into(),
                    exchange.into(),
                    pattern.into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .unwrap();
        });
        name
    }

    /// Every message in `queue`, in queue order, until at least `expect` came and nothing
    /// more for a second (so a duplicate would show).
    fn drain(&self, queue: &str, expect: usize) -> Vec<Got> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut quiet_since = Instant::now();
        let mut out = Vec::new();
        while Instant::now() < deadline {
            let options = BasicGetOptions { no_ack: true };
            let got = self
                .runtime
                .block_on(self.channel.basic_get(queue.into(), options))
                .unwrap();
            match got {
                Some(message) => {
                    let d = message.delivery;
                    out.push(Got {
                        routing_key: d.routing_key.to_string(),
                        properties: d.properties,
                        data: d.data,
                    });
                    quiet_since = Instant::now();
                }
                None if out.len() >= expect && quiet_since.elapsed() > Duration::from_secs(1) => {
                    break
                }
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        out
    }
}

fn backend_json(url: &str, exchange: &str, extra: Value) -> Value {
    let base = json!({"type": "rabbitmq", "name": "r", "url": url, "exchange": exchange,
                      "timeout": 10});
    with_keys(base, extra)
}

#[test]
fn a_plain_consumer_reads_back_the_events_with_their_keys_and_properties() {
    let url = rabbitmq();
    let reader = Reader::new(&url);
    let exchange = unique("ex-");
    // Declared by the test too, so its queue is bound before the first publish; the
    // backend's own declare (the same durable topic exchange) must agree with it.
    reader.exchange(&exchange);
    let queue = reader.queue(&exchange, "wafermon.#");
    let dir = tempfile::tempdir().unwrap();
    let client = client_beside_filesystem(
        dir.path(),
        "rabbitmq-test",
        backend_json(&url, &exchange, json!({"declare": true})),
    );
    run_lot(&client, "LOT-7", 3);
    client.flush(Duration::from_secs(60)).unwrap();
    let r = backend_stats(&client, "r");
    assert_eq!((r.sent, r.failed), (17, 0), "{r:?}");

    let written = read_events(&dir.path().join("data"));
    let mut got = reader.drain(&queue, written.len());
    assert_eq!(got.len(), written.len());
    got.sort_by_key(|g| g.event()["seq"].as_u64());
    for (g, w) in got.iter().zip(&written) {
        assert!(same_json(&g.event(), w), "{}\n{w}", g.event());
        let (site, kind) = (w["site"].as_str().unwrap(), w["kind"].as_str().unwrap());
        assert_eq!(
            g.routing_key,
            format!("wafermon.{site}.rabbitmq-test.{kind}")
        );
        let expected: BTreeMap<String, String> =
            [("app", "rabbitmq-test"), ("kind", kind), ("site", site)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(g.headers(), expected);
        let p = &g.properties;
        assert_eq!(
            p.message_id().as_ref().map(|s| s.to_string()).as_deref(),
            w["id"].as_str()
        );
        assert_eq!(
            p.content_type().as_ref().map(|s| s.as_str()),
            Some("application/json")
        );
        assert_eq!(*p.delivery_mode(), Some(2), "persistent");
        let time = Timestamp::parse(w["time"].as_str().unwrap()).unwrap();
        assert_eq!(*p.timestamp(), Some((time.unix_millis() / 1000) as u64));
    }
    client.close(Duration::from_secs(5));
}

/// The lot an event belongs to: the top of its entity's tree among `events`.
fn lot_of(event: &Value, parents: &BTreeMap<String, String>) -> String {
    let mut id = event["entity"]["id"].as_str().unwrap().to_string();
    while let Some(parent) = parents.get(&id) {
        id = parent.clone();
    }
    id
}

#[test]
fn each_lots_events_arrive_in_order_in_one_queue() {
    let url = rabbitmq();
    let reader = Reader::new(&url);
    let exchange = unique("ex-");
    reader.exchange(&exchange);
    let queue = reader.queue(&exchange, "#");
    let dir = tempfile::tempdir().unwrap();
    let client = client_beside_filesystem(
        dir.path(),
        "rabbitmq-test",
        backend_json(&url, &exchange, json!({"routing_key": "fab.{kind}"})),
    );
    let lots: Vec<String> = (0..6).map(|i| format!("LOT-{i}")).collect();
    std::thread::scope(|s| {
        for lot in &lots {
            let client = &client;
            s.spawn(move || run_lot(client, lot, 4));
        }
    });
    client.flush(Duration::from_secs(60)).unwrap();
    let per_lot = 2 + 5 * 4;
    assert_eq!(
        backend_stats(&client, "r").sent,
        (lots.len() * per_lot) as u64
    );

    let got = reader.drain(&queue, lots.len() * per_lot);
    assert_eq!(got.len(), lots.len() * per_lot);
    let events: Vec<Value> = got.iter().map(Got::event).collect();
    let parents: BTreeMap<String, String> = events
        .iter()
        .filter_map(|e| {
            let entity = &e["entity"];
            Some((
                entity["id"].as_str()?.to_string(),
                entity["parent"].as_str()?.to_string(),
            ))
        })
        .collect();
    let mut by_lot: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for e in &events {
        by_lot
            .entry(lot_of(e, &parents))
            .or_default()
            .push(e["seq"].as_u64().unwrap());
    }
    assert_eq!(by_lot.keys().cloned().collect::<Vec<_>>(), lots);
    for (lot, seqs) in by_lot {
        assert_eq!(seqs.len(), per_lot, "{lot}");
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "{lot} in order: {seqs:?}"
        );
    }
    client.close(Duration::from_secs(5));
}

#[test]
fn messagepack_bodies_decode_to_the_events() {
    let url = rabbitmq();
    let reader = Reader::new(&url);
    let exchange = unique("ex-");
    reader.exchange(&exchange);
    let queue = reader.queue(&exchange, "#");
    let dir = tempfile::tempdir().unwrap();
    let client = client_beside_filesystem(
        dir.path(),
        "rabbitmq-test",
        backend_json(&url, &exchange, json!({"format": "msgpack"})),
    );
    run_lot(&client, "LOT-M", 1);
    client.flush(Duration::from_secs(60)).unwrap();
    let written = read_events(&dir.path().join("data"));
    let got = reader.drain(&queue, written.len());
    assert_eq!(got.len(), written.len());
    for g in &got {
        assert_eq!(
            g.properties.content_type().as_ref().map(|s| s.as_str()),
            Some("application/msgpack")
        );
        let mut decoder = rmp_serde::Deserializer::from_read_ref(&g.data).with_human_readable();
        let event = Value::deserialize(&mut decoder).unwrap();
        let same = written.iter().find(|w| w["id"] == event["id"]).unwrap();
        assert!(same_json(&event, same), "{event}\n{same}");
    }
    client.close(Duration::from_secs(5));
}

#[test]
fn a_broker_stopped_mid_stream_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let broker = PrivateServer::start("rabbitmq", &dir.path().join("rabbitmq"));
    let url = broker.address.clone();
    let exchange = unique("ex-");
    let queue = {
        // Durable exchange and queue, persistent messages: all survive the restart.
        let reader = Reader::new(&url);
        reader.exchange(&exchange);
        reader.queue(&exchange, "#")
    };
    let client = client_beside_filesystem(
        dir.path(),
        "rabbitmq-test",
        backend_json(&url, &exchange, json!({"timeout": 2})),
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
    let r = backend_stats(&client, "r");
    assert_eq!((r.sent, r.failed), (2 * jobs as u64, 0), "{r:?}");
    assert!(r.retried > 0 || r.spooled > 0, "{r:?}");

    let reader = Reader::new(&url);
    let got = reader.drain(&queue, 2 * jobs);
    let written = read_events(&dir.path().join("data"));
    let mut by_id: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for g in &got {
        let event = g.event();
        by_id
            .entry(event["id"].as_str().unwrap().to_string())
            .or_default()
            .push(event);
    }
    // At least once: a message the broker took just before it went down, whose confirm
    // never came back, is published again. A copy is then the same event.
    assert_eq!(by_id.len(), 2 * jobs, "every event arrived");
    for w in &written {
        let copies = &by_id[w["id"].as_str().unwrap()];
        assert!(copies.iter().all(|c| same_json(c, w)), "{copies:?}\n{w}");
    }
    println!(
        "{} duplicates of {} events",
        got.len() - by_id.len(),
        by_id.len()
    );
    client.close(Duration::from_secs(5));
}

#[test]
fn a_connection_the_broker_closes_between_batches_is_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let broker = PrivateServer::start("rabbitmq", &dir.path().join("rabbitmq"));
    let reader = Reader::new(&broker.address);
    let exchange = unique("ex-");
    reader.exchange(&exchange);
    let queue = reader.queue(&exchange, "#");
    let client = client_beside_filesystem(
        dir.path(),
        "rabbitmq-test",
        backend_json(&broker.address, &exchange, json!({})),
    );
    run_lot(&client, "LOT-A", 1);
    client.flush(Duration::from_secs(30)).unwrap();
    // An operator (or a broker restarting a listener) drops every connection, the test's own
    // reader's too.
    let port = broker.port.to_string();
    server_script(
        "rabbitmq",
        &["ctl", &port, "close_all_connections", "maintenance"],
    );
    run_lot(&client, "LOT-B", 1);
    client.flush(Duration::from_secs(30)).unwrap();
    let r = backend_stats(&client, "r");
    assert_eq!((r.sent, r.failed), (14, 0), "{r:?}");
    let reader = Reader::new(&broker.address);
    assert_eq!(reader.drain(&queue, 14).len(), 14);
    client.close(Duration::from_secs(5));
}

#[test]
fn an_exchange_that_does_not_exist_is_a_permanent_error_naming_it() {
    let url = rabbitmq();
    let dir = tempfile::tempdir().unwrap();
    let exchange = unique("missing-");
    let client = client_beside_filesystem(
        dir.path(),
        "rabbitmq-test",
        backend_json(&url, &exchange, json!({})),
    );
    run_lot(&client, "LOT-U", 1);
    client.flush(Duration::from_secs(60)).unwrap();
    let r = backend_stats(&client, "r");
    assert_eq!((r.sent, r.failed, r.spooled), (0, 7, 0), "{r:?}");
    let error = r.last_error.unwrap();
    assert!(
        error.contains(&format!("exchange '{exchange}' does not exist")),
        "{error}"
    );
    // The next batch opens a channel again (the broker closed the last one).
    run_lot(&client, "LOT-V", 1);
    client.flush(Duration::from_secs(60)).unwrap();
    assert_eq!(backend_stats(&client, "r").failed, 14);
    client.close(Duration::from_secs(5));
}

#[test]
fn an_exchange_declared_otherwise_is_a_permanent_error_naming_it() {
    let url = rabbitmq();
    let dir = tempfile::tempdir().unwrap();
    // A direct exchange of the broker's own: declaring it as a topic exchange is refused.
    let client = client_beside_filesystem(
        dir.path(),
        "rabbitmq-test",
        backend_json(&url, "amq.direct", json!({"declare": true})),
    );
    run_lot(&client, "LOT-X", 1);
    client.flush(Duration::from_secs(60)).unwrap();
    let r = backend_stats(&client, "r");
    assert_eq!((r.sent, r.failed, r.spooled), (0, 7, 0), "{r:?}");
    let error = r.last_error.unwrap();
    assert!(
        error.contains("cannot declare exchange 'amq.direct'"),
        "{error}"
    );
    client.close(Duration::from_secs(5));
}

#[test]
fn a_key_no_queue_is_bound_for_is_held_for_the_retry_until_one_is() {
    let url = rabbitmq();
    let reader = Reader::new(&url);
    let exchange = unique("ex-");
    reader.exchange(&exchange);
    let dir = tempfile::tempdir().unwrap();
    let client = client_beside_filesystem(
        dir.path(),
        "rabbitmq-test",
        backend_json(&url, &exchange, json!({"timeout": 2, "retries": 0})),
    );
    run_lot(&client, "LOT-R", 1);
    assert!(client.flush(Duration::from_secs(3)).is_err(), "unroutable");
    let r = backend_stats(&client, "r");
    assert_eq!((r.sent, r.failed), (0, 0), "{r:?}");
    let error = r.last_error.unwrap();
    assert!(
        error.contains(&format!(
            "exchange '{exchange}' with routing key 'wafermon."
        )),
        "{error}"
    );
    assert!(error.contains("NO_ROUTE"), "{error}");

    let queue = reader.queue(&exchange, "#");
    client.flush(Duration::from_secs(90)).unwrap();
    let r = backend_stats(&client, "r");
    assert_eq!((r.sent, r.failed), (7, 0), "{r:?}");
    let mut ids: Vec<String> = reader
        .drain(&queue, 7)
        .iter()
        .map(|g| g.event()["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7);
    client.close(Duration::from_secs(5));
}

#[test]
fn only_the_unroutable_positions_of_a_batch_are_to_retry() {
    let url = rabbitmq();
    let reader = Reader::new(&url);
    let exchange = unique("ex-");
    reader.exchange(&exchange);
    let queue = reader.queue(&exchange, "wafermon.F1.etch-app.log");
    let mut backend = direct_backend(backend_json(&url, &exchange, json!({})));
    let events = vec![
        wafer_event(0, Kind::Log, "m".into()),
        wafer_event(1, Kind::Started, "m".into()),
        wafer_event(2, Kind::Log, "m".into()),
    ];
    match backend.send(&Batch::from_events(&events)) {
        Err(DeliveryError::Partial {
            rejected,
            retry,
            message,
            ..
        }) => {
            assert!(rejected.is_empty());
            assert_eq!(retry, [1]);
            assert!(
                message.contains("routing key 'wafermon.F1.etch-app.started'"),
                "{message}"
            );
        }
        other => panic!("expected one position to retry, got {other:?}"),
    }
    let got = reader.drain(&queue, 2);
    let entities: Vec<String> = got
        .iter()
        .map(|g| g.event()["entity"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(entities, ["w-0", "w-2"]);
}

#[test]
fn a_message_a_full_queue_nacks_is_to_retry() {
    let url = rabbitmq();
    let reader = Reader::new(&url);
    let exchange = unique("ex-");
    reader.exchange(&exchange);
    // A queue that refuses (nacks) what comes beyond its first two messages.
    let mut arguments = FieldTable::default();
    arguments.insert("x-max-length".into(), AMQPValue::LongLongInt(2));
    arguments.insert(
        "x-overflow".into(),
        AMQPValue::LongString("reject-publish".into()),
    );
    let queue = reader.queue_with(&exchange, "#", arguments);
    let mut backend = direct_backend(backend_json(&url, &exchange, json!({})));
    let events = vec![
        wafer_event(0, Kind::Log, "m".into()),
        wafer_event(1, Kind::Log, "m".into()),
        wafer_event(2, Kind::Log, "m".into()),
    ];
    match backend.send(&Batch::from_events(&events)) {
        Err(DeliveryError::Partial {
            rejected,
            retry,
            message,
            ..
        }) => {
            assert!(rejected.is_empty());
            assert_eq!(retry, [2]);
            assert!(
                message.contains("nack")
                    && message.contains(&format!(
                        "exchange '{exchange}' with routing key 'wafermon.F1.etch-app.log'"
                    )),
                "{message}"
            );
        }
        other => panic!("expected the third message to retry, got {other:?}"),
    }
    let got = reader.drain(&queue, 2);
    let entities: Vec<String> = got
        .iter()
        .map(|g| g.event()["entity"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(entities, ["w-0", "w-1"]);
}

#[test]
fn a_broker_down_at_start_means_the_spool_and_the_password_shows_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::servers::free_port();
    let url = format!("amqp://fab:Pa55-hidden@127.0.0.1:{port}/%2f");
    let config = Config::from_value(config_in(
        dir.path(),
        json!({"direct_backends": [backend_json(&url, "events", json!({"timeout": 1}))]}),
    ))
    .unwrap();
    assert!(!format!("{config:?}").contains("Pa55-hidden"));
    let client = client_beside_filesystem(
        dir.path(),
        "rabbitmq-test",
        backend_json(&url, "events", json!({"timeout": 1})),
    );
    run_lot(&client, "LOT-D", 1);
    assert!(client.flush(Duration::from_secs(2)).is_err());
    let r = backend_stats(&client, "r");
    assert_eq!((r.sent, r.failed), (0, 0), "{r:?}");
    let error = r.last_error.unwrap_or_default();
    assert!(
        error.contains(&format!("amqp://fab:***@127.0.0.1:{port}")),
        "{error}"
    );
    assert!(!error.contains("Pa55-hidden"), "{error}");
    client.close(Duration::from_secs(1));
}

#[test]
fn refused_credentials_fail_for_good_without_showing_the_password() {
    let url = rabbitmq().replace("guest:guest@", "guest:Wr0ng-secret@");
    let dir = tempfile::tempdir().unwrap();
    let client = client_beside_filesystem(
        dir.path(),
        "rabbitmq-test",
        backend_json(&url, "amq.topic", json!({"timeout": 2})),
    );
    run_lot(&client, "LOT-P", 1);
    // Refused credentials end the retrying: the events count as failed, not spooled.
    client.flush(Duration::from_secs(30)).unwrap();
    let r = backend_stats(&client, "r");
    assert_eq!((r.sent, r.failed, r.spooled), (0, 7, 0), "{r:?}");
    let error = r.last_error.unwrap_or_default();
    assert!(error.contains("guest:***@"), "{error}");
    assert!(!error.contains("Wr0ng-secret"), "{error}");
    client.close(Duration::from_secs(1));
}

#[test]
fn config_mistakes_name_their_key_without_the_password() {
    let entry = |extra: Value| {
        let backend = backend_json("amqp://fab:Pa55-hidden@mq.fab/%2f", "events", extra);
        Config::from_value(json!({"direct_backends": [backend]})).unwrap_err()
    };
    for (extra, key) in [
        (json!({"routing_key": "wafermon.{lot}"}), "routing_key"),
        (json!({"format": "avro"}), "format"),
        (json!({"declare": 1}), "declare"),
        (json!({"exchange": "", "declare": true}), "declare"),
        (json!({"url": "http://fab:Pa55-hidden@mq.fab"}), "url"),
        (json!({"queue": "q"}), "queue"),
    ] {
        let e = entry(extra.clone());
        let text = e.to_string();
        assert!(text.contains(key), "{extra}: {text}");
        assert!(!text.contains("Pa55-hidden"), "{text}");
    }
    // A URL the config's checks let through but the AMQP client cannot parse: refused when
    // the backend is built, still naming the key and hiding the password.
    let backend = backend_json(
        "amqp://fab:Pa55-hidden@mq.fab:port/%2f",
        "events",
        json!({}),
    );
    let config = Config::from_value(json!({"direct_backends": [backend]})).unwrap();
    let text = build(&config.direct_backends[0], &config.app)
        .err()
        .unwrap()
        .to_string();
    assert!(text.contains("url") && text.contains("fab:***@"), "{text}");
    assert!(!text.contains("Pa55-hidden"), "{text}");
    // amqps:// without the TLS feature: said when the backend is built, not at each batch.
    if !cfg!(feature = "rabbitmq-tls") {
        let backend = backend_json("amqps://fab:Pa55-hidden@mq.fab/%2f", "events", json!({}));
        let config = Config::from_value(json!({"direct_backends": [backend]})).unwrap();
        let text = build(&config.direct_backends[0], &config.app)
            .err()
            .unwrap()
            .to_string();
        assert!(
            text.contains("url") && text.contains("rabbitmq-tls"),
            "{text}"
        );
        assert!(!text.contains("Pa55-hidden"), "{text}");
    }
}

/// amqps:// (feature "rabbitmq-tls"): the shared broker behind a TLS terminator (socat) whose
/// certificate a test CA signed; the client trusts that CA through SSL_CERT_FILE, which only a
/// process of its own can set safely, so the test runs its other half in a child process.
#[cfg(feature = "rabbitmq-tls")]
mod tls {
    use std::path::Path;
    use std::process::Command;

    use super::*;

    const URL_VAR: &str = "WAFERMON_TEST_AMQPS_URL";

    fn openssl(dir: &Path, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A CA and a certificate for 127.0.0.1 it signed, in `dir`.
    fn certificates(dir: &Path) {
        std::fs::write(
            dir.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=wafermon test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "leaf.pem",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
            ],
        );
    }

    struct Terminator(std::process::Child);

    impl Drop for Terminator {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn amqps_through_a_tls_terminator_delivers() {
        let plain = rabbitmq();
        let broker_port = plain
            .rsplit(':')
            .next()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let dir = tempfile::tempdir().unwrap();
        certificates(dir.path());
        let port = common::servers::free_port();
        let listen = format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,verify=0,cert={},key={}",
            dir.path().join("leaf.pem").display(),
            dir.path().join("leaf.key").display()
        );
        let _terminator = Terminator(
            Command::new("socat")
                .args([listen, format!("TCP:127.0.0.1:{broker_port}")])
                // It reports the readiness probe below as a failed handshake.
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        let up = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                up.elapsed() < Duration::from_secs(30),
                "socat did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let url = format!("amqps://guest:guest@127.0.0.1:{port}/%2f");
        let half = |ca: Option<&Path>| {
            let mut child = Command::new(std::env::current_exe().unwrap());
            child
                .args([
                    "--exact",
                    "tls::amqps_half_in_a_child",
                    "--ignored",
                    "--nocapture",
                ])
                .env(URL_VAR, &url)
                .env_remove("SSL_CERT_FILE")
                .env_remove("SSL_CERT_DIR");
            if let Some(ca) = ca {
                child.env("SSL_CERT_FILE", ca);
            }
            child.status().unwrap().success()
        };
        assert!(
            half(Some(&dir.path().join("ca.pem"))),
            "delivered over TLS (output above)"
        );
        // Without the test CA the certificate is not trusted: nothing is sent.
        assert!(half(None), "refused without the CA (output above)");
    }

    #[test]
    #[ignore = "the other half of amqps_through_a_tls_terminator_delivers, which runs it"]
    fn amqps_half_in_a_child() {
        let Ok(url) = std::env::var(URL_VAR) else {
            return; // Run on its own (--include-ignored): its parent sets it up.
        };
        let reader = Reader::new(&rabbitmq());
        let exchange = unique("ex-");
        reader.exchange(&exchange);
        let queue = reader.queue(&exchange, "#");
        let dir = tempfile::tempdir().unwrap();
        let client = client_beside_filesystem(
            dir.path(),
            "rabbitmq-test",
            backend_json(&url, &exchange, json!({})),
        );
        run_lot(&client, "LOT-TLS", 1);
        if std::env::var("SSL_CERT_FILE").is_err() {
            // No CA trusts the terminator's certificate: a transient failure naming why.
            assert!(client.flush(Duration::from_secs(3)).is_err());
            let r = backend_stats(&client, "r");
            assert_eq!((r.sent, r.failed), (0, 0), "{r:?}");
            let error = r.last_error.unwrap_or_default();
            assert!(
                error.contains("certificate") && error.contains("guest:***@"),
                "{error}"
            );
            client.close(Duration::from_secs(1));
            return;
        }
        client.flush(Duration::from_secs(60)).unwrap();
        let r = backend_stats(&client, "r");
        assert_eq!((r.sent, r.failed), (7, 0), "{r:?}");
        let written = read_events(&dir.path().join("data"));
        let got = reader.drain(&queue, written.len());
        assert_eq!(got.len(), written.len());
        client.close(Duration::from_secs(5));
    }
}
