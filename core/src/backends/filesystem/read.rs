//! Reading back what the filesystem backend writes: `<root>/<site>/<app>/events-YYYY-MM-DD[.N].jsonl`.
//! Files whose day lies outside the requested range are not opened; within a file every
//! line is parsed, and lines that are not events (a torn tail, a hand edit) are counted and
//! skipped.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::layout;
use crate::backends::read::{Earliest, ExternalEvent, ExternalQuery, QueryOutcome};

const DAY_MICROS: i64 = 86_400_000_000;

pub fn query(root: &Path, q: &ExternalQuery) -> Result<QueryOutcome, String> {
    let mut outcome = QueryOutcome::default();
    let mut earliest = Earliest::new(q.limit);
    for file in files_in_range(root, q.start, q.end)? {
        q.check_deadline(&format!("{} files", outcome.files_scanned))?;
        outcome.files_scanned += 1;
        let reader = match fs::File::open(&file) {
            Ok(f) => BufReader::new(f),
            Err(e) => return Err(format!("cannot open {}: {e}", file.display())),
        };
        for line in reader.split(b'\n') {
            let line = line.map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Some(event) = ExternalEvent::from_json_line(&line) else {
                outcome.skipped_lines += 1;
                continue;
            };
            if q.admits(&event) {
                earliest.push(event);
            }
        }
    }
    earliest.finish_into(&mut outcome);
    Ok(outcome)
}

/// Every `events-*.jsonl` two levels below `root` whose day can hold events in [start, end).
fn files_in_range(root: &Path, start: i64, end: i64) -> Result<Vec<PathBuf>, String> {
    if !root.is_dir() {
        return Err(format!("{} is not a folder", root.display()));
    }
    let mut files = Vec::new();
    for site in subdirs(root)? {
        for app in subdirs(&site)? {
            let entries =
                fs::read_dir(&app).map_err(|e| format!("cannot list {}: {e}", app.display()))?;
            for entry in entries.flatten() {
                let path = entry.path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                if !name.ends_with(".jsonl") {
                    continue;
                }
                match day_of(name) {
                    Some(day) if day + DAY_MICROS <= start || day >= end => {}
                    // Names without a day (renamed by hand) are read rather than missed.
                    _ => files.push(path),
                }
            }
        }
    }
    files.sort();
    Ok(files)
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    Ok(entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect())
}

/// Midnight UTC of the day a file of the backend's layout holds, in micros.
fn day_of(name: &str) -> Option<i64> {
    layout::day_start_micros(layout::parse_file_name(name)?.day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::read::Filters;
    use crate::event::Timestamp;

    fn line(id: u32, time: &str, site: &str) -> String {
        format!(
            r#"{{"v":1,"id":"0190b3c4-0000-7000-8000-{id:012}","seq":{id},"time":"{time}","site":"{site}","app":{{"name":"etch"}},"entity":{{"kind":"job","id":"J{id}"}},"kind":"started","status":"running"}}"#
        )
    }

    fn micros(t: &str) -> i64 {
        Timestamp::parse(t).unwrap().unix_micros()
    }

    #[test]
    fn reads_the_backend_layout_with_day_pruning_and_limits() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("fab1").join("etch");
        fs::create_dir_all(&app).unwrap();
        fs::write(
            app.join("events-2026-11-26.jsonl"),
            [
                line(1, "2026-11-26T23:59:59.000000Z", "fab1"),
                "{torn".to_string(),
            ]
            .join("\n"),
        )
        .unwrap();
        fs::write(
            app.join("events-2026-11-27.jsonl"),
            [
                line(3, "2026-11-27T10:00:00.000000Z", "fab1"),
                line(2, "2026-11-27T09:00:00.000000Z", "fab1"),
                line(4, "2026-11-27T11:00:00.000000Z", "fab2"),
            ]
            .join("\n")
                + "\n",
        )
        .unwrap();
        let q = ExternalQuery {
            start: micros("2026-11-27T00:00:00Z"),
            end: micros("2026-11-28T00:00:00Z"),
            filters: Filters::default(),
            limit: 2,
            deadline: None,
        };
        let out = query(dir.path(), &q).unwrap();
        // The file of the 26th is not even opened.
        assert_eq!(out.files_scanned, 1);
        assert_eq!(out.matched, 3);
        let ids: Vec<u64> = out.events.iter().map(|e| e.seq).collect();
        assert_eq!(ids, [2, 3]);

        let q = ExternalQuery {
            start: micros("2026-11-26T00:00:00Z"),
            filters: Filters {
                site: Some("fab1".into()),
                ..Filters::default()
            },
            limit: 10,
            ..q
        };
        let out = query(dir.path(), &q).unwrap();
        assert_eq!(out.skipped_lines, 1);
        let ids: Vec<u64> = out.events.iter().map(|e| e.seq).collect();
        assert_eq!(ids, [1, 2, 3]);
    }

    #[test]
    fn a_missing_root_is_an_error() {
        let q = ExternalQuery {
            start: 0,
            end: 1,
            filters: Filters::default(),
            limit: 1,
            deadline: None,
        };
        assert!(query(Path::new("/nonexistent/wafermon"), &q).is_err());
    }
}
