//! Filesystem backend: JSONL or CSV files, one file set per site/app, rotated by size and by
//! UTC day: `<path>/<site>/<app>/events-YYYY-MM-DD[.N].jsonl`. Each batch is appended with one
//! write per file, so concurrent writers on the same file never interleave lines.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::layout::{self, Day};
use crate::backends::{Backend, DeliveryError};
use crate::config::{FileFormat, FilesystemConfig};
use crate::event::{json, EventRef};
use crate::pipeline::Batch;

/// CSV columns, in order; metrics and attrs are JSON objects in one column each.
pub const CSV_COLUMNS: &[&str] = &[
    "v",
    "id",
    "seq",
    "time",
    "site",
    "app_name",
    "app_version",
    "app_instance",
    "entity_kind",
    "entity_id",
    "entity_name",
    "entity_parent",
    "entity_key",
    "kind",
    "status",
    "progress",
    "level",
    "message",
    "metrics",
    "attrs",
];

/// Files kept open at once (one per site/app); more are closed and reopened on demand.
const MAX_OPEN_FILES: usize = 64;

struct OpenFile {
    date: Day,
    index: u32,
    size: u64,
    file: File,
}

pub struct Filesystem {
    config: FilesystemConfig,
    open: HashMap<(String, String), OpenFile>,
    scratch: Vec<u8>,
}

impl Filesystem {
    pub fn new(config: FilesystemConfig) -> Self {
        Filesystem {
            config,
            open: HashMap::new(),
            scratch: Vec::new(),
        }
    }

    /// Folder holding the files of one site/app.
    pub fn folder(root: &Path, site: &str, app: &str) -> PathBuf {
        layout::folder(root, site, app)
    }

