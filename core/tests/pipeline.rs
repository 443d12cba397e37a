//! The pipeline as a user sees it: delivery, spooling through an outage and a restart,
//! queue-full policies, failover, filters, file formats, and the client's lifecycle.

mod common;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use wafermon::{Client, Config, ErrorKind, Kind, NewEvent};

use common::{config_in, read_events};

fn client(dir: &Path, extra: Value) -> Client {
    Client::new(Config::from_value(config_in(dir, extra)).unwrap()).unwrap()
}

fn heartbeat(i: usize) -> NewEvent {
    NewEvent::new(Kind::Heartbeat, "tool", format!("T{i}"))
}

fn entity_ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["entity"]["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn flush_delivers_everything_and_stats_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(dir.path(), json!({}));
    for i in 0..5000 {
        c.emit(&heartbeat(i)).unwrap();
    }
    c.flush(Duration::from_secs(10)).unwrap();
    let stats = c.stats();
    assert_eq!(stats.emitted, 5000);
    assert_eq!(stats.backends[0].sent, 5000);
    assert_eq!(stats.pending(), 0);
    let events = read_events(&dir.path().join("data"));
    assert_eq!(events.len(), 5000);
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        entity_ids(&events)[4999],
        "T4999",
        "one thread's events keep their order"
    );
}

/// Every line of every JSONL file under `dir`, in file order (files sorted by name).
fn lines_in_file_order(dir: &Path) -> Vec<Value> {
    let folder = dir.join("fab-t").join("test-app");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

#[test]
fn one_threads_events_arrive_in_emit_order_with_small_batches_and_fast_ticks() {
    for policy in ["spill", "block"] {
        let dir = tempfile::tempdir().unwrap();
        let c = client(
            dir.path(),
            json!({"batch": {"max_events": 50, "flush_interval": 0.001},
                   "queue": {"capacity_bytes": 65536, "on_full": policy}}),
        );
        for i in 0..100_000 {
            c.emit(&heartbeat(i)).unwrap();
        }
        c.close(Duration::from_secs(30));
        let lines = lines_in_file_order(&dir.path().join("data"));
        assert_eq!(lines.len(), 100_000, "{policy}");
        let out_of_order = lines
            .windows(2)
            .filter(|w| {
                let a: usize = w[0]["entity"]["id"].as_str().unwrap()[1..].parse().unwrap();
                let b: usize = w[1]["entity"]["id"].as_str().unwrap()[1..].parse().unwrap();
                b != a + 1 || w[1]["seq"].as_u64() <= w[0]["seq"].as_u64()
            })
            .count();
        assert_eq!(
            out_of_order, 0,
            "{policy}: events delivered out of emit order"
        );
    }
}

#[test]
fn events_survive_an_outage_and_a_restart_through_the_spool() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the data folder should be: every write fails, as on a dead disk.
    let blocker = dir.path().join("blocked");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let extra = json!({
        "direct_backends": [{"type": "filesystem", "path": blocker.join("data")}],
        "retry": {"initial_backoff": 0.01, "max_backoff": 0.05}
    });
    let first = client(dir.path(), extra.clone());
    for i in 0..300 {
        first.emit(&heartbeat(i)).unwrap();
    }
    let err = first.flush(Duration::from_millis(300)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.message().contains("300 events"), "{err}");
    let stats = first.close(Duration::from_millis(200));
    let backend = &stats.backends[0];
    assert_eq!(backend.sent, 0);
    assert_eq!(backend.queued, 300);
    assert!(backend.spooled >= 300);
    assert!(!backend.healthy);
    assert!(backend
        .last_error
        .as_deref()
        .unwrap_or("")
        .contains("cannot write"));
    drop(first);

    // The disk comes back; the next run replays the spool before anything new.
    std::fs::remove_file(&blocker).unwrap();
    let second = client(dir.path(), extra);
    second.emit(&heartbeat(300)).unwrap();
    second.flush(Duration::from_secs(10)).unwrap();
    let stats = second.close(Duration::from_secs(5));
    assert_eq!(stats.backends[0].sent, 301);
    let events = read_events(&blocker.join("data"));
    let mut ids = entity_ids(&events);
    ids.sort_by_key(|id| id[1..].parse::<u32>().unwrap());
    let expected: Vec<String> = (0..301).map(|i| format!("T{i}")).collect();
    assert_eq!(ids, expected, "each event exactly once");
}

