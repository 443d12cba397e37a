//! A bounded set of recently delivered event ids, oldest forgotten first: a writer that may
//! see a batch again (a retry after a partial failure) skips what it already delivered.

#[cfg(any(feature = "cloudwatch", feature = "kafka"))]
use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

#[cfg(any(feature = "cloudwatch", feature = "kafka"))]
use uuid::Uuid;

/// A quick hash for keys the process made itself (event ids, entity ids): a writer looks
/// them up several times per event, where SipHash's resistance to chosen keys buys nothing.
#[derive(Default)]
pub(crate) struct QuickHasher(u64);

impl Hasher for QuickHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.write(&n.to_le_bytes());
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type Quick = BuildHasherDefault<QuickHasher>;

// The set is for the writers that skip what they delivered; sqs needs only the hasher.

/// How many ids are remembered (enough for the batches a lane may retry).
#[cfg(any(feature = "cloudwatch", feature = "kafka"))]
pub(crate) const REMEMBERED_IDS: usize = 65_536;

#[cfg(any(feature = "cloudwatch", feature = "kafka"))]
#[derive(Default)]
pub(crate) struct RecentIds {
    set: HashSet<Uuid, Quick>,
    order: VecDeque<Uuid>,
}

#[cfg(any(feature = "cloudwatch", feature = "kafka"))]
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
    use uuid::Uuid;

    #[cfg(any(feature = "cloudwatch", feature = "kafka"))]
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

    #[test]
    fn the_quick_hash_tells_ids_apart_in_every_byte() {
        use std::hash::BuildHasher;
        let hash = |id: Uuid| Quick::default().hash_one(id);
        let base = Uuid::now_v7();
        for byte in 0..16 {
            let mut bytes = *base.as_bytes();
            bytes[byte] ^= 1;
            assert_ne!(hash(base), hash(Uuid::from_bytes(bytes)), "byte {byte}");
        }
    }
}
