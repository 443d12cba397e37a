//! Init/close cycles leave nothing behind: after WAFERMON_LEAK_CYCLES (default 1,000; the
//! issue's figure is 10,000) clients made, used and closed in turn on one folder, the
//! process has the threads and open files it had after the warm-up, and its resident memory
//! grew by no more than allocator slack. The counts before and after are printed.
//! One test function: the counts are the whole process's, so nothing may run beside it.

mod common;

use std::time::Duration;

use serde_json::json;
use wafermon::{Client, Config, Kind, NewEvent};

use common::config_in;

/// Threads, open file descriptors and resident KiB of this process, from /proc.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Footprint {
    threads: usize,
    fds: usize,
    rss_kib: u64,
}

fn footprint() -> Footprint {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/self/status"))
    };
    Footprint {
        threads: field("Threads:") as usize,
        fds: std::fs::read_dir("/proc/self/fd").unwrap().count(),
        rss_kib: field("VmRSS:"),
    }
}

fn cycle(config: &serde_json::Value, n: usize) {
    let client = Client::new(Config::from_value(config.clone()).unwrap()).unwrap();
    let job = client
        .job("leak-check")
        .kind("lot")
        .key(format!("LOT-{n}"))
        .start()
        .unwrap();
    client
        .emit(&NewEvent::new(Kind::Heartbeat, "tool", "etch-1"))
        .unwrap();
    job.finish().unwrap();
    let stats = client.close(Duration::from_secs(10));
    assert_eq!(
        (stats.emitted, stats.dropped),
        (3, 0),
        "cycle {n}: {stats:?}"
    );
}

#[test]
fn init_close_cycles_leave_threads_files_and_memory_flat() {
    let cycles: usize = std::env::var("WAFERMON_LEAK_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), json!({"batch": {"flush_interval": 0.05}}));
    // The warm-up fills what is made once per process (the clock, the fork handler,
    // thread-local buffers, the allocator's arenas).
    let warm_up = (cycles / 10).max(10);
    for n in 0..warm_up {
        cycle(&config, n);
    }
    let before = footprint();
    for n in warm_up..cycles {
        cycle(&config, n);
    }
    let after = footprint();
    println!(
        "rust: {cycles} init/close cycles: threads {} -> {}, open fds {} -> {}, RSS {} -> {} KiB \
         (counted after {warm_up} warm-up cycles)",
        before.threads, after.threads, before.fds, after.fds, before.rss_kib, after.rss_kib
    );
    assert_eq!(after.threads, before.threads, "threads left running");
    assert_eq!(after.fds, before.fds, "files or sockets left open");
    // Generous: a leak of one small allocation per cycle is 100 KB at 1,000 cycles, so only
    // a leak per cycle in the KB (a buffer, a thread's stack) shows. Allocator slack stays
    // far under this.
    let grown = after.rss_kib.saturating_sub(before.rss_kib);
    assert!(
        grown < 8 * 1024,
        "RSS grew by {grown} KiB over {} cycles",
        cycles - warm_up
    );
}
