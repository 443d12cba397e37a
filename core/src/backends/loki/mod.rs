//! The `loki` service: its keys, the push writer (feature "loki") and its reader (plus
//! feature "read").

#[cfg(feature = "loki")]
mod body;
pub mod config;
#[cfg(feature = "loki")]
mod push;
#[cfg(all(feature = "loki", feature = "read"))]
pub mod read;
#[cfg(feature = "loki")]
mod write;

pub use self::config::LokiConfig;
#[cfg(all(feature = "loki", feature = "fuzzing"))]
pub(crate) use self::push::read_refusal;
#[cfg(feature = "loki")]
pub use self::push::request_headers;
#[cfg(feature = "loki")]
pub use self::write::Loki;

/// The writer of an entry (the registry's `build`).
#[cfg(feature = "loki")]
pub(crate) fn build(
    config: &LokiConfig,
    app: &crate::config::AppConfig,
) -> crate::Result<Box<dyn super::Backend>> {
    Ok(Box::new(Loki::new(config.clone(), app)?))
}
