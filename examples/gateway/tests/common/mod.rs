//! Helpers for the gateway's integration tests: run the real binary on port 0 against a
//! fresh SQLite file or a fresh PostgreSQL database, talk HTTP to it with ureq, build valid
//! v1 events, and read its server-sent events.
#![allow(dead_code)] // each test binary uses a different subset

// Not every test binary compares JSON or starts a server.
#[allow(unused_imports)]
pub use wafermon::skin::conformance::same_json;
#[allow(unused_imports)]
pub use wafermon_testkit::servers;

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use ureq::Agent;

pub const BIN: &str = env!("CARGO_BIN_EXE_wafermon-gateway");

/// How long to wait for something that should happen quickly (generous for a loaded CI).
pub const PATIENCE: Duration = Duration::from_secs(20);

pub const DEFAULT_POSTGRES_URL: &str = "postgres://wafermon:wafermon@127.0.0.1:5432/wafermon";

/// 2026-03-01T00:00:00Z: a fixed day, so tests choose their own time ranges and buckets.
pub const T0: i64 = 1_772_323_200_000_000;
pub const SECOND: i64 = 1_000_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

pub fn unique() -> usize {
    UNIQUE.fetch_add(1, Ordering::Relaxed)
}

/// RFC 3339 UTC with six fractional digits, as the event schema writes times.
pub fn ts(micros: i64) -> String {
    wafermon::event::Timestamp::from_unix_micros(micros).to_string()
}

// ---------------------------------------------------------------------------------------
// Stores

/// Run a scenario against a fresh SQLite file.
pub fn on_sqlite(scenario: fn(&str)) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gateway.sqlite3").display());
    scenario(&url);
}

/// Run a scenario against a fresh PostgreSQL database, dropped afterwards.
pub fn on_postgres(scenario: fn(&str)) {
    let db = PgDb::create();
    scenario(&db.url);
}

/// Generate a `_sqlite` and a `_postgres` test for each scenario `fn(&str)`.
#[macro_export]
macro_rules! on_both_stores {
    ($($scenario:ident => $sqlite:ident, $postgres:ident;)+) => {
        $(
            #[test]
            fn $sqlite() {
                common::on_sqlite($scenario);
            }

            #[test]
            fn $postgres() {
                common::on_postgres($scenario);
            }
        )+
    };
}

pub fn postgres_admin_url() -> String {
    std::env::var("WAFERMON_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_string())
}

/// Rows of one query on a PostgreSQL database.
pub fn pg_query(url: &str, sql: &str) -> Result<Vec<tokio_postgres::Row>, String> {
    pg(url, sql, false)
}

/// Statements that return nothing; sent as a simple query, so `CREATE DATABASE` works.
pub fn pg_execute(url: &str, sql: &str) -> Result<(), String> {
    pg(url, sql, true).map(drop)
}

/// Through a throwaway runtime: tests are sync, and the driver is already a dependency, so
/// no `psql` binary is needed.
fn pg(url: &str, sql: &str, simple: bool) -> Result<Vec<tokio_postgres::Row>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let connect = tokio_postgres::connect(url, tokio_postgres::NoTls);
        let (client, connection) = tokio::time::timeout(PATIENCE, connect)
            .await
            .map_err(|_| "timed out connecting".to_string())?
            .map_err(|e| match std::error::Error::source(&e) {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            })?;
        let driver = tokio::spawn(connection);
        let result = if simple {
            client.batch_execute(sql).await.map(|()| Vec::new())
        } else {
            client.query(sql, &[]).await
        };
        drop(client);
        let _ = driver.await;
        result.map_err(|e| {
            e.as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_string())
        })
    })
}

/// A database of its own for one test: created from the admin URL, dropped on drop.
pub struct PgDb {
    pub url: String,
    name: String,
    admin: String,
}

