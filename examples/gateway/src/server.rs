//! Running the gateway: open the store, serve until SIGTERM/SIGINT, then stop accepting,
//! end the streams, let requests in flight finish within a bounded time. With `--demo` the
//! simulated fab line starts once the listener is bound and stops before the server does.

use std::io::Write;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use wafermon_hostkit::ShutdownSignals;

use crate::api::{self, AppState};
use crate::config::GatewayConfig;
use crate::store::{redact, Store};

/// How long requests in flight get after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the retention is applied where no database policy does it.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How often the stats rollup catches up with ingest. Answers are exact either way (dirty
/// hours are read raw); this bounds how much a stats read reads raw.
const REFRESH_ROLLUP_EVERY: Duration = Duration::from_secs(1);

pub async fn run(config: GatewayConfig, demo: bool) -> Result<(), String> {
    let mut signals = ShutdownSignals::new().map_err(|e| format!("cannot watch signals: {e}"))?;
    let store = Store::open(&config.database_url, config.retention_days)
        .await
        .map_err(|e| {
            format!(
                "cannot open the store at {}: {e}",
                redact(&config.database_url)
            )
        })?;
    let info = store.info();
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;

    let (stop, stopped) = watch::channel(false);
    let state = AppState::new(store, &config, stopped.clone());
    if let Some(days) = config.retention_days {
        tokio::spawn(prune_forever(state.clone(), days));
    }
    tokio::spawn(refresh_rollup_forever(state.clone()));
    let kafka = match (&config.kafka, &state.kafka) {
        (Some(settings), Some(status)) => Some(crate::kafka::start(
            settings,
            state.clone(),
            status.clone(),
            tokio::runtime::Handle::current(),
        )?),
        _ => None,
    };
    let app = api::router(state, &config);
    // The line posts to this listener: requests wait in its backlog until serving starts.
    let line = if demo {
        Some(crate::demo::start(
            addr,
            config
                .ingest_token
                .as_ref()
                .map(wafermon::config::Secret::expose),
        )?)
    } else {
        None
    };

    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(
        stdout,
        "wafermon-gateway listening on {addr} (store: {} {})",
        info.engine, info.detail
    );
    if let Some(line) = &line {
        let _ = writeln!(stdout, "wafermon dashboard: {}/", line.base_url());
        let _ = writeln!(
            stdout,
            "a simulated fab line is reporting into it (data in {}); stop with Ctrl-C",
            crate::demo::DIR
        );
    }
    let _ = stdout.flush();
    drop(stdout);

    if let Some(note) = &config.connections_note {
        eprintln!("wafermon-gateway: {note}");
    }
    let mut until_stopped = stopped.clone();
    let server = wafermon_hostkit::serve(
        "wafermon-gateway",
        listener,
        app,
        config.connections,
        async move {
            let _ = until_stopped.wait_for(|s| *s).await;
        },
    );
    let server = tokio::spawn(server);
    let name = signals.next().await;
    eprintln!("wafermon-gateway: {name}, shutting down");
    if let Some(line) = line {
        // Its clients flush into this server, so the line stops while it still serves.
        let _ = tokio::task::spawn_blocking(move || line.stop()).await;
    }
    if let Some(kafka) = kafka {
        // Before the runtime goes: the store consumer finishes its batch through it.
        let stopping = tokio::task::spawn_blocking(move || kafka.stop());
        if tokio::time::timeout(DRAIN_TIMEOUT, stopping).await.is_err() {
            eprintln!("wafermon-gateway: the Kafka consumer did not stop in time");
        }
    }
    let _ = stop.send(true);
    match tokio::time::timeout(DRAIN_TIMEOUT, server).await {
        Ok(Ok(Ok(()))) => {
            eprintln!("wafermon-gateway: stopped");
            Ok(())
        }
        Ok(Ok(Err(e))) => Err(format!("server error: {e}")),
        Ok(Err(e)) => Err(format!("server task failed: {e}")),
        Err(_) => Err(format!(
            "requests still running after {}s; exiting anyway",
            DRAIN_TIMEOUT.as_secs()
        )),
    }
}

async fn refresh_rollup_forever(state: std::sync::Arc<AppState>) {
    let mut tick = tokio::time::interval(REFRESH_ROLLUP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        match state.store.refresh_rollup().await {
            Ok(_) => failing = false,
            // Once per outage, not once a second.
            Err(e) if !failing => {
                eprintln!("wafermon-gateway: stats rollup refresh failed (answers stay exact, only slower): {e}");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

async fn prune_forever(state: std::sync::Arc<AppState>, days: u32) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        let cutoff =
            wafermon::event::Timestamp::now().unix_micros() - i64::from(days) * 86_400_000_000;
        match state.store.prune(cutoff).await {
            Ok(0) => {}
            Ok(n) => eprintln!("wafermon-gateway: retention removed {n} events"),
            Err(e) => eprintln!("wafermon-gateway: retention failed: {e}"),
        }
    }
}
