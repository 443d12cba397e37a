//! One byte scan, 8 bytes at a time, that the control-character check of validation and
//! the JSON writer's escape check share: whether any byte is below 0x20 or one of two others.

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
/// What fills a short string's word: a byte neither scan looks for.
const PAD: u8 = b'a';

/// Whether any byte of `bytes` is below 0x20, `a` or `b` (neither of which may be `PAD`).
#[inline]
pub(crate) fn any_control_or(bytes: &[u8], a: u8, b: u8) -> bool {
    // A byte of `word` is zero: (word - ONES) & !word has its high bit set.
    let zero_byte = |word: u64| word.wrapping_sub(ONES) & !word & HIGHS;
    let flagged = |word: u64| {
        // Below 0x20: clear the low five bits, and it is zero.
        zero_byte(word & u64::from_ne_bytes([0xe0; 8]))
            | zero_byte(word ^ u64::from_ne_bytes([a; 8]))
            | zero_byte(word ^ u64::from_ne_bytes([b; 8]))
    };
    // Flags are only or-ed, so overlapping loads are harmless: short strings (most names)
    // take one or two loads instead of a copy into a padded word.
    let word = |at: &[u8]| u64::from_le_bytes(at[..8].try_into().unwrap_or([PAD; 8]));
    let half = |at: &[u8]| u32::from_le_bytes(at[..4].try_into().unwrap_or([PAD; 4]));
    let n = bytes.len();
    let seen = if n >= 8 {
        let mut chunks = bytes.chunks_exact(8);
        let mut seen = 0;
        for chunk in &mut chunks {
            seen |= flagged(word(chunk));
        }
        if !chunks.remainder().is_empty() {
            seen |= flagged(word(&bytes[n - 8..]));
        }
        seen
    } else if n >= 4 {
        let padding = u64::from_le_bytes([PAD; 8]) & 0xffff_ffff_0000_0000;
        flagged(u64::from(half(bytes)) | padding)
            | flagged(u64::from(half(&bytes[n - 4..])) | padding)
    } else if n > 0 {
        // Bytes 0, n/2 and n-1 are every byte of a string of 1 to 3.
        flagged(u64::from_le_bytes([
            bytes[0],
            bytes[n / 2],
            bytes[n - 1],
            PAD,
            PAD,
            PAD,
            PAD,
            PAD,
        ]))
    } else {
        0
    };
    seen != 0
}
