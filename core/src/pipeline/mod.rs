//! The delivery pipeline: queue -> worker (batcher + router) -> one lane per backend, each
//! with its own spool and delivery thread.

pub(crate) mod batch;
mod lane;
mod msgpack;
mod queue;
pub(crate) mod record;
mod retry;
mod side;
mod spool;
mod stats;
mod worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use self::batch::Batch;
use self::batch::Origin;
use self::lane::{Lane, LaneSettings, Settled};
use self::queue::{Msg, Queue};
use self::spool::Spool;
use self::stats::ClientCounters;
pub use self::stats::{BackendStats, Stats};
use self::worker::{Router, Worker};
pub(crate) use batch::push_record;
#[cfg(test)]
pub(crate) use record::with_view;
pub(crate) use record::{
    app_fields, decode_entity, encode_attr, encode_entity, encoded_entity_len, Attrs, EntityFields,
    Fields, Metrics,
};
#[cfg(feature = "fuzzing")]
pub(crate) use spool::replay_segment;

use crate::backends;
use crate::config::{Config, OnFull};
use crate::error::{Error, ErrorKind, Result};
use crate::event::App;

/// Spool folders of events that did not fit the queue, and of acknowledged ones (names no
/// backend can have).
const INGRESS: &str = ".ingress";
const ACKED: &str = ".acked";

pub(crate) struct Pipeline {
    queue: Arc<Queue>,
    lanes: Vec<Arc<Lane>>,
    tx: crossbeam_channel::Sender<Msg>,
    worker: Mutex<Option<JoinHandle<()>>>,
    lane_threads: Mutex<Vec<JoinHandle<()>>>,
    settled: Settled,
    closed: AtomicBool,
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name)
        .spawn(f)
        .map_err(|e| Error::io("cannot start a wafermon thread", e))
}

impl Pipeline {
    pub fn start(config: &Config) -> Result<Pipeline> {
        let origin = Arc::new(Origin {
            site: config.app.site_id.clone(),
            app: App {
                name: config.app.name.clone(),
                version: config.app.version.clone(),
                instance: Some(config.app.instance_id.clone()),
            },
        });
        let settled: Settled = Arc::new((Mutex::new(()), Condvar::new()));
        let spool_for = |name: &str| {
            Spool::open(
                &config.spool.path,
                name,
                config.spool.max_size_bytes,
                config.spool.fsync,
            )
        };

        // Build every backend first, so a bad one fails creation before any thread starts.
        let mut built = Vec::new();
        for backend_config in config.active_backends() {
            let backend = backends::build(&backend_config, &config.app)?;
            built.push((backend_config, backend));
        }

        let mut lanes = Vec::new();
        let mut lane_threads = Vec::new();
        // A lane alone may use the whole queue before it turns to its spool (then the queue's
        // on_full policy applies first); with others, half, so one slow backend spools
        // instead of using up the memory the others need.
        let memory_limit = if built.len() > 1 {
            config.queue.capacity_bytes / 2
        } else {
            config.queue.capacity_bytes
        }
        .max(config.batch.max_bytes);
        for (bc, backend) in built {
            // A monitoring SDK must not stop the app because its spool folder is unusable:
            // the lane then works from memory only and says so in its stats.
            let (spool, spool_error) = match spool_for(&bc.name) {
                Ok(s) => (Some(s), None),
                Err(e) => (None, Some(format!("spool unavailable, memory only: {e}"))),
            };
            let lane = Arc::new(Lane::new(
                bc.name.clone(),
                bc.kind.type_name(),
                bc.priority,
                bc.group.clone(),
                bc.filter.clone(),
                spool,
                memory_limit,
                settled.clone(),
            ));
            if spool_error.is_some() {
                lane.counters.set_error(spool_error);
            }
            let settings = LaneSettings {
                retry: config.retry.clone(),
                batch_max: config.batch.max_events,
                inline_retries: bc.kind.inline_retries(),
                origin: origin.clone(),
            };
            let runner = lane.clone();
            lane_threads.push(spawn(format!("wafermon-{}", bc.name), move || {
                runner.run(backend, settings)
            })?);
            lanes.push(lane);
        }

        let overflow = if config.queue.on_full == OnFull::Spill {
            // Unusable: the queue says so when it first has to drop for it.
            Some(spool_for(INGRESS).map_err(|e| {
                format!(
                    "ingress spool {}: {e}",
                    config.spool.path.join(INGRESS).display()
                )
            }))
        } else {
            None
        };
        let (tx, rx) = crossbeam_channel::unbounded();
        let counters = Arc::new(ClientCounters::default());
        let queue = Arc::new(Queue::new(
            config,
            tx.clone(),
            overflow,
            spool_for(ACKED).ok(),
            counters,
        ));
        let worker = Worker::new(
            queue.clone(),
            Router::new(lanes.clone()),
            config.batch.max_events,
            config.batch.max_bytes,
            config.batch.flush_interval,
            (*origin).clone(),
        );
        let worker = spawn("wafermon-worker".into(), move || worker.run(rx))?;
        Ok(Pipeline {
            queue,
            lanes,
            tx,
            worker: Mutex::new(Some(worker)),
            lane_threads: Mutex::new(lane_threads),
            settled,
            closed: AtomicBool::new(false),
        })
    }

