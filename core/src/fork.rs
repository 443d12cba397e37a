//! Fork detection without a syscall on the hot path: a `pthread_atfork` child handler bumps a
//! generation counter, and anything tied to a process compares generations.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);
static REGISTER: Once = Once::new();

extern "C" fn in_child_after_fork() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// Install the atfork handler (idempotent). Called when the first client is created.
pub fn install() {
    REGISTER.call_once(|| {
        // SAFETY: registering a handler that only touches an atomic is async-signal-safe.
        unsafe {
            libc::pthread_atfork(None, None, Some(in_child_after_fork));
        }
    });
}

/// The number of forks this process descends from since `install`.
#[inline]
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}
