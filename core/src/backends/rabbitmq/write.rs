//! RabbitMQ backend: every event as one persistent message published to the exchange with
//! `mandatory` set, its routing key from the template, on a channel in confirm mode. A batch's
//! messages are published in order (so a queue gets a lot's events in order), then their
//! confirms are awaited within `timeout`: each position counts as delivered on its ack, is
//! retried on a nack, a return (no queue bound for its key) or a lost connection, and is
//! rejected when the broker closed the channel because the exchange does not exist.
//!
//! lapin is async: the backend owns a tokio runtime whose one worker serves lapin's tasks
//! (heartbeats, confirms) between batches too, and `send` blocks on the lane's own thread.

use std::time::{Duration, Instant};

use lapin::options::BasicPublishOptions;
use lapin::protocol::AMQPSoftError;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Confirmation, PublisherConfirm};

use super::config::{BrokerUrl, RabbitMqConfig, RoutingKey, MAX_NAME};
use super::link::{soft_error, Link};
use crate::backends::http::WireFormat;
use crate::backends::messaging::{body, header_values};
use crate::backends::{Backend, Batch, DeliveryError};
use crate::error::{Error, Result};
use crate::event::EventRef;

/// Reasons quoted in a partial failure's message.
const REASONS_SHOWN: usize = 3;
/// Delivery mode of a message the broker writes to disk (in a durable queue).
const PERSISTENT: u8 = 2;

pub struct RabbitMq {
    runtime: tokio::runtime::Runtime,
    link: Link,
    url: BrokerUrl,
    exchange: String,
    routing_key: RoutingKey,
    declare: bool,
    format: WireFormat,
    timeout: Duration,
}

/// What one send made of a batch's positions.
#[derive(Default)]
struct Tally {
    rejected: Vec<usize>,
    retry: Vec<usize>,
    reasons: Vec<String>,
}

impl Tally {
    fn note(&mut self, reason: String) {
        if self.reasons.len() < REASONS_SHOWN && !self.reasons.contains(&reason) {
            self.reasons.push(reason);
        }
    }

    fn reject(&mut self, position: usize, reason: String) {
        self.rejected.push(position);
        self.note(reason);
    }

    fn retry(&mut self, position: usize, reason: String) {
        self.retry.push(position);
        self.note(reason);
    }
}

impl RabbitMq {
    pub fn new(config: RabbitMqConfig) -> Result<RabbitMq> {
        if config.url.is_tls() && !cfg!(feature = "rabbitmq-tls") {
            return Err(Error::config(
                "url",
                format!(
                    "'{}' is amqps://, which needs wafermon built with the \"rabbitmq-tls\" feature",
                    config.url
                ),
            ));
        }
        // Checked here too: lapin's own parse is the one that connects.
        config
            .url
            .expose()
            .parse::<lapin::uri::AMQPUri>()
            .map_err(|e| {
                let why = config.url.redact(&e);
                Error::config("url", format!("'{}' is not a valid AMQP URL: {why}", config.url))
            })?;
        // One worker: lapin's tasks run between batches too, so the connection answers the
        // broker's heartbeats while the lane is idle.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("wafermon-rabbitmq")
            .enable_all()
            .build()
            .map_err(|e| Error::io("cannot start the rabbitmq backend's runtime", e))?;
        Ok(RabbitMq {
            runtime,
            link: Link::new(),
            url: config.url,
            exchange: config.exchange,
            routing_key: config.routing_key,
            declare: config.declare,
            format: config.format,
            timeout: config.net.timeout,
        })
    }

    fn properties(&self, event: &EventRef<'_>) -> BasicProperties {
        let mut headers = FieldTable::default();
        for (name, value) in header_values(event) {
            headers.insert(name.into(), AMQPValue::LongString(value.into()));
        }
        let content_type = match self.format {
            WireFormat::Json => "application/json",
            WireFormat::MsgPack => "application/msgpack",
        };
        BasicProperties::default()
            .with_message_id(event.id.to_string().into())
            .with_content_type(content_type.into())
            .with_delivery_mode(PERSISTENT)
            // AMQP's timestamp is in seconds.
            .with_timestamp(event.time.unix_millis().div_euclid(1000).max(0) as u64)
            .with_headers(headers)
    }

    fn key_of(&self, event: &EventRef<'_>) -> String {
        let mut key = String::new();
        self.routing_key
            .fill(event.site, event.app.name, event.kind.as_str(), &mut key);
        key
    }

    fn where_to(&self, key: &str) -> String {
        format!("exchange '{}' with routing key '{key}'", self.exchange)
    }

    /// Each event's routing key, properties and body; an event whose key is too long for AMQP
    /// is rejected instead.
    fn messages(&self, batch: &Batch, tally: &mut Tally) -> Vec<Message> {
        let mut messages = Vec::with_capacity(batch.len());
        for (position, event) in batch.iter().enumerate() {
            let key = self.key_of(&event);
            if key.len() > MAX_NAME {
                let why = format!("the routing key of an event is longer than {MAX_NAME} bytes: '{key}'");
                tally.reject(position, why);
                continue;
            }
            let mut payload = Vec::with_capacity(512);
            body(&event, self.format, &mut payload);
            messages.push(Message {
                position,
                properties: self.properties(&event),
                key,
                payload,
            });
        }
        messages
    }

