//! Clients, configuration checks and the exit hook: cold entry points through jni's
//! `with_env`, which catches panics.

use std::time::Duration;

use jni::objects::{JClass, JObject, JObjectArray, JString};
use jni::sys::{jboolean, jint, jlong};
use jni::{jni_str, Env, EnvUnowned};
use serde_json::Value;
use wafermon::skin::{exit, names};
use wafermon::{Client, Config, Error, ErrorKind, Stats};

use crate::hot::client;
use crate::throw::{cold, Fail};

fn text(env: &Env<'_>, s: &JString<'_>, what: &str) -> Result<String, Fail> {
    if s.is_null() {
        return Err(Error::new(ErrorKind::InvalidArgument, format!("{what} is null")).into());
    }
    Ok(s.try_to_string(env)?)
}

fn optional_text(env: &Env<'_>, s: &JString<'_>) -> Result<Option<String>, Fail> {
    if s.is_null() {
        return Ok(None);
    }
    Ok(Some(s.try_to_string(env)?))
}

fn millis(ms: jlong) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

/// Where a configuration comes from (`io.wafermon.Config`'s sources).
fn config(source: jint, text: Option<String>) -> Result<Config, Error> {
    let parse = |text: Option<String>| -> Result<Value, Error> {
        let text = text.ok_or_else(|| Error::config("", "no configuration text"))?;
        serde_json::from_str(&text).map_err(|e| Error::config("", format!("malformed JSON: {e}")))
    };
    match source {
        // A JSON object on top of the WAFERMON_CONFIG file, WAFERMON_* and the defaults.
        0 => Config::load(Some(parse(text)?)),
        // The environment (WAFERMON_CONFIG, WAFERMON_*) and the defaults.
        1 => Config::from_env(),
        // Exactly this JSON object on top of the defaults (the conformance vectors).
        2 => Config::from_value(parse(text)?),
        _ => Err(Error::new(
            ErrorKind::InvalidArgument,
            "unknown config source",
        )),
    }
}

/// `String coreVersion()`.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_coreVersion<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
) -> JString<'l> {
    cold(&mut env, |env| Ok(env.new_string(wafermon::VERSION)?))
}

/// `String[] errorKinds()`: every core error kind's name, for the table's test.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_errorKinds<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
) -> JObjectArray<'l> {
    cold(&mut env, |env| {
        let names: Vec<Option<&str>> = ErrorKind::ALL.iter().map(|k| Some(k.as_str())).collect();
        strings(env, &names)
    })
}

pub(crate) fn strings<'l, S: AsRef<str>>(
    env: &mut Env<'l>,
    items: &[Option<S>],
) -> Result<JObjectArray<'l>, Fail> {
    let array = env.new_object_array(
        items.len() as i32,
        jni_str!("java/lang/String"),
        JObject::null(),
    )?;
    for (i, item) in items.iter().enumerate() {
        if let Some(item) = item {
            let s = env.new_string(item.as_ref())?;
            array.set_element(env, i, JObject::from(s))?;
        }
    }
    Ok(array)
}

/// `void checkConfig(int source, String text)`: throws `InvalidConfigException` naming the
/// path of the first problem.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_checkConfig<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    source: jint,
    text: JString<'l>,
) {
    cold(&mut env, |env| {
        config(source, optional_text(env, &text)?)?;
        Ok(())
    })
}

/// `long clientNew(int source, String text, String program)`: a new client, registered to
/// be closed by the JVM's shutdown hook (`closeAll`). `program`: the app name to report when
/// nothing configures one. Returns a pointer only `clientFree` may free.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_clientNew<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    source: jint,
    text: JString<'l>,
    program: JString<'l>,
) -> jlong {
    cold(&mut env, |env| {
        let mut config = config(source, optional_text(env, &text)?)?;
        if let Some(program) = optional_text(env, &program)? {
            names::use_program_name(&mut config, &program);
        }
        let client = Client::new(config)?;
        exit::register(&client);
        Ok(Box::into_raw(Box::new(client)) as jlong)
    })
}

