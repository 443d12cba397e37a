//! The Elasticsearch / OpenSearch service: its keys, the cluster client writer and reader
//! share, the `_bulk` writer (feature "elasticsearch") and its reader (plus feature "read").

#[cfg(feature = "elasticsearch")]
mod bulk;
#[cfg(feature = "elasticsearch")]
pub mod cluster;
pub mod config;
#[cfg(all(feature = "elasticsearch", feature = "read"))]
pub mod read;
#[cfg(feature = "elasticsearch")]
mod template;
#[cfg(feature = "elasticsearch")]
mod write;

#[cfg(feature = "elasticsearch")]
pub use self::cluster::{authorization, error_text, Reply, RequestError};
pub use self::config::{ElasticAuth, ElasticConfig};
#[cfg(feature = "elasticsearch")]
pub use self::write::{index_pattern, Elastic};

/// The writer of an entry (the registry's `build`).
#[cfg(feature = "elasticsearch")]
pub(crate) fn build(
    config: &ElasticConfig,
    app: &crate::config::AppConfig,
) -> crate::Result<Box<dyn super::Backend>> {
    Ok(Box::new(Elastic::new(config.clone(), app)?))
}
