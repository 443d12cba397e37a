//! The client: what applications (and every language skin) call.

mod attrs;
mod job;
mod usage;

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

pub use self::attrs::JobAttrs;
pub use self::job::{Job, JobBuilder, JobSpec};

use crate::config::Config;
use crate::error::Result;
use crate::event::{new_v7, parse_event_json, Kind, Level, NewEvent, Timestamp};
use crate::fork;
use crate::pipeline::{app_fields, Attrs, Fields, Metrics, Pipeline, Stats};

/// How long dropping the last handle of a client waits for delivery.
const DROP_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

struct Shared {
    config: Config,
    /// The pipeline of the current process. A forked child replaces it with a fresh one and
    /// leaks the parent's copy: its threads do not exist in the child and its locks may be
    /// held forever, so it must never be touched again.
    pipeline: AtomicPtr<Pipeline>,
    generation: AtomicU64,
    reinit: Mutex<()>,
    /// Closed in a forked child before it had a pipeline of its own (its own children
    /// inherit this; the parent's memory does not).
    closed_unstarted: AtomicBool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if self.generation.load(Ordering::Acquire) != fork::generation() {
            return; // the parent's pipeline: leaked on purpose, see above
        }
        let ptr = *self.pipeline.get_mut();
        if !ptr.is_null() {
            // SAFETY: the pointer came from Box::into_raw in this process and this is the
            // last reference to it.
            let pipeline = unsafe { Box::from_raw(ptr) };
            pipeline.close(DROP_CLOSE_TIMEOUT);
        }
    }
}

/// A wafermon client. Cheap to clone; all clones share one pipeline. Dropping the last
/// clone closes it (waiting up to 5 s for delivery; the rest stays in the spool).
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

impl Client {
    /// Start a client: backends are built and threads started here, so configuration
    /// problems surface now and never later from `emit`.
    pub fn new(config: Config) -> Result<Client> {
        fork::install();
        let generation = fork::generation();
        let pipeline = Box::into_raw(Box::new(Pipeline::start(&config)?));
        Ok(Client {
            shared: Arc::new(Shared {
                config,
                pipeline: AtomicPtr::new(pipeline),
                generation: AtomicU64::new(generation),
                reinit: Mutex::new(()),
                closed_unstarted: AtomicBool::new(false),
            }),
        })
    }

    /// A client configured from `WAFERMON_CONFIG`, `WAFERMON_*` and defaults.
    pub fn from_env() -> Result<Client> {
        Client::new(Config::from_env()?)
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    #[inline]
    fn pipeline(&self) -> Result<&Pipeline> {
        let shared = &*self.shared;
        if shared.generation.load(Ordering::Acquire) == fork::generation() {
            // SAFETY: set from Box::into_raw and only freed by Shared::drop.
            return Ok(unsafe { &*shared.pipeline.load(Ordering::Acquire) });
        }
        self.after_fork()
    }

    #[cold]
    fn after_fork(&self) -> Result<&Pipeline> {
        let shared = &*self.shared;
        let _guard = match shared.reinit.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let generation = fork::generation();
        if shared.generation.load(Ordering::Acquire) != generation {
            if self.closed_before_start() {
                return Err(crate::Error::closed());
            }
            let fresh = Box::into_raw(Box::new(Pipeline::start(&shared.config)?));
            shared.pipeline.store(fresh, Ordering::Release);
            shared.generation.store(generation, Ordering::Release);
        }
        // SAFETY: as in `pipeline`.
        Ok(unsafe { &*shared.pipeline.load(Ordering::Acquire) })
    }

    /// In a process without a pipeline of this client (a forked child that has not used
    /// it): true when the client was closed here (or in the parent) before that.
    fn closed_before_start(&self) -> bool {
        let shared = &*self.shared;
        // SAFETY: the parent's pipeline is only read here, never dropped.
        let parent = unsafe { &*shared.pipeline.load(Ordering::Acquire) };
        shared.closed_unstarted.load(Ordering::Acquire) || parent.is_closed()
    }

    #[inline]
    pub(crate) fn submit(&self, fields: &Fields<'_>) -> Result<()> {
        self.pipeline()?.push(fields)
    }

    /// Queue one event. Never blocks (unless `queue.on_full` is `block`) and never fails
    /// because a backend is down; fails only on an invalid event or a closed client.
    #[inline]
    pub fn emit(&self, event: &NewEvent) -> Result<()> {
        let status = event.validate()?;
        self.submit(&Self::fields(event, status))
    }

    fn fields(event: &NewEvent, status: crate::event::Status) -> Fields<'_> {
        let time = event.time.unwrap_or_else(Timestamp::now);
        Fields {
            id: event.id.unwrap_or_else(|| new_v7(time.unix_millis())),
            seq: event.seq.unwrap_or(0),
            time,
            site: event.site.as_deref(),
            app: event.app.as_ref().map(app_fields),
            entity: (&event.entity).into(),
            kind: event.kind,
            status,
            progress: event.progress,
            level: event
                .level
                .or((event.kind == Kind::Log).then_some(Level::Info)),
            message: event.message.as_deref(),
            metrics: Metrics::List(&event.metrics),
            attrs: Attrs::List(&event.attrs),
        }
    }

