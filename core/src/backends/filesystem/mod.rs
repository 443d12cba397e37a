//! The `filesystem` service: its keys, the file layout writer and reader share, the writer
//! and its reader (feature "read").

pub mod config;
pub mod layout;
#[cfg(feature = "read")]
pub mod read;
mod write;

pub use self::config::{FileFormat, FilesystemConfig};
pub use write::Filesystem;
