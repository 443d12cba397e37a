//! The `s3` service: its keys, the object layout writer and reader share, the writer
//! (feature "s3") and its reader (features "s3" + "read").

pub mod config;
#[cfg(feature = "s3")]
pub mod layout;
#[cfg(all(feature = "s3", feature = "read"))]
pub mod read;
#[cfg(feature = "s3")]
mod store;
#[cfg(feature = "s3")]
mod write;

pub use self::config::{Compression, S3Config};
#[cfg(feature = "s3")]
pub use self::store::{build_store, describe};
#[cfg(feature = "s3")]
pub use self::write::S3;

/// The writer of an entry (the registry's `build`).
#[cfg(feature = "s3")]
pub(crate) fn build(
    config: &S3Config,
    app: &crate::config::AppConfig,
) -> crate::Result<Box<dyn super::Backend>> {
    Ok(Box::new(S3::new(config.clone(), app)?))
}
