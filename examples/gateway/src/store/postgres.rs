//! PostgreSQL store. A batch is one transaction: one multi-row INSERT of the events through
//! `unnest` (one round trip whatever the batch size), then the jobs rows of the entities
//! touched, locked in key order so concurrent batches never deadlock on each other.
//! With the `timescaledb` extension available, `events` becomes a compressed hypertable with
//! a retention policy; on plain PostgreSQL it is an ordinary table pruned by the gateway.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use time::OffsetDateTime;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

use super::query::{self, Dialect, Param};
use super::rollup::{self, HourGroup};
use super::{
    fold_states, Ending, EventRange, Incoming, JobDetail, JobFilter, JobPage, JobState, Result,
    Stats, StatsQuery, StoreError, StoreInfo,
};

/// Text keys are compared byte-wise (`COLLATE "C"`): the same order the database's
/// C.UTF-8 collation gives and SQLite's BINARY, without a `strcoll` call per comparison.
/// `body` is text: the gateway writes it as canonical JSON itself, so the server need not
/// parse it again on every insert.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "CREATE TABLE events (
        id uuid NOT NULL,
        time timestamptz NOT NULL,
        seq bigint NOT NULL,
        site text COLLATE \"C\" NOT NULL,
        app text COLLATE \"C\" NOT NULL,
        entity_kind text COLLATE \"C\" NOT NULL,
        entity_id text COLLATE \"C\" NOT NULL,
        parent text COLLATE \"C\",
        kind text COLLATE \"C\" NOT NULL,
        status text COLLATE \"C\" NOT NULL,
        source text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        body text NOT NULL,
        PRIMARY KEY (id, time)
    );
    CREATE INDEX events_entity_time ON events (site, entity_id, time)
        WITH (deduplicate_items = off);
    CREATE INDEX events_site_time ON events (site, time) WITH (deduplicate_items = off);
    CREATE INDEX events_time ON events USING brin (time) WITH (autosummarize = on);
    CREATE TABLE jobs (
        site text COLLATE \"C\" NOT NULL,
        entity_id text COLLATE \"C\" NOT NULL,
        app text COLLATE \"C\" NOT NULL,
        entity_kind text COLLATE \"C\" NOT NULL,
        name text,
        key text,
        parent text COLLATE \"C\",
        status text COLLATE \"C\" NOT NULL,
        started_at timestamptz,
        ended_at timestamptz,
        end_duration_s double precision,
        duration_s double precision,
        cpu_s double precision,
        max_rss_bytes double precision,
        progress double precision,
        progress_at timestamptz,
        message text,
        first_event_at timestamptz NOT NULL,
        last_event_at timestamptz NOT NULL,
        event_count bigint NOT NULL,
        PRIMARY KEY (site, entity_id)
    );
    CREATE INDEX jobs_last_event ON jobs (last_event_at, site, entity_id);
    CREATE INDEX jobs_parent ON jobs (site, parent);
    CREATE INDEX jobs_ended ON jobs (app, ended_at)
        INCLUDE (site, entity_kind, status, duration_s);
    CREATE INDEX jobs_status ON jobs (status, last_event_at);",
    ),
    (
        2,
        // An id is stored once whatever its time (the primary key alone let a resend with
        // another time in). A store made before this may hold such repeats: the first stored
        // of each id stays, and its entity's event count loses the others. A hypertable's
        // unique indexes must contain its time column, so there `(id, time)` stays the key
        // (see `enable_timescale`).
        "DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
                IF EXISTS (SELECT 1 FROM timescaledb_information.hypertables
                           WHERE hypertable_name = 'events') THEN
                    RETURN;
                END IF;
            END IF;
            WITH repeated AS (
                DELETE FROM events e
                USING (SELECT id, time FROM (
                           SELECT id, time, row_number() OVER (
                               PARTITION BY id ORDER BY received_at, time) AS n
                           FROM events
                           WHERE id IN (SELECT id FROM events GROUP BY id HAVING count(*) > 1)
                       ) ranked WHERE n > 1) r
                WHERE e.id = r.id AND e.time = r.time
                RETURNING e.site, e.entity_id)
            UPDATE jobs j SET event_count = j.event_count - c.n
            FROM (SELECT site, entity_id, count(*) AS n FROM repeated GROUP BY site, entity_id) c
            WHERE j.site = c.site AND j.entity_id = c.entity_id;
            CREATE UNIQUE INDEX events_id ON events (id);
        END $$;",
    ),
    (
        3,
        // The hourly rollup of ended entities (see `rollup`). A dirty mark is a row of its
        // own (no conflict between concurrent batches, and a refresh clears only the marks
        // it saw). Every hour that has ended entities starts dirty, so opening the store
        // builds the rollup of what it holds.
        "CREATE TABLE stats_hourly (
            hour timestamptz NOT NULL,
            site text COLLATE \"C\" NOT NULL,
            app text COLLATE \"C\" NOT NULL,
            entity_kind text COLLATE \"C\" NOT NULL,
            succeeded bigint NOT NULL,
            failed bigint NOT NULL,
            canceled bigint NOT NULL,
            cpu_sum double precision NOT NULL,
            cpu_count bigint NOT NULL,
            peak_rss double precision,
            durations bytea NOT NULL,
            PRIMARY KEY (hour, site, app, entity_kind)
        );
        -- Sorted floats barely compress; stored as they are, they read back with no work.
        ALTER TABLE stats_hourly ALTER COLUMN durations SET STORAGE EXTERNAL;
        CREATE TABLE stats_dirty (id bigserial PRIMARY KEY, hour timestamptz NOT NULL);
        CREATE INDEX stats_dirty_hour ON stats_dirty (hour);
        CREATE INDEX jobs_ended_at ON jobs (ended_at);
        INSERT INTO stats_dirty (hour)
            SELECT DISTINCT date_bin('1 hour', ended_at, timestamptz 'epoch')
            FROM jobs WHERE ended_at IS NOT NULL;",
    ),
];

