//! `wm_job`: jobs and subjobs, `started` to `finished` / `failed` / `canceled`.

use std::ffi::{c_char, CString};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{Map, Value};
use wafermon_core::{Error, Job, JobBuilder, Level, Scalar};

use crate::args;
use crate::client::wm_client;
use crate::error::{guard, wm_status, FfiError, FfiResult};
use crate::handle::{self, register};

/// A job or subjob (opaque). End it with `wm_job_finish`, `wm_job_fail` or `wm_job_cancel`,
/// then free it with `wm_job_free`.
pub struct wm_job {
    id: CString,
    name: String,
    slot: Mutex<Slot>,
}

struct Slot {
    /// `None` once an ending was called.
    job: Option<Job>,
    /// How it ended, for the error of later calls.
    ended: &'static str,
}

impl wm_job {
    fn new(job: Job) -> wm_job {
        let id = job.id().replace('\0', "");
        wm_job {
            id: CString::new(id).unwrap_or_default(),
            name: job.entity().name.clone().unwrap_or_default(),
            slot: Mutex::new(Slot {
                job: Some(job),
                ended: "",
            }),
        }
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn ended_error(&self, how: &str) -> FfiError {
        FfiError::JobEnded(format!(
            "job '{}' (id {}) has already {how}; after finish, fail or cancel a job only \
             accepts wm_job_id and wm_job_free",
            self.name,
            self.id.to_string_lossy()
        ))
    }
}

/// Run `f` on the job behind the argument `arg` if it has not ended.
fn with_job(job: *const wm_job, arg: &str, f: impl FnOnce(&Job) -> FfiResult) -> FfiResult {
    let handle = handle::get(job, arg)?;
    let slot = handle.slot();
    match &slot.job {
        Some(j) => f(j),
        None => Err(handle.ended_error(slot.ended)),
    }
}

enum Ending<'a> {
    Finish,
    Fail(&'a str),
    Cancel(&'a str),
}

fn end(job: *const wm_job, ending: Ending<'_>) -> FfiResult {
    let handle = handle::get(job, "job")?;
    let mut slot = handle.slot();
    let Some(j) = slot.job.take() else {
        return Err(handle.ended_error(slot.ended));
    };
    let (result, how) = match ending {
        Ending::Finish => (j.finish(), "finished"),
        Ending::Fail(m) => (j.fail(m), "failed"),
        Ending::Cancel(m) => (j.cancel(m), "been canceled"),
    };
    // The core's endings consume the job whether or not they succeed.
    slot.ended = if result.is_ok() {
        how
    } else {
        "ended (its ending call failed)"
    };
    Ok(result?)
}

fn option_text(value: Value, key: &str) -> FfiResult<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(FfiError::Argument(format!(
            "options_json.{key} must be a string, got {other}"
        ))),
    }
}

fn scalar(name: &str, value: Value) -> FfiResult<Scalar> {
    Scalar::from_json(&value).ok_or_else(|| {
        Error::event(
            format!("attrs.{name}"),
            "must be a string, number or boolean",
        )
        .into()
    })
}

fn attrs(mut builder: JobBuilder, value: Value) -> FfiResult<JobBuilder> {
    let map: Map<String, Value> = match value {
        Value::Null => return Ok(builder),
        Value::Object(map) => map,
        other => {
            return Err(FfiError::Argument(format!(
                "options_json.attrs must be an object of name -> scalar, got {other}"
            )))
        }
    };
    for (name, value) in map {
        let value = scalar(&name, value)?;
        builder = builder.attr(name, value);
    }
    Ok(builder)
}

/// Apply `{"kind", "id", "key", "attrs"}` (every key optional) to a builder.
fn options(mut builder: JobBuilder, json: Option<&str>) -> FfiResult<JobBuilder> {
    let Some(json) = json else {
        return Ok(builder);
    };
    let object = match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(object)) => object,
        Ok(Value::Null) => return Ok(builder),
        Ok(other) => {
            return Err(FfiError::Argument(format!(
                "options_json must be a JSON object or null, got {other}"
            )))
        }
        Err(e) => {
            return Err(FfiError::Argument(format!(
                "options_json is not valid JSON: {e}"
            )))
        }
    };
    for (key, value) in object {
        builder = match key.as_str() {
            "kind" => match option_text(value, "kind")? {
                Some(kind) => builder.kind(kind),
                None => builder,
            },
            "id" => match option_text(value, "id")? {
                Some(id) => builder.id(id),
                None => builder,
            },
            "key" => match option_text(value, "key")? {
                Some(k) => builder.key(k),
                None => builder,
            },
            "attrs" => attrs(builder, value)?,
            other => {
                return Err(FfiError::Argument(format!(
                    "options_json has an unknown key '{other}' (expected kind, id, key, attrs)"
                )))
            }
        };
    }
    Ok(builder)
}

