//! MessagePack writing for the record encoder: the same compact forms rmp's `encode` picks,
//! pushed straight into a `Vec<u8>`. rmp writes through its `RmpWrite` layer one marker and
//! one slice at a time, 30-80 instructions a value; a record has 19 values and every event
//! is one, so the writing is done here (rmp still reads them back).

#[inline]
pub(crate) fn nil(out: &mut Vec<u8>) {
    out.push(0xc0);
}

#[inline]
pub(crate) fn bool(out: &mut Vec<u8>, value: bool) {
    out.push(if value { 0xc3 } else { 0xc2 });
}

/// A positive fixint (0 to 127).
#[inline]
pub(crate) fn pfix(out: &mut Vec<u8>, value: u8) {
    debug_assert!(value < 0x80);
    out.push(value & 0x7f);
}

#[inline]
pub(crate) fn uint(out: &mut Vec<u8>, value: u64) {
    if value < 0x80 {
        out.push(value as u8);
    } else if value <= u64::from(u8::MAX) {
        out.extend_from_slice(&[0xcc, value as u8]);
    } else if value <= u64::from(u16::MAX) {
        out.push(0xcd);
        out.extend_from_slice(&(value as u16).to_be_bytes());
    } else if value <= u64::from(u32::MAX) {
        out.push(0xce);
        out.extend_from_slice(&(value as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&value.to_be_bytes());
    }
}

#[inline]
pub(crate) fn sint(out: &mut Vec<u8>, value: i64) {
    if value >= 0 {
        uint(out, value as u64);
    } else if value >= -32 {
        out.push(value as i8 as u8);
    } else if value >= i64::from(i8::MIN) {
        out.extend_from_slice(&[0xd0, value as i8 as u8]);
    } else if value >= i64::from(i16::MIN) {
        out.push(0xd1);
        out.extend_from_slice(&(value as i16).to_be_bytes());
    } else if value >= i64::from(i32::MIN) {
        out.push(0xd2);
        out.extend_from_slice(&(value as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&value.to_be_bytes());
    }
}

#[inline]
pub(crate) fn f64(out: &mut Vec<u8>, value: f64) {
    let mut bytes = [0xcb; 9];
    bytes[1..].copy_from_slice(&value.to_be_bytes());
    out.extend_from_slice(&bytes);
}

/// A length with its marker: `fix` (the short form's base, for lengths below `fix_max`),
/// then the 8-bit form if there is one (`m8`, 0 for none), the 16- and the 32-bit forms.
/// Always inlined: its markers are constants at every call, which leaves one comparison.
#[inline(always)]
fn len(out: &mut Vec<u8>, n: usize, fix: u8, fix_max: usize, m8: u8, m16: u8, m32: u8) {
    if n < fix_max {
        out.push(fix | n as u8);
    } else if m8 != 0 && n <= usize::from(u8::MAX) {
        out.extend_from_slice(&[m8, n as u8]);
    } else if n <= usize::from(u16::MAX) {
        out.push(m16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(m32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

#[inline]
pub(crate) fn str(out: &mut Vec<u8>, value: &str) {
    len(out, value.len(), 0xa0, 32, 0xd9, 0xda, 0xdb);
    out.extend_from_slice(value.as_bytes());
}

#[inline]
pub(crate) fn bin(out: &mut Vec<u8>, value: &[u8]) {
    // Bin has no fix form: a length of 0 is still bin 8.
    len(out, value.len(), 0xc4, 0, 0xc4, 0xc5, 0xc6);
    out.extend_from_slice(value);
}

#[inline]
pub(crate) fn array_len(out: &mut Vec<u8>, n: u32) {
    len(out, n as usize, 0x90, 16, 0, 0xdc, 0xdd);
}

#[inline]
pub(crate) fn map_len(out: &mut Vec<u8>, n: u32) {
    len(out, n as usize, 0x80, 16, 0, 0xde, 0xdf);
}

#[cfg(test)]
mod tests {
    use rmp::encode;

    use super::*;

    fn same(ours: impl Fn(&mut Vec<u8>), theirs: impl Fn(&mut Vec<u8>)) {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        ours(&mut a);
        theirs(&mut b);
        assert_eq!(a, b);
    }

    #[test]
    fn every_form_is_the_one_rmp_writes() {
        let ints: Vec<i64> = [0i64, 1, 31, 32, 33, 127, 128, 255, 256, 65_535, 65_536]
            .into_iter()
            .chain([u32::MAX as i64, u32::MAX as i64 + 1, i64::MAX])
            .flat_map(|v| [v, -v])
            .chain([
                -129,
                -128,
                -32_768,
                -32_769,
                i32::MIN as i64,
                i32::MIN as i64 - 1,
                i64::MIN,
            ])
            .collect();
        for v in ints {
            same(|o| sint(o, v), |o| drop(encode::write_sint(o, v)));
            if v >= 0 {
                same(
                    |o| uint(o, v as u64),
                    |o| drop(encode::write_uint(o, v as u64)),
                );
            }
        }
        same(
            |o| uint(o, u64::MAX),
            |o| drop(encode::write_uint(o, u64::MAX)),
        );
        for n in [0usize, 1, 15, 16, 31, 32, 255, 256, 65_535, 65_536] {
            let text = "x".repeat(n);
            same(|o| str(o, &text), |o| drop(encode::write_str(o, &text)));
            same(
                |o| bin(o, text.as_bytes()),
                |o| drop(encode::write_bin(o, text.as_bytes())),
            );
            same(
                |o| array_len(o, n as u32),
                |o| drop(encode::write_array_len(o, n as u32)),
            );
            same(
                |o| map_len(o, n as u32),
                |o| drop(encode::write_map_len(o, n as u32)),
            );
        }
        for v in [0.0, -1.5, f64::MAX, f64::MIN_POSITIVE] {
            same(|o| f64(o, v), |o| drop(encode::write_f64(o, v)));
        }
        for b in [true, false] {
            same(|o| bool(o, b), |o| drop(encode::write_bool(o, b)));
        }
        same(nil, |o| drop(encode::write_nil(o)));
        same(|o| pfix(o, 7), |o| drop(encode::write_pfix(o, 7)));
    }
}
