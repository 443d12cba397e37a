//! Read queries as data, and the one place that turns their filters into SQL for either
//! database (only the placeholder syntax and the time type differ).

/// `GET /v1/jobs` filters. Times are microseconds since the epoch.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub site: Option<String>,
    pub app: Option<String>,
    pub status: Option<String>,
    pub entity_kind: Option<String>,
    pub parent: Option<String>,
    /// Part of the business key, name or id, any case.
    pub search: Option<String>,
    /// Entities active at or after this time (their last event).
    pub start: Option<i64>,
    /// Entities active before this time (their first event).
    pub end: Option<i64>,
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

/// Where the previous page ended: pages are ordered by last activity, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub last_event_at: i64,
    pub site: String,
    pub entity_id: String,
}

impl Cursor {
    /// An opaque-looking but plain token: `micros~site~id` with `~` and `%` escaped.
    pub fn encode(&self) -> String {
        format!(
            "{}~{}~{}",
            self.last_event_at,
            escape(&self.site),
            escape(&self.entity_id)
        )
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        let mut parts = text.splitn(3, '~');
        let last_event_at = parts.next()?.parse().ok()?;
        let site = unescape(parts.next()?)?;
        let entity_id = unescape(parts.next()?)?;
        Some(Cursor {
            last_event_at,
            site,
            entity_id,
        })
    }
}

fn escape(text: &str) -> String {
    text.replace('%', "%25").replace('~', "%7E")
}

fn unescape(text: &str) -> Option<String> {
    if text.contains('~') {
        return None;
    }
    Some(text.replace("%7E", "~").replace("%25", "%"))
}

/// `GET /v1/stats`: entities that ended in [start, end).
#[derive(Debug, Clone)]
pub struct StatsQuery {
    pub site: Option<String>,
    pub app: Option<String>,
    pub entity_kind: Option<String>,
    pub start: i64,
    pub end: i64,
    /// Width of the time buckets in seconds; divides a day, so buckets start on the hour
    /// or on a day boundary (UTC) like `date_trunc` would.
    pub bucket_s: u32,
}

/// Stored events in [start, end), for the unified view.
#[derive(Debug, Clone)]
pub struct EventRange {
    pub site: Option<String>,
    pub start: i64,
    pub end: i64,
    pub limit: u32,
}

#[derive(Clone, Copy, PartialEq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

/// One bound value; times stay micros until the driver needs its own type.
#[derive(Debug, Clone)]
pub enum Param {
    Text(String),
    Time(i64),
    Int(i64),
}

/// A WHERE clause under construction.
pub struct Conditions {
    dialect: Dialect,
    clauses: Vec<String>,
    pub params: Vec<Param>,
}

impl Conditions {
    pub fn new(dialect: Dialect) -> Self {
        Conditions {
            dialect,
            clauses: Vec::new(),
            params: Vec::new(),
        }
    }

    /// The placeholder for the next parameter, after binding it.
    pub fn bind(&mut self, param: Param) -> String {
        self.params.push(param);
        match self.dialect {
            Dialect::Postgres => format!("${}", self.params.len()),
            Dialect::Sqlite => format!("?{}", self.params.len()),
        }
    }

    /// Add `column op value`.
    pub fn add(&mut self, column: &str, op: &str, param: Param) {
        let placeholder = self.bind(param);
        self.clauses.push(format!("{column} {op} {placeholder}"));
    }

    pub fn add_opt_text(&mut self, column: &str, value: &Option<String>) {
        if let Some(v) = value {
            self.add(column, "=", Param::Text(v.clone()));
        }
    }