impl PgDb {
    pub fn create() -> PgDb {
        let admin = postgres_admin_url();
        let name = format!("wm_t_{}_{}", std::process::id(), unique());
        // A previous run killed mid-test (same pid, same counter) may have left it behind.
        let made = pg_execute(
            &admin,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .and_then(|()| pg_execute(&admin, &format!("CREATE DATABASE {name}")));
        if let Err(e) = made {
            panic!(
                "PostgreSQL is needed for this test but {} did not work: {e}\n\
                 Run scripts/postgres.sh to install and start it (or set WAFERMON_TEST_POSTGRES_URL).",
                redact(&admin)
            );
        }
        let url = with_database(&admin, &name);
        PgDb { url, name, admin }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let _ = pg_execute(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// The admin URL with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_end = base
        .find("://")
        .map(|s| s + 3)
        .and_then(|s| base[s..].find('/').map(|i| s + i))
        .unwrap_or(base.len());
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
            None => url.to_string(),
        },
        _ => url.to_string(),
    }
}

/// The migration versions recorded in either store.
pub fn schema_versions(database_url: &str) -> Vec<i64> {
    if let Some(path) = database_url.strip_prefix("sqlite://") {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut stmt = conn
            .prepare("SELECT version FROM schema_migrations ORDER BY version")
            .unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, i64>(0)).unwrap();
        rows.collect::<Result<Vec<_>, _>>().unwrap()
    } else {
        pg_query(
            database_url,
            "SELECT version::int8 FROM schema_migrations ORDER BY version",
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<_, i64>(0))
        .collect()
    }
}

/// Run statements on either store, bypassing the gateway: `sqlite` or `postgres`, by URL.
pub fn store_execute(database_url: &str, sqlite: &str, postgres: &str) {
    if let Some(path) = database_url.strip_prefix("sqlite://") {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch(sqlite).unwrap();
    } else {
        pg_execute(database_url, postgres).unwrap();
    }
}

/// The engines health may report for a database URL.
pub fn expected_engines(database_url: &str) -> &'static [&'static str] {
    if database_url.starts_with("sqlite://") {
        &["sqlite"]
    } else {
        // The extension turns a plain PostgreSQL into TimescaleDB when it is installed.
        &["postgres", "timescaledb"]
    }
}

// ---------------------------------------------------------------------------------------
// The gateway process

/// How to start a gateway.
#[derive(Default, Clone)]
pub struct Launch {
    pub database_url: Option<String>,
    /// Written to a file in the gateway's tempdir and passed as `--config`.
    pub config: Option<Value>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// `--listen`; port 0 (any free port) when absent.
    pub listen: Option<String>,
    /// Further arguments, after those above.
    pub args: Vec<String>,
    /// The open-file limit (soft and hard) of the gateway process.
    pub open_files: Option<u64>,
}

impl Launch {
    pub fn new(database_url: &str) -> Launch {
        Launch {
            database_url: Some(database_url.to_string()),
            ..Launch::default()
        }
    }

