//! Reading back what the `elasticsearch` backend writes: `_search` over the daily indices of the
//! range, filtered on the server (time range and exact-match terms), sorted by time then id,
//! paged with `search_after`.
//!
//! Term filters go to the exact-match form of each field, looked up in the indices'
//! mappings first: `<field>.keyword` where dynamic mapping made the field text with a keyword
//! subfield, the field itself where a template (the writer's, or a plant's own) made it a
//! keyword. Each page is also checked here against the exact range and filters: an index
//! mapped with `date` (milliseconds, dynamic mapping) can only bound the range to the
//! millisecond, and a dynamic `.keyword` subfield skips values over 256 characters.

use std::collections::BTreeMap;

use super::cluster::Cluster;
use crate::backends::read::{ExternalEvent, ExternalQuery, QueryOutcome};
use crate::config::ElasticConfig;
use crate::event::Timestamp;
use crate::Event;
use serde_json::{json, Value};

/// Hits per page; well under `index.max_result_window` (10,000).
const PAGE: usize = 1000;
/// Up to this many days the indices are named one by one (missing ones skipped); beyond it
/// the index pattern is searched, so the URL stays short.
const MAX_NAMED_DAYS: i64 = 31;
const DAY_MICROS: i64 = 86_400_000_000;

pub fn query(config: &ElasticConfig, q: &ExternalQuery) -> Result<QueryOutcome, String> {
    let mut outcome = QueryOutcome::default();
    if q.start >= q.end || q.limit == 0 {
        return Ok(outcome);
    }
    let cluster =
        Cluster::new(&config.url, &config.auth, config.net.timeout).map_err(|e| e.to_string())?;
    let target = encode_path(&indices(&config.index, q.start, q.end));
    let options = "ignore_unavailable=true&allow_no_indices=true";
    let exact = exact_fields(&cluster, &target, options)?;
    let path = format!("/{target}/_search?{options}");
    let mut body = request(q, &exact);
    let mut dropped = 0u64;
    let mut total = None;
    loop {
        q.check_deadline("some pages of hits")?;
        let answer = cluster.post_json(&path, &body)?;
        let hits = answer["hits"]["hits"]
            .as_array()
            .ok_or_else(|| format!("the search answer has no hits: {answer}"))?;
        if total.is_none() {
            total = Some(answer["hits"]["total"]["value"].as_u64().unwrap_or(0));
        }
        for hit in hits {
            match to_event(&hit["_source"]) {
                Some(event)
                    if event.time >= q.start
                        && event.time < q.end
                        && q.filters.matches(&event.body) =>
                {
                    if outcome.events.len() < q.limit {
                        outcome.events.push(event);
                    }
                }
                Some(_) => dropped += 1,
                None => outcome.skipped_lines += 1,
            }
        }
        let last_sort = hits.last().map(|h| h["sort"].clone());
        if outcome.events.len() >= q.limit || hits.len() < page_size(q) {
            break;
        }
        match last_sort {
            Some(sort @ Value::Array(_)) => body["search_after"] = sort,
            _ => break,
        }
    }
    outcome.matched = total
        .unwrap_or(0)
        .saturating_sub(dropped + outcome.skipped_lines);
    // The server sorts a `date` field by the millisecond; order within one exactly.
    outcome
        .events
        .sort_by(|a, b| (a.time, a.seq, &a.id).cmp(&(b.time, b.seq, &b.id)));
    Ok(outcome)
}

fn page_size(q: &ExternalQuery) -> usize {
    PAGE.min(q.limit)
}

/// The `_search` body of the first page.
fn request(q: &ExternalQuery, exact: &ExactFields) -> Value {
    let mut filter = vec![json!({"range": {"time": {
        "gte": Timestamp::from_unix_micros(q.start).to_string(),
        // `lte` of the last microsecond: on a millisecond `date` field, `lt` of the end would
        // round down and lose the end's millisecond (the check above drops the excess).
        "lte": Timestamp::from_unix_micros(q.end - 1).to_string(),
    }}})];
    let f = &q.filters;
    let terms = [
        ("site", &f.site),
        ("app.name", &f.app),
        ("kind", &f.kind),
        ("status", &f.status),
        ("entity.kind", &f.entity_kind),
        ("entity.id", &f.entity_id),
    ];
    for (field, value) in terms {
        if let Some(value) = value {
            let paths = exact.paths(field);
            let should: Vec<Value> = paths
                .iter()
                .map(|path| json!({"term": {path: value}}))
                .collect();
            filter.push(json!({"bool": {"should": should, "minimum_should_match": 1}}));
        }
    }
    let id = exact
        .paths("id")
        .into_iter()
        .next()
        .unwrap_or("id.keyword".into());
    json!({
        "size": page_size(q),
        "track_total_hits": true,
        "query": {"bool": {"filter": filter}},
        "sort": [
            // Compares `date` and `date_nanos` indices on one scale.
            {"time": {"order": "asc", "numeric_type": "date_nanos"}},
            {id: {"order": "asc", "unmapped_type": "keyword"}}
        ]
    })
}

