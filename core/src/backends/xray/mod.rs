//! The `xray` service: its keys and the segment writer (feature "xray").

pub mod config;
#[cfg(feature = "xray")]
mod write;

pub use self::config::XRayConfig;
#[cfg(feature = "xray")]
pub use self::write::XRay;
