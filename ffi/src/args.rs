//! Reading C arguments: strings must be non-NULL UTF-8, out-pointers non-NULL.

use std::ffi::{c_char, CStr};

use crate::error::{FfiError, FfiResult};

/// A required string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn text<'a>(ptr: *const c_char, arg: &str) -> FfiResult<&'a str> {
    if ptr.is_null() {
        return Err(FfiError::Argument(format!("{arg} is NULL")));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes.to_str().map_err(|e| {
        FfiError::Argument(format!(
            "{arg} is not valid UTF-8 (bad byte at offset {})",
            e.valid_up_to()
        ))
    })
}

/// An optional string argument: NULL is `None`.
///
/// # Safety
/// As for `text`.
pub(crate) unsafe fn optional_text<'a>(
    ptr: *const c_char,
    arg: &str,
) -> FfiResult<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    unsafe { text(ptr, arg) }.map(Some)
}

/// An out-pointer argument; clears `*out` so that it is NULL on every error path.
///
/// # Safety
/// `out` is NULL or valid for writing one pointer.
pub(crate) unsafe fn out<'a, T>(out: *mut *mut T, arg: &str) -> FfiResult<&'a mut *mut T> {
    if out.is_null() {
        return Err(FfiError::Argument(format!("{arg} is NULL")));
    }
    // SAFETY: non-NULL and writable per the caller's contract.
    let slot = unsafe { &mut *out };
    *slot = std::ptr::null_mut();
    Ok(slot)
}

/// An out-pointer for a `const` pointer (`const char** out`).
///
/// # Safety
/// As for `out`.
pub(crate) unsafe fn out_const<'a, T>(
    out: *mut *const T,
    arg: &str,
) -> FfiResult<&'a mut *const T> {
    if out.is_null() {
        return Err(FfiError::Argument(format!("{arg} is NULL")));
    }
    // SAFETY: non-NULL and writable per the caller's contract.
    let slot = unsafe { &mut *out };
    *slot = std::ptr::null();
    Ok(slot)
}