    pub fn config(mut self, config: Value) -> Launch {
        self.config = Some(config);
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Launch {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    pub fn cwd(mut self, dir: &Path) -> Launch {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    pub fn listen(mut self, addr: &str) -> Launch {
        self.listen = Some(addr.to_string());
        self
    }

    pub fn arg(mut self, arg: &str) -> Launch {
        self.args.push(arg.to_string());
        self
    }

    pub fn open_files(mut self, limit: u64) -> Launch {
        self.open_files = Some(limit);
        self
    }

    pub fn start(self) -> Gateway {
        Gateway::launch(self)
    }
}

/// A running gateway; SIGKILLed when dropped unless `terminate` stopped it first.
pub struct Gateway {
    child: Child,
    pub addr: SocketAddr,
    pub base: String,
    /// The text after the address on the "listening on" line: `(store: ENGINE DETAIL)`.
    pub store_line: String,
    agent: Agent,
    dir: tempfile::TempDir,
    stderr: PathBuf,
    /// The lines after the "listening on" line, as they are printed (in a mutex so a
    /// `&Gateway` can go to other threads).
    stdout: Mutex<mpsc::Receiver<String>>,
    exited: Option<ExitStatus>,
}

/// A plain-HTTP agent for tests: statuses are data, not errors, and connections are not
/// pooled so a connection the server closed (after a 413, say) is never reused.
pub fn agent(global_timeout: Option<Duration>) -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .max_idle_connections(0)
        .timeout_global(global_timeout)
        .timeout_connect(Some(PATIENCE))
        .timeout_recv_response(Some(PATIENCE))
        .build()
        .into()
}

impl Gateway {
    /// Start on a fresh database URL with no config file.
    pub fn start(database_url: &str) -> Gateway {
        Launch::new(database_url).start()
    }

    pub fn launch(launch: Launch) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let stderr = dir.path().join("gateway.stderr");
        let mut command = Command::new(BIN);
        command
            .arg("--listen")
            .arg(launch.listen.as_deref().unwrap_or("127.0.0.1:0"));
        if let Some(url) = &launch.database_url {
            command.arg("--database-url").arg(url);
        }
        if let Some(config) = &launch.config {
            // Every config a test starts a gateway with is one the schema describes.
            wafermon_testkit::assert_schema_valid("gateway.v1.schema.json", config);
            let path = dir.path().join("gateway.json");
            fs::write(&path, serde_json::to_vec_pretty(config).unwrap()).unwrap();
            command.arg("--config").arg(path);
        }
        command.args(&launch.args);
        // Tokens in the test runner's environment would change what these tests expect.
        command
            .env_remove("WAFERMON_GATEWAY_INGEST_TOKEN")
            .env_remove("WAFERMON_GATEWAY_READ_TOKEN");
        for (k, v) in &launch.env {
            command.env(k, v);
        }
        command.current_dir(launch.cwd.as_deref().unwrap_or(dir.path()));
        if let Some(files) = launch.open_files {
            wafermon_testkit::process::limit_open_files(&mut command, files);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Keep draining, even once nobody listens, so the gateway never blocks on a full
            // pipe.
            for line in BufReader::new(stdout).lines() {
                let _ = tx.send(line.unwrap_or_default());
            }
        });
        let line = rx.recv_timeout(PATIENCE).unwrap_or_default();
        let parsed = line
            .strip_prefix("wafermon-gateway listening on ")
            .and_then(|rest| rest.split_once(' '))
            .and_then(|(addr, store)| Some((addr.parse::<SocketAddr>().ok()?, store)));
        let Some((addr, store_line)) = parsed else {
            let _ = child.kill();
            let status = child.wait();
            panic!(
                "the gateway did not start ({status:?}): stdout {line:?}, stderr:\n{}",
                fs::read_to_string(&stderr).unwrap_or_default()
            );
        };
        Gateway {
            base: format!("http://{addr}"),
            addr,
            store_line: store_line.to_string(),
            child,
            agent: agent(Some(PATIENCE)),
            dir,
            stderr,
            stdout: Mutex::new(rx),
            exited: None,
        }
    }

    /// The next line the gateway prints after "listening on", if one comes within `wait`.
    pub fn next_stdout_line(&self, wait: Duration) -> Option<String> {
        let lines = self.stdout.lock().unwrap_or_else(|p| p.into_inner());
        lines.recv_timeout(wait).ok()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGTERM, then wait for the exit (SIGKILL after `PATIENCE`, which fails the test).
    pub fn terminate(&mut self) -> ExitStatus {
        if let Some(status) = self.exited {
            return status;
        }
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: signalling a child we spawned and have not reaped.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.exited = Some(status);
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the gateway did not stop within {PATIENCE:?} of SIGTERM; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with optional bearer token, content type and body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> Reply {
        let authorization = token.map(|t| format!("Bearer {t}"));
        self.send(method, path, authorization.as_deref(), content_type, body)
    }

    /// A request with an optional `Authorization` header as given.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> Reply {
        let url = self.url(path);
        let result = match method {
            "GET" => {
                let mut req = self.agent.get(&url);
                if let Some(a) = authorization {
                    req = req.header("Authorization", a);
                }
                req.call()
            }
            "POST" | "PUT" | "PATCH" | "DELETE" => {
                let mut req = match method {
                    "POST" => self.agent.post(&url),
                    "PUT" => self.agent.put(&url),
                    "PATCH" => self.agent.patch(&url),
                    _ => self.agent.delete(&url).force_send_body(),
                };
                if let Some(a) = authorization {
                    req = req.header("Authorization", a);
                }
                if let Some(ct) = content_type {
                    req = req.content_type(ct);
                }
                req.send(body.unwrap_or_default())
            }
            other => panic!("no helper for method {other}"),
        };
        let mut response = result
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e}; stderr:\n{}", self.stderr()));
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .unwrap_or_else(|e| panic!("{method} {path}: cannot read the body: {e}"));
        Reply {
            method: method.to_string(),
            path: path.to_string(),
            status,
            headers,
            body,
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, None, None, None)
    }

