//! What the message-queue services (`kafka`, `rabbitmq`, `sqs`) share: an event as one
//! message body, and the root entity of its job tree, which keys a lot's messages so that
//! they stay in order (one Kafka partition, one SQS FIFO group).

mod body;
// rabbitmq routes by its key template, not by the lot.
#[cfg(any(feature = "sqs", feature = "kafka"))]
mod roots;

pub(crate) use self::body::{body, header_values};
#[cfg(any(feature = "sqs", feature = "kafka"))]
pub(crate) use self::roots::Roots;
