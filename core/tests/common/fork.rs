//! Running a piece of a test in a forked child.

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
