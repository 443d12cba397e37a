//! Recent answers of external sources, by source and query, for a short time and a bounded
//! number of entries. Errors are not kept: a source that comes back is used at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{ExternalQuery, Filters, QueryOutcome};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    source: String,
    start: i64,
    end: i64,
    limit: usize,
    filters: Filters,
}

impl Key {
    pub fn new(source: &str, q: &ExternalQuery) -> Key {
        Key {
            source: source.to_string(),
            start: q.start,
            end: q.end,
            limit: q.limit,
            filters: q.filters.clone(),
        }
    }
}

pub struct Cache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<Key, (Instant, Arc<QueryOutcome>)>>,
}

impl Cache {
    pub fn new(ttl: Duration, capacity: usize) -> Cache {
        Cache {
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn ttl(&self) -> Duration {
        if self.enabled() {
            self.ttl
        } else {
            Duration::ZERO
        }
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }

    pub fn get(&self, key: &Key) -> Option<Arc<QueryOutcome>> {
        if !self.enabled() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, outcome)| outcome.clone())
    }

    pub fn put(&self, key: Key, outcome: Arc<QueryOutcome>) {
        if !self.enabled() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        while entries.len() >= self.capacity && !entries.contains_key(&key) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => entries.remove(&k),
                None => break,
            };
        }
        entries.insert(key, (Instant::now(), outcome));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(start: i64) -> ExternalQuery {
        ExternalQuery {
            start,
            end: start + 10,
            filters: Filters::default(),
            limit: 5,
            deadline: None,
        }
    }

    fn outcome(matched: u64) -> Arc<QueryOutcome> {
        Arc::new(QueryOutcome {
            matched,
            ..QueryOutcome::default()
        })
    }

    #[test]
    fn keeps_answers_for_their_time_only() {
        let cache = Cache::new(Duration::from_millis(50), 8);
        let key = Key::new("a", &query(0));
        cache.put(key.clone(), outcome(3));
        assert_eq!(cache.get(&key).map(|o| o.matched), Some(3));
        assert!(cache.get(&Key::new("b", &query(0))).is_none());
        assert!(cache.get(&Key::new("a", &query(1))).is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get(&key).is_none());
    }

    #[test]
    fn holds_at_most_its_capacity_dropping_the_oldest() {
        let cache = Cache::new(Duration::from_secs(60), 3);
        for i in 0..5 {
            cache.put(Key::new("a", &query(i)), outcome(i as u64));
        }
        assert_eq!(cache.entries.lock().unwrap().len(), 3);
        assert!(cache.get(&Key::new("a", &query(0))).is_none());
        assert_eq!(
            cache.get(&Key::new("a", &query(4))).map(|o| o.matched),
            Some(4)
        );
    }

    #[test]
    fn a_zero_ttl_turns_it_off() {
        let cache = Cache::new(Duration::ZERO, 8);
        let key = Key::new("a", &query(0));
        cache.put(key.clone(), outcome(1));
        assert!(cache.get(&key).is_none());
    }
}
