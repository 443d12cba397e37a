//! The job as a Python context manager. It lives here rather than in Python because a
//! `with` block is the unit applications pay for: entering and leaving it in one native
//! call each keeps the block within a few microseconds, most of which is the core's own
//! work (ids, getrusage, queueing).
//!
//! The current job is a `contextvars.ContextVar`, so each thread and each asyncio task
//! sees its own innermost job, and a nested job finds its parent there.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::{PyGeneratorExit, PyKeyboardInterrupt, PySystemExit};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{IntoPyDict, PyBool, PyInt, PyString, PyTuple};
use wafermon::{Error, ErrorKind, Level};

use crate::errors::{self, IntoPy};
use crate::{convert, timeout, Client};

/// Forks this process descends from (bumped by `forked`, which Python calls after every
/// fork in the child). A job remembers the generation it started in.
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// A forked child or a multiprocessing child of any start method.
static IN_CHILD: AtomicBool = AtomicBool::new(false);
/// How long a child process waits for delivery when its outermost job ends, in seconds
/// (f64 bits).
static CHILD_FLUSH_TIMEOUT: AtomicU64 = AtomicU64::new(10.0f64.to_bits());

struct Context {
    var: Py<PyAny>,
    get: Py<PyAny>,
    set: Py<PyAny>,
    reset: Py<PyAny>,
}

static CONTEXT: PyOnceLock<Context> = PyOnceLock::new();

/// Python pieces the job hands out: `JobRef` (what a job pickles as) and `ready(value)`,
/// an `async def` returning its argument (for `async with`).
struct Helpers {
    job_ref: Py<PyAny>,
    ready: Py<PyAny>,
}

static HELPERS: PyOnceLock<Helpers> = PyOnceLock::new();

/// Exceptions that cancel a job rather than fail it.
static CANCELING: PyOnceLock<Py<PyTuple>> = PyOnceLock::new();

/// Called by `wafermon/_core.py` when it is imported (the first call wins).
#[pyfunction]
pub fn set_job_helpers(py: Python<'_>, job_ref: Py<PyAny>, ready: Py<PyAny>) {
    let _ = HELPERS.set(py, Helpers { job_ref, ready });
}

fn helpers(py: Python<'_>) -> PyResult<&Helpers> {
    HELPERS
        .get(py)
        .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("wafermon._core is not imported"))
}

fn context(py: Python<'_>) -> PyResult<&Context> {
    CONTEXT.get_or_try_init(py, || {
        let var = py.import("contextvars")?.getattr("ContextVar")?.call(
            ("wafermon_current_job",),
            Some(&[("default", py.None())].into_py_dict(py)?),
        )?;
        Ok::<_, PyErr>(Context {
            get: var.getattr("get")?.unbind(),
            set: var.getattr("set")?.unbind(),
            reset: var.getattr("reset")?.unbind(),
            var: var.unbind(),
        })
    })
}

fn canceling(py: Python<'_>) -> PyResult<&Bound<'_, PyTuple>> {
    CANCELING
        .get_or_try_init(py, || {
            let cancelled = py.import("asyncio")?.getattr("CancelledError")?;
            PyTuple::new(
                py,
                [
                    py.get_type::<PyKeyboardInterrupt>().into_any(),
                    py.get_type::<PyGeneratorExit>().into_any(),
                    cancelled,
                ],
            )
            .map(Bound::unbind)
        })
        .map(|t| t.bind(py))
}

/// The `ContextVar` holding the current job (None outside any job).
#[pyfunction]
pub fn current_job_var(py: Python<'_>) -> PyResult<Py<PyAny>> {
    Ok(context(py)?.var.clone_ref(py))
}

/// Called in every forked child (os.register_at_fork), before the child uses wafermon.
#[pyfunction]
pub fn forked() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
    IN_CHILD.store(true, Ordering::SeqCst);
}

