//! The registry of live handles. A handle given to C is an opaque token, never a real address:
//! tokens are never reused, so a freed handle stays recognisably dead forever (no ABA), and
//! every entry point looks its handles up here before touching anything. The registry holds
//! an `Arc` of each object; a call clones it, so a concurrent `_free` on another thread never
//! pulls an object out from under a running call.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::client::wm_client;
use crate::config::wm_config;
use crate::error::{FfiError, FfiResult};
use crate::job::wm_job;

/// A live object behind a handle.
pub(crate) enum Object {
    Config(Arc<wm_config>),
    Client(Arc<wm_client>),
    Job(Arc<wm_job>),
}

impl Object {
    fn what(&self) -> &'static str {
        match self {
            Object::Config(_) => wm_config::WHAT,
            Object::Client(_) => wm_client::WHAT,
            Object::Job(_) => wm_job::WHAT,
        }
    }
}

/// A type that C holds through an opaque `wm_<name>*`.
pub(crate) trait Handle: Sized {
    /// "config", "client", "job": used in error messages.
    const WHAT: &'static str;
    fn wrap(this: Arc<Self>) -> Object;
    fn unwrap(object: &Object) -> Option<&Arc<Self>>;
}

macro_rules! handle_kind {
    ($ty:ident, $variant:ident, $what:literal) => {
        impl Handle for $ty {
            const WHAT: &'static str = $what;
            fn wrap(this: Arc<Self>) -> Object {
                Object::$variant(this)
            }
            fn unwrap(object: &Object) -> Option<&Arc<Self>> {
                match object {
                    Object::$variant(x) => Some(x),
                    _ => None,
                }
            }
        }
    };
}

handle_kind!(wm_config, Config, "config");
handle_kind!(wm_client, Client, "client");
handle_kind!(wm_job, Job, "job");

static LIVE: Mutex<BTreeMap<usize, Object>> = Mutex::new(BTreeMap::new());
/// Strings handed to C (`wm_stats_json`), by address, until `wm_string_free`.
static STRINGS: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());
static NEXT_TOKEN: AtomicUsize = AtomicUsize::new(1);
/// Tokens are spaced like aligned pointers, so they look ordinary to C tooling.
const TOKEN_STRIDE: usize = 16;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks, but a poisoned map is still consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn dead(arg: &str) -> FfiError {
    FfiError::Argument(format!(
        "{arg} is not a live wafermon handle (already freed?)"
    ))
}

fn null(arg: &str) -> FfiError {
    FfiError::Argument(format!("{arg} is NULL"))
}

fn checked<'a, T: Handle>(object: Option<&'a Object>, arg: &str) -> FfiResult<&'a Arc<T>> {
    let object = object.ok_or_else(|| dead(arg))?;
    T::unwrap(object).ok_or_else(|| {
        FfiError::Argument(format!(
            "{arg} is a wafermon {} handle, not a {} handle",
            object.what(),
            T::WHAT
        ))
    })
}

/// Register a new object and return its handle.
pub(crate) fn register<T: Handle>(value: T) -> *mut T {
    let token = NEXT_TOKEN
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_mul(TOKEN_STRIDE);
    lock(&LIVE).insert(token, T::wrap(Arc::new(value)));
    std::ptr::without_provenance_mut(token)
}

/// The object behind a handle argument named `arg`, if it is live and of the right kind.
pub(crate) fn get<T: Handle>(handle: *const T, arg: &str) -> FfiResult<Arc<T>> {
    if handle.is_null() {
        return Err(null(arg));
    }
    let live = lock(&LIVE);
    checked::<T>(live.get(&handle.addr()), arg).cloned()
}

/// Unregister a handle (`Ok(None)` for NULL). The caller drops the object, outside the lock.
pub(crate) fn release<T: Handle>(handle: *const T, arg: &str) -> FfiResult<Option<Arc<T>>> {
    if handle.is_null() {
        return Ok(None);
    }
    let mut live = lock(&LIVE);
    checked::<T>(live.get(&handle.addr()), arg)?;
    match live.remove(&handle.addr()).as_ref().map(T::unwrap) {
        Some(Some(object)) => Ok(Some(Arc::clone(object))),
        _ => Err(dead(arg)),
    }
}

/// Hand a string to C; it must come back through `take_string`.
pub(crate) fn give_string(text: String) -> *mut c_char {
    let text = CString::new(text).unwrap_or_else(|e| {
        let mut bytes = e.into_vec();
        bytes.retain(|&b| b != 0);
        CString::new(bytes).unwrap_or_default()
    });
    let ptr = text.into_raw();
    lock(&STRINGS).insert(ptr.addr());
    ptr
}

/// Take back a string made by `give_string` (`Ok(None)` for NULL).
pub(crate) fn take_string(ptr: *mut c_char, arg: &str) -> FfiResult<Option<CString>> {
    if ptr.is_null() {
        return Ok(None);
    }
    if !lock(&STRINGS).remove(&ptr.addr()) {
        return Err(FfiError::Argument(format!(
            "{arg} is not a live string returned by wafermon (already freed?)"
        )));
    }
    // SAFETY: the address was registered by give_string from CString::into_raw, and was
    // removed from the set just now, so this is the only reclaim of it.
    Ok(Some(unsafe { CString::from_raw(ptr) }))
}
