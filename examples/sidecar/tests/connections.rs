//! Many keep-alive connections at once: an SDK process keeps its connection open, and a fab
//! host runs many processes. Each connection must be served as it comes, never queued behind
//! another client's idle connection.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

mod common;
use common::{config, write_config, Sidecar, PATIENCE};
use wafermon_testkit::connections::{
    assert_slow_and_idle_connections_closed, idle_connections, wait_for_sockets_within,
};
use wafermon_testkit::process::need_open_files;

/// Longer than any healthy answer on a loaded machine, far shorter than "never".
// Only there to turn a hang into a failure, never a speed bound: generous on a loaded machine.
const HANG: Duration = Duration::from_secs(120);

fn health_request(port: u16) -> Vec<u8> {
    format!("GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").into_bytes()
}

/// Send a request on an open connection and read one response head (the health body is small
/// enough to arrive with it).
fn ask(stream: &mut TcpStream, port: u16) -> String {
    stream.write_all(&health_request(port)).unwrap();
    let mut buf = [0u8; 4096];
    let n = stream
        .read(&mut buf)
        .unwrap_or_else(|e| panic!("no answer within {HANG:?}: {e}"));
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn idle_keep_alive_connections_do_not_starve_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sidecar = Sidecar::start(&write_config(dir.path(), &config(dir.path(), &data)));
    let connect = || {
        let stream = TcpStream::connect(("127.0.0.1", sidecar.port)).unwrap();
        stream.set_read_timeout(Some(HANG)).unwrap();
        stream
    };
    // More connections than the host has threads, arriving together, each asking before
    // any answer is read.
    let mut idle: Vec<TcpStream> = (0..16).map(|_| connect()).collect();
    for stream in &mut idle {
        stream.write_all(&health_request(sidecar.port)).unwrap();
    }
    for stream in &mut idle {
        let mut buf = [0u8; 4096];
        let n = stream
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("no answer within {HANG:?}: {e}"));
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    // They stay open and idle; a newcomer is still answered, and so is each of them again.
    let mut fresh = connect();
    let head = ask(&mut fresh, sidecar.port);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    for stream in idle.iter_mut().rev() {
        let head = ask(stream, sidecar.port);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
}

/// The probe of issue 11: with the open-file limit at 128, 130 idle connections made health
/// time out. Here the sidecar may open 256 files, 1,000 idle connections arrive (timeouts far
/// longer than the test, so only the cap can help), and health must still answer.
#[test]
fn health_answers_while_a_thousand_idle_connections_are_open() {
    need_open_files(1100);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cfg = config(dir.path(), &data);
    cfg["ingest"]["max_connections"] = 64.into();
    cfg["ingest"]["header_read_timeout_s"] = 600.into();
    cfg["ingest"]["idle_timeout_s"] = 600.into();
    let sidecar = Sidecar::start_with_open_files(&write_config(dir.path(), &cfg), 256);
    let addr = ([127, 0, 0, 1], sidecar.port).into();
    let idle = idle_connections(addr, 1000, &health_request(sidecar.port));
    let reply = sidecar.get("/v1/health");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["status"], "ok");
    // The host holds about its cap of sockets, not one per client.
    wait_for_sockets_within(sidecar.child.id(), 64, PATIENCE, "the sidecar");
    // A newcomer on a keep-alive connection is served too.
    let mut fresh = TcpStream::connect(("127.0.0.1", sidecar.port)).unwrap();
    fresh.set_read_timeout(Some(HANG)).unwrap();
    let head = ask(&mut fresh, sidecar.port);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        !sidecar.stderr().contains("panicked"),
        "{}",
        sidecar.stderr()
    );
    drop(idle);
}

#[test]
fn slow_heads_and_idle_connections_are_closed_by_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cfg = config(dir.path(), &data);
    cfg["ingest"]["header_read_timeout_s"] = 2.into();
    cfg["ingest"]["idle_timeout_s"] = 2.into();
    let sidecar = Sidecar::start(&write_config(dir.path(), &cfg));
    let addr = ([127, 0, 0, 1], sidecar.port).into();
    assert_slow_and_idle_connections_closed(addr, &health_request(sidecar.port));
    // The host goes on serving.
    assert_eq!(sidecar.get("/v1/health").status, 200);
}
