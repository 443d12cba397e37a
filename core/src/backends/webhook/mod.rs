//! The `webhook` service: its keys (the shared HTTP ones plus headers and signature) and the
//! writer (feature "http").

pub mod config;
#[cfg(feature = "http")]
mod write;

pub use self::config::WebhookConfig;
#[cfg(feature = "http")]
pub use self::write::Webhook;

/// The writer of an entry (the registry's `build`).
#[cfg(feature = "http")]
pub(crate) fn build(
    config: &WebhookConfig,
    app: &crate::config::AppConfig,
) -> crate::Result<Box<dyn super::Backend>> {
    let _ = app;
    Ok(Box::new(Webhook::new(config.clone())?))
}