    #[inline]
    pub fn push(&self, fields: &Fields<'_>) -> Result<()> {
        self.queue.push(fields)
    }

    pub fn push_durable(&self, framed: &[u8], count: usize) -> Result<()> {
        self.queue.push_durable(framed, count)
    }

    pub fn stats(&self) -> Stats {
        let c = &self.queue.counters;
        Stats {
            emitted: self.queue.accepted(),
            queued: self.queue.queued_events(),
            dropped: c.dropped.load(Ordering::Acquire),
            spilled: c.spilled.load(Ordering::Acquire),
            spill_failed: c.spill_failed.load(Ordering::Acquire),
            corrupt: c.corrupt.load(Ordering::Acquire),
            last_error: c.last_error.lock().ok().and_then(|e| e.clone()),
            backends: self.lanes.iter().map(|l| l.stats()).collect(),
        }
    }

    /// The counters of a client that has no pipeline in this process (a forked child that
    /// has not used it): nothing emitted, each backend idle.
    pub fn idle_stats(config: &Config) -> Stats {
        Stats {
            backends: config
                .active_backends()
                .iter()
                .map(|b| BackendStats::idle(&b.name, b.kind.type_name()))
                .collect(),
            ..Stats::default()
        }
    }

    /// Route everything queued so far; false if the worker is gone or did not answer in time.
    fn route_all(&self, deadline: Instant) -> bool {
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        if self.tx.send(Msg::Flush(reply_tx)).is_err() {
            return false;
        }
        reply_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }

    /// Wait until every event emitted before the call is delivered (or failed for good).
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::closed());
        }
        self.wait_delivered(Instant::now() + timeout)
    }

    fn wait_delivered(&self, deadline: Instant) -> Result<()> {
        if !self.route_all(deadline) {
            return Err(self.timeout_error("routing"));
        }
        let targets: Vec<u64> = self
            .lanes
            .iter()
            .map(|l| l.counters.accepted.load(Ordering::Acquire))
            .collect();
        let mut guard = match self.settled.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        loop {
            let done = self
                .lanes
                .iter()
                .zip(&targets)
                .all(|(lane, &target)| lane.counters.settled() >= target);
            if done {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                drop(guard);
                return Err(self.timeout_error("delivery"));
            }
            guard = match self
                .settled
                .1
                .wait_timeout(guard, (deadline - now).min(Duration::from_millis(100)))
            {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    fn timeout_error(&self, stage: &str) -> Error {
        let stats = self.stats();
        Error::new(
            ErrorKind::Timeout,
            format!(
                "{} events not delivered in time (stuck in {stage}); they stay in the spool",
                stats.pending()
            ),
        )
    }

    /// Stop accepting, deliver what can be delivered by the deadline, persist the rest.
    /// Returns by the deadline even when a delivery thread is stuck in a request: what that
    /// lane holds is then written to its spool from here (`Lane::keep_what_is_held`).
    pub fn close(&self, timeout: Duration) -> Stats {
        let deadline = Instant::now() + timeout;
        if self.closed.swap(true, Ordering::AcqRel) {
            return self.stats();
        }
        self.queue.close();
        let _ = self.wait_delivered(deadline);
        let _ = self.tx.send(Msg::Stop);
        if let Some(worker) = self.worker.lock().ok().and_then(|mut w| w.take()) {
            let _ = worker.join();
        }
        for lane in &self.lanes {
            lane.stop(deadline);
        }
        self.wait_lanes_done(deadline);
        let threads: Vec<JoinHandle<()>> = self
            .lane_threads
            .lock()
            .map(|mut t| t.drain(..).collect())
            .unwrap_or_default();
        for (lane, thread) in self.lanes.iter().zip(threads) {
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                // Stuck in a request to a backend that does not answer: keep what the lane
                // holds from here and leave the thread to end (or die with the process).
                lane.keep_what_is_held();
            }
        }
        self.stats()
    }

    /// Wait until every lane's delivery thread returned, or the deadline.
    fn wait_lanes_done(&self, deadline: Instant) {
        let mut guard = match self.settled.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        while !self.lanes.iter().all(|l| l.is_done()) {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            guard = match self.settled.1.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}
