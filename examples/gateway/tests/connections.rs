//! Connections that hold on without asking anything: idle keep-alive clients, half-sent
//! request heads, sockets opened and left silent. The gateway closes them after its timeouts,
//! keeps at most `max_connections` open, and stays reachable whatever they do.

use std::io::Write;
use std::net::TcpStream;

use serde_json::json;
use wafermon_testkit::connections::{
    assert_slow_and_idle_connections_closed, closed_by_host, idle_connections, read_response,
    wait_for_sockets_within,
};
use wafermon_testkit::process::need_open_files;

mod common;
use common::*;

fn health_request() -> &'static [u8] {
    b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
}

/// Issue 11's probe: with the open-file limit at 128, 130 idle connections made health time
/// out. Here the gateway may open 256 files and 1,000 idle connections arrive (timeouts far
/// longer than the test, so only the cap can help); health must still answer.
#[test]
fn health_answers_while_a_thousand_idle_connections_are_open() {
    need_open_files(1100);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gw.sqlite3").display());
    let gw = Launch::new(&db)
        .config(json!({
            "max_connections": 64,
            "header_read_timeout_s": 600,
            "idle_timeout_s": 600
        }))
        .open_files(256)
        .start();
    let idle = idle_connections(gw.addr, 1000, health_request());
    let health = gw.get_json("/v1/health");
    assert_eq!(health["status"], "ok", "{health}");
    // The gateway holds about its cap of sockets, not one per client.
    wait_for_sockets_within(gw.pid(), 64, PATIENCE, "the gateway");
    let mut fresh = TcpStream::connect(gw.addr).unwrap();
    fresh.write_all(health_request()).unwrap();
    let response = read_response(&mut fresh);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    drop(idle);
}

#[test]
fn slow_heads_and_idle_connections_are_closed_by_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gw.sqlite3").display());
    let gw = Launch::new(&db)
        .config(json!({"header_read_timeout_s": 2, "idle_timeout_s": 2}))
        .start();
    assert_slow_and_idle_connections_closed(gw.addr, health_request());
    assert_eq!(gw.get("/v1/health").status, 200);
}

/// Issue 16, defect 7: a client that sends its headers and then stalls its body past
/// `request_timeout_s` is answered 408 in the JSON error shape every other error uses,
/// naming the request and the limit it hit; the connection is closed and the gateway serves on.
#[test]
fn a_stalled_body_is_answered_408_in_the_json_error_shape() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gw.sqlite3").display());
    let gw = Launch::new(&db)
        .config(json!({"request_timeout_s": 1}))
        .start();
    let mut stalled = TcpStream::connect(gw.addr).unwrap();
    stalled
        .write_all(
            b"POST /v1/ingest/managed HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{\"v\": 1",
        )
        .unwrap();
    let response = read_response(&mut stalled);
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 408 "), "{response}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{response}"
    );
    let answer: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    let error = answer["error"].as_str().expect("an error message");
    for needle in ["POST /v1/ingest/managed", "request_timeout_s"] {
        assert!(error.contains(needle), "{needle} not in: {answer}");
    }
    assert!(
        closed_by_host(&mut stalled),
        "the stalled connection was kept"
    );
    assert_eq!(gw.get("/v1/health").status, 200);
}

#[test]
fn connection_limits_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.json");
    std::fs::write(
        &path,
        json!({"header_read_timeout_s": 0, "idle_timeout_s": -1, "max_connections": 0}).to_string(),
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .arg("--config")
        .arg(&path)
        .arg("--check")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for field in ["header_read_timeout_s", "idle_timeout_s", "max_connections"] {
        assert!(stderr.contains(field), "{field} not named in: {stderr}");
    }
}
