//! The one way errors reach Java: a core error becomes the exception `io.wafermon.Errors`
//! maps its kind to (the Java side owns the table, so there is one), a caught panic becomes a
//! `RuntimeException` that says it is a bug in wafermon. Only ever on a cold path.

use std::any::Any;

use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JObject, JThrowable, JValue};
use jni::strings::JNIString;
use jni::sys::JNIEnv;
use jni::{jni_sig, jni_str, Env, EnvUnowned};
use wafermon::Error;

/// What a cold entry point can fail with.
pub(crate) enum Fail {
    /// From the core: thrown as the mapped exception.
    Core(Error),
    /// From JNI itself (usually a Java exception already pending, which then stays).
    Jni(jni::errors::Error),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Core(e)
    }
}

impl From<jni::errors::Error> for Fail {
    fn from(e: jni::errors::Error) -> Self {
        Fail::Jni(e)
    }
}

/// Run a cold entry point: `f`'s core errors are thrown as mapped exceptions, its panics
/// and JNI failures as `RuntimeException`s, and Java then gets `T::default()` (ignored,
/// since an exception is pending).
pub(crate) fn cold<'local, T: Default>(
    env: &mut EnvUnowned<'local>,
    f: impl FnOnce(&mut Env<'local>) -> Result<T, Fail>,
) -> T {
    env.with_env(|env| -> jni::errors::Result<T> {
        match f(env) {
            Ok(value) => Ok(value),
            Err(Fail::Core(e)) => {
                throw_core(env, &e)?;
                Ok(T::default())
            }
            Err(Fail::Jni(e)) => Err(e),
        }
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}

/// Throw `err` as the exception `io.wafermon.Errors.fromCore(kind, message, path)` makes.
fn throw_core(env: &mut Env<'_>, err: &Error) -> jni::errors::Result<()> {
    let kind = JObject::from(env.new_string(err.kind().as_str())?);
    let message = JObject::from(env.new_string(err.to_string())?);
    let path = match err.path() {
        Some(p) => JObject::from(env.new_string(p)?),
        None => JObject::null(),
    };
    let exception = env
        .call_static_method(
            jni_str!("io/wafermon/Errors"),
            jni_str!("fromCore"),
            jni_sig!("(Ljava/lang/String;Ljava/lang/String;Ljava/lang/String;)Ljava/lang/RuntimeException;"),
            &[
                JValue::Object(&kind),
                JValue::Object(&message),
                JValue::Object(&path),
            ],
        )?
        .l()?;
    let exception = env.cast_local::<JThrowable>(exception)?;
    env.throw(exception)
}

/// From a raw (hot) entry point, whose caller passed `env`: throw `err`.
#[cold]
#[inline(never)]
pub(crate) fn throw_raw(env: *mut JNIEnv, err: &Error) {
    // SAFETY: `env` is the JNIEnv the JVM passed to the native method running on this
    // thread, valid for its duration.
    let mut unowned = unsafe { EnvUnowned::from_raw(env) };
    unowned
        .with_env(|env| throw_core(env, err))
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// From a raw (hot) entry point: throw a `RuntimeException` for a caught panic.
#[cold]
#[inline(never)]
pub(crate) fn throw_panic(env: *mut JNIEnv, payload: Box<dyn Any + Send>) {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    let message = format!("a bug in wafermon (a Rust panic was caught): {what}");
    // SAFETY: as in `throw_raw`.
    let mut unowned = unsafe { EnvUnowned::from_raw(env) };
    unowned
        .with_env(|env| -> jni::errors::Result<()> {
            env.throw_new(
                jni_str!("java/lang/RuntimeException"),
                JNIString::new(&message),
            )
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}
