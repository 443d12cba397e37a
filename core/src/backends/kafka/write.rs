//! Kafka backend: every event as one message on the topic, keyed by the root of its job
//! tree (so a lot's events share a partition and keep their order), with `site`, `app` and
//! `kind` headers. The producer is idempotent (with acks=all), a batch counts as delivered
//! position by position as the brokers acknowledge each message, and a message the producer
//! still holds is waited for, never produced twice (deliveries.rs).

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::config::KafkaConfig;
use super::deliveries::{Deliveries, Fate, Reports};
use super::errors::is_permanent;
use super::settings::settings;
use crate::backends::http::WireFormat;
use crate::backends::messaging::{body, header_values, Roots};
use crate::backends::{Backend, Batch, DeliveryError};
use crate::config::AppConfig;
use crate::error::{Error, Result};
use crate::event::EventRef;
use uuid::Uuid;

/// Reasons quoted in a partial failure's message.
const REASONS_SHOWN: usize = 3;
/// How long a topic that is being created may take to get its partitions.
const TOPIC_CREATION: Duration = Duration::from_secs(2);

pub struct Kafka {
    settings: ClientConfig,
    /// None after a fatal error: the next batch starts a new producer.
    producer: Option<BaseProducer<Reports>>,
    deliveries: Deliveries,
    brokers: String,
    topic: String,
    topic_ready: bool,
    format: WireFormat,
    timeout: Duration,
    roots: Roots,
    payload: Vec<u8>,
}

/// What one send made of a batch's positions.
#[derive(Default)]
struct Tally {
    rejected: Vec<usize>,
    retry: Vec<usize>,
    reasons: Vec<String>,
    transient: Option<String>,
}

impl Tally {
    fn reject(&mut self, position: usize, reason: String) {
        self.rejected.push(position);
        if self.reasons.len() < REASONS_SHOWN && !self.reasons.contains(&reason) {
            self.reasons.push(reason);
        }
    }

    fn retry(&mut self, position: usize, cause: impl FnOnce() -> String) {
        self.retry.push(position);
        if self.transient.is_none() {
            self.transient = Some(cause());
        }
    }
}

impl Kafka {
    pub fn new(config: KafkaConfig, app: &AppConfig) -> Result<Kafka> {
        let settings = settings(&config, app);
        let producer = settings
            .create_with_context(Reports::default())
            .map_err(|e| Error::config("brokers", format!("cannot make a Kafka producer: {e}")))?;
        Ok(Kafka {
            settings,
            producer: Some(producer),
            deliveries: Deliveries::default(),
            brokers: config.connection.bootstrap(),
            topic: config.connection.topic,
            topic_ready: false,
            format: config.format,
            timeout: config.net.timeout,
            roots: Roots::default(),
            payload: Vec::with_capacity(1024),
        })
    }

    fn producer(&mut self) -> Result<&BaseProducer<Reports>, DeliveryError> {
        if self.producer.is_none() {
            let fresh = self
                .settings
                .create_with_context(Reports::default())
                .map_err(|e| DeliveryError::transient(format!("cannot make a Kafka producer: {e}")))?;
            self.producer = Some(fresh);
            self.topic_ready = false;
        }
        self.producer
            .as_ref()
            .ok_or_else(|| DeliveryError::transient("no Kafka producer"))
    }

