//! Reading back what the loki backend pushes, through Loki's `GET /loki/api/v1/query_range`.
//!
//! The filters become a LogQL query: the stream selector takes the labels the writer sets
//! (site, app, kind, entity_kind, and the config's fixed labels), and `| json` stages
//! extract the entity id and status from the line for the rest. Pages go forward in time;
//! the next page starts at the last page's last timestamp (inclusive, since Loki may cut a
//! page between lines of the same nanosecond) and skips the lines already read at it.
//!
//! Tested against a local receiver that answers in Loki's documented query_range format,
//! not against a Loki server (none could be installed here). See docs/backends/loki.md.

use std::collections::HashSet;
use std::time::Duration;

use super::request_headers;
use crate::backends::read::{Earliest, ExternalEvent, ExternalQuery, Filters, QueryOutcome};
use crate::config::LokiConfig;
use serde::Deserialize;

/// Lines per request: well under Loki's default `max_entries_limit_per_query` (5000).
const PAGE: usize = 500;
/// A query_range answer of PAGE schema v1 lines is far below this.
const BODY_LIMIT: u64 = 64 * 1024 * 1024;

/// The earliest `limit` events, plus one more match when there is one: `matched` is exact
/// up to `limit` and `limit + 1` when there are more (reading stops there, which is enough
/// to say the answer was cut).
pub fn query(config: &LokiConfig, q: &ExternalQuery) -> Result<QueryOutcome, String> {
    let agent = agent(config);
    let url = format!("{}/loki/api/v1/query_range", config.url);
    let headers = request_headers(config);
    let logql = logql(config, &q.filters);
    let end = i128::from(q.end) * 1000;
    let mut start = i128::from(q.start) * 1000;
    let page = (q.limit + 1).min(PAGE);
    let mut outcome = QueryOutcome::default();
    let mut earliest = Earliest::new(q.limit);
    // Lines already read at `start`, the timestamp the next page begins with.
    let mut at_start: HashSet<String> = HashSet::new();
    loop {
        q.check_deadline(&format!("{} matching lines", earliest.matched()))?;
        let lines = fetch(&agent, &url, &headers, &logql, start, end, page)?;
        let full = lines.len() == page;
        let last = lines.last().map(|(ns, _)| *ns);
        let mut fresh = 0;
        let mut next_at_start = HashSet::new();
        for (ns, line) in lines {
            if ns == start && at_start.contains(&line) {
                continue;
            }
            fresh += 1;
            if Some(ns) == last {
                next_at_start.insert(line.clone());
            }
            match ExternalEvent::from_json_line(line.as_bytes()) {
                Some(event) if q.admits(&event) => earliest.push(event),
                Some(_) => {}
                None => outcome.skipped_lines += 1,
            }
        }
        if !full || earliest.matched() > q.limit as u64 {
            break;
        }
        let last = last.unwrap_or(end);
        if last == start && fresh == 0 {
            // A whole page of one nanosecond, all read before: more lines share that
            // instant than a page holds. Go past it rather than loop.
            start = last + 1;
            at_start.clear();
        } else {
            if last != start {
                at_start.clear();
            }
            at_start.extend(next_at_start);
            start = last;
        }
        if start >= end {
            break;
        }
    }
    earliest.finish_into(&mut outcome);
    Ok(outcome)
}

fn agent(config: &LokiConfig) -> ureq::Agent {
    crate::backends::http::agent(
        &config.url,
        config.net.timeout.max(Duration::from_millis(100)),
    )
}

