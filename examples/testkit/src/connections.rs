//! Connections that hold on to a host without asking anything (idle keep-alive clients,
//! half-sent request heads, sockets opened and left silent), and reading answers on raw
//! keep-alive connections.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::process::open_sockets;

/// Keeps a broken host from hanging a test; never a measure of speed.
pub const HANG: Duration = Duration::from_secs(120);

/// A request head cut off in the middle of its headers.
pub const HALF_HEAD: &[u8] = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n";

/// Read one whole response (head and Content-Length body) from a keep-alive connection.
pub fn read_response(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(HANG)).unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("no answer within {HANG:?}: {e}"));
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

/// Whether the host closed the connection: the next read ends (EOF or reset) rather than
/// waiting out the read timeout.
pub fn closed_by_host(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(HANG)).unwrap();
    let mut buf = [0u8; 256];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => panic!("unexpected bytes: {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => true,
        Err(_) => false,
    }
}

/// `count` connections to `addr` that stay open: a third send half a request head, a third
/// the whole `request` and then nothing more, a third nothing at all.
pub fn idle_connections(addr: SocketAddr, count: usize, request: &[u8]) -> Vec<TcpStream> {
    let idle: Vec<TcpStream> = (0..count)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    for (i, mut stream) in idle.iter().enumerate() {
        match i % 3 {
            0 => stream.write_all(HALF_HEAD).unwrap(),
            1 => stream.write_all(request).unwrap(),
            _ => {}
        }
    }
    idle
}

/// Wait (at most `patience`) until the process `pid` holds at most `cap` sockets plus a few
/// of its own (listener, database); panics naming `what` otherwise.
pub fn wait_for_sockets_within(pid: u32, cap: usize, patience: Duration, what: &str) {
    let deadline = Instant::now() + patience;
    loop {
        let sockets = open_sockets(pid);
        if sockets <= cap + 8 {
            return;
        }
        assert!(Instant::now() < deadline, "{what} holds {sockets} sockets");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// With the host at `addr` configured to close slow heads and idle connections after a
/// short timeout: a connection that sends nothing, one that sends half a head and one idle
/// after a whole `request` (answered 200) are each closed by the host.
pub fn assert_slow_and_idle_connections_closed(addr: SocketAddr, request: &[u8]) {
    let mut silent = TcpStream::connect(addr).unwrap();
    let mut half = TcpStream::connect(addr).unwrap();
    half.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    let mut after_one = TcpStream::connect(addr).unwrap();
    after_one.write_all(request).unwrap();
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
}
