//! The `filesystem` service: its keys, the file layout writer and reader share, the writer
//! and its reader (feature "read").

pub mod config;
pub mod layout;
#[cfg(feature = "read")]
pub mod read;
mod write;

pub use self::config::{FileFormat, FilesystemConfig};
pub use write::Filesystem;

/// The writer of an entry (the registry's `build`).
pub(crate) fn build(
    config: &FilesystemConfig,
    _app: &crate::config::AppConfig,
) -> crate::Result<Box<dyn super::Backend>> {
    Ok(Box::new(Filesystem::new(config.clone())))
}
