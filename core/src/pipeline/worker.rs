//! The worker: gathers chunks from the queue into batches (max events, flush interval),
//! numbers them (seq), and routes them to the lanes. It never decodes an event on the
//! common path: a full chunk becomes a batch as it is.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::batch::{Batch, Origin};
use super::lane::Lane;
use super::queue::{Chunk, Msg, Queue};

/// Fan-out and failover: every group gets every event it accepts; within a group the first
/// healthy lane by priority takes it (the preferred one when none is healthy).
pub(crate) struct Router {
    lanes: Vec<Arc<Lane>>,
    /// Indexes into `lanes`, one Vec per group, each sorted by priority.
    groups: Vec<Vec<usize>>,
}

impl Router {
    pub fn new(lanes: Vec<Arc<Lane>>) -> Router {
        let mut groups: Vec<(Option<String>, Vec<usize>)> = Vec::new();
        for (i, lane) in lanes.iter().enumerate() {
            match &lane.group {
                Some(g) => match groups.iter_mut().find(|(name, _)| name.as_ref() == Some(g)) {
                    Some((_, members)) => members.push(i),
                    None => groups.push((Some(g.clone()), vec![i])),
                },
                None => groups.push((None, vec![i])),
            }
        }
        let groups = groups
            .into_iter()
            .map(|(_, mut members)| {
                members.sort_by_key(|&i| lanes[i].priority);
                members
            })
            .collect();
        Router { lanes, groups }
    }

    /// Hand a batch to every group. `durable`: each lane writes it to its own spool before
    /// this returns (the batch came from the ingress spool, which may then let it go).
    pub fn route(&self, batch: Batch, durable: bool) {
        if batch.is_empty() {
            return;
        }
        let shared = Arc::new(batch);
        for members in &self.groups {
            let chosen = members
                .iter()
                .copied()
                .find(|&i| self.lanes[i].is_healthy())
                .unwrap_or(members[0]);
            let lane = &self.lanes[chosen];
            let batch = if lane.filter.is_empty() {
                shared.clone()
            } else {
                Arc::new(shared.filtered(|e| lane.filter.accepts(e.kind, e.entity.kind)))
            };
            lane.push(batch, durable);
        }
    }
}

pub(crate) struct Worker {
    queue: Arc<Queue>,
    router: Router,
    max_events: usize,
    max_bytes: usize,
    flush_interval: Duration,
    origin: Arc<Origin>,
    next_seq: u64,
    /// Small chunks gathered into one batch, and the bytes charged for them.
    pending: Chunk,
    pending_seq: u64,
    pending_charge: usize,
}

impl Worker {
    pub fn new(
        queue: Arc<Queue>,
        router: Router,
        max_events: usize,
        max_bytes: usize,
        flush_interval: Duration,
        origin: Origin,
    ) -> Worker {
        Worker {
            queue,
            router,
            max_events,
            max_bytes,
            flush_interval,
            origin: Arc::new(origin),
            next_seq: 1,
            pending: Chunk::default(),
            pending_seq: 1,
            pending_charge: 0,
        }
    }

    fn batch_of(&self, chunk: Chunk, first_seq: u64, charged: usize) -> Batch {
        Batch::from_chunk(
            chunk,
            first_seq,
            self.origin.clone(),
            self.queue.budget.clone(),
            charged,
        )
    }

    /// Number a chunk's events and route it as one batch.
    fn route_whole(&mut self, chunk: Chunk, durable: bool) {
        let (bytes, count) = (chunk.bytes.len(), chunk.count);
        let first_seq = self.next_seq;
        self.next_seq += count as u64;
        let batch = self.batch_of(chunk, first_seq, bytes);
        self.router.route(batch, durable);
    }