#[test]
fn emit_never_fails_while_the_backend_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("blocked");
    std::fs::write(&blocker, b"x").unwrap();
    let c = client(
        dir.path(),
        json!({"direct_backends": [{"type": "filesystem", "path": blocker.join("d")}]}),
    );
    for i in 0..20_000 {
        c.emit(&heartbeat(i)).unwrap();
    }
    let stats = c.close(Duration::from_millis(100));
    assert_eq!(stats.emitted, 20_000);
    assert_eq!(stats.backends[0].queued + stats.backends[0].dropped, 20_000);
}

#[test]
fn queue_full_policies_account_for_every_event() {
    for policy in ["drop_newest", "spill", "block"] {
        let dir = tempfile::tempdir().unwrap();
        let c = client(
            dir.path(),
            json!({"queue": {"capacity_bytes": 512, "on_full": policy}, "batch": {"max_events": 4}}),
        );
        let threads: Vec<_> = (0..2)
            .map(|t| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..5000 {
                        c.emit(&heartbeat(t * 10_000 + i)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        c.flush(Duration::from_secs(20)).unwrap();
        let stats = c.close(Duration::from_secs(5));
        let written = read_events(&dir.path().join("data")).len() as u64;
        assert_eq!(written, stats.backends[0].sent, "{policy}");
        match policy {
            "drop_newest" => {
                assert_eq!(stats.emitted + stats.dropped, 10_000, "{policy}: {stats:?}")
            }
            _ => {
                assert_eq!(stats.dropped, 0, "{policy}: {stats:?}");
                assert_eq!(written, 10_000, "{policy}: nothing lost");
            }
        }
    }
}

#[test]
fn failover_group_moves_to_the_next_backend_and_the_primary_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("blocked");
    std::fs::write(&blocker, b"x").unwrap();
    let c = client(
        dir.path(),
        json!({
            "direct_backends": [
                {"type": "filesystem", "name": "primary", "group": "store", "priority": 0, "path": blocker.join("p")},
                {"type": "filesystem", "name": "secondary", "group": "store", "priority": 1, "path": dir.path().join("s")}
            ],
            "retry": {"initial_backoff": 0.01, "max_backoff": 0.02}
        }),
    );
    c.emit(&heartbeat(0)).unwrap();
    let _ = c.flush(Duration::from_millis(300)); // the primary fails and is marked unhealthy
    for i in 1..100 {
        c.emit(&heartbeat(i)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let secondary = read_events(&dir.path().join("s"));
    assert_eq!(secondary.len(), 99, "new events go to the healthy member");

    std::fs::remove_file(&blocker).unwrap();
    c.flush(Duration::from_secs(10)).unwrap();
    let primary = read_events(&blocker.join("p"));
    assert_eq!(
        entity_ids(&primary),
        vec!["T0"],
        "the primary delivers what it spooled"
    );
}

#[test]
fn filters_pick_events_by_kind_and_entity_kind() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(
        dir.path(),
        json!({"direct_backends": [
            {"type": "filesystem", "name": "all", "path": dir.path().join("all")},
            {"type": "filesystem", "name": "failures", "path": dir.path().join("failures"),
             "filter": {"kinds": ["failed"], "entity_kinds": ["job"]}}
        ]}),
    );
    let job = c.job("etch").start().unwrap();
    job.subjob("rinse").start().unwrap().fail("leak").unwrap();
    job.fail("chamber fault").unwrap();
    c.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(read_events(&dir.path().join("all")).len(), 4);
    let failures = read_events(&dir.path().join("failures"));
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["message"], "chamber fault");
}

#[test]
fn csv_files_rotate_by_size_and_each_has_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("csv");
    let c = client(
        dir.path(),
        json!({"direct_backends": [{"type": "filesystem", "path": data, "format": "csv", "rotate_size_mb": 0.01}]}),
    );
    for i in 0..300 {
        c.emit(&heartbeat(i).message("a,b \"quoted\"\nsecond line"))
            .unwrap();
    }
    c.close(Duration::from_secs(10));
    let folder = data.join("fab-t").join("test-app");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() > 2, "rotated into {} files", files.len());
    let mut rows = 0;
    for file in &files {
        assert!(
            std::fs::metadata(file).unwrap().len() < 10_240 + 2048,
            "{file:?} respects the size"
        );
        let mut reader = csv::Reader::from_path(file).unwrap();
        assert_eq!(reader.headers().unwrap().get(1), Some("id"));
        for record in reader.records() {
            let record = record.unwrap();
            assert_eq!(&record[17], "a,b \"quoted\"\nsecond line");
            rows += 1;
        }
    }
    assert_eq!(rows, 300);
}

