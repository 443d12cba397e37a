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

    pub fn route(&self, batch: Batch) {
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
            if lane.filter.is_empty() {
                lane.push(shared.clone());
            } else {
                let picked = shared.filtered(|e| lane.filter.accepts(e.kind, e.entity.kind));
                lane.push(Arc::new(picked));
            }
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

    /// Take a chunk the queue admitted: a full one goes out as it is, small ones are joined.
    fn accept(&mut self, chunk: Chunk) {
        let (bytes, count) = (chunk.bytes.len(), chunk.count);
        let first_seq = self.next_seq;
        self.next_seq += count as u64;
        if self.pending.count == 0 && (count >= self.max_events || bytes >= self.max_bytes) {
            let batch = self.batch_of(chunk, first_seq, bytes);
            self.router.route(batch);
        } else {
            if self.pending.count == 0 {
                self.pending_seq = first_seq;
                if self.pending.bytes.capacity() == 0 {
                    self.pending.bytes = self
                        .queue
                        .budget
                        .take_buffer(self.max_bytes.min(256 * 1024));
                }
            }
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
            self.router.route(batch);
        }
    }

    /// Take partial shards and spilled records (spilled ones only while the queue has room,
    /// unless `everything`), and send off what is pending.
    fn collect(&mut self, everything: bool) {
        for chunk in self.queue.steal_all() {
            if let Some(chunk) = self.queue.admit(chunk) {
                self.accept(chunk);
            }
        }
        while let Some(chunk) = self.queue.take_spilled(self.max_events, everything) {
            self.queue.admit_spilled(&chunk);
            self.accept(chunk);
        }
        self.dispatch();
    }

    /// Route everything accepted so far (flush and stop).
    fn drain_all(&mut self, rx: &Receiver<Msg>, replies: &mut Vec<Sender<()>>) -> bool {
        let mut stop = false;
        while let Ok(msg) = rx.try_recv() {
            match msg {
                Msg::Chunk(c) => self.accept(c),
                Msg::Flush(reply) => replies.push(reply),
                Msg::Stop => stop = true,
            }
        }
        self.collect(true);
        stop
    }

    pub fn run(mut self, rx: Receiver<Msg>) {
        let mut next_tick = Instant::now() + self.flush_interval;
        loop {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            match rx.recv_timeout(timeout) {
                Ok(Msg::Chunk(chunk)) => {
                    self.accept(chunk);
                    // Spilled chunks go back in as soon as there is room, not only on ticks.
                    while let Some(spilled) = self.queue.take_spilled(self.max_events, false) {
                        self.queue.admit_spilled(&spilled);
                        self.accept(spilled);
                    }
                }
                Ok(Msg::Flush(reply)) => {
                    let mut replies = vec![reply];
                    let stop = self.drain_all(&rx, &mut replies);
                    for r in replies {
                        let _ = r.send(());
                    }
                    if stop {
                        return;
                    }
                }
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    let mut replies = Vec::new();
                    self.drain_all(&rx, &mut replies);
                    for r in replies {
                        let _ = r.send(());
                    }
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= next_tick {
                self.collect(false);
                next_tick = Instant::now() + self.flush_interval;
            }
        }
    }
}
