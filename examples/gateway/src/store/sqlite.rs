//! The embedded store: one SQLite file in WAL mode, so the gateway runs with no server.
//! One writer connection (SQLite has one writer anyway) and one reader; both are used from
//! blocking threads. Times are INTEGER microseconds since the epoch.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row, Transaction};

use super::query::{self, Dialect, Param};
use super::rollup::{self, HourGroup, HOUR};
use super::{
    fold_states, EventRange, Incoming, JobDetail, JobFilter, JobPage, JobState, Result, Stats,
    StatsQuery, StoreError, StoreInfo,
};

/// Versioned migrations; each runs once, in order, inside a transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE events (
        id TEXT NOT NULL,
        time INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        site TEXT NOT NULL,
        app TEXT NOT NULL,
        entity_kind TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        parent TEXT,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        source TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (id, time)
    ) WITHOUT ROWID;
    CREATE INDEX events_entity_time ON events (site, entity_id, time);
    CREATE INDEX events_time ON events (time);
    CREATE INDEX events_site_time ON events (site, time);
    CREATE TABLE jobs (
        site TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        app TEXT NOT NULL,
        entity_kind TEXT NOT NULL,
        name TEXT,
        key TEXT,
        parent TEXT,
        status TEXT NOT NULL,
        started_at INTEGER,
        ended_at INTEGER,
        end_duration_s REAL,
        duration_s REAL,
        cpu_s REAL,
        max_rss_bytes REAL,
        progress REAL,
        progress_at INTEGER,
        message TEXT,
        first_event_at INTEGER NOT NULL,
        last_event_at INTEGER NOT NULL,
        event_count INTEGER NOT NULL,
        PRIMARY KEY (site, entity_id)
    );
    CREATE INDEX jobs_last_event ON jobs (last_event_at, site, entity_id);
    CREATE INDEX jobs_parent ON jobs (site, parent);
    CREATE INDEX jobs_ended ON jobs (ended_at);
    CREATE INDEX jobs_status ON jobs (status, last_event_at);",
    ),
    (
        2,
        // An id is stored once whatever its time (the primary key alone let a resend with
        // another time in). A store made before this may hold such repeats: the first stored
        // of each id stays, and its entity's event count loses the others.
        "CREATE TEMP TABLE repeated_events AS
            SELECT id, time, site, entity_id FROM (
                SELECT id, time, site, entity_id,
                       row_number() OVER (PARTITION BY id ORDER BY received_at, time) AS n
                FROM events WHERE id IN (SELECT id FROM events GROUP BY id HAVING count(*) > 1))
            WHERE n > 1;
        UPDATE jobs SET event_count = event_count - (
                SELECT count(*) FROM repeated_events r
                WHERE r.site = jobs.site AND r.entity_id = jobs.entity_id)
            WHERE (site, entity_id) IN (SELECT site, entity_id FROM repeated_events);
        DELETE FROM events WHERE (id, time) IN (SELECT id, time FROM repeated_events);
        DROP TABLE repeated_events;
        CREATE UNIQUE INDEX events_id ON events (id);",
    ),
    (
        3,
        // The hourly rollup of ended entities (see `rollup`). Every hour that has ended
        // entities starts dirty, so opening the store builds the rollup of what it holds.
        "CREATE TABLE stats_hourly (
            hour INTEGER NOT NULL,
            site TEXT NOT NULL,
            app TEXT NOT NULL,
            entity_kind TEXT NOT NULL,
            succeeded INTEGER NOT NULL,
            failed INTEGER NOT NULL,
            canceled INTEGER NOT NULL,
            cpu_sum REAL NOT NULL,
            cpu_count INTEGER NOT NULL,
            peak_rss REAL,
            durations BLOB NOT NULL
        );
        CREATE UNIQUE INDEX stats_hourly_key ON stats_hourly (hour, site, app, entity_kind);
        CREATE TABLE stats_dirty (hour INTEGER PRIMARY KEY);
        INSERT OR IGNORE INTO stats_dirty (hour)
            SELECT DISTINCT ended_at - ((ended_at % 3600000000) + 3600000000) % 3600000000
            FROM jobs WHERE ended_at IS NOT NULL;",
    ),
];

