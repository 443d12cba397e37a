//! The `webhook` service: its keys (the shared HTTP ones plus headers and signature) and the
//! writer (feature "http").

pub mod config;
#[cfg(feature = "http")]
mod write;

pub use self::config::WebhookConfig;
#[cfg(feature = "http")]
pub use self::write::Webhook;
