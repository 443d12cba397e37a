//! UUIDv7 ids from a per-thread generator: one `getrandom` call seeds a thread, after that an
//! id costs a few nanoseconds instead of a syscall. The seed is redrawn in a forked child so
//! parent and child never produce the same sequence.

use std::cell::Cell;

use uuid::Uuid;

use crate::fork;

thread_local! {
    // (fork generation the state was seeded in, wyrand state)
    static RNG: Cell<(u64, u64)> = const { Cell::new((u64::MAX, 0)) };
}

fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: fall back to something unique to this process and moment.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        return t ^ (u64::from(std::process::id()) << 32);
    }
    u64::from_le_bytes(bytes)
}

/// wyrand: a tiny, fast, well-distributed generator; not for secrets, fine for id bits.
/// Fills `out` with one thread-local access.
fn fill_random(out: &mut [u64]) {
    RNG.with(|cell| {
        let generation = fork::generation();
        let (gen, mut state) = cell.get();
        if gen != generation {
            state = seed();
        }
        for slot in out.iter_mut() {
            state = state.wrapping_add(0xa076_1d64_78bd_642f);
            let t = u128::from(state) * u128::from(state ^ 0xe703_7ed1_a0b4_28db);
            *slot = ((t >> 64) ^ t) as u64;
        }
        cell.set((generation, state));
    })
}

pub(crate) fn next_random() -> u64 {
    let mut one = [0u64; 1];
    fill_random(&mut one);
    one[0]
}

/// A new UUIDv7 for the given Unix time in milliseconds.
#[inline]
pub fn new_v7(unix_millis: i64) -> Uuid {
    let mut words = [0u64; 2];
    fill_random(&mut words);
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&words[0].to_le_bytes());
    random[8..].copy_from_slice(&words[1].to_le_bytes()[..2]);
    uuid::Builder::from_unix_timestamp_millis(unix_millis.max(0) as u64, &random).into_uuid()
}

/// Two lowercase hex digits per byte value.
const HEX_PAIRS: [[u8; 2]; 256] = {
    let digits = *b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        pairs[b] = [digits[b >> 4], digits[b & 15]];
        b += 1;
    }
    pairs
};

/// `id` as lowercase hyphenated text in `out`: a table lookup per byte, about a quarter of
/// the instructions of uuid's formatter, which a job pays for its entity id.
pub(crate) fn hyphenated<'a>(id: &Uuid, out: &'a mut [u8; 36]) -> &'a str {
    let bytes = id.as_bytes();
    let mut at = 0;
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out[at] = b'-';
            at += 1;
        }
        out[at..at + 2].copy_from_slice(&HEX_PAIRS[usize::from(*byte)]);
        at += 2;
    }
    // Only ASCII was written.
    std::str::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_v7_and_distinct() {
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let id = new_v7(1_764_232_417_123);
            assert_eq!(id.get_version_num(), 7);
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn hyphenated_text_is_uuids() {
        let mut out = [0u8; 36];
        for id in [Uuid::nil(), Uuid::max(), new_v7(1_764_232_417_123)] {
            assert_eq!(hyphenated(&id, &mut out), id.hyphenated().to_string());
        }
    }
}
