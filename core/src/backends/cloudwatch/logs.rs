//! CloudWatch Logs: events as schema v1 JSON lines, cut into PutLogEvents requests that keep
//! the service's limits, and its per-request answer (`rejectedLogEventsInfo`) read back.

use serde_json::{json, Value};
use uuid::Uuid;

/// PutLogEvents limits (CloudWatch Logs quotas).
pub const MAX_REQUEST_BYTES: usize = 1_048_576;
pub const EVENT_OVERHEAD_BYTES: usize = 26;
pub const MAX_REQUEST_EVENTS: usize = 10_000;
/// Events of one request must lie within 24 hours of each other.
pub const MAX_SPAN_MS: i64 = 24 * 3600 * 1000;
/// The largest event the service takes (256 KiB including the overhead).
pub const MAX_EVENT_BYTES: usize = 262_144;

/// One event ready to send: its position in the batch, its time and its JSON line.
#[derive(Debug, Clone)]
pub struct Line {
    pub position: usize,
    pub id: Uuid,
    pub millis: i64,
    pub message: String,
}

impl Line {
    fn cost(&self) -> usize {
        self.message.len() + EVENT_OVERHEAD_BYTES
    }
}

/// Cut `lines` into requests: chronological (stable for equal times), at most 10,000 events,
/// 1 MiB counting 26 bytes per event, and a 24-hour span each. Lines over the per-event limit
/// must have been taken out before.
pub fn requests(mut lines: Vec<Line>) -> Vec<Vec<Line>> {
    lines.sort_by_key(|l| l.millis);
    let mut out: Vec<Vec<Line>> = Vec::new();
    let mut bytes = 0;
    for line in lines {
        let fits = out.last().is_some_and(|current| {
            current.len() < MAX_REQUEST_EVENTS
                && bytes + line.cost() <= MAX_REQUEST_BYTES
                && line.millis - current[0].millis < MAX_SPAN_MS
        });
        if !fits {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += line.cost();
        if let Some(current) = out.last_mut() {
            current.push(line);
        }
    }
    out
}

pub fn put_body(group: &str, stream: &str, lines: &[Line]) -> Value {
    let events: Vec<Value> = lines
        .iter()
        .map(|l| json!({"timestamp": l.millis, "message": l.message}))
        .collect();
    json!({"logGroupName": group, "logStreamName": stream, "logEvents": events})
}

/// Indexes (into the request) CloudWatch refused, each with its reason, from the answer's
/// `rejectedLogEventsInfo`.
pub fn rejected(answer: &Value, count: usize) -> Vec<(usize, &'static str)> {
    let info = &answer["rejectedLogEventsInfo"];
    let index = |key: &str| info.get(key).and_then(Value::as_u64).map(|i| i as usize);
    let mut out = Vec::new();
    if let Some(end) = index("tooOldLogEventEndIndex") {
        out.extend(
            (0..=end.min(count.saturating_sub(1))).map(|i| (i, "too old (older than 14 days)")),
        );
    }
    if let Some(end) = index("expiredLogEventEndIndex") {
        out.extend(
            (0..=end.min(count.saturating_sub(1)))
                .map(|i| (i, "expired (older than the log group's retention)")),
        );
    }
    if let Some(start) = index("tooNewLogEventStartIndex") {
        out.extend((start..count).map(|i| (i, "too new (more than 2 hours ahead)")));
    }
    out.sort_by_key(|(i, _)| *i);
    out.dedup_by_key(|(i, _)| *i);
    out
}

/// A log stream name: no `:` or `*`, at most 512 characters.
pub fn stream_name(app: &str, instance: &str) -> String {
    let name: String = format!("{app}/{instance}")
        .chars()
        .map(|c| {
            if c == ':' || c == '*' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .take(512)
        .collect();
    name
}

/// A log group name: 1 to 512 of `[.-_/#A-Za-z0-9]`.
pub fn check_group(name: &str) -> Result<(), String> {
    if name.len() > 512 {
        return Err("is longer than 512 characters".into());
    }
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-/#".contains(*c)))
    {
        Some(c) => Err(format!(
            "'{name}' holds '{c}': a log group name is made of letters, digits and . _ - / #"
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(position: usize, millis: i64, len: usize) -> Line {
        Line {
            position,
            id: Uuid::from_u128(position as u128),
            millis,
            message: "x".repeat(len),
        }
    }

    #[test]
    fn requests_keep_order_count_bytes_and_span() {
        let lines: Vec<Line> = (0..25_000).rev().map(|i| line(i, i as i64, 10)).collect();
        let out = requests(lines);
        assert_eq!(
            out.iter().map(Vec::len).collect::<Vec<_>>(),
            [10_000, 10_000, 5_000]
        );
        assert!(out.concat().windows(2).all(|w| w[0].millis <= w[1].millis));

        // 1 MiB counting 26 bytes per event: 1,022 events of 1,000 + 26 bytes (1,048,572).
        let out = requests((0..2_000).map(|i| line(i, 0, 1_000)).collect());
        assert_eq!(out[0].len(), 1_022);
        assert!(out
            .iter()
            .all(|r| r.iter().map(Line::cost).sum::<usize>() <= MAX_REQUEST_BYTES));

        let day = MAX_SPAN_MS;
        let out = requests(vec![line(0, 0, 1), line(1, day - 1, 1), line(2, day, 1)]);
        assert_eq!(out.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    }

    #[test]
    fn rejected_info_maps_to_indexes() {
        let answer = json!({"rejectedLogEventsInfo": {"tooOldLogEventEndIndex": 1, "tooNewLogEventStartIndex": 4}});
        let r = rejected(&answer, 6);
        assert_eq!(r.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 1, 4, 5]);
        assert!(rejected(&json!({}), 3).is_empty());
    }

    #[test]
    fn names_are_sanitized_and_checked() {
        assert_eq!(stream_name("etch:app", "host*1"), "etch_app/host_1");
        assert!(check_group("/wafermon/events").is_ok());
        assert!(check_group("bad group").is_err());
    }
}
