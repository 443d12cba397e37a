//! Delivered events/s from one process to SQS on a private moto server (started through
//! scripts/servers/moto.sh on a free port): one run emits N log events into a client whose
//! only backend is sqs, and lasts until moto has answered every SendMessageBatch (10
//! messages each, SQS's limit). Each run writes to a new queue.
//!
//! Run: `cargo bench -p wafermon --features sqs --bench backend_sqs`
//!
//! moto is a Python emulator: the figure measures this backend plus moto on the same two
//! cores, not what SQS itself would take. moto's SendMessageBatch slows down with every
//! message its queue holds (10 ms per request on an empty queue, 200 ms at 600 messages,
//! measured with curl), so a run is 500 events into a queue of its own.

#[path = "common/moto.rs"]
mod moto;

use std::time::{Duration, Instant};

use serde_json::json;
use wafermon::backends::aws::AwsClient;
use wafermon::config::AwsConfig;
use wafermon::{Client, Config, Kind, Level, NewEvent};

const EVENTS: u64 = 500;

fn create_queue(endpoint: &str, name: &str) -> String {
    let aws = AwsConfig {
        region: Some("eu-west-1".into()),
        endpoint: Some(endpoint.into()),
        access_key_id: Some("bench".into()),
        secret_access_key: Some("bench".into()),
        session_token: None,
    };
    let answer = AwsClient::new(&aws, "sqs", Duration::from_secs(10))
        .unwrap()
        .call_json("1.0", "AmazonSQS.CreateQueue", &json!({"QueueName": name}))
        .unwrap();
    answer["QueueUrl"].as_str().unwrap().to_string()
}

fn run(endpoint: &str, spool: &std::path::Path, n: u64) -> Duration {
    let name = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let queue_url = create_queue(endpoint, &name);
    let config = json!({
        "app": {"name": "bench", "site_id": "fab-b", "instance_id": "i-1"},
        "direct_backends": [{"type": "sqs", "name": "q", "queue_url": queue_url,
            "region": "eu-west-1", "access_key_id": "bench", "secret_access_key": "bench"}],
        "spool": {"path": spool.join(&name)},
        "batch": {"flush_interval": 0.05}
    });
    let client = Client::new(Config::from_value(config).unwrap()).unwrap();
    let event = NewEvent::new(Kind::Log, "wafer", "W-LOT4711-07")
        .key("LOT4711.03")
        .level(Level::Info)
        .message("etch endpoint detected after 41.7 s");
    let started = Instant::now();
    for _ in 0..n {
        client.emit(&event).unwrap();
    }
    client.flush(Duration::from_secs(600)).unwrap();
    let wall = started.elapsed();
    let stats = client.close(Duration::from_secs(10));
    assert_eq!(stats.backends[0].sent, n, "{stats:?}");
    wall
}

fn main() {
    moto::delivered_per_second(
        "backend_sqs",
        "send_message_batch_moto",
        EVENTS,
        "events",
        run,
    );
}
