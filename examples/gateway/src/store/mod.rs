//! The managed store: every event once (idempotent on id and time) and the current state of
//! every entity. PostgreSQL (a TimescaleDB hypertable when the extension is available) or an
//! embedded SQLite file; both answer the same queries with the same results.

mod job_state;
mod postgres;
mod query;
mod rollup;
mod sqlite;

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt;

use wafermon::event::Event;

pub use self::job_state::{Ending, JobState};
pub use self::query::{Cursor, EventRange, JobFilter, StatsQuery};

/// An accepted event with its canonical JSON (what the store keeps and the API returns).
pub struct Incoming {
    pub event: Event,
    pub json: String,
}

/// A store failure; the message is safe to log, not meant for API clients.
#[derive(Debug)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

pub type Result<T> = std::result::Result<T, StoreError>;

pub struct JobPage {
    pub jobs: Vec<JobState>,
    pub next: Option<Cursor>,
}

pub struct JobDetail {
    pub job: JobState,
    pub subtree: Vec<JobState>,
    pub events: Vec<String>,
}

/// Finished entities of one group: how many, by status, and their duration percentiles.
#[derive(Debug, Clone, PartialEq)]
pub struct EndedJobs {
    pub count: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub canceled: i64,
    pub p50_duration_s: Option<f64>,
    pub p95_duration_s: Option<f64>,
}

/// One (app, time bucket) of finished entities; the bucket is an hour unless asked otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct HourStats {
    pub app: String,
    /// Start of the bucket, microseconds since the epoch.
    pub hour: i64,
    pub jobs: EndedJobs,
}

/// One app's finished entities over the whole window.
#[derive(Debug, Clone, PartialEq)]
pub struct AppSummary {
    pub app: String,
    pub jobs: EndedJobs,
    pub mean_cpu_s: Option<f64>,
    pub peak_rss_bytes: Option<f64>,
}

pub struct Stats {
    pub running: i64,
    pub hours: Vec<HourStats>,
    pub apps: Vec<AppSummary>,
}

/// What kind of database is behind the store, for health and logs.
pub struct StoreInfo {
    pub engine: &'static str,
    pub detail: String,
}

/// PostgreSQL or SQLite, chosen by the database URL.
pub enum Store {
    Postgres(postgres::PgStore),
    Sqlite(sqlite::SqliteStore),
}

impl Store {
    /// Connect, run the migrations and return a ready store. `postgres://` (or
    /// `postgresql://`) URLs go to PostgreSQL, `sqlite://PATH` to an embedded file.
    pub async fn open(url: &str, retention_days: Option<u32>) -> Result<Store> {
        check_url(url).map_err(StoreError)?;
        if let Some(path) = url.strip_prefix("sqlite://") {
            Ok(Store::Sqlite(
                sqlite::SqliteStore::open(path, retention_days).await?,
            ))
        } else {
            Ok(Store::Postgres(
                postgres::PgStore::open(url, retention_days).await?,
            ))
        }
    }

    pub fn info(&self) -> StoreInfo {
        match self {
            Store::Postgres(s) => s.info(),
            Store::Sqlite(s) => s.info(),
        }
    }

