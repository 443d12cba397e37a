//! `wm_job`: jobs and subjobs, `started` to `finished` / `failed` / `canceled`. A `wm_job`
//! is a job of the core's handle table (`wafermon::skin::JobHandle`), so C and Perl get the
//! same states, errors and endings as every other skin; this file only reads C arguments.

use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use serde_json::{Map, Value};
use wafermon_core::skin::{JobHandle, Parent};
use wafermon_core::{Error, Level, Scalar};

use crate::args;
use crate::client::wm_client;
use crate::error::{guard, wm_status, FfiError, FfiResult};
use crate::handle::{self, register};

/// A job or subjob (opaque). Started by `wm_job_start` / `wm_job_start_sub`, or prepared by
/// `wm_job_new` / `wm_job_new_sub`, given its kind, key, id and attributes, and started by
/// `wm_job_begin`. End it with `wm_job_finish`, `wm_job_fail` or `wm_job_cancel`, then free
/// it with `wm_job_free`.
pub struct wm_job {
    job: JobHandle,
    /// The entity id, NUL-terminated for `wm_job_id`; set when the job starts.
    id: OnceLock<CString>,
}

impl wm_job {
    fn new(job: JobHandle) -> wm_job {
        wm_job {
            job,
            id: OnceLock::new(),
        }
    }

    /// Start (emit `started`) and remember the id.
    fn begin(&self) -> FfiResult {
        self.job.start()?;
        let id = self.job.id()?.replace('\0', "");
        let _ = self.id.set(CString::new(id).unwrap_or_default());
        Ok(())
    }
}

impl Drop for wm_job {
    /// The last reference (after `wm_job_free` and any call still running) frees the slot;
    /// a running job records `canceled` ("dropped without finish").
    fn drop(&mut self) {
        self.job.release();
    }
}

/// Run `f` on the core job behind the argument `arg`.
fn with_job(job: *const wm_job, arg: &str, f: impl FnOnce(JobHandle) -> FfiResult) -> FfiResult {
    let handle = handle::get(job, arg)?;
    f(handle.job)
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

fn attrs(job: JobHandle, value: Value) -> FfiResult {
    let map: Map<String, Value> = match value {
        Value::Null => return Ok(()),
        Value::Object(map) => map,
        other => {
            return Err(FfiError::Argument(format!(
                "options_json.attrs must be an object of name -> scalar, got {other}"
            )))
        }
    };
    for (name, value) in map {
        let value = scalar(&name, value)?;
        job.attr(&name, value)?;
    }
    Ok(())
}

/// Apply `{"kind", "id", "key", "attrs"}` (every key optional) to a prepared job.
fn options(job: JobHandle, json: Option<&str>) -> FfiResult {
    let Some(json) = json else {
        return Ok(());
    };
    let object = match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(object)) => object,
        Ok(Value::Null) => return Ok(()),
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
        match key.as_str() {
            "kind" => option_text(value, "kind")?.map_or(Ok(()), |k| job.set_kind(&k))?,
            "id" => option_text(value, "id")?.map_or(Ok(()), |k| job.set_id(&k))?,
            "key" => option_text(value, "key")?.map_or(Ok(()), |k| job.set_key(&k))?,
            "attrs" => attrs(job, value)?,
            other => {
                return Err(FfiError::Argument(format!(
                    "options_json has an unknown key '{other}' (expected kind, id, key, attrs)"
                )))
            }
        }
    }
    Ok(())
}

/// Start a job named `name` and emit `started`. `options_json` is NULL or a JSON object
/// with any of "kind" (entity kind, default "job": lot, wafer, step, ...), "id" (default a
/// new UUIDv7), "key" (business key, e.g. the lot number) and "attrs" (name -> string,
/// number or boolean, carried by the `started` event). Without JSON: `wm_job_new`.
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
        // Dropped on any error below: the prepared job is released again.
        let job = wm_job::new(JobHandle::prepare(&client.client, name, Parent::Root)?);
        options(job.job, json)?;
        job.begin()?;
        *out = register(job);
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
        let parent = handle::get(parent, "parent")?;
        // SAFETY: the ABI contract of this crate (see lib.rs).
        let (name, json) = unsafe {
            (
                args::text(name, "name")?,
                args::optional_text(options_json, "options_json")?,
            )
        };
        let job = wm_job::new(parent.job.prepare_sub(name)?);
        options(job.job, json)?;
        job.begin()?;
        *out = register(job);
        Ok(())
    })
}

