//! What the HTTP backends and readers share: the keys of `sidecar`, `managed_api` and
//! `webhook` (always built, so a config naming them parses without the feature), and under
//! feature "http" the one agent policy and the answer classification every writer and
//! reader uses.

#[cfg(feature = "http")]
mod client;
pub mod config;

#[cfg(feature = "http")]
pub(crate) use self::client::*;
pub use self::config::{HttpConfig, WireFormat};