    /// Store the events not stored before, in one transaction, and fold them into the jobs
    /// table. Returns the positions (in `batch`) of the events that were new.
    pub async fn ingest(&self, batch: &[Incoming], source: &str) -> Result<Vec<usize>> {
        let batch = first_of_each_id(batch);
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Store::Postgres(s) => s.ingest(&batch, source).await,
            Store::Sqlite(s) => s.ingest(&batch, source).await,
        }
    }

    pub async fn jobs(&self, filter: &JobFilter) -> Result<JobPage> {
        match self {
            Store::Postgres(s) => s.jobs(filter).await,
            Store::Sqlite(s) => s.jobs(filter).await,
        }
    }

    /// Every stored entity with this id (one per site that used it).
    pub async fn job(
        &self,
        id: &str,
        site: Option<&str>,
        event_limit: u32,
    ) -> Result<Vec<JobDetail>> {
        match self {
            Store::Postgres(s) => s.job(id, site, event_limit).await,
            Store::Sqlite(s) => s.job(id, site, event_limit).await,
        }
    }

    pub async fn stats(&self, query: &StatsQuery) -> Result<Stats> {
        match self {
            Store::Postgres(s) => s.stats(query).await,
            Store::Sqlite(s) => s.stats(query).await,
        }
    }

    /// Bring the stats rollup up to date with the jobs table (see `rollup`); returns the
    /// number of hours recomputed.
    pub async fn refresh_rollup(&self) -> Result<usize> {
        match self {
            Store::Postgres(s) => s.refresh().await,
            Store::Sqlite(s) => s.refresh().await,
        }
    }

    /// Stored events in a time range, oldest first, as JSON.
    pub async fn events(&self, range: &EventRange) -> Result<Vec<String>> {
        match self {
            Store::Postgres(s) => s.events(range).await,
            Store::Sqlite(s) => s.events(range).await,
        }
    }

    /// Apply the retention: delete what is older than `before` (micros) where no database
    /// policy does it. Returns the number of events deleted.
    pub async fn prune(&self, before: i64) -> Result<u64> {
        match self {
            Store::Postgres(s) => s.prune(before).await,
            Store::Sqlite(s) => s.prune(before).await,
        }
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<()> {
        match self {
            Store::Postgres(s) => s.ping().await,
            Store::Sqlite(s) => s.ping().await,
        }
    }
}

/// Whether `url` names a store this gateway can open, without connecting: `--check` uses it
/// so a URL that can never work fails the check instead of the start.
pub fn check_url(url: &str) -> std::result::Result<(), String> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        url.parse::<tokio_postgres::Config>()
            .map(|_| ())
            .map_err(|e| format!("invalid PostgreSQL URL '{}': {e}", redact(url)))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            Err("sqlite:// needs a file path".into())
        } else {
            Ok(())
        }
    } else {
        Err(format!(
            "database URL must start with postgres://, postgresql:// or sqlite:// (got '{}')",
            redact(url)
        ))
    }
}

/// Drop repeated ids within one batch (the first copy is kept) and remember positions.
fn first_of_each_id(batch: &[Incoming]) -> Vec<(usize, &Incoming)> {
    let mut seen = HashSet::with_capacity(batch.len());
    batch
        .iter()
        .enumerate()
        .filter(|(_, item)| seen.insert(item.event.id))
        .collect()
}

/// Fold the newly stored events into one state per (site, entity id), sorted by key so
/// concurrent writers lock rows in the same order.
fn fold_states<'a>(events: impl Iterator<Item = &'a Event>) -> Vec<JobState> {
    let mut states: HashMap<(&'a str, &'a str), JobState> = HashMap::new();
    for event in events {
        let delta = JobState::from_event(event);
        match states.entry((event.site.as_str(), event.entity.id.as_str())) {
            Entry::Occupied(mut state) => state.get_mut().merge(&delta),
            Entry::Vacant(slot) => {
                slot.insert(delta);
            }
        }
    }
    let mut sorted: Vec<((&str, &str), JobState)> = states.into_iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    sorted.into_iter().map(|(_, state)| state).collect()
}

/// Linear interpolation between closest ranks, as PostgreSQL's `percentile_cont` computes it,
/// over sorted values: the reference `rollup`'s selection is tested against.
#[cfg(test)]
fn percentile(sorted: &[f64], fraction: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = fraction * (sorted.len() - 1) as f64;
    let low = rank.floor() as usize;
    let high = rank.ceil() as usize;
    Some(sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64))
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_match_postgres() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.5), Some(2.5));
        assert_eq!(percentile(&v, 0.95), Some(3.8499999999999996));
        assert_eq!(percentile(&[7.0], 0.95), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://wm:secret@127.0.0.1/db"),
            "postgres://wm:***@127.0.0.1/db"
        );
        assert_eq!(redact("postgres://127.0.0.1/db"), "postgres://127.0.0.1/db");
    }
}
