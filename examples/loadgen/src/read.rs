//! The read benchmark: typical dashboard queries against the gateway under concurrency,
//! with latency per query type.
//!
//! A discovery pass (not timed) learns what is stored: sites and apps, a sample of entity ids
//! from across the whole time range, and real cursors for page 5 of a listing. Then each
//! connection sends one query type (connection `w` takes type `w % 6`; with fewer than six
//! connections, each cycles through all types) until the time is up, so a slow query type
//! cannot starve the others of samples, while all of them compete for the database.

use std::fmt;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;
use wafermon::event::Timestamp;

use crate::http::{self, encode};
use crate::ingest::check_health;
use crate::stats::{ms, thousands, Errors, Latency};

const HOUR: i64 = 3_600_000_000;

#[derive(Debug, Clone)]
pub struct Options {
    pub url: String,
    pub seconds: f64,
    pub warmup: f64,
    pub connections: usize,
    /// How far back the stored history goes (where entity ids are sampled).
    pub span_hours: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Query {
    JobsFiltered,
    JobsPage5,
    JobDetail,
    Stats24h,
    Stats7d,
    Unified1m,
}

impl Query {
    pub const ALL: [Query; 6] = [
        Query::JobsFiltered,
        Query::JobsPage5,
        Query::JobDetail,
        Query::Stats24h,
        Query::Stats7d,
        Query::Unified1m,
    ];