/// The fields a query filters or sorts on.
const FIELDS: &str = "id,site,app.name,kind,status,entity.kind,entity.id";

/// Per field, the paths holding its exact value (a keyword).
#[derive(Debug, Default)]
struct ExactFields(BTreeMap<String, Vec<String>>);

impl ExactFields {
    /// Read from `GET <indices>/_mapping/field/<fields>`:
    /// `{index: {mappings: {full name: {mapping: {leaf: {type, fields}}}}}}`. The `.keyword`
    /// subfield alone when every index has it (dynamic mapping and the writer's template
    /// both do); else every exact path any index has, since a term on a field that is text
    /// in some index may match more there (the reader's own check drops that).
    fn from_mappings(answer: &Value) -> ExactFields {
        #[derive(Default)]
        struct Seen {
            indices: usize,
            with_subfield: usize,
            keyword_itself: bool,
        }
        let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
        for index in answer.as_object().into_iter().flatten().map(|(_, i)| i) {
            for (name, field) in index["mappings"].as_object().into_iter().flatten() {
                let leaf = name.rsplit('.').next().unwrap_or(name);
                let mapping = &field["mapping"][leaf];
                let entry = seen.entry(name.clone()).or_default();
                entry.indices += 1;
                if mapping["fields"]["keyword"]["type"] == "keyword" {
                    entry.with_subfield += 1;
                }
                entry.keyword_itself |= mapping["type"] == "keyword";
            }
        }
        let exact = seen
            .into_iter()
            .map(|(name, s)| {
                let mut paths = Vec::new();
                if s.with_subfield > 0 {
                    paths.push(format!("{name}.keyword"));
                }
                if s.keyword_itself && s.with_subfield < s.indices {
                    paths.push(name.clone());
                }
                (name, paths)
            })
            .collect();
        ExactFields(exact)
    }

    /// Where to look for `field`'s exact value; the dynamic subfield when no index says
    /// (then nothing matches, which is right: no document has the field).
    fn paths(&self, field: &str) -> Vec<String> {
        match self.0.get(field) {
            Some(paths) if !paths.is_empty() => paths.clone(),
            _ => vec![format!("{field}.keyword")],
        }
    }
}

fn exact_fields(cluster: &Cluster, target: &str, options: &str) -> Result<ExactFields, String> {
    let answer = cluster.get_json(&format!("/{target}/_mapping/field/{FIELDS}?{options}"))?;
    Ok(ExactFields::from_mappings(&answer))
}

/// The top-level keys of a schema v1 event.
const EVENT_KEYS: &[&str] = &[
    "v", "id", "seq", "time", "site", "app", "entity", "kind", "status", "progress", "level",
    "message", "metrics", "attrs",
];

/// A stored document as the schema v1 event the core wrote (the same JSON as the core's
/// `Event`); None when it is not one.
fn to_event(source: &Value) -> Option<ExternalEvent> {
    // Ingest pipelines often add their own fields (`@timestamp`, `host`...): keep the
    // event's own, or the strict schema would refuse every such document.
    let own: serde_json::Map<String, Value> = source
        .as_object()?
        .iter()
        .filter(|(key, _)| EVENT_KEYS.contains(&key.as_str()))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let event: Event = serde_json::from_value(Value::Object(own)).ok()?;
    Some(ExternalEvent {
        time: event.time.unix_micros(),
        seq: event.seq,
        id: event.id.to_string(),
        body: serde_json::to_value(&event).ok()?,
    })
}