    fn extension(&self) -> &'static str {
        match self.config.format {
            FileFormat::Jsonl => "jsonl",
            FileFormat::Csv => "csv",
        }
    }

    fn file_name(&self, date: Day, index: u32) -> String {
        layout::file_name(date, index, self.extension())
    }

    /// The highest existing index for a date (so a restart appends where it left off).
    fn last_index(&self, folder: &Path, date: Day) -> u32 {
        let extension = self.extension();
        fs::read_dir(folder)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|name| {
                layout::parse_file_name(&name)
                    .filter(|f| f.day == date && f.extension == extension)
                    .map(|f| f.index)
            })
            .max()
            .unwrap_or(0)
    }

    fn open_file(&self, folder: &Path, date: Day, index: u32) -> std::io::Result<OpenFile> {
        fs::create_dir_all(folder)?;
        let path = folder.join(self.file_name(date, index));
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(OpenFile {
            date,
            index,
            size,
            file,
        })
    }

    fn encode(
        &self,
        event: &EventRef<'_>,
        out: &mut Vec<u8>,
        header: bool,
    ) -> Result<(), DeliveryError> {
        match self.config.format {
            FileFormat::Jsonl => {
                json::write_event(out, event);
                out.push(b'\n');
            }
            FileFormat::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(&mut *out);
                let err =
                    |e: csv::Error| DeliveryError::permanent(format!("cannot write CSV: {e}"));
                if header {
                    w.write_record(CSV_COLUMNS).map_err(err)?;
                }
                let opt = |v: Option<&str>| v.unwrap_or_default().to_string();
                let json = |empty: bool, v: String| if empty { String::new() } else { v };
                w.write_record([
                    event.v.to_string(),
                    event.id.to_string(),
                    event.seq.to_string(),
                    event.time.to_string(),
                    event.site.to_string(),
                    event.app.name.to_string(),
                    opt(event.app.version),
                    opt(event.app.instance),
                    event.entity.kind.to_string(),
                    event.entity.id.to_string(),
                    opt(event.entity.name),
                    opt(event.entity.parent),
                    opt(event.entity.key),
                    event.kind.to_string(),
                    event.status.to_string(),
                    event.progress.map(|p| p.to_string()).unwrap_or_default(),
                    event.level.map(|l| l.to_string()).unwrap_or_default(),
                    opt(event.message),
                    json(
                        event.metrics.is_empty(),
                        serde_json::to_string(&event.metrics).unwrap_or_default(),
                    ),
                    json(
                        event.attrs.is_empty(),
                        serde_json::to_string(&event.attrs).unwrap_or_default(),
                    ),
                ])
                .map_err(err)?;
                w.flush()
                    .map_err(|e| DeliveryError::permanent(format!("cannot write CSV: {e}")))?;
            }
        }
        Ok(())
    }

    /// Make sure the file for `key` and `date` is open; returns its folder.
    fn ensure_open(&mut self, key: &(String, String), date: Day) -> Result<(), DeliveryError> {
        if self.open.get(key).is_some_and(|f| f.date == date) {
            return Ok(());
        }
        let folder = Filesystem::folder(&self.config.path, &key.0, &key.1);
        let index = self.last_index(&folder, date);
        let f = self
            .open_file(&folder, date, index)
            .map_err(|e| io_error(&folder, e))?;
        if self.open.len() >= MAX_OPEN_FILES {
            // Forwarded events of many apps: keep the number of open files bounded.
            self.open.clear();
        }
        self.open.insert(key.clone(), f);
        Ok(())
    }

    fn rotate(&mut self, key: &(String, String), date: Day) -> Result<(), DeliveryError> {
        let folder = Filesystem::folder(&self.config.path, &key.0, &key.1);
        let next = self.open.get(key).map_or(0, |f| f.index + 1);
        let f = self
            .open_file(&folder, date, next)
            .map_err(|e| io_error(&folder, e))?;
        self.open.insert(key.clone(), f);
        Ok(())
    }

    fn write_scratch(&mut self, key: &(String, String)) -> Result<(), DeliveryError> {
        if self.scratch.is_empty() {
            return Ok(());
        }
        let Some(f) = self.open.get_mut(key) else {
            return Err(DeliveryError::transient("events file is not open"));
        };
        if let Err(e) = f.file.write_all(&self.scratch) {
            // Cut what was half written (a full disk), so the retry does not leave a broken
            // line behind it.
            let _ = f.file.set_len(f.size);
            return Err(DeliveryError::transient(format!(
                "cannot append events: {e}"
            )));
        }
        f.size += self.scratch.len() as u64;
        self.scratch.clear();
        Ok(())
    }

    /// Events of one site/app and one day, appended with as few writes as rotation allows.
    fn write_run(
        &mut self,
        key: &(String, String),
        date: Day,
        events: &[EventRef<'_>],
    ) -> Result<(), DeliveryError> {
        self.ensure_open(key, date)?;
        self.scratch.clear();
        for event in events {
            let size = self.open.get(key).map_or(0, |f| f.size) + self.scratch.len() as u64;
            if size >= self.config.rotate_bytes {
                self.write_scratch(key)?;
                self.rotate(key, date)?;
            }
            let header = self.config.format == FileFormat::Csv
                && self.scratch.is_empty()
                && self.open.get(key).is_some_and(|f| f.size == 0);
            let mut scratch = std::mem::take(&mut self.scratch);
            let result = self.encode(event, &mut scratch, header);
            self.scratch = scratch;
            result?;
        }
        self.write_scratch(key)
    }

    fn date_of(&self, event: &EventRef<'_>) -> Day {
        if self.config.rotate_daily {
            event.time.date()
        } else {
            (0, 1, 1)
        }
    }
}

fn io_error(folder: &Path, e: std::io::Error) -> DeliveryError {
    DeliveryError::transient(format!("cannot write under {}: {e}", folder.display()))
}

impl Backend for Filesystem {
    fn send(&mut self, batch: &Batch) -> Result<(), DeliveryError> {
        // Views only: nothing of an event is copied on the way to the file.
        let events: Vec<EventRef<'_>> = batch.iter().collect();
        let mut start = 0;
        while start < events.len() {
            let first = &events[start];
            let date = self.date_of(first);
            let run = events[start..]
                .iter()
                .take_while(|e| {
                    e.site == first.site && e.app.name == first.app.name && self.date_of(e) == date
                })
                .count();
            let key = (first.site.to_string(), first.app.name.to_string());
            self.write_run(&key, date, &events[start..start + run])?;
            start += run;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DeliveryError> {
        for f in self.open.values_mut() {
            f.file
                .sync_data()
                .map_err(|e| DeliveryError::transient(format!("cannot sync events file: {e}")))?;
        }
        Ok(())
    }
}
