//! What a benchmark run sets up and tears down: PostgreSQL and a database of its own, release
//! builds of the hosts, hosts started on free ports (stopped when dropped).

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::stats::thousands;

pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    here.canonicalize().unwrap_or(here)
}

/// A started host; SIGTERM (then SIGKILL) when stopped or dropped.
pub struct Host {
    name: &'static str,
    child: Child,
    pub url: String,
    stderr: PathBuf,
}

impl Host {
    pub fn start(name: &'static str, mut command: Command, dir: &Path) -> Result<Host, String> {
        let stderr = dir.join(format!("{name}.stderr"));
        let file = fs::File::create(&stderr).map_err(|e| format!("{}: {e}", stderr.display()))?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(file)
            .spawn()
            .map_err(|e| format!("cannot start wafermon-{name}: {e}"))?;
        let stdout = child.stdout.take();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep the pipe open and drained for as long as the host lives.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let mut host = Host {
            name,
            child,
            url: String::new(),
            stderr,
        };
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_default();
        let prefix = format!("wafermon-{name} listening on ");
        match line.trim().strip_prefix(&prefix) {
            Some(rest) => {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                host.url = format!("http://{addr}");
                eprintln!("loadgen: {}", line.trim());
                Ok(host)
            }
            None => {
                host.stop();
                Err(format!(
                    "wafermon-{name} did not start: stdout {line:?}, stderr: {}",
                    fs::read_to_string(&host.stderr).unwrap_or_default().trim()
                ))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                eprintln!("loadgen: wafermon-{} stopped", self.name);
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!(
            "loadgen: wafermon-{} killed (did not stop in 30 s)",
            self.name
        );
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `psql URL -c SQL`, the output trimmed.
pub fn psql(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-qtAX", "-c", sql])
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A database made for this run, dropped at the end unless kept.
pub struct Database {
    admin_url: String,
    name: String,
    pub url: String,
    keep: bool,
}

impl Database {
    pub fn create(admin_url: &str, keep: bool) -> Result<Database, String> {
        let name = format!(
            "wafermon_loadgen_{}_{}",
            std::process::id(),
            crate::gen::run_tag()
        );
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .ok_or_else(|| format!("unexpected database URL '{admin_url}'"))?;
        psql(admin_url, &format!("CREATE DATABASE {name}"))?;
        eprintln!("loadgen: created database {name}");
        Ok(Database {
            admin_url: admin_url.to_string(),
            url: format!("{base}/{name}"),
            name,
            keep,
        })
    }

    pub fn count_events(&self) -> Result<u64, String> {
        psql(&self.url, "SELECT count(*) FROM events")?
            .parse()
            .map_err(|e| format!("count: {e}"))
    }

    pub fn size(&self) -> String {
        psql(
            &self.url,
            "SELECT pg_size_pretty(pg_database_size(current_database()))",
        )
        .unwrap_or_else(|_| "?".into())
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("loadgen: keeping database {} ({})", self.name, self.url);
            return;
        }
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // FORCE may not end an autovacuum worker for us (it belongs to the superuser):
        // retry while it finishes, then try as the postgres user (root can, as in
        // scripts/postgres.sh).
        let mut last = String::new();
        for _ in 0..10 {
            match psql(&self.admin_url, &sql) {
                Ok(_) => {
                    eprintln!("loadgen: dropped database {}", self.name);
                    return;
                }
                Err(e) => last = e,
            }
            thread::sleep(Duration::from_secs(1));
        }
        let as_postgres = Command::new("runuser")
            .args(["-u", "postgres", "--", "psql", "-qtAX", "-c", &sql])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if as_postgres {
            eprintln!("loadgen: dropped database {}", self.name);
        } else {
            eprintln!(
                "loadgen: could not drop database {}: {last} (drop it by hand)",
                self.name
            );
        }
    }
}

/// PostgreSQL's checkpoint, backend-write and WAL counters, to tell what a run cost it.
pub struct PgCounters {
    checkpoints: u64,
    forced: u64,
    backend_writes: u64,
    wal_bytes: f64,
}

impl PgCounters {
    pub fn read(url: &str) -> Option<PgCounters> {
        let row = psql(
            url,
            "SELECT checkpoints_timed + checkpoints_req, checkpoints_req, buffers_backend, \
                    pg_current_wal_lsn() - '0/0'::pg_lsn FROM pg_stat_bgwriter",
        )
        .ok()?;
        let f: Vec<&str> = row.split('|').collect();
        Some(PgCounters {
            checkpoints: f.first()?.parse().ok()?,
            forced: f.get(1)?.parse().ok()?,
            backend_writes: f.get(2)?.parse().ok()?,
            wal_bytes: f.get(3)?.parse().ok()?,
        })
    }

    /// "WAL 1234 MB (1.2 KB/event), 3 checkpoints (3 forced by WAL volume), ...".
    pub fn describe(
        before: &Option<PgCounters>,
        after: &Option<PgCounters>,
        events: u64,
    ) -> String {
        let (Some(b), Some(a)) = (before, after) else {
            return "postgres counters unavailable".into();
        };
        let wal = a.wal_bytes - b.wal_bytes;
        format!(
            "postgres: WAL {:.0} MB ({:.2} KB per event), {} checkpoints ({} forced by WAL volume), \
             {} buffers written by backends",
            wal / 1e6,
            wal / 1e3 / events.max(1) as f64,
            a.checkpoints - b.checkpoints,
            a.forced - b.forced,
            thousands((a.backend_writes - b.backend_writes) as f64)
        )
    }
}

pub fn start_postgres(root: &Path) -> Result<String, String> {
    let script = root.join("scripts/postgres.sh");
    eprintln!("loadgen: {}", script.display());
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("{} failed", script.display()));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .map(|l| l.trim().to_string())
        .filter(|l| l.starts_with("postgres"))
        .ok_or_else(|| format!("{} printed no database URL", script.display()))
}

pub fn build(root: &Path, build: bool) -> Result<(PathBuf, PathBuf), String> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let release = target.join("release");
    if build {
        eprintln!("loadgen: cargo build --release -p wafermon-sidecar -p wafermon-gateway");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "-p",
                "wafermon-sidecar",
                "-p",
                "wafermon-gateway",
            ])
            .current_dir(root)
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err("building the sidecar and the gateway failed".into());
        }
    }
    let bins = (
        release.join("wafermon-sidecar"),
        release.join("wafermon-gateway"),
    );
    for b in [&bins.0, &bins.1] {
        if !b.exists() {
            return Err(format!(
                "{} is missing (build it, or drop --no-build)",
                b.display()
            ));
        }
    }
    Ok(bins)
}
