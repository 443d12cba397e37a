//! The core's conformance checker (`wafermon::skin::conformance`) for the Python test of the
//! shared vectors: the test runs each step through the Python API and hands the rest here.
//! Always built: it is a few hundred lines with no dependency of its own, and a wheel that
//! can check itself against the vectors is worth that.

use std::path::Path;

use pyo3::exceptions::{PyAssertionError, PyValueError};
use pyo3::prelude::*;
use serde_json::Value;
use wafermon::skin::conformance;

fn json(text: &str, what: &str) -> PyResult<Value> {
    serde_json::from_str(text).map_err(|e| PyValueError::new_err(format!("{what}: {e}")))
}

fn checked(result: Result<(), String>) -> PyResult<()> {
    result.map_err(PyAssertionError::new_err)
}

/// The config a scenario runs with (JSON text): JSONL under `dir/data`, the spool under
/// `dir/spool`, and the scenario's `config` (JSON text) merged one level deep.
#[pyfunction]
pub fn conformance_config(dir: &str, scenario_config_json: &str) -> PyResult<String> {
    let extra = json(scenario_config_json, "scenario_config_json")?;
    Ok(conformance::scenario_config(Path::new(dir), &extra).to_string())
}

/// Raise AssertionError unless the error (its kind name and message) is the one
/// `expected_json` (`{"kind"?, "path"}`) describes.
#[pyfunction]
pub fn conformance_check_error(kind: &str, message: &str, expected_json: &str) -> PyResult<()> {
    let expected = json(expected_json, "expected_json")?;
    checked(conformance::check_error(kind, message, &expected))
}

/// Raise AssertionError unless the events under `data_dir`, normalized, are `expect_json`
/// (the scenario's `expect`). `jobs`: (alias, entity id) of each job started with `"as"`.
#[pyfunction]
pub fn conformance_check_events(
    data_dir: &str,
    expect_json: &str,
    jobs: Vec<(String, String)>,
) -> PyResult<()> {
    let expect = json(expect_json, "expect_json")?;
    checked(conformance::check_events(
        Path::new(data_dir),
        &expect,
        &jobs,
    ))
}
