//! Resource usage the core measures itself for a job: CPU of the process and its children
//! (getrusage), the true peak RSS, and a monotonic duration.
//!
//! Every CPU reading is a syscall of 200–750 ns here (RUSAGE_SELF sums every thread of the
//! process; CLOCK_PROCESS_CPUTIME_ID and times() cost the same, and CLOCK_THREAD_CPUTIME_ID
//! has no vDSO either), and a job needs one at each end. So a thread reuses its latest
//! reading while it is younger than `REUSE_NS`: a job that lasts longer than that still reads
//! the kernel at both ends, and a thread that runs thousands of jobs a second pays for
//! about one reading per millisecond. The price is a resolution of `REUSE_NS`: a job's CPU
//! may include up to that much of what the process did just before it started, and CPU of
//! a child reaped less than `REUSE_NS` after this thread's last reading is counted in the
//! next reading instead. Durations are always measured per job.

use std::cell::Cell;

use crate::event::clock::Mono;
use crate::fork;

/// How long a thread's reading stands in for a new one, in nanoseconds.
const REUSE_NS: u64 = 1_000_000;

#[derive(Debug, Clone, Copy)]
struct Cpu {
    user_s: f64,
    system_s: f64,
    max_rss_bytes: f64,
}

#[derive(Debug, Clone, Copy)]
struct Reading {
    cpu: Cpu,
    taken: Mono,
    /// A forked child starts with no CPU of its own: a reading its parent took is not its.
    forks: u64,
}

thread_local! {
    static RECENT: Cell<Option<Reading>> = const { Cell::new(None) };
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Usage {
    cpu: Cpu,
    at: Mono,
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

impl Cpu {
    fn read() -> Cpu {
        let me = rusage(libc::RUSAGE_SELF);
        let children = rusage(libc::RUSAGE_CHILDREN);
        Cpu {
            user_s: secs(me.ru_utime) + secs(children.ru_utime),
            system_s: secs(me.ru_stime) + secs(children.ru_stime),
            // Linux reports kilobytes.
            max_rss_bytes: (me.ru_maxrss.max(children.ru_maxrss) as f64) * 1024.0,
        }
    }

    /// This thread's latest reading if it is recent enough, else a new one (kept).
    fn recent(at: Mono) -> Cpu {
        let forks = fork::generation();
        let fresh = || {
            let cpu = Cpu::read();
            (
                cpu,
                Reading {
                    cpu,
                    taken: at,
                    forks,
                },
            )
        };
        // try_with: a job may end in a thread-local destructor, after RECENT is gone.
        RECENT
            .try_with(|recent| match recent.get() {
                Some(r) if r.forks == forks && at.within(r.taken, REUSE_NS) => r.cpu,
                _ => {
                    let (cpu, reading) = fresh();
                    recent.set(Some(reading));
                    cpu
                }
            })
            .unwrap_or_else(|_| fresh().0)
    }
}

impl Usage {
    /// The usage at `at` (the job's start, read by the caller with its event time).
    pub fn at(at: Mono) -> Usage {
        Usage {
            cpu: Cpu::recent(at),
            at,
        }
    }

    /// The metrics a finished job carries, measured from `start` to `at`.
    pub fn since(start: &Usage, at: Mono) -> [(&'static str, f64); 4] {
        let end = Usage::at(at);
        [
            ("cpu_user_s", (end.cpu.user_s - start.cpu.user_s).max(0.0)),
            (
                "cpu_system_s",
                (end.cpu.system_s - start.cpu.system_s).max(0.0),
            ),
            ("max_rss_bytes", end.cpu.max_rss_bytes),
            ("duration_s", end.at.secs_since(start.at)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::clock;
    use std::time::{Duration, Instant};

    fn now() -> Usage {
        Usage::at(clock::now().1)
    }

    fn since(start: &Usage) -> [(&'static str, f64); 4] {
        Usage::since(start, clock::now().1)
    }

    fn cpu_user(metrics: &[(&'static str, f64); 4]) -> f64 {
        metrics[0].1
    }

    #[test]
    fn a_job_longer_than_the_reuse_window_reads_the_kernel_at_its_end() {
        let start = now();
        let spin_until = Instant::now() + Duration::from_millis(30);
        let mut x = 0u64;
        while Instant::now() < spin_until {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let metrics = since(&start);
        // At least a third of the spin shows (the kernel's split can move some to system).
        assert!(metrics[0].1 + metrics[1].1 >= 0.01, "{metrics:?}");
        assert!(metrics[3].1 >= 0.03, "{metrics:?}");
        assert!(metrics[2].1 > 0.0, "{metrics:?}");
    }

    #[test]
    fn back_to_back_jobs_share_a_reading_and_keep_their_own_durations() {
        let first = now();
        let second = now();
        assert_eq!(first.cpu.user_s, second.cpu.user_s);
        let metrics = since(&second);
        assert!(cpu_user(&metrics) >= 0.0);
        assert!(metrics[3].1 >= 0.0 && metrics[3].1 < 1.0, "{metrics:?}");
    }

    #[test]
    fn a_reading_older_than_the_window_is_taken_again() {
        let old = now();
        std::thread::sleep(Duration::from_nanos(REUSE_NS * 2));
        let new = now();
        let reading = RECENT.with(Cell::get).unwrap();
        assert_eq!(reading.taken, new.at);
        assert!(new.at > old.at);
    }
}
