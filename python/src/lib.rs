//! `wafermon._native`: the private extension module under the `wafermon` Python package.
//! It only translates between Python and the core; the public API is the Python code.

mod conformance;
mod convert;
mod errors;
mod job;

use std::mem::ManuallyDrop;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyAny, PyDict};
use wafermon::config::OnFull;
use wafermon::event::LegacyDefaults;
use wafermon::{Config, Error};

use errors::IntoPy;

pub(crate) fn timeout(seconds: f64) -> Duration {
    // A negative or NaN timeout means "do not wait"; an infinite one waits a very long time.
    Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::from_secs(u32::MAX as u64))
}

fn parse_config(py: Python<'_>, text: Option<&str>, layered: bool) -> PyResult<Config> {
    let value = match text {
        None => return Config::from_env().py_err(py),
        Some(text) => serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| Error::config("", format!("malformed JSON: {e}")))
            .py_err(py)?,
    };
    if layered {
        Config::load(Some(value)).py_err(py)
    } else {
        Config::from_value(value).py_err(py)
    }
}

/// Check a configuration (a JSON text) exactly as given: no environment, no file.
#[pyfunction]
fn check_config(py: Python<'_>, config_json: &str) -> PyResult<()> {
    parse_config(py, Some(config_json), false).map(|_| ())
}

/// Convert one legacy event (JSON text) to schema v1 (JSON text) with the given defaults
/// (`{"site", "app": {"name", "version", "instance"}}`), as `legacy_cases.json` describes.
#[pyfunction]
fn convert_legacy(py: Python<'_>, legacy_json: &str, defaults_json: &str) -> PyResult<String> {
    let parse = |text: &str| {
        serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| Error::event("", format!("malformed JSON: {e}")))
    };
    let legacy = parse(legacy_json).py_err(py)?;
    let defaults = parse(defaults_json).py_err(py)?;
    let defaults = LegacyDefaults {
        site: defaults["site"].as_str().unwrap_or_default().to_string(),
        app: serde_json::from_value(defaults["app"].clone())
            .map_err(|e| Error::event("", format!("bad defaults: {e}")))
            .py_err(py)?,
    };
    let event = wafermon::event::from_legacy(&legacy, &defaults).py_err(py)?;
    Ok(event.to_json())
}

/// A core client. The last reference to it closes it (waiting up to 5 s for delivery).
#[pyclass(frozen, module = "wafermon._native")]
pub struct Client {
    // ManuallyDrop: dropping the last handle closes the pipeline, which may wait for a
    // backend, so `Drop` lets go of the interpreter first.
    pub(crate) inner: ManuallyDrop<wafermon::Client>,
    /// With `queue.on_full = block`, emit may wait for room, so it lets go of the GIL.
    blocking_emit: bool,
    /// The JSON it was made from (None: environment and defaults), for child processes.
    #[pyo3(get)]
    config_json: Option<String>,
}

impl Drop for Client {
    fn drop(&mut self) {
        // SAFETY: taken once, here, and never used again.
        let inner = unsafe { ManuallyDrop::take(&mut self.inner) };
        // Without an interpreter (finalizing), the closure and the client inside it are
        // simply dropped here.
        let _ = Python::try_attach(|py| py.detach(|| drop(inner)));
    }
}

#[pymethods]
impl Client {
    /// `config_json`: a JSON object, on top of `WAFERMON_CONFIG`, `WAFERMON_*` and the
    /// defaults when `layered`, else on top of the defaults only. None: environment only.
    /// `app_name`: the name to report when nothing configures one (the core would name
    /// the executable, which for every Python application is "python3").
    #[new]
    #[pyo3(signature = (config_json=None, layered=true, app_name=None))]
    fn new(
        py: Python<'_>,
        config_json: Option<&str>,
        layered: bool,
        app_name: Option<&str>,
    ) -> PyResult<Self> {
        let mut config = parse_config(py, config_json, layered)?;
        if let Some(name) = app_name {
            wafermon::skin::names::use_program_name(&mut config, name);
        }
        let blocking_emit = config.queue.on_full == OnFull::Block;
        let inner = py.detach(|| wafermon::Client::new(config)).py_err(py)?;
        Ok(Client {
            inner: ManuallyDrop::new(inner),
            blocking_emit,
            config_json: config_json.map(str::to_owned),
        })
    }

