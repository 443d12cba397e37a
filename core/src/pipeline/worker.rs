//! The worker: gathers chunks from the queue into batches (max events, flush interval),
//! gives every event its sequence number, and routes batches to the lanes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::lane::{Batch, Lane};
use super::queue::{Chunk, Msg, Queue};
use super::record::{self, Defaults};
use crate::event::{App, Event};

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

    pub fn route(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let shared: Batch = Arc::new(events);
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
                let picked: Vec<Event> = shared
                    .iter()
                    .filter(|e| lane.filter.accepts(e.kind, &e.entity.kind))
                    .cloned()
                    .collect();
                lane.push(Arc::new(picked));
            }
        }
    }
}

pub(crate) struct Worker {
    pub queue: Arc<Queue>,
    pub router: Router,
    pub max_events: usize,
    pub flush_interval: Duration,
    pub site: String,
    pub app: App,
    next_seq: u64,
    pending: Vec<Event>,
}

impl Worker {
    pub fn new(
        queue: Arc<Queue>,
        router: Router,
        max_events: usize,
        flush_interval: Duration,
        site: String,
        app: App,
    ) -> Worker {
        Worker {
            queue,
            router,
            max_events,
            flush_interval,
            site,
            app,
            next_seq: 1,
            pending: Vec::new(),
        }
    }

    fn decode_records<'a>(&mut self, records: impl Iterator<Item = &'a [u8]>) {
        for payload in records {
            let defaults = Defaults {
                site: &self.site,
                app: &self.app,
            };
            match record::decode(payload, &defaults, self.next_seq) {
                Ok(event) => {
                    // Forwarded events keep their own seq; ours skip that number, still
                    // strictly increasing.
                    self.next_seq += 1;
                    self.pending.push(event);
                }
                Err(_) => {
                    self.queue
                        .counters
                        .corrupt
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            if self.pending.len() >= self.max_events {
                self.dispatch();
            }
        }
    }

    fn accept(&mut self, chunk: Chunk) {
        self.decode_records(chunk.records());
        self.queue.release(chunk.bytes.len(), chunk.count as u64);
    }

    fn dispatch(&mut self) {
        if !self.pending.is_empty() {
            let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(self.max_events));
            self.router.route(batch);
        }
    }

    /// Route everything accepted so far: handed-over chunks, partial shards, spilled records.
    fn drain_all(
        &mut self,
        rx: &Receiver<Msg>,
        replies: &mut Vec<crossbeam_channel::Sender<()>>,
    ) -> bool {
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

    /// Take partial shards and spilled records (spilled ones only while the queue has room,
    /// unless `ignore_capacity`), and send off what is pending.
    fn collect(&mut self, ignore_capacity: bool) {
        for chunk in self.queue.steal_all() {
            self.accept(chunk);
        }
        while let Some(records) = self.queue.take_spilled(self.max_events, ignore_capacity) {
            if records.is_empty() {
                break;
            }
            self.decode_records(records.iter().map(Vec::as_slice));
        }
        self.dispatch();
    }

    pub fn run(mut self, rx: Receiver<Msg>) {
        let mut next_tick = Instant::now() + self.flush_interval;
        loop {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            match rx.recv_timeout(timeout) {
                Ok(Msg::Chunk(chunk)) => self.accept(chunk),
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
