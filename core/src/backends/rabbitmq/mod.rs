//! The `rabbitmq` service: its keys and the publisher-confirms writer (feature "rabbitmq").

pub mod config;
#[cfg(feature = "rabbitmq")]
mod link;
#[cfg(feature = "rabbitmq")]
mod write;

pub use self::config::RabbitMqConfig;
#[cfg(feature = "rabbitmq")]
pub use self::write::RabbitMq;

/// The writer of an entry (the registry's `build`).
#[cfg(feature = "rabbitmq")]
pub(crate) fn build(
    config: &RabbitMqConfig,
    _app: &crate::config::AppConfig,
) -> crate::Result<Box<dyn super::Backend>> {
    Ok(Box::new(RabbitMq::new(config.clone())?))
}
