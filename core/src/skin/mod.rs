//! What every language skin needs and would otherwise write itself, so Java (JNI), R
//! (extendr), Python (pyo3) and the C ABI (and Perl's XS over it) share one behaviour:
//!
//! - `names`: the default app name, the program-name rule, and the name checks;
//! - `exit`: closing clients when the process exits, safe after fork and idempotent;
//! - `jobs`: jobs behind `u64` handles (generation-checked, so a stale or double-released
//!   handle is an error, never undefined behaviour) with primitive arguments only, and the
//!   per-thread current-job stack a skin's "current job" rides on;
//! - `conformance` (feature `conformance`): the scenario checker a skin's conformance test
//!   hands its output to.
//!
//! The error-kind names every skin maps are `ErrorKind::as_str` (listed in
//! `core/conformance/error_kinds.json`).

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod exit;
pub mod jobs;
pub mod names;

pub use crate::client::{JobAttrs, JobSpec};
pub use jobs::{JobHandle, Parent};