    /// Take a chunk the queue admitted: a full one goes out as it is, small ones are joined.
    fn accept(&mut self, chunk: Chunk) {
        let (bytes, count) = (chunk.bytes.len(), chunk.count);
        if self.pending.count == 0 && (count >= self.max_events || bytes >= self.max_bytes) {
            self.route_whole(chunk, false);
        } else {
            if self.pending.count == 0 {
                self.pending_seq = self.next_seq;
                if self.pending.bytes.capacity() == 0 {
                    self.pending.bytes = self
                        .queue
                        .budget
                        .take_buffer(self.max_bytes.min(256 * 1024));
                }
            }
            self.next_seq += count as u64;
            self.pending.bytes.extend_from_slice(&chunk.bytes);
            self.pending.count += count;
            self.pending_charge += bytes;
            self.queue.budget.give_buffer(chunk.bytes);
            if self.pending.count >= self.max_events || self.pending.bytes.len() >= self.max_bytes {
                self.dispatch();
            }
        }
        self.queue.release(count as u64);
    }

    fn dispatch(&mut self) {
        if self.pending.count > 0 {
            let chunk = std::mem::take(&mut self.pending);
            let charged = std::mem::take(&mut self.pending_charge);
            let batch = self.batch_of(chunk, self.pending_seq, charged);
            self.router.route(batch, false);
        }
    }

    /// Accept every chunk waiting in the channel; remember flush replies and a stop.
    fn drain_channel(&mut self, rx: &Receiver<Msg>, replies: &mut Vec<Sender<()>>) -> bool {
        let mut stop = false;
        while let Ok(msg) = rx.try_recv() {
            match msg {
                Msg::Chunk(c) => self.accept(c),
                Msg::Flush(reply) => replies.push(reply),
                Msg::Spilled => {}
                Msg::Stop => stop = true,
            }
        }
        stop
    }

    /// Spilled and acknowledged chunks back in, while there is room (or regardless, when
    /// `everything`). The channel is drained first: what it holds was admitted before
    /// anything was spilled. An acknowledged chunk goes out as its own batch, into every
    /// lane's spool, and only then leaves its spool: it never lives in memory alone.
    fn unspill(
        &mut self,
        rx: &Receiver<Msg>,
        replies: &mut Vec<Sender<()>>,
        everything: bool,
    ) -> bool {
        let stop = self.drain_channel(rx, replies);
        if !self.queue.is_spilling() {
            return stop;
        }
        while let Some((chunk, read, durable)) =
            self.queue.take_spilled(self.max_events, everything)
        {
            self.queue.admit_spilled(&chunk);
            if durable {
                // Older events first, then this batch into every lane's own spool.
                self.dispatch();
                let count = chunk.count as u64;
                self.route_whole(chunk, true);
                self.queue.release(count);
            } else {
                // Spilled by emit: back in memory, like any emitted event.
                self.accept(chunk);
            }
            self.queue.commit_spilled(&read, durable);
        }
        stop
    }

    /// Take partial shards (they join the channel behind older chunks) and spilled records,
    /// and send off what is pending.
    fn collect(
        &mut self,
        rx: &Receiver<Msg>,
        replies: &mut Vec<Sender<()>>,
        everything: bool,
    ) -> bool {
        self.queue.steal_all();
        let stop = self.unspill(rx, replies, everything);
        self.dispatch();
        stop
    }

    fn answer(replies: &mut Vec<Sender<()>>) {
        for r in replies.drain(..) {
            let _ = r.send(());
        }
    }

    pub fn run(mut self, rx: Receiver<Msg>) {
        let mut next_tick = Instant::now() + self.flush_interval;
        let mut replies = Vec::new();
        loop {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            let mut stop = match rx.recv_timeout(timeout) {
                Ok(Msg::Chunk(chunk)) => {
                    self.accept(chunk);
                    // Spilled chunks go back in as soon as there is room, not only on ticks.
                    self.queue.is_spilling() && self.unspill(&rx, &mut replies, false)
                }
                Ok(Msg::Flush(reply)) => {
                    replies.push(reply);
                    false
                }
                Ok(Msg::Spilled) => self.unspill(&rx, &mut replies, false),
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => true,
                Err(RecvTimeoutError::Timeout) => false,
            };
            if Instant::now() >= next_tick {
                stop |= self.collect(&rx, &mut replies, false);
                next_tick = Instant::now() + self.flush_interval;
            }
            if stop || !replies.is_empty() {
                // A flush (or the stop) answers only once everything before it is routed.
                stop |= self.collect(&rx, &mut replies, true);
                Self::answer(&mut replies);
            }
            if stop {
                return;
            }
        }
    }
}