const JOB_COLUMNS: &str = "site, entity_id, app, entity_kind, name, key, parent, status, \
    started_at, ended_at, end_duration_s, duration_s, cpu_s, max_rss_bytes, progress, \
    progress_at, message, first_event_at, last_event_at, event_count";

pub struct SqliteStore {
    path: String,
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
    retention_days: Option<u32>,
    /// Dirty marks left since the last refresh; without them the refresh leaves the
    /// writer alone.
    stale: Arc<AtomicBool>,
}

fn err(context: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError(format!("sqlite: {context}: {e}"))
}

/// How long a connection waits for another one's lock.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn connect(path: &str) -> Result<Connection> {
    let conn = Connection::open(path).map_err(err("cannot open the database"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(err("busy_timeout"))?;
    // WAL lets readers run while a batch is written; NORMAL keeps commits durable
    // against a process crash, which is what an acknowledgement promises.
    // Switching a new file to WAL does not go through the busy handler, so a second process
    // opening the same new file at the same moment gets SQLITE_BUSY at once: wait here.
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Ok(()) => break,
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(err("journal_mode")(e)),
        }
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err("synchronous"))?;
    Ok(conn)
}

/// Run `work` on a blocking thread with the connection locked.
async fn with<T: Send + 'static>(
    conn: &Arc<Mutex<Connection>>,
    work: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
) -> Result<T> {
    let conn = conn.clone();
    tokio::task::spawn_blocking(move || {
        let mut guard = conn
            .lock()
            .map_err(|_| StoreError("sqlite: a previous query panicked".into()))?;
        work(&mut guard)
    })
    .await
    .map_err(|e| StoreError(format!("sqlite: worker failed: {e}")))?
}

