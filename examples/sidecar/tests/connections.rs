//! Many keep-alive connections at once: an SDK process keeps its connection open, and a fab
//! host runs many processes. Each connection must be served as it comes, never queued behind
//! another client's idle connection.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

mod common;
use common::{config, write_config, Sidecar};

/// Longer than any healthy answer on a loaded machine, far shorter than "never".
const HANG: Duration = Duration::from_secs(15);

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
