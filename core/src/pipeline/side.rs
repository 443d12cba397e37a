//! Spools beside the queue: the ingress spool (chunks `on_full = spill` could not keep in
//! memory) and the acknowledged spool (`Client::ingest`). Records wait there in order until
//! the worker takes them back; `waiting` lets the hot path check without a lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::batch;
use super::queue::Chunk;
use super::spool::{ReadBatch, Spool};

pub(crate) struct SideSpool {
    spool: Mutex<Spool>,
    waiting: AtomicBool,
    /// Set under the spool's lock: appends after it are refused (the acknowledged spool
    /// once its client closes, so nothing lands there after the worker's last look).
    closed: AtomicBool,
}

/// Records a side spool lost (size cap, corruption), for the client's counters.
#[derive(Default)]
pub(crate) struct Lost {
    pub dropped: u64,
    pub corrupt: u64,
    /// What the corrupt records were, and where.
    pub complaint: Option<String>,
}

impl SideSpool {
    pub fn new(spool: Spool) -> SideSpool {
        let waiting = !spool.is_empty();
        SideSpool {
            spool: Mutex::new(spool),
            waiting: AtomicBool::new(waiting),
            closed: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Spool> {
        match self.spool.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn has_waiting(&self) -> bool {
        self.waiting.load(Ordering::Acquire)
    }

    /// Refuse appends from now on.
    pub fn close(&self) {
        let _spool = self.lock();
        self.closed.store(true, Ordering::Release);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Append length-prefixed records in one write (synced as the spool's policy says).
    pub fn append(&self, framed: &[u8]) -> std::io::Result<()> {
        let mut spool = self.lock();
        if self.is_closed() {
            return Err(std::io::Error::other("the spool is closed"));
        }
        spool.append(batch::records(framed))?;
        self.waiting.store(true, Ordering::Release);
        Ok(())
    }

    /// Read up to `max` records; they stay on disk until `commit`.
    pub fn take(&self, max: usize) -> (Option<(Chunk, ReadBatch)>, Lost) {
        let mut spool = self.lock();
        let Ok(mut read) = spool.read(max) else {
            return (None, Lost::default());
        };
        if read.count == 0 {
            // Only unreadable records (or none) are left: count them and start afresh.
            let _ = spool.commit(&read);
            return (None, self.settle(&mut spool, true));
        }
        let chunk = Chunk {
            bytes: std::mem::take(&mut read.framed),
            count: read.count,
        };
        (Some((chunk, read)), Lost::default())
    }

    /// The records of `read` are safe elsewhere now.
    pub fn commit(&self, read: &ReadBatch) -> Lost {
        let mut spool = self.lock();
        let _ = spool.commit(read);
        self.settle(&mut spool, false)
    }

    fn settle(&self, spool: &mut Spool, give_up_rest: bool) -> Lost {
        let (mut dropped, corrupt) = spool.take_counters();
        if give_up_rest && !spool.is_empty() {
            dropped += spool.pending();
            spool.forget_pending();
        }
        if spool.is_empty() {
            self.waiting.store(false, Ordering::Release);
        }
        Lost {
            dropped,
            corrupt,
            complaint: spool.take_complaint(),
        }
    }
}
