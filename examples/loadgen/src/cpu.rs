//! Where the CPU went during a run, from /proc: the hosts, PostgreSQL (all its processes),
//! the load tool itself, and the machine as a whole. On a small shared machine this is what
//! tells a slow host from a starved one.

use std::fs;
use std::time::Instant;

/// CPU seconds so far per named process group, and the machine's busy/total jiffies.
pub struct Snapshot {
    at: Instant,
    groups: Vec<(String, f64)>,
    busy: u64,
    total: u64,
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// utime + stime of one process (all its threads), seconds.
fn process_cpu(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; the fields after it are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks_per_second())
}

/// Every process whose command name is `comm` (e.g. all PostgreSQL backends), seconds.
fn command_cpu(comm: &str) -> f64 {
    let Ok(entries) = fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == comm)
        })
        .filter_map(process_cpu)
        .sum()
}

fn machine() -> (u64, u64) {
    let Ok(stat) = fs::read_to_string("/proc/stat") else {
        return (0, 0);
    };
    let Some(line) = stat.lines().next() else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    // idle + iowait
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// `hosts`: (label, pid) of the processes under test.
pub fn snapshot(hosts: &[(&str, u32)]) -> Snapshot {
    let mut groups: Vec<(String, f64)> = hosts
        .iter()
        .map(|(name, pid)| (name.to_string(), process_cpu(*pid).unwrap_or(0.0)))
        .collect();
    groups.push(("postgres".into(), command_cpu("postgres")));
    groups.push((
        "loadgen".into(),
        process_cpu(std::process::id()).unwrap_or(0.0),
    ));
    let (busy, total) = machine();
    Snapshot {
        at: Instant::now(),
        groups,
        busy,
        total,
    }
}

/// "cores busy: gateway 0.91, postgres 0.72, loadgen 0.20, other 0.05 of 2; machine 97% busy".
/// `other` is everything else on the machine (e.g. a compiler someone started).
pub fn usage(before: &Snapshot, after: &Snapshot) -> String {
    let secs = (after.at - before.at).as_secs_f64().max(1e-3);
    let mut named = 0.0;
    let mut parts: Vec<String> = Vec::new();
    for ((name, a), (_, b)) in after.groups.iter().zip(&before.groups) {
        let cores = (a - b) / secs;
        named += cores;
        parts.push(format!("{name} {cores:.2}"));
    }
    let total = after.total.saturating_sub(before.total).max(1);
    let busy = after.busy.saturating_sub(before.busy) as f64 / total as f64;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    parts.push(format!("other {:.2}", (busy * cpus - named).max(0.0)));
    format!(
        "cores busy (avg, warm-up included): {} of {cpus}; machine {:.0}% busy",
        parts.join(", "),
        busy * 100.0
    )
}
