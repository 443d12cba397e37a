//! The job calls an application makes in its loops, as raw `extern "system"` functions:
//! primitives and UTF-8 `byte[]`s in, nothing out but a `long` or an exception. Each
//! catches panics; errors are thrown by `throw` on the cold path.
//!
//! Job handles are the core's (`wafermon::skin::JobHandle`): a stale or released one is an
//! error, never undefined behaviour, so a Java `Job` may be used from any thread and after
//! its end.

// The JVM hands every native method a valid JNIEnv for its thread; these functions are only
// ever called by it, so taking raw pointers in a safe signature is the JNI convention.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use jni::sys::{jboolean, jbyteArray, jclass, jdouble, jint, jlong, JNIEnv};
use wafermon::event::Level;
use wafermon::skin::{JobAttrs, JobHandle, JobSpec, Parent};
use wafermon::{Client, ErrorKind, Result};

use crate::bytes::{invalid, with_bytes, with_optional_text, with_text};
use crate::spec::{Field, Fields};
use crate::throw::{throw_panic, throw_raw};

/// Run `f`; an error or a panic is thrown into Java and `T::default()` returned.
#[inline(always)]
fn guard<T: Default>(env: *mut JNIEnv, f: impl FnOnce() -> Result<T>) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => value,
        Ok(Err(e)) => {
            throw_raw(env, &e);
            T::default()
        }
        Err(payload) => {
            throw_panic(env, payload);
            T::default()
        }
    }
}

fn job(raw: jlong) -> JobHandle {
    JobHandle::from_raw(raw as u64)
}

/// The client behind a `Client`'s native pointer (see `client::Java_io_wafermon_Native_clientNew`).
pub(crate) fn client<'a>(ptr: jlong) -> Result<&'a Client> {
    // SAFETY: the pointer is a `Box<Client>` leaked by `clientNew` and freed only by
    // `clientFree`, which the Java `Client` calls once, from its Cleaner, when nothing can
    // use it any more.
    unsafe { (ptr as *const Client).as_ref() }.ok_or_else(|| invalid("client", "is null"))
}

const LEVELS: [Level; 5] = [
    Level::Debug,
    Level::Info,
    Level::Warning,
    Level::Error,
    Level::Critical,
];

/// `long jobStart(long client, long parentJob, byte[] spec, int len)`: prepare, describe
/// and start a job in one call; returns its handle. `parentJob` 0: no parent job (the spec
/// may name a parent id). A job that fails to start is released.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_jobStart(
    env: *mut JNIEnv,
    _class: jclass,
    client_ptr: jlong,
    parent: jlong,
    spec: jbyteArray,
    len: jint,
) -> jlong {
    guard(env, || {
        let client = client(client_ptr)?;
        // SAFETY: the JVM's arguments of this call.
        unsafe { with_bytes(env, spec, len, "spec", |bytes| start(client, parent, bytes)) }
    })
}

fn start(client: &Client, parent: jlong, bytes: &[u8]) -> Result<jlong> {
    with_scratch_attrs(|attrs| {
        let mut name = None;
        let mut parent_id = None;
        let mut kind = None;
        let mut key = None;
        let mut id = None;
        for field in Fields::new(bytes) {
            match field? {
                Field::Name(n) => name = Some(n),
                Field::Parent(p) => parent_id = Some(p),
                Field::Kind(k) => kind = Some(k),
                Field::Key(k) => key = Some(k),
                Field::Id(i) => id = Some(i),
                Field::Attr(n, value) => attrs.push(n, value),
            }
        }
        let parent = match (parent, parent_id) {
            (0, None) => Parent::Root,
            (0, Some(id)) => Parent::Id(id),
            (handle, _) => Parent::Job(job(handle)),
        };
        let spec = JobSpec {
            name: name.ok_or_else(|| invalid("spec", "has no name"))?,
            kind,
            id,
            key,
            attrs,
        };
        Ok(JobHandle::start_spec(client, parent, &spec)?.raw() as jlong)
    })
}

thread_local! {
    /// A buffer for the attributes of the job this thread is starting, kept between jobs.
    static ATTRS: Cell<JobAttrs> = Cell::new(JobAttrs::new());
}

