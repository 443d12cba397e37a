//! Reading back what the s3 backend writes: `<prefix>/<site>/yyyy/mm/dd/hh/<id>.jsonl[.gz]`
//! (`layout.rs` beside this file owns the names). Only the folders of the
//! hours that overlap the range are listed: one listing per hour for short ranges, a walk
//! that skips years, months and days outside the range for long ones. Objects are fetched a
//! few at a time, parsed (gzip by extension), filtered, deduplicated by id (a batch retried
//! with other boundaries may sit in two objects), and the earliest `limit` kept.

use std::io::Read;
use std::sync::Arc;

use super::layout;
use super::store::{build_store, describe};
use crate::backends::read::{Earliest, ExternalEvent, ExternalQuery, QueryOutcome};
use crate::config::S3Config;
use crate::event::Timestamp;
use object_store::aws::AmazonS3;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::task::JoinSet;

/// Objects fetched at once: enough to hide latency, few enough not to flood the server.
const PARALLEL_FETCHES: usize = 8;
/// Up to this many hours per site, each hour folder is listed directly; beyond, the folders
/// are walked from the year down, skipping those outside the range.
const DIRECT_HOURS: i64 = 48;

/// Read the bucket on a runtime of its own, as the writer does: the core lends no async
/// runtime to its callers, and a few concurrent GETs need only one thread.
pub fn query(config: &S3Config, q: &ExternalQuery) -> Result<QueryOutcome, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the S3 reader's runtime: {e}"))?
        .block_on(query_async(config, q))
}

async fn query_async(config: &S3Config, q: &ExternalQuery) -> Result<QueryOutcome, String> {
    let store = Arc::new(
        build_store(config).map_err(|e| format!("cannot build the S3 client: {}", e.message()))?,
    );
    let reader = Reader {
        store,
        bucket: config.bucket.clone(),
        prefix: config.prefix.clone(),
    };
    let sites = match &q.filters.site {
        Some(site) => vec![layout::site_segment(site)],
        None => reader.sites().await?,
    };
    let mut keys = Vec::new();
    for site in &sites {
        keys.extend(reader.objects_of(site, q.start, q.end).await?);
    }
    keys.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
    reader.read(keys, q).await
}

struct Reader {
    store: Arc<AmazonS3>,
    bucket: String,
    prefix: String,
}

/// An object to read and whether it is gzip.
type Object = (Path, bool);

impl Reader {
    /// Folders and objects right below `folder`.
    async fn list(&self, folder: &str) -> Result<(Vec<String>, Vec<Path>), String> {
        let path = (!folder.is_empty()).then(|| Path::from(folder));
        let listing = self
            .store
            .list_with_delimiter(path.as_ref())
            .await
            .map_err(|e| describe(&format!("list s3://{}/{folder}", self.bucket), &e))?;
        let folders = listing
            .common_prefixes
            .into_iter()
            .map(|p| p.to_string())
            .collect();
        let objects = listing.objects.into_iter().map(|m| m.location).collect();
        Ok((folders, objects))
    }

    /// The site segments under the prefix.
    async fn sites(&self) -> Result<Vec<String>, String> {
        let (folders, _) = self.list(&self.prefix).await?;
        Ok(folders
            .iter()
            .filter_map(|f| f.rsplit('/').next().map(str::to_string))
            .collect())
    }

    /// The backend's objects of one site whose hour overlaps [start, end).
    async fn objects_of(&self, site: &str, start: i64, end: i64) -> Result<Vec<Object>, String> {
        let first = layout::hour_of(start);
        let last = layout::hour_of(end - 1);
        let mut found = Vec::new();
        if last - first < DIRECT_HOURS {
            for hour in first..=last {
                let folder = layout::hour_folder(&self.prefix, site, hour);
                found.extend(self.list(&folder).await?.1);
            }
        } else {
            let site_folder = match self.prefix.as_str() {
                "" => site.to_string(),
                prefix => format!("{prefix}/{site}"),
            };
            // Years, months, days, hours: four levels of folders, each pruned by its span.
            let mut level = vec![site_folder];
            for _ in 0..4 {
                let mut next = Vec::new();
                for folder in level {
                    let (children, _) = self.list(&folder).await?;
                    next.extend(
                        children
                            .into_iter()
                            .filter(|c| overlaps(&self.prefix, site, c, start, end)),
                    );
                }
                level = next;
            }
            for folder in level {
                found.extend(self.list(&folder).await?.1);
            }
        }
        Ok(found
            .into_iter()
            .filter_map(|path| {
                let info = layout::parse_key(&self.prefix, path.as_ref())?;
                let in_range = info.hour >= first && info.hour <= last;
                (in_range && info.site_segment == site).then_some((path, info.gzip))
            })
            .collect())
    }