impl SqliteStore {
    pub async fn open(path: &str, retention_days: Option<u32>) -> Result<SqliteStore> {
        if path.is_empty() {
            return Err(StoreError("sqlite:// needs a file path".into()));
        }
        if let Some(parent) = Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| StoreError(format!("cannot create {}: {e}", parent.display())))?;
            }
        }
        let owned = path.to_string();
        let writer = tokio::task::spawn_blocking(move || -> Result<Connection> {
            let mut conn = connect(&owned)?;
            migrate(&mut conn)?;
            // An upgraded store gets its rollup here, before the first answer.
            while refresh_some(&mut conn)? > 0 {}
            Ok(conn)
        })
        .await
        .map_err(|e| StoreError(format!("sqlite: {e}")))??;
        let reader = connect(path)?;
        Ok(SqliteStore {
            path: path.to_string(),
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
            retention_days,
            stale: Arc::new(AtomicBool::new(false)),
        })
    }

    pub fn info(&self) -> StoreInfo {
        let retention = self
            .retention_days
            .map_or_else(|| "kept forever".to_string(), |d| format!("kept {d} days"));
        StoreInfo {
            engine: "sqlite",
            detail: format!("{} (events {retention})", self.path),
        }
    }

    pub async fn ingest(&self, batch: &[(usize, &Incoming)], source: &str) -> Result<Vec<usize>> {
        // Owned copies: the write runs on a blocking thread.
        let rows: Vec<(usize, EventRow)> = batch
            .iter()
            .map(|(i, item)| (*i, EventRow::of(item)))
            .collect();
        let events: Vec<wafermon::event::Event> =
            batch.iter().map(|(_, item)| item.event.clone()).collect();
        let source = source.to_string();
        let stale = self.stale.clone();
        with(&self.writer, move |conn| {
            let tx = conn.transaction().map_err(err("begin"))?;
            let now = wafermon::event::Timestamp::now().unix_micros();
            let mut inserted = Vec::new();
            let mut new_events = Vec::new();
            {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO events (id, time, seq, site, app, entity_kind,
                         entity_id, parent, kind, status, source, received_at, body)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                    )
                    .map_err(err("prepare insert"))?;
                for ((index, row), event) in rows.iter().zip(&events) {
                    let changed = insert
                        .execute(params![
                            row.id,
                            row.time,
                            row.seq,
                            row.site,
                            row.app,
                            row.entity_kind,
                            row.entity_id,
                            row.parent,
                            row.kind,
                            row.status,
                            source,
                            now,
                            row.body
                        ])
                        .map_err(err("insert event"))?;
                    if changed == 1 {
                        inserted.push(*index);
                        new_events.push(event);
                    }
                }
            }
            let mut dirty = Vec::new();
            for delta in fold_states(new_events.into_iter()) {
                dirty.extend(upsert_job(&tx, delta)?);
            }
            mark_dirty(&tx, &dirty)?;
            tx.commit().map_err(err("commit"))?;
            if !dirty.is_empty() {
                stale.store(true, Ordering::Release);
            }
            Ok(inserted)
        })
        .await
    }

    pub async fn jobs(&self, filter: &JobFilter) -> Result<JobPage> {
        let (sql, params) = query::jobs_sql(Dialect::Sqlite, JOB_COLUMNS, filter);
        let limit = filter.limit;
        let jobs = with(&self.reader, move |conn| select_jobs(conn, &sql, &params)).await?;
        Ok(query::page(jobs, limit))
    }

    pub async fn job(
        &self,
        id: &str,
        site: Option<&str>,
        event_limit: u32,
    ) -> Result<Vec<JobDetail>> {
        let (id, site) = (id.to_string(), site.map(str::to_string));
        with(&self.reader, move |conn| {
            let mut w = query::Conditions::new(Dialect::Sqlite);
            w.add("entity_id", "=", Param::Text(id.clone()));
            w.add_opt_text("site", &site);
            let found = select_jobs(
                conn,
                &format!("SELECT {JOB_COLUMNS} FROM jobs{} ORDER BY site", w.sql()),
                &w.params,
            )?;
            let mut details = Vec::with_capacity(found.len());
            for job in found {
                let (sql, params) =
                    query::subtree_sql(Dialect::Sqlite, JOB_COLUMNS, &job.site, &job.entity_id);
                let subtree = select_jobs(conn, &sql, &params)?;
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT body FROM events WHERE site = ?1 AND entity_id = ?2
                         ORDER BY time, seq LIMIT ?3",
                    )
                    .map_err(err("prepare events"))?;
                let events = stmt
                    .query_map(
                        params![job.site, job.entity_id, i64::from(event_limit)],
                        |r| r.get::<_, String>(0),
                    )
                    .map_err(err("events"))?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(err("events"))?;
                details.push(JobDetail {
                    job,
                    subtree,
                    events,
                });
            }
            Ok(details)
        })
        .await
    }

    /// Clean whole hours from the rollup, the rest from raw rows, in one read transaction
    /// (one WAL snapshot) so a refresh running meanwhile is seen whole or not at all.
    pub async fn stats(&self, q: &StatsQuery) -> Result<Stats> {
        let q = q.clone();
        with(&self.reader, move |conn| {
            let tx = conn.transaction().map_err(err("begin stats"))?;
            let plan = rollup::Plan::of(&q);
            let mut answer = rollup::Answer::new(&q);
            let mut dirty = Vec::new();
            if let Some((first, end)) = plan.rolled {
                let mut stmt = tx
                    .prepare_cached("SELECT hour FROM stats_dirty WHERE hour >= ?1 AND hour < ?2")
                    .map_err(err("prepare dirty"))?;
                dirty = stmt
                    .query_map(params![first, end], |r| r.get::<_, i64>(0))
                    .map_err(err("dirty hours"))?
                    .collect::<rusqlite::Result<Vec<i64>>>()
                    .map_err(err("dirty hours"))?;
                read_rollup(&tx, &q, first, end, &dirty, &mut answer)?;
            }
            for (start, end) in plan.raw_ranges(&q, &dirty) {
                read_raw(&tx, &q, start, end, &mut answer)?;
            }
            let running = query::running_conditions(Dialect::Sqlite, &q);
            let running: i64 = tx
                .query_row(
                    &format!("SELECT count(*) FROM jobs{}", running.sql()),
                    params_from_iter(running.params.iter().map(to_sql)),
                    |r| r.get(0),
                )
                .map_err(err("running count"))?;
            tx.commit().map_err(err("end stats"))?;
            Ok(answer.finish(running))
        })
        .await
    }

    /// Recompute the dirty hours of the rollup; returns how many there were.
    pub async fn refresh(&self) -> Result<usize> {
        if !self.stale.swap(false, Ordering::AcqRel) {
            return Ok(0);
        }
        let done = with(&self.writer, |conn| {
            let mut total = 0;
            loop {
                let n = refresh_some(conn)?;
                total += n;
                if n == 0 {
                    return Ok(total);
                }
            }
        })
        .await;
        if done.is_err() {
            self.stale.store(true, Ordering::Release);
        }
        done
    }

    pub async fn events(&self, range: &EventRange) -> Result<Vec<String>> {
        let (sql, params) = query::events_sql(Dialect::Sqlite, range);
        with(&self.reader, move |conn| {
            let mut stmt = conn.prepare_cached(&sql).map_err(err("prepare events"))?;
            let rows = stmt
                .query_map(params_from_iter(params.iter().map(to_sql)), |r| r.get(0))
                .map_err(err("events"))?;
            rows.collect::<rusqlite::Result<Vec<String>>>()
                .map_err(err("events"))
        })
        .await
    }

    pub async fn ping(&self) -> Result<()> {
        with(&self.reader, |conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(err("ping"))
        })
        .await
    }

    /// Delete events older than the retention, and entities whose last event is that old.
    pub async fn prune(&self, before: i64) -> Result<u64> {
        let stale = self.stale.clone();
        with(&self.writer, move |conn| {
            let tx = conn.transaction().map_err(err("begin prune"))?;
            let events = tx
                .execute("DELETE FROM events WHERE time < ?1", [before])
                .map_err(err("prune events"))?;
            // The rollup must forget the entities pruned here.
            tx.execute(
                &format!(
                    "INSERT OR IGNORE INTO stats_dirty (hour)
                     SELECT DISTINCT ended_at - ((ended_at % {HOUR}) + {HOUR}) % {HOUR}
                     FROM jobs WHERE last_event_at < ?1 AND ended_at IS NOT NULL"
                ),
                [before],
            )
            .map_err(err("prune rollup"))?;
            tx.execute("DELETE FROM jobs WHERE last_event_at < ?1", [before])
                .map_err(err("prune jobs"))?;
            tx.commit().map_err(err("commit prune"))?;
            stale.store(true, Ordering::Release);
            Ok(events as u64)
        })
        .await
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .map_err(err("create schema_migrations"))?;
    for (version, sql) in MIGRATIONS {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err("begin migration"))?;
        let done: Option<i64> = tx
            .query_row(
                "SELECT version FROM schema_migrations WHERE version = ?1",
                [version],
                |r| r.get(0),
            )
            .optional()
            .map_err(err("read schema_migrations"))?;
        if done.is_none() {
            tx.execute_batch(sql)
                .map_err(|e| StoreError(format!("sqlite: migration {version}: {e}")))?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
                params![version, wafermon::event::Timestamp::now().unix_micros()],
            )
            .map_err(err("record migration"))?;
        }
        tx.commit().map_err(err("commit migration"))?;
    }
    Ok(())
}