    /// Queue one event given as a dict (schema v1 input shape).
    fn emit(&self, py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<()> {
        let fast = event.cast::<PyDict>().ok().and_then(convert::fast_event);
        let event = match fast {
            Some(event) => event,
            None => {
                let value = convert::to_value(event)
                    .map_err(|e| e.into_error(""))
                    .py_err(py)?;
                wafermon::event::parse_event_value(&value).py_err(py)?
            }
        };
        if self.blocking_emit {
            py.detach(|| self.inner.emit(&event)).py_err(py)
        } else {
            self.inner.emit(&event).py_err(py)
        }
    }

    /// Queue one event in the format of the SDK wafermon replaces (a dict as its
    /// `JobEvent.to_json()` made it), converted by the core as the sidecar converts it;
    /// what the legacy event lacks (site, app) comes from this client's configuration.
    fn emit_legacy(&self, py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = convert::to_value(event)
            .map_err(|e| e.into_error(""))
            .py_err(py)?;
        let defaults = LegacyDefaults::from_config(&self.inner.config().app);
        let event = wafermon::event::parse_legacy_value(&value, &defaults).py_err(py)?;
        self.inner.emit(&event).py_err(py)
    }

    /// Queue one event given as JSON text.
    fn emit_json(&self, py: Python<'_>, text: &str) -> PyResult<()> {
        if self.blocking_emit {
            py.detach(|| self.inner.emit_json(text)).py_err(py)
        } else {
            self.inner.emit_json(text).py_err(py)
        }
    }

    /// A job of this client, not started yet (`with` or `.start()` starts it). The parent
    /// is `parent` (a Job, JobRef or id; False for none) or else the current job.
    #[pyo3(signature = (name, key=None, kind=None, attrs=None, id=None, parent=None))]
    #[allow(clippy::too_many_arguments)]
    fn job(
        slf: &Bound<'_, Self>,
        name: String,
        key: Option<String>,
        kind: Option<String>,
        attrs: Option<Py<PyAny>>,
        id: Option<String>,
        parent: Option<Py<PyAny>>,
    ) -> job::Job {
        job::new_job(slf.clone().unbind(), name, key, kind, attrs, id, parent)
    }

    /// Wait until everything emitted so far is delivered (the GIL is released meanwhile).
    fn flush(&self, py: Python<'_>, timeout_s: f64) -> PyResult<()> {
        let t = timeout(timeout_s);
        py.detach(|| self.inner.flush(t)).py_err(py)
    }

    /// Close: deliver what can be delivered within the timeout; returns the final stats
    /// as JSON text.
    fn close(&self, py: Python<'_>, timeout_s: f64) -> String {
        let t = timeout(timeout_s);
        py.detach(|| self.inner.close(t)).to_json()
    }

    /// Close as the process ends (the core's `skin::exit::close_for_exit`): deliver for up
    /// to `timeout_s`, or only `when_down_s` when every backend is down. Returns the final
    /// stats as JSON text, or None when there was nothing to close (closed already, or a
    /// forked child's copy of a client it never used).
    fn close_for_exit(&self, py: Python<'_>, timeout_s: f64, when_down_s: f64) -> Option<String> {
        let (t, down) = (timeout(timeout_s), timeout(when_down_s));
        py.detach(|| wafermon::skin::exit::close_for_exit(&self.inner, t, down))
            .map(|stats| stats.to_json())
    }

    fn stats_json(&self) -> String {
        self.inner.stats().to_json()
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("CORE_VERSION", wafermon::VERSION)?;
    m.add_class::<Client>()?;
    m.add_class::<job::Job>()?;
    m.add_function(wrap_pyfunction!(job::current_job_var, m)?)?;
    m.add_function(wrap_pyfunction!(job::set_job_helpers, m)?)?;
    m.add_function(wrap_pyfunction!(job::forked, m)?)?;
    m.add_function(wrap_pyfunction!(job::set_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(job::in_child, m)?)?;
    m.add_function(wrap_pyfunction!(job::set_child_flush_timeout, m)?)?;
    m.add_function(wrap_pyfunction!(errors::set_error_table, m)?)?;
    m.add_function(wrap_pyfunction!(errors::error_kind_names, m)?)?;
    m.add_function(wrap_pyfunction!(check_config, m)?)?;
    m.add_function(wrap_pyfunction!(conformance::conformance_config, m)?)?;
    m.add_function(wrap_pyfunction!(conformance::conformance_check_error, m)?)?;
    m.add_function(wrap_pyfunction!(conformance::conformance_check_events, m)?)?;
    m.add_function(wrap_pyfunction!(convert_legacy, m)?)?;
    Ok(())
}
