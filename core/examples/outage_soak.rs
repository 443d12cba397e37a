//! Every backend dead for a while at a steady event rate: memory must stay flat, nothing may
//! be lost within the spool's size, and everything must arrive once the backend returns.
//!
//!     cargo run --release --example outage_soak -- [seconds-down=600] [events-per-second=10000]
//!
//! The "dead backend" is a filesystem backend whose folder is blocked by a regular file, so
//! every write fails as on a dead disk; removing the file brings it back.

use std::time::{Duration, Instant};

use serde_json::json;
use wafermon::{Client, Config, Kind, NewEvent};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn count_lines(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                total += std::fs::read(&path)
                    .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count() as u64);
            }
        }
    }
    total
}

fn main() -> wafermon::Result<()> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seconds = args.first().copied().unwrap_or(600);
    let rate = args.get(1).copied().unwrap_or(10_000);
    let work = std::env::temp_dir().join(format!("wafermon-soak-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| wafermon::Error::io("work dir", e))?;
    let blocker = work.join("backend");
    std::fs::write(&blocker, b"down").map_err(|e| wafermon::Error::io("blocker", e))?;
    let config = Config::from_value(json!({
        "app": {"name": "soak", "site_id": "fab-soak"},
        "direct_backends": [{"type": "filesystem", "path": blocker.join("data")}],
        "spool": {"path": work.join("spool"), "max_size_mb": 4096, "fsync": "never"},
        "retry": {"initial_backoff": 0.1, "max_backoff": 2}
    }))?;
    let client = Client::new(config)?;
    let event = NewEvent::new(Kind::Progress, "job", "soak-job-0001")
        .key("LOT42")
        .progress(42.0)
        .message("wafer 7 of 25, chamber pressure nominal, endpoint detected on time");
    println!("backend down for {seconds} s at {rate} events/s");
    println!(
        "{:>6} {:>12} {:>10} {:>12}",
        "t(s)", "emitted", "rss(MiB)", "spooled"
    );
    let start = Instant::now();
    let mut emitted = 0u64;
    let rss_start = rss_kib();
    let mut rss_max = rss_start;
    for second in 0..seconds {
        let tick = start + Duration::from_secs(second);
        // Emit this second's events in 100 slices, as a steady app would.
        for slice in 0..100u64 {
            let slice_start = tick + Duration::from_millis(slice * 10);
            if let Some(wait) = slice_start.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            for _ in 0..rate / 100 {
                client.emit(&event)?;
                emitted += 1;
            }
        }
        rss_max = rss_max.max(rss_kib());
        if second % 30 == 0 || second + 1 == seconds {
            let stats = client.stats();
            println!(
                "{:>6} {:>12} {:>10.1} {:>12}",
                second,
                emitted,
                rss_kib() as f64 / 1024.0,
                stats.backends[0].spooled
            );
        }
    }
    let down_stats = client.stats();
    println!("backend returns");
    std::fs::remove_file(&blocker).map_err(|e| wafermon::Error::io("unblock", e))?;
    let back = Instant::now();
    while client.flush(Duration::from_secs(30)).is_err() {
        println!("  still delivering: {} pending", client.stats().pending());
    }
    let stats = client.close(Duration::from_secs(10));
    let written = count_lines(&blocker.join("data"));
    println!(
        "emitted {emitted}, spooled {}, written after recovery {written} in {:.1} s, dropped {}, lost {}",
        down_stats.backends[0].spooled,
        back.elapsed().as_secs_f64(),
        stats.backends[0].dropped + stats.dropped,
        emitted.saturating_sub(written)
    );
    println!(
        "RSS start {:.1} MiB, max while down {:.1} MiB",
        rss_start as f64 / 1024.0,
        rss_max as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&work);
    if written == emitted {
        println!("1 passed, 0 failed");
        Ok(())
    } else {
        println!("0 passed, 1 failed");
        std::process::exit(1)
    }
}