    pub fn get_with(&self, path: &str, token: &str) -> Reply {
        self.request("GET", path, Some(token), None, None)
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Reply {
        let bytes = serde_json::to_vec(body).unwrap();
        self.request("POST", path, None, Some("application/json"), Some(&bytes))
    }

    /// POST /v1/ingest/managed with these events; the reply must be 200.
    pub fn ingest(&self, events: &[Value]) -> Value {
        let reply = self.post_json("/v1/ingest/managed", &json!({ "events": events }));
        reply.expect(200)
    }

    /// GET a JSON document that must answer 200.
    pub fn get_json(&self, path: &str) -> Value {
        self.get(path).expect(200)
    }

    pub fn job(&self, id: &str) -> Value {
        self.get_json(&format!("/v1/jobs/{}", encode(id)))
    }

    /// Every job the list endpoint gives for `query`, following cursors.
    pub fn all_jobs(&self, query: &str, page: u32) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let mut path = format!("/v1/jobs?limit={page}");
            if !query.is_empty() {
                path.push('&');
                path.push_str(query);
            }
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={}", encode(c)));
            }
            let body = self.get_json(&path);
            let jobs = body["jobs"].as_array().unwrap();
            assert!(jobs.len() <= page as usize, "{path}: more than a page");
            out.extend(jobs.iter().cloned());
            match body["next_cursor"].as_str() {
                Some(c) => {
                    assert_eq!(
                        jobs.len(),
                        page as usize,
                        "{path}: a short page has a cursor"
                    );
                    cursor = Some(c.to_string());
                }
                None => return out,
            }
        }
        panic!("paging did not end");
    }

    /// Open `/v1/stream` with this query string; returns once the response headers arrived,
    /// which is after the gateway subscribed the client.
    pub fn stream(&self, query: &str, token: Option<&str>) -> SseStream {
        SseStream::open(&format!("{}/v1/stream{query}", self.base), token)
    }

    pub fn metrics(&self) -> String {
        let reply = self.get("/metrics");
        assert_eq!(reply.status, 200, "{reply}");
        reply.body
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// An HTTP answer.
pub struct Reply {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// Names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} {}: the body is not JSON ({e}): {}",
                self.method, self.path, self.body
            )
        })
    }

    /// The JSON body, after checking the status.
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{self}");
        self.json()
    }

    /// A JSON error of this status whose message mentions `needle`.
    pub fn expect_error(&self, status: u16, needle: &str) -> Value {
        let body = self.expect(status);
        let message = body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message: {self}"));
        assert!(
            message.contains(needle),
            "'{needle}' not in the error of {self}"
        );
        body
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} -> {} {}",
            self.method, self.path, self.status, self.body
        )
    }
}

