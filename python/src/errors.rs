//! Core errors become Python exceptions through one table, which lives in Python
//! (`wafermon/_errors.py`) and is handed over at import: kind name (`ErrorKind::as_str`)
//! -> exception class. `error_kind_names()` lets the tests check the table covers exactly
//! the core's kinds (core/conformance/error_kinds.json).

use std::sync::Mutex;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use wafermon::{Error, ErrorKind};

/// Only read when raising, so a plain mutex is cheap enough; replaceable so that reloading
/// the Python module keeps raising its current classes.
static TABLE: Mutex<Option<Py<PyDict>>> = Mutex::new(None);

fn table(py: Python<'_>) -> Option<Bound<'_, PyDict>> {
    let slot = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    slot.as_ref().map(|t| t.bind(py).clone())
}

/// Install the table (called by `wafermon/_errors.py` when it is imported).
#[pyfunction]
pub fn set_error_table(table: Bound<'_, PyDict>) {
    let old = TABLE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .replace(table.unbind());
    drop(old);
}

/// The Python exception for a core error: `cls(message, kind, path)` from the table.
pub fn to_py(py: Python<'_>, err: Error) -> PyErr {
    let message = err.to_string();
    let kind = err.kind().as_str();
    if let Some(table) = table(py) {
        if let Ok(Some(cls)) = table.get_item(kind) {
            return match cls.call1((message, kind, err.path())) {
                Ok(instance) => PyErr::from_value(instance),
                Err(e) => e,
            };
        }
    }
    // Only reached when the extension is used without the Python package around it.
    match err.kind() {
        ErrorKind::InvalidConfig | ErrorKind::InvalidEvent | ErrorKind::InvalidArgument => {
            PyValueError::new_err(message)
        }
        _ => PyRuntimeError::new_err(message),
    }
}

/// `Result<T, wafermon::Error>` -> `PyResult<T>`.
pub trait IntoPy<T> {
    fn py_err(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, Error> {
    #[inline]
    fn py_err(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, e))
    }
}

/// The name of every core error kind (`ErrorKind::ALL`), for the table's test.
#[pyfunction]
pub fn error_kind_names() -> Vec<&'static str> {
    ErrorKind::ALL.iter().map(|k| k.as_str()).collect()
}
