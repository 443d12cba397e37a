//! The `managed_api` service (the gateway's ingest): its keys (the shared HTTP ones) and the
//! writer (feature "http").

pub mod config;
#[cfg(feature = "http")]
mod write;

#[cfg(feature = "http")]
pub use self::write::ManagedApi;
