//! The `kafka` service: its keys and the idempotent producer (feature "kafka").

pub mod config;
#[cfg(feature = "kafka")]
mod deliveries;
#[cfg(feature = "kafka")]
mod errors;
#[cfg(feature = "kafka")]
mod settings;
#[cfg(feature = "kafka")]
mod write;

pub use self::config::{KafkaConfig, KafkaConnection};
#[cfg(feature = "kafka")]
pub use self::write::Kafka;

/// The writer of an entry (the registry's `build`).
#[cfg(feature = "kafka")]
pub(crate) fn build(
    config: &KafkaConfig,
    app: &crate::config::AppConfig,
) -> crate::Result<Box<dyn super::Backend>> {
    Ok(Box::new(Kafka::new(config.clone(), app)?))
}
