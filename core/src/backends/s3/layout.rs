//! Where the s3 backend puts a batch, and how a reader finds it again:
//! `<prefix>/<site>/<yyyy>/<mm>/<dd>/<hh>/<first event id>.jsonl[.gz]`, date and hour of the
//! events in UTC. Every object holds events of one site and one hour only, so a reader lists
//! exactly the hours it needs. The name is a function of the events alone, so writing the same
//! events again replaces the object instead of adding a copy.

use uuid::Uuid;

use crate::config::Compression;
use crate::event::Timestamp;

pub const HOUR_MICROS: i64 = 3_600_000_000;

/// Extension of the objects, by compression.
pub fn extension(compression: Compression) -> &'static str {
    match compression {
        Compression::None => "jsonl",
        Compression::Gzip => "jsonl.gz",
    }
}

/// Hours since the epoch (the hour an event at `micros` falls in).
pub fn hour_of(micros: i64) -> i64 {
    micros.div_euclid(HOUR_MICROS)
}

/// A site as one key segment, by the filesystem backend's folder rule, so a site can never
/// reach into another site's keys; keys stay well under S3's 1024 bytes.
pub fn site_segment(site: &str) -> String {
    let mut out = crate::backends::filesystem::layout::component(site);
    out.truncate(200);
    out
}

/// `<prefix>/` or nothing.
fn prefixed(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_string()
    } else {
        format!("{prefix}/{rest}")
    }
}

/// `<prefix>/<site>/yyyy/mm/dd/hh`: the folder of one site's hour (`hour` from `hour_of`).
pub fn hour_folder(prefix: &str, site_segment: &str, hour: i64) -> String {
    prefixed(prefix, &format!("{site_segment}/{}", hour_path(hour)))
}

/// `<prefix>/<site>/yyyy/mm/dd`: the folder of one site's day.
pub fn day_folder(prefix: &str, site_segment: &str, hour: i64) -> String {
    let path = hour_path(hour);
    prefixed(prefix, &format!("{site_segment}/{}", &path[..10]))
}

/// `yyyy/mm/dd/hh`.
fn hour_path(hour: i64) -> String {
    let (y, m, d) = Timestamp::from_unix_micros(hour * HOUR_MICROS).date();
    let hh = hour.rem_euclid(24);
    format!("{y:04}/{m:02}/{d:02}/{hh:02}")
}

/// The key of the object holding a group of events of one site and hour, named after the
/// group's first event.
pub fn object_key(
    prefix: &str,
    site: &str,
    first_time: Timestamp,
    first_id: Uuid,
    compression: Compression,
) -> String {
    format!(
        "{}/{first_id}.{}",
        hour_folder(
            prefix,
            &site_segment(site),
            hour_of(first_time.unix_micros())
        ),
        extension(compression)
    )
}

/// What a key says: the site segment, the hour, and whether it is gzip. None for keys the
/// backend did not write (another layout, another extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub site_segment: String,
    pub hour: i64,
    pub gzip: bool,
}

pub fn parse_key(prefix: &str, key: &str) -> Option<KeyInfo> {
    let rest = if prefix.is_empty() {
        key
    } else {
        key.strip_prefix(prefix)?.strip_prefix('/')?
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let [site, y, m, d, h, name] = parts.as_slice() else {
        return None;
    };
    let gzip = if name.ends_with(".jsonl.gz") {
        true
    } else if name.ends_with(".jsonl") {
        false
    } else {
        return None;
    };
    let number = |text: &str, len: usize| -> Option<i64> {
        (text.len() == len && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse().ok())
            .flatten()
    };
    let (y, m, d, h) = (number(y, 4)?, number(m, 2)?, number(d, 2)?, number(h, 2)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 {
        return None;
    }
    let midnight = Timestamp::parse(&format!("{y:04}-{m:02}-{d:02}T00:00:00Z")).ok()?;
    Some(KeyInfo {
        site_segment: site.to_string(),
        hour: hour_of(midnight.unix_micros()) + h,
        gzip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_site_hour_and_first_event() {
        let t = Timestamp::parse("2026-11-27T13:59:59.999999Z").unwrap();
        let id = Uuid::parse_str("0190b3c4-0000-7000-8000-000000000001").unwrap();
        let key = object_key("wm/events", "fab 1/../x", t, id, Compression::Gzip);
        assert_eq!(
            key,
            "wm/events/fab_1_.._x/2026/11/27/13/0190b3c4-0000-7000-8000-000000000001.jsonl.gz"
        );
        let info = parse_key("wm/events", &key).unwrap();
        assert_eq!(info.site_segment, "fab_1_.._x");
        assert_eq!(info.hour, hour_of(t.unix_micros()));
        assert!(info.gzip);
        let plain = object_key("", ".hidden", t, id, Compression::None);
        assert!(plain.starts_with("_.hidden/2026/11/27/13/"), "{plain}");
        assert!(!parse_key("", &plain).unwrap().gzip);
        assert_eq!(parse_key("other", &key), None);
        assert_eq!(parse_key("wm", "wm/s/2026/11/27/13/x.txt"), None);
        assert_eq!(parse_key("wm", "wm/s/2026/13/27/13/x.jsonl"), None);
        assert_eq!(day_folder("p", "s", info.hour), "p/s/2026/11/27");
    }

    #[test]
    fn hours_before_1970_and_at_midnight() {
        let t = Timestamp::parse("1969-12-31T23:30:00Z").unwrap();
        assert_eq!(hour_of(t.unix_micros()), -1);
        assert_eq!(hour_folder("", "s", -1), "s/1969/12/31/23");
        assert_eq!(hour_folder("", "s", 0), "s/1970/01/01/00");
    }
}