    pub fn add_raw(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    /// ` WHERE a AND b`, or nothing.
    pub fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
}

/// The jobs-page query shared by both databases.
pub fn jobs_sql(dialect: Dialect, columns: &str, filter: &JobFilter) -> (String, Vec<Param>) {
    let mut w = Conditions::new(dialect);
    w.add_opt_text("site", &filter.site);
    w.add_opt_text("app", &filter.app);
    w.add_opt_text("status", &filter.status);
    w.add_opt_text("entity_kind", &filter.entity_kind);
    w.add_opt_text("parent", &filter.parent);
    if let Some(text) = &filter.search {
        let pattern = w.bind(Param::Text(like_pattern(text)));
        let like = match dialect {
            Dialect::Postgres => "ILIKE",
            // SQLite's LIKE ignores ASCII case already.
            Dialect::Sqlite => "LIKE",
        };
        w.add_raw(format!(
            "(key {like} {pattern} ESCAPE '\\' OR name {like} {pattern} ESCAPE '\\' \
             OR entity_id {like} {pattern} ESCAPE '\\')"
        ));
    }
    if let Some(start) = filter.start {
        w.add("last_event_at", ">=", Param::Time(start));
    }
    if let Some(end) = filter.end {
        w.add("first_event_at", "<", Param::Time(end));
    }
    if let Some(c) = &filter.cursor {
        let t = w.bind(Param::Time(c.last_event_at));
        let s = w.bind(Param::Text(c.site.clone()));
        let i = w.bind(Param::Text(c.entity_id.clone()));
        w.add_raw(format!(
            "(last_event_at, site, entity_id) < ({t}, {s}, {i})"
        ));
    }
    // One more than asked tells whether there is a next page.
    let limit = w.bind(Param::Int(i64::from(filter.limit) + 1));
    let sql = format!(
        "SELECT {columns} FROM jobs{} ORDER BY last_event_at DESC, site DESC, entity_id DESC LIMIT {limit}",
        w.sql()
    );
    (sql, w.params)
}

/// `%text%` with LIKE's own wildcards taken literally.
fn like_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Trim the extra row fetched by `jobs_sql` and say where the next page starts.
pub fn page(mut jobs: Vec<super::JobState>, limit: u32) -> super::JobPage {
    let next = if jobs.len() > limit as usize {
        jobs.truncate(limit as usize);
        jobs.last().map(|j| Cursor {
            last_event_at: j.last_event_at,
            site: j.site.clone(),
            entity_id: j.entity_id.clone(),
        })
    } else {
        None
    };
    super::JobPage { jobs, next }
}

/// Every descendant of (site, entity id), whatever the depth, shared by both databases.
/// `UNION` (not `UNION ALL`) ends the recursion even if parent links form a cycle.
pub fn subtree_sql(dialect: Dialect, columns: &str, site: &str, id: &str) -> (String, Vec<Param>) {
    let mut w = Conditions::new(dialect);
    let site = w.bind(Param::Text(site.to_string()));
    let id = w.bind(Param::Text(id.to_string()));
    (
        format!(
            "WITH RECURSIVE sub(site, entity_id) AS (
               SELECT site, entity_id FROM jobs WHERE site = {site} AND parent = {id}
               UNION
               SELECT j.site, j.entity_id FROM jobs j
                 JOIN sub ON j.site = sub.site AND j.parent = sub.entity_id)
             SELECT {columns} FROM jobs
             WHERE (site, entity_id) IN (SELECT site, entity_id FROM sub)
             ORDER BY first_event_at LIMIT 10000"
        ),
        w.params,
    )
}

/// Stored events in a range, shared by both databases.
pub fn events_sql(dialect: Dialect, range: &EventRange) -> (String, Vec<Param>) {
    let mut w = Conditions::new(dialect);
    w.add_opt_text("site", &range.site);
    w.add("time", ">=", Param::Time(range.start));
    w.add("time", "<", Param::Time(range.end));
    let limit = w.bind(Param::Int(i64::from(range.limit)));
    let body = match dialect {
        Dialect::Postgres => "body::text",
        Dialect::Sqlite => "body",
    };
    (
        format!(
            "SELECT {body} FROM events{} ORDER BY time, seq LIMIT {limit}",
            w.sql()
        ),
        w.params,
    )
}

/// Conditions on ended entities for the stats query.
pub fn stats_conditions(dialect: Dialect, q: &StatsQuery) -> Conditions {
    let mut w = Conditions::new(dialect);
    w.add("ended_at", ">=", Param::Time(q.start));
    w.add("ended_at", "<", Param::Time(q.end));
    w.add_opt_text("site", &q.site);
    w.add_opt_text("app", &q.app);
    w.add_opt_text("entity_kind", &q.entity_kind);
    w
}

/// Conditions on running entities seen in the stats window.
pub fn running_conditions(dialect: Dialect, q: &StatsQuery) -> Conditions {
    let mut w = Conditions::new(dialect);
    w.add("status", "=", Param::Text("running".into()));
    w.add("last_event_at", ">=", Param::Time(q.start));
    w.add("first_event_at", "<", Param::Time(q.end));
    w.add_opt_text("site", &q.site);
    w.add_opt_text("app", &q.app);
    w.add_opt_text("entity_kind", &q.entity_kind);
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_awkward_ids() {
        let c = Cursor {
            last_event_at: 42,
            site: "fab~1%".into(),
            entity_id: "a~b~c".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("x~a~b"), None);
        assert_eq!(Cursor::decode("12"), None);
    }

    #[test]
    fn search_takes_wildcards_literally() {
        assert_eq!(like_pattern("LOT_1%"), "%LOT\\_1\\%%");
        assert_eq!(like_pattern("a\\b"), "%a\\\\b%");
    }

    #[test]
    fn placeholders_follow_the_dialect() {
        let f = JobFilter {
            site: Some("fab1".into()),
            limit: 10,
            ..JobFilter::default()
        };
        let (pg, params) = jobs_sql(Dialect::Postgres, "*", &f);
        assert!(pg.contains("site = $1") && pg.ends_with("LIMIT $2"), "{pg}");
        assert_eq!(params.len(), 2);
        let (lite, _) = jobs_sql(Dialect::Sqlite, "*", &f);
        assert!(
            lite.contains("site = ?1") && lite.ends_with("LIMIT ?2"),
            "{lite}"
        );
    }
}
