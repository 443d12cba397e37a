//! The whole chain for real: an application using the SDK -> wafermon-sidecar -> managed_api
//! -> wafermon-gateway -> PostgreSQL or SQLite, read back through the gateway's read API.
//! Also: the sidecar killed with SIGKILL mid-stream and restarted, and the gateway down for a
//! while. The sidecar binary is the workspace's (test.sh builds every binary first).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
use common::{agent, unique, Gateway, Launch, PgDb};

/// Waiting for delivery across a restart and retry backoff (generous for a loaded machine).
const PATIENCE: Duration = Duration::from_secs(90);

fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}_{}", std::process::id(), unique())
}

/// One request to a host; any status is an answer, a transport failure (the host is down)
/// is `(0, Null)`.
fn http(method: &str, url: &str, body: Option<&Value>) -> (u16, Value) {
    let agent = agent(Some(Duration::from_secs(30)));
    let result = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        (_, Some(body)) => agent.post(url).send_json(body),
        (_, None) => agent.post(url).send_empty(),
    };
    let Ok(mut response) = result else {
        return (0, Value::Null);
    };
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn sidecar_bin() -> PathBuf {
    let path = Path::new(common::BIN).with_file_name("wafermon-sidecar");
    assert!(
        path.exists(),
        "{} is missing: build every binary first (cargo build --workspace --bins, as test.sh does)",
        path.display()
    );
    path
}

/// A sidecar process, ready once it printed `... listening on ADDR`; SIGKILLed on drop.
struct Host {
    child: Child,
    url: String,
}

