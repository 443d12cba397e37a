//! One delivery lane per backend: an inbox of batches in memory that turns into the
//! backend's durable spool whenever the backend is down or slower than the events arrive,
//! and a thread that delivers from it with retries. A slow or dead backend only ever fills
//! its own spool; it never holds up the others.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::batch::{self, Batch, Origin};
use super::retry::backoff;
use super::spool::{ReadBatch, Spool};
use super::stats::{BackendCounters, BackendStats};
use crate::backends::{Backend, DeliveryError};
use crate::config::{Filter, RetryConfig};

type Shared = Arc<Batch>;

struct Inbox {
    /// A batch that failed while newer ones were already spooled: first in line.
    parked: Option<Shared>,
    memory: VecDeque<Shared>,
    memory_bytes: usize,
    /// New batches go to the spool (it holds older ones, or memory overflowed).
    spooling: bool,
    spool: Option<Spool>,
    /// Close was asked for: deliver what is possible until this instant, then persist.
    stop_at: Option<Instant>,
    /// A batch from memory out to the backend, until its outcome is applied (under this
    /// lock): what the closing thread keeps if the delivery thread is stuck in the request.
    in_flight: Option<Shared>,
    /// The closing thread stopped waiting and kept what the lane held (`keep_what_is_held`).
    /// From then on the delivery thread leaves the spool alone: the spool has one writer
    /// at a time, and a batch is kept once.
    taken_over: bool,
}

/// Signalled whenever a lane settles events, so `flush` can wait without polling.
pub(crate) type Settled = Arc<(Mutex<()>, Condvar)>;