    /// Ask the brokers for the topic once: a topic that does not exist (and that they do not
    /// create) is a permanent error naming it, not a timeout per batch.
    fn check_topic(&mut self) -> Result<(), DeliveryError> {
        if self.topic_ready {
            return Ok(());
        }
        let (topic, brokers, timeout) = (self.topic.clone(), self.brokers.clone(), self.timeout);
        let producer = self.producer()?;
        let began = Instant::now();
        producer.context().forget_error();
        loop {
            let metadata = match producer.client().fetch_metadata(Some(&topic), timeout) {
                Ok(metadata) => metadata,
                Err(e) => {
                    // The client-wide errors say why (served by a poll).
                    producer.poll(Duration::ZERO);
                    if let Some(refusal) = producer.context().refusal() {
                        return Err(DeliveryError::permanent(format!(
                            "the Kafka brokers {brokers} refused this client: {refusal}"
                        )));
                    }
                    let why = producer.context().last_error().unwrap_or(e.to_string());
                    return Err(DeliveryError::transient(format!(
                        "cannot reach the Kafka brokers {brokers}: {why}"
                    )));
                }
            };
            let found = metadata.topics().iter().find(|t| t.name() == topic);
            let error = found.and_then(|t| t.error()).map(RDKafkaErrorCode::from);
            match error {
                None if found.is_some_and(|t| !t.partitions().is_empty()) => {
                    self.topic_ready = true;
                    return Ok(());
                }
                Some(RDKafkaErrorCode::TopicAuthorizationFailed) => {
                    return Err(DeliveryError::permanent(format!(
                        "the Kafka brokers {brokers} do not allow writing to topic '{topic}'"
                    )));
                }
                Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic)
                    if began.elapsed() >= TOPIC_CREATION =>
                {
                    return Err(DeliveryError::permanent(format!(
                        "topic '{topic}' does not exist on the Kafka brokers {brokers}, which do \
                         not create topics: create it first"
                    )));
                }
                other if began.elapsed() >= timeout => {
                    let why = other.map_or("it has no partitions yet".to_string(), |e| e.to_string());
                    return Err(DeliveryError::transient(format!(
                        "topic '{topic}' is not ready on the Kafka brokers {brokers}: {why}"
                    )));
                }
                // Being created (auto-creation), or its leader is being elected.
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Hand one event to the producer; an error it refuses it with at once.
    fn produce(&mut self, event: &EventRef<'_>, key: &str, deadline: Instant) -> Result<(), KafkaError> {
        self.payload.clear();
        body(event, self.format, &mut self.payload);
        let mut headers = OwnedHeaders::new_with_capacity(3);
        for (name, value) in header_values(event) {
            headers = headers.insert(Header {
                key: name,
                value: Some(value),
            });
        }
        let Some(producer) = &self.producer else {
            return Err(KafkaError::MessageProduction(RDKafkaErrorCode::Fatal));
        };
        let mut record = BaseRecord::with_opaque_to(&self.topic, Box::new(event.id))
            .payload(&self.payload[..])
            .key(key)
            .headers(headers)
            .timestamp(event.time.unix_millis());
        loop {
            match producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if Instant::now() < deadline =>
                {
                    // The producer's buffer is full: let it send some first.
                    producer.poll(Duration::from_millis(10));
                    record = back;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Wait until none of `ids` is in the producer any more, or `deadline`, taking in the
    /// reports as they come.
    fn wait(&mut self, ids: &[Uuid], deadline: Instant) {
        let Some(producer) = &self.producer else {
            return;
        };
        // Acknowledgements come about in the order of production: looking from the last id
        // back, each id is checked about once however long the wait.
        let mut unresolved = ids.len();
        loop {
            // A zero flush sends what lingers at once; the short poll serves the reports
            // (rdkafka's own flush polls in steps of 100 ms, a batch's whole budget).
            let _ = producer.flush(Duration::ZERO);
            producer.poll(Duration::from_millis(1));
            self.deliveries.absorb(producer.context(), &self.topic);
            while unresolved > 0
                && !matches!(self.deliveries.fate(&ids[unresolved - 1]), Fate::Waiting)
            {
                unresolved -= 1;
            }
            if unresolved == 0 || Instant::now() >= deadline {
                return;
            }
        }
    }

    fn last_error(&self) -> String {
        self.producer
            .as_ref()
            .and_then(|p| p.context().last_error())
            .map(|e| format!(" (last broker error: {e})"))
            .unwrap_or_default()
    }
}

impl Backend for Kafka {
    fn send(&mut self, batch: &Batch) -> Result<(), DeliveryError> {
        self.check_topic()?;
        let deadline = Instant::now() + self.timeout;
        if let Some(producer) = &self.producer {
            self.deliveries.absorb(producer.context(), &self.topic);
        }
        let mut tally = Tally::default();
        let mut waiting = Vec::new();
        for (position, event) in batch.iter().enumerate() {
            // Every event goes through the roots, so a later child finds its parent's root.
            let key = self.roots.root(&event.entity);
            match self.deliveries.fate(&event.id) {
                Fate::Unsent => {}
                Fate::Waiting => {
                    waiting.push(event.id);
                    continue;
                }
                Fate::Delivered | Fate::Refused(_) => continue,
            }
            match self.produce(&event, &key, deadline) {
                Ok(()) => {
                    self.deliveries.produced(event.id);
                    waiting.push(event.id);
                }
                Err(e) if is_permanent(&e) => tally.reject(
                    position,
                    format!("Kafka refused an event for topic '{}': {e}", self.topic),
                ),
                Err(e) => tally.retry(position, || e.to_string()),
            }
        }
        self.wait(&waiting, deadline);
        for (position, event) in batch.iter().enumerate() {
            if tally.rejected.contains(&position) || tally.retry.contains(&position) {
                continue;
            }
            match self.deliveries.fate(&event.id) {
                Fate::Delivered => {}
                Fate::Refused(reason) => {
                    self.deliveries.forget_refusal(&event.id);
                    tally.reject(position, reason);
                }
                Fate::Waiting => tally.retry(position, || {
                    format!(
                        "not acknowledged within {:?}; the producer keeps it for the retry",
                        self.timeout
                    )
                }),
                Fate::Unsent => tally.retry(position, || "a broker refused it for now".into()),
            }
        }
        if self.producer.as_ref().and_then(|p| p.client().fatal_error()).is_some() {
            // An idempotent producer that hit a fatal error cannot send again; what it did
            // deliver stays delivered, the rest goes to a new producer.
            self.producer = None;
            self.deliveries.lost_producer();
        }
        let mut message = tally.reasons.join("; ");
        if let Some(cause) = tally.transient {
            if !message.is_empty() {
                message.push_str("; ");
            }
            message.push_str(&format!("will retry: {cause}{}", self.last_error()));
        }
        tally.retry.sort_unstable();
        tally.rejected.sort_unstable();
        DeliveryError::by_positions(batch.len(), tally.rejected, tally.retry, message, None)
    }
}