#[test]
fn jsonl_files_are_per_site_and_app_and_per_day() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(dir.path(), json!({}));
    let mut e = NewEvent::new(Kind::Heartbeat, "tool", "T1")
        .time(wafermon::Timestamp::parse("2026-01-02T03:04:05Z").unwrap());
    c.emit(&e).unwrap();
    e.time = Some(wafermon::Timestamp::parse("2026-01-03T00:00:00Z").unwrap());
    e.site = Some("fab 2/../x".into());
    c.emit(&e).unwrap();
    c.close(Duration::from_secs(5));
    let data = dir.path().join("data");
    assert!(data
        .join("fab-t/test-app/events-2026-01-02.jsonl")
        .is_file());
    assert!(
        data.join("fab_2_.._x/test-app/events-2026-01-03.jsonl")
            .is_file(),
        "site names cannot escape the folder"
    );
}

#[test]
fn closed_clients_refuse_events_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(dir.path(), json!({}));
    let job = c.job("etch").start().unwrap();
    let stats = c.close(Duration::from_secs(5));
    assert_eq!(stats.backends[0].sent, 1);
    let err = c.emit(&heartbeat(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed);
    assert_eq!(job.progress(10.0).unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(
        c.flush(Duration::from_secs(1)).unwrap_err().kind(),
        ErrorKind::Closed
    );
    assert_eq!(
        c.close(Duration::from_secs(1)),
        stats,
        "close is idempotent"
    );
}

#[test]
fn a_job_dropped_while_panicking_is_failed_and_one_dropped_quietly_is_canceled() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(dir.path(), json!({}));
    let c2 = c.clone();
    let result = std::thread::spawn(move || {
        let _job = c2.job("crashy").start().unwrap();
        panic!("tool fault");
    })
    .join();
    assert!(result.is_err());
    drop(c.job("quiet").start().unwrap());
    c.close(Duration::from_secs(5));
    let events = read_events(&dir.path().join("data"));
    let ends: Vec<(String, String, String)> = events
        .iter()
        .filter(|e| e["kind"] != "started")
        .map(|e| {
            (
                e["entity"]["name"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        ends,
        vec![
            ("crashy".into(), "failed".into(), "panicked".into()),
            (
                "quiet".into(),
                "canceled".into(),
                "dropped without finish".into()
            )
        ]
    );
}

#[test]
fn job_calls_reject_bad_values_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(dir.path(), json!({}));
    let job = c.job("etch").start().unwrap();
    let err = job.progress(101.0).unwrap_err();
    assert_eq!(
        (err.kind(), err.path()),
        (ErrorKind::InvalidEvent, Some("progress"))
    );
    let err = job.metric("temp", f64::NAN).unwrap_err();
    assert_eq!(err.path(), Some("metrics.temp"));
    let err = job.metric("", 1.0).unwrap_err();
    assert_eq!(err.path(), Some("metrics"));
    let twice = heartbeat(1).metric("t", 1.0).metric("t", 2.0);
    assert_eq!(c.emit(&twice).unwrap_err().path(), Some("metrics.t"));
    let err = c.job("").start().unwrap_err();
    assert_eq!(err.path(), Some("entity.name"));
    // An ending never fails on its message: an over-long reason is cut, the job still ends.
    job.fail(&"x".repeat(70_000)).unwrap();
    c.close(Duration::from_secs(5));
    let events = read_events(&dir.path().join("data"));
    let last = events.last().unwrap();
    assert_eq!(last["status"], "failed");
    assert_eq!(last["message"].as_str().unwrap().len(), 65_536);
}

#[test]
fn resource_metrics_measure_the_job() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(dir.path(), json!({}));
    let job = c.job("busy").start().unwrap();
    let started = std::time::Instant::now();
    let mut x = 0u64;
    while started.elapsed() < Duration::from_millis(150) {
        x = x.wrapping_add(std::hint::black_box(1));
    }
    let big = vec![1u8; 64 << 20];
    std::hint::black_box(&big);
    job.finish().unwrap();
    c.close(Duration::from_secs(5));
    let events = read_events(&dir.path().join("data"));
    let m = &events[1]["metrics"];
    assert!(m["duration_s"].as_f64().unwrap() >= 0.15);
    assert!(m["cpu_user_s"].as_f64().unwrap() + m["cpu_system_s"].as_f64().unwrap() >= 0.05);
    assert!(m["max_rss_bytes"].as_f64().unwrap() >= (64 << 20) as f64);
}

/// CPU is counted per job, children included once they are reaped: a job that waits for a
/// busy child carries the child's CPU, and a job started after that carries none of it.
#[test]
fn cpu_metrics_are_per_job_and_count_reaped_children() {
    let dir = tempfile::tempdir().unwrap();
    let c = client(dir.path(), json!({}));
    let parent = c.job("runs-a-child").start().unwrap();
    // A fixed amount of work (a few tenths of a second of CPU), however loaded the machine.
    let status = std::process::Command::new("sh")
        .args([
            "-c",
            "i=0; while [ \"$i\" -lt 300000 ]; do i=$((i+1)); done",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    parent.finish().unwrap();
    c.job("after").start().unwrap().finish().unwrap();
    c.close(Duration::from_secs(5));
    let events = read_events(&dir.path().join("data"));
    let cpu = |name: &str| {
        let finished = events
            .iter()
            .find(|e| e["kind"] == "finished" && e["entity"]["name"] == name)
            .unwrap();
        let m = &finished["metrics"];
        m["cpu_user_s"].as_f64().unwrap() + m["cpu_system_s"].as_f64().unwrap()
    };
    let (with_child, after) = (cpu("runs-a-child"), cpu("after"));
    assert!(with_child >= 0.02, "{with_child}");
    assert!(after < with_child, "{after} (a total, not a delta?)");
}

#[test]
fn the_global_client_is_configured_once_and_shut_down() {
    let dir = tempfile::tempdir().unwrap();
    let client =
        wafermon::init(Config::from_value(config_in(dir.path(), json!({}))).unwrap()).unwrap();
    wafermon::global()
        .unwrap()
        .job("via-global")
        .start()
        .unwrap()
        .finish()
        .unwrap();
    drop(client);
    let stats = wafermon::shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(stats.backends[0].sent, 2);
    assert!(wafermon::shutdown(Duration::from_secs(1)).is_none());
}

/// The spool segment files of the backend `name` (slot 0), oldest first.
fn spool_segments(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let slot = dir.join("spool").join(name).join("0");
    let mut segments: Vec<_> = std::fs::read_dir(slot)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segments.sort();
    segments
}

/// A record whose checksum is right but whose bytes are no event (a disk that kept a
/// half-written page, or another program's file): it is neither delivered nor counted as
/// sent, but counted as corrupt, named in the backend's last error and in one log line.
#[test]
fn a_spooled_record_that_passes_its_checksum_but_does_not_decode_is_counted_as_corrupt() {
    common::logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("blocked");
    std::fs::write(&blocker, b"x").unwrap();
    let down = json!({"direct_backends": [{"type": "filesystem", "path": blocker.join("data")}]});
    let first = client(dir.path(), down);
    for i in 0..10 {
        first.emit(&heartbeat(i)).unwrap();
    }
    first.close(Duration::from_millis(200));
    drop(first);

    let segments = spool_segments(dir.path(), "filesystem");
    let last = segments.last().unwrap().clone();
    let payload = b"\x93not a wafermon record";
    let mut record = (payload.len() as u32).to_le_bytes().to_vec();
    record.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    record.extend_from_slice(payload);
    let mut bytes = std::fs::read(&last).unwrap();
    bytes.extend_from_slice(&record);
    std::fs::write(&last, bytes).unwrap();

    std::fs::remove_file(&blocker).unwrap();
    let up = json!({"direct_backends": [{"type": "filesystem", "path": blocker.join("data")}]});
    let second = client(dir.path(), up);
    second.flush(Duration::from_secs(10)).unwrap();
    let stats = second.close(Duration::from_secs(5));
    let backend = &stats.backends[0];
    assert_eq!(read_events(&blocker.join("data")).len(), 10);
    assert_eq!(
        (backend.sent, backend.corrupt, backend.queued),
        (10, 1, 0),
        "{backend:?}"
    );
    let segment = last.file_name().unwrap().to_str().unwrap();
    let error = backend.last_error.as_deref().unwrap_or_default();
    assert!(error.contains(segment), "{error}");
    let slot = last.parent().unwrap().to_str().unwrap();
    assert_eq!(common::logs::lines_with(slot).len(), 1);
}

/// Threads emit as fast as they can while the client closes: each emit either returns an
/// error (closed) or its event is counted, and every counted event is delivered by the close
/// (the backend is up, the timeout generous). Nothing is left in a thread's buffer or on its
/// way to a worker that has gone, nor in the ingress spool when the queue spills. Several
/// rounds, as the moment of the close varies.
#[test]
fn events_emitted_while_the_client_closes_are_each_delivered_or_refused() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let mut spilled = 0;
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        // Every other round with a queue small enough to spill.
        let capacity = if round % 2 == 0 { 32 << 20 } else { 4096 };
        let c = client(
            dir.path(),
            json!({"batch": {"max_events": 7, "flush_interval": 0.001},
                   "queue": {"capacity_bytes": capacity, "on_full": "spill"}}),
        );
        let started = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..32)
            .map(|t| {
                let (c, started) = (c.clone(), started.clone());
                std::thread::spawn(move || {
                    let mut accepted = 0u64;
                    loop {
                        match c.emit(&heartbeat(t * 1_000_000 + accepted as usize)) {
                            Ok(()) => accepted += 1,
                            Err(e) => {
                                assert_eq!(e.kind(), ErrorKind::Closed);
                                return accepted;
                            }
                        }
                        started.store(true, Ordering::Release);
                    }
                })
            })
            .collect();
        while !started.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(round % 7));
        let closed = c.close(Duration::from_secs(60));
        let accepted: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        let after = c.stats();
        assert_eq!(after, closed, "round {round}: nothing changes after close");
        let backend = &closed.backends[0];
        assert_eq!(closed.emitted, accepted, "round {round}: {closed:?}");
        assert_eq!(
            (backend.sent, backend.queued, closed.queued, closed.dropped),
            (accepted, 0, 0, 0),
            "round {round}: {closed:?}"
        );
        assert_eq!(read_events(&dir.path().join("data")).len() as u64, accepted);
        spilled += closed.spilled;
    }
    assert!(spilled > 0, "the small queues spilled");
}

