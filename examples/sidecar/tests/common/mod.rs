//! Helpers for the sidecar's integration tests: run the real binary on port 0 in a tempdir,
//! talk HTTP over a raw TcpStream, and read what the filesystem backend wrote.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_wafermon-sidecar");

/// How long to wait for something that should happen quickly (generous for loaded CI).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A config for a sidecar writing JSONL under `data` and spooling under `dir/spool`.
pub fn config(dir: &Path, data: &Path) -> Value {
    json!({
        "ingest": {"flush_interval": 0.05, "max_batch_size": 100},
        "backends": [{"type": "filesystem", "name": "files", "path": data}],
        "spool": {"path": dir.join("spool"), "fsync": "batch"},
        "app": {"site_id": "fab7"}
    })
}

pub fn write_config(dir: &Path, config: &Value) -> PathBuf {
    let path = dir.join("sidecar.json");
    fs::write(&path, serde_json::to_vec_pretty(config).unwrap()).unwrap();
    path
}

/// `wafermon-sidecar --config PATH --check`.
pub fn check(config: &Path) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("--check")
        .output()
        .unwrap()
}

/// A running sidecar; killed (SIGKILL) when dropped.
pub struct Sidecar {
    pub child: Child,
    pub port: u16,
    stderr: PathBuf,
}

impl Sidecar {
    /// Start on 127.0.0.1:0 and wait for the "listening on" line.
    pub fn start(config: &Path) -> Sidecar {
        Sidecar::start_with(config, |_| {})
    }

    /// Start with an open-file limit (soft and hard) of `files`.
    pub fn start_with_open_files(config: &Path, files: u64) -> Sidecar {
        Sidecar::start_with(config, |command| {
            wafermon_testkit::process::limit_open_files(command, files)
        })
    }

    /// Start as `start` does, after `prepare` adjusted the command.
    pub fn start_with(config: &Path, prepare: impl FnOnce(&mut Command)) -> Sidecar {
        // Every config a test starts a sidecar with is one the schema describes.
        let written: Value = serde_json::from_slice(&fs::read(config).unwrap()).unwrap();
        wafermon_testkit::assert_schema_valid("sidecar.v1.schema.json", &written);
        let dir = config.parent().unwrap();
        let stderr = dir.join(format!("sidecar-{}.stderr", unique()));
        let mut command = Command::new(BIN);
        prepare(&mut command);
        let mut child = command
            .arg("--config")
            .arg(config)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(addr) = line.trim().strip_prefix("wafermon-sidecar listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sidecar did not start: stdout {line:?}, stderr {:?}",
                fs::read_to_string(&stderr).unwrap_or_default()
            );
        };
        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
        Sidecar {
            child,
            port,
            stderr,
        }
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        request(self.port, method, path, headers, body)
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.request(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            &serde_json::to_vec(body).unwrap(),
        )
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], b"")
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        self.kill();
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// One HTTP/1.1 request on a fresh connection (Connection: close).
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    let mut has_length = false;
    for (name, value) in headers {
        has_length |= name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding");
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !has_length {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    stream.flush().unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers: head,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
}

/// A valid log event with a fresh UUIDv7 id.
pub fn event(n: usize) -> Value {
    let id = wafermon::event::new_v7(wafermon::Timestamp::now().unix_millis());
    json!({
        "id": id.to_string(),
        "kind": "log",
        "entity": {"kind": "job", "id": format!("job-{n}")},
        "message": format!("event {n}"),
        "metrics": {"n": n}
    })
}

pub fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

/// Every event in every JSONL file under `data`.
pub fn delivered(data: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for path in wafermon::skin::conformance::jsonl_files(data) {
        let text = fs::read_to_string(&path).unwrap_or_default();
        // A line being written may be incomplete; only whole lines count.
        for line in text.lines() {
            if let Ok(v) = serde_json::from_str::<Value>(line) {
                out.push(v);
            }
        }
    }
    out
}

/// Wait until every id in `want` was written under `data`; the delivered events.
pub fn wait_delivered(data: &Path, want: &[String]) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let events = delivered(data);
        let have: HashSet<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
        let missing: Vec<&String> = want
            .iter()
            .filter(|id| !have.contains(id.as_str()))
            .collect();
        if missing.is_empty() {
            return events;
        }
        if Instant::now() > deadline {
            panic!(
                "{} of {} events not delivered, e.g. {:?}",
                missing.len(),
                want.len(),
                missing.first()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Send SIGTERM to the child.
pub fn sigterm(child: &Child) {
    // SAFETY: plain kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0, "kill failed");
}

/// Wait for the child to exit (bounded by PATIENCE; panics past it).
pub fn wait_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the sidecar did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}