    pub fn describe(self) -> &'static str {
        match self {
            Query::JobsFiltered => "jobs page 1, filtered (100)",
            Query::JobsPage5 => "jobs page 5 via cursor (100)",
            Query::JobDetail => "job detail (+events, subtree)",
            Query::Stats24h => "stats over 24 h, all sites",
            Query::Stats7d => "stats over 7 d (6 h buckets)",
            Query::Unified1m => "unified view, 1 minute, 1 site",
        }
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// What discovery learned about the store.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub sites: Vec<String>,
    pub apps: Vec<String>,
    /// (site, entity id) sampled across the time range.
    pub entities: Vec<(String, String)>,
    /// (query string without cursor, cursor of page 5).
    pub page5: Vec<(String, String)>,
    /// The newest activity in the store, micros.
    pub newest: i64,
}

#[derive(Deserialize)]
struct JobsPage {
    jobs: Vec<JobRow>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct JobRow {
    site: String,
    id: String,
    app: String,
    kind: String,
    last_event_at: String,
}

fn jobs_page(agent: &ureq::Agent, url: &str, query: &str) -> Result<JobsPage, String> {
    let full = format!("{url}/v1/jobs?{query}");
    let reply = http::get(agent, &full)?;
    if !reply.ok() {
        return Err(format!("GET {full}: {}", reply.describe()));
    }
    serde_json::from_slice(&reply.body).map_err(|e| format!("GET {full}: {e}"))
}

pub fn discover(o: &Options) -> Result<Catalog, String> {
    let agent = http::agent(Duration::from_secs(120));
    let first = jobs_page(&agent, &o.url, "limit=1000")?;
    if first.jobs.is_empty() {
        return Err("the gateway's store is empty: seed it first (wafermon-loadgen seed)".into());
    }
    let newest = first
        .jobs
        .iter()
        .filter_map(|j| Timestamp::parse(&j.last_event_at).ok())
        .map(Timestamp::unix_micros)
        .max()
        .unwrap_or_else(|| Timestamp::now().unix_micros());
    let mut sites: Vec<String> = first.jobs.iter().map(|j| j.site.clone()).collect();
    let mut apps: Vec<String> = first
        .jobs
        .iter()
        .filter(|j| j.kind == "job")
        .map(|j| j.app.clone())
        .collect();
    sites.sort();
    sites.dedup();
    apps.sort();
    apps.dedup();

    // Entities from across the whole history, not only the newest (which would be cached).
    // A cursor is `micros~site~id`; one made up at a random time starts the listing there.
    let span = (o.span_hours * HOUR as f64) as i64;
    let mut entities = Vec::new();
    for k in 0..40 {
        let at = newest - span * k / 40 - fastrand::i64(0..(span / 40).max(1));
        // Should the cursor format change, the newest entities (below) have to do.
        let Ok(page) = jobs_page(&agent, &o.url, &format!("kind=job&limit=10&cursor={at}~~"))
        else {
            break;
        };
        entities.extend(page.jobs.into_iter().map(|j| (j.site, j.id)));
    }
    if entities.is_empty() {
        entities.extend(first.jobs.iter().map(|j| (j.site.clone(), j.id.clone())));
    }

    // Real cursors: follow a listing per site to its fifth page.
    let mut page5 = Vec::new();
    for site in &sites {
        let base = format!("site={}&kind=job&limit=100", encode(site));
        let mut cursor: Option<String> = None;
        for _ in 0..4 {
            let query = match &cursor {
                Some(c) => format!("{base}&cursor={}", encode(c)),
                None => base.clone(),
            };
            cursor = jobs_page(&agent, &o.url, &query)?.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        if let Some(c) = cursor {
            page5.push((base, c));
        }
    }
    if page5.is_empty() {
        return Err("fewer than 5 pages of jobs per site: seed more events first".into());
    }
    Ok(Catalog {
        sites,
        apps,
        entities,
        page5,
        newest,
    })
}

impl Catalog {
    /// The path and query of one request of type `q`.
    fn request(&self, q: Query, rng: &mut fastrand::Rng) -> String {
        let site = encode(&self.sites[rng.usize(..self.sites.len())]);
        let app = encode(&self.apps[rng.usize(..self.apps.len().max(1))].clone());
        match q {
            Query::JobsFiltered => match rng.u8(..4) {
                0 => format!("/v1/jobs?site={site}&kind=job"),
                1 => format!("/v1/jobs?site={site}&app={app}"),
                2 => format!("/v1/jobs?app={app}&status=failed"),
                _ => format!("/v1/jobs?site={site}&status=succeeded&kind=job"),
            },
            Query::JobsPage5 => {
                let (base, cursor) = &self.page5[rng.usize(..self.page5.len())];
                format!("/v1/jobs?{base}&cursor={}", encode(cursor))
            }
            Query::JobDetail => {
                let (site, id) = &self.entities[rng.usize(..self.entities.len())];
                format!("/v1/jobs/{}?site={}", encode(id), encode(site))
            }
            Query::Stats24h => format!(
                "/v1/stats?start={}&end={}",
                encode(&time(self.newest + 1 - 24 * HOUR)),
                encode(&time(self.newest + 1))
            ),
            // The history view's 7-day chart.
            Query::Stats7d => format!(
                "/v1/stats?start={}&end={}&bucket_s=21600",
                encode(&time(self.newest + 1 - 7 * 24 * HOUR)),
                encode(&time(self.newest + 1))
            ),
            Query::Unified1m => {
                let start = self.newest - rng.i64(60_000_000..24 * HOUR);
                format!(
                    "/v1/data/unified?site_id={site}&start={}&end={}",
                    encode(&time(start)),
                    encode(&time(start + 60_000_000))
                )
            }
        }
    }
}

fn time(micros: i64) -> String {
    Timestamp::from_unix_micros(micros).to_string()
}

pub struct PerQuery {
    pub query: Query,
    pub latency: Latency,
    pub errors: Errors,
}

pub struct Report {
    pub options: Options,
    pub elapsed: f64,
    pub per_query: Vec<PerQuery>,
    pub catalog: Catalog,
}

impl Report {
    pub fn print(&self) {
        let total: u64 = self.per_query.iter().map(|p| p.latency.count()).sum();
        println!(
            "== read queries, {} connections, {:.1} s: {} requests/s in all ({} sites, {} sampled entities)",
            self.options.connections,
            self.elapsed,
            thousands(total as f64 / self.elapsed),
            self.catalog.sites.len(),
            self.catalog.entities.len()
        );
        println!(
            "   {:<32} {:>5} {:>8} {:>9} {:>9} {:>9} {:>9} {:>7}",
            "query", "conns", "req/s", "p50", "p95", "p99", "max", "errors"
        );
        let conns = self.options.connections;
        let types = Query::ALL.len();
        for (t, p) in self.per_query.iter().enumerate() {
            let mine = if conns < types {
                "all".to_string()
            } else {
                (conns / types + usize::from(t < conns % types)).to_string()
            };
            println!(
                "   {:<32} {:>5} {:>8} {:>9} {:>9} {:>9} {:>9} {:>7}",
                p.query.describe(),
                mine,
                format!("{:.1}", p.latency.count() as f64 / self.elapsed),
                ms(p.latency.ms(0.50)),
                ms(p.latency.ms(0.95)),
                ms(p.latency.ms(0.99)),
                ms(p.latency.max_ms()),
                p.errors.count
            );
        }
        for p in &self.per_query {
            p.errors.print("   ");
        }
    }
}

pub fn run(o: &Options) -> Result<Report, String> {
    check_health(&o.url)?;
    eprintln!("loadgen: discovering what the store holds ...");
    let catalog = Arc::new(discover(o)?);
    let conns = o.connections.max(1);
    let barrier = Arc::new(Barrier::new(conns + 1));
    let mut workers = Vec::with_capacity(conns);
    for w in 0..conns {
        let (o, catalog, barrier) = (o.clone(), catalog.clone(), barrier.clone());
        workers.push(
            thread::Builder::new()
                .name(format!("read-{w}"))
                .spawn(move || {
                    barrier.wait();
                    read_worker(w, &o, &catalog)
                })
                .map_err(|e| format!("cannot start a read thread: {e}"))?,
        );
    }
    eprintln!(
        "loadgen: read queries, warm-up {:.0} s, then {:.0} s measured ...",
        o.warmup, o.seconds
    );
    barrier.wait();
    let measured_from = Instant::now() + Duration::from_secs_f64(o.warmup);
    let mut per_query: Vec<PerQuery> = Query::ALL
        .iter()
        .map(|&query| PerQuery {
            query,
            latency: Latency::new(),
            errors: Errors::default(),
        })
        .collect();
    let mut last = measured_from;
    for h in workers {
        let (results, done) = h.join().map_err(|_| "a read thread panicked".to_string())?;
        for (mine, theirs) in per_query.iter_mut().zip(results) {
            mine.latency.merge(&theirs.latency);
            mine.errors.merge(&theirs.errors);
        }
        last = last.max(done);
    }
    Ok(Report {
        options: o.clone(),
        elapsed: (last - measured_from).as_secs_f64().max(1e-3),
        per_query,
        catalog: Arc::try_unwrap(catalog).unwrap_or_else(|c| (*c).clone()),
    })
}

fn read_worker(w: usize, o: &Options, catalog: &Catalog) -> (Vec<PerQuery>, Instant) {
    let agent = http::agent(Duration::from_secs(120));
    let mut rng = fastrand::Rng::new();
    let start = Instant::now();
    let measured_from = start + Duration::from_secs_f64(o.warmup);
    let deadline = measured_from + Duration::from_secs_f64(o.seconds);
    let mut results: Vec<PerQuery> = Query::ALL
        .iter()
        .map(|&query| PerQuery {
            query,
            latency: Latency::new(),
            errors: Errors::default(),
        })
        .collect();
    let mut last = start;
    // One type per connection when there are enough connections, else all types in turn.
    let cycle = o.connections < Query::ALL.len();
    let mut i = w;
    loop {
        let began = Instant::now();
        if began >= deadline {
            break;
        }
        let kind = i % Query::ALL.len();
        if cycle {
            i += 1;
        }
        let path = catalog.request(Query::ALL[kind], &mut rng);
        let result = http::get(&agent, &format!("{}{path}", o.url));
        let done = Instant::now();
        // Counted by completion, like the ingest runs.
        if done < measured_from {
            continue;
        }
        last = done;
        let slot = &mut results[kind];
        slot.latency.record(done - began);
        match result {
            Ok(reply) if reply.ok() => {}
            Ok(reply) => slot.errors.add(format!("GET {path}: {}", reply.describe())),
            Err(e) => slot.errors.add(format!("GET {path}: {e}")),
        }
    }
    (results, last)
}
