//! Consumer lag of the partitions this gateway holds: the high watermark less the group's
//! committed offset (less the low watermark where nothing is committed yet), measured every
//! second on a thread and client of its own. The client names the group but never joins
//! it, so it reads the committed offsets without taking part in the assignment, and a store
//! call that hangs does not stop the measurement: the lag then grows where it shows.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};

use super::consumer::{client_config, until_made, Client, Reporter};
use super::{KafkaIngest, Status};
use crate::api::AppState;
use crate::metrics::PartitionLabels;

const EVERY: Duration = Duration::from_secs(1);
/// Broker round trips of one measurement.
const TIMEOUT: Duration = Duration::from_secs(2);

pub fn run(config: KafkaIngest, state: Arc<AppState>, status: Arc<Status>, stop: Arc<AtomicBool>) {
    let client_id = format!("{}-lag", config.client_id);
    let made = until_made(&stop, &status, || {
        client_config(&config, &config.group, &client_id)
            .create_with_context(Reporter(status.clone()))
            .map_err(|e| format!("cannot make the lag reader: {e}"))
    });
    let Some(client) = made else {
        return;
    };
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next {
            if let Err(e) = measure(&client, &config.connection.topic, &state, &status) {
                status.error(e);
            }
            next = Instant::now() + EVERY;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn measure(client: &Client, topic: &str, state: &AppState, status: &Status) -> Result<(), String> {
    let held = status.assigned();
    let mut lag = BTreeMap::new();
    if !held.is_empty() {
        let mut asked = TopicPartitionList::with_capacity(held.len());
        for partition in &held {
            asked.add_partition(topic, *partition);
        }
        let committed = client
            .committed_offsets(asked, TIMEOUT)
            .map_err(|e| format!("cannot read the committed offsets of '{topic}': {e}"))?;
        for element in committed.elements_for_topic(topic) {
            let partition = element.partition();
            let (low, high) = client
                .fetch_watermarks(topic, partition, TIMEOUT)
                .map_err(|e| {
                    format!("cannot read the offsets of '{topic}' partition {partition}: {e}")
                })?;
            let done = match element.offset() {
                Offset::Offset(n) => n.max(low),
                _ => low,
            };
            lag.insert(partition, (high - done).max(0));
        }
    }
    let family = &state.metrics.kafka_lag;
    for partition in status.lagged() {
        if !lag.contains_key(&partition) {
            family.remove(&labels(topic, partition));
        }
    }
    for (partition, value) in &lag {
        family.get_or_create(&labels(topic, *partition)).set(*value);
    }
    status.set_lag(lag);
    Ok(())
}

fn labels(topic: &str, partition: i32) -> PartitionLabels {
    PartitionLabels {
        topic: topic.to_string(),
        partition,
    }
}
