//! Version, strings returned to C, and the panic self-test.

use std::ffi::{c_char, CString};
use std::panic::catch_unwind;
use std::sync::OnceLock;

use crate::error::{guard, wm_status};
use crate::handle::take_string;

/// The library version ("0.1.0"). Never NULL; static.
#[no_mangle]
pub extern "C" fn wm_version() -> *const c_char {
    static VERSION: OnceLock<CString> = OnceLock::new();
    catch_unwind(|| {
        VERSION
            .get_or_init(|| CString::new(wafermon_core::VERSION).unwrap_or_default())
            .as_ptr()
    })
    .unwrap_or(c"".as_ptr())
}

/// Free a string returned by wafermon (`wm_stats_json`). NULL is accepted.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn wm_string_free(s: *mut c_char) -> wm_status {
    guard("wm_string_free", || {
        drop(take_string(s, "s")?);
        Ok(())
    })
}

/// Panic inside the library on purpose and return what the caller then sees:
/// WM_ERR_PANIC, with "panic in wm_debug_panic: ..." from `wm_last_error()`. Lets every
/// language skin test its handling of internal bugs.
#[no_mangle]
#[must_use]
#[allow(clippy::panic)] // the one deliberate panic of this crate
pub extern "C" fn wm_debug_panic() -> wm_status {
    guard("wm_debug_panic", || {
        panic!("deliberate panic (wm_debug_panic)")
    })
}