    /// Fetch and parse the objects, `PARALLEL_FETCHES` at a time; keep the earliest matches.
    async fn read(&self, objects: Vec<Object>, q: &ExternalQuery) -> Result<QueryOutcome, String> {
        let mut outcome = QueryOutcome::default();
        let mut earliest = Earliest::new(q.limit);
        let mut pending = objects.into_iter();
        let mut running: JoinSet<Result<Parsed, String>> = JoinSet::new();
        loop {
            q.check_deadline(&format!("{} objects", outcome.files_scanned))?;
            while running.len() < PARALLEL_FETCHES {
                let Some((path, gzip)) = pending.next() else {
                    break;
                };
                let store = self.store.clone();
                let what = format!("get s3://{}/{path}", self.bucket);
                running.spawn(async move {
                    let bytes = async { store.get(&path).await?.bytes().await }
                        .await
                        .map_err(|e| describe(&what, &e))?;
                    // Inflating and parsing is CPU work: off the async threads.
                    tokio::task::spawn_blocking(move || parse(&bytes, gzip))
                        .await
                        .map_err(|e| format!("{what}: {e}"))?
                        .map_err(|e| format!("{what}: {e}"))
                });
            }
            let Some(done) = running.join_next().await else {
                break;
            };
            let parsed = done.map_err(|e| format!("an S3 read failed: {e}"))??;
            outcome.files_scanned += 1;
            outcome.skipped_lines += parsed.skipped;
            for event in parsed.events {
                // An event can sit in two objects (a retry cut at other boundaries): the
                // keeper takes one copy.
                if q.admits(&event) {
                    earliest.push(event);
                }
            }
        }
        earliest.finish_into(&mut outcome);
        Ok(outcome)
    }
}

/// Whether a year, month, day or hour folder of a site can hold events in [start, end).
/// Folders that are not dates (someone else's keys) are skipped.
fn overlaps(prefix: &str, site: &str, folder: &str, start: i64, end: i64) -> bool {
    let base = match prefix {
        "" => format!("{site}/"),
        p => format!("{p}/{site}/"),
    };
    let Some(rest) = folder.strip_prefix(&base) else {
        return false;
    };
    let parts: Vec<i64> = match rest.split('/').map(|p| p.parse().ok()).collect() {
        Some(parts) => parts,
        None => return false,
    };
    let span =
        |from: (i64, i64, i64, i64), to: (i64, i64, i64, i64)| match (micros(from), micros(to)) {
            (Some(a), Some(b)) => a < end && b > start,
            _ => false,
        };
    match parts.as_slice() {
        [y] => span((*y, 1, 1, 0), (y + 1, 1, 1, 0)),
        [y, m] if (1..=12).contains(m) => {
            let next = if *m == 12 { (y + 1, 1) } else { (*y, m + 1) };
            span((*y, *m, 1, 0), (next.0, next.1, 1, 0))
        }
        [y, m, d] => micros((*y, *m, *d, 0))
            .map(|a| a < end && a + 24 * layout::HOUR_MICROS > start)
            .unwrap_or(false),
        [y, m, d, h] if (0..24).contains(h) => micros((*y, *m, *d, *h))
            .map(|a| a < end && a + layout::HOUR_MICROS > start)
            .unwrap_or(false),
        _ => false,
    }
}

/// Micros of `yyyy-mm-ddThh:00:00Z`, None for dates that do not exist.
fn micros((y, m, d, h): (i64, i64, i64, i64)) -> Option<i64> {
    Timestamp::parse(&format!("{y:04}-{m:02}-{d:02}T{h:02}:00:00Z"))
        .ok()
        .map(Timestamp::unix_micros)
}

struct Parsed {
    events: Vec<ExternalEvent>,
    skipped: u64,
}

fn parse(bytes: &[u8], gzip: bool) -> Result<Parsed, String> {
    let mut inflated = Vec::new();
    let text: &[u8] = if gzip {
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut inflated)
            .map_err(|e| format!("not gzip: {e}"))?;
        &inflated
    } else {
        bytes
    };
    let mut parsed = Parsed {
        events: Vec::new(),
        skipped: 0,
    };
    for line in text.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match ExternalEvent::from_json_line(line) {
            Some(event) => parsed.events.push(event),
            None => parsed.skipped += 1,
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        Timestamp::parse(text).unwrap().unix_micros()
    }

    #[test]
    fn folders_are_pruned_by_their_span() {
        let (start, end) = (at("2026-02-28T23:30:00Z"), at("2026-03-01T01:00:00Z"));
        let yes = |f: &str| overlaps("p", "s", f, start, end);
        assert!(yes("p/s/2026"));
        assert!(!yes("p/s/2025"));
        assert!(yes("p/s/2026/02"));
        assert!(yes("p/s/2026/03"));
        assert!(!yes("p/s/2026/04"));
        assert!(yes("p/s/2026/02/28"));
        assert!(!yes("p/s/2026/02/27"));
        assert!(yes("p/s/2026/02/28/23"));
        assert!(!yes("p/s/2026/02/28/22"));
        assert!(yes("p/s/2026/03/01/00"));
        assert!(!yes("p/s/2026/03/01/01"), "end is exclusive");
        assert!(!yes("p/s/notes"));
        assert!(!yes("p/other/2026"));
        assert!(overlaps(
            "",
            "s",
            "s/2026/12",
            at("2026-12-31T00:00:00Z"),
            at("2027-01-02T00:00:00Z")
        ));
    }

    #[test]
    fn gzip_and_plain_objects_parse_alike() {
        let line = r#"{"v":1,"id":"0190b3c4-0000-7000-8000-000000000001","seq":3,"time":"2026-11-27T10:00:00.000000Z","site":"f","app":{"name":"a"},"entity":{"kind":"job","id":"J"},"kind":"started","status":"running"}"#;
        let body = format!("{line}\n{{torn\n\n");
        let plain = parse(body.as_bytes(), false).unwrap();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut encoder, body.as_bytes()).unwrap();
        let gz = parse(&encoder.finish().unwrap(), true).unwrap();
        for p in [plain, gz] {
            assert_eq!(p.events.len(), 1);
            assert_eq!(p.skipped, 1);
            assert_eq!(p.events[0].seq, 3);
            assert_eq!(p.events[0].time, at("2026-11-27T10:00:00Z"));
        }
        assert!(parse(b"not gzip", true).is_err());
    }
}