const JOB_COLUMNS: &str = "site, entity_id, app, entity_kind, name, key, parent, status, \
    started_at, ended_at, end_duration_s, duration_s, cpu_s, max_rss_bytes, progress, \
    progress_at, message, first_event_at, last_event_at, event_count";

/// The twenty job columns as parallel arrays, in `JOB_COLUMNS` order.
const JOB_ARRAYS: &str = "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
    $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[], \
    $11::float8[], $12::float8[], $13::float8[], $14::float8[], $15::float8[], \
    $16::timestamptz[], $17::text[], $18::timestamptz[], $19::timestamptz[], $20::int8[])";

/// Serialization failures and deadlocks are retried; anything else is reported.
const ATTEMPTS: usize = 3;

/// Chunk size for the hypertable when TimescaleDB is used.
const CHUNK_INTERVAL: &str = "1 day";
/// Chunks older than this are compressed.
const COMPRESS_AFTER: &str = "7 days";

pub struct PgStore {
    pool: Pool,
    timescale: bool,
    retention_days: Option<u32>,
    target: String,
    /// This gateway left dirty marks the refresh has not cleared yet; without them the
    /// refresh takes no connection (PGlite, the hypertable stand-in, serves one at a time).
    stale: AtomicBool,
}

fn err(context: &str) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
    move |e| {
        let detail = e
            .as_db_error()
            .map_or_else(|| e.to_string(), |d| d.message().to_string());
        StoreError(format!("postgres: {context}: {detail}"))
    }
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError(format!("postgres: no connection: {e}"))
}

/// A failed attempt at a batch, and whether trying again may succeed.
struct Failure {
    error: StoreError,
    retry: bool,
}

/// Map a driver error, remembering whether it was a serialization failure or a deadlock.
fn failed(context: &'static str) -> impl Fn(tokio_postgres::Error) -> Failure {
    move |e| Failure {
        retry: e
            .code()
            .is_some_and(|c| matches!(c.code(), "40001" | "40P01")),
        error: err(context)(e),
    }
}