    /// Publish every event of the batch in order, then wait for their confirms until
    /// `deadline`, and say what became of each position.
    async fn publish(&mut self, batch: &Batch, deadline: Instant) -> Result<Tally, DeliveryError> {
        let mut tally = Tally::default();
        let messages = self.messages(batch, &mut tally);
        let late = || {
            DeliveryError::transient(format!(
                "RabbitMQ at {} did not answer within {:?}",
                self.url, self.timeout
            ))
        };
        let linked = tokio::time::timeout_at(
            deadline.into(),
            self.link.channel(&self.url, &self.exchange, self.declare),
        )
        .await;
        let channel = match linked {
            Ok(channel) => channel?.clone(),
            Err(_) => {
                self.link.drop_channel();
                return Err(late());
            }
        };
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let mut pending: Vec<(usize, String, PublisherConfirm)> = Vec::with_capacity(messages.len());
        // Positions not published because the channel closed under them (or the time ran
        // out), with why.
        let mut unpublished: Vec<(usize, String)> = Vec::new();
        let mut abandoned = false;
        for message in messages {
            if let Some((_, why)) = unpublished.last() {
                let why = why.clone();
                unpublished.push((message.position, why));
                continue;
            }
            let published = tokio::time::timeout_at(
                deadline.into(),
                channel.basic_publish(
                    ShortString::from(self.exchange.as_str()),
                    ShortString::from(message.key.as_str()),
                    options,
                    &message.payload,
                    message.properties,
                ),
            )
            .await;
            match published {
                Ok(Ok(confirm)) => pending.push((message.position, message.key, confirm)),
                Ok(Err(e)) => {
                    let why = format!("cannot publish to RabbitMQ at {}: {e}", self.url);
                    unpublished.push((message.position, why));
                }
                Err(_) => {
                    abandoned = true;
                    unpublished.push((message.position, late().message().to_string()));
                }
            }
        }
        // Why the broker closed the channel for good (the exchange does not exist...): the
        // messages it closed on before they were published share that fate.
        let mut closed_for_good: Option<String> = None;
        for (position, key, confirm) in pending {
            match tokio::time::timeout_at(deadline.into(), confirm).await {
                Ok(answer) => self.settle(position, &key, answer, &mut tally, &mut closed_for_good),
                Err(_) => {
                    abandoned = true;
                    let why = format!("RabbitMQ at {} did not confirm within {:?}", self.url, self.timeout);
                    tally.retry(position, why);
                }
            }
        }
        for (position, why) in unpublished {
            match &closed_for_good {
                Some(reason) => tally.reject(position, reason.clone()),
                None => tally.retry(position, why),
            }
        }
        if abandoned {
            // Confirms still owed on this channel will not be waited for: a new channel
            // starts clean for the retry.
            self.link.drop_channel();
        }
        Ok(tally)
    }

    /// What the broker's answer to one message makes of its position.
    fn settle(
        &self,
        position: usize,
        key: &str,
        answer: lapin::Result<Confirmation>,
        tally: &mut Tally,
        closed_for_good: &mut Option<String>,
    ) {
        match answer {
            Ok(Confirmation::Ack(None) | Confirmation::NotRequested) => {}
            // With `mandatory`, an unroutable message comes back (basic.return) before its ack.
            Ok(Confirmation::Ack(Some(returned))) => tally.retry(
                position,
                format!(
                    "RabbitMQ returned a message published to {}: {} (no queue is bound for it)",
                    self.where_to(key),
                    returned.reply_text
                ),
            ),
            Ok(Confirmation::Nack(_)) => tally.retry(
                position,
                format!(
                    "RabbitMQ did not take (nack) a message published to {}",
                    self.where_to(key)
                ),
            ),
            Err(e) => match soft_error(&e) {
                Some(AMQPSoftError::NOTFOUND) => {
                    let why = format!(
                        "exchange '{}' does not exist on RabbitMQ at {}: declare it, or set declare: true ({e})",
                        self.exchange, self.url
                    );
                    tally.reject(position, why.clone());
                    *closed_for_good = Some(why);
                }
                Some(AMQPSoftError::ACCESSREFUSED) => {
                    let why = format!(
                        "RabbitMQ at {} refuses publishing to {}: {e}",
                        self.url,
                        self.where_to(key)
                    );
                    tally.reject(position, why.clone());
                    *closed_for_good = Some(why);
                }
                // The connection or channel went away before the confirm came: the message
                // may or may not be in a queue, so it is published again (at least once).
                _ => tally.retry(
                    position,
                    format!(
                        "lost the connection to RabbitMQ at {} before its confirm: {e}",
                        self.url
                    ),
                ),
            },
        }
    }
}

/// One event ready to publish.
struct Message {
    position: usize,
    key: String,
    properties: BasicProperties,
    payload: Vec<u8>,
}

impl Backend for RabbitMq {
    fn send(&mut self, batch: &Batch) -> Result<(), DeliveryError> {
        let deadline = Instant::now() + self.timeout;
        let runtime = self.runtime.handle().clone();
        let mut tally = runtime.block_on(self.publish(batch, deadline))?;
        tally.retry.sort_unstable();
        tally.rejected.sort_unstable();
        let message = tally.reasons.join("; ");
        DeliveryError::by_positions(batch.len(), tally.rejected, tally.retry, message, None)
    }
}

impl Drop for RabbitMq {
    fn drop(&mut self) {
        let runtime = self.runtime.handle().clone();
        let link = &mut self.link;
        runtime.block_on(async {
            let _ = tokio::time::timeout(Duration::from_secs(2), link.close()).await;
        });
    }
}