/// Start a job named `name` and emit `started`. `options_json` is NULL or a JSON object
/// with any of "kind" (entity kind, default "job": lot, wafer, step, ...), "id" (default a
/// new UUIDv7), "key" (business key, e.g. the lot number) and "attrs" (name -> string,
/// number or boolean, carried by the `started` event).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_start(
    client: *mut wm_client,
    name: *const c_char,
    options_json: *const c_char,
    out: *mut *mut wm_job,
) -> wm_status {
    guard("wm_job_start", || {
        // SAFETY: the ABI contract of this crate (see lib.rs).
        let out = unsafe { args::out(out, "out")? };
        let client = handle::get(client, "client")?;
        // SAFETY: the ABI contract of this crate (see lib.rs).
        let (name, json) = unsafe {
            (
                args::text(name, "name")?,
                args::optional_text(options_json, "options_json")?,
            )
        };
        let job = options(client.client.job(name), json)?.start()?;
        *out = register(wm_job::new(job));
        Ok(())
    })
}

/// Start a subjob of `parent` (entity kind "subjob" unless options say otherwise, linked to
/// the parent's id). Options as for `wm_job_start`. The parent must not have ended.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_start_sub(
    parent: *mut wm_job,
    name: *const c_char,
    options_json: *const c_char,
    out: *mut *mut wm_job,
) -> wm_status {
    guard("wm_job_start_sub", || {
        // SAFETY: the ABI contract of this crate (see lib.rs).
        let out = unsafe { args::out(out, "out")? };
        let mut child = None;
        with_job(parent, "parent", |p| {
            // SAFETY: the ABI contract of this crate (see lib.rs).
            let (name, json) = unsafe {
                (
                    args::text(name, "name")?,
                    args::optional_text(options_json, "options_json")?,
                )
            };
            child = Some(options(p.subjob(name), json)?.start()?);
            Ok(())
        })?;
        if let Some(child) = child {
            *out = register(wm_job::new(child));
        }
        Ok(())
    })
}

/// The job's entity id (what subjobs point to). `*out` stays valid until the job is freed.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_id(job: *const wm_job, out: *mut *const c_char) -> wm_status {
    guard("wm_job_id", || {
        // SAFETY: the ABI contract of this crate (see lib.rs).
        let out = unsafe { args::out_const(out, "out")? };
        let job = handle::get(job, "job")?;
        // The registry keeps the job (and so this string) alive until wm_job_free.
        *out = job.id.as_ptr();
        Ok(())
    })
}

/// Report progress in percent (0 to 100), with an optional message (NULL for none).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_progress(
    job: *mut wm_job,
    percent: f64,
    message: *const c_char,
) -> wm_status {
    guard("wm_job_progress", || {
        with_job(job, "job", |j| {
            // SAFETY: the ABI contract of this crate (see lib.rs).
            let message = unsafe { args::optional_text(message, "message")? };
            match message {
                Some(m) => j.progress_with(percent, m)?,
                None => j.progress(percent)?,
            }
            Ok(())
        })
    })
}

/// Record one named measurement (a finite number).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_metric(
    job: *mut wm_job,
    name: *const c_char,
    value: f64,
) -> wm_status {
    guard("wm_job_metric", || {
        with_job(job, "job", |j| {
            // SAFETY: the ABI contract of this crate (see lib.rs).
            let name = unsafe { args::text(name, "name")? };
            Ok(j.metric(name, value)?)
        })
    })
}

/// Log a message at `level`: "debug", "info", "warning", "error" or "critical".
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_log(
    job: *mut wm_job,
    level: *const c_char,
    message: *const c_char,
) -> wm_status {
    guard("wm_job_log", || {
        with_job(job, "job", |j| {
            // SAFETY: the ABI contract of this crate (see lib.rs).
            let (level, message) =
                unsafe { (args::text(level, "level")?, args::text(message, "message")?) };
            let level = Level::parse(level).map_err(|m| Error::event("level", m))?;
            Ok(j.log(level, message)?)
        })
    })
}

/// An ending that carries a reason; the handle is checked before the message.
///
/// # Safety
/// `message` is NULL or a NUL-terminated string (the ABI contract, see lib.rs).
unsafe fn end_with_reason(
    job: *mut wm_job,
    message: *const c_char,
    ending: fn(&str) -> Ending<'_>,
) -> FfiResult {
    handle::get(job, "job")?;
    // SAFETY: guaranteed by the caller.
    let message = unsafe { args::text(message, "message")? };
    end(job, ending(message))
}

/// End the job successfully (`finished`, with CPU, memory and duration metrics).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_finish(job: *mut wm_job) -> wm_status {
    guard("wm_job_finish", || end(job, Ending::Finish))
}

/// End the job as failed, saying why.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_fail(job: *mut wm_job, message: *const c_char) -> wm_status {
    // SAFETY: the ABI contract of this crate (see lib.rs).
    guard("wm_job_fail", || unsafe {
        end_with_reason(job, message, |m| Ending::Fail(m))
    })
}

/// End the job as canceled, saying why.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_cancel(job: *mut wm_job, message: *const c_char) -> wm_status {
    // SAFETY: the ABI contract of this crate (see lib.rs).
    guard("wm_job_cancel", || unsafe {
        end_with_reason(job, message, |m| Ending::Cancel(m))
    })
}

/// Free a job. A job freed without an ending records `canceled` ("dropped without
/// finish"). NULL is accepted.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_free(job: *mut wm_job) -> wm_status {
    guard("wm_job_free", || {
        if let Some(handle) = handle::release(job, "job")? {
            let unended = handle.slot().job.take();
            drop(unended); // the core's Drop records `canceled`
        }
        Ok(())
    })
}
