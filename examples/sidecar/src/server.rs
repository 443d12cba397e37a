//! Running the sidecar: the core client, the HTTP listener with a few handler threads, and
//! a graceful shutdown on SIGTERM/SIGINT.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tiny_http::Server;

use crate::config::SidecarConfig;
use crate::metrics::IngestCounters;
use crate::routes::{self, App};

/// Threads answering requests.
const HANDLER_THREADS: usize = 4;
/// How often a handler thread looks at the stop flag while idle.
const POLL: Duration = Duration::from_millis(100);
/// How long shutdown waits for delivery before leaving the rest in the spool.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve until SIGTERM or SIGINT, then drain and return.
pub fn run(config: SidecarConfig) -> Result<(), String> {
    // Installed first, so a signal that arrives while starting is not lost.
    let mut signals = Signals::new([SIGTERM, SIGINT])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let client = wafermon::Client::new(config.core)
        .map_err(|e| format!("cannot start the wafermon client: {e}"))?;
    let server = Server::http(config.listen)
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let server = Arc::new(server);
    let app = Arc::new(App {
        client: client.clone(),
        counters: IngestCounters::default(),
        max_body_bytes: config.max_body_bytes,
        token: config.token,
    });
    let stop = Arc::new(AtomicBool::new(false));
    let mut handlers = Vec::with_capacity(HANDLER_THREADS);
    for i in 0..HANDLER_THREADS {
        let (server, app, stop) = (server.clone(), app.clone(), stop.clone());
        let handle = thread::Builder::new()
            .name(format!("sidecar-http-{i}"))
            .spawn(move || serve(&server, &app, &stop))
            .map_err(|e| format!("cannot start a handler thread: {e}"))?;
        handlers.push(handle);
    }

    let addr = server
        .server_addr()
        .to_ip()
        .map_or_else(|| config.listen.to_string(), |a| a.to_string());
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "wafermon-sidecar listening on {addr}");
    let _ = stdout.flush();
    drop(stdout);

    let signal = signals.forever().next();
    eprintln!("wafermon-sidecar: signal {signal:?}, shutting down (a second signal exits at once)");
    // A second signal ends the process without waiting for the drain; the spool keeps
    // whatever was acknowledged.
    let handle = signals.handle();
    let _ = thread::Builder::new()
        .name("sidecar-signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                eprintln!("wafermon-sidecar: second signal, exiting now");
                std::process::exit(1);
            }
        });

    stop.store(true, Ordering::Release);
    for handler in handlers {
        let _ = handler.join();
    }
    // The last reference: dropping it closes the listening socket.
    drop(server);
    let stats = client.close(DRAIN_TIMEOUT);
    handle.close();
    eprintln!(
        "wafermon-sidecar: stopped; {} events left for the next start",
        stats.pending()
    );
    Ok(())
}

fn serve(server: &Server, app: &App, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        match server.recv_timeout(POLL) {
            Ok(Some(request)) => routes::handle(app, request),
            Ok(None) => {}
            Err(e) => {
                eprintln!("wafermon-sidecar: cannot receive a request: {e}");
                thread::sleep(POLL);
            }
        }
    }
}
