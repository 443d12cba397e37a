//! Backends: one folder per service (its keys, its writer, and its reader under feature
//! "read"), one small trait. A service's keys are always built, so a config naming it parses
//! and then says which feature it needs; its writer and reader are behind its feature. A
//! backend only writes a batch and says how it went; retries, spooling and failover live in
//! the pipeline.

// What several services share (not services themselves).
pub mod aws;
pub(crate) mod http;
#[cfg(any(feature = "sqs", feature = "kafka", feature = "rabbitmq"))]
pub(crate) mod messaging;
#[cfg(feature = "read")]
pub mod read;
#[cfg(any(feature = "cloudwatch", feature = "kafka", feature = "sqs"))]
pub(crate) mod recent;
pub mod registry;

// The services, one line each: `Variant(its config type) = its folder, its type name | the
// aliases a config may use, the cargo feature of its writer, how the gateway reads it back
// (its backend keys, or keys of its own; none: no reader)`. Adding a service is its folder
// and one line here (registry.rs says what the folder provides).
registry::services! {
    Filesystem(filesystem::FilesystemConfig) = filesystem, "filesystem", feature "default", source own;
    Sidecar(http::HttpConfig) = sidecar, "sidecar", feature "http";
    ManagedApi(http::HttpConfig) = managed_api, "managed_api", feature "http";
    Webhook(webhook::WebhookConfig) = webhook, "webhook", feature "http";
    S3(s3::S3Config) = s3, "s3", feature "s3", source backend;
    Elastic(elasticsearch::ElasticConfig) = elasticsearch, "elasticsearch" | "elk", feature "elasticsearch", source backend;
    Loki(loki::LokiConfig) = loki, "loki", feature "loki", source backend;
    Zabbix(zabbix::ZabbixConfig) = zabbix, "zabbix", feature "zabbix", source own;
    CloudWatch(cloudwatch::CloudWatchConfig) = cloudwatch, "cloudwatch", feature "cloudwatch", source backend;
    XRay(xray::XRayConfig) = xray, "xray", feature "xray";
    Sqs(sqs::SqsConfig) = sqs, "sqs", feature "sqs";
    Kafka(kafka::KafkaConfig) = kafka, "kafka", feature "kafka";
    RabbitMq(rabbitmq::RabbitMqConfig) = rabbitmq, "rabbitmq", feature "rabbitmq";
}

use std::fmt;
use std::time::Duration;

pub use self::filesystem::Filesystem;

use crate::config::{AppConfig, BackendConfig};
use crate::error::{Error, Result};
pub use crate::pipeline::Batch;

/// Why a batch was not delivered.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryError {
    /// Worth retrying (network, 5xx, 429, 408, disk full...); the server may say when.
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help (4xx, schema rejected): the batch is counted as failed.
    Permanent { message: String },
    /// The service took some events and not others (per-item results of a bulk request).
    /// `rejected` and `retry` are positions in the batch (as `batch.iter()` yields them):
    /// the rejected ones are counted as failed, the ones to retry go back in line like a
    /// transient failure (back to the spool when the batch came from it, before its cursor
    /// moves); all the others count as delivered. `message` names
    /// the service's own reasons (the first few are enough).
    Partial {
        rejected: Vec<usize>,
        retry: Vec<usize>,
        message: String,
        retry_after: Option<Duration>,
    },
}

impl DeliveryError {
    pub fn transient(message: impl Into<String>) -> Self {
        DeliveryError::Transient {
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        DeliveryError::Permanent {
            message: message.into(),
        }
    }

    /// What a batch of `len` events sent in several requests came to, from the positions
    /// rejected and to retry: delivered when neither has any, a transient failure when all
    /// are to retry, a permanent one when all were rejected, else partial.
    #[cfg(any(
        feature = "aws",
        feature = "loki",
        feature = "kafka",
        feature = "rabbitmq"
    ))]
    pub(crate) fn by_positions(
        len: usize,
        rejected: Vec<usize>,
        retry: Vec<usize>,
        message: String,
        retry_after: Option<Duration>,
    ) -> Result<(), DeliveryError> {
        if rejected.is_empty() && retry.is_empty() {
            Ok(())
        } else if retry.len() == len {
            Err(DeliveryError::Transient {
                message,
                retry_after,
            })
        } else if rejected.len() == len {
            Err(DeliveryError::Permanent { message })
        } else {
            Err(DeliveryError::Partial {
                rejected,
                retry,
                message,
                retry_after,
            })
        }
    }

    pub fn message(&self) -> &str {
        match self {
            DeliveryError::Transient { message, .. }
            | DeliveryError::Permanent { message }
            | DeliveryError::Partial { message, .. } => message,
        }
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliveryError::Transient { message, .. } => write!(f, "transient: {message}"),
            DeliveryError::Permanent { message } => write!(f, "permanent: {message}"),
            DeliveryError::Partial {
                rejected,
                retry,
                message,
                ..
            } => write!(
                f,
                "partial: {} rejected, {} to retry: {message}",
                rejected.len(),
                retry.len()
            ),
        }
    }
}

/// A destination for batches of events. Called from one delivery thread at a time.
pub trait Backend: Send {
    /// Deliver the batch and say what became of it: `Ok` when every event was delivered,
    /// `Transient` when the whole batch should be retried, `Permanent` when the service
    /// refused all of it, and `Partial` (positions in the batch) when a bulk service took some
    /// events, refused some and asks to retry others: the lane then counts each event once
    /// (`sent` or `failed`) and retries only the positions in `retry`, so a backend never
    /// fails a whole batch for a few bad events.
    /// `batch.iter()` gives borrowed views; serializing the batch gives the JSON array.
    fn send(&mut self, batch: &Batch) -> Result<(), DeliveryError>;

    /// Make written data durable / release resources; called on flush and close.
    fn flush(&mut self) -> Result<(), DeliveryError> {
        Ok(())
    }
}

/// Build the backend an entry of the config describes.
pub fn build(config: &BackendConfig, app: &AppConfig) -> Result<Box<dyn Backend>> {
    match writer(&config.kind, app) {
        // Errors name the backend, since its index in the config is not known here.
        Some(built) => built.map_err(|e| {
            Error::config(
                format!("backend '{}'.{}", config.name, e.path().unwrap_or_default()),
                e.message().to_string(),
            )
        }),
        None => Err(Error::config(
            format!("backend '{}'.type", config.name),
            format!(
                "backend type '{}' needs wafermon built with the \"{}\" feature",
                config.kind.type_name(),
                config.kind.feature()
            ),
        )),
    }
}
