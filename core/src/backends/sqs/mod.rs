//! The `sqs` service: its keys and the SendMessageBatch writer (feature "sqs").

pub mod config;
#[cfg(feature = "sqs")]
mod entries;
#[cfg(feature = "sqs")]
mod write;

pub use self::config::SqsConfig;
#[cfg(feature = "sqs")]
pub use self::write::Sqs;

/// The writer of an entry (the registry's `build`).
#[cfg(feature = "sqs")]
pub(crate) fn build(
    config: &SqsConfig,
    _app: &crate::config::AppConfig,
) -> crate::Result<Box<dyn super::Backend>> {
    Ok(Box::new(Sqs::new(config.clone())?))
}