/// Merge one entity's delta into its row; returns the rollup hours it changed.
fn upsert_job(tx: &Transaction<'_>, delta: JobState) -> Result<Vec<i64>> {
    let existing = {
        let mut stmt = tx
            .prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE site = ?1 AND entity_id = ?2"
            ))
            .map_err(err("prepare job"))?;
        stmt.query_row(params![delta.site, delta.entity_id], job_from_row)
            .optional()
            .map_err(err("read job"))?
    };
    let state = match &existing {
        Some(old) => {
            let mut state = old.clone();
            state.merge(&delta);
            state
        }
        None => delta,
    };
    let changed = rollup::changed_hours(existing.as_ref(), &state);
    let mut stmt = tx
        .prepare_cached(&format!(
            "INSERT OR REPLACE INTO jobs ({JOB_COLUMNS}) VALUES
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)"
        ))
        .map_err(err("prepare job write"))?;
    let end = state.end.as_ref();
    stmt.execute(params![
        state.site,
        state.entity_id,
        state.app,
        state.entity_kind,
        state.name,
        state.key,
        state.parent,
        state.status().as_str(),
        state.started_at,
        state.ended_at(),
        end.and_then(|e| e.duration_s),
        state.duration_s(),
        end.and_then(|e| e.cpu_s),
        state.max_rss_bytes,
        state.progress,
        state.progress_at,
        end.and_then(|e| e.message.clone()),
        state.first_event_at,
        state.last_event_at,
        state.event_count,
    ])
    .map_err(err("write job"))?;
    Ok(changed)
}