/// The indices that can hold events in [start, end): the day's names when the template is
/// dated and the range short, else the template's pattern.
fn indices(template: &str, start: i64, end: i64) -> String {
    let dated = ["%Y", "%m", "%d"].iter().any(|p| template.contains(p));
    if !dated {
        return template.to_string();
    }
    let first = start.div_euclid(DAY_MICROS);
    let last = (end - 1).div_euclid(DAY_MICROS);
    if last - first >= MAX_NAMED_DAYS {
        return super::index_pattern(template);
    }
    let mut names: Vec<String> = Vec::new();
    for day in first..=last {
        let (y, m, d) = Timestamp::from_unix_micros(day * DAY_MICROS).date();
        let name = template
            .replace("%Y", &format!("{y:04}"))
            .replace("%m", &format!("{m:02}"))
            .replace("%d", &format!("{d:02}"));
        // A monthly or yearly template names the same index for many days.
        if names.last() != Some(&name) {
            names.push(name);
        }
    }
    names.join(",")
}

/// Index names may hold characters a URL path may not (`&`, `=`, `+`...).
fn encode_path(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~*,".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARCH_1: i64 = 1_772_323_200_000_000;

    #[test]
    fn fields_added_by_an_ingest_pipeline_are_left_out() {
        let event = serde_json::json!({
            "v": 1, "id": "0190f6a0-0000-7000-8000-000000000001", "seq": 3,
            "time": "2026-03-01T14:00:00.000001Z", "site": "fab1",
            "app": {"name": "etch"}, "entity": {"kind": "job", "id": "J-1"},
            "kind": "started", "status": "running"
        });
        let mut stored = event.clone();
        stored["@timestamp"] = "2026-03-01T14:00:00Z".into();
        stored["host"] = serde_json::json!({"name": "ingest-1"});
        let read = to_event(&stored).expect("an event with extra fields is still one");
        assert_eq!(read.seq, 3);
        assert_eq!(read.id, "0190f6a0-0000-7000-8000-000000000001");
        assert!(read.body.get("@timestamp").is_none() && read.body.get("host").is_none());
        assert!(to_event(&serde_json::json!({"message": "not an event"})).is_none());
    }

    #[test]
    fn short_ranges_name_their_days() {
        let t = "ev-%Y.%m.%d";
        assert_eq!(indices(t, MARCH_1, MARCH_1 + 1), "ev-2026.03.01");
        assert_eq!(
            indices(t, MARCH_1 - 1, MARCH_1 + DAY_MICROS),
            "ev-2026.02.28,ev-2026.03.01"
        );
        assert_eq!(indices(t, MARCH_1, MARCH_1 + 40 * DAY_MICROS), "ev-*.*.*");
        assert_eq!(
            indices("ev-%Y.%m", MARCH_1, MARCH_1 + 3 * DAY_MICROS),
            "ev-2026.03"
        );
        assert_eq!(indices("plain", MARCH_1, MARCH_1 + 1), "plain");
        assert_eq!(encode_path("a&b+c,d-*"), "a%26b%2Bc,d-*");
    }

    #[test]
    fn the_range_is_sent_to_the_microsecond() {
        let q = ExternalQuery {
            start: MARCH_1 + 1,
            end: MARCH_1 + 1_000,
            filters: crate::backends::read::Filters {
                site: Some("fab 1".into()),
                ..Default::default()
            },
            limit: 5,
            deadline: None,
        };
        let mappings = json!({
            "dynamic": {"mappings": {
                "site": {"full_name": "site", "mapping": {"site": {"type": "text",
                    "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}}},
                "id": {"full_name": "id", "mapping": {"id": {"type": "text",
                    "fields": {"keyword": {"type": "keyword"}}}}}}},
            "plants-own": {"mappings": {
                "site": {"full_name": "site", "mapping": {"site": {"type": "keyword"}}}}},
            "wafermons-template": {"mappings": {
                "id": {"full_name": "id", "mapping": {"id": {"type": "keyword",
                    "fields": {"keyword": {"type": "keyword"}}}}}}}
        });
        let exact = ExactFields::from_mappings(&mappings);
        assert_eq!(exact.paths("site"), ["site.keyword", "site"]);
        assert_eq!(exact.paths("id"), ["id.keyword"]);
        assert_eq!(exact.paths("entity.id"), ["entity.id.keyword"]);
        let body = request(&q, &exact);
        let range = &body["query"]["bool"]["filter"][0]["range"]["time"];
        assert_eq!(range["gte"], "2026-03-01T00:00:00.000001Z");
        assert_eq!(range["lte"], "2026-03-01T00:00:00.000999Z");
        assert_eq!(
            body["query"]["bool"]["filter"][1]["bool"]["should"],
            json!([{"term": {"site.keyword": "fab 1"}}, {"term": {"site": "fab 1"}}])
        );
        assert_eq!(body["sort"][1]["id.keyword"]["order"], "asc");
        assert_eq!(body["size"], 5);
    }
}