/// A job named `name`, prepared but not started: nothing is emitted until `wm_job_begin`.
/// Before that, `wm_job_set_kind`, `wm_job_set_key`, `wm_job_set_id` and `wm_job_attr_*`
/// apply (no JSON on the way). Free it with `wm_job_free` (a job never begun records
/// nothing).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_new(
    client: *mut wm_client,
    name: *const c_char,
    out: *mut *mut wm_job,
) -> wm_status {
    guard("wm_job_new", || {
        // SAFETY: the ABI contract of this crate (see lib.rs).
        let (out, name) = unsafe { (args::out(out, "out")?, args::text(name, "name")?) };
        let client = handle::get(client, "client")?;
        let job = JobHandle::prepare(&client.client, name, Parent::Root)?;
        *out = register(wm_job::new(job));
        Ok(())
    })
}

/// A subjob of `parent` (which must have begun and not ended), prepared as by `wm_job_new`.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_new_sub(
    parent: *mut wm_job,
    name: *const c_char,
    out: *mut *mut wm_job,
) -> wm_status {
    guard("wm_job_new_sub", || {
        // SAFETY: the ABI contract of this crate (see lib.rs).
        let (out, name) = unsafe { (args::out(out, "out")?, args::text(name, "name")?) };
        let parent = handle::get(parent, "parent")?;
        let job = parent.job.prepare_sub(name)?;
        *out = register(wm_job::new(job));
        Ok(())
    })
}

/// A text setting of a prepared job.
///
/// # Safety
/// `value` is NULL or a NUL-terminated string (the ABI contract, see lib.rs).
unsafe fn set_text(
    job: *mut wm_job,
    value: *const c_char,
    set: fn(JobHandle, &str) -> wafermon_core::Result<()>,
) -> FfiResult {
    with_job(job, "job", |j| {
        // SAFETY: guaranteed by the caller.
        let value = unsafe { args::text(value, "value")? };
        Ok(set(j, value)?)
    })
}

/// Entity kind of a prepared job (default "job", "subjob" for `wm_job_new_sub`).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_set_kind(job: *mut wm_job, value: *const c_char) -> wm_status {
    // SAFETY: the ABI contract of this crate (see lib.rs).
    guard("wm_job_set_kind", || unsafe {
        set_text(job, value, JobHandle::set_kind)
    })
}

/// Business key of a prepared job (the lot number, ...).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_set_key(job: *mut wm_job, value: *const c_char) -> wm_status {
    // SAFETY: the ABI contract of this crate (see lib.rs).
    guard("wm_job_set_key", || unsafe {
        set_text(job, value, JobHandle::set_key)
    })
}

/// Entity id of a prepared job (default: a new UUIDv7).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_set_id(job: *mut wm_job, value: *const c_char) -> wm_status {
    // SAFETY: the ABI contract of this crate (see lib.rs).
    guard("wm_job_set_id", || unsafe {
        set_text(job, value, JobHandle::set_id)
    })
}

/// An attribute of the `started` event of a prepared job.
///
/// # Safety
/// `name` is NULL or a NUL-terminated string (the ABI contract, see lib.rs).
unsafe fn attr(
    job: *mut wm_job,
    name: *const c_char,
    value: impl FnOnce() -> FfiResult<Scalar>,
) -> FfiResult {
    with_job(job, "job", |j| {
        // SAFETY: guaranteed by the caller.
        let name = unsafe { args::text(name, "name")? };
        Ok(j.attr(name, value()?)?)
    })
}

