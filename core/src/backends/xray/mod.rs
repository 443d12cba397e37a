//! The `xray` service: its keys and the segment writer (feature "xray").

pub mod config;
#[cfg(feature = "xray")]
mod write;

pub use self::config::XRayConfig;
#[cfg(feature = "xray")]
pub use self::write::XRay;

/// The writer of an entry (the registry's `build`).
#[cfg(feature = "xray")]
pub(crate) fn build(
    config: &XRayConfig,
    app: &crate::config::AppConfig,
) -> crate::Result<Box<dyn super::Backend>> {
    Ok(Box::new(XRay::new(config.clone(), app)?))
}
