//! The in-memory queue between `emit` and the worker, sized in bytes.
//!
//! Each emitting thread encodes records into its own buffer (a shard) and hands the buffer
//! over whole once it holds a batch, so the hot path costs one uncontended lock and an
//! encode, with no per-event allocation that another thread has to free. The worker also
//! takes partial buffers from idle threads every flush interval. With on_full = spill, a full
//! buffer that does not fit is appended to the ingress spool in one write instead.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_channel::Sender;

use super::batch::{push_record, Budget};
use super::record::Fields;
use super::side::{Lost, SideSpool};
use super::spool::{ReadBatch, Spool};
use super::stats::ClientCounters;
use crate::config::{Config, OnFull};
use crate::error::{Error, Result};

/// Length-prefixed records (`[len u32 LE][payload]`), and how many.
#[derive(Default)]
pub(crate) struct Chunk {
    pub bytes: Vec<u8>,
    pub count: usize,
}

struct Shard {
    chunk: Mutex<Chunk>,
}

/// Messages to the worker.
pub(crate) enum Msg {
    Chunk(Chunk),
    /// Route everything queued so far, then answer.
    Flush(Sender<()>),
    /// Records were written to the ingress spool directly (durable ingest).
    Spilled,
    Stop,
}

static NEXT_QUEUE_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's shard of each live queue, by queue id.
    static LOCAL: RefCell<Vec<(u64, Arc<Shard>)>> = const { RefCell::new(Vec::new()) };
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

pub(crate) struct Queue {
    id: u64,
    on_full: OnFull,
    chunk_events: usize,
    chunk_bytes: usize,
    /// Events handed to the worker (or spilled) and not yet routed.
    queued_events: AtomicU64,
    shards: Mutex<Vec<Arc<Shard>>>,
    /// Held by an event handed over without a shard (its thread's storage is gone), and
    /// passed by every steal: the one lock such an event and close's last steal share.
    unsharded: Mutex<()>,
    tx: Sender<Msg>,
    closed: AtomicBool,
    /// on_full = spill: chunks that did not fit wait here, in order.
    overflow: Option<SideSpool>,
    /// on_full = spill and the ingress spool could not be opened: why.
    overflow_error: Option<String>,
    /// Spilling failed and the client said so (once until a spill succeeds again).
    spill_failing: AtomicBool,
    /// `Client::ingest`: acknowledged records wait here until every lane has them on disk.
    acked: Option<SideSpool>,
    pub budget: Arc<Budget>,
    pub counters: Arc<ClientCounters>,
}

impl Queue {
    pub fn new(
        config: &Config,
        tx: Sender<Msg>,
        overflow: Option<std::result::Result<Spool, String>>,
        acked: Option<Spool>,
        counters: Arc<ClientCounters>,
    ) -> Queue {
        let (overflow, overflow_error) = match overflow {
            Some(Ok(spool)) => (Some(spool), None),
            Some(Err(why)) => (None, Some(why)),
            None => (None, None),
        };
        let capacity = config.queue.capacity_bytes;
        // What a previous run spilled or acknowledged and never routed is replayed first.
        let left_over = overflow.as_ref().map_or(0, |s| s.pending())
            + acked.as_ref().map_or(0, |s| s.pending());
        Queue {
            id: NEXT_QUEUE_ID.fetch_add(1, Ordering::Relaxed),
            on_full: config.queue.on_full,
            chunk_events: config.batch.max_events,
            chunk_bytes: config.batch.max_bytes,
            queued_events: AtomicU64::new(left_over),
            shards: Mutex::new(Vec::new()),
            unsharded: Mutex::new(()),
            tx,
            closed: AtomicBool::new(false),
            overflow: overflow.map(SideSpool::new),
            overflow_error,
            spill_failing: AtomicBool::new(false),
            acked: acked.map(SideSpool::new),
            budget: Arc::new(Budget::new(capacity)),
            counters,
        }
    }

