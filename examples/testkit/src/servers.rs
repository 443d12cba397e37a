//! Real servers for the backend tests, started through scripts/servers/NAME.sh (which
//! installs the server if needed and is a no-op when it already runs). Shared by the core's
//! and the gateway's tests.

use std::path::PathBuf;
use std::process::Command;

fn scripts_dir() -> PathBuf {
    crate::in_checkout("scripts/servers")
}

/// Run `scripts/servers/NAME.sh ARGS...`; its last line of output (the server's address for
/// `start`). Panics with the script's own output when it fails: a backend test without its
/// server fails, it is never skipped.
pub fn server_script(name: &str, args: &[&str]) -> String {
    try_server_script(name, args).unwrap_or_else(|failure| panic!("{failure}"))
}

fn try_server_script(name: &str, args: &[&str]) -> Result<String, String> {
    try_server_script_with(name, args, &[])
}

fn try_server_script_with(
    name: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<String, String> {
    let script = scripts_dir().join(format!("{name}.sh"));
    let out = Command::new("bash")
        .arg(&script)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{} {args:?} failed ({}):\n{stdout}\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(stdout.lines().last().unwrap_or_default().trim().to_string())
}

/// Start the shared instance of a server (default port) and return its address.
pub fn server(name: &str) -> String {
    server_script(name, &["start"])
}

/// A free TCP port on 127.0.0.1 for a private instance.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// A private instance on its own port and folder, stopped (by PID) when dropped: for tests
/// that stop and restart their server.
pub struct PrivateServer {
    pub name: String,
    pub port: u16,
    pub dir: PathBuf,
    pub address: String,
}

impl PrivateServer {
    /// Servers that take several ports from the one given (SeaweedFS uses PORT..PORT+7) can
    /// lose a race for one of them against another test's socket: try a few ports.
    pub fn start(name: &str, dir: &std::path::Path) -> PrivateServer {
        PrivateServer::start_with(name, dir, &[])
    }

    /// `start`, with settings the script reads from its environment (such as
    /// `KAFKA_AUTO_CREATE=false`).
    pub fn start_with(name: &str, dir: &std::path::Path, env: &[(&str, &str)]) -> PrivateServer {
        let dir_text = dir.to_string_lossy().to_string();
        let mut failures = Vec::new();
        for _ in 0..4 {
            let port = free_port();
            let port_text = port.to_string();
            match try_server_script_with(name, &["start", &port_text, &dir_text], env) {
                Ok(address) => {
                    return PrivateServer {
                        name: name.to_string(),
                        port,
                        dir: dir.to_path_buf(),
                        address,
                    }
                }
                Err(failure) => {
                    let _ = try_server_script(name, &["stop", &port_text]);
                    failures.push(failure);
                }
            }
        }
        panic!(
            "{name} did not start on any of 4 ports:\n{}",
            failures.join("\n---\n")
        );
    }

    pub fn stop(&self) {
        server_script(&self.name, &["stop", &self.port.to_string()]);
    }

    pub fn restart(&self) {
        let port = self.port.to_string();
        let dir = self.dir.to_string_lossy().to_string();
        server_script(&self.name, &["start", &port, &dir]);
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(scripts_dir().join(format!("{}.sh", self.name)))
            .args(["stop", &self.port.to_string()])
            .output();
    }
}
