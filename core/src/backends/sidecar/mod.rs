//! The `sidecar` service: its keys (the shared HTTP ones) and the writer (feature "http").

pub mod config;
#[cfg(feature = "http")]
mod write;

#[cfg(feature = "http")]
pub use self::write::Sidecar;

/// The writer of an entry (the registry's `build`).
#[cfg(feature = "http")]
pub(crate) fn build(
    config: &crate::backends::http::HttpConfig,
    app: &crate::config::AppConfig,
) -> crate::Result<Box<dyn super::Backend>> {
    let _ = app;
    Ok(Box::new(Sidecar::new(config.clone())?))
}
