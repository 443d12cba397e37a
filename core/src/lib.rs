//! wafermon: the monitoring core every wafermon language package wraps.
//!
//! ```no_run
//! use std::time::Duration;
//! let client = wafermon::Client::new(wafermon::Config::default())?;
//! let job = client.job("etch").key("LOT42").start()?;
//! job.progress(50.0)?;
//! let step = job.subjob("rinse").start()?;
//! step.finish()?;
//! job.finish()?;
//! client.close(Duration::from_secs(5));
//! # Ok::<(), wafermon::Error>(())
//! ```

pub mod backends;
mod client;
pub mod config;
mod error;
pub mod event;
mod fork;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod global;
mod pipeline;
pub mod skin;

pub use client::{Client, IngestBatch, Job, JobBuilder};
pub use config::Config;
pub use error::{Error, ErrorKind, Result};
pub use event::{Event, EventRef, Kind, Level, NewEvent, Scalar, Status, Timestamp};
pub use global::{global, init, shutdown};
pub use pipeline::{BackendStats, Batch, Stats};

/// The version of this crate (also reported by the C ABI).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
