//! Crash safety: what the sidecar acknowledged survives SIGKILL while the backend is down.

mod common;

use std::path::Path;
use std::time::Instant;

use common::*;
use serde_json::json;

/// Send 200 events in four requests (events and batch endpoints), all acknowledged.
fn send_200(sidecar: &Sidecar) -> Vec<String> {
    let mut acknowledged = Vec::new();
    for chunk in 0..4 {
        let events: Vec<_> = (0..50).map(|i| event(chunk * 50 + i)).collect();
        let reply = if chunk % 2 == 0 {
            sidecar.post_json("/v1/ingest/events", &json!(events))
        } else {
            sidecar.post_json("/v1/ingest/batch", &json!({"events": events}))
        };
        assert_eq!(reply.status, 202, "{reply:?}");
        assert_eq!(reply.json()["accepted"], 50);
        acknowledged.extend(ids(&events));
    }
    acknowledged
}

/// The backend's `spooled` counter from /metrics.
fn spooled(sidecar: &Sidecar) -> u64 {
    let text = sidecar.get("/metrics").body;
    let prefix = "wafermon_sidecar_backend_events_spooled_total{backend=\"files\"} ";
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// A config whose filesystem backend writes under a regular file, so every write fails
/// (transiently) until the file is removed.
fn blocked_config(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let blocker = dir.join("blocker");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let data = blocker.join("data");
    let config_path = write_config(dir, &config(dir, &data));
    (blocker, data, config_path)
}

fn restart_and_expect_all(
    config_path: &Path,
    blocker: &Path,
    data: &Path,
    acknowledged: &[String],
) {
    std::fs::remove_file(blocker).unwrap();
    let _sidecar = Sidecar::start(config_path);
    let events = wait_delivered(data, acknowledged);
    assert!(events.len() >= acknowledged.len());
}

/// SIGKILL once the backend's lane has moved everything to its spool on disk; the restarted
/// sidecar adopts the spool and delivers every acknowledged event.
#[test]
fn spooled_events_survive_sigkill_and_a_dead_backend() {
    let dir = tempfile::tempdir().unwrap();
    let (blocker, data, config_path) = blocked_config(dir.path());
    let mut sidecar = Sidecar::start(&config_path);
    let acknowledged = send_200(&sidecar);
    let deadline = Instant::now() + PATIENCE;
    while spooled(&sidecar) < 200 {
        assert!(
            Instant::now() < deadline,
            "never spooled: {}",
            sidecar.stderr()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    sidecar.kill();
    drop(sidecar);
    restart_and_expect_all(&config_path, &blocker, &data, &acknowledged);
}

/// The strict form: SIGKILL right after the last 202. A 202 means on disk: events leave the
/// ingress spool only once every lane holds them in its own spool.
#[test]
fn acknowledged_events_survive_an_immediate_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let (blocker, data, config_path) = blocked_config(dir.path());
    let mut sidecar = Sidecar::start(&config_path);
    let acknowledged = send_200(&sidecar);
    sidecar.kill();
    drop(sidecar);
    restart_and_expect_all(&config_path, &blocker, &data, &acknowledged);
}
