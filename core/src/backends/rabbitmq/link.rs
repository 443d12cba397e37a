//! The connection and the confirming channel a `rabbitmq` backend publishes on, made again
//! when the broker closed either: a connection after the broker went down, a channel after the
//! broker closed it over an error (an exchange that does not exist).

use lapin::options::{ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, ErrorKind, ExchangeKind};

use super::config::BrokerUrl;
use crate::backends::DeliveryError;

pub(crate) struct Link {
    connection: Option<Connection>,
    channel: Option<Channel>,
}

impl Link {
    pub(crate) fn new() -> Link {
        Link {
            connection: None,
            channel: None,
        }
    }

    /// A channel in confirm mode on an open connection, with the exchange declared when
    /// `declare` is set; connects or opens the channel again when the broker closed either.
    pub(crate) async fn channel(
        &mut self,
        url: &BrokerUrl,
        exchange: &str,
        declare: bool,
    ) -> Result<&Channel, DeliveryError> {
        if !self.connection.as_ref().is_some_and(|c| c.status().connected()) {
            self.channel = None;
            // Closed by the broker or the network; dropping the last handle ends it.
            self.connection = None;
            let properties = ConnectionProperties::default()
                .with_connection_name("wafermon".into());
            let connection = Connection::connect(url.expose(), properties)
                .await
                .map_err(|e| {
                    let why = format!(
                        "cannot connect to RabbitMQ at {url}: {}",
                        url.redact(&e.to_string())
                    );
                    if is_refused_login(&e) {
                        DeliveryError::permanent(why)
                    } else {
                        DeliveryError::transient(why)
                    }
                })?;
            self.connection = Some(connection);
        }
        if !self.channel.as_ref().is_some_and(|c| c.status().connected()) {
            self.channel = None;
            let Some(connection) = &self.connection else {
                return Err(DeliveryError::transient("no connection to RabbitMQ"));
            };
            let channel = connection.create_channel().await.map_err(|e| {
                DeliveryError::transient(format!("cannot open a channel on RabbitMQ at {url}: {e}"))
            })?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(|e| DeliveryError::transient(format!("RabbitMQ at {url}: confirm.select: {e}")))?;
            if declare {
                let options = ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                };
                channel
                    .exchange_declare(exchange.into(), ExchangeKind::Topic, options, FieldTable::default())
                    .await
                    .map_err(|e| {
                        let why = format!("cannot declare exchange '{exchange}' on RabbitMQ at {url}: {e}");
                        // Declared before with another type or durability, or not allowed.
                        if soft_error(&e).is_some() {
                            DeliveryError::permanent(why)
                        } else {
                            DeliveryError::transient(why)
                        }
                    })?;
            }
            self.channel = Some(channel);
        }
        self.channel
            .as_ref()
            .ok_or_else(|| DeliveryError::transient("no channel to RabbitMQ"))
    }

    /// Forget the channel (its confirms are no longer waited for): the next batch opens one.
    pub(crate) fn drop_channel(&mut self) {
        self.channel = None;
    }

    /// Close the connection politely, so the broker does not log an abrupt disconnect.
    pub(crate) async fn close(&mut self) {
        self.channel = None;
        if let Some(connection) = self.connection.take() {
            if connection.status().connected() {
                let _ = connection.close(200, "wafermon closing".into()).await;
            }
        }
    }
}

/// The channel-level AMQP error (NOT_FOUND, ACCESS_REFUSED, PRECONDITION_FAILED...) the broker
/// closed a channel with, if that is what `error` is.
pub(crate) fn soft_error(error: &lapin::Error) -> Option<AMQPSoftError> {
    match error.kind() {
        ErrorKind::ProtocolError(e) => match e.kind() {
            AMQPErrorKind::Soft(soft) => Some(soft.clone()),
            AMQPErrorKind::Hard(_) => None,
        },
        _ => None,
    }
}

/// Credentials or a virtual host the broker refuses: retrying cannot help.
fn is_refused_login(error: &lapin::Error) -> bool {
    match error.kind() {
        ErrorKind::ProtocolError(e) => matches!(
            e.kind(),
            AMQPErrorKind::Soft(AMQPSoftError::ACCESSREFUSED)
                | AMQPErrorKind::Hard(lapin::protocol::AMQPHardError::NOTALLOWED)
        ),
        _ => false,
    }
}
