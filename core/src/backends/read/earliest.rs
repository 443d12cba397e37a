//! The readers' common tail: of the events that match a query, keep the earliest `limit`,
//! count them all, and hand them back oldest first. Each reader only decides which events
//! to offer.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};

use super::{ExternalEvent, QueryOutcome};

/// The earliest `limit` matches seen so far, and how many matched in all. A copy of a kept
/// event (same id: a batch the backend wrote twice) is neither kept nor counted again, so
/// memory stays bounded by `limit`; a copy of an event already pushed out by earlier ones
/// can still count twice in `matched`.
pub struct Earliest {
    limit: usize,
    // A max-heap: its top is the latest kept, the first to go when a match is earlier.
    kept: BinaryHeap<Ranked>,
    kept_ids: HashSet<String>,
    matched: u64,
}

impl Earliest {
    pub fn new(limit: usize) -> Self {
        Earliest {
            limit,
            kept: BinaryHeap::with_capacity(limit.saturating_add(1)),
            kept_ids: HashSet::new(),
            matched: 0,
        }
    }

    /// Count a match and keep it if it is among the earliest `limit` so far.
    pub fn push(&mut self, event: ExternalEvent) {
        if self.kept_ids.contains(&event.id) {
            return;
        }
        self.matched += 1;
        self.kept_ids.insert(event.id.clone());
        self.kept.push(Ranked(event));
        if self.kept.len() > self.limit {
            if let Some(Ranked(latest)) = self.kept.pop() {
                self.kept_ids.remove(&latest.id);
            }
        }
    }

    /// Matches pushed so far, kept or not.
    pub fn matched(&self) -> u64 {
        self.matched
    }

    /// Move the kept events, oldest first, and the match count into `outcome`.
    pub fn finish_into(self, outcome: &mut QueryOutcome) {
        outcome.matched = self.matched;
        outcome.events = self
            .kept
            .into_sorted_vec()
            .into_iter()
            .map(|r| r.0)
            .collect();
    }
}

/// Ordered by (time, seq, id) so ties resolve the same way every run and in every reader.
struct Ranked(ExternalEvent);

impl Ranked {
    fn key(&self) -> (i64, u64, &str) {
        (self.0.time, self.0.seq, &self.0.id)
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn event(time: i64, seq: u64, id: &str) -> ExternalEvent {
        ExternalEvent {
            time,
            seq,
            id: id.to_string(),
            body: Value::Null,
        }
    }

    #[test]
    fn keeps_the_earliest_oldest_first_and_counts_all() {
        let mut earliest = Earliest::new(2);
        for (time, seq, id) in [(30, 0, "c"), (10, 1, "b"), (40, 0, "d"), (10, 0, "a")] {
            earliest.push(event(time, seq, id));
        }
        assert_eq!(earliest.matched(), 4);
        let mut outcome = QueryOutcome::default();
        earliest.finish_into(&mut outcome);
        let ids: Vec<&str> = outcome.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(outcome.matched, 4);
    }

    #[test]
    fn copies_of_a_kept_event_are_kept_and_counted_once() {
        let mut earliest = Earliest::new(3);
        for (time, id) in [(10, "a"), (20, "b"), (10, "a"), (20, "b"), (30, "c")] {
            earliest.push(event(time, 0, id));
        }
        let mut outcome = QueryOutcome::default();
        earliest.finish_into(&mut outcome);
        let ids: Vec<&str> = outcome.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(outcome.matched, 3);
    }

    #[test]
    fn a_zero_limit_keeps_nothing_but_still_counts() {
        let mut earliest = Earliest::new(0);
        earliest.push(event(1, 0, "a"));
        let mut outcome = QueryOutcome::default();
        earliest.finish_into(&mut outcome);
        assert!(outcome.events.is_empty());
        assert_eq!(outcome.matched, 1);
    }
}
