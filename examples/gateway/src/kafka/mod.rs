//! Kafka ingest, the scale-out path: the gateway as one member of a consumer group storing a
//! topic the core's `kafka` writer fills (`consumer`), and a reader of the whole topic for
//! its own live view (`live`); `lag` measures how far behind the group is. See docs/scale-out.md.

pub mod config;
mod consumer;
mod lag;
mod live;
mod status;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

pub use self::config::KafkaIngest;
pub use self::status::Status;
use crate::api::AppState;

/// The running consumer threads.
pub struct Running {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// Start the store consumer (and the live one) on threads of their own: rdkafka's consumer
/// blocks in poll, and the store calls go through the runtime's `handle`.
pub fn start(
    config: &KafkaIngest,
    state: Arc<AppState>,
    status: Arc<Status>,
    handle: tokio::runtime::Handle,
) -> Result<Running, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let spawn_error = |e: std::io::Error| format!("cannot start the Kafka consumer: {e}");
    {
        let (config, state, status, stop) =
            (config.clone(), state.clone(), status.clone(), stop.clone());
        // Without a live consumer, the store consumer feeds the stream what it stores.
        let publish = !config.live;
        threads.push(
            std::thread::Builder::new()
                .name("kafka-store".into())
                .spawn(move || consumer::run(config, state, status, handle, stop, publish))
                .map_err(spawn_error)?,
        );
    }
    {
        let (config, state, status, stop) =
            (config.clone(), state.clone(), status.clone(), stop.clone());
        threads.push(
            std::thread::Builder::new()
                .name("kafka-lag".into())
                .spawn(move || lag::run(config, state, status, stop))
                .map_err(spawn_error)?,
        );
    }
    if config.live {
        let (config, stop) = (config.clone(), stop.clone());
        threads.push(
            std::thread::Builder::new()
                .name("kafka-live".into())
                .spawn(move || live::run(config, state, status, stop))
                .map_err(spawn_error)?,
        );
    }
    Ok(Running { stop, threads })
}

impl Running {
    /// Finish the batch in hand (stored and committed, or not committed at all) and leave
    /// the groups.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}
