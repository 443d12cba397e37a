//! Reading back what the cloudwatch backend writes: FilterLogEvents on the log group (and
//! stream, when configured), each log line a schema v1 event as JSON.
//!
//! The time range goes to CloudWatch in milliseconds (widened to whole milliseconds) and the
//! filters as a JSON filter pattern, so CloudWatch sends less; every line is still checked
//! here against the exact range in microseconds and the filters, because emulators (moto)
//! ignore JSON patterns and a pattern cannot express every value.

use crate::backends::aws::AwsClient;
use crate::backends::read::{Earliest, ExternalEvent, ExternalQuery, Filters, QueryOutcome};
use crate::config::CloudWatchConfig;
use crate::Event;
use serde_json::json;

/// Events per FilterLogEvents page (the service's maximum).
const PAGE_EVENTS: usize = 10_000;
/// Stop paging after this many lines, so one query cannot read a whole log group; `matched`
/// then counts what was read.
const MAX_SCANNED: u64 = 200_000;
/// Pages may come back empty (FilterLogEvents scans a slice of the group per call), so the
/// pages are capped too, or a sparse match could keep paging for long.
const MAX_PAGES: u64 = 2_000;

pub fn query(config: &CloudWatchConfig, q: &ExternalQuery) -> Result<QueryOutcome, String> {
    let client = AwsClient::new(&config.aws, "logs", config.net.timeout)
        .map_err(|e| format!("{}: {}", e.path().unwrap_or("cloudwatch"), e.message()))?;
    let mut outcome = QueryOutcome::default();
    let mut earliest = Earliest::new(q.limit);
    let mut request = json!({
        "logGroupName": config.log_group,
        "startTime": q.start.div_euclid(1000),
        // CloudWatch's endTime is inclusive: the last millisecond that can hold a match.
        "endTime": (q.end - 1).div_euclid(1000),
        "limit": PAGE_EVENTS,
    });
    if let Some(stream) = &config.log_stream {
        request["logStreamNames"] = json!([stream]);
    }
    if let Some(pattern) = filter_pattern(&q.filters) {
        request["filterPattern"] = json!(pattern);
    }
    let mut scanned = 0u64;
    loop {
        q.check_deadline(&format!("{scanned} lines"))?;
        let page = client
            .call_json("1.1", "Logs_20140328.FilterLogEvents", &request)
            .map_err(|e| format!("CloudWatch Logs: {e}"))?;
        outcome.files_scanned += 1;
        for line in page["events"].as_array().into_iter().flatten() {
            scanned += 1;
            let Some(event) = line["message"].as_str().and_then(parse) else {
                outcome.skipped_lines += 1;
                continue;
            };
            // The filter pattern leaves out values it cannot quote, and the time range is
            // in milliseconds: check each event exactly.
            if q.admits(&event) {
                earliest.push(event);
            }
        }
        match page["nextToken"].as_str() {
            Some(token) if request["nextToken"] == token => break,
            Some(_) if scanned >= MAX_SCANNED || outcome.files_scanned >= MAX_PAGES => {
                outcome.incomplete = Some(format!(
                    "stopped after {scanned} log lines in {} pages (the reader's cap); \
                     narrow the time range or filters",
                    outcome.files_scanned
                ));
                break;
            }
            Some(token) => request["nextToken"] = json!(token),
            None => break,
        }
    }
    earliest.finish_into(&mut outcome);
    Ok(outcome)
}

/// A log line back to the event the core wrote; None for a line that is not one.
fn parse(message: &str) -> Option<ExternalEvent> {
    let event: Event = serde_json::from_str(message).ok()?;
    let body = serde_json::to_value(&event).ok()?;
    Some(ExternalEvent {
        time: event.time.unix_micros(),
        seq: event.seq,
        id: event.id.to_string(),
        body,
    })
}

/// A CloudWatch JSON filter pattern for the filters whose values it can quote exactly.
fn filter_pattern(filters: &Filters) -> Option<String> {
    let fields = [
        ("$.site", &filters.site),
        ("$.app.name", &filters.app),
        ("$.kind", &filters.kind),
        ("$.status", &filters.status),
        ("$.entity.kind", &filters.entity_kind),
        ("$.entity.id", &filters.entity_id),
    ];
    let terms: Vec<String> = fields
        .iter()
        .filter_map(|(path, value)| {
            let value = value.as_deref()?;
            let plain = !value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:@".contains(c));
            plain.then(|| format!("({path} = \"{value}\")"))
        })
        .collect();
    (!terms.is_empty()).then(|| format!("{{ {} }}", terms.join(" && ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_quote_only_plain_values() {
        let filters = Filters {
            site: Some("fab1".into()),
            kind: Some("failed".into()),
            app: Some("has \"quotes\"".into()),
            ..Filters::default()
        };
        assert_eq!(
            filter_pattern(&filters).as_deref(),
            Some(r#"{ ($.site = "fab1") && ($.kind = "failed") }"#)
        );
        assert_eq!(filter_pattern(&Filters::default()), None);
    }

    #[test]
    fn lines_that_are_not_events_are_skipped() {
        assert!(parse("plain text").is_none());
        assert!(parse(r#"{"v":1}"#).is_none());
    }
}
