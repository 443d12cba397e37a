//! Closing clients when the process exits, with a bounded wait.
//!
//! Two ways in, doing the same work (`close_all`):
//! - `close_at_exit(timeout)` installs a C `atexit` hook once. Use it where the language has
//!   no exit hook of its own that runs reliably with the runtime still alive: plain C, and
//!   Perl (whose global destruction order is not guaranteed). It runs on `exit()` and on a
//!   return from `main`, not on `_exit`, a signal or an abort. glibc runs a shared library's
//!   `atexit` hooks when the library is unloaded, so an unloaded library never leaves a
//!   dangling hook behind.
//! - `close_all(timeout)` from the language's own hook, where there is one: the JVM's
//!   shutdown hook, R's `reg.finalizer(onexit = TRUE)`, Python's `atexit`. Those run while
//!   the runtime's threads still exist; a C `atexit` hook in a JVM or R may run after they
//!   stopped, which is harmless here (the core's threads are its own) but too late for a
//!   skin that needs its runtime.
//!
//! Either way it is safe in any process state it can meet:
//! - idempotent: the first call in a process does the work, later ones return at once;
//! - after fork: a forked child inherits the hook (`atexit` entries survive fork) but closes
//!   only clients it used itself (`Client::runs_here`); the parent's pipeline is never
//!   touched, and a lock held by a thread that does not exist in the child is never waited
//!   for;
//! - bounded: every client gets at most `timeout`, and only a short wait when every backend
//!   is down (what is not delivered stays in the spool for the next run). `close` itself
//!   returns by its timeout, also when a backend does not answer at all: what a delivery
//!   thread stuck in a request holds is then written to the spool by the closing thread.
//!
//! One line on stderr says how many events a client leaves in the spool at exit, where, and
//! why (and how many it had to drop, for a backend without a usable spool).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once, TryLockError};
use std::time::{Duration, Instant};

use crate::client::{Client, WeakClient};
use crate::fork;
use crate::pipeline::Stats;

/// How long the exit waits when the first short flush shows every backend down.
pub const WHEN_DOWN: Duration = Duration::from_millis(500);

static HOOK: Once = Once::new();
static TIMEOUT_MS: AtomicU64 = AtomicU64::new(5_000);
/// The process generation that last ran `close_all`, plus one (0: never).
static RAN_IN: AtomicU64 = AtomicU64::new(0);
static REGISTERED: Mutex<Vec<WeakClient>> = Mutex::new(Vec::new());

extern "C" fn at_exit() {
    // A panic must not unwind into libc.
    let _ = std::panic::catch_unwind(|| close_all(exit_timeout()));
}

fn exit_timeout() -> Duration {
    Duration::from_millis(TIMEOUT_MS.load(Ordering::Relaxed))
}

/// Close the process-wide client (`wafermon::init` / `global`) and every client given to
/// `register` when this process exits normally, waiting up to `timeout` for each. Calling
/// it again only changes the timeout.
pub fn close_at_exit(timeout: Duration) {
    TIMEOUT_MS.store(
        u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    fork::install();
    HOOK.call_once(|| {
        // SAFETY: `at_exit` is an `extern "C" fn()` that never unwinds.
        unsafe {
            libc::atexit(at_exit);
        }
    });
}

/// Also close `client` at exit (it is held weakly: dropping it still closes it at once).
pub fn register(client: &Client) {
    let mut list = REGISTERED.lock().unwrap_or_else(|p| p.into_inner());
    list.retain(|weak| weak.upgrade().is_some());
    if !list.iter().any(|weak| weak.is(client)) {
        list.push(client.downgrade());
    }
}

/// What the exit hook does, for a language's own hook: close the process-wide client and
/// every registered one (`close_for_exit`). Only the first call in a process does anything.
/// Returns the final stats of the clients it closed.
pub fn close_all(timeout: Duration) -> Vec<Stats> {
    let here = fork::generation() + 1;
    if RAN_IN.swap(here, Ordering::AcqRel) == here {
        return Vec::new();
    }
    let mut clients: Vec<Client> = crate::global::peek_without_waiting().into_iter().collect();
    let registered = match REGISTERED.try_lock() {
        Ok(list) => list.iter().filter_map(WeakClient::upgrade).collect(),
        Err(TryLockError::Poisoned(p)) => p
            .into_inner()
            .iter()
            .filter_map(WeakClient::upgrade)
            .collect(),
        Err(TryLockError::WouldBlock) => Vec::new(),
    };
    for client in registered {
        if !clients.iter().any(|c| c.same_as(&client)) {
            clients.push(client);
        }
    }
    clients
        .iter()
        .filter_map(|c| close_for_exit(c, timeout, WHEN_DOWN))
        .collect()
}

/// Close one client as a process ends: deliver for up to `timeout`, but when a first short
/// flush (`when_down`, `WHEN_DOWN` by default) shows every backend down or failing, give it
/// only that short time (an application must not hang at exit because its sidecar is gone;
/// the spool keeps the rest). Never waits past `timeout` (`Client::close` is bounded), and
/// says on stderr what was left in the spool. `None` when there was nothing to do: closed
/// already, or a forked child's copy it never used.
pub fn close_for_exit(client: &Client, timeout: Duration, when_down: Duration) -> Option<Stats> {
    if !client.runs_here() || client.is_closed() {
        return None;
    }
    let started = Instant::now();
    let short = timeout.min(when_down);
    let wait = match client.flush(short) {
        Ok(()) => timeout,
        Err(e) if e.kind() == crate::ErrorKind::Closed => return None,
        Err(_) => {
            let backends = client.stats().backends;
            // A backend in its first retries still counts as healthy, but has an error.
            let down = !backends.is_empty()
                && backends
                    .iter()
                    .all(|b| !b.healthy || b.last_error.is_some());
            if down {
                short
            } else {
                timeout
            }
        }
    };
    let dropped_before = dropped(&client.stats());
    // The first flush counts against the timeout too.
    let stats = client.close(wait.min(timeout.saturating_sub(started.elapsed())));
    let lost = dropped(&stats).saturating_sub(dropped_before);
    if let Some(line) = left_over(client, &stats, lost, started.elapsed()) {
        eprintln!("{line}");
    }
    Some(stats)
}

/// Events the client and its backends gave up on (counted as dropped).
fn dropped(stats: &Stats) -> u64 {
    stats.dropped + stats.backends.iter().map(|b| b.dropped).sum::<u64>()
}

/// The stderr line for what a client leaves undelivered at exit (`lost`: dropped while
/// closing), if anything.
fn left_over(client: &Client, stats: &Stats, lost: u64, took: Duration) -> Option<String> {
    // A close keeps in the spool whatever it did not deliver (`Pipeline::close`).
    let in_spool = stats.pending();
    if in_spool == 0 && lost == 0 {
        return None;
    }
    let why: Vec<String> = stats
        .backends
        .iter()
        .filter(|b| b.queued > 0)
        .map(|b| {
            let error = b.last_error.as_deref().unwrap_or("no answer yet");
            format!("{}: {error}", b.name)
        })
        .collect();
    let spool = client.config().spool.path.display();
    let mut line = format!(
        "wafermon: exit after {:.1} s: {in_spool} event(s) not delivered, kept in the spool at \
         {spool} for the next run ({})",
        took.as_secs_f64(),
        why.join("; ")
    );
    if lost > 0 {
        line.push_str(&format!(
            "; {lost} event(s) dropped: no usable spool to keep them"
        ));
    }
    Some(line)
}