fn time(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn micros(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

impl PgStore {
    pub async fn open(url: &str, retention_days: Option<u32>) -> Result<PgStore> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError(format!("invalid PostgreSQL URL: {e}")))?;
        // A stuck query must not hold a request forever; UTC keeps hour buckets stable.
        config.options("-c statement_timeout=30000 -c TimeZone=UTC");
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        let target = format!(
            "{} database {}",
            hosts.join(","),
            config.get_dbname().unwrap_or("(default)")
        );
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .wait_timeout(Some(std::time::Duration::from_secs(10)))
            .create_timeout(Some(std::time::Duration::from_secs(10)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError(format!("postgres: cannot build the pool: {e}")))?;
        let mut store = PgStore {
            pool,
            timescale: false,
            retention_days,
            target,
            stale: AtomicBool::new(false),
        };
        store.migrate().await?;
        store.timescale = store.enable_timescale().await;
        // An upgraded store gets its rollup here, before the first answer.
        while store.refresh_pass().await?.is_some_and(|n| n > 0) {}
        Ok(store)
    }

    pub fn info(&self) -> StoreInfo {
        let retention = self
            .retention_days
            .map_or_else(|| "kept forever".to_string(), |d| format!("kept {d} days"));
        StoreInfo {
            engine: if self.timescale {
                "timescaledb"
            } else {
                "postgres"
            },
            detail: format!("{} (events {retention})", self.target),
        }
    }

    async fn migrate(&self) -> Result<()> {
        let mut client = self.pool.get().await.map_err(pool_err)?;
        for (version, sql) in MIGRATIONS {
            let tx = client.transaction().await.map_err(err("begin migration"))?;
            // Two gateways starting together: the second waits, then finds the work done.
            // The lock comes first because CREATE TABLE IF NOT EXISTS is not safe against
            // a concurrent create (it fails on the catalog's unique index).
            tx.execute("SELECT pg_advisory_xact_lock(727274)", &[])
                .await
                .map_err(err("migration lock"))?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
            )
            .await
            .map_err(err("create schema_migrations"))?;
            let done = tx
                .query_opt(
                    "SELECT version FROM schema_migrations WHERE version = $1",
                    &[version],
                )
                .await
                .map_err(err("read schema_migrations"))?;
            if done.is_none() {
                tx.batch_execute(sql)
                    .await
                    .map_err(|e| err("migration")(e))
                    .map_err(|e| StoreError(format!("{e} (version {version})")))?;
                tx.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)",
                    &[version],
                )
                .await
                .map_err(err("record migration"))?;
            }
            tx.commit().await.map_err(err("commit migration"))?;
        }
        Ok(())
    }

    /// Turn `events` into a hypertable with compression and retention when the extension
    /// can be had; any failure leaves the plain table, which works the same.
    async fn enable_timescale(&self) -> bool {
        let Ok(client) = self.pool.get().await else {
            return false;
        };
        let available = client
            .query_opt(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'",
                &[],
            )
            .await
            .ok()
            .flatten()
            .is_some();
        if !available {
            return false;
        }
        // A unique index without the time column would make create_hypertable fail; on a
        // hypertable ids are unique per time only. One implicit transaction: if the
        // conversion fails, the plain table keeps its index.
        let mut sql = format!(
            "CREATE EXTENSION IF NOT EXISTS timescaledb;
             DROP INDEX IF EXISTS events_id;
             SELECT create_hypertable('events', 'time', chunk_time_interval => INTERVAL '{CHUNK_INTERVAL}',
                                      if_not_exists => TRUE, migrate_data => TRUE);
             ALTER TABLE events SET (timescaledb.compress, timescaledb.compress_segmentby = 'site',
                                     timescaledb.compress_orderby = 'time DESC');
             SELECT add_compression_policy('events', INTERVAL '{COMPRESS_AFTER}', if_not_exists => TRUE);"
        );
        if let Some(days) = self.retention_days {
            sql.push_str(&format!(
                "SELECT add_retention_policy('events', INTERVAL '{days} days', if_not_exists => TRUE);"
            ));
        }
        match client.batch_execute(&sql).await {
            Ok(()) => true,
            Err(e) => {
                eprintln!(
                    "wafermon-gateway: timescaledb is available but could not be enabled ({}); using plain PostgreSQL",
                    err("timescaledb")(e)
                );
                false
            }
        }
    }

    pub async fn ingest(&self, batch: &[(usize, &Incoming)], source: &str) -> Result<Vec<usize>> {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            match self.ingest_once(batch, source).await {
                Ok(inserted) => return Ok(inserted),
                Err(Failure { error, retry: true }) => last = Some(error),
                Err(Failure { error, .. }) => return Err(error),
            }
        }
        Err(last.unwrap_or_else(|| StoreError("postgres: ingest retried too often".into())))
    }

    async fn ingest_once(
        &self,
        batch: &[(usize, &Incoming)],
        source: &str,
    ) -> std::result::Result<Vec<usize>, Failure> {
        let pg = failed;
        let mut client = self.pool.get().await.map_err(|e| Failure {
            error: pool_err(e),
            retry: false,
        })?;
        let tx = client.transaction().await.map_err(pg("begin"))?;

        let cols = EventColumns::of(batch);
        let insert = tx
            .prepare_cached(
                // Set-returning functions in the select list stream the rows; `unnest` in
                // FROM would first copy them all into a tuplestore.
                "INSERT INTO events (id, time, seq, site, app, entity_kind, entity_id, parent,
                                     kind, status, body, source)
                 SELECT unnest($1::uuid[]), unnest($2::timestamptz[]), unnest($3::int8[]),
                        unnest($4::text[]), unnest($5::text[]), unnest($6::text[]),
                        unnest($7::text[]), unnest($8::text[]), unnest($9::text[]),
                        unnest($10::text[]), unnest($11::text[]), $12
                 ON CONFLICT DO NOTHING
                 RETURNING id",
            )
            .await
            .map_err(pg("prepare insert"))?;
        let rows = tx
            .query(
                &insert,
                &[
                    &cols.id,
                    &cols.time,
                    &cols.seq,
                    &cols.site,
                    &cols.app,
                    &cols.entity_kind,
                    &cols.entity_id,
                    &cols.parent,
                    &cols.kind,
                    &cols.status,
                    &cols.body,
                    &source,
                ],
            )
            .await
            .map_err(pg("insert events"))?;
        let new_ids: HashSet<Uuid> = rows.iter().map(|r| r.get::<_, Uuid>(0)).collect();
        // Ids are unique within `batch` (the caller keeps the first of each).
        let mut inserted: Vec<usize> = batch
            .iter()
            .filter(|(_, item)| new_ids.contains(&item.event.id))
            .map(|(i, _)| *i)
            .collect();
        inserted.sort_unstable();

        let deltas = fold_states(
            batch
                .iter()
                .filter(|(_, item)| new_ids.contains(&item.event.id))
                .map(|(_, item)| &item.event),
        );
        let marked = !deltas.is_empty() && self.apply_jobs(&tx, deltas).await?;
        tx.commit().await.map_err(pg("commit"))?;
        if marked {
            self.stale.store(true, Ordering::Release);
        }
        Ok(inserted)
    }

    /// Insert the entities seen for the first time; merge the others under a row lock.
    /// Returns whether rollup hours were marked dirty.
    async fn apply_jobs(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        deltas: Vec<JobState>,
    ) -> std::result::Result<bool, Failure> {
        let pg = failed;
        let fresh = tx
            .prepare_cached(&format!(
                "INSERT INTO jobs ({JOB_COLUMNS}) SELECT * FROM {JOB_ARRAYS}
                 ON CONFLICT (site, entity_id) DO NOTHING RETURNING site, entity_id"
            ))
            .await
            .map_err(pg("prepare jobs insert"))?;
        let cols = JobColumns::of(&deltas);
        let created_rows = tx
            .query(&fresh, &cols.params())
            .await
            .map_err(pg("insert jobs"))?;
        let created: HashSet<(&str, &str)> =
            created_rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let mut dirty: Vec<i64> = deltas
            .iter()
            .filter(|d| created.contains(&(d.site.as_str(), d.entity_id.as_str())))
            .flat_map(|d| rollup::changed_hours(None, d))
            .collect();
        let mut rest: Vec<JobState> = deltas
            .into_iter()
            .filter(|d| !created.contains(&(d.site.as_str(), d.entity_id.as_str())))
            .collect();
        if rest.is_empty() {
            return mark_dirty(tx, dirty).await;
        }
        let sites: Vec<&str> = rest.iter().map(|d| d.site.as_str()).collect();
        let ids: Vec<&str> = rest.iter().map(|d| d.entity_id.as_str()).collect();
        let lock = tx
            .prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs
                 WHERE (site, entity_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
                 ORDER BY site, entity_id FOR UPDATE"
            ))
            .await
            .map_err(pg("prepare jobs lock"))?;
        let locked = tx
            .query(&lock, &[&sites, &ids])
            .await
            .map_err(pg("lock jobs"))?;
        let current: HashMap<(&str, &str), &Row> =
            locked.iter().map(|r| ((r.get(0), r.get(1)), r)).collect();
        for delta in &mut rest {
            if let Some(row) = current.get(&(delta.site.as_str(), delta.entity_id.as_str())) {
                let old = job_from_row(row);
                let mut merged = old.clone();
                merged.merge(delta);
                dirty.extend(rollup::changed_hours(Some(&old), &merged));
                *delta = merged;
            }
        }
        let update = tx
            .prepare_cached(&format!(
                "UPDATE jobs SET app = u.app, entity_kind = u.entity_kind, name = u.name,
                    key = u.key, parent = u.parent, status = u.status,
                    started_at = u.started_at, ended_at = u.ended_at,
                    end_duration_s = u.end_duration_s, duration_s = u.duration_s,
                    cpu_s = u.cpu_s, max_rss_bytes = u.max_rss_bytes, progress = u.progress,
                    progress_at = u.progress_at, message = u.message,
                    first_event_at = u.first_event_at, last_event_at = u.last_event_at,
                    event_count = u.event_count
                 FROM {JOB_ARRAYS} AS u({JOB_COLUMNS})
                 WHERE jobs.site = u.site AND jobs.entity_id = u.entity_id"
            ))
            .await
            .map_err(pg("prepare jobs update"))?;
        let cols = JobColumns::of(&rest);
        tx.execute(&update, &cols.params())
            .await
            .map_err(pg("update jobs"))?;
        mark_dirty(tx, dirty).await
    }

    pub async fn jobs(&self, filter: &JobFilter) -> Result<JobPage> {
        let (sql, params) = query::jobs_sql(Dialect::Postgres, JOB_COLUMNS, filter);
        let jobs = self.select_jobs(&sql, &params).await?;
        Ok(query::page(jobs, filter.limit))
    }

    async fn select_jobs(&self, sql: &str, params: &[Param]) -> Result<Vec<JobState>> {
        let client = self.pool.get().await.map_err(pool_err)?;
        let values = bind(params);
        let refs = as_refs(&values);
        let rows = client.query(sql, &refs).await.map_err(err("select jobs"))?;
        Ok(rows.iter().map(job_from_row).collect())
    }

    pub async fn job(
        &self,
        id: &str,
        site: Option<&str>,
        event_limit: u32,
    ) -> Result<Vec<JobDetail>> {
        let mut w = query::Conditions::new(Dialect::Postgres);
        w.add("entity_id", "=", Param::Text(id.to_string()));
        w.add_opt_text("site", &site.map(str::to_string));
        let found = self
            .select_jobs(
                &format!("SELECT {JOB_COLUMNS} FROM jobs{} ORDER BY site", w.sql()),
                &w.params,
            )
            .await?;
        let mut details = Vec::with_capacity(found.len());
        for job in found {
            let (sql, params) =
                query::subtree_sql(Dialect::Postgres, JOB_COLUMNS, &job.site, &job.entity_id);
            let subtree = self.select_jobs(&sql, &params).await?;
            let client = self.pool.get().await.map_err(pool_err)?;
            let events = client
                .query(
                    "SELECT body::text FROM events WHERE site = $1 AND entity_id = $2
                     ORDER BY time, seq LIMIT $3",
                    &[&job.site, &job.entity_id, &i64::from(event_limit)],
                )
                .await
                .map_err(err("entity events"))?
                .iter()
                .map(|r| r.get(0))
                .collect();
            details.push(JobDetail {
                job,
                subtree,
                events,
            });
        }
        Ok(details)
    }

    /// Clean whole hours from the rollup, the rest (dirty hours, partial edges, buckets
    /// finer than an hour) from `jobs`, all in one repeatable-read snapshot, so a refresh
    /// committing meanwhile is seen whole or not at all.
    pub async fn stats(&self, q: &StatsQuery) -> Result<Stats> {
        let mut client = self.pool.get().await.map_err(pool_err)?;
        let tx = client.transaction().await.map_err(err("stats"))?;
        // JIT compiling costs more than these queries run.
        tx.batch_execute(
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL jit = off",
        )
        .await
        .map_err(err("stats"))?;
        let plan = rollup::Plan::of(q);
        let mut answer = rollup::Answer::new(q);
        let running = query::running_conditions(Dialect::Postgres, q);
        let running_sql = format!("SELECT count(*) FROM jobs{}", running.sql());
        let running_values = bind(&running.params);
        let running_refs = as_refs(&running_values);
        let mut dirty = Vec::new();
        let running_count: i64;
        if let Some((first, end)) = plan.rolled {
            let mut w = query::Conditions::new(Dialect::Postgres);
            w.add("hour", ">=", Param::Time(first));
            w.add("hour", "<", Param::Time(end));
            let (first, end) = (time(first), time(end));
            w.add_opt_text("site", &q.site);
            w.add_opt_text("app", &q.app);
            w.add_opt_text("entity_kind", &q.entity_kind);
            let rollup_sql = format!(
                "SELECT hour, app, succeeded, failed, canceled, cpu_sum, cpu_count, peak_rss,
                        durations FROM stats_hourly{}",
                w.sql()
            );
            let values = bind(&w.params);
            let refs = as_refs(&values);
            // Sent together (pipelined on the one connection).
            let (dirty_rows, rows, running) = futures_util::future::try_join3(
                tx.query(
                    "SELECT DISTINCT hour FROM stats_dirty WHERE hour >= $1 AND hour < $2",
                    &[&first, &end],
                ),
                tx.query(&rollup_sql, &refs),
                tx.query_one(&running_sql, &running_refs),
            )
            .await
            .map_err(err("stats"))?;
            dirty = dirty_rows.iter().map(|r| micros(r.get(0))).collect();
            for r in &rows {
                let hour = micros(r.get(0));
                if dirty.contains(&hour) {
                    continue;
                }
                answer.add(&HourGroup {
                    hour,
                    app: r.get(1),
                    counts: [r.get(2), r.get(3), r.get(4)],
                    cpu_sum: r.get(5),
                    cpu_count: r.get(6),
                    peak_rss: r.get(7),
                    durations: rollup::decode_durations(r.get(8)),
                    ..HourGroup::default()
                });
            }
            running_count = running.get(0);
        } else {
            running_count = tx
                .query_one(&running_sql, &running_refs)
                .await
                .map_err(err("stats"))?
                .get(0);
        }
        let parts: Vec<(String, Vec<Box<dyn ToSql + Sync + Send>>)> = plan
            .raw_ranges(q, &dirty)
            .into_iter()
            .map(|(start, end)| {
                let part = StatsQuery {
                    start,
                    end,
                    ..q.clone()
                };
                let w = query::stats_conditions(Dialect::Postgres, &part);
                (
                    format!(
                        "SELECT app, ended_at, status, duration_s, cpu_s, max_rss_bytes FROM jobs{}",
                        w.sql()
                    ),
                    bind(&w.params),
                )
            })
            .collect();
        let refs: Vec<Vec<&(dyn ToSql + Sync)>> =
            parts.iter().map(|(_, values)| as_refs(values)).collect();
        let raw = futures_util::future::try_join_all(
            parts
                .iter()
                .zip(&refs)
                .map(|((sql, _), refs)| tx.query(sql.as_str(), refs)),
        )
        .await
        .map_err(err("stats"))?;
        tx.commit().await.map_err(err("stats"))?;
        for r in raw.iter().flatten() {
            let status: &str = r.get(2);
            answer.add_raw(
                r.get(0),
                micros(r.get(1)),
                status,
                r.get(3),
                r.get(4),
                r.get(5),
            );
        }
        Ok(answer.finish(running_count))
    }

    /// Recompute up to a day of dirty hours from `jobs` when this gateway left marks;
    /// returns how many. One gateway at a time (an advisory lock; when another one holds
    /// it, this one tries again at its next tick). The
    /// marks are read before the jobs, and only the marks read are cleared: a batch that
    /// commits after that read left a mark of its own, so its hour is done again.
    pub async fn refresh(&self) -> Result<usize> {
        if !self.stale.swap(false, Ordering::AcqRel) {
            return Ok(0);
        }
        let pass = self.refresh_pass().await;
        // More may be left (a pass does a day at most), or another gateway was busy.
        if !matches!(pass, Ok(Some(0))) {
            self.stale.store(true, Ordering::Release);
        }
        Ok(pass?.unwrap_or(0))
    }

    /// One pass of `refresh`; `None` when another gateway holds the refresh lock.
    async fn refresh_pass(&self) -> Result<Option<usize>> {
        let mut client = self.pool.get().await.map_err(pool_err)?;
        let tx = client.transaction().await.map_err(err("refresh"))?;
        let locked: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock(727275)", &[])
            .await
            .map_err(err("refresh lock"))?
            .get(0);
        if !locked {
            return Ok(None);
        }
        let marks = tx
            .query(
                "SELECT id, hour FROM stats_dirty
                 WHERE hour IN (SELECT DISTINCT hour FROM stats_dirty ORDER BY hour LIMIT 24)",
                &[],
            )
            .await
            .map_err(err("dirty hours"))?;
        if marks.is_empty() {
            return Ok(Some(0));
        }
        let ids: Vec<i64> = marks.iter().map(|r| r.get(0)).collect();
        let mut hours: Vec<OffsetDateTime> = marks.iter().map(|r| r.get(1)).collect();
        hours.sort_unstable();
        hours.dedup();
        tx.execute("DELETE FROM stats_hourly WHERE hour = ANY($1)", &[&hours])
            .await
            .map_err(err("refresh"))?;
        tx.execute(
            "INSERT INTO stats_hourly (hour, site, app, entity_kind, succeeded, failed, canceled,
                                       cpu_sum, cpu_count, peak_rss, durations)
             SELECT h.hour, j.site, j.app, j.entity_kind,
                    count(*) FILTER (WHERE j.status = 'succeeded'),
                    count(*) FILTER (WHERE j.status = 'failed'),
                    count(*) FILTER (WHERE j.status = 'canceled'),
                    coalesce(sum(j.cpu_s), 0), count(j.cpu_s), max(j.max_rss_bytes),
                    coalesce(string_agg(float8send(j.duration_s), ''::bytea ORDER BY j.duration_s)
                             FILTER (WHERE j.duration_s IS NOT NULL), ''::bytea)
             FROM unnest($1::timestamptz[]) AS h(hour)
             JOIN jobs j ON j.ended_at >= h.hour AND j.ended_at < h.hour + interval '1 hour'
             GROUP BY h.hour, j.site, j.app, j.entity_kind",
            &[&hours],
        )
        .await
        .map_err(err("refresh"))?;
        tx.execute("DELETE FROM stats_dirty WHERE id = ANY($1)", &[&ids])
            .await
            .map_err(err("refresh"))?;
        tx.commit().await.map_err(err("refresh"))?;
        Ok(Some(hours.len()))
    }

    pub async fn events(&self, range: &EventRange) -> Result<Vec<String>> {
        let client = self.pool.get().await.map_err(pool_err)?;
        let (sql, params) = match range.site {
            Some(_) => query::events_sql(Dialect::Postgres, range),
            None => all_sites_events_sql(range),
        };
        let values = bind(&params);
        let refs = as_refs(&values);
        Ok(client
            .query(&sql, &refs)
            .await
            .map_err(err("events"))?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    pub async fn ping(&self) -> Result<()> {
        let client = self.pool.get().await.map_err(pool_err)?;
        client
            .query_one("SELECT 1", &[])
            .await
            .map_err(err("ping"))?;
        Ok(())
    }

    /// Delete events older than the retention (plain PostgreSQL only; TimescaleDB drops
    /// whole chunks by policy), and entities whose last event is that old.
    pub async fn prune(&self, before: i64) -> Result<u64> {
        if self.timescale {
            return Ok(0);
        }
        let client = self.pool.get().await.map_err(pool_err)?;
        let cutoff = time(before);
        let deleted = client
            .execute("DELETE FROM events WHERE time < $1", &[&cutoff])
            .await
            .map_err(err("prune events"))?;
        // The rollup must forget the entities pruned here.
        client
            .execute(
                "WITH gone AS (DELETE FROM jobs WHERE last_event_at < $1 RETURNING ended_at)
                 INSERT INTO stats_dirty (hour)
                 SELECT DISTINCT date_bin('1 hour', ended_at, timestamptz 'epoch')
                 FROM gone WHERE ended_at IS NOT NULL",
                &[&cutoff],
            )
            .await
            .map_err(err("prune jobs"))?;
        self.stale.store(true, Ordering::Release);
        Ok(deleted)
    }
}

/// Events of every site in a range, oldest first. `events (time)` is a BRIN index (cheap
/// to keep up), which cannot return rows in time order; so each site's first `limit` come
/// from `events_site_time` in order, and only those are merged. The sites are found by
/// skipping through that index (one probe per site).
fn all_sites_events_sql(range: &EventRange) -> (String, Vec<Param>) {
    let params = vec![
        Param::Time(range.start),
        Param::Time(range.end),
        Param::Int(i64::from(range.limit)),
    ];
    let sql = "WITH RECURSIVE sites(site) AS (
                 SELECT min(site) FROM events
                 UNION ALL
                 SELECT (SELECT min(e.site) FROM events e WHERE e.site > sites.site)
                 FROM sites WHERE sites.site IS NOT NULL)
               SELECT e.body FROM sites,
                 LATERAL (SELECT body, time, seq FROM events
                          WHERE events.site = sites.site AND time >= $1 AND time < $2
                          ORDER BY time, seq LIMIT $3) AS e
               ORDER BY e.time, e.seq LIMIT $3";
    (sql.to_string(), params)
}

