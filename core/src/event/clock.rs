//! One clock read per event for both of its times: the wall-clock `Timestamp` it carries and
//! the monotonic reading a job's duration is measured between.
//!
//! A vDSO `clock_gettime` costs ~17 ns here, and a job used to read the clock four times
//! (wall and monotonic at each end). So only `CLOCK_MONOTONIC` is read per event, and wall
//! time is that reading plus the process-wide offset between the two clocks. NTP slews both
//! clocks alike, so the offset only moves when the wall clock is stepped; it is taken again
//! whenever it is older than `REFRESH_NS`, so a step shows in event times within that long.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use super::Timestamp;

/// How long an offset between the clocks stands before it is taken again.
const REFRESH_NS: u64 = 1_000_000;

/// The offset between the clocks. On cache lines of its own: every event reads it, and a
/// neighbour written by another thread would make each of those reads a miss.
#[repr(align(128))]
struct Offset {
    /// Wall clock minus monotonic clock, in nanoseconds.
    ns: AtomicI64,
    /// The monotonic reading at which `ns` was taken; 0: never. Stored with `Release` after
    /// `ns`, so a reader that sees it set also sees an offset (not the initial 0).
    taken_ns: AtomicU64,
}

static OFFSET: Offset = Offset {
    ns: AtomicI64::new(0),
    taken_ns: AtomicU64::new(0),
};

/// A monotonic instant in nanoseconds (`CLOCK_MONOTONIC`), for durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mono(u64);

impl Mono {
    /// Seconds from `earlier` to this instant (0 if `earlier` is later).
    pub fn secs_since(self, earlier: Mono) -> f64 {
        self.0.saturating_sub(earlier.0) as f64 / 1e9
    }

    /// Whether less than `nanos` have passed from `earlier` to this instant.
    pub fn within(self, earlier: Mono, nanos: u64) -> bool {
        self.0.saturating_sub(earlier.0) < nanos
    }
}

/// The monotonic clock: on macOS its `CLOCK_MONOTONIC` counts sleep and has microseconds
/// only, `CLOCK_UPTIME_RAW` is `mach_absolute_time`, as `Instant` is.
#[cfg(target_os = "macos")]
const MONOTONIC: libc::clockid_t = libc::CLOCK_UPTIME_RAW;
#[cfg(not(target_os = "macos"))]
const MONOTONIC: libc::clockid_t = libc::CLOCK_MONOTONIC;

/// A sample of the offset is kept only if both monotonic reads around the wall clock's are
/// this close: a thread preempted between them would skew every thread's times.
const SAMPLE_GAP_NS: i64 = 2_000;

fn read_ns(clock: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given; both clocks always exist.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// The wall time and the monotonic instant of this moment, from one clock read (and a few
/// more, about once a millisecond per process, to take the offset again).
#[inline]
pub fn now() -> (Timestamp, Mono) {
    let mono = read_ns(MONOTONIC);
    let taken = OFFSET.taken_ns.load(Ordering::Acquire);
    // A reading taken by another thread after ours counts as fresh (saturating).
    let offset = if taken != 0 && (mono as u64).saturating_sub(taken) < REFRESH_NS {
        OFFSET.ns.load(Ordering::Relaxed)
    } else {
        refresh()
    };
    let wall_ns = mono + offset;
    (
        Timestamp::from_unix_micros(wall_ns.div_euclid(1_000)),
        Mono(mono as u64),
    )
}

#[cold]
fn refresh() -> i64 {
    // The narrowest of a few samples; halfway between its two monotonic reads is the best
    // guess of when the wall clock was read.
    let mut best: Option<(i64, i64, i64)> = None;
    for _ in 0..4 {
        let before = read_ns(MONOTONIC);
        let wall = read_ns(libc::CLOCK_REALTIME);
        let after = read_ns(MONOTONIC);
        let gap = after - before;
        if best.is_none_or(|(best_gap, _, _)| gap < best_gap) {
            best = Some((gap, wall - before - gap / 2, after));
        }
        if gap <= SAMPLE_GAP_NS {
            break;
        }
    }
    let Some((gap, offset, after)) = best else {
        return OFFSET.ns.load(Ordering::Relaxed);
    };
    let known = OFFSET.taken_ns.load(Ordering::Acquire) != 0;
    if gap > SAMPLE_GAP_NS && known {
        // Every sample was interrupted: keep the offset there is, and try again later.
        OFFSET
            .taken_ns
            .store(after.max(1) as u64, Ordering::Release);
        return OFFSET.ns.load(Ordering::Relaxed);
    }
    // Two refreshes racing may leave one's offset with the other's time: both are right.
    OFFSET.ns.store(offset, Ordering::Relaxed);
    OFFSET
        .taken_ns
        .store(after.max(1) as u64, Ordering::Release);
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    fn system_micros() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64
    }

    #[test]
    fn wall_time_is_the_system_clock_to_the_microsecond() {
        for _ in 0..10_000 {
            let before = system_micros();
            let (now, _) = now();
            let after = system_micros();
            // The offset is a guess within the time of a clock read: one microsecond of
            // slack either way.
            let now = now.unix_micros();
            assert!(
                before - 1 <= now && now <= after + 1,
                "{before} {now} {after}"
            );
        }
    }

    #[test]
    fn monotonic_instants_measure_what_passed() {
        let (_, start) = now();
        std::thread::sleep(std::time::Duration::from_millis(3));
        let (_, end) = now();
        let secs = end.secs_since(start);
        assert!((0.003..1.0).contains(&secs), "{secs}");
        assert_eq!(start.secs_since(end), 0.0);
        assert!(end.within(start, 1_000_000_000) && !end.within(start, 1_000_000));
    }
}