impl Host {
    fn spawn(mut command: Command) -> Host {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start host");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            // Keep draining so the host never blocks on a full pipe.
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the host did not report its address");
        let addr = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line: {line}"));
        Host {
            child,
            url: format!("http://{addr}"),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill();
    }
}

fn start_gateway(database_url: &str, listen: &str) -> Gateway {
    Launch::new(database_url).listen(listen).start()
}

/// A sidecar forwarding to `gateway` (managed_api), spooling under `dir`.
fn start_sidecar(dir: &Path, gateway: &str, port: u16) -> Host {
    let config = json!({
        "ingest": {"port": port, "flush_interval": 0.05, "max_batch_size": 500},
        "backends": [{
            "type": "managed_api", "name": "gateway",
            "url": gateway,
            "timeout": 5, "retries": 1
        }],
        "spool": {"path": dir.join("spool"), "fsync": "batch"},
        "app": {"site_id": "fab-e2e"}
    });
    let path = dir.join("sidecar.json");
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    let mut command = Command::new(sidecar_bin());
    command.arg("--config").arg(&path);
    Host::spawn(command)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Poll `check` until it gives a value; past `PATIENCE`, fail with its last complaint.
fn eventually<T>(mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match check() {
            Ok(value) => return value,
            Err(why) => assert!(Instant::now() < deadline, "{why}"),
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// The SDK in sidecar mode runs lots with subjobs; the gateway ends up with every entity in
/// its final state and every event once.
fn sdk_through_sidecar_to_gateway(database_url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let gateway = start_gateway(database_url, "127.0.0.1:0");
    let sidecar = start_sidecar(dir.path(), &gateway.base, 0);
    let site = unique_name("e2e");
    let client = wafermon::Client::new(
        wafermon::Config::from_value(json!({
            "mode": "sidecar",
            "sidecar": {"url": sidecar.url},
            "app": {"name": "litho", "site_id": site},
            "spool": {"path": dir.path().join("app-spool")},
        }))
        .unwrap(),
    )
    .unwrap();
    let mut lots = Vec::new();
    for lot in 0..5 {
        let job = client
            .job("expose-lot")
            .key(format!("LOT{lot}"))
            .start()
            .unwrap();
        for wafer in 0..3 {
            let sub = job
                .subjob("wafer")
                .key(format!("W{wafer}"))
                .start()
                .unwrap();
            sub.progress(50.0).unwrap();
            if lot == 4 && wafer == 2 {
                sub.fail("reticle misaligned").unwrap();
            } else {
                sub.finish().unwrap();
            }
        }
        job.progress(100.0).unwrap();
        lots.push(job.id().to_string());
        if lot == 3 {
            job.cancel("operator abort").unwrap();
        } else {
            job.finish().unwrap();
        }
    }
    client.flush(Duration::from_secs(30)).unwrap();
    client.close(Duration::from_secs(5));

    let jobs = eventually(|| {
        let (status, body) = http(
            "GET",
            &format!("{}/v1/jobs?site={site}&kind=job", gateway.base),
            None,
        );
        assert_eq!(status, 200, "{body}");
        let jobs = body["jobs"].as_array().cloned().unwrap_or_default();
        if jobs.len() == 5 && jobs.iter().all(|j| j["status"] != "running") {
            Ok(jobs)
        } else {
            Err(format!("jobs so far: {jobs:?}"))
        }
    });
    let status_of: HashMap<&str, &str> = jobs
        .iter()
        .map(|j| (j["id"].as_str().unwrap(), j["status"].as_str().unwrap()))
        .collect();
    assert_eq!(status_of[lots[0].as_str()], "succeeded");
    assert_eq!(status_of[lots[3].as_str()], "canceled");
    for job in &jobs {
        assert!(job["duration_s"].as_f64().is_some(), "{job}");
        assert!(job["cpu_s"].as_f64().is_some(), "{job}");
    }
    let (status, detail) = http(
        "GET",
        &format!("{}/v1/jobs/{}", gateway.base, lots[4]),
        None,
    );
    assert_eq!(status, 200, "{detail}");
    let subtree = detail["subtree"].as_array().unwrap();
    assert_eq!(subtree.len(), 3);
    assert_eq!(
        subtree.iter().filter(|s| s["status"] == "failed").count(),
        1
    );
    // started, progress, finished for the lot itself.
    assert_eq!(detail["events"].as_array().unwrap().len(), 3);
    // Every event stored once: 5 lots x (3 own + 3 wafers x 3) = 60.
    let stored = stored_events(&gateway.base, &site);
    assert_eq!(stored.len(), 60);
    let ids: HashSet<&str> = stored.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(ids.len(), 60);
    drop(sidecar);
}

#[test]
fn sdk_through_sidecar_to_gateway_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    sdk_through_sidecar_to_gateway(&format!(
        "sqlite://{}",
        dir.path().join("gw.sqlite3").display()
    ));
}

#[test]
fn sdk_through_sidecar_to_gateway_postgres() {
    let db = PgDb::create();
    sdk_through_sidecar_to_gateway(&db.url);
}

/// One event as an application would post it to the sidecar.
/// `attrs.n` numbers it, so what arrives can be matched to what was acknowledged.
fn event(site: &str, n: usize) -> Value {
    json!({
        "kind": "progress",
        "progress": (n % 100) as f64,
        "site": site,
        "app": {"name": "stream"},
        "entity": {"kind": "job", "id": format!("job-{}", n / 50)},
        "attrs": {"n": n},
    })
}

/// Most events the sender posts, to stay within one unified-view page.
const MAX_SENT: usize = 4000;

/// Post batches to the sidecar until `stop`, remembering which were acknowledged (202). The
/// sidecar's address can change under it (restart): it follows `url`.
fn sender(
    url: Arc<Mutex<String>>,
    site: String,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<(Vec<Value>, usize)> {
    thread::spawn(move || {
        let mut acked = Vec::new();
        let mut refused = 0;
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) && n < MAX_SENT {
            let batch: Vec<Value> = (n..n + 20).map(|i| event(&site, i)).collect();
            n += 20;
            let target = format!("{}/v1/ingest/batch", url.lock().unwrap());
            let (status, _) = http("POST", &target, Some(&json!({ "events": batch })));
            if status == 202 {
                acked.extend(batch);
            } else {
                refused += 1;
            }
            thread::sleep(Duration::from_millis(10));
        }
        (acked, refused)
    })
}

/// How many times each `attrs.n` occurs.
fn census(events: &[Value]) -> HashMap<u64, usize> {
    let mut counts = HashMap::new();
    for e in events {
        *counts
            .entry(e["attrs"]["n"].as_u64().unwrap_or(u64::MAX))
            .or_insert(0) += 1;
    }
    counts
}

fn stored_events(gateway: &str, site: &str) -> Vec<Value> {
    let url =
        format!("{gateway}/v1/data/unified?site_id={site}&start=2000-01-01T00:00:00Z&limit=10000");
    let (status, body) = http("GET", &url, None);
    assert_eq!(status, 200, "{body}");
    body["events"]
        .as_array()
        .map(|events| events.iter().map(|e| e["event"].clone()).collect())
        .unwrap_or_default()
}

/// SIGKILL the sidecar while a client streams into it, restart it on the same spool: every
/// acknowledged event reaches the store exactly once.
#[test]
fn sidecar_killed_mid_stream_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = PgDb::create();
    let gateway = start_gateway(&db.url, "127.0.0.1:0");
    let port = free_port();
    let mut sidecar = start_sidecar(dir.path(), &gateway.base, port);
    let url = Arc::new(Mutex::new(sidecar.url.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let site = unique_name("kill");
    let worker = sender(url.clone(), site.clone(), stop.clone());

    thread::sleep(Duration::from_millis(800));
    sidecar.kill();
    thread::sleep(Duration::from_millis(300));
    let sidecar = start_sidecar(dir.path(), &gateway.base, port);
    *url.lock().unwrap() = sidecar.url.clone();
    thread::sleep(Duration::from_millis(800));
    stop.store(true, Ordering::Relaxed);
    let (acked, _refused) = worker.join().unwrap();
    assert!(
        acked.len() >= 100,
        "only {} events acknowledged",
        acked.len()
    );

    let want: HashSet<u64> = census(&acked).into_keys().collect();
    let have = eventually(|| {
        let have = census(&stored_events(&gateway.base, &site));
        match want.iter().filter(|n| !have.contains_key(n)).count() {
            0 => Ok(have),
            missing => Err(format!(
                "{missing} of {} acknowledged events are missing from the store",
                want.len()
            )),
        }
    });
    // Exactly once: acknowledged events all arrived, and nothing arrived twice (a request
    // cut by the kill may have been made durable without its answer; those events may
    // arrive too, but also only once).
    let twice: Vec<_> = have.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    drop(sidecar);
}

/// The gateway is down: the sidecar still acknowledges (the spool holds the events), and
/// once the gateway is up everything arrives.
#[test]
fn gateway_down_events_wait_in_the_sidecar_spool() {
    let dir = tempfile::tempdir().unwrap();
    let db_file = dir.path().join("gw.sqlite3");
    let database_url = format!("sqlite://{}", db_file.display());
    let gateway_port = free_port();
    let gateway_url = format!("http://127.0.0.1:{gateway_port}");
    let sidecar = start_sidecar(dir.path(), &gateway_url, 0);
    let site = unique_name("down");
    let batch: Vec<Value> = (0..300).map(|i| event(&site, i)).collect();
    for chunk in batch.chunks(100) {
        let (status, body) = http(
            "POST",
            &format!("{}/v1/ingest/batch", sidecar.url),
            Some(&json!({ "events": chunk })),
        );
        assert_eq!(status, 202, "{body}");
    }
    // The sidecar reports the backend failing and the events waiting.
    eventually(|| {
        let (_, health) = http("GET", &format!("{}/v1/health", sidecar.url), None);
        let backend = &health["backends"][0];
        if backend["healthy"] == false && health["spool_depth"].as_u64().unwrap_or(0) > 0 {
            Ok(())
        } else {
            Err(format!("health never showed the outage: {health}"))
        }
    });
    let gateway = start_gateway(&database_url, &format!("127.0.0.1:{gateway_port}"));
    let stored = eventually(|| {
        let stored = stored_events(&gateway.base, &site);
        if stored.len() >= 300 {
            Ok(stored)
        } else {
            Err(format!("{} of 300 events arrived", stored.len()))
        }
    });
    assert_eq!(census(&stored), census(&batch));
    drop(sidecar);
}

/// A legacy event as the old Python SDK's `JobEvent.to_json()` writes it.
fn legacy_event(site: &str, n: usize, kind: &str, status: &str) -> Value {
    json!({
        "idempotency_key": format!("00000000-0000-4000-8000-{n:012}"),
        "site_id": site,
        "app": {"app_id": "7d3c2b1a-0f9e-4c8d-b7a6-5e4f3a2b1c0d", "name": "legacy-etch", "version": "1.4.2"},
        "entity": {"type": "job", "id": format!("legacy-{n}"), "parent_id": null,
                   "business_key": "LOT42", "sub_key": null},
        "event": {"kind": kind, "at": "2026-03-01T09:33:37.123456+01:00", "status": status,
                  "metrics": {"wafers": 25}, "metadata": {"tool": "ETCH-01"}}
    })
}

/// Issue 11: the old SDK's `send_batch` (a bare JSON array of legacy events on
/// `/v1/ingest/events:batch`) reaches the gateway through the sidecar, and so does an
/// SDK-built array of complete schema-v1 events on the same path.
#[test]
fn legacy_and_sdk_bare_arrays_reach_the_gateway_through_the_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = start_gateway(
        &format!("sqlite://{}", dir.path().join("gw.sqlite3").display()),
        "127.0.0.1:0",
    );
    let sidecar = start_sidecar(dir.path(), &gateway.base, 0);
    let site = unique_name("legacy");
    let batch_url = format!("{}/v1/ingest/events:batch", sidecar.url);

    // A job started and finished, each event with its own idempotency key.
    let mut finished = legacy_event(&site, 2, "finished", "success");
    finished["entity"]["id"] = json!("legacy-1");
    let legacy = vec![legacy_event(&site, 1, "started", "running"), finished];
    let (status, answer) = http("POST", &batch_url, Some(&Value::Array(legacy.clone())));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (&answer["ok"], &answer["accepted"]),
        (&json!(true), &json!(2))
    );

    // What the core serializes for its sidecar backend, as wafermon.compat posts it.
    let sdk: Vec<Value> = ["started", "finished"]
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            let event = wafermon::Event {
                v: 1,
                id: wafermon::event::new_v7(1_772_323_200_000 + i as i64),
                seq: i as u64 + 1,
                time: wafermon::Timestamp::parse("2026-03-01T00:00:00.000001Z").unwrap(),
                site: site.clone(),
                app: wafermon::event::App {
                    name: "sdk-app".into(),
                    version: Some("2.0".into()),
                    instance: None,
                },
                entity: wafermon::event::Entity::new("job", "sdk-1"),
                kind: wafermon::Kind::parse(kind).unwrap(),
                status: if *kind == "started" {
                    wafermon::Status::Running
                } else {
                    wafermon::Status::Succeeded
                },
                progress: None,
                level: None,
                message: None,
                metrics: Default::default(),
                attrs: Default::default(),
            };
            serde_json::from_str(&event.to_json()).unwrap()
        })
        .collect();
    let (status, answer) = http("POST", &batch_url, Some(&Value::Array(sdk.clone())));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (&answer["ok"], &answer["accepted"]),
        (&json!(true), &json!(2))
    );

    let defaults = wafermon::event::LegacyDefaults {
        site: "fab-e2e".into(),
        app: wafermon::event::App {
            name: "wafermon-sidecar".into(),
            version: None,
            instance: None,
        },
    };
    let mut want: HashSet<String> = legacy
        .iter()
        .map(|e| {
            wafermon::event::from_legacy(e, &defaults)
                .unwrap()
                .id
                .to_string()
        })
        .collect();
    want.extend(sdk.iter().map(|e| e["id"].as_str().unwrap().to_string()));
    eventually(|| {
        let stored = stored_events(&gateway.base, &site);
        let ids: HashSet<String> = stored
            .iter()
            .filter_map(|e| e["id"].as_str().map(String::from))
            .collect();
        if ids == want {
            Ok(())
        } else {
            Err(format!("stored so far: {stored:?}"))
        }
    });
    let (status, job) = http("GET", &format!("{}/v1/jobs/legacy-1", gateway.base), None);
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["job"]["status"], "succeeded", "{job}");
    let (status, job) = http("GET", &format!("{}/v1/jobs/sdk-1", gateway.base), None);
    assert_eq!(status, 200, "{job}");
    assert_eq!(job["job"]["status"], "succeeded", "{job}");
    drop(sidecar);
}
