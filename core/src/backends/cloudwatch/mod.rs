//! The `cloudwatch` service: its keys, the Logs + Metrics writer (feature "cloudwatch") and
//! the Logs reader (plus feature "read").

pub mod config;
#[cfg(feature = "cloudwatch")]
mod logs;
#[cfg(feature = "cloudwatch")]
mod metrics;
#[cfg(all(feature = "cloudwatch", feature = "read"))]
pub mod read;
#[cfg(feature = "cloudwatch")]
mod write;

pub use self::config::CloudWatchConfig;
#[cfg(feature = "cloudwatch")]
pub use self::write::CloudWatch;

/// The writer of an entry (the registry's `build`).
#[cfg(feature = "cloudwatch")]
pub(crate) fn build(
    config: &CloudWatchConfig,
    app: &crate::config::AppConfig,
) -> crate::Result<Box<dyn super::Backend>> {
    Ok(Box::new(CloudWatch::new(config.clone(), app)?))
}
