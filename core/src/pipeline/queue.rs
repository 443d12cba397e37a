//! The in-memory queue between `emit` and the worker, sized in bytes.
//!
//! Each emitting thread encodes records into its own buffer (a shard) and hands the buffer
//! over whole once it holds a batch, so the hot path costs one uncontended lock and a
//! memcpy-sized encode, with no per-event allocation that another thread has to free. The
//! worker also takes partial buffers from idle threads every flush interval.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crossbeam_channel::Sender;

use super::record::{self, Fields};
use super::spool::Spool;
use super::stats::ClientCounters;
use crate::config::OnFull;
use crate::error::{Error, ErrorKind, Result};

/// Length-prefixed records (`[len u32 LE][payload]`), and how many.
#[derive(Default)]
pub(crate) struct Chunk {
    pub bytes: Vec<u8>,
    pub count: usize,
}

impl Chunk {
    pub fn records(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest = self.bytes.as_slice();
        std::iter::from_fn(move || {
            if rest.len() < 4 {
                return None;
            }
            let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let record = rest.get(4..4 + len)?;
            rest = &rest[4 + len..];
            Some(record)
        })
    }
}

struct Shard {
    chunk: Mutex<Chunk>,
}

/// Messages to the worker.
pub(crate) enum Msg {
    Chunk(Chunk),
    /// Route everything queued so far, then answer.
    Flush(Sender<()>),
    Stop,
}

static NEXT_QUEUE_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's shard of each live queue, by queue id.
    static LOCAL: RefCell<Vec<(u64, Arc<Shard>)>> = const { RefCell::new(Vec::new()) };
}

pub(crate) struct Queue {
    id: u64,
    capacity: usize,
    on_full: OnFull,
    chunk_events: usize,
    chunk_bytes: usize,
    /// Bytes handed to the worker and not yet routed.
    queued_bytes: AtomicUsize,
    /// Events handed to the worker (or spilled) and not yet routed.
    queued_events: AtomicU64,
    shards: Mutex<Vec<Arc<Shard>>>,
    tx: Sender<Msg>,
    space: (Mutex<()>, Condvar),
    closed: AtomicBool,
    /// on_full = spill: records that did not fit wait here, in order.
    overflow: Option<Mutex<Spool>>,
    spilling: AtomicBool,
    pub counters: Arc<ClientCounters>,
}

impl Queue {
    pub fn new(
        capacity: usize,
        on_full: OnFull,
        chunk_events: usize,
        chunk_bytes: usize,
        tx: Sender<Msg>,
        overflow: Option<Spool>,
        counters: Arc<ClientCounters>,
    ) -> Queue {
        // What a previous run spilled and never routed is replayed first.
        let left_over = overflow.as_ref().map_or(0, |s| s.pending());
        Queue {
            id: NEXT_QUEUE_ID.fetch_add(1, Ordering::Relaxed),
            capacity,
            on_full,
            chunk_events,
            chunk_bytes,
            queued_bytes: AtomicUsize::new(0),
            queued_events: AtomicU64::new(left_over),
            shards: Mutex::new(Vec::new()),
            tx,
            space: (Mutex::new(()), Condvar::new()),
            closed: AtomicBool::new(false),
            overflow: overflow.map(Mutex::new),
            spilling: AtomicBool::new(left_over > 0),
            counters,
        }
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.space.1.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Events accepted and not yet routed (in shards, handed over, or spilled).
    pub fn queued_events(&self) -> u64 {
        let in_shards: usize = self
            .shards
            .lock()
            .map(|s| {
                s.iter()
                    .map(|sh| sh.chunk.lock().map_or(0, |c| c.count))
                    .sum()
            })
            .unwrap_or(0);
        self.queued_events.load(Ordering::Acquire) + in_shards as u64
    }

    fn is_full(&self) -> bool {
        self.queued_bytes.load(Ordering::Relaxed) >= self.capacity
    }

    /// Accept one event. Never blocks unless on_full = block.
    pub fn push(&self, fields: &Fields<'_>) -> Result<()> {
        if self.is_closed() {
            return Err(Error::closed());
        }
        if self.spilling.load(Ordering::Relaxed) || self.is_full() {
            match self.on_full {
                OnFull::Block => self.wait_for_space()?,
                OnFull::DropNewest if self.is_full() => {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                OnFull::DropNewest => {}
                OnFull::Spill => return self.spill(fields),
            }
        }
        self.counters.emitted.fetch_add(1, Ordering::Relaxed);
        let full = LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            let shard = match local.iter().find(|(id, _)| *id == self.id) {
                Some((_, shard)) => shard.clone(),
                None => {
                    local.retain(|(_, shard)| Arc::strong_count(shard) > 1);
                    let shard = Arc::new(Shard {
                        chunk: Mutex::new(Chunk::default()),
                    });
                    if let Ok(mut shards) = self.shards.lock() {
                        shards.push(shard.clone());
                    }
                    local.push((self.id, shard.clone()));
                    shard
                }
            };
            let mut chunk = match shard.chunk.lock() {
                Ok(c) => c,
                Err(poisoned) => poisoned.into_inner(),
            };
            let start = chunk.bytes.len();
            chunk.bytes.extend_from_slice(&[0; 4]);
            record::encode(fields, &mut chunk.bytes);
            let len = (chunk.bytes.len() - start - 4) as u32;
            chunk.bytes[start..start + 4].copy_from_slice(&len.to_le_bytes());
            chunk.count += 1;
            if chunk.count >= self.chunk_events || chunk.bytes.len() >= self.chunk_bytes {
                Some(std::mem::replace(
                    &mut *chunk,
                    Chunk {
                        bytes: Vec::with_capacity(self.chunk_bytes.min(1 << 20)),
                        count: 0,
                    },
                ))
            } else {
                None
            }
        });
        if let Some(chunk) = full {
            self.hand_over(chunk);
        }
        Ok(())
    }