/// A string attribute (`value` UTF-8, at most 4,096 characters).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_attr_string(
    job: *mut wm_job,
    name: *const c_char,
    value: *const c_char,
) -> wm_status {
    guard("wm_job_attr_string", || {
        // SAFETY: the ABI contract of this crate (see lib.rs).
        unsafe {
            attr(job, name, || {
                Ok(Scalar::Str(args::text(value, "value")?.to_string()))
            })
        }
    })
}

/// An integer attribute.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_attr_int(
    job: *mut wm_job,
    name: *const c_char,
    value: i64,
) -> wm_status {
    // SAFETY: the ABI contract of this crate (see lib.rs).
    guard("wm_job_attr_int", || unsafe {
        attr(job, name, || Ok(Scalar::Int(value)))
    })
}

/// A number attribute (finite).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_attr_double(
    job: *mut wm_job,
    name: *const c_char,
    value: f64,
) -> wm_status {
    // SAFETY: the ABI contract of this crate (see lib.rs).
    guard("wm_job_attr_double", || unsafe {
        attr(job, name, || Ok(Scalar::Float(value)))
    })
}

/// A boolean attribute (0 is false, anything else true).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_attr_bool(
    job: *mut wm_job,
    name: *const c_char,
    value: i32,
) -> wm_status {
    // SAFETY: the ABI contract of this crate (see lib.rs).
    guard("wm_job_attr_bool", || unsafe {
        attr(job, name, || Ok(Scalar::Bool(value != 0)))
    })
}

/// Start a prepared job: emit `started` with its kind, key, id and attributes. An invalid
/// value (WM_ERR_INVALID_EVENT naming it) leaves the job prepared.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_begin(job: *mut wm_job) -> wm_status {
    guard("wm_job_begin", || handle::get(job, "job")?.begin())
}

/// The job's entity id (what subjobs point to). `*out` stays valid until the job is freed.
/// A job prepared by `wm_job_new` has one once `wm_job_begin` succeeded.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_id(job: *const wm_job, out: *mut *const c_char) -> wm_status {
    guard("wm_job_id", || {
        // SAFETY: the ABI contract of this crate (see lib.rs).
        let out = unsafe { args::out_const(out, "out")? };
        let job = handle::get(job, "job")?;
        let Some(id) = job.id.get() else {
            return Err(job
                .job
                .id()
                .err()
                .unwrap_or_else(|| {
                    Error::new(
                        wafermon_core::ErrorKind::InvalidArgument,
                        "the job has not begun",
                    )
                })
                .into());
        };
        // The registry keeps the job (and so this string) alive until wm_job_free.
        *out = id.as_ptr();
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
            Ok(j.progress(percent, message)?)
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
    ending: fn(JobHandle, &str) -> wafermon_core::Result<()>,
) -> FfiResult {
    with_job(job, "job", |j| {
        // SAFETY: guaranteed by the caller.
        let message = unsafe { args::text(message, "message")? };
        Ok(ending(j, message)?)
    })
}

/// End the job successfully (`finished`, with CPU, memory and duration metrics).
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_finish(job: *mut wm_job) -> wm_status {
    guard("wm_job_finish", || {
        with_job(job, "job", |j| Ok(j.finish()?))
    })
}

/// End the job as failed, saying why.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_fail(job: *mut wm_job, message: *const c_char) -> wm_status {
    // SAFETY: the ABI contract of this crate (see lib.rs).
    guard("wm_job_fail", || unsafe {
        end_with_reason(job, message, JobHandle::fail)
    })
}

/// End the job as canceled, saying why.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_cancel(job: *mut wm_job, message: *const c_char) -> wm_status {
    // SAFETY: the ABI contract of this crate (see lib.rs).
    guard("wm_job_cancel", || unsafe {
        end_with_reason(job, message, JobHandle::cancel)
    })
}

/// Free a job. A job freed without an ending records `canceled` ("dropped without
/// finish"); one never begun records nothing, and neither does a job that a forked child
/// inherited from its parent (the parent ends it). NULL is accepted.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_job_free(job: *mut wm_job) -> wm_status {
    guard("wm_job_free", || {
        // The last reference releases the core's job (wm_job's Drop).
        drop(handle::release(job, "job")?);
        Ok(())
    })
}