    /// Accept events durably: they are written to the ingress spool on disk before this
    /// returns, so a host (the sidecar) can acknowledge them to its clients. All or nothing:
    /// the first invalid event fails the call, naming it (`[index].field`).
    pub fn ingest(&self, events: &[NewEvent]) -> Result<()> {
        let mut batch = IngestBatch::default();
        for (i, event) in events.iter().enumerate() {
            batch.push(event).map_err(|e| {
                crate::Error::event(
                    format!("[{i}].{}", e.path().unwrap_or_default()),
                    e.message().to_string(),
                )
            })?;
        }
        self.ingest_batch(batch)
    }

    /// `ingest` for events framed one by one into an [`IngestBatch`], so a host reading a
    /// large request never holds them all as `NewEvent`s. All or nothing, as `ingest`.
    pub fn ingest_batch(&self, batch: IngestBatch) -> Result<()> {
        if batch.count == 0 {
            return Ok(());
        }
        self.pipeline()?.push_durable(&batch.framed, batch.count)
    }

    /// Queue one event given as JSON (see `parse_event_json` for the accepted shape).
    pub fn emit_json(&self, json: &str) -> Result<()> {
        self.emit(&parse_event_json(json)?)
    }

    /// Start building a job named `name` (entity kind "job").
    pub fn job(&self, name: &str) -> JobBuilder {
        JobBuilder::new(self.clone(), "job", name, None)
    }

    /// A job under `parent` (an entity id), as every skin's "current job" rule makes one:
    /// entity kind "subjob" (until `kind` says otherwise) when there is a parent, a plain
    /// job ("job") when there is none.
    pub fn job_under(&self, name: &str, parent: Option<&str>) -> JobBuilder {
        self.job_with_parent(name, parent.map(str::to_string))
    }

    /// `job_under` with a parent id the caller owns already.
    pub(crate) fn job_with_parent(&self, name: &str, parent: Option<String>) -> JobBuilder {
        match parent {
            Some(parent) => JobBuilder::new(self.clone(), "subjob", name, Some(parent)),
            None => self.job(name),
        }
    }

    /// Wait until everything emitted so far is delivered, or `timeout` passes (then the
    /// error says how many events are still pending; they stay queued or spooled).
    /// Fails with `Closed` after `close`.
    pub fn flush(&self, timeout: Duration) -> Result<()> {
        if !self.runs_here() {
            // Nothing was emitted in this process yet: nothing to wait for, nothing to start.
            if self.closed_before_start() {
                return Err(crate::Error::closed());
            }
            return Ok(());
        }
        self.pipeline()?.flush(timeout)
    }

    /// Stop accepting events, deliver what can be delivered within `timeout`, keep the rest
    /// in the spool for the next run, and report the final counters. Idempotent. Returns
    /// once `timeout` has passed even when a backend never answers: what its delivery
    /// thread holds is then kept in the spool from here (the next run may send a batch the
    /// backend did get once more; the event id tells the copies apart).
    pub fn close(&self, timeout: Duration) -> Stats {
        if !self.runs_here() {
            // A forked child that never used the client: close it here without starting
            // a pipeline just to stop it.
            let _guard = match self.shared.reinit.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            if !self.runs_here() {
                self.shared.closed_unstarted.store(true, Ordering::Release);
                return Pipeline::idle_stats(&self.shared.config);
            }
        }
        self.pipeline()
            .map(|p| p.close(timeout))
            .unwrap_or_default()
    }

    pub fn is_closed(&self) -> bool {
        if !self.runs_here() {
            return self.closed_before_start();
        }
        self.pipeline().map_or(true, |p| p.is_closed())
    }

    /// Counters for the client and each backend. In a forked child that has not used the
    /// client yet, what it did there: nothing (no pipeline is started to say so).
    pub fn stats(&self) -> Stats {
        if !self.runs_here() {
            return Pipeline::idle_stats(&self.shared.config);
        }
        self.pipeline().map(|p| p.stats()).unwrap_or_default()
    }

    /// True when this process has its own pipeline of this client: false in a forked
    /// child that has not used it yet (the parent's copy is never touched there).
    pub(crate) fn runs_here(&self) -> bool {
        self.shared.generation.load(Ordering::Acquire) == fork::generation()
    }

    /// True when both are clones of one client.
    pub(crate) fn same_as(&self, other: &Client) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// A reference that does not keep the client open.
    pub(crate) fn downgrade(&self) -> WeakClient {
        WeakClient(Arc::downgrade(&self.shared))
    }
}

/// A client that may have been dropped (closed) since.
pub(crate) struct WeakClient(Weak<Shared>);

impl WeakClient {
    pub(crate) fn upgrade(&self) -> Option<Client> {
        self.0.upgrade().map(|shared| Client { shared })
    }

    pub(crate) fn is(&self, client: &Client) -> bool {
        std::ptr::eq(self.0.as_ptr(), Arc::as_ptr(&client.shared))
    }
}

/// Events validated and encoded (as the queue's compact records) for one
/// [`Client::ingest_batch`]: a few dozen bytes per event instead of a `NewEvent` each.
#[derive(Debug, Default)]
pub struct IngestBatch {
    framed: Vec<u8>,
    count: usize,
}

impl IngestBatch {
    /// Validate `event` and add it; the error names the field (the batch is unchanged).
    pub fn push(&mut self, event: &NewEvent) -> Result<()> {
        let status = event.validate()?;
        crate::pipeline::push_record(&mut self.framed, &Client::fields(event, status));
        self.count += 1;
        Ok(())
    }

    /// Events in the batch.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}