    fn hand_over(&self, chunk: Chunk) {
        self.queued_bytes
            .fetch_add(chunk.bytes.len(), Ordering::Relaxed);
        self.queued_events
            .fetch_add(chunk.count as u64, Ordering::Relaxed);
        // The worker only goes away after close; a chunk sent then is counted by stats.
        let _ = self.tx.send(Msg::Chunk(chunk));
    }

    /// Take every shard's partial chunk (worker side, on a tick, flush or close).
    pub fn steal_all(&self) -> Vec<Chunk> {
        let mut out = Vec::new();
        let Ok(mut shards) = self.shards.lock() else {
            return out;
        };
        for shard in shards.iter() {
            if let Ok(mut chunk) = shard.chunk.lock() {
                if chunk.count > 0 {
                    let taken = std::mem::take(&mut *chunk);
                    self.queued_bytes
                        .fetch_add(taken.bytes.len(), Ordering::Relaxed);
                    self.queued_events
                        .fetch_add(taken.count as u64, Ordering::Relaxed);
                    out.push(taken);
                }
            }
        }
        // A shard only the registry still holds belongs to a thread that has exited.
        shards.retain(|s| Arc::strong_count(s) > 1 || s.chunk.lock().is_ok_and(|c| c.count > 0));
        out
    }

    /// The worker routed `bytes` / `events`: make room.
    pub fn release(&self, bytes: usize, events: u64) {
        self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
        self.queued_events.fetch_sub(events, Ordering::Relaxed);
        if self.on_full == OnFull::Block {
            let _guard = self.space.0.lock();
            self.space.1.notify_all();
        }
    }

    fn wait_for_space(&self) -> Result<()> {
        let mut guard = self.space.0.lock().map_err(|_| Error::closed())?;
        while self.is_full() {
            if self.is_closed() {
                return Err(Error::closed());
            }
            guard = match self.space.1.wait_timeout(guard, Duration::from_millis(50)) {
                Ok((g, _)) => g,
                Err(_) => return Err(Error::new(ErrorKind::Io, "queue lock poisoned")),
            };
        }
        Ok(())
    }

    fn spill(&self, fields: &Fields<'_>) -> Result<()> {
        let Some(overflow) = &self.overflow else {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        let mut payload = Vec::with_capacity(256);
        record::encode(fields, &mut payload);
        let mut spool = match overflow.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        self.counters.emitted.fetch_add(1, Ordering::Relaxed);
        match spool.append([payload.as_slice()]) {
            Ok(()) => {
                self.spilling.store(true, Ordering::Relaxed);
                self.queued_events.fetch_add(1, Ordering::Relaxed);
                self.counters.spilled.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Worker side: take up to `max` spilled records once there is room again. Returns
    /// `None` when nothing is spilled.
    pub fn take_spilled(&self, max: usize, ignore_capacity: bool) -> Option<Vec<Vec<u8>>> {
        let overflow = self.overflow.as_ref()?;
        if !self.spilling.load(Ordering::Relaxed) || (!ignore_capacity && self.is_full()) {
            return None;
        }
        let mut spool = match overflow.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let batch = spool.read(max).ok()?;
        let records = batch.records.clone();
        let _ = spool.commit(&batch);
        let (dropped, corrupt) = spool.take_counters();
        self.counters.dropped.fetch_add(dropped, Ordering::Relaxed);
        self.counters.corrupt.fetch_add(corrupt, Ordering::Relaxed);
        self.queued_events.fetch_sub(
            (records.len() as u64 + dropped).min(self.queued_events.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        if spool.is_empty() {
            self.spilling.store(false, Ordering::Relaxed);
        }
        Some(records)
    }
}
