//! Helpers shared by the integration tests: a client's config and reading back what the
//! filesystem backend wrote (the core's conformance checker's own, panicking where it
//! returns an error), JSON comparison by value, and forked children.
#![allow(dead_code)]

pub mod fork;

// Not every test binary uses each of these.
#[allow(unused_imports)]
pub use wafermon::skin::conformance::same_json;
#[allow(unused_imports)]
pub use wafermon_testkit::{load_json, schema_validator, servers};

use std::path::{Path, PathBuf};

use serde_json::Value;
use wafermon::skin::conformance;

pub fn core_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A config writing JSONL under `dir/data` with its spool under `dir/spool`, merged with
/// `extra` (objects merged one level deep): a conformance scenario's config.
pub fn config_in(dir: &Path, extra: Value) -> Value {
    conformance::scenario_config(dir, &extra)
}

/// Every event in every `*.jsonl` file under `dir`, sorted by `seq`; panics on a file it
/// cannot read or a line that is not JSON.
pub fn read_events(dir: &Path) -> Vec<Value> {
    conformance::read_events(dir).unwrap_or_else(|e| panic!("{e}"))
}