/// Mark this process as a child (a multiprocessing child started by spawn or forkserver).
#[pyfunction]
pub fn set_in_child(value: bool) {
    IN_CHILD.store(value, Ordering::SeqCst);
}

#[pyfunction]
pub fn in_child() -> bool {
    IN_CHILD.load(Ordering::Relaxed)
}

#[pyfunction]
pub fn set_child_flush_timeout(seconds: f64) {
    CHILD_FLUSH_TIMEOUT.store(seconds.to_bits(), Ordering::Relaxed);
}

/// What `start` needs; taken when the job starts.
struct Spec {
    kind: Option<String>,
    key: Option<String>,
    id: Option<String>,
    parent: Option<Py<PyAny>>,
    attrs: Option<Py<PyAny>>,
}

#[derive(Default)]
struct State {
    spec: Option<Spec>,
    job: Option<wafermon::Job>,
    id: Option<Py<PyString>>,
    /// The current job when this one started.
    outer: Option<Py<PyAny>>,
    generation: u64,
    tokens: Vec<Py<PyAny>>,
}

/// A job: `started` when the block is entered, `finished` at its end, `failed` (with the
/// exception's type and message) when an exception leaves the block, `canceled` for
/// KeyboardInterrupt and asyncio.CancelledError.
///
///     with wafermon.job("etch", key="LOT42", attrs={"tool": "ETCH-01"}) as job:
///         job.progress(50, "slot 12 of 25")
///         job.metric("chamber_pressure_pa", 12.5)
///         job.log("warning", "pump slow to settle")
///         with wafermon.job("rinse") as rinse:   # parent: the etch job, kind "subjob"
///             ...
///
/// The ending carries CPU time (user, system; the process and its children), peak RSS
/// and duration, measured by the core. Without `with`: `job = wafermon.job("etch").start()`
/// and later `finish()`, `fail(message)` or `cancel(message)`; `release()` lets go without
/// an ending (recorded as canceled). `async with` works the same. A job pickles as a
/// `JobRef` (its id), so a process pool task can start subjobs under it.
///
/// Invalid values raise ValueError (`wafermon.InvalidEventError`) naming the field; calls
/// after the end raise `wafermon.ClosedError`.
#[pyclass(frozen, weakref, module = "wafermon", name = "Job")]
pub struct Job {
    client: Py<Client>,
    name: String,
    state: Mutex<State>,
}

fn ended_error(name: &str) -> Error {
    Error::new(ErrorKind::Closed, format!("job '{name}' has already ended"))
}

fn not_started(name: &str) -> PyErr {
    pyo3::exceptions::PyRuntimeError::new_err(format!(
        "job '{name}' has not started (use `with` or .start())"
    ))
}

fn level(py: Python<'_>, level: &Bound<'_, PyAny>) -> PyResult<Level> {
    if let Some(text) = convert::utf8(level) {
        let lower = text.to_ascii_lowercase();
        return Level::parse(&lower)
            .map_err(|m| Error::event("level", m))
            .py_err(py);
    }
    if level.is_instance_of::<PyInt>() && !level.is_instance_of::<PyBool>() {
        // The numbers of the logging module.
        let n: i64 = level.extract()?;
        return Ok(match n {
            n if n >= 50 => Level::Critical,
            n if n >= 40 => Level::Error,
            n if n >= 30 => Level::Warning,
            n if n >= 20 => Level::Info,
            _ => Level::Debug,
        });
    }
    Err(errors::to_py(
        py,
        Error::event(
            "level",
            "must be a level name (debug, info, warning, error, critical) or a logging level",
        ),
    ))
}

