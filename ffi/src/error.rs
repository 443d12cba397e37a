//! `wm_status`, the per-thread last error, and `guard`: the one place that turns a Rust
//! result or a panic into a status code and a message.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use wafermon_core::{Error, ErrorKind};

/// The result of every fallible `wm_` function. `WM_OK` is 0; for anything else
/// `wm_last_error()` says what went wrong.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum wm_status {
    /// Success.
    WM_OK = 0,
    /// A NULL pointer, a string that is not UTF-8, a handle that is not live (already freed?),
    /// or malformed options.
    WM_ERR_INVALID_ARGUMENT = 1,
    /// A configuration value is missing, of the wrong type or out of range.
    WM_ERR_INVALID_CONFIG = 2,
    /// An event (or an argument that becomes part of one) is invalid.
    WM_ERR_INVALID_EVENT = 3,
    /// The client is closed, or the job has already ended.
    WM_ERR_CLOSED = 4,
    /// A flush or close did not finish within its timeout.
    WM_ERR_TIMEOUT = 5,
    /// A local I/O operation (spool, file backend) failed.
    WM_ERR_IO = 6,
    /// A backend rejected data or could not be reached.
    WM_ERR_BACKEND = 7,
    /// A bug inside wafermon: a Rust panic was caught at the C boundary.
    WM_ERR_PANIC = 8,
}

/// The error table of the C skin: core error kinds, one to one (the list and the values are
/// core/conformance/error_kinds.json; a test checks this table against it).
pub(crate) fn status_of(kind: ErrorKind) -> wm_status {
    match kind {
        ErrorKind::InvalidArgument => wm_status::WM_ERR_INVALID_ARGUMENT,
        ErrorKind::InvalidConfig => wm_status::WM_ERR_INVALID_CONFIG,
        ErrorKind::InvalidEvent => wm_status::WM_ERR_INVALID_EVENT,
        ErrorKind::Closed => wm_status::WM_ERR_CLOSED,
        ErrorKind::Timeout => wm_status::WM_ERR_TIMEOUT,
        ErrorKind::Io => wm_status::WM_ERR_IO,
        ErrorKind::Backend => wm_status::WM_ERR_BACKEND,
    }
}

/// What an entry point can fail with.
#[derive(Debug)]
pub(crate) enum FfiError {
    /// From the core; its `Display` ("<what> at <path>: <message>") is passed on verbatim.
    Core(Error),
    /// A bad argument; the text names it ("event_json is NULL").
    Argument(String),
}

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        FfiError::Core(e)
    }
}

pub(crate) type FfiResult<T = ()> = Result<T, FfiError>;

impl FfiError {
    fn into_parts(self, function: &str) -> (wm_status, String) {
        match self {
            FfiError::Core(e) => (status_of(e.kind()), e.to_string()),
            FfiError::Argument(m) => (
                wm_status::WM_ERR_INVALID_ARGUMENT,
                format!("invalid argument to {function}: {m}"),
            ),
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: String) {
    let text = match CString::new(message) {
        Ok(t) => t,
        Err(e) => {
            let mut bytes = e.into_vec();
            bytes.retain(|&b| b != 0);
            CString::new(bytes).unwrap_or_default()
        }
    };
    // try_with: during thread teardown the slot may be gone; then there is no one to tell.
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = text;
        }
    });
}

/// The message of this thread's most recent call that returns `wm_status`: "" when it
/// succeeded, what went wrong otherwise. Never NULL. The text stays valid until the next
/// such call on this thread.
#[no_mangle]
pub extern "C" fn wm_last_error() -> *const c_char {
    catch_unwind(|| {
        LAST_ERROR
            .try_with(|slot| slot.try_borrow().map(|s| s.as_ptr()).ok())
            .ok()
            .flatten()
    })
    .ok()
    .flatten()
    .unwrap_or(c"".as_ptr())
}

fn panic_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// Run the body of the entry point `function`: its result, an error, or a panic becomes a
/// `wm_status`, and the thread's last error is set ("" on success). Every fallible entry
/// point goes through here and nowhere else catches panics.
pub(crate) fn guard(function: &'static str, body: impl FnOnce() -> FfiResult) -> wm_status {
    let (status, message) = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => (wm_status::WM_OK, String::new()),
        Ok(Err(e)) => e.into_parts(function),
        Err(payload) => {
            let message = format!("panic in {function}: {}", panic_text(&*payload));
            // Even dropping the payload runs foreign code; keep that inside the fence too.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            (wm_status::WM_ERR_PANIC, message)
        }
    };
    set_last_error(message);
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last() -> String {
        unsafe { CStr::from_ptr(wm_last_error()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_wm_err_panic_naming_the_function() {
        let status = guard("wm_example", || panic!("boom"));
        assert_eq!(status, wm_status::WM_ERR_PANIC);
        assert_eq!(last(), "panic in wm_example: boom");
        assert_eq!(guard("wm_example", || Ok(())), wm_status::WM_OK);
        assert_eq!(last(), "");
    }

    #[test]
    fn core_errors_keep_their_message() {
        let status = guard("wm_example", || {
            Err(Error::event("progress", "must be a number from 0 to 100, got 120").into())
        });
        assert_eq!(status, wm_status::WM_ERR_INVALID_EVENT);
        assert_eq!(
            last(),
            "invalid event at progress: must be a number from 0 to 100, got 120"
        );
    }

    /// Every core kind has the status core/conformance/error_kinds.json gives it, and the
    /// only statuses that are not kinds are the file's `c_only` ones.
    #[test]
    fn status_table_matches_error_kinds_json() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../core/conformance/error_kinds.json"
        );
        let file: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let kinds = file["kinds"].as_array().unwrap();
        assert_eq!(kinds.len(), ErrorKind::ALL.len());
        let mut values = vec![];
        for entry in kinds {
            let kind = ErrorKind::parse(entry["name"].as_str().unwrap()).unwrap();
            let status = status_of(kind);
            assert_eq!(status as i64, entry["c_value"].as_i64().unwrap(), "{kind}");
            assert_eq!(format!("{status:?}"), entry["c_status"].as_str().unwrap());
            values.push(status as i64);
        }
        for entry in file["c_only"].as_array().unwrap() {
            values.push(entry["c_value"].as_i64().unwrap());
        }
        values.sort();
        // wm_status is 0..=8 with no gaps: the file names every value exactly once.
        assert_eq!(
            values,
            (0..=wm_status::WM_ERR_PANIC as i64).collect::<Vec<_>>()
        );
        assert_eq!(format!("{:?}", wm_status::WM_ERR_PANIC), "WM_ERR_PANIC");
    }

    #[test]
    fn interior_nul_is_dropped_from_messages() {
        guard("wm_example", || Err(FfiError::Argument("a\0b".into())));
        assert_eq!(last(), "invalid argument to wm_example: ab");
    }
}
