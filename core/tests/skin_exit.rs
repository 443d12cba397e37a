//! Close-at-exit (`wafermon::skin::exit`): a process that exits normally delivers what its
//! clients still hold; a forked child closes only what it used; the work runs once per
//! process. One test function: the hook is process-wide, so its steps run in order.

mod common;

use std::time::Duration;

use serde_json::{json, Value};
use wafermon::skin::exit;
use wafermon::{Client, Config, Kind, NewEvent};

use common::{config_in, read_events};

fn client_in(dir: &std::path::Path, flush_interval_s: f64) -> Client {
    let config = config_in(dir, json!({"batch": {"flush_interval": flush_interval_s}}));
    Client::new(Config::from_value(config).unwrap()).unwrap()
}

fn tool_ids(events: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = events
        .iter()
        .map(|e| e["entity"]["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Fork; the child runs `body` and then leaves through `exit` (so atexit hooks run).
fn child_exits_normally(body: impl FnOnce()) -> i32 {
    // SAFETY: the child runs `body` and ends with exit(), never returning to the harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).is_ok();
        unsafe { libc::exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waiting for the child we just made.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status), "the child exited normally");
    libc::WEXITSTATUS(status)
}

#[test]
fn clients_are_closed_once_when_the_process_exits() {
    // A flush interval far longer than the test: only a close delivers.
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path(), 3600.0);
    exit::close_at_exit(Duration::from_secs(10));
    exit::register(&client);

    // 1. A child that emits and exits without closing: the hook delivers its events.
    let code = child_exits_normally(|| {
        for i in 0..5 {
            client
                .emit(&NewEvent::new(
                    Kind::Heartbeat,
                    "tool",
                    format!("child-{i}"),
                ))
                .unwrap();
        }
    });
    assert_eq!(code, 0);
    assert_eq!(
        tool_ids(&read_events(&dir.path().join("data"))),
        ["child-0", "child-1", "child-2", "child-3", "child-4"]
    );

    // 2. A child that never used the client: its exit touches nothing of the parent's
    //    (the parent's pending events are neither delivered nor closed by the child).
    client
        .emit(&NewEvent::new(Kind::Heartbeat, "tool", "parent-0"))
        .unwrap();
    let code = child_exits_normally(|| {});
    assert_eq!(code, 0);
    assert!(!client.is_closed());
    assert_eq!(read_events(&dir.path().join("data")).len(), 5);

    // 3. The process-wide client too, and the work happens once.
    let global_dir = tempfile::tempdir().unwrap();
    let global = wafermon::init(
        Config::from_value(config_in(
            global_dir.path(),
            json!({"batch": {"flush_interval": 3600.0}}),
        ))
        .unwrap(),
    )
    .unwrap();
    global
        .emit(&NewEvent::new(Kind::Heartbeat, "tool", "global-0"))
        .unwrap();
    let closed = exit::close_all(Duration::from_secs(10));
    assert_eq!(closed.len(), 2, "the global and the registered client");
    assert!(closed.iter().all(|s| s.pending() == 0));
    assert!(client.is_closed() && global.is_closed());
    assert!(
        exit::close_all(Duration::from_secs(10)).is_empty(),
        "idempotent"
    );
    assert_eq!(
        tool_ids(&read_events(&dir.path().join("data"))),
        ["child-0", "child-1", "child-2", "child-3", "child-4", "parent-0"]
    );
    assert_eq!(
        tool_ids(&read_events(&global_dir.path().join("data"))),
        ["global-0"]
    );

    // 4. A dropped client is not kept alive by the registration.
    let dropped_dir = tempfile::tempdir().unwrap();
    let dropped = client_in(dropped_dir.path(), 3600.0);
    exit::register(&dropped);
    dropped
        .emit(&NewEvent::new(Kind::Heartbeat, "tool", "dropped-0"))
        .unwrap();
    drop(dropped); // the last handle: closes now, delivering its event
    assert_eq!(
        tool_ids(&read_events(&dropped_dir.path().join("data"))),
        ["dropped-0"]
    );
}
