//! Event timestamps: microseconds since the Unix epoch, written as RFC 3339 UTC with exactly
//! six fractional digits. Formatting is hand-rolled because it runs once per event on the
//! delivery path; parsing (input only) goes through the `time` crate.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time with microsecond precision, always UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// Now, from the monotonic clock and the wall clock's offset to it (`clock::now`): one
    /// vDSO read per event.
    #[inline]
    pub fn now() -> Self {
        super::clock::now().0
    }

    pub const fn from_unix_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    pub const fn unix_micros(self) -> i64 {
        self.0
    }

    pub fn unix_millis(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Parse RFC 3339 with any offset; the result is normalized to UTC. Sub-microsecond
    /// digits are truncated.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parsed =
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map_err(|e| format!("'{text}' is not an RFC 3339 timestamp ({e})"))?;
        let nanos = parsed.unix_timestamp_nanos();
        Ok(Timestamp((nanos.div_euclid(1000)) as i64))
    }

    /// The UTC calendar date as (year, month, day), for day-based file rotation.
    pub fn date(self) -> (i64, u32, u32) {
        civil_from_days(self.0.div_euclid(86_400_000_000))
    }

    /// Append the RFC 3339 form to `out`.
    pub fn write_rfc3339(self, out: &mut String) {
        let buf = self.rfc3339();
        // Only ASCII digits and separators are in the buffer.
        out.push_str(std::str::from_utf8(&buf).unwrap_or_default());
    }

    /// The RFC 3339 form on the stack (serializing a timestamp allocates nothing).
    pub(crate) fn rfc3339(self) -> [u8; 27] {
        let days = self.0.div_euclid(86_400_000_000);
        let in_day = self.0.rem_euclid(86_400_000_000);
        let (y, m, d) = civil_from_days(days);
        let secs = in_day / 1_000_000;
        let micros = in_day % 1_000_000;
        let (hh, mm, ss) = (secs / 3600, (secs / 60) % 60, secs % 60);
        let mut buf = [0u8; 27];
        put_digits(&mut buf[0..4], y.clamp(0, 9999) as u64);
        buf[4] = b'-';
        put_digits(&mut buf[5..7], m as u64);
        buf[7] = b'-';
        put_digits(&mut buf[8..10], d as u64);
        buf[10] = b'T';
        put_digits(&mut buf[11..13], hh as u64);
        buf[13] = b':';
        put_digits(&mut buf[14..16], mm as u64);
        buf[16] = b':';
        put_digits(&mut buf[17..19], ss as u64);
        buf[19] = b'.';
        put_digits(&mut buf[20..26], micros as u64);
        buf[26] = b'Z';
        buf
    }
}

fn put_digits(dst: &mut [u8], mut value: u64) {
    for slot in dst.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(27);
        self.write_rfc3339(&mut s);
        f.write_str(&s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let buf = self.rfc3339();
        serializer.serialize_str(std::str::from_utf8(&buf).unwrap_or_default())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_the_system_clock_in_microseconds() {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64;
        let now = Timestamp::now().unix_micros();
        let after = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64;
        // Within the microsecond `clock::now` allows for its offset.
        assert!(
            before - 1 <= now && now <= after + 1,
            "{before} {now} {after}"
        );
    }

    #[test]
    fn formats_with_microseconds_in_utc() {
        let t = Timestamp::from_unix_micros(1_764_232_417_123_456);
        assert_eq!(t.to_string(), "2025-11-27T08:33:37.123456Z");
        assert_eq!(
            Timestamp::from_unix_micros(0).to_string(),
            "1970-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn parses_offsets_and_round_trips() {
        let t = Timestamp::parse("2025-11-27T09:33:37.123456+01:00").unwrap();
        assert_eq!(t.to_string(), "2025-11-27T08:33:37.123456Z");
        assert_eq!(Timestamp::parse(&t.to_string()).unwrap(), t);
        assert!(Timestamp::parse("yesterday").is_err());
        assert_eq!(t.date(), (2025, 11, 27));
    }
}
