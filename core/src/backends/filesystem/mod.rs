//! The filesystem service: JSONL or CSV files per site/app and UTC day. `layout` owns the
//! names, `write` is the backend, `read` finds the events again (feature "read").

pub mod layout;
#[cfg(feature = "read")]
pub mod read;
mod write;

pub use write::Filesystem;
