//! Running the sidecar: the core client, the HTTP server (axum on a small tokio runtime), and
//! a graceful shutdown on SIGTERM/SIGINT: stop accepting, finish the requests in flight, give
//! delivery a bounded time, keep the rest in the spool for the next start.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use wafermon_hostkit::ShutdownSignals;

use crate::config::SidecarConfig;
use crate::metrics::IngestCounters;
use crate::routes::{self, App};

/// How long shutdown waits for delivery before leaving the rest in the spool.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long requests in flight get to finish after a signal.
const REQUEST_GRACE: Duration = Duration::from_secs(5);

/// Serve until SIGTERM or SIGINT, then drain and return.
pub fn run(config: SidecarConfig) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sidecar")
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    // Watched first, so a signal that arrives while starting is not lost.
    let mut signals = runtime
        .block_on(async { ShutdownSignals::new() })
        .map_err(|e| format!("cannot watch signals: {e}"))?;
    let client = wafermon::Client::new(config.core)
        .map_err(|e| format!("cannot start the wafermon client: {e}"))?;
    let app = Arc::new(App {
        client: client.clone(),
        counters: IngestCounters::default(),
        max_body_bytes: config.max_body_bytes,
        token: config.token,
    });
    let served = runtime.block_on(async move {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener
            .local_addr()
            .map_or_else(|_| config.listen.to_string(), |a| a.to_string());
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "wafermon-sidecar listening on {addr}");
        let _ = stdout.flush();
        drop(stdout);

        if let Some(note) = &config.connections_note {
            eprintln!("wafermon-sidecar: {note}");
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = wafermon_hostkit::serve(
            "wafermon-sidecar",
            listener,
            routes::router(app),
            config.connections,
            async {
                let _ = stopped.await;
            },
        );
        let server = tokio::spawn(server);
        let name = signals.next().await;
        eprintln!("wafermon-sidecar: {name}, shutting down (a second signal exits at once)");
        // A second signal ends the process without waiting; the spool keeps whatever was
        // acknowledged.
        tokio::spawn(async move {
            let name = signals.next().await;
            eprintln!("wafermon-sidecar: second signal ({name}), exiting now");
            std::process::exit(1);
        });
        let _ = stop.send(());
        match tokio::time::timeout(REQUEST_GRACE, server).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(format!("server error: {e}")),
            Ok(Err(e)) => Err(format!("server task failed: {e}")),
            // Whatever those requests made durable is in the spool; the rest was not
            // acknowledged.
            Err(_) => {
                eprintln!(
                    "wafermon-sidecar: requests still open after {REQUEST_GRACE:?}; closing anyway"
                );
                Ok(())
            }
        }
    });
    let stats = client.close(DRAIN_TIMEOUT);
    runtime.shutdown_timeout(Duration::from_secs(1));
    eprintln!(
        "wafermon-sidecar: stopped; {} events left for the next start",
        stats.pending()
    );
    served
}
