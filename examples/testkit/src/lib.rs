//! Test support shared by the core's, the sidecar's and the gateway's tests and the core's
//! benches: the real backend servers (scripts/servers), validators for the JSON schemas
//! under core/schema (which refer to each other) and the checks of the hosts' config files
//! against them, a host process's open files, sockets and memory, connections that hold on
//! to a host, worst-case request bodies, and a TCP relay a test cuts for an outage.
//!
//! It does not depend on the `wafermon` crate, so the core can take it as a
//! dev-dependency without a cycle. (JSON comparison by value and reading back what the
//! filesystem backend wrote are the core's own checker's: `wafermon::skin::conformance`.)

pub mod bodies;
pub mod connections;
pub mod fuzz;
pub mod process;
pub mod refuser;
pub mod relay;
pub mod schema;
pub mod secrets;
pub mod servers;

use std::path::PathBuf;

/// `sub` (e.g. "scripts/servers") in the checkout under test: the first folder above the
/// package whose test runs that has it. Cargo sets CARGO_MANIFEST_DIR when it runs a test;
/// the value this crate was compiled with is only the fallback, because a target folder
/// shared by two checkouts of the workspace may hold this crate built from the other one.
pub fn in_checkout(sub: &str) -> PathBuf {
    let package = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    package
        .ancestors()
        .map(|dir| dir.join(sub))
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| panic!("{sub} not found above {}", package.display()))
}

pub use schema::{
    assert_check_ok, assert_mistake_refused, assert_mistakes_reported, assert_schema_valid,
    load_json, schema_validator,
};
