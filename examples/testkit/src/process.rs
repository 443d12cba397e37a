//! What a test reads of or sets on a host process (Linux): its open-file limit, the sockets
//! it holds, its memory.

use std::process::Command;

/// Raise this process's open-file soft limit so that a test can open `files` files at
/// once; panics when the hard limit is lower (the test fails, it is never skipped).
pub fn need_open_files(files: u64) {
    assert!(
        raise_open_file_limit() >= files,
        "this test needs {files} open files"
    );
}

/// Raise this process's open-file soft limit to its hard limit (for tests that open many
/// connections); the new soft limit.
pub fn raise_open_file_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on this process with a valid pointer.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    limit.rlim_cur
}

/// Make `command`'s process start with an open-file limit (soft and hard) of `files`.
pub fn limit_open_files(command: &mut Command, files: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe, as pre_exec requires.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: files,
                rlim_max: files,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Sockets the process `pid` holds open (listener, connections, database).
pub fn open_sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
                })
                .count()
        })
        .unwrap_or(0)
}

/// A process's memory, in bytes: `VmHWM` (peak resident) and `VmRSS` (resident now).
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    pub peak: usize,
    pub resident: usize,
}

pub fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<usize>()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no {name} in {status}"))
            * 1024
    };
    Memory {
        peak: field("VmHWM:"),
        resident: field("VmRSS:"),
    }
}

/// Peak RSS growth allowed per body byte (the README states the same ceiling). A body is held
/// once as received (hyper may hold it twice while collecting it); parsing adds nothing per
/// rejected element. 8 leaves room for the allocator and the runtime's threads.
pub const PEAK_PER_BODY_BYTE: usize = 8;

/// The memory ceiling of one request with a `body_len`-byte body, `before` and `after` being
/// the host's memory around it: the peak grew by at most `PEAK_PER_BODY_BYTE` per body byte,
/// and what stays resident afterwards is at most the body plus `kept` (what the host may
/// keep besides, such as a store's bounded caches) above the peak before: the memory was
/// given back.
pub fn assert_memory_ceiling(before: Memory, after: Memory, body_len: usize, kept: usize) {
    let growth = after.peak.saturating_sub(before.peak);
    eprintln!(
        "peak growth {growth} for {body_len} bytes; resident after {}, peak before {}",
        after.resident, before.peak
    );
    assert!(
        growth <= PEAK_PER_BODY_BYTE * body_len,
        "peak RSS grew by {growth} bytes for a {body_len}-byte body"
    );
    assert!(
        after.resident <= before.peak + body_len + kept,
        "{} bytes resident after the request (peak before it: {})",
        after.resident,
        before.peak
    );
}