impl Job {
    #[inline]
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[inline]
    fn with<T>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&wafermon::Job) -> wafermon::Result<T>,
    ) -> PyResult<T> {
        let state = self.lock();
        match state.job.as_ref() {
            Some(job) => f(job).py_err(py),
            None if state.id.is_none() => Err(not_started(&self.name)),
            None => Err(errors::to_py(py, ended_error(&self.name))),
        }
    }

    /// Take the running job out (the caller ends it).
    fn take(&self, py: Python<'_>) -> PyResult<wafermon::Job> {
        let mut state = self.lock();
        match state.job.take() {
            Some(job) => Ok(job),
            None if state.id.is_none() => Err(not_started(&self.name)),
            None => Err(errors::to_py(py, ended_error(&self.name))),
        }
    }

    /// The id of a parent given as a job, a JobRef or an id.
    fn id_of(other: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
        if let Ok(job) = other.cast::<Job>() {
            let job = job.get();
            let id = job
                .lock()
                .id
                .as_ref()
                .map(|id| id.bind(other.py()).to_string());
            return id.map(Some).ok_or_else(|| not_started(&job.name));
        }
        if let Some(text) = convert::utf8(other) {
            return Ok(Some(text.to_owned()));
        }
        // A JobRef, or anything else with an `id`.
        Ok(Some(other.getattr("id")?.str()?.to_string()))
    }

    fn start_inner(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let ctx = context(py)?;
        let outer = ctx.get.bind(py).call0()?;
        let spec = {
            let mut state = this.lock();
            if state.id.is_some() {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                    "job '{}' has already started",
                    this.name
                )));
            }
            state.spec.take()
        };
        let Some(spec) = spec else {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "job '{}' is starting in another thread",
                this.name
            )));
        };
        let job = match Self::begin(this, py, &outer, &spec) {
            Ok(job) => job,
            Err(e) => {
                // The job has not started and may be tried again.
                this.lock().spec = Some(spec);
                return Err(e);
            }
        };
        let id = PyString::new(py, job.id()).unbind();
        let mut state = this.lock();
        state.job = Some(job);
        state.id = Some(id);
        state.outer = (!outer.is_none()).then(|| outer.unbind());
        state.generation = GENERATION.load(Ordering::Relaxed);
        Ok(())
    }

    /// Build and start the core's job (emits `started`).
    fn begin(
        &self,
        py: Python<'_>,
        outer: &Bound<'_, PyAny>,
        spec: &Spec,
    ) -> PyResult<wafermon::Job> {
        let parent_id = match &spec.parent {
            None if outer.is_none() => None,
            None => Self::id_of(outer)?,
            Some(p) => {
                let p = p.bind(py);
                if p.is_none() || p.is_instance_of::<PyBool>() {
                    None
                } else {
                    Self::id_of(p)?
                }
            }
        };
        // The core's rule: under a parent, a subjob unless the kind is given.
        let client = &self.client.get().inner;
        let mut builder = client.job_under(&self.name, parent_id.as_deref());
        if let Some(kind) = &spec.kind {
            builder = builder.kind(kind.as_str());
        }
        if let Some(key) = &spec.key {
            builder = builder.key(key.as_str());
        }
        if let Some(id) = &spec.id {
            builder = builder.id(id.as_str());
        }
        for (name, value) in convert::attrs(spec.attrs.as_ref().map(|a| a.bind(py))).py_err(py)? {
            builder = builder.attr(name, value);
        }
        builder.start().py_err(py)
    }

    /// A child process may leave through os._exit (multiprocessing does, and a pool worker
    /// may be terminated), so when its outermost job ends, its events go out at once.
    fn after_end(&self, py: Python<'_>) {
        if !IN_CHILD.load(Ordering::Relaxed) {
            return;
        }
        let generation = GENERATION.load(Ordering::Relaxed);
        let outer = self.lock().outer.as_ref().map(|o| o.clone_ref(py));
        let outermost = match outer {
            None => true,
            Some(o) => match o.bind(py).cast::<Job>() {
                Ok(o) => o.get().lock().generation != generation,
                Err(_) => true,
            },
        };
        if outermost {
            let t = timeout(f64::from_bits(CHILD_FLUSH_TIMEOUT.load(Ordering::Relaxed)));
            let client = self.client.get();
            // Timeouts and closed clients are not the application's problem here.
            let _ = py.detach(|| client.inner.flush(t));
        }
    }

    fn end(
        &self,
        py: Python<'_>,
        f: impl FnOnce(wafermon::Job) -> wafermon::Result<()>,
    ) -> PyResult<()> {
        let job = self.take(py)?;
        let result = f(job).py_err(py);
        self.after_end(py);
        result
    }
}

