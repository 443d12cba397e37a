//! The store consumer: one member of the topic's consumer group. It polls a batch (up to
//! `max_batch` messages, or what `batch_wait` brings after the first), decodes and validates
//! every message as the HTTP ingest does, stores the batch's events in one transaction and
//! only then commits the batch's offsets. A store failure commits nothing: the consumer is
//! made again, so the group hands it the partitions from their committed offsets and the
//! batch comes back. Redelivery is harmless (the store keeps each event id once and job
//! states merge in any order). A message that does not decode or validate is counted, logged
//! with its partition and offset, and committed past, so it never blocks its partition.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Map;
use tokio::runtime::Handle;

use super::{KafkaIngest, Status};
use crate::api::{read_message, store_events, AppState};
use crate::store::Incoming;

/// How long one poll waits, so a stop is seen within it.
const POLL: Duration = Duration::from_millis(200);
/// Source recorded for events consumed from Kafka.
pub const SOURCE: &str = "kafka";
/// Longest wait between attempts while the store refuses batches.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One polled message, owned so polling can go on while the batch is handled.
struct Polled {
    partition: i32,
    offset: i64,
    payload: Option<Vec<u8>>,
}

/// Where librdkafka's own errors (brokers unreachable, authentication) go: the status, so
/// `/v1/health` names them, and the log.
pub struct Reporter(pub Arc<Status>);

impl ClientContext for Reporter {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0.error(format!("{error}: {reason}"));
    }
}

impl ConsumerContext for Reporter {}

pub type Client = BaseConsumer<Reporter>;

pub fn client_config(config: &KafkaIngest, group: &str, client_id: &str) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("group.id", group)
        .set("client.id", client_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    for (key, value) in config.connection.settings() {
        client.set(key, value);
    }
    if let Some(ms) = config.session_timeout_ms {
        client.set("session.timeout.ms", ms.to_string());
    }
    client
}

fn make(config: &KafkaIngest, status: &Arc<Status>) -> Result<Client, String> {
    let consumer: Client = client_config(config, &config.group, &config.client_id)
        .set("auto.offset.reset", "earliest")
        .create_with_context(Reporter(status.clone()))
        .map_err(|e| {
            format!(
                "cannot make a consumer for '{}': {e}",
                config.connection.topic
            )
        })?;
    consumer
        .subscribe(&[&config.connection.topic])
        .map_err(|e| format!("cannot subscribe to '{}': {e}", config.connection.topic))?;
    Ok(consumer)
}

/// Consume until `stop`; `publish`: send stored events to the live stream too (when no live
/// consumer does).
pub fn run(
    config: KafkaIngest,
    state: Arc<AppState>,
    status: Arc<Status>,
    runtime: Handle,
    stop: Arc<AtomicBool>,
    publish: bool,
) {
    let mut backoff = Duration::from_millis(100);
    let mut consumer = None;
    while !stop.load(Ordering::Relaxed) {
        let current = match consumer.take() {
            Some(c) => c,
            None => match make(&config, &status) {
                Ok(c) => c,
                Err(e) => {
                    status.error(e);
                    pause(&stop, &mut backoff);
                    continue;
                }
            },
        };
        let batch = poll_batch(&current, &config, &status);
        if !batch.is_empty() {
            let stored = runtime.block_on(handle_batch(&batch, &config, &state, publish));
            match stored {
                Ok(()) => {
                    backoff = Duration::from_millis(100);
                    commit(&current, &batch, &config.connection.topic, &status);
                }
                Err(e) => {
                    state.metrics.kafka_store_failures.inc();
                    state.metrics.store_errors.inc();
                    status.error(format!(
                        "the store refused a batch of {} messages, consuming it again: {e}",
                        batch.len()
                    ));
                    // Leaving the group drops what was fetched past the committed offsets;
                    // the next member (this one, made again) starts from them.
                    drop(current);
                    pause(&stop, &mut backoff);
                    continue;
                }
            }
        }
        if let Ok(assignment) = current.assignment() {
            status.set_assigned(
                assignment
                    .elements()
                    .iter()
                    .map(|e| e.partition())
                    .collect(),
            );
        }
        consumer = Some(current);
    }
    // Dropping the consumer leaves the group, so its partitions move on at once.
}

/// `make()` again every `MAX_BACKOFF` until it works (a certificate file that appears, say)
/// or `stop`; None when stopped first.
pub fn until_made<T>(
    stop: &AtomicBool,
    status: &Status,
    mut make: impl FnMut() -> Result<T, String>,
) -> Option<T> {
    let mut backoff = MAX_BACKOFF;
    while !stop.load(Ordering::Relaxed) {
        match make() {
            Ok(made) => return Some(made),
            Err(e) => {
                status.error(e);
                pause(stop, &mut backoff);
            }
        }
    }
    None
}

fn pause(stop: &AtomicBool, backoff: &mut Duration) {
    let until = Instant::now() + *backoff;
    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
}

