//! Fork detection without a syscall on the hot path: a `pthread_atfork` child handler bumps a
//! generation counter, and anything tied to a process compares generations.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);
static REGISTER: Once = Once::new();
/// Held while a descriptor is taken and registered as parent-only, and by a fork from the
/// moment it starts until it is done: so no fork lands between the two, when a child would
/// inherit a lock it never closes (another thread of the parent may be claiming a spool slot
/// at any time).
static CLAIMING: AtomicBool = AtomicBool::new(false);

fn hold_claims() {
    while CLAIMING
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        std::thread::yield_now();
    }
}

fn release_claims() {
    CLAIMING.store(false, Ordering::Release);
}

extern "C" fn before_fork() {
    hold_claims();
}

extern "C" fn in_parent_after_fork() {
    release_claims();
}

extern "C" fn in_child_after_fork() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
    close_parent_only();
    release_claims();
}

/// Install the atfork handlers (idempotent). Called when the first client is created.
pub fn install() {
    REGISTER.call_once(|| {
        // SAFETY: the handlers only touch atomics, yield, and call close(); the prepare
        // handler waits at most for one claim (an open and a flock) to finish.
        unsafe {
            libc::pthread_atfork(
                Some(before_fork),
                Some(in_parent_after_fork),
                Some(in_child_after_fork),
            );
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
    file: Option<File>,
    slot: Option<usize>,
}

/// Holds claims until dropped, so a panic inside a claim cannot leave every later fork of
/// the process waiting.
struct Claims;

impl Claims {
    fn hold() -> Claims {
        hold_claims();
        Claims
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        release_claims();
    }
}

impl ParentOnly {
    /// Take a descriptor with `take` (open a file and lock it, say; `None` when it is not to
    /// be had) and register it, with no fork in between. `take` should do no more than that
    /// (a fork waits for it).
    pub fn claim(
        take: impl FnOnce() -> io::Result<Option<File>>,
    ) -> io::Result<Option<ParentOnly>> {
        install();
        let _claims = Claims::hold();
        take().map(|file| file.map(ParentOnly::register))
    }

    fn register(file: File) -> ParentOnly {
        let fd = file.as_raw_fd();
        let slot = PARENT_ONLY.iter().position(|s| {
            s.compare_exchange(-1, fd, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        });
        ParentOnly {
            file: Some(file),
            slot,
        }
    }
}

impl Drop for ParentOnly {
    fn drop(&mut self) {
        // Forget the number and close the file with no fork in between: a child forked after
        // the first step and before the second would keep the lock and never close it.
        let _claims = Claims::hold();
        if let Some(slot) = self.slot {
            PARENT_ONLY[slot].store(-1, Ordering::SeqCst);
        }
        drop(self.file.take());
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