/// on_full = spill with an ingress spool folder that cannot be used (here a file stands where
/// the folder should be): what does not fit the queue is dropped, and the client says so:
/// counted (`dropped` and `spill_failed`), named in `last_error`, and one log line, not one
/// per chunk.
#[test]
fn spilling_into_an_unusable_ingress_spool_is_counted_and_said_once() {
    common::logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    std::fs::write(spool.join(".ingress"), b"not a folder").unwrap();
    let c = client(
        dir.path(),
        json!({"queue": {"capacity_bytes": 512, "on_full": "spill"}, "batch": {"max_events": 4}}),
    );
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                for i in 0..5000 {
                    c.emit(&heartbeat(t * 10_000 + i)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stats = c.close(Duration::from_secs(20));
    let sent = stats.backends[0].sent;
    assert_eq!(stats.emitted, 10_000);
    assert_eq!(sent + stats.dropped, 10_000, "{stats:?}");
    assert!(stats.dropped > 0, "the queue overflowed: {stats:?}");
    assert_eq!(stats.spill_failed, stats.dropped, "{stats:?}");
    let error = stats.last_error.as_deref().unwrap_or_default();
    assert!(error.contains(".ingress"), "{error}");
    let folder = spool.join(".ingress").display().to_string();
    assert_eq!(common::logs::lines_with(&folder).len(), 1);
}

/// Emit `events` to a webhook at `url` that never answers, and close after the first batch
/// is out: the close's stats, and how long it took.
fn close_with_a_silent_backend(
    dir: &Path,
    url: &str,
    events: std::ops::Range<usize>,
) -> (wafermon::BackendStats, Duration) {
    let c = client(
        dir,
        json!({
            "direct_backends": [{"type": "webhook", "name": "silent", "url": url, "timeout": 10}],
            "batch": {"max_events": 10, "flush_interval": 0.02},
        }),
    );
    for i in events {
        c.emit(&heartbeat(i)).unwrap();
    }
    // The first batch is out to the backend, the others wait behind it.
    let err = c.flush(Duration::from_millis(300)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    let started = std::time::Instant::now();
    let stats = c.close(Duration::from_secs(1));
    (stats.backends[0].clone(), started.elapsed())
}

/// A backend that accepts connections and never answers holds its delivery thread in a
/// request for the backend's whole timeout, try after try. `close` still returns once its
/// own timeout has passed, and nothing the lane held is lost: the batch out to the backend
/// (from memory, or read back from the spool in the next run), the retries and the queued
/// batches are in the spool, and the run after delivers each event exactly once, in emit
/// order. The stuck threads still run meanwhile: they write nothing more, and the spool's
/// folder is free for the next client at once.
#[test]
fn close_is_bounded_and_keeps_every_event_when_the_backend_never_answers() {
    let dir = tempfile::tempdir().unwrap();
    // Connections land in the listen backlog; nobody ever reads or answers them.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", silent.local_addr().unwrap());

    // Generous: before, close waited for every try of the request (about 40 s).
    let (backend, took) = close_with_a_silent_backend(dir.path(), &url, 0..50);
    assert!(took < Duration::from_secs(8), "close took {took:?}");
    assert_eq!(
        (
            backend.sent,
            backend.queued,
            backend.spooled,
            backend.dropped
        ),
        (0, 50, 50, 0),
        "{backend:?}"
    );
    // The next run, still silent: its stuck request carries events read from the spool.
    let (backend, took) = close_with_a_silent_backend(dir.path(), &url, 50..60);
    assert!(took < Duration::from_secs(8), "close took {took:?}");
    assert_eq!(
        (
            backend.sent,
            backend.queued,
            backend.spooled,
            backend.dropped
        ),
        (0, 60, 10, 0),
        "the new events spooled behind the old ones: {backend:?}"
    );

    // Then the same backend name on a filesystem that works.
    let last = client(
        dir.path(),
        json!({"direct_backends": [{"type": "filesystem", "name": "silent", "path": dir.path().join("data")}]}),
    );
    last.flush(Duration::from_secs(10)).unwrap();
    let stats = last.close(Duration::from_secs(5));
    assert_eq!(stats.backends[0].sent, 60, "{stats:?}");
    let expected: Vec<String> = (0..60).map(|i| format!("T{i}")).collect();
    assert_eq!(
        entity_ids(&lines_in_file_order(&dir.path().join("data"))),
        expected,
        "each event exactly once, in emit order"
    );
    drop(silent);
}
