//! The sqs backend against moto server (an AWS emulator) on 127.0.0.1: events read back with
//! SQS's own ReceiveMessage, FIFO order per lot, SQS's limits, the permanent errors, and an
//! outage. Every test uses queues of its own, so tests sharing the default moto never see
//! each other's messages; the outage goes through a relay, since a restarted moto would have
//! forgotten the queue.
#![cfg(feature = "sqs")]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::servers::server;
use common::{
    backend_stats, client_beside_filesystem, direct_backend, read_events, run_lot, same_json,
    wafer_event, with_keys,
};
use serde_json::{json, Value};
use wafermon::backends::aws::AwsClient;
use wafermon::backends::DeliveryError;
use wafermon::config::AwsConfig;
use wafermon::{Batch, Config, Event, Kind};
use wafermon_testkit::relay::Relay;

fn moto() -> String {
    server("moto")
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

fn sqs_call(endpoint: &str, action: &str, body: Value) -> Value {
    let aws = AwsConfig {
        region: Some("eu-west-1".into()),
        endpoint: Some(endpoint.into()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        session_token: None,
    };
    AwsClient::new(&aws, "sqs", Duration::from_secs(10))
        .unwrap()
        .call_json("1.0", &format!("AmazonSQS.{action}"), &body)
        .unwrap_or_else(|e| panic!("{action}: {e}"))
}

/// A new queue's URL (FIFO when the name ends in `.fifo`).
fn create_queue(endpoint: &str, name: &str) -> String {
    let mut body = json!({"QueueName": name});
    if name.ends_with(".fifo") {
        body["Attributes"] = json!({"FifoQueue": "true"});
    }
    let answer = sqs_call(endpoint, "CreateQueue", body);
    answer["QueueUrl"].as_str().unwrap().to_string()
}

/// One received message: its body as JSON, its attributes, and its FIFO group (if any).
struct Received {
    event: Value,
    attributes: BTreeMap<String, String>,
    group: Option<String>,
}

/// Every message in the queue, received and deleted in SQS's order (FIFO queues hand out a
/// group's next message only after the previous one is deleted).
fn drain(endpoint: &str, queue_url: &str) -> Vec<Received> {
    let mut out = Vec::new();
    loop {
        let answer = sqs_call(
            endpoint,
            "ReceiveMessage",
            json!({"QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0,
                   "MessageAttributeNames": ["All"], "MessageSystemAttributeNames": ["All"],
                   "AttributeNames": ["All"], "VisibilityTimeout": 60}),
        );
        let messages = answer["Messages"].as_array().cloned().unwrap_or_default();
        if messages.is_empty() {
            return out;
        }
        let mut receipts = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let attributes = m["MessageAttributes"]
                .as_object()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.clone(), v["StringValue"].as_str().unwrap().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            out.push(Received {
                event: serde_json::from_str(m["Body"].as_str().unwrap()).unwrap(),
                attributes,
                group: m["Attributes"]["MessageGroupId"]
                    .as_str()
                    .map(str::to_string),
            });
            receipts.push(json!({"Id": i.to_string(), "ReceiptHandle": m["ReceiptHandle"]}));
        }
        sqs_call(
            endpoint,
            "DeleteMessageBatch",
            json!({"QueueUrl": queue_url, "Entries": receipts}),
        );
    }
}

fn backend_json(queue_url: &str, extra: Value) -> Value {
    let base = json!({
        "type": "sqs", "name": "q", "queue_url": queue_url, "region": "eu-west-1",
        "access_key_id": "testing", "secret_access_key": "testing", "timeout": 5
    });
    with_keys(base, extra)
}

#[test]
fn events_read_back_with_receive_message_are_the_events_written() {
    let endpoint = moto();
    let queue = create_queue(&endpoint, &unique("rt-"));
    let dir = tempfile::tempdir().unwrap();
    let client = client_beside_filesystem(dir.path(), "sqs-test", backend_json(&queue, json!({})));
    run_lot(&client, "LOT-7", 4);
    client.flush(Duration::from_secs(30)).unwrap();
    let q = backend_stats(&client, "q");
    assert_eq!((q.sent, q.failed), (22, 0), "{q:?}");

    let written = read_events(&dir.path().join("data"));
    let mut received = drain(&endpoint, &queue);
    received.sort_by_key(|r| r.event["seq"].as_u64());
    assert_eq!(received.len(), written.len());
    for (r, w) in received.iter().zip(&written) {
        assert!(same_json(&r.event, w), "{}\n{w}", r.event);
        let expected: BTreeMap<String, String> = [
            ("app", "sqs-test"),
            ("kind", w["kind"].as_str().unwrap()),
            ("site", w["site"].as_str().unwrap()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(r.attributes, expected);
        assert_eq!(r.group, None, "a standard queue has no groups");
    }
    client.close(Duration::from_secs(5));
}

#[test]
fn a_fifo_queue_keeps_each_lot_in_order_under_its_own_group() {
    let endpoint = moto();
    let queue = create_queue(&endpoint, &format!("{}.fifo", unique("order-")));
    let dir = tempfile::tempdir().unwrap();
    let client = client_beside_filesystem(dir.path(), "sqs-test", backend_json(&queue, json!({})));
    // Three lots at once, so their events interleave in the batches.
    std::thread::scope(|s| {
        for lot in ["LOT-A", "LOT-B", "LOT-C"] {
            let client = &client;
            s.spawn(move || run_lot(client, lot, 5));
        }
    });
    client.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(backend_stats(&client, "q").sent, 3 * 27);

    let received = drain(&endpoint, &queue);
    assert_eq!(received.len(), 3 * 27);
    // Each event's lot, found by walking up the parents the events name.
    let parent_of: BTreeMap<String, String> = received
        .iter()
        .filter_map(|r| {
            let entity = &r.event["entity"];
            let id = entity["id"].as_str()?.to_string();
            Some((id, entity["parent"].as_str()?.to_string()))
        })
        .collect();
    let lot_of = |id: &str| {
        let mut id = id.to_string();
        while let Some(parent) = parent_of.get(&id) {
            id = parent.clone();
        }
        id
    };
    let mut by_group: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in &received {
        let group = r.group.clone().unwrap();
        let lot = lot_of(r.event["entity"]["id"].as_str().unwrap());
        assert_eq!(
            group, lot,
            "the group is the lot's id, at every level of its tree"
        );
        by_group
            .entry(group)
            .or_default()
            .push(r.event["seq"].as_u64().unwrap());
    }
    assert_eq!(by_group.len(), 3, "one group per lot");
    for (group, seqs) in &by_group {
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{group}: {seqs:?}");
        assert_eq!(seqs.len(), 27);
    }
    client.close(Duration::from_secs(5));
}

#[test]
fn a_batch_is_split_by_sqs_limits_and_an_oversized_event_alone_is_rejected() {
    let endpoint = moto();
    let queue = create_queue(&endpoint, &unique("limits-"));
    let mut backend = direct_backend(backend_json(&queue, json!({})));
    // 23 small events (3 requests by count), 3 of 100 KiB (split by bytes), one of 300 KiB.
    let event = |n: u64, len: usize| wafer_event(n, Kind::Log, "m".repeat(len));
    let mut events: Vec<Event> = (0..23).map(|n| event(n, 20)).collect();
    events.extend((23..26).map(|n| event(n, 100 * 1024)));
    events.push(event(26, 300 * 1024));
    match backend.send(&Batch::from_events(&events)) {
        Err(DeliveryError::Partial {
            rejected,
            retry,
            message,
            ..
        }) => {
            assert_eq!(rejected, [26]);
            assert!(retry.is_empty());
            assert!(
                message.contains("over SQS's 256 KiB per message"),
                "{message}"
            );
        }
        other => panic!("expected one rejection, got {other:?}"),
    }
    let mut ids: Vec<String> = drain(&endpoint, &queue)
        .iter()
        .map(|r| r.event["entity"]["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort_by_key(|id| id[2..].parse::<u64>().unwrap());
    let expected: Vec<String> = (0..26).map(|n| format!("w-{n}")).collect();
    assert_eq!(ids, expected);
}

#[test]
fn a_missing_queue_is_a_permanent_error_counted_and_naming_the_queue() {
    let endpoint = moto();
    let missing = format!("{endpoint}/123456789012/{}", unique("missing-"));
    let dir = tempfile::tempdir().unwrap();
    let client =
        client_beside_filesystem(dir.path(), "sqs-test", backend_json(&missing, json!({})));
    run_lot(&client, "LOT-X", 1);
    client.flush(Duration::from_secs(30)).unwrap();
    let q = backend_stats(&client, "q");
    assert_eq!((q.sent, q.failed, q.spooled), (0, 7, 0), "{q:?}");
    let error = q.last_error.unwrap();
    assert!(error.contains(&missing), "{error}");
    assert!(
        error.contains("NonExistentQueue") || error.contains("QueueDoesNotExist"),
        "{error}"
    );
    client.close(Duration::from_secs(5));
}

#[test]
fn an_outage_loses_nothing_and_sends_nothing_twice() {
    let endpoint = moto();
    let queue = create_queue(&endpoint, &unique("outage-"));
    let moto_addr: SocketAddr = endpoint.trim_start_matches("http://").parse().unwrap();
    let mut relay = Relay::start(moto_addr);
    let dir = tempfile::tempdir().unwrap();
    let client = client_beside_filesystem(
        dir.path(),
        "sqs-test",
        backend_json(&queue, json!({"endpoint": relay.url(), "timeout": 2})),
    );
    let emit = |from: u32, to: u32| {
        for i in from..to {
            let job = client.job("etch").id(format!("job-{i}")).start().unwrap();
            job.finish().unwrap();
        }
    };
    emit(0, 20);
    client.flush(Duration::from_secs(30)).unwrap();

    relay.cut();
    emit(20, 50);
    assert!(
        client.flush(Duration::from_millis(500)).is_err(),
        "SQS is unreachable"
    );
    relay.restore();
    client.flush(Duration::from_secs(60)).unwrap();

    let received = drain(&endpoint, &queue);
    let mut ids: Vec<String> = received
        .iter()
        .map(|r| r.event["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(received.len(), 100, "every event once");
    assert_eq!(ids.len(), 100);
    let q = backend_stats(&client, "q");
    assert_eq!((q.sent, q.failed), (100, 0), "{q:?}");
    assert!(q.retried > 0 || q.spooled > 0, "{q:?}");
    client.close(Duration::from_secs(5));
}

#[test]
fn config_errors_name_the_key() {
    for (backend, path) in [
        (json!({"type": "sqs"}), "direct_backends[0]"),
        (
            json!({"type": "sqs", "queue_url": "https://sqs.eu-west-1.amazonaws.com"}),
            "direct_backends[0].queue_url",
        ),
        (
            json!({"type": "sqs", "queue_url": "http://127.0.0.1:1/1/q", "queue": "q"}),
            "direct_backends[0]",
        ),
    ] {
        let e = Config::from_value(json!({"direct_backends": [backend]})).unwrap_err();
        assert!(e.path().unwrap_or_default().starts_with(path), "{e}");
    }
}