fn with_scratch_attrs<T>(f: impl FnOnce(&mut JobAttrs) -> T) -> T {
    // Taken out while in use: a thread in its teardown, or a reentrant call, gets a new one.
    let mut attrs = ATTRS.try_with(Cell::take).unwrap_or_default();
    attrs.clear();
    let out = f(&mut attrs);
    let _ = ATTRS.try_with(|cell| cell.set(attrs));
    out
}

/// `void jobProgress(long job, double percent, byte[] message, int len)`; `message` may be null.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_jobProgress(
    env: *mut JNIEnv,
    _class: jclass,
    handle: jlong,
    percent: jdouble,
    message: jbyteArray,
    len: jint,
) {
    guard(env, || {
        // SAFETY: the JVM's arguments of this call.
        unsafe {
            with_optional_text(env, message, len, "message", |m| {
                job(handle).progress(percent, m)
            })
        }
    })
}

/// `void jobMetric(long job, byte[] name, int len, double value)`.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_jobMetric(
    env: *mut JNIEnv,
    _class: jclass,
    handle: jlong,
    name: jbyteArray,
    len: jint,
    value: jdouble,
) {
    guard(env, || {
        // SAFETY: the JVM's arguments of this call.
        unsafe { with_text(env, name, len, "name", |n| job(handle).metric(n, value)) }
    })
}

/// `void jobLog(long job, int level, byte[] message, int len)`; `level` indexes debug, info,
/// warning, error, critical (`io.wafermon.Level`'s order).
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_jobLog(
    env: *mut JNIEnv,
    _class: jclass,
    handle: jlong,
    level: jint,
    message: jbyteArray,
    len: jint,
) {
    guard(env, || {
        let level = usize::try_from(level)
            .ok()
            .and_then(|i| LEVELS.get(i).copied())
            .ok_or_else(|| invalid("level", "is not a level"))?;
        // SAFETY: the JVM's arguments of this call.
        unsafe { with_text(env, message, len, "message", |m| job(handle).log(level, m)) }
    })
}

/// `void jobHeartbeat(long job)`.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_jobHeartbeat(
    env: *mut JNIEnv,
    _class: jclass,
    handle: jlong,
) {
    guard(env, || job(handle).heartbeat())
}

/// `void jobEnd(long job, int how, byte[] message, int len)`: `how` 0 finish, 1 fail,
/// 2 cancel (the message is for fail and cancel).
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_jobEnd(
    env: *mut JNIEnv,
    _class: jclass,
    handle: jlong,
    how: jint,
    message: jbyteArray,
    len: jint,
) {
    guard(env, || {
        let job = job(handle);
        if how == 0 {
            return job.finish();
        }
        // SAFETY: the JVM's arguments of this call.
        unsafe {
            with_text(env, message, len, "message", |m| match how {
                1 => job.fail(m),
                2 => job.cancel(m),
                _ => Err(invalid("how", "is not an ending")),
            })
        }
    })
}

/// `boolean jobRelease(long job)`: the core's `JobHandle::release`: a job still running
/// records `canceled` ("dropped without finish"), and the handle is stale afterwards. The
/// Java API ends jobs instead (`close`, the Cleaner's `jobAbandon`); the conformance
/// vectors' `drop` step uses this. Returns false for a handle that was not live.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_jobRelease(
    env: *mut JNIEnv,
    _class: jclass,
    handle: jlong,
) -> jboolean {
    guard(env, || Ok(job(handle).release()))
}

/// Cancel `job` if it is still running; whether it was.
fn cancel_open(job: JobHandle, message: &str) -> Result<bool> {
    match job.cancel(message) {
        Ok(()) => Ok(true),
        // Ended already (closed), or never started / released (invalid argument): nothing
        // is left to record.
        Err(e) if matches!(e.kind(), ErrorKind::Closed | ErrorKind::InvalidArgument) => Ok(false),
        Err(e) => Err(e),
    }
}

/// `void jobAbandon(long job)`: what a `Job`'s Cleaner does when the `Job` was collected
/// without `close`: cancel it ("never closed") if it still runs, and release the handle.
/// Never throws (a Cleaner action must not); a failure to record is the core's to count.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_jobAbandon(
    _env: *mut JNIEnv,
    _class: jclass,
    handle: jlong,
) {
    let _ = catch_unwind(|| {
        let job = job(handle);
        // Most jobs were closed: asking first spares the Cleaner thread an error per job.
        if job.is_ended() == Ok(false) {
            let _ = cancel_open(job, "never closed");
        }
        job.release();
    });
}
