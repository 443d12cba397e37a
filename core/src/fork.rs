//! Fork detection without a syscall on the hot path: a `pthread_atfork` child handler bumps a
//! generation counter, and anything tied to a process compares generations.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);
static REGISTER: Once = Once::new();

extern "C" fn in_child_after_fork() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
    close_parent_only();
}

/// Install the atfork handler (idempotent). Called when the first client is created.
pub fn install() {
    REGISTER.call_once(|| {
        // SAFETY: the handler only touches atomics and calls close(), both async-signal-safe.
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

/// Descriptors a forked child must close at once (spool slot locks): a child that kept them
/// would keep the parent's slots locked after the parent died.
const SLOTS: usize = 256;
static PARENT_ONLY: [AtomicI32; SLOTS] = [const { AtomicI32::new(-1) }; SLOTS];

/// A file whose descriptor a forked child closes (in the atfork handler, before anything
/// else runs in the child). Dropping it forgets the registration first, so a reused
/// descriptor number is never closed by mistake.
pub struct ParentOnly {
    _file: std::fs::File,
    slot: Option<usize>,
}

impl ParentOnly {
    pub fn new(file: std::fs::File) -> ParentOnly {
        install();
        let fd = file.as_raw_fd();
        let slot = PARENT_ONLY.iter().position(|s| {
            s.compare_exchange(-1, fd, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        });
        ParentOnly { _file: file, slot }
    }
}

impl Drop for ParentOnly {
    fn drop(&mut self) {
        if let Some(slot) = self.slot {
            PARENT_ONLY[slot].store(-1, Ordering::SeqCst);
        }
        // The file closes after this, once no child handler can pick its number any more.
    }
}

fn close_parent_only() {
    for slot in PARENT_ONLY.iter() {
        let fd = slot.swap(-1, Ordering::SeqCst);
        if fd >= 0 {
            // SAFETY: close is async-signal-safe; the descriptor is this process's copy.
            unsafe {
                libc::close(fd);
            }
        }
    }
}