/// `void clientFree(long client)`: drop the Java `Client`'s reference (from its Cleaner).
/// Dropping the last reference closes the client, as `close` with a 5 s timeout would.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_clientFree<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    ptr: jlong,
) {
    cold(&mut env, |_| {
        if ptr != 0 {
            // SAFETY: a pointer from `clientNew`, freed once (the Java side guarantees it).
            drop(unsafe { Box::from_raw(ptr as *mut Client) });
        }
        Ok(())
    })
}

/// `boolean clientFlush(long client, long timeoutMillis)`: false when the timeout passed first.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_clientFlush<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    ptr: jlong,
    timeout_ms: jlong,
) -> jboolean {
    cold(&mut env, |_| match client(ptr)?.flush(millis(timeout_ms)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::Timeout => Ok(false),
        Err(e) => Err(e.into()),
    })
}

/// `Object[] clientClose(long client, long timeoutMillis)`: the final stats (see `clientStats`).
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_clientClose<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    ptr: jlong,
    timeout_ms: jlong,
) -> JObjectArray<'l> {
    cold(&mut env, |env| {
        let stats = client(ptr)?.close(millis(timeout_ms));
        stats_array(env, &stats)
    })
}

/// `Object[] clientStats(long client)`: `{long[] numbers, String[] texts}` in the order
/// `io.wafermon.Stats.fromNative` reads.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_clientStats<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    ptr: jlong,
) -> JObjectArray<'l> {
    cold(&mut env, |env| {
        let stats = client(ptr)?.stats();
        stats_array(env, &stats)
    })
}

/// Numbers: emitted, queued, dropped, spilled, corrupt, then per backend queued, sent,
/// retried, spooled, dropped, failed, healthy (0/1). Texts per backend: name, kind, last
/// error (null when none).
fn stats_array<'l>(env: &mut Env<'l>, stats: &Stats) -> Result<JObjectArray<'l>, Fail> {
    let mut numbers = vec![
        stats.emitted,
        stats.queued,
        stats.dropped,
        stats.spilled,
        stats.corrupt,
    ];
    let mut texts: Vec<Option<&str>> = Vec::new();
    for b in &stats.backends {
        numbers.extend([
            b.queued,
            b.sent,
            b.retried,
            b.spooled,
            b.dropped,
            b.failed,
            u64::from(b.healthy),
        ]);
        texts.extend([
            Some(b.name.as_str()),
            Some(b.kind.as_str()),
            b.last_error.as_deref(),
        ]);
    }
    let numbers: Vec<jlong> = numbers.into_iter().map(|n| n as jlong).collect();
    let long_array = env.new_long_array(numbers.len())?;
    long_array.set_region(env, 0, &numbers)?;
    let text_array = strings(env, &texts)?;
    let out = env.new_object_array(2, jni_str!("java/lang/Object"), JObject::null())?;
    out.set_element(env, 0, JObject::from(long_array))?;
    out.set_element(env, 1, JObject::from(text_array))?;
    Ok(out)
}

/// `boolean clientIsClosed(long client)`.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_clientIsClosed<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    ptr: jlong,
) -> jboolean {
    cold(&mut env, |_| Ok(client(ptr)?.is_closed()))
}

/// `void clientEmitJson(long client, String event)`: one schema-v1 event as JSON text.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_clientEmitJson<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    ptr: jlong,
    event: JString<'l>,
) {
    cold(&mut env, |env| {
        let event = text(env, &event, "event")?;
        Ok(client(ptr)?.emit_json(&event)?)
    })
}

/// `String jobId(long job)`: the entity id of a started job.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_jobId<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    handle: jlong,
) -> JString<'l> {
    cold(&mut env, |env| {
        let id = wafermon::skin::JobHandle::from_raw(handle as u64).id()?;
        Ok(env.new_string(id)?)
    })
}

/// `void closeAll(long timeoutMillis)`: the JVM shutdown hook's work (the core's
/// `skin::exit::close_all`): every client still open is closed, each waiting up to the
/// timeout (or briefly when all its backends are down). Only the first call does anything.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_closeAll<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    timeout_ms: jlong,
) {
    cold(&mut env, |_| {
        exit::close_all(millis(timeout_ms));
        Ok(())
    })
}