/// Mark the hours a batch changed, sorted so concurrent batches insert in the same order.
async fn mark_dirty(
    tx: &deadpool_postgres::Transaction<'_>,
    mut hours: Vec<i64>,
) -> std::result::Result<bool, Failure> {
    if hours.is_empty() {
        return Ok(false);
    }
    hours.sort_unstable();
    hours.dedup();
    let hours: Vec<OffsetDateTime> = hours.into_iter().map(time).collect();
    let insert = tx
        .prepare_cached("INSERT INTO stats_dirty (hour) SELECT unnest($1::timestamptz[])")
        .await
        .map_err(failed("prepare dirty"))?;
    tx.execute(&insert, &[&hours])
        .await
        .map_err(failed("mark dirty"))?;
    Ok(true)
}

fn bind(params: &[Param]) -> Vec<Box<dyn ToSql + Sync + Send>> {
    params
        .iter()
        .map(|p| -> Box<dyn ToSql + Sync + Send> {
            match p {
                Param::Text(s) => Box::new(s.clone()),
                Param::Time(t) => Box::new(time(*t)),
                Param::Int(i) => Box::new(*i),
            }
        })
        .collect()
}

fn job_from_row(r: &Row) -> JobState {
    let opt_time = |i: usize| r.get::<_, Option<OffsetDateTime>>(i).map(micros);
    let end = Ending::from_stored(r.get(7), opt_time(9), r.get(10), r.get(12), r.get(16));
    JobState {
        site: r.get(0),
        entity_id: r.get(1),
        app: r.get(2),
        entity_kind: r.get(3),
        name: r.get(4),
        key: r.get(5),
        parent: r.get(6),
        started_at: opt_time(8),
        end,
        max_rss_bytes: r.get(13),
        progress: r.get(14),
        progress_at: opt_time(15),
        first_event_at: micros(r.get(17)),
        last_event_at: micros(r.get(18)),
        event_count: r.get(19),
    }
}