/// Percent-encode a query or path value (RFC 3986 unreserved characters pass).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `wafermon-gateway ARGS` run to completion in `cwd`, with no token variables set.
pub fn run_cli(args: &[&str], cwd: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env_remove("WAFERMON_GATEWAY_INGEST_TOKEN")
        .env_remove("WAFERMON_GATEWAY_READ_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// Events

/// A valid v1 event under construction; `build` gives its JSON.
#[derive(Clone)]
pub struct Ev {
    time: i64,
    seq: u64,
    site: String,
    app: String,
    entity_kind: String,
    entity_id: String,
    parent: Option<String>,
    name: Option<String>,
    key: Option<String>,
    kind: String,
    status: Option<String>,
    progress: Option<f64>,
    metrics: Map<String, Value>,
    message: Option<String>,
}

static SEQ: AtomicUsize = AtomicUsize::new(1);

/// fab1's etch-tool jobs F-0 to F-5, five minutes apart from `start`, every third one
/// failed: the series every external-source test writes to its service and reads back.
pub fn fab1_jobs(start: i64) -> Vec<Ev> {
    (0..6)
        .map(|i| {
            let kind = if i % 3 == 2 { "failed" } else { "started" };
            ev(
                "fab1",
                "etch-tool",
                &format!("F-{i}"),
                kind,
                start + i * 5 * MINUTE,
            )
        })
        .collect()
}

/// `fab1_jobs(start)` and two jobs a one-hour window from `start` must leave out: F-old the
/// day before (25 h earlier, in yesterday's files, index or objects) and F-late two hours on.
pub fn fab1_jobs_and_outliers(start: i64) -> Vec<Ev> {
    let mut jobs = fab1_jobs(start);
    jobs.extend([
        ev("fab1", "etch-tool", "F-old", "started", start - 25 * HOUR),
        ev("fab1", "etch-tool", "F-late", "started", start + 2 * HOUR),
    ]);
    jobs
}

/// fab2's failed etch-tool jobs G-0 to G-2, a minute apart from `start` + 30 s, so they
/// interleave with fab1's series.
pub fn fab2_failures(start: i64) -> Vec<Ev> {
    (0..3)
        .map(|i| {
            let time = start + i * MINUTE + 30 * SECOND;
            ev("fab2", "etch-tool", &format!("G-{i}"), "failed", time)
        })
        .collect()
}

/// An event of `kind` about job `entity_id` at `site`, app `app`, at `time` (micros).
pub fn ev(site: &str, app: &str, entity_id: &str, kind: &str, time: i64) -> Ev {
    Ev {
        time,
        seq: SEQ.fetch_add(1, Ordering::Relaxed) as u64,
        site: site.into(),
        app: app.into(),
        entity_kind: "job".into(),
        entity_id: entity_id.into(),
        parent: None,
        name: None,
        key: None,
        kind: kind.into(),
        status: None,
        progress: None,
        metrics: Map::new(),
        message: None,
    }
}

impl Ev {
    pub fn entity_kind(mut self, kind: &str) -> Ev {
        self.entity_kind = kind.into();
        self
    }

    pub fn parent(mut self, parent: &str) -> Ev {
        self.parent = Some(parent.into());
        self
    }

    pub fn name(mut self, name: &str) -> Ev {
        self.name = Some(name.into());
        self
    }

    pub fn key(mut self, key: &str) -> Ev {
        self.key = Some(key.into());
        self
    }

    pub fn status(mut self, status: &str) -> Ev {
        self.status = Some(status.into());
        self
    }

    pub fn progress(mut self, pct: f64) -> Ev {
        self.progress = Some(pct);
        self
    }

    pub fn metric(mut self, name: &str, value: f64) -> Ev {
        self.metrics.insert(name.into(), json!(value));
        self
    }

    pub fn message(mut self, text: &str) -> Ev {
        self.message = Some(text.into());
        self
    }

    pub fn seq(mut self, seq: u64) -> Ev {
        self.seq = seq;
        self
    }

    /// The JSON event with a fresh UUIDv7 id.
    pub fn build(&self) -> Value {
        let id = wafermon::event::new_v7(self.time.div_euclid(1000)).to_string();
        let status = self.status.clone().unwrap_or_else(|| {
            match self.kind.as_str() {
                "finished" => "succeeded",
                "failed" => "failed",
                "canceled" => "canceled",
                _ => "running",
            }
            .to_string()
        });
        let mut entity = json!({"kind": self.entity_kind, "id": self.entity_id});
        if let Some(p) = &self.parent {
            entity["parent"] = json!(p);
        }
        if let Some(n) = &self.name {
            entity["name"] = json!(n);
        }
        if let Some(k) = &self.key {
            entity["key"] = json!(k);
        }
        let mut event = json!({
            "v": 1,
            "id": id,
            "seq": self.seq,
            "time": ts(self.time),
            "site": self.site,
            "app": {"name": self.app},
            "entity": entity,
            "kind": self.kind,
            "status": status,
        });
        if let Some(p) = self.progress {
            event["progress"] = json!(p);
        }
        if !self.metrics.is_empty() {
            event["metrics"] = Value::Object(self.metrics.clone());
        }
        if let Some(m) = &self.message {
            event["message"] = json!(m);
        }
        event
    }
}

pub fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

pub fn approx(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-9)
}

/// A fixed permutation of `0..n` from `seed`, so a failure reproduces.
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    for i in (1..n).rev() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = ((state >> 33) % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

// ---------------------------------------------------------------------------------------
// Server-sent events

/// One SSE message.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

/// What the reader thread saw.
enum Seen {
    Frame(Frame),
    Ended(Option<String>),
}

/// An open `/v1/stream`, read on a thread so the test can wait with a timeout.
pub struct SseStream {
    pub status: u16,
    pub content_type: String,
    frames: mpsc::Receiver<Seen>,
    ended: Option<Option<String>>,
}

impl SseStream {
    fn open(url: &str, token: Option<&str>) -> SseStream {
        // No global timeout: the stream stays open as long as the test needs it.
        let agent = agent(None);
        let mut req = agent.get(url);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let response = req.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let reader = response.into_body().into_reader();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut current = Frame::default();
            let mut lines = BufReader::new(reader).lines();
            loop {
                match lines.next() {
                    None => {
                        let _ = tx.send(Seen::Ended(None));
                        return;
                    }
                    Some(Err(e)) => {
                        let _ = tx.send(Seen::Ended(Some(e.to_string())));
                        return;
                    }
                    Some(Ok(line)) if line.is_empty() => {
                        let frame = std::mem::take(&mut current);
                        if (!frame.event.is_empty() || !frame.data.is_empty())
                            && tx.send(Seen::Frame(frame)).is_err()
                        {
                            return;
                        }
                    }
                    Some(Ok(line)) => {
                        if line.starts_with(':') {
                            continue; // keep-alive comment
                        }
                        let (field, value) = line.split_once(':').unwrap_or((&line, ""));
                        let value = value.strip_prefix(' ').unwrap_or(value);
                        match field {
                            "event" => current.event = value.to_string(),
                            "id" => current.id = Some(value.to_string()),
                            "data" => {
                                if !current.data.is_empty() {
                                    current.data.push('\n');
                                }
                                current.data.push_str(value);
                            }
                            _ => {}
                        }
                    }
                }
            }
        });
        SseStream {
            status,
            content_type,
            frames: rx,
            ended: None,
        }
    }

    /// The next message, or `None` when the stream ended.
    pub fn next(&mut self) -> Option<Frame> {
        if self.ended.is_some() {
            return None;
        }
        match self.frames.recv_timeout(PATIENCE) {
            Ok(Seen::Frame(f)) => Some(f),
            Ok(Seen::Ended(error)) => {
                self.ended = Some(error);
                None
            }
            Err(e) => panic!("no SSE message within {PATIENCE:?}: {e}"),
        }
    }

    /// `n` messages, failing if the stream ends first.
    pub fn take(&mut self, n: usize) -> Vec<Frame> {
        (0..n)
            .map(|i| {
                self.next()
                    .unwrap_or_else(|| panic!("the stream ended after {i} of {n} messages"))
            })
            .collect()
    }

    /// Wait for the end of the stream; returns the messages that came before it and the
    /// read error, if it did not end cleanly.
    pub fn rest(&mut self) -> (Vec<Frame>, Option<String>) {
        let mut frames = Vec::new();
        while let Some(f) = self.next() {
            frames.push(f);
        }
        (frames, self.ended.clone().flatten())
    }
}

