//! Running a piece of a test in a forked child.

use std::sync::{Mutex, MutexGuard};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Held by every test of a binary that forks, so those tests run one at a time: a fork
/// copies only the calling thread, and a child forked while another test's thread holds a
/// lock the child then needs waits for it forever. Tests here check what a fork does to one
/// application's clients, not forks racing with unrelated threads of the test harness.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `body` in a forked child and returns its exit code: 0 when `body` returned true, 1
/// when it returned false or panicked, -1 when the child did not exit (a signal).
pub fn in_child(body: impl FnOnce() -> bool) -> i32 {
    // SAFETY: the child only runs `body` and leaves with _exit, never returning into the
    // test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or(false);
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waiting for the child we just made.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    }
}