#[derive(Deserialize)]
struct QueryRange {
    status: String,
    data: QueryData,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryData {
    result_type: String,
    result: Vec<StreamValues>,
}

#[derive(Deserialize)]
struct StreamValues {
    values: Vec<(String, String)>,
}

/// One page: every stream's lines merged in time order.
fn fetch(
    agent: &ureq::Agent,
    url: &str,
    headers: &[(&'static str, String)],
    logql: &str,
    start: i128,
    end: i128,
    limit: usize,
) -> Result<Vec<(i128, String)>, String> {
    let mut request = agent
        .get(url)
        .query("query", logql)
        .query("start", start.to_string())
        .query("end", end.to_string())
        .query("limit", limit.to_string())
        .query("direction", "forward");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let mut response = request.call().map_err(|e| format!("loki: {e}"))?;
    let status = response.status();
    let body = response
        .body_mut()
        .with_config()
        .limit(BODY_LIMIT)
        .read_to_vec()
        .map_err(|e| format!("loki: cannot read the answer: {e}"))?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body);
        let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let text: String = text.chars().take(300).collect();
        return Err(format!("loki answered HTTP {}: {text}", status.as_u16()));
    }
    lines_of(&body)
}

/// The lines of a query_range answer, every stream's merged in time order.
fn lines_of(body: &[u8]) -> Result<Vec<(i128, String)>, String> {
    let answer: QueryRange = serde_json::from_slice(body)
        .map_err(|e| format!("loki: the answer is not a query_range result: {e}"))?;
    if answer.status != "success" || answer.data.result_type != "streams" {
        return Err(format!(
            "loki: unexpected answer (status '{}', result type '{}')",
            answer.status, answer.data.result_type
        ));
    }
    let mut lines = Vec::new();
    for stream in answer.data.result {
        for (ns, line) in stream.values {
            let ns = ns
                .parse::<i128>()
                .map_err(|_| format!("loki: '{ns}' is not a nanosecond timestamp"))?;
            lines.push((ns, line));
        }
    }
    lines.sort();
    Ok(lines)
}

/// A query_range answer read as `query` reads one page: its lines and the events they
/// hold. The fuzz target's entry (feature "fuzzing").
#[cfg(feature = "fuzzing")]
pub(crate) fn read_answer(body: &[u8]) {
    for (_, line) in lines_of(body).unwrap_or_default() {
        let _ = ExternalEvent::from_json_line(line.as_bytes());
    }
}

/// A LogQL string literal.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The LogQL query for the filters: labels the writer sets go in the selector, the rest is
/// read from the line's JSON.
pub(crate) fn logql(config: &LokiConfig, f: &Filters) -> String {
    let mut matchers: Vec<String> = config
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={}", quoted(v)))
        .collect();
    let labelled = [
        ("site", &f.site),
        ("app", &f.app),
        ("entity_kind", &f.entity_kind),
        ("kind", &f.kind),
    ];
    for (label, value) in labelled {
        if let Some(value) = value {
            matchers.push(format!("{label}={}", quoted(value)));
        }
    }
    if !matchers.iter().any(|m| !m.ends_with("=\"\"")) {
        // LogQL needs one matcher that cannot match the empty value; every stream the
        // writer makes has a site.
        matchers.push("site=~\".+\"".to_string());
    }
    let mut query = format!("{{{}}}", matchers.join(","));
    let mut extract = Vec::new();
    let mut keep = Vec::new();
    if let Some(id) = &f.entity_id {
        // A plain line filter first: cheap, and it skips most lines before JSON parsing
        // (only when the id reads the same inside the line's JSON, i.e. needs no escape).
        if !id.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
            query.push_str(&format!(" |= {}", quoted(id)));
        }
        extract.push("entity_id=\"entity.id\"");
        keep.push(format!("entity_id={}", quoted(id)));
    }
    if let Some(status) = &f.status {
        extract.push("status=\"status\"");
        keep.push(format!("status={}", quoted(status)));
    }
    if !extract.is_empty() {
        query.push_str(&format!(" | json {}", extract.join(", ")));
        for k in keep {
            query.push_str(&format!(" | {k}"));
        }
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(labels: &[(&str, &str)]) -> LokiConfig {
        let value = serde_json::json!({"direct_backends": [{"type": "loki",
            "url": "http://127.0.0.1:3100",
            "labels": labels.iter().map(|(k, v)| (k.to_string(), serde_json::Value::from(*v))).collect::<serde_json::Map<_, _>>()}]});
        match crate::Config::from_value(value).unwrap().direct_backends[0]
            .kind
            .clone()
        {
            crate::config::BackendKind::Loki(c) => c,
            _ => unreachable!(),
        }
    }

    #[test]
    fn filters_become_logql() {
        let none = Filters::default();
        assert_eq!(logql(&config(&[]), &none), "{site=~\".+\"}");
        assert_eq!(logql(&config(&[("env", "prod")]), &none), "{env=\"prod\"}");
        let all = Filters {
            site: Some("fab\"1".into()),
            app: Some("etch".into()),
            kind: Some("failed".into()),
            status: Some("failed".into()),
            entity_kind: Some("job".into()),
            entity_id: Some("J-1".into()),
        };
        assert_eq!(
            logql(&config(&[]), &all),
            "{site=\"fab\\\"1\",app=\"etch\",entity_kind=\"job\",kind=\"failed\"} |= \"J-1\" \
             | json entity_id=\"entity.id\", status=\"status\" \
             | entity_id=\"J-1\" | status=\"failed\""
        );
    }
}
