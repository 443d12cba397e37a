//! What became of each message the producer took, by event id: still in the producer,
//! acknowledged, or refused for good. A batch the lane sends again finds its messages here
//! instead of producing them a second time.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryResult, ProducerContext};
use uuid::Uuid;

use super::errors::is_permanent;
use crate::backends::recent::{Quick, RecentIds, REMEMBERED_IDS};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The producer's context: delivery reports as librdkafka serves them, for `absorb`.
#[derive(Default)]
pub(crate) struct Reports {
    reported: Mutex<Vec<(Uuid, Option<KafkaError>)>>,
    /// The last client-wide error (a broker unreachable, credentials refused...), to
    /// explain a wait, and whether retrying can help with it.
    last_error: Mutex<Option<(String, bool)>>,
}

impl Reports {
    pub(crate) fn last_error(&self) -> Option<String> {
        lock(&self.last_error).as_ref().map(|(e, _)| e.clone())
    }

    /// Forget the last error, so that what follows is explained by what happens next.
    pub(crate) fn forget_error(&self) {
        *lock(&self.last_error) = None;
    }

    /// The last client-wide error if it is one retrying cannot help with (the brokers
    /// refused the credentials).
    pub(crate) fn refusal(&self) -> Option<String> {
        lock(&self.last_error)
            .as_ref()
            .filter(|(_, permanent)| *permanent)
            .map(|(e, _)| e.clone())
    }
}

impl ClientContext for Reports {
    fn log(&self, _: RDKafkaLogLevel, facility: &str, message: &str) {
        // A connection that failed (refused, TLS, credentials) is reported only here, as a
        // FAIL line: keep the last one to explain a wait. The rest of librdkafka's chatter
        // would only repeat what the delivery results and `error` say.
        if facility == "FAIL" {
            let permanent = message.contains("SASL authentication error");
            *lock(&self.last_error) = Some((message.to_string(), permanent));
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let permanent = is_permanent(&error);
        *lock(&self.last_error) = Some((format!("{error}: {reason}"), permanent));
    }
}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<Uuid>;

    fn delivery(&self, result: &DeliveryResult<'_>, id: Box<Uuid>) {
        let error = result.as_ref().err().map(|(e, _)| e.clone());
        lock(&self.reported).push((*id, error));
    }
}

/// Where a message stands.
pub(crate) enum Fate {
    Delivered,
    /// Refused for good, with why.
    Refused(String),
    /// Still in the producer, waiting for a broker.
    Waiting,
    /// Not in the producer: to be produced (again).
    Unsent,
}

#[derive(Default)]
pub(crate) struct Deliveries {
    in_flight: HashSet<Uuid, Quick>,
    delivered: RecentIds,
    refused: HashMap<Uuid, String, Quick>,
}

impl Deliveries {
    pub(crate) fn fate(&self, id: &Uuid) -> Fate {
        if self.delivered.contains(id) {
            Fate::Delivered
        } else if let Some(reason) = self.refused.get(id) {
            Fate::Refused(reason.clone())
        } else if self.in_flight.contains(id) {
            Fate::Waiting
        } else {
            Fate::Unsent
        }
    }

    pub(crate) fn produced(&mut self, id: Uuid) {
        self.in_flight.insert(id);
    }

    /// A refusal counted once: the batch that claims it is done with it.
    pub(crate) fn forget_refusal(&mut self, id: &Uuid) {
        self.refused.remove(id);
    }

    /// Take in the reports served so far; `topic` names the topic in refusals.
    pub(crate) fn absorb(&mut self, reports: &Reports, topic: &str) {
        let reported = std::mem::take(&mut *lock(&reports.reported));
        for (id, error) in reported {
            self.in_flight.remove(&id);
            match error {
                None => self.delivered.insert(id),
                Some(e) if is_permanent(&e) => {
                    if self.refused.len() >= REMEMBERED_IDS {
                        // Refusals of batches never sent again: nothing will claim them.
                        self.refused.clear();
                    }
                    self.refused
                        .insert(id, format!("Kafka refused an event for topic '{topic}': {e}"));
                }
                // Worth another try: the next send of its batch produces it again.
                Some(_) => {}
            }
        }
    }

    /// The producer is gone (a fatal error): what it held must be produced again.
    pub(crate) fn lost_producer(&mut self) {
        self.in_flight.clear();
    }
}
