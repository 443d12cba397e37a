//! Giving memory back after a large request. glibc keeps freed memory in its arenas (one per
//! thread that allocated, and the blocking threads that parse bodies are many), so a host that
//! once parsed a large body would otherwise keep that much resident for good.

/// Bodies from this size on are followed by a trim.
const TRIM_FROM_BYTES: usize = 1 << 20;

/// Return free heap pages to the OS after a request whose body had `body_len` bytes (call it
/// once the body and everything parsed from it is dropped).
pub fn release_after(body_len: usize) {
    if body_len >= TRIM_FROM_BYTES {
        trim();
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only walks the allocator's own free lists; any thread may call it.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
