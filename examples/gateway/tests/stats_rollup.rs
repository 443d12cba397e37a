//! `/v1/stats` answers from the hourly rollup: for a seeded set with late endings, resends
//! and several sites, apps and kinds, every answer (the history view's charts included)
//! equals the one computed the old way straight from the jobs rows — `percentile_cont` on
//! PostgreSQL, the same interpolation in Rust on SQLite — for 24 h and 7 d windows and for
//! windows not aligned to hours; before the rollup caught up, after, and after an upgrade
//! from a store made before the rollup existed.

mod common;

use std::time::{Duration, Instant};

use common::{encode, ev, ts, Ev, Gateway, DAY, HOUR, MINUTE, PATIENCE, SECOND, T0};
use serde_json::{json, Value};

on_both_stores! {
    stats_from_the_rollup_equal_the_raw_answer => stats_from_the_rollup_equal_the_raw_answer_sqlite, stats_from_the_rollup_equal_the_raw_answer_postgres;
    an_upgraded_store_builds_its_rollup_at_start => an_upgraded_store_builds_its_rollup_at_start_sqlite, an_upgraded_store_builds_its_rollup_at_start_postgres;
}

/// A small deterministic generator (no dependency needed for test data).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SITES: [&str; 3] = ["fab1", "fab2", "fab3"];
const APPS: [&str; 3] = ["etch", "litho", "cmp"];

/// One seeded entity: its events, and what a late ending or start would send for it.
struct Entity {
    site: &'static str,
    app: &'static str,
    kind: &'static str,
    id: String,
    start: i64,
    end: Option<i64>,
    started_sent: bool,
}

impl Entity {
    fn ev(&self, kind: &str, at: i64) -> Ev {
        ev(self.site, self.app, &self.id, kind, at).entity_kind(self.kind)
    }
}

/// Entities over the eight days before T0: most ended (some with a measured duration, CPU
/// and RSS, some without a start so no duration), some still running.
fn seed(rng: &mut Rng, n: usize, prefix: &str) -> (Vec<Entity>, Vec<Value>) {
    let mut entities = Vec::new();
    let mut events = Vec::new();
    for i in 0..n {
        let start = T0 - 8 * DAY + rng.below((8 * DAY / SECOND) as u64) as i64 * SECOND + 123;
        let span = (1 + rng.below(7200)) as i64 * SECOND + rng.below(1000) as i64;
        let ended = rng.below(10) != 0;
        let e = Entity {
            site: SITES[rng.below(3) as usize],
            app: APPS[rng.below(3) as usize],
            kind: if rng.below(4) == 0 { "step" } else { "job" },
            id: format!("{prefix}-{i}"),
            start,
            end: ended.then_some(start + span),
            started_sent: rng.below(5) != 0,
        };
        if e.started_sent {
            events.push(e.ev("started", start).build());
        }
        if let Some(end) = e.end {
            let terminal = match rng.below(10) {
                0..=6 => "finished",
                7 | 8 => "failed",
                _ => "canceled",
            };
            let mut last = e.ev(terminal, end);
            if rng.below(5) < 3 {
                // A few durations repeat, so percentiles meet ties.
                last = last.metric("duration_s", (rng.below(400) as f64) / 8.0 + 0.1);
            }
            if rng.below(2) == 0 {
                last = last
                    .metric("cpu_user_s", rng.below(10_000) as f64 / 7.0)
                    .metric("cpu_system_s", 0.25);
            }
            if rng.below(2) == 0 {
                last = last.metric("max_rss_bytes", (rng.below(1 << 20) * 4096) as f64);
            }
            events.push(last.build());
        }
        entities.push(e);
    }
    (entities, events)
}

fn send(gw: &Gateway, events: &[Value]) {
    for chunk in events.chunks(400) {
        gw.ingest(chunk);
    }
}

fn dirty_marks(db: &str) -> i64 {
    if let Some(path) = db.strip_prefix("sqlite://") {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.query_row("SELECT count(*) FROM stats_dirty", [], |r| r.get(0))
            .unwrap()
    } else {
        common::pg_query(db, "SELECT count(*) FROM stats_dirty").unwrap()[0].get(0)
    }
}

