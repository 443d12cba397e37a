//! `--demo`: the gateway on a SQLite file of its own, one external filesystem source, and a
//! simulated fab line (`fab`) that reports through the real SDK into both, so the dashboard
//! has live jobs and two sources to compare from the first seconds. Everything lands under
//! ./wafermon-demo, never in the default ./wafermon-data store.
//!
//! Each app of the line is its own `wafermon::Client` per site, as each would be its own
//! process in a fab; that is also how routing differs per app (one client has one set of
//! backends). Most apps send to the managed store and to JSONL files; `metrology` writes files
//! only, and heartbeats go to the managed store only (the files keep no liveness noise), so
//! each source holds events the other lacks.

mod fab;

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use wafermon::{Client, Config};

use crate::config::SourceConfig;

pub const DIR: &str = "./wafermon-demo";
pub const DATABASE_URL: &str = "sqlite://./wafermon-demo/gateway.sqlite3";
const FILES: &str = "./wafermon-demo/files";
const SPOOL: &str = "./wafermon-demo/spool";
/// The external source the dashboard compares with the managed store.
const SOURCE: &str = "fab-files";
/// Apps that write to the files only.
const FILES_ONLY: &[&str] = &["metrology"];
/// What the clients get to deliver their last events on stop; the rest stays in the spool.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// The filesystem source over what the line's filesystem backends write.
pub fn source() -> SourceConfig {
    SourceConfig::Filesystem {
        name: SOURCE.into(),
        path: FILES.into(),
    }
}

/// The running line and the clients it reports through.
pub struct Line {
    fab: fab::Line,
    clients: Vec<Client>,
    base_url: String,
}

/// Start the line reporting to the gateway bound at `addr`.
pub fn start(addr: SocketAddr, ingest_token: Option<&str>) -> Result<Line, String> {
    // The source errors on a missing folder; the first file appears only after a flush.
    std::fs::create_dir_all(FILES).map_err(|e| format!("cannot create {FILES}: {e}"))?;
    let base_url = format!("http://{}", reachable(addr));
    let mut clients = HashMap::new();
    for site in fab::SITES {
        for app in fab::APPS {
            let config = client_config(site, app, &base_url, ingest_token);
            let client = Config::from_value(config)
                .and_then(Client::new)
                .map_err(|e| format!("demo: cannot start the client of {app} at {site}: {e}"))?;
            clients.insert((site, app), client);
        }
    }
    let all = clients.values().cloned().collect();
    let fab = fab::Line::start(clients, seed())
        .map_err(|e| format!("demo: cannot start the line: {e}"))?;
    Ok(Line {
        fab,
        clients: all,
        base_url,
    })
}

impl Line {
    /// `http://HOST:PORT` the line posts to (and a browser on this host can open).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Stop the line (running jobs end as canceled), then close every client, in parallel
    /// so the whole stop takes at most `CLOSE_TIMEOUT` after the line's threads ended.
    pub fn stop(self) {
        self.fab.stop();
        let pending: u64 = std::thread::scope(|s| {
            let closing: Vec<_> = self
                .clients
                .iter()
                .map(|c| s.spawn(|| c.close(CLOSE_TIMEOUT).pending()))
                .collect();
            closing.into_iter().filter_map(|h| h.join().ok()).sum()
        });
        if pending > 0 {
            eprintln!("wafermon-gateway: demo: {pending} events wait in {SPOOL} for the next run");
        }
    }
}

/// One app's client at one site, configured as an app in a fab would be.
fn client_config(site: &str, app: &str, base_url: &str, token: Option<&str>) -> Value {
    let every_kind_but_heartbeat = [
        "started", "progress", "metric", "log", "finished", "failed", "canceled",
    ];
    let files = json!({
        "type": "filesystem",
        "name": "files",
        "path": FILES,
        "filter": {"kinds": every_kind_but_heartbeat},
    });
    let mut managed = json!({"type": "managed_api", "name": "gateway", "url": base_url});
    if let Some(token) = token {
        managed["token"] = token.into();
    }
    let backends = if FILES_ONLY.contains(&app) {
        vec![files]
    } else {
        vec![managed, files]
    };
    json!({
        "mode": "direct",
        "app": {"name": app, "version": "2.3.1", "site_id": site, "instance_id": format!("{app}-{site}-demo")},
        "direct_backends": backends,
        // One spool per client: a restarted demo adopts what the last one left undelivered.
        "spool": {"path": Path::new(SPOOL).join(site).join(app)},
        "batch": {"flush_interval": 0.2},
    })
}

/// Where a client on this host reaches a listener bound to `addr` (0.0.0.0 is not).
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => (Ipv4Addr::LOCALHOST, a.port()).into(),
        SocketAddr::V6(a) if a.ip().is_unspecified() => (Ipv6Addr::LOCALHOST, a.port()).into(),
        other => other,
    }
}

/// A different line on every run: lot numbers and timings are not repeated.
fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}
