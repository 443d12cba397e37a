//! Keys of the `filesystem` backend (JSONL or CSV files under a folder).

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value;

use crate::config::from_value_at;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FilesystemConfig {
    pub path: PathBuf,
    pub format: FileFormat,
    /// Start a new file once the current one reaches this size.
    pub rotate_bytes: u64,
    /// Start a new file on each UTC day.
    pub rotate_daily: bool,
}

impl FilesystemConfig {
    /// JSONL under `path`, rotated at 64 MiB and daily (what an entry with only a path gets).
    pub fn jsonl(path: impl Into<PathBuf>) -> FilesystemConfig {
        FilesystemConfig {
            path: path.into(),
            format: FileFormat::Jsonl,
            rotate_bytes: 64 * 1024 * 1024,
            rotate_daily: true,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilesystem {
    #[serde(default = "default_data_dir")]
    path: String,
    #[serde(default = "default_jsonl")]
    format: String,
    #[serde(default = "default_rotate_mb")]
    rotate_size_mb: f64,
    #[serde(default = "yes")]
    rotate_daily: bool,
}

fn default_data_dir() -> String {
    "./wafermon-data".into()
}
fn default_jsonl() -> String {
    "jsonl".into()
}
fn default_rotate_mb() -> f64 {
    64.0
}
fn yes() -> bool {
    true
}

pub(crate) fn parse(value: Value, path: &str) -> Result<FilesystemConfig> {
    let raw: RawFilesystem = from_value_at(value, path)?;
    let format = match raw.format.as_str() {
        "jsonl" => FileFormat::Jsonl,
        "csv" => FileFormat::Csv,
        other => {
            return Err(Error::config(
                format!("{path}.format"),
                format!("'{other}' is not one of jsonl, csv"),
            ))
        }
    };
    if raw.rotate_size_mb.is_nan() || raw.rotate_size_mb <= 0.0 {
        return Err(Error::config(
            format!("{path}.rotate_size_mb"),
            "must be a positive number",
        ));
    }
    Ok(FilesystemConfig {
        path: PathBuf::from(raw.path),
        format,
        rotate_bytes: (raw.rotate_size_mb * 1024.0 * 1024.0) as u64,
        rotate_daily: raw.rotate_daily,
    })
}

impl crate::backends::registry::ServiceConfig for FilesystemConfig {
    fn inline_retries(&self) -> u32 {
        // Local writes fail for reasons a quick retry does not fix (disk full, permissions).
        0
    }
}
