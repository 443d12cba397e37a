//! A bounded set of recently delivered event ids, oldest forgotten first: a writer that may
//! see a batch again (a retry after a partial failure) skips what it already delivered.

use std::collections::{HashSet, VecDeque};

use uuid::Uuid;

/// How many ids are remembered (enough for the batches a lane may retry).
pub(crate) const REMEMBERED_IDS: usize = 65_536;

#[derive(Default)]
pub(crate) struct RecentIds {
    set: HashSet<Uuid>,
    order: VecDeque<Uuid>,
}

impl RecentIds {
    pub(crate) fn contains(&self, id: &Uuid) -> bool {
        self.set.contains(id)
    }

    pub(crate) fn insert(&mut self, id: Uuid) {
        if self.set.insert(id) {
            self.order.push_back(id);
            if self.order.len() > REMEMBERED_IDS {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_ids_forget_the_oldest() {
        let mut ids = RecentIds::default();
        let first = Uuid::from_u128(0);
        for i in 0..=REMEMBERED_IDS as u128 {
            ids.insert(Uuid::from_u128(i));
        }
        assert!(!ids.contains(&first));
        assert!(ids.contains(&Uuid::from_u128(REMEMBERED_IDS as u128)));
    }
}