fn wait_for_clean_rollup(db: &str) {
    let deadline = Instant::now() + PATIENCE;
    while dirty_marks(db) > 0 {
        assert!(Instant::now() < deadline, "the rollup never caught up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Window {
    start: i64,
    end: i64,
    filter: &'static str,
    bucket_s: u32,
}

/// The windows the history view asks for (24 h in hours, 7 d in 6 h), whole days, a finer
/// bucket, and windows not aligned to hours; with each filter.
fn windows() -> Vec<Window> {
    let spans = [
        (T0 - DAY, T0),
        (T0 - 7 * DAY, T0),
        (T0 - DAY + 17 * MINUTE + 3 * SECOND, T0 - 13 * MINUTE),
        (T0 - 7 * DAY - 30 * MINUTE, T0 - 2 * HOUR + 1),
    ];
    let filters = [
        "",
        "site=fab1",
        "app=etch",
        "kind=step",
        "site=fab2&app=litho",
    ];
    let mut out = Vec::new();
    for (start, end) in spans {
        for filter in filters {
            for bucket_s in [3600, 21_600, 86_400, 7200] {
                out.push(Window {
                    start,
                    end,
                    filter,
                    bucket_s,
                });
            }
        }
    }
    out.push(Window {
        start: T0 - 6 * HOUR + 5 * MINUTE,
        end: T0,
        filter: "",
        bucket_s: 600,
    });
    out
}

/// hours rows, apps rows and mean CPU per app, as comparable JSON.
type Answer = (Vec<Value>, Vec<Value>, Vec<Option<f64>>, i64);

fn from_api(gw: &Gateway, w: &Window) -> Answer {
    let mut path = format!(
        "/v1/stats?start={}&end={}&bucket_s={}",
        encode(&ts(w.start)),
        encode(&ts(w.end)),
        w.bucket_s
    );
    if !w.filter.is_empty() {
        path = format!("{path}&{}", w.filter);
    }
    let stats = gw.get_json(&path);
    let hours = stats["hours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            json!([
                h["app"],
                h["hour"],
                h["ended"],
                h["succeeded"],
                h["failed"],
                h["canceled"],
                h["p50_duration_s"],
                h["p95_duration_s"]
            ])
        })
        .collect();
    let apps = stats["apps"].as_array().unwrap();
    let app_rows = apps
        .iter()
        .map(|a| {
            json!([
                a["app"],
                a["ended"],
                a["succeeded"],
                a["failed"],
                a["canceled"],
                a["p50_duration_s"],
                a["p95_duration_s"],
                a["peak_rss_bytes"]
            ])
        })
        .collect();
    let cpu = apps.iter().map(|a| a["mean_cpu_s"].as_f64()).collect();
    (hours, app_rows, cpu, stats["running"].as_i64().unwrap())
}

fn filter_pairs(filter: &str) -> Vec<(String, String)> {
    filter
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            let column = if k == "kind" { "entity_kind" } else { k };
            (column.to_string(), v.to_string())
        })
        .collect()
}

/// The old way on PostgreSQL: `percentile_cont` over the jobs rows.
fn from_postgres(db: &str, w: &Window) -> Answer {
    let at = |m: i64| format!("(timestamptz 'epoch' + {m} * interval '1 microsecond')");
    let mut filter = format!("ended_at >= {} AND ended_at < {}", at(w.start), at(w.end));
    let mut running = format!(
        "status = 'running' AND last_event_at >= {} AND first_event_at < {}",
        at(w.start),
        at(w.end)
    );
    for (k, v) in filter_pairs(w.filter) {
        filter.push_str(&format!(" AND {k} = '{v}'"));
        running.push_str(&format!(" AND {k} = '{v}'"));
    }
    let ended = "count(*), count(*) FILTER (WHERE status = 'succeeded'),
        count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'canceled'),
        percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_s),
        percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_s)";
    let hours = common::pg_query(
        db,
        &format!(
            "SELECT app, (extract(epoch FROM date_bin(interval '{} seconds', ended_at,
                    timestamptz 'epoch')) * 1000000)::int8 AS b, {ended}
             FROM jobs WHERE {filter} GROUP BY app, b ORDER BY b, app",
            w.bucket_s
        ),
    )
    .unwrap()
    .iter()
    .map(|r| {
        json!([
            r.get::<_, String>(0),
            ts(r.get(1)),
            r.get::<_, i64>(2),
            r.get::<_, i64>(3),
            r.get::<_, i64>(4),
            r.get::<_, i64>(5),
            r.get::<_, Option<f64>>(6),
            r.get::<_, Option<f64>>(7)
        ])
    })
    .collect();
    let app_rows = common::pg_query(
        db,
        &format!(
            "SELECT app, {ended}, avg(cpu_s), max(max_rss_bytes)
             FROM jobs WHERE {filter} GROUP BY app ORDER BY app"
        ),
    )
    .unwrap();
    let apps = app_rows
        .iter()
        .map(|r| {
            json!([
                r.get::<_, String>(0),
                r.get::<_, i64>(1),
                r.get::<_, i64>(2),
                r.get::<_, i64>(3),
                r.get::<_, i64>(4),
                r.get::<_, Option<f64>>(5),
                r.get::<_, Option<f64>>(6),
                r.get::<_, Option<f64>>(8)
            ])
        })
        .collect();
    let cpu = app_rows.iter().map(|r| r.get(7)).collect();
    let running = common::pg_query(db, &format!("SELECT count(*) FROM jobs WHERE {running}"))
        .unwrap()[0]
        .get(0);
    (hours, apps, cpu, running)
}