pub(crate) struct Lane {
    pub name: String,
    pub type_name: &'static str,
    pub priority: i32,
    pub group: Option<String>,
    pub filter: Filter,
    pub counters: BackendCounters,
    healthy: AtomicBool,
    inbox: Mutex<Inbox>,
    wake: Condvar,
    /// Bytes of batches held in memory before the lane turns to its spool.
    memory_limit: usize,
    settled: Settled,
    /// The delivery thread has returned (signalled on `settled`).
    done: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// How to run one lane.
pub(crate) struct LaneSettings {
    pub retry: RetryConfig,
    pub batch_max: usize,
    pub inline_retries: u32,
    /// Site and app for records read back from the spool (they carry their own; this only
    /// fills the view's defaults).
    pub origin: Arc<Origin>,
}

/// A backend's per-item answer, made consistent: positions in range, each in one set (to
/// retry wins over rejected), the rest delivered.
struct PartialOutcome {
    retry: Vec<usize>,
    rejected: u64,
    delivered: u64,
}

impl PartialOutcome {
    fn new(len: usize, mut rejected: Vec<usize>, mut retry: Vec<usize>) -> PartialOutcome {
        retry.retain(|&i| i < len);
        retry.sort_unstable();
        retry.dedup();
        rejected.retain(|&i| i < len && retry.binary_search(&i).is_err());
        rejected.sort_unstable();
        rejected.dedup();
        let delivered = (len - retry.len() - rejected.len()) as u64;
        PartialOutcome {
            retry,
            rejected: rejected.len() as u64,
            delivered,
        }
    }
}

enum Work {
    Memory(Shared),
    Spooled(ReadBatch, Batch),
}

impl Work {
    fn batch(&self) -> &Batch {
        match self {
            Work::Memory(b) => b,
            Work::Spooled(_, b) => b,
        }
    }
}

impl Lane {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        type_name: &'static str,
        priority: i32,
        group: Option<String>,
        filter: Filter,
        mut spool: Option<Spool>,
        memory_limit: usize,
        settled: Settled,
    ) -> Lane {
        let counters = BackendCounters::default();
        let left_over = spool.as_ref().map_or(0, |s| s.pending());
        // Events a previous run left in the spool are this run's to deliver; records that
        // were lost already on opening it (a corrupt head) are counted as routed and settled.
        let (dropped, corrupt) = spool.as_mut().map_or((0, 0), Spool::take_counters);
        counters.dropped.store(dropped, Ordering::Relaxed);
        counters.corrupt.store(corrupt, Ordering::Relaxed);
        counters.set_error(spool.as_mut().and_then(Spool::take_complaint));
        counters
            .accepted
            .store(left_over + dropped + corrupt, Ordering::Relaxed);
        Lane {
            name,
            type_name,
            priority,
            group,
            filter,
            counters,
            healthy: AtomicBool::new(true),
            inbox: Mutex::new(Inbox {
                parked: None,
                memory: VecDeque::new(),
                memory_bytes: 0,
                spooling: left_over > 0,
                spool,
                stop_at: None,
                in_flight: None,
                taken_over: false,
            }),
            wake: Condvar::new(),
            memory_limit,
            settled,
            done: AtomicBool::new(false),
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> BackendStats {
        self.counters
            .snapshot(&self.name, self.type_name, self.is_healthy())
    }

    /// Take a batch from the router. Never blocks on the backend. A `durable` batch (it
    /// came from the acknowledged spool) is on disk in this lane's spool before this returns;
    /// others wait in memory unless the lane is already spooling or over its memory share.
    /// Whatever goes to the spool goes behind older batches in memory, to keep the order.
    pub fn push(&self, batch: Shared, durable: bool) {
        let n = batch.len();
        if n == 0 {
            return;
        }
        let size = batch.size();
        let mut inbox = lock(&self.inbox);
        self.counters.accepted.fetch_add(n as u64, Ordering::AcqRel);
        let over_memory = inbox.memory_bytes + size > self.memory_limit;
        if durable || inbox.spooling || over_memory {
            if inbox.spool.is_some() {
                if !inbox.spooling {
                    self.move_memory_to_spool(&mut inbox);
                    inbox.spooling = true;
                }
                self.append_to_spool(&mut inbox, &batch);
                drop(inbox);
                self.wake.notify_one();
                return;
            }
            if inbox.memory_bytes + size > self.memory_limit * 4 {
                // No spool to fall back on: bound memory and say so.
                self.counters.dropped.fetch_add(n as u64, Ordering::AcqRel);
                self.counters.set_error(Some(
                    "in-memory backlog full and no spool: events dropped".into(),
                ));
                self.notify_settled();
                return;
            }
        }
        inbox.memory_bytes += size;
        inbox.memory.push_back(batch);
        drop(inbox);
        self.wake.notify_one();
    }

    fn append_to_spool(&self, inbox: &mut Inbox, batch: &Batch) {
        let Some(spool) = inbox.spool.as_mut() else {
            return;
        };
        let complete = batch.complete_records();
        match spool.append(batch::records(&complete)) {
            Ok(()) => {
                self.counters
                    .spooled
                    .fetch_add(batch.len() as u64, Ordering::AcqRel);
            }
            Err(e) => {
                self.counters
                    .dropped
                    .fetch_add(batch.len() as u64, Ordering::AcqRel);
                self.counters
                    .set_error(Some(format!("spool write failed, events dropped: {e}")));
            }
        }
        self.count_spool_losses(spool);
    }

    /// Records the spool lost (size cap) or could not read back (corrupt), and why.
    fn count_spool_losses(&self, spool: &mut Spool) {
        let (dropped, corrupt) = spool.take_counters();
        self.counters.dropped.fetch_add(dropped, Ordering::AcqRel);
        self.counters.corrupt.fetch_add(corrupt, Ordering::AcqRel);
        if let Some(complaint) = spool.take_complaint() {
            self.counters.set_error(Some(complaint));
        }
    }

    fn move_memory_to_spool(&self, inbox: &mut Inbox) {
        let batches: Vec<Shared> = inbox.memory.drain(..).collect();
        inbox.memory_bytes = 0;
        for batch in batches {
            self.append_to_spool(inbox, &batch);
        }
    }

    /// Close's deadline passed and there is no spool to keep the rest: count it as dropped.
    fn drop_memory(&self, inbox: &mut Inbox) {
        let lost: u64 = inbox
            .in_flight
            .take()
            .into_iter()
            .chain(inbox.parked.take())
            .chain(inbox.memory.drain(..))
            .map(|b| b.len() as u64)
            .sum();
        inbox.memory_bytes = 0;
        if lost > 0 {
            self.counters.dropped.fetch_add(lost, Ordering::AcqRel);
            self.counters.set_error(Some(format!(
                "{lost} events not delivered by the close deadline and no spool to keep them: \
                 dropped"
            )));
        }
    }

    /// Ask the thread to finish by `deadline`, persisting what it could not deliver.
    pub fn stop(&self, deadline: Instant) {
        lock(&self.inbox).stop_at = Some(deadline);
        self.wake.notify_all();
    }

    /// Whether the delivery thread has returned.
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Close stopped waiting for the delivery thread (stuck in a request to a backend that
    /// does not answer): keep here, in the spool, whatever the lane holds in memory, in the
    /// order it would have been delivered (the batch out to the backend or the one parked
    /// for a retry first, then the queued ones); a read out from the spool stays there. The
    /// thread, when its request ends, finds the lane taken over and leaves without touching
    /// the spool, so nothing is written twice; if its request did get through, the next run
    /// sends those events again (the event id makes that harmless). The spool is closed
    /// here, releasing its folder for the next client.
    pub fn keep_what_is_held(&self) {
        let mut inbox = lock(&self.inbox);
        if inbox.taken_over {
            return;
        }
        inbox.taken_over = true;
        if let Some(spool) = inbox.spool.as_mut() {
            spool.abandon();
            // At most one of them is set; the in-flight batch is the older.
            for first in [inbox.parked.take(), inbox.in_flight.take()]
                .into_iter()
                .flatten()
            {
                self.spool_first(&mut inbox, &first);
            }
            self.move_memory_to_spool(&mut inbox);
        } else {
            self.drop_memory(&mut inbox);
        }
        inbox.spool = None;
        drop(inbox);
        self.notify_settled();
    }

    fn past_deadline(&self) -> bool {
        lock(&self.inbox)
            .stop_at
            .is_some_and(|t| Instant::now() >= t)
    }

    fn notify_settled(&self) {
        let _guard = lock(&self.settled.0);
        self.settled.1.notify_all();
    }

    /// The next thing to deliver; `None` when the lane should exit.
    fn next_work(&self, settings: &LaneSettings) -> Option<Work> {
        let mut inbox = lock(&self.inbox);
        loop {
            if inbox.taken_over {
                return None;
            }
            let past_deadline = inbox.stop_at.is_some_and(|t| Instant::now() >= t);
            if past_deadline {
                if inbox.spool.is_some() {
                    // Kept for the next run, a parked batch before the newer spooled ones.
                    if let Some(parked) = inbox.parked.take() {
                        self.spool_first(&mut inbox, &parked);
                    }
                    self.move_memory_to_spool(&mut inbox);
                } else {
                    self.drop_memory(&mut inbox);
                }
                return None;
            }
            if let Some(parked) = inbox.parked.take() {
                inbox.in_flight = Some(parked.clone());
                return Some(Work::Memory(parked));
            }
            if !inbox.spooling {
                if let Some(batch) = inbox.memory.pop_front() {
                    inbox.memory_bytes -= batch.size();
                    inbox.in_flight = Some(batch.clone());
                    return Some(Work::Memory(batch));
                }
            }
            if let Some(spool) = inbox.spool.as_mut() {
                if !spool.is_empty() {
                    match spool.read(settings.batch_max) {
                        Ok(mut read) if read.count > 0 => {
                            // Every record passed its CRC check and decodes (`Spool::read`).
                            let framed = std::mem::take(&mut read.framed);
                            let batch =
                                Batch::from_complete(framed, read.count, settings.origin.clone());
                            return Some(Work::Spooled(read, batch));
                        }
                        Ok(read) => {
                            // Only unreadable records were left: account for them and go on.
                            let _ = spool.commit(&read);
                            self.count_spool_losses(spool);
                            let lost = spool.pending();
                            self.counters.dropped.fetch_add(lost, Ordering::AcqRel);
                            spool.forget_pending();
                            continue;
                        }
                        Err(e) => {
                            self.counters
                                .set_error(Some(format!("cannot read spool: {e}")));
                        }
                    }
                }
                if spool.is_empty() && inbox.spooling {
                    inbox.spooling = false;
                    continue;
                }
            } else if inbox.spooling {
                inbox.spooling = false;
                continue;
            }
            if inbox.stop_at.is_some() && inbox.memory.is_empty() {
                return None;
            }
            let wait = inbox.stop_at.map_or(Duration::from_secs(1), |t| {
                t.saturating_duration_since(Instant::now())
            });
            inbox = match self.wake.wait_timeout(inbox, wait) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Try a batch a few times in a row (short waits), as the backend config allows, but
    /// not once close's deadline has passed.
    fn attempt(
        &self,
        backend: &mut dyn Backend,
        batch: &Batch,
        settings: &LaneSettings,
    ) -> Result<(), DeliveryError> {
        let mut tries = 0;
        loop {
            match backend.send(batch) {
                Ok(()) => return Ok(()),
                Err(DeliveryError::Transient {
                    message,
                    retry_after,
                }) if tries < settings.inline_retries
                    && retry_after.is_none()
                    && !self.past_deadline() =>
                {
                    tries += 1;
                    self.counters
                        .retried
                        .fetch_add(batch.len() as u64, Ordering::AcqRel);
                    self.counters.set_error(Some(message));
                    self.sleep(backoff(&settings.retry, tries, None).min(Duration::from_secs(1)));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The delivery thread.
    pub fn run(self: Arc<Self>, mut backend: Box<dyn Backend>, settings: LaneSettings) {
        if self.deliver(backend.as_mut(), &settings) {
            let _ = backend.flush();
        }
        self.done.store(true, Ordering::Release);
        self.notify_settled();
    }

    /// Deliver until the lane stops; false when close took the lane over (its spool is not
    /// this thread's any more).
    fn deliver(&self, backend: &mut dyn Backend, settings: &LaneSettings) -> bool {
        let mut failures = 0u32;
        while let Some(work) = self.next_work(settings) {
            let n = work.batch().len() as u64;
            let result = if n == 0 {
                Ok(())
            } else {
                self.attempt(backend, work.batch(), settings)
            };
            let ours = match result {
                Ok(()) => {
                    failures = 0;
                    self.healthy.store(true, Ordering::Relaxed);
                    self.counters.set_error(None);
                    self.finish(&work, n, 0, None)
                }
                Err(DeliveryError::Permanent { message }) => {
                    self.counters.set_error(Some(message));
                    self.finish(&work, 0, n, None)
                }
                Err(DeliveryError::Transient {
                    message,
                    retry_after,
                }) => {
                    failures += 1;
                    self.healthy.store(false, Ordering::Relaxed);
                    self.counters.set_error(Some(message));
                    self.counters.retried.fetch_add(n, Ordering::AcqRel);
                    let ours = self.park(work);
                    if ours {
                        self.sleep(backoff(&settings.retry, failures, retry_after));
                    }
                    ours
                }
                Err(DeliveryError::Partial {
                    rejected,
                    retry,
                    message,
                    retry_after,
                }) => {
                    let outcome = PartialOutcome::new(n as usize, rejected, retry);
                    self.counters.set_error(Some(message));
                    let again = (!outcome.retry.is_empty())
                        .then(|| Arc::new(work.batch().subset(&outcome.retry)));
                    // Events read from the spool go back to it, first in line, before the
                    // cursor moves past them: a crash during the backoff cannot lose them,
                    // and newer spooled events still wait behind them. Events from memory
                    // to retry stay the lane's batch in flight until parked.
                    let (ours, respooled) = match (&again, &work) {
                        (Some(batch), Work::Spooled(read, _)) => (
                            self.commit_keeping(read, batch, outcome.delivered, outcome.rejected),
                            true,
                        ),
                        _ => (
                            self.finish(&work, outcome.delivered, outcome.rejected, again.clone()),
                            false,
                        ),
                    };
                    match again {
                        _ if !ours => false,
                        None => {
                            failures = 0;
                            self.healthy.store(true, Ordering::Relaxed);
                            true
                        }
                        Some(batch) => {
                            failures += 1;
                            self.healthy.store(false, Ordering::Relaxed);
                            self.counters
                                .retried
                                .fetch_add(batch.len() as u64, Ordering::AcqRel);
                            let ours = respooled || self.park(Work::Memory(batch));
                            if ours {
                                self.sleep(backoff(&settings.retry, failures, retry_after));
                            }
                            ours
                        }
                    }
                }
            };
            if !ours {
                return false;
            }
        }
        true
    }

    /// Settle a batch (`sent` delivered, `failed` failed for good; a batch from memory may
    /// keep `rest` in flight, to park next) and release it from the spool if it came from
    /// there. False, changing nothing, when close took the lane over.
    fn finish(&self, work: &Work, sent: u64, failed: u64, rest: Option<Shared>) -> bool {
        let mut inbox = lock(&self.inbox);
        if inbox.taken_over {
            return false;
        }
        match work {
            Work::Spooled(read, _) => {
                if let Some(spool) = inbox.spool.as_mut() {
                    if let Err(e) = spool.commit(read) {
                        self.counters
                            .set_error(Some(format!("cannot advance spool cursor: {e}")));
                    }
                    self.count_spool_losses(spool);
                }
            }
            Work::Memory(_) => inbox.in_flight = rest,
        }
        self.counters.sent.fetch_add(sent, Ordering::AcqRel);
        self.counters.failed.fetch_add(failed, Ordering::AcqRel);
        drop(inbox);
        self.notify_settled();
        true
    }

    /// Move the spool's cursor past `read` but keep `retry` (part of it) first in line, and
    /// settle the rest as `sent` and `failed`. False, changing nothing, when close took the
    /// lane over.
    fn commit_keeping(&self, read: &ReadBatch, retry: &Batch, sent: u64, failed: u64) -> bool {
        let mut inbox = lock(&self.inbox);
        if inbox.taken_over {
            return false;
        }
        if let Some(spool) = inbox.spool.as_mut() {
            let complete = retry.complete_records();
            match spool.commit_keeping(read, batch::records(&complete)) {
                Ok(()) => {
                    self.counters
                        .spooled
                        .fetch_add(retry.len() as u64, Ordering::AcqRel);
                    self.count_spool_losses(spool);
                }
                Err(e) => {
                    // Kept all the same, behind newer events rather than lost.
                    let _ = spool.commit(read);
                    self.append_to_spool(&mut inbox, retry);
                    self.counters.set_error(Some(format!(
                        "cannot keep a retry first in the spool, it waits behind newer events: \
                         {e}"
                    )));
                }
            }
        }
        self.counters.sent.fetch_add(sent, Ordering::AcqRel);
        self.counters.failed.fetch_add(failed, Ordering::AcqRel);
        drop(inbox);
        self.notify_settled();
        true
    }

    /// Put a batch before everything spooled (it was first in line in memory at close).
    fn spool_first(&self, inbox: &mut Inbox, batch: &Batch) {
        let Some(spool) = inbox.spool.as_mut() else {
            return;
        };
        let complete = batch.complete_records();
        match spool.put_first(batch::records(&complete)) {
            Ok(()) => {
                self.counters
                    .spooled
                    .fetch_add(batch.len() as u64, Ordering::AcqRel);
            }
            Err(e) => {
                self.append_to_spool(inbox, batch);
                self.counters.set_error(Some(format!(
                    "cannot keep a batch first in the spool, it waits behind newer events: {e}"
                )));
            }
        }
    }

    /// A batch that failed transiently: keep it (first in line) for the next attempt.
    /// False, changing nothing, when close took the lane over (and kept the batch).
    fn park(&self, work: Work) -> bool {
        let mut inbox = lock(&self.inbox);
        if inbox.taken_over {
            return false;
        }
        let batch = match work {
            Work::Spooled(..) => {
                // Its records stay in the spool: the cursor did not move.
                if let Some(spool) = inbox.spool.as_mut() {
                    spool.abandon();
                }
                return true;
            }
            Work::Memory(batch) => batch,
        };
        inbox.in_flight = None;
        match inbox.spool.as_ref().map(Spool::is_empty) {
            Some(true) => {
                // The backend is down: everything waits on disk, this batch first.
                let rest: Vec<Shared> = inbox.memory.drain(..).collect();
                inbox.memory_bytes = 0;
                self.append_to_spool(&mut inbox, &batch);
                for b in rest {
                    self.append_to_spool(&mut inbox, &b);
                }
                inbox.spooling = true;
            }
            // Newer batches were spooled while this one was out: it goes first, from memory.
            Some(false) => inbox.parked = Some(batch),
            None => {
                inbox.memory_bytes += batch.size();
                inbox.memory.push_front(batch);
            }
        }
        true
    }

    /// Wait out a backoff, but not past the close deadline.
    fn sleep(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut inbox = lock(&self.inbox);
        loop {
            let now = Instant::now();
            let limit = inbox.stop_at.map_or(until, |s| s.min(until));
            if now >= limit {
                return;
            }
            inbox = match self.wake.wait_timeout(inbox, limit - now) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FsyncPolicy;
    use crate::event::{App, Entity, Event, Kind, Timestamp};

    /// Answers each send with the next scripted result and keeps the ids it was given.
    struct Scripted {
        answers: Arc<Mutex<VecDeque<Result<(), DeliveryError>>>>,
        seen: Arc<Mutex<Vec<Vec<String>>>>,
    }

    impl Backend for Scripted {
        fn send(&mut self, batch: &Batch) -> Result<(), DeliveryError> {
            let ids = batch.iter().map(|e| e.id.to_string()).collect();
            lock(&self.seen).push(ids);
            lock(&self.answers).pop_front().unwrap_or(Ok(()))
        }
    }

    fn events(n: usize) -> Vec<Event> {
        (0..n)
            .map(|i| Event {
                id: crate::event::new_v7(1_770_000_000_000 + i as i64),
                seq: i as u64,
                ..Event::sample(
                    Kind::Started,
                    Entity::new("job", format!("J-{i}")),
                    Timestamp::now(),
                )
            })
            .collect()
    }

    /// Run one lane over `batch` with the scripted answers until every event is settled.
    fn deliver(
        answers: Vec<Result<(), DeliveryError>>,
        batch: Batch,
        spool_dir: Option<&std::path::Path>,
        durable: bool,
    ) -> (BackendStats, Vec<Vec<String>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let backend = Scripted {
            answers: Arc::new(Mutex::new(answers.into())),
            seen: seen.clone(),
        };
        let spool =
            spool_dir.map(|d| Spool::open(d, "scripted", 1 << 20, FsyncPolicy::Never).unwrap());
        let settled: Settled = Arc::new((Mutex::new(()), Condvar::new()));
        let lane = Arc::new(Lane::new(
            "scripted".into(),
            "test",
            0,
            None,
            Filter::default(),
            spool,
            1 << 20,
            settled.clone(),
        ));
        let settings = LaneSettings {
            retry: RetryConfig {
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(20),
            },
            batch_max: 100,
            inline_retries: 0,
            origin: Arc::new(Origin {
                site: "fab1".into(),
                app: App {
                    name: "etch".into(),
                    version: None,
                    instance: None,
                },
            }),
        };
        let n = batch.len() as u64;
        let runner = lane.clone();
        let thread = std::thread::spawn(move || runner.run(Box::new(backend), settings));
        lane.push(Arc::new(batch), durable);
        let deadline = Instant::now() + Duration::from_secs(10);
        while lane.counters.settled() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        lane.stop(Instant::now());
        thread.join().unwrap();
        let seen = lock(&seen).clone();
        (lane.stats(), seen)
    }

    fn partial(rejected: Vec<usize>, retry: Vec<usize>) -> Result<(), DeliveryError> {
        Err(DeliveryError::Partial {
            rejected,
            retry,
            message: "item 1: mapper_parsing_exception".into(),
            retry_after: None,
        })
    }

    #[test]
    fn a_partial_answer_settles_each_event_once() {
        // In memory without a spool, in memory with one, and read back from the spool.
        for (spool, durable) in [(false, false), (true, false), (true, true)] {
            let dir = tempfile::tempdir().unwrap();
            let events = events(5);
            let ids: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
            let (stats, seen) = deliver(
                vec![partial(vec![1], vec![3]), Ok(())],
                Batch::from_events(&events),
                spool.then(|| dir.path()),
                durable,
            );
            assert_eq!(seen.len(), 2, "one retry, of the one event asked for");
            assert_eq!(seen[1], vec![ids[3].clone()]);
            assert_eq!(
                (stats.sent, stats.failed, stats.queued),
                (4, 1, 0),
                "{stats:?}"
            );
            assert_eq!(stats.retried, 1);
            assert!(stats.healthy);
            assert!(stats.last_error.is_none(), "cleared by the later success");
            if durable {
                assert_eq!(
                    stats.spooled, 6,
                    "the event to retry went back to the spool"
                );
            }
        }
    }

    #[test]
    fn rejected_items_alone_are_failed_and_keep_their_reason() {
        let events = events(4);
        let (stats, seen) = deliver(
            vec![partial(vec![0, 2], vec![])],
            Batch::from_events(&events),
            None,
            false,
        );
        assert_eq!(seen.len(), 1, "nothing is retried");
        assert_eq!((stats.sent, stats.failed, stats.queued), (2, 2, 0));
        assert!(stats
            .last_error
            .unwrap()
            .contains("mapper_parsing_exception"));
    }

    #[test]
    fn positions_are_made_consistent() {
        let o = PartialOutcome::new(5, vec![4, 4, 9, 1], vec![1, 7, 2, 2]);
        assert_eq!(o.retry, vec![1, 2]);
        assert_eq!((o.rejected, o.delivered), (1, 2));
    }

    fn quick_settings(batch_max: usize, backoff: Duration) -> LaneSettings {
        LaneSettings {
            retry: RetryConfig {
                initial_backoff: backoff,
                max_backoff: backoff,
            },
            batch_max,
            inline_retries: 0,
            origin: Arc::new(Origin {
                site: "fab1".into(),
                app: App {
                    name: "etch".into(),
                    version: None,
                    instance: None,
                },
            }),
        }
    }

    /// A lane over the spool under `dir` (slot 0 when no other lane holds it).
    fn spooled_lane(dir: &std::path::Path) -> Arc<Lane> {
        let spool = Spool::open(dir, "scripted", 1 << 20, FsyncPolicy::Never).unwrap();
        Arc::new(Lane::new(
            "scripted".into(),
            "test",
            0,
            None,
            Filter::default(),
            Some(spool),
            1 << 20,
            Arc::new((Mutex::new(()), Condvar::new())),
        ))
    }

    fn wait_settled(lane: &Lane, n: u64) {
        while lane.counters.settled() < n {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn ids_of(events: &[Event]) -> Vec<String> {
        events.iter().map(|e| e.id.to_string()).collect()
    }

    /// Run `lane` with a backend giving `answers` (then success) until `n` events are
    /// settled; the ids of each batch the backend saw.
    fn run_until_settled(
        lane: &Arc<Lane>,
        answers: Vec<Result<(), DeliveryError>>,
        batch_max: usize,
        n: u64,
    ) -> Vec<Vec<String>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let backend = Scripted {
            answers: Arc::new(Mutex::new(answers.into())),
            seen: seen.clone(),
        };
        let runner = lane.clone();
        let settings = quick_settings(batch_max, Duration::from_millis(5));
        let thread = std::thread::spawn(move || runner.run(Box::new(backend), settings));
        wait_settled(lane, n);
        lane.stop(Instant::now());
        thread.join().unwrap();
        let seen = lock(&seen).clone();
        seen
    }

    /// Events a backend asks to retry after they were read from the spool go back first in
    /// line: the newer spooled events come after them, never before.
    #[test]
    fn a_spooled_retry_after_a_partial_answer_stays_ahead_of_newer_spooled_events() {
        let dir = tempfile::tempdir().unwrap();
        let events = events(10);
        let ids = ids_of(&events);
        let lane = spooled_lane(dir.path());
        lane.push(Arc::new(Batch::from_events(&events[..5])), true);
        lane.push(Arc::new(Batch::from_events(&events[5..])), true);
        let seen = run_until_settled(&lane, vec![partial(vec![], vec![3])], 5, 10);
        assert_eq!(
            seen,
            vec![ids[..5].to_vec(), vec![ids[3].clone()], ids[5..].to_vec()]
        );
        let stats = lane.stats();
        assert_eq!((stats.sent, stats.queued), (10, 0), "{stats:?}");
    }

    /// The first send blocks until the test says, then every send fails transiently.
    struct Gated {
        out: crossbeam_channel::Sender<()>,
        release: crossbeam_channel::Receiver<()>,
    }

    impl Backend for Gated {
        fn send(&mut self, _: &Batch) -> Result<(), DeliveryError> {
            if self.out.send(()).is_ok() {
                let _ = self.release.recv();
            }
            Err(DeliveryError::Transient {
                message: "HTTP 503".into(),
                retry_after: None,
            })
        }
    }

    /// A batch that failed while newer ones were spooled waits first in line in memory; when
    /// the lane closes then, it goes to the spool before them, so the next run delivers the
    /// events in the order they were emitted.
    #[test]
    fn a_batch_first_in_line_in_memory_at_close_is_replayed_before_newer_spooled_ones() {
        let dir = tempfile::tempdir().unwrap();
        let events = events(9);
        let lane = spooled_lane(dir.path());
        let (out_tx, out_rx) = crossbeam_channel::bounded(0);
        let (release_tx, release_rx) = crossbeam_channel::bounded(0);
        let backend = Gated {
            out: out_tx,
            release: release_rx,
        };
        let runner = lane.clone();
        let settings = quick_settings(100, Duration::from_secs(600));
        let thread = std::thread::spawn(move || runner.run(Box::new(backend), settings));
        lane.push(Arc::new(Batch::from_events(&events[..3])), false);
        out_rx.recv().unwrap(); // the first batch is out to the backend
        lane.push(Arc::new(Batch::from_events(&events[3..6])), true);
        lane.push(Arc::new(Batch::from_events(&events[6..])), true);
        drop(out_rx); // later sends fail at once
        release_tx.send(()).unwrap(); // the first batch fails; the spool holds newer ones
        lane.stop(Instant::now());
        thread.join().unwrap();
        let stats = lane.stats();
        assert_eq!((stats.sent, stats.queued), (0, 9), "{stats:?}");
        drop(lane);

        // The next run, with the backend up.
        let lane = spooled_lane(dir.path());
        let delivered = run_until_settled(&lane, vec![], 100, 9).concat();
        assert_eq!(delivered, ids_of(&events), "emit order after the restart");
    }

    /// Close stops waiting for a thread stuck in a request and keeps what the lane holds
    /// (the batch out to the backend first, then the queued ones); the thread, when its
    /// request ends, writes nothing more, so the next run gets each event once, in order.
    #[test]
    fn a_lane_taken_over_at_close_keeps_every_event_once_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let events = events(9);
        let lane = spooled_lane(dir.path());
        let (out_tx, out_rx) = crossbeam_channel::bounded(0);
        let (release_tx, release_rx) = crossbeam_channel::bounded(0);
        let backend = Gated {
            out: out_tx,
            release: release_rx,
        };
        let runner = lane.clone();
        let mut settings = quick_settings(100, Duration::from_millis(5));
        settings.inline_retries = 3;
        let thread = std::thread::spawn(move || runner.run(Box::new(backend), settings));
        lane.push(Arc::new(Batch::from_events(&events[..3])), false);
        out_rx.recv().unwrap(); // the first batch is out to the backend, which does not answer
        lane.push(Arc::new(Batch::from_events(&events[3..6])), false);
        lane.push(Arc::new(Batch::from_events(&events[6..])), false);
        lane.stop(Instant::now());
        lane.keep_what_is_held();
        let stats = lane.stats();
        assert_eq!((stats.spooled, stats.queued), (9, 9), "{stats:?}");
        assert!(!lane.is_done(), "the thread is still in its request");
        // The folder is free for the next run at once.
        let next = spooled_lane(dir.path());
        drop(out_rx); // no inline retry after the deadline: any further send fails at once
        release_tx.send(()).unwrap(); // the request ends, transiently failed
        thread.join().unwrap();
        assert!(lane.is_done());
        let stats = lane.stats();
        assert_eq!(stats.spooled, 9, "not kept a second time");
        assert_eq!(stats.retried, 3, "no inline retry after the deadline");

        let delivered = run_until_settled(&next, vec![], 100, 9).concat();
        assert_eq!(delivered, ids_of(&events), "each event once, in emit order");
        assert_eq!(next.stats().queued, 0);
    }
}
