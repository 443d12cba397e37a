//! Fork safety: a forked child gets a fresh worker and an empty queue; parent and child both
//! deliver their own events, each exactly once.

mod common;

use std::time::Duration;

use serde_json::json;
use wafermon::{Client, Config, ErrorKind, Kind, NewEvent};

use common::fork::in_child;
use common::{config_in, read_events};

fn event(who: &str, i: usize) -> NewEvent {
    NewEvent::new(Kind::Heartbeat, "tool", format!("{who}-{i}"))
}

#[test]
fn parent_and_forked_children_each_deliver_their_own_events_once() {
    let _serial = common::fork::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let client =
        Client::new(Config::from_value(config_in(dir.path(), json!({}))).unwrap()).unwrap();
    // Events still in this thread's buffer at fork time belong to the parent only.
    for i in 0..50 {
        client.emit(&event("parent", i)).unwrap();
    }
    for child in 0..3 {
        let c = client.clone();
        let code = in_child(move || {
            let who = format!("child{child}");
            for i in 0..40 {
                if c.emit(&event(&who, i)).is_err() {
                    return false;
                }
            }
            let job = c.job("in-child").start().and_then(|j| j.finish());
            let flushed = c.flush(Duration::from_secs(10));
            let stats = c.close(Duration::from_secs(5));
            job.is_ok() && flushed.is_ok() && stats.emitted == 42 && stats.backends[0].sent == 42
        });
        assert_eq!(code, 0, "child {child} delivered its events");
    }
    for i in 50..100 {
        client.emit(&event("parent", i)).unwrap();
    }
    client.flush(Duration::from_secs(10)).unwrap();
    let stats = client.close(Duration::from_secs(5));
    assert_eq!(stats.emitted, 100);
    assert_eq!(stats.backends[0].sent, 100);

    let events = read_events(&dir.path().join("data"));
    let mut ids: Vec<String> = events
        .iter()
        .filter(|e| e["entity"]["kind"] == "tool")
        .map(|e| e["entity"]["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut expected: Vec<String> = (0..100).map(|i| format!("parent-{i}")).collect();
    for child in 0..3 {
        expected.extend((0..40).map(|i| format!("child{child}-{i}")));
    }
    expected.sort();
    assert_eq!(ids, expected);
    let ids: std::collections::HashSet<&str> =
        events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids.len(),
        events.len(),
        "no two events share an id across processes"
    );
}

#[test]
fn a_living_child_does_not_keep_the_parents_spool_slots() {
    let _serial = common::fork::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_value(config_in(dir.path(), json!({}))).unwrap();
    let first = Client::new(config.clone()).unwrap();
    // SAFETY: the child only sleeps and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        std::thread::sleep(Duration::from_millis(1500));
        unsafe { libc::_exit(0) };
    }
    first.close(Duration::from_secs(5));
    drop(first);
    // The child still runs, yet the restarted client gets the same slot back (and with it
    // whatever the first one left in its spool).
    let second = Client::new(config).unwrap();
    let slots = dir.path().join("spool").join("filesystem");
    assert!(slots.join("0").is_dir());
    assert!(
        !slots.join("1").exists(),
        "a new slot was taken: the child kept slot 0 locked"
    );
    second.close(Duration::from_secs(5));
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, 0) };
}

#[test]
fn durably_ingested_events_survive_the_process_dying_at_once() {
    let _serial = common::fork::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    // A backend that is down, so nothing is delivered before the "crash".
    let blocker = dir.path().join("blocked");
    std::fs::write(&blocker, b"x").unwrap();
    let down = json!({"direct_backends": [{"type": "filesystem", "path": blocker.join("data")}]});
    let config = Config::from_value(config_in(dir.path(), down)).unwrap();
    let code = in_child(move || {
        let Ok(client) = Client::new(config) else {
            return false;
        };
        let events: Vec<NewEvent> = (0..25).map(|i| event("acked", i)).collect();
        // Returned Ok = on disk: the child dies right after, without close or flush.
        client.ingest(&events).is_ok()
    });
    assert_eq!(code, 0);
    std::fs::remove_file(&blocker).unwrap();
    let up = json!({"direct_backends": [{"type": "filesystem", "path": blocker.join("data")}]});
    let client = Client::new(Config::from_value(config_in(dir.path(), up)).unwrap()).unwrap();
    client.flush(Duration::from_secs(10)).unwrap();
    let events = read_events(&blocker.join("data"));
    let mut ids: Vec<String> = events
        .iter()
        .map(|e| e["entity"]["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut expected: Vec<String> = (0..25).map(|i| format!("acked-{i}")).collect();
    expected.sort();
    assert_eq!(ids, expected);

    let bad = vec![
        event("x", 1),
        NewEvent::new(Kind::Progress, "job", "J").progress(150.0),
    ];
    let err = client.ingest(&bad).unwrap_err();
    assert_eq!(err.path(), Some("[1].progress"));
    client.close(Duration::from_secs(5));
}

/// The threads of this process, from /proc.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// A forked child that never used the client asks for its counters and closes it: that
/// answers from what the child did (nothing) without starting a pipeline there (no thread,
/// no spool slot), and the client is closed in the child alone.
#[test]
fn stats_and_close_in_a_child_that_never_used_the_client_start_nothing() {
    let _serial = common::fork::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let client =
        Client::new(Config::from_value(config_in(dir.path(), json!({}))).unwrap()).unwrap();
    for i in 0..10 {
        client.emit(&event("parent", i)).unwrap();
    }
    client.flush(Duration::from_secs(10)).unwrap();
    let slots = dir.path().join("spool").join("filesystem");
    let c = client.clone();
    let code = in_child(move || {
        let stats = c.stats();
        let threads_after_stats = threads();
        let closed = c.close(Duration::from_secs(5));
        let threads_after_close = threads();
        let refused = c.emit(&event("child", 0)).map_err(|e| e.kind());
        let checks = [
            (
                "stats count nothing",
                stats.emitted == 0 && stats.pending() == 0,
            ),
            (
                "stats list the backend",
                stats.backends.len() == 1 && stats.backends[0].name == "filesystem",
            ),
            ("close counts nothing", closed.emitted == 0),
            ("no thread for stats", threads_after_stats == 1),
            ("no thread for close", threads_after_close == 1),
            ("no spool slot", !slots.join("1").exists()),
            ("emit refused", refused == Err(ErrorKind::Closed)),
            ("closed", c.is_closed()),
            (
                "flush refused",
                c.flush(Duration::from_secs(1)).map_err(|e| e.kind()) == Err(ErrorKind::Closed),
            ),
        ];
        for (what, ok) in &checks {
            if !ok {
                eprintln!("in the child: not true: {what}");
            }
        }
        checks.iter().all(|(_, ok)| *ok)
    });
    assert_eq!(code, 0, "see the child's complaints above");
    // The parent's client is not closed by the child's close.
    assert!(!client.is_closed());
    client.emit(&event("parent", 10)).unwrap();
    let stats = client.close(Duration::from_secs(5));
    assert_eq!((stats.emitted, stats.backends[0].sent), (11, 11));
}