fn mark_dirty(tx: &Transaction<'_>, hours: &[i64]) -> Result<()> {
    let mut stmt = tx
        .prepare_cached("INSERT OR IGNORE INTO stats_dirty (hour) VALUES (?1)")
        .map_err(err("prepare dirty"))?;
    for hour in hours {
        stmt.execute([hour]).map_err(err("mark dirty"))?;
    }
    Ok(())
}

/// Recompute up to a day of dirty hours, one transaction each. The writer connection does
/// this, so no ingest runs between reading an hour's jobs and clearing its mark.
fn refresh_some(conn: &mut Connection) -> Result<usize> {
    let hours: Vec<i64> = {
        let mut stmt = conn
            .prepare_cached("SELECT hour FROM stats_dirty ORDER BY hour LIMIT 24")
            .map_err(err("prepare dirty"))?;
        let hours = stmt
            .query_map([], |r| r.get(0))
            .map_err(err("dirty hours"))?
            .collect::<rusqlite::Result<Vec<i64>>>()
            .map_err(err("dirty hours"))?;
        hours
    };
    for &hour in &hours {
        let tx = conn.transaction().map_err(err("begin refresh"))?;
        let groups = {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT site, app, entity_kind, status, duration_s, cpu_s, max_rss_bytes
                     FROM jobs WHERE ended_at >= ?1 AND ended_at < ?2",
                )
                .map_err(err("prepare refresh"))?;
            let rows = stmt
                .query_map(params![hour, hour + HOUR], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })
                .map_err(err("refresh"))?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(err("refresh"))?;
            rollup::group_hour(hour, rows)
        };
        tx.execute("DELETE FROM stats_hourly WHERE hour = ?1", [hour])
            .map_err(err("refresh"))?;
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO stats_hourly (hour, site, app, entity_kind, succeeded, failed,
                     canceled, cpu_sum, cpu_count, peak_rss, durations)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(err("prepare rollup"))?;
            for g in groups {
                insert
                    .execute(params![
                        g.hour,
                        g.site,
                        g.app,
                        g.entity_kind,
                        g.counts[0],
                        g.counts[1],
                        g.counts[2],
                        g.cpu_sum,
                        g.cpu_count,
                        g.peak_rss,
                        rollup::encode_durations(&g.durations),
                    ])
                    .map_err(err("write rollup"))?;
            }
        }
        tx.execute("DELETE FROM stats_dirty WHERE hour = ?1", [hour])
            .map_err(err("refresh"))?;
        tx.commit().map_err(err("commit refresh"))?;
    }
    Ok(hours.len())
}

/// Rollup rows of the clean hours in [first, end).
fn read_rollup(
    tx: &Transaction<'_>,
    q: &StatsQuery,
    first: i64,
    end: i64,
    dirty: &[i64],
    answer: &mut rollup::Answer,
) -> Result<()> {
    let mut w = query::Conditions::new(Dialect::Sqlite);
    w.add("hour", ">=", Param::Time(first));
    w.add("hour", "<", Param::Time(end));
    w.add_opt_text("site", &q.site);
    w.add_opt_text("app", &q.app);
    w.add_opt_text("entity_kind", &q.entity_kind);
    let mut stmt = tx
        .prepare_cached(&format!(
            "SELECT hour, app, succeeded, failed, canceled, cpu_sum, cpu_count, peak_rss,
                    durations FROM stats_hourly{}",
            w.sql()
        ))
        .map_err(err("prepare rollup read"))?;
    let mut rows = stmt
        .query(params_from_iter(w.params.iter().map(to_sql)))
        .map_err(err("rollup read"))?;
    while let Some(r) = rows.next().map_err(err("rollup read"))? {
        let hour: i64 = r.get(0).map_err(err("rollup read"))?;
        if dirty.contains(&hour) {
            continue;
        }
        let get = |e| err("rollup read")(e);
        let durations: Vec<u8> = r.get(8).map_err(get)?;
        answer.add(&HourGroup {
            hour,
            app: r.get(1).map_err(get)?,
            counts: [
                r.get(2).map_err(get)?,
                r.get(3).map_err(get)?,
                r.get(4).map_err(get)?,
            ],
            cpu_sum: r.get(5).map_err(get)?,
            cpu_count: r.get(6).map_err(get)?,
            peak_rss: r.get(7).map_err(get)?,
            durations: rollup::decode_durations(&durations),
            ..HourGroup::default()
        });
    }
    Ok(())
}

