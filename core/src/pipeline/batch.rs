//! A batch: records exactly as the emitting threads encoded them, handed from the worker to
//! every lane that takes them (shared, not copied) and read by backends as borrowed
//! `EventRef`s. When the last lane is done, its bytes go back to the queue's budget.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};

use super::queue::Chunk;
use super::record::{self, Defaults, Fields};
use crate::event::{App, Event, EventRef};

/// The queue's byte budget. Bytes are charged when a chunk is handed over and refunded when
/// the last lane is done with the batch they became, so `queue.capacity_bytes` bounds every
/// event held in memory end to end. Buffers are recycled here too, so a steady stream
/// allocates (and page-faults) nothing new.
pub(crate) struct Budget {
    capacity: usize,
    used: AtomicUsize,
    space: (Mutex<()>, Condvar),
    free: Mutex<Vec<Vec<u8>>>,
}

/// Enough buffers for the chunks in flight at a steady rate; more would only hold memory.
const POOL_LIMIT: usize = 16;

impl Budget {
    pub fn new(capacity: usize) -> Budget {
        Budget {
            capacity,
            used: AtomicUsize::new(0),
            space: (Mutex::new(()), Condvar::new()),
            free: Mutex::new(Vec::new()),
        }
    }

    pub fn is_full(&self) -> bool {
        self.used.load(Ordering::Relaxed) >= self.capacity
    }

    pub fn charge(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn refund(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
        let _guard = self.space.0.lock();
        self.space.1.notify_all();
    }

    /// Wait until there is room, `stop()` says to give up, or a short while passes.
    pub fn wait(&self, stop: impl Fn() -> bool) {
        let Ok(mut guard) = self.space.0.lock() else {
            return;
        };
        while self.is_full() && !stop() {
            guard = match self.space.1.wait_timeout(guard, Duration::from_millis(50)) {
                Ok((g, _)) => g,
                Err(_) => return,
            };
        }
    }

    pub fn take_buffer(&self, capacity: usize) -> Vec<u8> {
        self.free
            .lock()
            .ok()
            .and_then(|mut f| f.pop())
            .unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    pub fn give_buffer(&self, mut buf: Vec<u8>) {
        buf.clear();
        if let Ok(mut free) = self.free.lock() {
            if free.len() < POOL_LIMIT {
                free.push(buf);
            }
        }
    }
}

/// What records leave open: the client's site and app.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    pub site: String,
    pub app: App,
}

/// Events in their record form, `[len u32 LE][record]` each.
pub struct Batch {
    bytes: Vec<u8>,
    count: usize,
    /// Sequence number of the first record; records without their own are numbered on.
    first_seq: u64,
    origin: Arc<Origin>,
    /// Where the charged bytes go back to when the batch is dropped.
    budget: Option<(Arc<Budget>, usize)>,
}

impl Batch {
    /// A batch of a chunk the budget was charged `charged` bytes for.
    pub(crate) fn from_chunk(
        chunk: Chunk,
        first_seq: u64,
        origin: Arc<Origin>,
        budget: Arc<Budget>,
        charged: usize,
    ) -> Batch {
        Batch {
            bytes: chunk.bytes,
            count: chunk.count,
            first_seq,
            origin,
            budget: Some((budget, charged)),
        }
    }

    /// A batch of complete events (tests, tools, and replays from the spool).
    pub fn from_events(events: &[Event]) -> Batch {
        let mut bytes = Vec::with_capacity(events.len() * 256);
        for event in events {
            push_record(&mut bytes, &Fields::of_event(event));
        }
        let origin = match events.first() {
            Some(e) => Origin {
                site: e.site.clone(),
                app: e.app.clone(),
            },
            None => Origin {
                site: String::new(),
                app: App {
                    name: String::new(),
                    version: None,
                    instance: None,
                },
            },
        };
        Batch {
            bytes,
            count: events.len(),
            first_seq: 0,
            origin: Arc::new(origin),
            budget: None,
        }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the batch holds in memory.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// The events, in order. Records were checked when the batch was made (encoded by us, or
    /// validated when read back from a spool), so none is skipped here.
    pub fn iter(&self) -> impl Iterator<Item = EventRef<'_>> + '_ {
        let defaults = Defaults {
            site: &self.origin.site,
            app: &self.origin.app,
        };
        let first_seq = self.first_seq;
        records(&self.bytes)
            .zip(first_seq..)
            .filter_map(move |(record, seq)| record::decode_ref(record, &defaults, seq).ok())
    }

    /// Owned copies of the events.
    pub fn to_events(&self) -> Vec<Event> {
        self.iter().map(|e| e.to_event()).collect()
    }

    /// Complete records (seq, site and app written out), for the spool.
    pub(crate) fn complete_records(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len() + self.count * 48);
        for event in self.iter() {
            push_record(&mut out, &Fields::of_ref(&event));
        }
        out
    }

    /// A new batch of the events `keep` accepts (for filtered lanes).
    pub(crate) fn filtered(&self, keep: impl Fn(&EventRef<'_>) -> bool) -> Batch {
        let mut bytes = Vec::new();
        let mut count = 0;
        for event in self.iter().filter(|e| keep(e)) {
            push_record(&mut bytes, &Fields::of_ref(&event));
            count += 1;
        }
        Batch {
            bytes,
            count,
            first_seq: 0,
            origin: self.origin.clone(),
            budget: None,
        }
    }

    /// A new batch of the events at `positions` (sorted, in range), for the part of a batch
    /// a backend asked to retry.
    pub(crate) fn subset(&self, positions: &[usize]) -> Batch {
        let mut wanted = positions.iter().peekable();
        self.filtered_by_position(|i| {
            while wanted.next_if(|&&p| p < i).is_some() {}
            wanted.next_if(|&&p| p == i).is_some()
        })
    }

    fn filtered_by_position(&self, mut keep: impl FnMut(usize) -> bool) -> Batch {
        let mut bytes = Vec::new();
        let mut count = 0;
        for (i, event) in self.iter().enumerate() {
            if keep(i) {
                push_record(&mut bytes, &Fields::of_ref(&event));
                count += 1;
            }
        }
        Batch {
            bytes,
            count,
            first_seq: 0,
            origin: self.origin.clone(),
            budget: None,
        }
    }

    /// Length-prefixed records whose seq/site/app are all explicit (from a spool).
    pub(crate) fn from_complete(bytes: Vec<u8>, count: usize, origin: Arc<Origin>) -> Batch {
        Batch {
            bytes,
            count,
            first_seq: 0,
            origin,
            budget: None,
        }
    }
}

/// The records of a length-prefixed buffer, without their prefixes.
pub(crate) fn records(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let record = rest.get(4..4 + len)?;
        rest = &rest[4 + len..];
        Some(record)
    })
}

/// Append `[len][record]` to `out`.
pub(crate) fn push_record(out: &mut Vec<u8>, fields: &Fields<'_>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    record::encode(fields, out);
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

impl Drop for Batch {
    fn drop(&mut self) {
        if let Some((budget, charged)) = &self.budget {
            budget.refund(*charged);
            budget.give_buffer(std::mem::take(&mut self.bytes));
        }
    }
}

/// A batch serializes as the sequence of its events (a JSON array of schema-v1 objects).
impl Serialize for Batch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.count))?;
        for event in self.iter() {
            seq.serialize_element(&event)?;
        }
        seq.end()
    }
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("count", &self.count)
            .field("bytes", &self.bytes.len())
            .field("first_seq", &self.first_seq)
            .finish()
    }
}
