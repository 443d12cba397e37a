//! Where the filesystem backend keeps events, and how its reader finds them again:
//! `<root>/<site>/<app>/events-YYYY-MM-DD[.N].<ext>`, one file set per site/app and UTC day,
//! `.N` counting the files a day was rotated into by size. Writer and reader both go through
//! here, so the two can never disagree about a name.

use std::path::{Path, PathBuf};

/// A UTC calendar day: (year, month, day).
pub type Day = (i64, u32, u32);

/// A path component that cannot escape its folder: letters, digits, `-`, `_` and `.` stay,
/// anything else (`/` above all) becomes `_`, and an empty or dot-led name gets a leading `_`
/// ("." and ".." are not names). The S3 backend's keys follow the same rule.
pub(crate) fn component(raw: &str) -> String {
    let mut cleaned: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() || cleaned.starts_with('.') {
        cleaned.insert(0, '_');
    }
    cleaned
}

/// The folder holding the files of one site/app.
pub fn folder(root: &Path, site: &str, app: &str) -> PathBuf {
    root.join(component(site)).join(component(app))
}

/// The name of a day's file number `index` (0 for the first, which has no number).
pub fn file_name(day: Day, index: u32, extension: &str) -> String {
    let (y, m, d) = day;
    if index == 0 {
        format!("events-{y:04}-{m:02}-{d:02}.{extension}")
    } else {
        format!("events-{y:04}-{m:02}-{d:02}.{index}.{extension}")
    }
}

/// A file name this layout makes, taken apart: its day, index and extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileName<'a> {
    pub day: Day,
    pub index: u32,
    pub extension: &'a str,
}

/// The parts of `name`, or None for a file this layout never writes.
pub fn parse_file_name(name: &str) -> Option<FileName<'_>> {
    let rest = name.strip_prefix("events-")?;
    let date = rest.get(..10)?;
    let [y, m, d] = {
        let mut parts = date.split('-');
        [parts.next()?, parts.next()?, parts.next()?]
    };
    let all_digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !(all_digits(y, 4) && all_digits(m, 2) && all_digits(d, 2)) {
        return None;
    }
    let day = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let rest = rest.get(10..)?.strip_prefix('.')?;
    let (index, extension) = match rest.split_once('.') {
        Some((n, ext)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            (n.parse().ok()?, ext)
        }
        _ => (0, rest),
    };
    (!extension.is_empty() && !extension.contains('.')).then_some(FileName {
        day,
        index,
        extension,
    })
}

/// Midnight UTC at the start of `day`, in microseconds since the epoch.
pub fn day_start_micros((y, m, d): Day) -> Option<i64> {
    crate::event::Timestamp::parse(&format!("{y:04}-{m:02}-{d:02}T00:00:00Z"))
        .ok()
        .map(crate::event::Timestamp::unix_micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (day, index, ext) in [((2026, 11, 27), 0, "jsonl"), ((1999, 1, 2), 12, "csv")] {
            let name = file_name(day, index, ext);
            assert_eq!(
                parse_file_name(&name),
                Some(FileName {
                    day,
                    index,
                    extension: ext
                }),
                "{name}"
            );
        }
        assert_eq!(
            file_name((2026, 1, 5), 0, "jsonl"),
            "events-2026-01-05.jsonl"
        );
        assert_eq!(file_name((2026, 1, 5), 3, "csv"), "events-2026-01-05.3.csv");
    }

    #[test]
    fn foreign_names_are_not_taken_apart() {
        for name in [
            "events.jsonl",
            "events-2026-1-05.jsonl",
            "events-2026-01-05",
            "events-2026-01-05.",
            "events-2026-01-05.x.jsonl",
            "other-2026-01-05.jsonl",
            "events-2026-01-05.jsonl.gz",
        ] {
            assert_eq!(parse_file_name(name), None, "{name}");
        }
    }

    #[test]
    fn components_cannot_escape_their_folder() {
        assert_eq!(component("fab/1"), "fab_1");
        assert_eq!(component(".."), "_..");
        assert_eq!(component(""), "_");
        assert_eq!(
            folder(Path::new("/d"), "fab1", "etch cell"),
            Path::new("/d/fab1/etch_cell")
        );
        assert_eq!(day_start_micros((1970, 1, 2)), Some(86_400_000_000));
    }
}
