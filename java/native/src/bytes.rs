//! Text from Java as UTF-8 bytes (`String.getBytes(UTF_8)`, or the encoder in
//! `io.wafermon.Utf8` writing into a reused buffer), copied with one `GetByteArrayRegion`
//! into a stack buffer. Measured on this project's machine, a `byte[]` costs 31-35 ns where
//! a `java.lang.String` costs 68-93 ns raw and 186 ns through jni 0.22's idiomatic path.

use std::mem::MaybeUninit;

use jni::sys::{jbyteArray, jint, JNIEnv};
use wafermon::{Error, ErrorKind, Result};

/// Text at most this long is copied onto the stack (names, most messages).
const ON_STACK: usize = 256;
/// A job spec at most this long is copied onto the stack.
const SPEC_ON_STACK: usize = 1024;

/// Call `f` with the first `len` bytes of `array` as text. `what` names the argument in the
/// error for a null array, a bad length, or bytes that are not UTF-8.
///
/// # Safety
/// `env` is the JNIEnv the JVM passed to the running native method, `array` a local
/// reference of that call (or null).
pub(crate) unsafe fn with_text<T>(
    env: *mut JNIEnv,
    array: jbyteArray,
    len: jint,
    what: &str,
    f: impl FnOnce(&str) -> Result<T>,
) -> Result<T> {
    // SAFETY: the caller's contract.
    let len = unsafe { checked_len(env, array, len, what)? };
    // SAFETY: `len` is within the array; the caller's contract for the rest.
    unsafe { copied::<ON_STACK, T>(env, array, len, |bytes| f(utf8(bytes, what)?)) }
}

/// As `with_text`, with a null array meaning "no text".
///
/// # Safety
/// As `with_text`.
pub(crate) unsafe fn with_optional_text<T>(
    env: *mut JNIEnv,
    array: jbyteArray,
    len: jint,
    what: &str,
    f: impl FnOnce(Option<&str>) -> Result<T>,
) -> Result<T> {
    if array.is_null() {
        return f(None);
    }
    // SAFETY: the caller's contract.
    unsafe { with_text(env, array, len, what, |text| f(Some(text))) }
}

/// The first `len` bytes of a small binary message (a job spec).
///
/// # Safety
/// As `with_text`.
pub(crate) unsafe fn with_bytes<T>(
    env: *mut JNIEnv,
    array: jbyteArray,
    len: jint,
    what: &str,
    f: impl FnOnce(&[u8]) -> Result<T>,
) -> Result<T> {
    // SAFETY: the caller's contract.
    let len = unsafe { checked_len(env, array, len, what)? };
    // SAFETY: `len` is within the array; the caller's contract for the rest.
    unsafe { copied::<SPEC_ON_STACK, T>(env, array, len, f) }
}

/// `len` as a `usize`, if `array` is not null and holds at least that many bytes.
///
/// # Safety
/// As `with_text`.
unsafe fn checked_len(env: *mut JNIEnv, array: jbyteArray, len: jint, what: &str) -> Result<usize> {
    if array.is_null() {
        return Err(invalid(what, "is null"));
    }
    let Ok(len) = usize::try_from(len) else {
        return Err(invalid(what, "has a negative length"));
    };
    // SAFETY: the caller's contract; GetArrayLength exists since JNI 1.1.
    let have = unsafe { ((**env).v1_1.GetArrayLength)(env, array) };
    if len > usize::try_from(have).unwrap_or(0) {
        return Err(invalid(what, "is shorter than its length"));
    }
    Ok(len)
}

/// Call `f` with the first `len` bytes of `array`, copied onto the stack when they fit in
/// `N` bytes (not zeroed first: the copy writes every byte that is read).
///
/// # Safety
/// As `with_text`, and `len` is at most the array's length.
unsafe fn copied<const N: usize, T>(
    env: *mut JNIEnv,
    array: jbyteArray,
    len: usize,
    f: impl FnOnce(&[u8]) -> Result<T>,
) -> Result<T> {
    // SAFETY: the caller's contract; GetByteArrayRegion exists since JNI 1.1.
    let region = unsafe { (**env).v1_1.GetByteArrayRegion };
    if len <= N {
        let mut buf = [MaybeUninit::<u8>::uninit(); N];
        // SAFETY: `buf` has room for `len` bytes, and GetByteArrayRegion writes all of them:
        // the region is within the array, so it cannot fail and leave them unwritten.
        let bytes = unsafe {
            region(env, array, 0, len as jint, buf.as_mut_ptr().cast());
            std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len)
        };
        f(bytes)
    } else {
        let mut buf = vec![0u8; len];
        // SAFETY: as above, into the vector.
        unsafe { region(env, array, 0, len as jint, buf.as_mut_ptr().cast()) };
        f(&buf)
    }
}

pub(crate) fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|_| invalid(what, "is not UTF-8"))
}

pub(crate) fn invalid(what: &str, problem: &str) -> Error {
    Error::new(ErrorKind::InvalidArgument, format!("{what} {problem}"))
}
