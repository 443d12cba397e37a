//! wafermon-sidecar: a local HTTP endpoint that accepts events from applications, makes them
//! durable in the wafermon core's spool before acknowledging them, and delivers them to the
//! configured backends.
//!
//! ```text
//! wafermon-sidecar --config PATH [--listen 127.0.0.1:17000] [--check]
//! ```

mod config;
mod metrics;
mod routes;
mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use wafermon_hostkit::Flags;

const USAGE: &str = "usage: wafermon-sidecar --config PATH [--listen HOST:PORT] [--check]";

struct Args {
    config: PathBuf,
    listen: Option<SocketAddr>,
    check: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut config = None;
    let mut listen = None;
    let mut check = false;
    let mut flags = Flags::from_env();
    while let Some(flag) = flags.next_flag() {
        match flag {
            "--config" => config = Some(PathBuf::from(flags.value("a path")?)),
            "--listen" => listen = Some(flags.socket_addr()?),
            "--check" => check = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    let config = config.ok_or("--config PATH is required")?;
    Ok(Args {
        config,
        listen,
        check,
    })
}

fn main() -> ExitCode {
    wafermon_hostkit::log_to_stderr("wafermon-sidecar");
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("wafermon-sidecar: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut config = match config::load(&args.config) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            return ExitCode::from(2);
        }
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if args.check {
        println!("ok");
        return ExitCode::SUCCESS;
    }
    match server::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wafermon-sidecar: {e}");
            ExitCode::from(1)
        }
    }
}