fn poll_batch(consumer: &Client, config: &KafkaIngest, status: &Status) -> Vec<Polled> {
    let mut batch = Vec::new();
    let mut deadline: Option<Instant> = None;
    while batch.len() < config.max_batch {
        let wait = match deadline {
            None => POLL,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                left
            }
        };
        match consumer.poll(wait) {
            None => break,
            Some(Ok(message)) => {
                batch.push(Polled {
                    partition: message.partition(),
                    offset: message.offset(),
                    payload: message.payload().map(<[u8]>::to_vec),
                });
                deadline.get_or_insert_with(|| Instant::now() + config.batch_wait);
            }
            Some(Err(e)) => {
                status.error(format!("consuming '{}': {e}", config.connection.topic));
                if batch.is_empty() {
                    // Such errors come back at once while the brokers are away.
                    std::thread::sleep(POLL);
                }
                break;
            }
        }
    }
    batch
}

/// Decode every message and store the valid events in one transaction.
async fn handle_batch(
    batch: &[Polled],
    config: &KafkaIngest,
    state: &AppState,
    publish: bool,
) -> Result<(), crate::store::StoreError> {
    state.metrics.kafka_consumed.inc_by(batch.len() as u64);
    let mut events: Vec<Incoming> = Vec::with_capacity(batch.len());
    for message in batch {
        decode(message, config, state, &mut events);
    }
    if events.is_empty() {
        return Ok(());
    }
    let stored = store_events(state, &events, SOURCE, publish).await?;
    state.metrics.kafka_stored.inc_by(stored as u64);
    Ok(())
}

/// The message's valid events into `events`; an invalid message (or event) is counted and
/// logged with where it sits, and left behind.
fn decode(message: &Polled, config: &KafkaIngest, state: &AppState, events: &mut Vec<Incoming>) {
    let where_ = || {
        format!(
            "skipped the message at '{}' partition {} offset {}",
            config.connection.topic, message.partition, message.offset
        )
    };
    state.metrics.events_received.inc();
    let Some(payload) = message.payload.as_deref() else {
        state.metrics.kafka_invalid.inc();
        state.metrics.events_rejected.inc();
        eprintln!("wafermon-gateway: kafka: {}: it has no value", where_());
        return;
    };
    match read_message(payload, config.format) {
        Ok((valid, rejections)) => {
            if !rejections.is_empty() {
                state.metrics.kafka_invalid.inc();
                state
                    .metrics
                    .events_rejected
                    .inc_by(rejections.count() as u64);
                let mut why = Map::new();
                rejections.write_into(&mut why);
                eprintln!(
                    "wafermon-gateway: kafka: {} ({} valid events of it kept): {}",
                    where_(),
                    valid.len(),
                    serde_json::Value::Object(why)
                );
            }
            events.extend(valid);
        }
        Err(e) => {
            state.metrics.kafka_invalid.inc();
            state.metrics.events_rejected.inc();
            let at = e
                .path
                .as_deref()
                .map(|p| format!(" at {p}"))
                .unwrap_or_default();
            eprintln!("wafermon-gateway: kafka: {}: {}{at}", where_(), e.message);
        }
    }
}

/// Commit, per partition, the offset after the batch's last message: everything up to it
/// is stored (or was invalid). A failed commit loses nothing: the messages come again and
/// the store keeps them once.
fn commit(consumer: &Client, batch: &[Polled], topic: &str, status: &Status) {
    let mut next: HashMap<i32, i64> = HashMap::new();
    for message in batch {
        let entry = next.entry(message.partition).or_insert(0);
        *entry = (*entry).max(message.offset + 1);
    }
    let mut offsets = TopicPartitionList::with_capacity(next.len());
    for (partition, offset) in next {
        if let Err(e) = offsets.add_partition_offset(topic, partition, Offset::Offset(offset)) {
            status.error(format!("cannot commit partition {partition}: {e}"));
            return;
        }
    }
    if let Err(e) = consumer.commit(&offsets, CommitMode::Sync) {
        status.error(format!(
            "committing offsets of '{topic}' failed (the stored messages will come again): {e}"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(section: serde_json::Value) -> ClientConfig {
        let mut errors = Vec::new();
        let config =
            super::super::config::parse(&serde_json::json!({"kafka": section}), &mut errors)
                .unwrap_or_else(|| panic!("{errors:?}"));
        client_config(&config, &config.group, &config.client_id)
    }

    #[test]
    fn sasl_and_tls_reach_librdkafka() {
        let base = serde_json::json!({"brokers": "k1:9092, k2:9093", "topic": "t", "group": "g"});
        let plain = settings(base.clone());
        assert_eq!(plain.get("bootstrap.servers"), Some("k1:9092,k2:9093"));
        assert_eq!(plain.get("security.protocol"), Some("plaintext"));
        assert_eq!(plain.get("enable.auto.commit"), Some("false"));
        assert_eq!(plain.get("session.timeout.ms"), None);
        let mut secured = base.clone();
        secured["sasl"] =
            serde_json::json!({"mechanism": "SCRAM-SHA-256", "username": "u", "password": "p"});
        secured["tls"] = serde_json::json!({"ca_file": "/ca.pem"});
        secured["session_timeout_ms"] = serde_json::json!(6000);
        let s = settings(secured);
        assert_eq!(s.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(s.get("sasl.mechanism"), Some("SCRAM-SHA-256"));
        assert_eq!(s.get("sasl.password"), Some("p"));
        assert_eq!(s.get("ssl.ca.location"), Some("/ca.pem"));
        assert_eq!(s.get("session.timeout.ms"), Some("6000"));
        let mut tls_only = base;
        tls_only["tls"] = serde_json::json!(true);
        assert_eq!(settings(tls_only).get("security.protocol"), Some("ssl"));
    }
}
