//! `libwafermon_jni`: the native half of the Java package `io.wafermon`. Every function here
//! is a static native method of `io.wafermon.Native` (java/src/main/java/io/wafermon/
//! Native.java lists them with their contracts); the public Java API is the Java code.
//!
//! Two kinds of entry points, both catching every panic:
//! - hot ones (`hot`: job start, progress, metric, log, endings) are plain `extern "system"`
//!   functions over `jni::sys`: primitives and `byte[]` UTF-8 text only, copied into a stack
//!   buffer, with no JNI wrapper on the way in. jni 0.22's `with_env` costs about 50 ns per
//!   call, more than the core's own work, so they only build an `Env` to throw an exception;
//! - cold ones (`client`, `conformance`) go through `EnvUnowned::with_env`.
//!
//! Errors never cross as Rust values: `throw` turns a core error into the Java exception the
//! one table in `io.wafermon.Errors` names, and a panic into a `RuntimeException` saying it
//! is a bug in wafermon.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod bytes;
mod client;
mod conformance;
mod hot;
mod spec;
mod throw;