/// `percentile_cont`'s interpolation between the closest ranks.
fn percentile(sorted: &[f64], fraction: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = fraction * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    Some(sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64))
}

/// The old way on SQLite: every jobs row of the window, grouped and interpolated in Rust.
fn from_sqlite(path: &str, w: &Window) -> Answer {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut filter = format!("ended_at >= {} AND ended_at < {}", w.start, w.end);
    let mut running = format!(
        "status = 'running' AND last_event_at >= {} AND first_event_at < {}",
        w.start, w.end
    );
    for (k, v) in filter_pairs(w.filter) {
        filter.push_str(&format!(" AND {k} = '{v}'"));
        running.push_str(&format!(" AND {k} = '{v}'"));
    }
    #[derive(Default)]
    struct Group {
        counts: [i64; 3],
        durations: Vec<f64>,
        cpu: Vec<f64>,
        rss: Option<f64>,
    }
    let bucket = i64::from(w.bucket_s) * SECOND;
    let mut hours: std::collections::BTreeMap<(i64, String), Group> = Default::default();
    let mut apps: std::collections::BTreeMap<String, Group> = Default::default();
    let mut stmt = conn
        .prepare(&format!(
            "SELECT app, ended_at, status, duration_s, cpu_s, max_rss_bytes FROM jobs WHERE {filter}"
        ))
        .unwrap();
    let mut rows = stmt.query([]).unwrap();
    while let Some(r) = rows.next().unwrap() {
        let app: String = r.get(0).unwrap();
        let at: i64 = r.get(1).unwrap();
        let status: String = r.get(2).unwrap();
        let index = ["succeeded", "failed", "canceled"]
            .iter()
            .position(|s| *s == status)
            .unwrap();
        let (d, c, m): (Option<f64>, Option<f64>, Option<f64>) =
            (r.get(3).unwrap(), r.get(4).unwrap(), r.get(5).unwrap());
        for g in [
            hours
                .entry((at.div_euclid(bucket) * bucket, app.clone()))
                .or_default(),
            apps.entry(app.clone()).or_default(),
        ] {
            g.counts[index] += 1;
            g.durations.extend(d);
            g.cpu.extend(c);
            g.rss = match (g.rss, m) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
    }
    let ended = |g: &mut Group| {
        g.durations.sort_by(f64::total_cmp);
        vec![
            json!(g.counts.iter().sum::<i64>()),
            json!(g.counts[0]),
            json!(g.counts[1]),
            json!(g.counts[2]),
            json!(percentile(&g.durations, 0.5)),
            json!(percentile(&g.durations, 0.95)),
        ]
    };
    let hours = hours
        .into_iter()
        .map(|((at, app), mut g)| {
            let mut row = vec![json!(app), json!(ts(at))];
            row.extend(ended(&mut g));
            Value::Array(row)
        })
        .collect();
    let mut cpu = Vec::new();
    let apps = apps
        .into_iter()
        .map(|(app, mut g)| {
            let mut row = vec![json!(app)];
            row.extend(ended(&mut g));
            row.push(json!(g.rss));
            cpu.push((!g.cpu.is_empty()).then(|| g.cpu.iter().sum::<f64>() / g.cpu.len() as f64));
            Value::Array(row)
        })
        .collect();
    let running = conn
        .query_row(
            &format!("SELECT count(*) FROM jobs WHERE {running}"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    (hours, apps, cpu, running)
}

/// Every window's answer equals the old way's; returns how many hour rows were compared.
fn assert_all_answers_exact(gw: &Gateway, db: &str, phase: &str) -> usize {
    let mut compared = 0;
    for w in windows() {
        let got = from_api(gw, &w);
        let want = match db.strip_prefix("sqlite://") {
            Some(path) => from_sqlite(path, &w),
            None => from_postgres(db, &w),
        };
        let label = format!(
            "{phase}: {}..{} {} bucket {}",
            ts(w.start),
            ts(w.end),
            w.filter,
            w.bucket_s
        );
        assert_eq!(got.0, want.0, "hours differ, {label}");
        assert_eq!(got.1, want.1, "apps differ, {label}");
        assert_eq!(got.3, want.3, "running differs, {label}");
        // A mean is a float sum, whose last bits depend on the order it is added in (not
        // fixed in SQL either): equal to 1e-12 relative.
        assert_eq!(got.2.len(), want.2.len(), "{label}");
        for (g, e) in got.2.iter().zip(&want.2) {
            match (g, e) {
                (Some(g), Some(e)) => {
                    assert!(
                        (g - e).abs() <= 1e-12 * e.abs().max(1.0),
                        "mean cpu {g} vs {e}, {label}"
                    )
                }
                _ => assert_eq!(g, e, "mean cpu, {label}"),
            }
        }
        compared += got.0.len();
    }
    compared
}

fn stats_from_the_rollup_equal_the_raw_answer(db: &str) {
    let gw = Gateway::start(db);
    let mut rng = Rng(16);
    let (entities, events) = seed(&mut rng, 600, "E");
    send(&gw, &events);
    wait_for_clean_rollup(db);
    let compared = assert_all_answers_exact(&gw, db, "seeded, rollup clean");
    assert!(
        compared > 500,
        "the windows hold ended entities ({compared} rows)"
    );
    let before_resend = from_api(&gw, &windows()[4]);

    // Resends: the same events (same ids) again change nothing.
    send(&gw, &events[..300]);
    assert_eq!(
        from_api(&gw, &windows()[4]),
        before_resend,
        "a resend counted twice"
    );

    // Late endings: an earlier failure for ended entities (their ending moves to an hour
    // already rolled up), a late start for entities that ended without one (their
    // duration appears), and new entities ending days ago.
    let mut late = Vec::new();
    for e in entities.iter().filter(|e| e.end.is_some()).take(60) {
        let end = e.end.unwrap();
        late.push(
            e.ev("failed", e.start + (end - e.start) / 3)
                .message("late")
                .build(),
        );
    }
    for e in entities
        .iter()
        .filter(|e| e.end.is_some() && !e.started_sent)
        .take(30)
    {
        late.push(e.ev("started", e.start - 17 * MINUTE).build());
    }
    for e in entities.iter().filter(|e| e.end.is_none()).take(20) {
        late.push(
            e.ev("canceled", e.start + 3 * HOUR)
                .metric("duration_s", 3.5)
                .build(),
        );
    }
    let (_, more) = seed(&mut rng, 80, "L");
    late.extend(more);
    send(&gw, &late);
    // Straight away: the hours they touched are dirty and read raw.
    assert_all_answers_exact(&gw, db, "late endings, rollup dirty");
    wait_for_clean_rollup(db);
    assert_all_answers_exact(&gw, db, "late endings, rollup refreshed");
    // And again, with the late events resent.
    send(&gw, &late);
    assert_all_answers_exact(&gw, db, "late endings resent");
}

fn an_upgraded_store_builds_its_rollup_at_start(db: &str) {
    let mut gw = Gateway::start(db);
    let (_, events) = seed(&mut Rng(7), 300, "U");
    send(&gw, &events);
    gw.terminate();
    // The store as the previous schema left it: no rollup, migration 3 not run.
    common::store_execute(
        db,
        "DROP TABLE stats_hourly; DROP TABLE stats_dirty;
         DELETE FROM schema_migrations WHERE version = 3;",
        "DROP TABLE stats_hourly; DROP TABLE stats_dirty; DROP INDEX jobs_ended_at;
         DELETE FROM schema_migrations WHERE version = 3;",
    );
    let gw = Gateway::start(db);
    assert_eq!(common::schema_versions(db), vec![1, 2, 3]);
    // Built before the gateway answered: nothing is left dirty.
    assert_eq!(dirty_marks(db), 0);
    let compared = assert_all_answers_exact(&gw, db, "upgraded");
    assert!(compared > 200, "{compared} rows");
}
