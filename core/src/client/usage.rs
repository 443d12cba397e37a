//! Resource usage the core measures itself for a job: CPU of the process and its children
//! (getrusage), the true peak RSS, and a monotonic duration.

use std::time::Instant;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Usage {
    user_s: f64,
    system_s: f64,
    max_rss_bytes: f64,
    at: Instant,
}

fn rusage(who: libc::c_int) -> libc::rusage {
    // SAFETY: rusage is plain old data; getrusage fills it (or leaves zeros on error).
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    }
}

fn secs(tv: libc::timeval) -> f64 {
    tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6
}

impl Usage {
    /// Two getrusage calls, at a job's start and again at its end: they are most of what a
    /// job's start and end cost (RUSAGE_SELF sums every thread of the process), but no
    /// cheaper call gives the same numbers. times() has both parts in one call, in clock
    /// ticks (10 ms); CLOCK_PROCESS_CPUTIME_ID has no user/system split and no children
    /// and is a syscall too (no vDSO); a reading reused across jobs would count one job's
    /// CPU in another's.
    pub fn now() -> Usage {
        let me = rusage(libc::RUSAGE_SELF);
        let children = rusage(libc::RUSAGE_CHILDREN);
        Usage {
            user_s: secs(me.ru_utime) + secs(children.ru_utime),
            system_s: secs(me.ru_stime) + secs(children.ru_stime),
            // Linux reports kilobytes.
            max_rss_bytes: (me.ru_maxrss.max(children.ru_maxrss) as f64) * 1024.0,
            at: Instant::now(),
        }
    }

    /// The metrics a finished job carries, measured since `start`.
    pub fn since(start: &Usage) -> [(&'static str, f64); 4] {
        let end = Usage::now();
        [
            ("cpu_user_s", (end.user_s - start.user_s).max(0.0)),
            ("cpu_system_s", (end.system_s - start.system_s).max(0.0)),
            ("max_rss_bytes", end.max_rss_bytes),
            ("duration_s", end.at.duration_since(start.at).as_secs_f64()),
        ]
    }
}