/// Ended entities in [start, end) straight from `jobs`.
fn read_raw(
    tx: &Transaction<'_>,
    q: &StatsQuery,
    start: i64,
    end: i64,
    answer: &mut rollup::Answer,
) -> Result<()> {
    let part = super::StatsQuery {
        start,
        end,
        ..q.clone()
    };
    let w = query::stats_conditions(Dialect::Sqlite, &part);
    let mut stmt = tx
        .prepare_cached(&format!(
            "SELECT app, ended_at, status, duration_s, cpu_s, max_rss_bytes FROM jobs{}",
            w.sql()
        ))
        .map_err(err("prepare stats"))?;
    let mut rows = stmt
        .query(params_from_iter(w.params.iter().map(to_sql)))
        .map_err(err("stats"))?;
    while let Some(r) = rows.next().map_err(err("stats"))? {
        let get = |e| err("stats")(e);
        let status: String = r.get(2).map_err(get)?;
        answer.add_raw(
            r.get(0).map_err(get)?,
            r.get(1).map_err(get)?,
            &status,
            r.get(3).map_err(get)?,
            r.get(4).map_err(get)?,
            r.get(5).map_err(get)?,
        );
    }
    Ok(())
}

fn job_from_row(r: &Row<'_>) -> rusqlite::Result<JobState> {
    let status: String = r.get(7)?;
    let end = super::Ending::from_stored(&status, r.get(9)?, r.get(10)?, r.get(12)?, r.get(16)?);
    Ok(JobState {
        site: r.get(0)?,
        entity_id: r.get(1)?,
        app: r.get(2)?,
        entity_kind: r.get(3)?,
        name: r.get(4)?,
        key: r.get(5)?,
        parent: r.get(6)?,
        started_at: r.get(8)?,
        end,
        max_rss_bytes: r.get(13)?,
        progress: r.get(14)?,
        progress_at: r.get(15)?,
        first_event_at: r.get(17)?,
        last_event_at: r.get(18)?,
        event_count: r.get(19)?,
    })
}

fn select_jobs(conn: &Connection, sql: &str, params: &[Param]) -> Result<Vec<JobState>> {
    let mut stmt = conn.prepare_cached(sql).map_err(err("prepare jobs"))?;
    let rows = stmt
        .query_map(params_from_iter(params.iter().map(to_sql)), job_from_row)
        .map_err(err("jobs"))?;
    rows.collect::<rusqlite::Result<Vec<_>>>()
        .map_err(err("jobs"))
}

fn to_sql(param: &Param) -> SqlValue {
    match param {
        Param::Text(s) => SqlValue::Text(s.clone()),
        Param::Time(t) | Param::Int(t) => SqlValue::Integer(*t),
    }
}

/// The indexed columns of one event, owned so they can move to the writer thread.
struct EventRow {
    id: String,
    time: i64,
    seq: i64,
    site: String,
    app: String,
    entity_kind: String,
    entity_id: String,
    parent: Option<String>,
    kind: &'static str,
    status: &'static str,
    body: String,
}

impl EventRow {
    fn of(item: &Incoming) -> EventRow {
        let e = &item.event;
        EventRow {
            id: e.id.to_string(),
            time: e.time.unix_micros(),
            seq: i64::try_from(e.seq).unwrap_or(i64::MAX),
            site: e.site.clone(),
            app: e.app.name.clone(),
            entity_kind: e.entity.kind.clone(),
            entity_id: e.entity.id.clone(),
            parent: e.entity.parent.clone(),
            kind: e.kind.as_str(),
            status: e.status.as_str(),
            body: item.json.clone(),
        }
    }
}
