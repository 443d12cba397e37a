//! What the sidecar tells whom: health is open, but a backend's last error (which names files
//! and addresses) only to holders of the ingest token; and every error answer, the router's
//! own included, is the JSON error shape.

use std::time::{Duration, Instant};

mod common;
use common::{config, event, write_config, Sidecar, PATIENCE};

#[test]
fn health_shows_backend_errors_to_token_holders_only() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the backend wants a folder: every write fails, naming the path.
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, b"").unwrap();
    let data = blocker.join("hidden-place");
    let mut cfg = config(dir.path(), &data);
    cfg["ingest"]["token"] = "ingest-token".into();
    let sidecar = Sidecar::start(&write_config(dir.path(), &cfg));
    let auth = ("Authorization", "Bearer ingest-token");
    let reply = sidecar.request(
        "POST",
        "/v1/ingest/events",
        &[auth, ("Content-Type", "application/json")],
        &serde_json::to_vec(&event(1)).unwrap(),
    );
    assert_eq!(reply.status, 202, "{reply:?}");

    let deadline = Instant::now() + PATIENCE;
    let trusted = loop {
        let health = sidecar.request("GET", "/v1/health", &[auth], b"").json();
        if health["backends"][0]["last_error"].is_string() {
            break health;
        }
        assert!(Instant::now() < deadline, "no backend error: {health}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(trusted.to_string().contains("hidden-place"), "{trusted}");

    let anonymous = sidecar.get("/v1/health");
    assert_eq!(anonymous.status, 200, "{anonymous:?}");
    assert!(!anonymous.body.contains("hidden-place"), "{anonymous:?}");
    let health = anonymous.json();
    assert_eq!(health["backends"][0]["healthy"], false, "{health}");
    assert!(
        health["backends"][0].get("last_error").is_none(),
        "{health}"
    );
    let wrong = sidecar.request(
        "GET",
        "/v1/health",
        &[("Authorization", "Bearer nope")],
        b"",
    );
    assert!(!wrong.body.contains("hidden-place"), "{wrong:?}");
}

#[test]
fn the_routers_own_errors_are_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sidecar = Sidecar::start(&write_config(dir.path(), &config(dir.path(), &data)));
    let reply = sidecar.request("DELETE", "/v1/health", &[], b"");
    assert_eq!(reply.status, 405, "{reply:?}");
    assert!(
        reply.json()["error"].as_str().unwrap().contains("DELETE"),
        "{reply:?}"
    );
    assert!(
        reply.headers.to_ascii_lowercase().contains("\r\nallow: "),
        "{reply:?}"
    );
    let reply = sidecar.get("/v1/%FF");
    assert_eq!(reply.status, 404, "{reply:?}");
    assert!(reply.json()["error"].is_string(), "{reply:?}");
}