    /// Refuse new events. Every event accepted before this is in a shard, the channel or a
    /// side spool, where the worker's next steal (it takes every shard's lock) finds it.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        if let Some(acked) = &self.acked {
            acked.close();
        }
        self.budget.refund(0);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Events sitting in the threads' buffers.
    fn in_shards(&self) -> u64 {
        lock(&self.shards)
            .iter()
            .map(|s| lock(&s.chunk).count as u64)
            .sum()
    }

    /// Events accepted so far (handed over, spilled, or still in a thread's buffer).
    pub fn accepted(&self) -> u64 {
        self.counters.emitted.load(Ordering::Acquire) + self.in_shards()
    }

    /// Events accepted and not yet routed.
    pub fn queued_events(&self) -> u64 {
        self.queued_events.load(Ordering::Acquire) + self.in_shards()
    }

    fn is_full(&self) -> bool {
        self.budget.is_full()
    }

    /// Accept one event. Never blocks unless on_full = block.
    #[inline]
    pub fn push(&self, fields: &Fields<'_>) -> Result<()> {
        if self.is_closed() {
            return Err(Error::closed());
        }
        match self.on_full {
            OnFull::DropNewest if self.is_full() => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            OnFull::Block if self.is_full() => self.wait_for_space()?,
            _ => {}
        }
        let pushed = LOCAL.try_with(|local| {
            let mut local = local.borrow_mut();
            let index = match local.iter().position(|(id, _)| *id == self.id) {
                Some(i) => i,
                None => {
                    // Forget shards of queues that are gone, then make ours.
                    local.retain(|(_, shard)| Arc::strong_count(shard) > 1);
                    let shard = Arc::new(Shard {
                        chunk: Mutex::new(Chunk::default()),
                    });
                    lock(&self.shards).push(shard.clone());
                    local.push((self.id, shard));
                    local.len() - 1
                }
            };
            let mut chunk = lock(&local[index].1.chunk);
            // Asked again under the shard's lock: close's last steal takes this lock after
            // closing, so an event is either in the shard before that steal or refused.
            if self.is_closed() {
                return Err(Error::closed());
            }
            push_record(&mut chunk.bytes, fields);
            chunk.count += 1;
            if chunk.count >= self.chunk_events || chunk.bytes.len() >= self.chunk_bytes {
                let fresh = self.budget.take_buffer(self.chunk_bytes.min(256 * 1024));
                let full = std::mem::replace(
                    &mut *chunk,
                    Chunk {
                        bytes: fresh,
                        count: 0,
                    },
                );
                // Still under the shard's lock: a steal by the worker cannot slip a newer
                // partial chunk of this thread ahead of this one.
                self.hand_over(full);
            }
            Ok(())
        });
        match pushed {
            Ok(result) => result,
            Err(_) => {
                // This thread's storage is being torn down (a job guard dropped at thread
                // exit): hand the event over on its own.
                let _unsharded = lock(&self.unsharded);
                if self.is_closed() {
                    return Err(Error::closed());
                }
                let mut chunk = Chunk::default();
                push_record(&mut chunk.bytes, fields);
                chunk.count = 1;
                self.hand_over(chunk);
                Ok(())
            }
        }
    }

    fn hand_over(&self, chunk: Chunk) {
        if let Some(chunk) = self.admit(chunk) {
            // The worker only goes away after close; a chunk sent then is counted by stats.
            let _ = self.tx.send(Msg::Chunk(chunk));
        }
    }

    /// Count a chunk in; with on_full = spill it goes to the ingress spool when the queue is
    /// full or older chunks are still spilled (so order is kept). Returns it when it may go
    /// on to the worker.
    pub fn admit(&self, chunk: Chunk) -> Option<Chunk> {
        self.counters
            .emitted
            .fetch_add(chunk.count as u64, Ordering::Relaxed);
        if self.on_full == OnFull::Spill
            && (self.overflow.as_ref().is_some_and(SideSpool::has_waiting) || self.is_full())
        {
            self.spill(chunk);
            return None;
        }
        self.budget.charge(chunk.bytes.len());
        self.queued_events
            .fetch_add(chunk.count as u64, Ordering::Relaxed);
        Some(chunk)
    }

    /// Hand over every shard's partial chunk (worker side, on a tick, flush or close). Each
    /// goes the way a full one would, under its shard's lock, so per thread the channel (and
    /// the ingress spool) keeps emit order.
    pub fn steal_all(&self) {
        // An event handed over without a shard is in the channel once this lock is free.
        drop(lock(&self.unsharded));
        let mut shards = lock(&self.shards);
        for shard in shards.iter() {
            let mut chunk = lock(&shard.chunk);
            if chunk.count > 0 {
                self.hand_over(std::mem::take(&mut *chunk));
            }
        }
        self.forget_exited(&mut shards);
    }

    /// Drop the shards of threads that have exited (only the registry still holds them). Such
    /// a thread may have pushed after the steal that passed its shard and exited since, so
    /// what its shard still holds is handed over first: dropping it would lose the thread's
    /// last events without a count.
    fn forget_exited(&self, shards: &mut Vec<Arc<Shard>>) {
        shards.retain(|shard| {
            if Arc::strong_count(shard) > 1 {
                return true;
            }
            let mut chunk = lock(&shard.chunk);
            if chunk.count > 0 {
                self.hand_over(std::mem::take(&mut *chunk));
            }
            false
        });
    }

    /// A chunk back from the ingress spool is charged to the budget like a new one.
    pub fn admit_spilled(&self, chunk: &Chunk) {
        self.budget.charge(chunk.bytes.len());
    }

    /// The worker routed `events` (their bytes are refunded when the lanes are done).
    pub fn release(&self, events: u64) {
        let _ = self
            .queued_events
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                Some(q.saturating_sub(events))
            });
    }

    /// Records wait in a side spool (spilled or acknowledged).
    pub fn is_spilling(&self) -> bool {
        self.overflow.as_ref().is_some_and(SideSpool::has_waiting)
            || self.acked.as_ref().is_some_and(SideSpool::has_waiting)
    }

    fn wait_for_space(&self) -> Result<()> {
        self.budget.wait(|| self.is_closed());
        if self.is_closed() {
            return Err(Error::closed());
        }
        Ok(())
    }

    /// Append a whole chunk to the ingress spool (one write), keeping order with what is
    /// already there.
    fn spill(&self, chunk: Chunk) {
        let count = chunk.count as u64;
        let Some(overflow) = &self.overflow else {
            let why = self.overflow_error.as_deref().unwrap_or("no ingress spool");
            self.spill_failed(count, why);
            return;
        };
        match overflow.append(&chunk.bytes) {
            Ok(()) => {
                self.queued_events.fetch_add(count, Ordering::Relaxed);
                self.counters.spilled.fetch_add(count, Ordering::Relaxed);
                self.spill_failing.store(false, Ordering::Relaxed);
            }
            Err(e) => self.spill_failed(count, &format!("ingress spool write failed: {e}")),
        }
        self.budget.give_buffer(chunk.bytes);
    }

    /// Count events spilling could not keep, and say why once (not once per chunk) until a
    /// spill succeeds again.
    fn spill_failed(&self, count: u64, why: &str) {
        self.counters.dropped.fetch_add(count, Ordering::Relaxed);
        self.counters
            .spill_failed
            .fetch_add(count, Ordering::Relaxed);
        if !self.spill_failing.swap(true, Ordering::Relaxed) {
            let message = format!(
                "queue full and {why}: events that do not fit are dropped (stats: spill_failed)"
            );
            log::warn!("{message}");
            self.counters.set_error(message);
        }
    }

    /// Append complete records to the acknowledged spool and return once they are on disk
    /// (as the spool's fsync policy makes them): what a host acknowledges to its clients.
    pub fn push_durable(&self, framed: &[u8], count: usize) -> Result<()> {
        if self.is_closed() {
            return Err(Error::closed());
        }
        let Some(acked) = &self.acked else {
            return Err(Error::new(
                crate::error::ErrorKind::Io,
                "durable ingest needs a spool, and none could be opened",
            ));
        };
        // Counted first: the worker may route the records (and release them) as soon as
        // they are in the spool.
        let count = count as u64;
        self.queued_events.fetch_add(count, Ordering::AcqRel);
        self.counters.emitted.fetch_add(count, Ordering::AcqRel);
        if let Err(e) = acked.append(framed) {
            self.queued_events.fetch_sub(count, Ordering::AcqRel);
            self.counters.emitted.fetch_sub(count, Ordering::AcqRel);
            // Closed since the check above: close's last look at the spool may be over.
            if acked.is_closed() {
                return Err(Error::closed());
            }
            return Err(Error::io("cannot write the acknowledged spool", e));
        }
        let _ = self.tx.send(Msg::Spilled);
        Ok(())
    }

    /// Worker side: read up to `max` waiting records as a chunk once there is room again
    /// (or regardless, when `ignore_capacity`); acknowledged ones first. `durable` says the
    /// chunk came from the acknowledged spool: it must reach every lane's spool before
    /// `commit_spilled`. Either way the records stay on disk until then.
    pub fn take_spilled(
        &self,
        max: usize,
        ignore_capacity: bool,
    ) -> Option<(Chunk, ReadBatch, bool)> {
        if !ignore_capacity && self.is_full() {
            return None;
        }
        for (side, durable) in [(&self.acked, true), (&self.overflow, false)] {
            let Some(side) = side.as_ref().filter(|s| s.has_waiting()) else {
                continue;
            };
            let (taken, lost) = side.take(max);
            self.count_lost(lost);
            if let Some((chunk, read)) = taken {
                return Some((chunk, read, durable));
            }
        }
        None
    }

    /// The records of `read` are safe elsewhere now: drop them from their side spool.
    pub fn commit_spilled(&self, read: &ReadBatch, durable: bool) {
        let side = if durable { &self.acked } else { &self.overflow };
        if let Some(side) = side {
            let lost = side.commit(read);
            self.count_lost(lost);
        }
    }

    fn count_lost(&self, lost: Lost) {
        if let Some(complaint) = lost.complaint {
            self.counters.set_error(complaint);
        }
        if lost.dropped + lost.corrupt == 0 {
            return;
        }
        self.counters
            .dropped
            .fetch_add(lost.dropped, Ordering::Relaxed);
        self.counters
            .corrupt
            .fetch_add(lost.corrupt, Ordering::Relaxed);
        // Records a spool lost will never be routed; the rest are released when routed.
        let _ = self
            .queued_events
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                Some(q.saturating_sub(lost.dropped + lost.corrupt))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Entity, Event, Kind, Timestamp};

    fn event(seq: u64) -> Event {
        Event {
            seq,
            ..Event::sample(
                Kind::Heartbeat,
                Entity::new("job", "J1"),
                Timestamp::from_unix_micros(1_700_000_000_000_000),
            )
        }
    }

    /// A thread that pushed after a steal passed its shard and then exited, before the steal
    /// dropped the shards of exited threads: its events go to the worker, not away.
    #[test]
    fn the_last_events_of_a_thread_that_exited_during_a_steal_are_handed_over() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let queue = Arc::new(Queue::new(
            &Config::default(),
            tx,
            None,
            None,
            Arc::default(),
        ));
        let q = queue.clone();
        std::thread::spawn(move || {
            for seq in 0..3 {
                q.push(&Fields::of_event(&event(seq))).unwrap();
            }
        })
        .join()
        .unwrap();
        // The state a steal meets when the thread pushed after its loop and then exited.
        assert_eq!(queue.in_shards(), 3);
        queue.forget_exited(&mut lock(&queue.shards));
        assert_eq!(queue.in_shards(), 0);
        assert!(lock(&queue.shards).is_empty());
        let Ok(Msg::Chunk(chunk)) = rx.try_recv() else {
            panic!("the exited thread's events were not handed over");
        };
        assert_eq!(chunk.count, 3);
        assert_eq!(queue.counters.emitted.load(Ordering::Acquire), 3);
    }

    /// An emit that started before close but reaches its buffer only after close's last
    /// steal (the one the worker makes when told to stop) is refused, never left behind in
    /// the buffer counted and unrouted. The test holds the thread's buffer to make that
    /// interleaving; the emitting thread is given time to get there first.
    #[test]
    fn an_emit_that_reaches_its_buffer_after_the_last_steal_is_refused() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let queue = Arc::new(Queue::new(
            &Config::default(),
            tx,
            None,
            None,
            Arc::default(),
        ));
        let (go, wait) = crossbeam_channel::bounded::<()>(0);
        let q = queue.clone();
        let emitter = std::thread::spawn(move || {
            q.push(&Fields::of_event(&event(1))).unwrap();
            wait.recv().unwrap();
            q.push(&Fields::of_event(&event(2)))
        });
        while queue.in_shards() == 0 {
            std::thread::yield_now();
        }
        let shard = lock(&queue.shards)[0].clone();
        let mut held = lock(&shard.chunk);
        go.send(()).unwrap();
        // The second emit is on its way to the buffer this test holds.
        std::thread::sleep(std::time::Duration::from_millis(200));
        queue.close();
        // Close's last steal, as `steal_all` makes it.
        queue.hand_over(std::mem::take(&mut *held));
        drop(held);
        let second = emitter.join().unwrap();
        assert_eq!(
            second.map_err(|e| e.kind()),
            Err(crate::error::ErrorKind::Closed)
        );
        assert_eq!(queue.in_shards(), 0, "nothing left behind the last steal");
        let Ok(Msg::Chunk(chunk)) = rx.try_recv() else {
            panic!("the first event was not handed over");
        };
        assert_eq!(chunk.count, 1);
        assert_eq!(queue.accepted(), 1);
    }
}