/// A job of `client`, not started yet.
pub fn new_job(
    client: Py<Client>,
    name: String,
    key: Option<String>,
    kind: Option<String>,
    attrs: Option<Py<PyAny>>,
    id: Option<String>,
    parent: Option<Py<PyAny>>,
) -> Job {
    Job {
        client,
        name,
        state: Mutex::new(State {
            spec: Some(Spec {
                kind,
                key,
                id,
                parent,
                attrs,
            }),
            ..State::default()
        }),
    }
}

fn describe(exc: &Bound<'_, PyAny>) -> String {
    let name = exc
        .get_type()
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    match exc.str() {
        Ok(text) if !text.is_empty().unwrap_or(true) => format!("{name}: {text}"),
        _ => name,
    }
}

#[pymethods]
impl Job {
    /// Emit `started`; returns the job itself.
    fn start<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        Self::start_inner(slf)?;
        Ok(slf.clone())
    }

    /// Start (unless started) and become the current job.
    fn __enter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        let py = slf.py();
        let started = slf.get().lock().id.is_some();
        if !started {
            Self::start_inner(slf)?;
        }
        let token = context(py)?.set.bind(py).call1((slf,))?;
        slf.get().lock().tokens.push(token.unbind());
        Ok(slf.clone())
    }

    /// Stop being the current job and end: `finished`, or `failed` / `canceled` with the
    /// exception's type and message. Never suppresses the exception.
    #[pyo3(signature = (_exc_type=None, exc=None, _tb=None))]
    fn __exit__(
        slf: &Bound<'_, Self>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let py = slf.py();
        let this = slf.get();
        let ctx = context(py)?;
        let (token, job) = {
            let mut state = this.lock();
            (state.tokens.pop(), state.job.take())
        };
        if let Some(token) = token {
            if ctx.reset.bind(py).call1((token,)).is_err() {
                // Left in another context than entered (a generator resumed elsewhere).
                let outer = this.lock().outer.as_ref().map(|o| o.clone_ref(py));
                ctx.set.bind(py).call1((outer,))?;
            }
        }
        let Some(job) = job else {
            return Ok(false); // ended inside the block
        };
        let exc = exc.filter(|e| !e.is_none());
        let result = match exc {
            None => job.finish(),
            Some(e) => {
                let message = describe(e);
                let clean_exit = e.is_instance_of::<PySystemExit>()
                    && e.getattr("code").is_ok_and(|c| {
                        c.is_none() || c.extract::<i64>().is_ok_and(|code| code == 0)
                    });
                if clean_exit {
                    job.finish()
                } else if e.is_instance(canceling(py)?.as_any())? {
                    job.cancel(&message)
                } else {
                    job.fail(&message)
                }
            }
        };
        this.after_end(py);
        match result {
            // An exception already on its way out is the news; a closed client is not.
            Err(e) if exc.is_none() => Err(errors::to_py(py, e)),
            _ => Ok(false),
        }
    }

    /// The entity id (children point to it as their parent).
    #[getter]
    fn id(&self, py: Python<'_>) -> PyResult<Py<PyString>> {
        match &self.lock().id {
            Some(id) => Ok(id.clone_ref(py)),
            None => Err(not_started(&self.name)),
        }
    }

    /// The job's name (`entity.name`).
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// True once `started` was emitted.
    #[getter]
    fn started(&self) -> bool {
        self.lock().id.is_some()
    }

    /// True once the job has finished, failed or been canceled.
    #[getter]
    fn ended(&self) -> bool {
        let state = self.lock();
        state.id.is_some() && state.job.is_none()
    }

    /// Progress in percent (0 to 100), optionally with a message ("slot 12 of 25").
    #[pyo3(signature = (percent, message=None))]
    fn progress(&self, py: Python<'_>, percent: f64, message: Option<&str>) -> PyResult<()> {
        self.with(py, |j| match message {
            Some(m) => j.progress_with(percent, m),
            None => j.progress(percent),
        })
    }

    /// One named measurement: `job.metric("chamber_pressure_pa", 12.5)`.
    fn metric(&self, py: Python<'_>, name: &str, value: f64) -> PyResult<()> {
        self.with(py, |j| j.metric(name, value))
    }

    /// A log line of this job; `level` is a name (debug, info, warning, error,
    /// critical) or a `logging` level number.
    fn log(&self, py: Python<'_>, level_: &Bound<'_, PyAny>, message: &str) -> PyResult<()> {
        let level = level(py, level_)?;
        self.with(py, |j| j.log(level, message))
    }

    /// A sign of life (for long steps without progress to report).
    fn heartbeat(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, |j| j.heartbeat())
    }

    /// End successfully.
    fn finish(&self, py: Python<'_>) -> PyResult<()> {
        self.end(py, |j| j.finish())
    }

    /// End as failed, saying why.
    fn fail(&self, py: Python<'_>, message: &str) -> PyResult<()> {
        self.end(py, |j| j.fail(message))
    }

    /// End as canceled, saying why.
    fn cancel(&self, py: Python<'_>, message: &str) -> PyResult<()> {
        self.end(py, |j| j.cancel(message))
    }

    /// A child job (entity kind "subjob" unless `kind` says otherwise), on the same client;
    /// use it with `with` or call `start()`. This job must have started.
    #[pyo3(signature = (name, *, key=None, kind=None, attrs=None, id=None))]
    fn subjob(
        &self,
        py: Python<'_>,
        name: String,
        key: Option<String>,
        kind: Option<String>,
        attrs: Option<Py<PyAny>>,
        id: Option<String>,
    ) -> PyResult<Job> {
        let parent = self.id(py)?.into_any();
        Ok(new_job(
            self.client.clone_ref(py),
            name,
            key,
            Some(kind.unwrap_or_else(|| "subjob".into())),
            attrs,
            id,
            Some(parent),
        ))
    }

    /// This job by id, as a `wafermon.JobRef` (what a job becomes when pickled).
    #[pyo3(name = "ref")]
    fn job_ref<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (cls, args) = self.__reduce__(py)?;
        cls.bind(py).call1(args.bind(py))
    }

    fn __reduce__(&self, py: Python<'_>) -> PyResult<(Py<PyAny>, Py<PyTuple>)> {
        let id = self.id(py)?;
        let config = self.client.get().config_json.clone();
        let args = (id, self.name.clone(), config).into_pyobject(py)?.unbind();
        Ok((helpers(py)?.job_ref.clone_ref(py), args))
    }

    fn __repr__(&self) -> String {
        let state = self.lock();
        let what = match (&state.id, &state.job) {
            (None, _) => "not started",
            (Some(_), Some(_)) => "running",
            (Some(_), None) => "ended",
        };
        format!("<wafermon.Job '{}' {what}>", self.name)
    }

    fn __aenter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let job = Self::__enter__(slf)?;
        helpers(py)?.ready.bind(py).call1((job,))
    }

    #[pyo3(signature = (exc_type=None, exc=None, tb=None))]
    fn __aexit__<'py>(
        slf: &Bound<'py, Self>,
        exc_type: Option<&Bound<'py, PyAny>>,
        exc: Option<&Bound<'py, PyAny>>,
        tb: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let suppress = Self::__exit__(slf, exc_type, exc, tb)?;
        helpers(py)?.ready.bind(py).call1((suppress,))
    }

    /// Let go of the job without an ending: the core records it as canceled ("dropped
    /// without finish"). Does nothing if it has not started or has already ended.
    fn release(&self) {
        let job = self.lock().job.take();
        drop(job);
    }
}
