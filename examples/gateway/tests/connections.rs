//! Connections that hold on without asking anything: idle keep-alive clients, half-sent
//! request heads, sockets opened and left silent. The gateway closes them after its timeouts,
//! keeps at most `max_connections` open, and stays reachable whatever they do.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

mod common;
use common::*;

/// Keeps a broken gateway from hanging a test; never a measure of speed.
const HANG: Duration = Duration::from_secs(120);

fn health_request() -> &'static [u8] {
    b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
}

/// Read one whole response (head and Content-Length body) from a keep-alive connection.
fn read_response(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(HANG)).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("an answer");
        assert!(
            n > 0,
            "closed mid-response: {:?}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .expect("a Content-Length");
            if raw.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

/// Whether the gateway closed the connection: the next read ends (EOF or reset) rather than
/// waiting out the read timeout.
fn closed_by_host(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(HANG)).unwrap();
    let mut buf = [0u8; 256];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => panic!("unexpected bytes: {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => true,
        Err(_) => false,
    }
}

/// Issue 11's probe: with the open-file limit at 128, 130 idle connections made health time
/// out. Here the gateway may open 256 files and 1,000 idle connections arrive (timeouts far
/// longer than the test, so only the cap can help); health must still answer.
#[test]
fn health_answers_while_a_thousand_idle_connections_are_open() {
    assert!(
        raise_open_file_limit() > 1100,
        "this test needs 1,100 open files"
    );
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
    let idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(gw.addr).unwrap())
        .collect();
    // Some send half a request head, some a whole request and then nothing more.
    for (i, mut stream) in idle.iter().enumerate() {
        match i % 3 {
            0 => stream
                .write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
                .unwrap(),
            1 => stream.write_all(health_request()).unwrap(),
            _ => {}
        }
    }
    let health = gw.get_json("/v1/health");
    assert_eq!(health["status"], "ok", "{health}");
    // The gateway holds about its cap of sockets, not one per client.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let sockets = open_sockets(gw.pid());
        if sockets <= 64 + 8 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway holds {sockets} sockets"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
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
    let mut silent = TcpStream::connect(gw.addr).unwrap();
    let mut half = TcpStream::connect(gw.addr).unwrap();
    half.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    let mut after_one = TcpStream::connect(gw.addr).unwrap();
    after_one.write_all(health_request()).unwrap();
    let response = read_response(&mut after_one);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    assert!(closed_by_host(&mut half), "a half-sent head was kept open");
    assert!(
        closed_by_host(&mut silent),
        "a connection that sent nothing was kept open"
    );
    assert!(
        closed_by_host(&mut after_one),
        "an idle keep-alive connection was kept open"
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
