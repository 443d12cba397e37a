//! wafermon-gateway: the managed event store (PostgreSQL/TimescaleDB, or an embedded SQLite
//! file by default), its read API, queries of configured external sources and the unified
//! view over both.
//!
//! ```text
//! wafermon-gateway [--listen 127.0.0.1:18000] [--database-url URL] [--config PATH] [--check]
//! wafermon-gateway --demo [--listen 127.0.0.1:18000] [--database-url URL]
//! ```
//!
//! `--demo` runs on its own SQLite file under ./wafermon-demo with one filesystem source, and
//! starts a simulated fab line that reports through the SDK into both (see `demo`).

mod api;
mod config;
mod dashboard;
mod demo;
mod external;
mod kafka;
mod metrics;
mod server;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use std::time::Duration;
use wafermon_hostkit::Flags;

/// How long blocking work (file reads, SQLite calls) gets after the server stopped.
const BLOCKING_GRACE: Duration = Duration::from_secs(2);

const USAGE: &str = "usage: wafermon-gateway [--listen HOST:PORT] [--database-url postgres://...|sqlite://PATH] [--config PATH] [--check]
       wafermon-gateway --demo [--listen HOST:PORT] [--database-url URL]   (a simulated fab line; data in ./wafermon-demo)";

struct Args {
    config: Option<PathBuf>,
    overrides: config::Overrides,
    check: bool,
    demo: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        config: None,
        overrides: config::Overrides::default(),
        check: false,
        demo: false,
    };
    let mut flags = Flags::from_env();
    while let Some(flag) = flags.next_flag() {
        match flag {
            "--config" => args.config = Some(PathBuf::from(flags.value("a path")?)),
            "--database-url" => args.overrides.database_url = Some(flags.value("a URL")?),
            "--listen" => args.overrides.listen = Some(flags.socket_addr()?),
            "--check" => args.check = true,
            "--demo" => args.demo = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    if args.demo {
        // The demo brings its own store and source; merging them into a real config would
        // make it unclear which data the simulated line writes into.
        if args.config.is_some() {
            return Err("--demo runs on its own settings; leave out --config".into());
        }
        let url = &mut args.overrides.database_url;
        url.get_or_insert_with(|| demo::DATABASE_URL.to_string());
    }
    Ok(args)
}

fn main() -> ExitCode {
    wafermon_hostkit::log_to_stderr("wafermon-gateway");
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("wafermon-gateway: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match config::load(args.config.as_deref(), args.overrides) {
        Ok(mut c) => {
            if args.demo {
                c.sources.push(demo::source());
            }
            c
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            return ExitCode::from(2);
        }
    };
    if args.check {
        println!("ok");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("gateway")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wafermon-gateway: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(server::run(config, args.demo));
    // Dropping the runtime would wait for every blocking task, and a source read stuck on a
    // hung mount never ends: give them a moment, then exit regardless.
    runtime.shutdown_timeout(BLOCKING_GRACE);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wafermon-gateway: {e}");
            ExitCode::from(1)
        }
    }
}
