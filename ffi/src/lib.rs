//! libwafermon: the C ABI of wafermon, and the only one (c/include/wafermon.h is generated
//! from this crate by cbindgen; Perl's XS and plain C read the same header). Python, Java
//! and R bind the core crate directly; what every skin shares lives in `wafermon::skin`.
//!
//! Rules every entry point keeps:
//! - Handles (`wm_config*`, `wm_client*`, `wm_job*`) are opaque tokens checked against a
//!   registry of live handles on every call: NULL, freed or wrong-kind handles give
//!   WM_ERR_INVALID_ARGUMENT, never a crash. `_free` functions accept NULL.
//! - Every fallible function returns `wm_status` and sets the thread's `wm_last_error()`.
//! - Strings are NUL-terminated UTF-8; NULL or invalid UTF-8 gives WM_ERR_INVALID_ARGUMENT
//!   naming the argument.
//! - Panics never cross the boundary: `error::guard` turns them into WM_ERR_PANIC.
//!
//! The one safety contract of the `unsafe extern "C"` functions (stated here once instead
//! of on each): every pointer argument is NULL or points to what its C type says — a
//! NUL-terminated string for `const char*`, a writable slot for an out-pointer. Handles
//! themselves may be anything; they are never dereferenced.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::todo,
        clippy::unimplemented
    )
)]
#![allow(non_camel_case_types, clippy::missing_safety_doc)]

mod args;
mod client;
mod config;
mod error;
mod handle;
mod job;
mod misc;

#[cfg(test)]
mod abi_tests;

pub use client::{
    wm_client, wm_client_free, wm_client_new, wm_client_new_for_program, wm_close,
    wm_close_at_exit, wm_emit_json, wm_flush, wm_stats_json,
};
pub use config::{
    wm_config, wm_config_free, wm_config_from_env, wm_config_from_file, wm_config_from_json,
};
pub use error::{wm_last_error, wm_status};
pub use job::{
    wm_job, wm_job_attr_bool, wm_job_attr_double, wm_job_attr_int, wm_job_attr_string,
    wm_job_begin, wm_job_cancel, wm_job_fail, wm_job_finish, wm_job_free, wm_job_id, wm_job_log,
    wm_job_metric, wm_job_new, wm_job_new_sub, wm_job_progress, wm_job_set_id, wm_job_set_key,
    wm_job_set_kind, wm_job_start, wm_job_start_sub,
};
pub use misc::{wm_debug_panic, wm_string_free, wm_version};