// ---------------------------------------------------------------------------------------
// Files the core's filesystem backend writes

/// Write `events` as the core's filesystem backend does, through a real `wafermon::Client`
/// for `site`, under `root`. Returns what it wrote, read back from the files, in the order
/// of `events`.
pub fn write_with_core_client(root: &Path, site: &str, app: &str, events: &[Ev]) -> Vec<Value> {
    let spool = tempfile::tempdir().unwrap();
    let config = json!({
        "app": {"name": app, "version": "1.0", "site_id": site, "instance_id": "t-1"},
        "direct_backends": [{"type": "filesystem", "path": root}],
        "spool": {"path": spool.path()},
        "batch": {"flush_interval": 0.05}
    });
    let client = wafermon::Client::new(wafermon::Config::from_value(config).unwrap()).unwrap();
    for e in events {
        let kind = wafermon::Kind::parse(&e.kind).unwrap();
        let mut new = wafermon::NewEvent::new(kind, e.entity_kind.clone(), e.entity_id.clone())
            .time(wafermon::Timestamp::from_unix_micros(e.time));
        if let Some(m) = &e.message {
            new = new.message(m.clone());
        }
        for (k, v) in &e.metrics {
            new = new.metric(k.clone(), v.as_f64().unwrap());
        }
        client.emit(&new).unwrap();
    }
    client.flush(PATIENCE).unwrap();
    client.close(PATIENCE);
    let mut written = read_jsonl(&root.join(site));
    written.sort_by_key(|e| e["seq"].as_u64());
    written
}

/// Every event in every `*.jsonl` file under `dir`, in file then line order.
pub fn read_jsonl(dir: &Path) -> Vec<Value> {
    let mut events = Vec::new();
    for path in wafermon::skin::conformance::jsonl_files(dir) {
        for line in fs::read_to_string(&path).unwrap().lines() {
            if !line.trim().is_empty() {
                events.push(serde_json::from_str(line).unwrap());
            }
        }
    }
    events
}

/// Count occurrences, for comparing multisets of ids.
pub fn counts<'a>(items: impl IntoIterator<Item = &'a str>) -> HashMap<&'a str, usize> {
    let mut out = HashMap::new();
    for i in items {
        *out.entry(i).or_insert(0) += 1;
    }
    out
}
