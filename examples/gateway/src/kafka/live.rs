//! The live consumer: every gateway reads the whole topic for its own `/v1/stream`, in a
//! consumer group of its own (`<group>-live-<client_id>-<pid>-<random>`), from the newest
//! offsets, never committing and never storing. So a browser sees every event of the topic
//! whichever gateway stored it, on SQLite as on PostgreSQL (SQLite has no LISTEN/NOTIFY,
//! and NOTIFY's 8000-byte payload would not hold every event anyway).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::message::Message;

use super::consumer::{client_config, until_made, Client, Reporter};
use super::{KafkaIngest, Status};
use crate::api::{read_message, AppState, Published};

const POLL: Duration = Duration::from_millis(200);
const ASSIGNMENT_EVERY: Duration = Duration::from_secs(1);

/// This gateway's own group for its stream; unique per process, so each gateway gets every
/// partition.
pub fn group(config: &KafkaIngest) -> String {
    format!(
        "{}-live-{}-{}-{:08x}",
        config.group,
        config.client_id,
        std::process::id(),
        fastrand::u32(..)
    )
}

pub fn run(config: KafkaIngest, state: Arc<AppState>, status: Arc<Status>, stop: Arc<AtomicBool>) {
    let group = group(&config);
    status.set_live(&group, Vec::new());
    let made = until_made(&stop, &status, || {
        let consumer: Client = client_config(&config, &group, &config.client_id)
            .set("auto.offset.reset", "latest")
            .create_with_context(Reporter(status.clone()))
            .map_err(|e| format!("cannot make the live consumer: {e}"))?;
        consumer
            .subscribe(&[&config.connection.topic])
            .map_err(|e| format!("the live consumer cannot subscribe: {e}"))?;
        Ok(consumer)
    });
    let Some(consumer) = made else {
        return;
    };
    let mut next_check = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(POLL) {
            None => {}
            Some(Ok(message)) => {
                // Nobody watching: nothing to decode.
                if state.published.receiver_count() == 0 {
                    continue;
                }
                let Some(payload) = message.payload() else {
                    continue;
                };
                // Invalid messages are the store consumer's to count and log.
                if let Ok((events, _)) = read_message(payload, config.format) {
                    for event in &events {
                        let _ = state.published.send(Arc::new(Published::of(event)));
                    }
                }
            }
            Some(Err(e)) => {
                status.error(format!("live consumer: {e}"));
                std::thread::sleep(POLL);
            }
        }
        if Instant::now() >= next_check {
            if let Ok(assignment) = consumer.assignment() {
                let mut held: Vec<i32> = assignment
                    .elements()
                    .iter()
                    .map(|e| e.partition())
                    .collect();
                held.sort_unstable();
                status.set_live(&group, held);
            }
            next_check = Instant::now() + ASSIGNMENT_EVERY;
        }
    }
}