/// The events of a batch as parallel arrays for `unnest`, borrowing the events' strings.
struct EventColumns<'a> {
    id: Vec<Uuid>,
    time: Vec<OffsetDateTime>,
    seq: Vec<i64>,
    site: Vec<&'a str>,
    app: Vec<&'a str>,
    entity_kind: Vec<&'a str>,
    entity_id: Vec<&'a str>,
    parent: Vec<Option<&'a str>>,
    kind: Vec<&'static str>,
    status: Vec<&'static str>,
    body: Vec<&'a str>,
}

impl<'a> EventColumns<'a> {
    fn of(batch: &[(usize, &'a Incoming)]) -> EventColumns<'a> {
        let n = batch.len();
        let mut c = EventColumns {
            id: Vec::with_capacity(n),
            time: Vec::with_capacity(n),
            seq: Vec::with_capacity(n),
            site: Vec::with_capacity(n),
            app: Vec::with_capacity(n),
            entity_kind: Vec::with_capacity(n),
            entity_id: Vec::with_capacity(n),
            parent: Vec::with_capacity(n),
            kind: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            body: Vec::with_capacity(n),
        };
        for (_, item) in batch {
            let e = &item.event;
            c.id.push(e.id);
            c.time.push(time(e.time.unix_micros()));
            c.seq.push(i64::try_from(e.seq).unwrap_or(i64::MAX));
            c.site.push(&e.site);
            c.app.push(&e.app.name);
            c.entity_kind.push(&e.entity.kind);
            c.entity_id.push(&e.entity.id);
            c.parent.push(e.entity.parent.as_deref());
            c.kind.push(e.kind.as_str());
            c.status.push(e.status.as_str());
            c.body.push(&item.json);
        }
        c
    }
}

/// Job states as parallel arrays, in `JOB_COLUMNS` order, borrowing the states' strings.
struct JobColumns<'a> {
    site: Vec<&'a str>,
    entity_id: Vec<&'a str>,
    app: Vec<&'a str>,
    entity_kind: Vec<&'a str>,
    name: Vec<Option<&'a str>>,
    key: Vec<Option<&'a str>>,
    parent: Vec<Option<&'a str>>,
    status: Vec<&'static str>,
    started_at: Vec<Option<OffsetDateTime>>,
    ended_at: Vec<Option<OffsetDateTime>>,
    end_duration_s: Vec<Option<f64>>,
    duration_s: Vec<Option<f64>>,
    cpu_s: Vec<Option<f64>>,
    max_rss_bytes: Vec<Option<f64>>,
    progress: Vec<Option<f64>>,
    progress_at: Vec<Option<OffsetDateTime>>,
    message: Vec<Option<&'a str>>,
    first_event_at: Vec<OffsetDateTime>,
    last_event_at: Vec<OffsetDateTime>,
    event_count: Vec<i64>,
}

impl<'a> JobColumns<'a> {
    fn of(states: &'a [JobState]) -> JobColumns<'a> {
        JobColumns {
            site: states.iter().map(|s| s.site.as_str()).collect(),
            entity_id: states.iter().map(|s| s.entity_id.as_str()).collect(),
            app: states.iter().map(|s| s.app.as_str()).collect(),
            entity_kind: states.iter().map(|s| s.entity_kind.as_str()).collect(),
            name: states.iter().map(|s| s.name.as_deref()).collect(),
            key: states.iter().map(|s| s.key.as_deref()).collect(),
            parent: states.iter().map(|s| s.parent.as_deref()).collect(),
            status: states.iter().map(|s| s.status().as_str()).collect(),
            started_at: states.iter().map(|s| s.started_at.map(time)).collect(),
            ended_at: states.iter().map(|s| s.ended_at().map(time)).collect(),
            end_duration_s: states
                .iter()
                .map(|s| s.end.as_ref().and_then(|e| e.duration_s))
                .collect(),
            duration_s: states.iter().map(JobState::duration_s).collect(),
            cpu_s: states
                .iter()
                .map(|s| s.end.as_ref().and_then(|e| e.cpu_s))
                .collect(),
            max_rss_bytes: states.iter().map(|s| s.max_rss_bytes).collect(),
            progress: states.iter().map(|s| s.progress).collect(),
            progress_at: states.iter().map(|s| s.progress_at.map(time)).collect(),
            message: states
                .iter()
                .map(|s| s.end.as_ref().and_then(|e| e.message.as_deref()))
                .collect(),
            first_event_at: states.iter().map(|s| time(s.first_event_at)).collect(),
            last_event_at: states.iter().map(|s| time(s.last_event_at)).collect(),
            event_count: states.iter().map(|s| s.event_count).collect(),
        }
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 20] {
        [
            &self.site,
            &self.entity_id,
            &self.app,
            &self.entity_kind,
            &self.name,
            &self.key,
            &self.parent,
            &self.status,
            &self.started_at,
            &self.ended_at,
            &self.end_duration_s,
            &self.duration_s,
            &self.cpu_s,
            &self.max_rss_bytes,
            &self.progress,
            &self.progress_at,
            &self.message,
            &self.first_event_at,
            &self.last_event_at,
            &self.event_count,
        ]
    }
}

fn as_refs(values: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    values
        .iter()
        .map(|v| v.as_ref() as &(dyn ToSql + Sync))
        .collect()
}
