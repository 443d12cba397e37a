//! The `_bulk` wire format: one NDJSON body holding every event of a batch, cut into
//! requests under a byte cap, and the per-item answers read back.

use std::collections::HashMap;
use std::io::Write;
use std::ops::Range;

use serde::Deserialize;
use serde_json::Value;

use super::cluster::error_text;
use crate::event::{json, Timestamp};
use crate::pipeline::Batch;

/// The daily index name: the template with `%Y`, `%m`, `%d` replaced by the event's UTC date.
pub struct IndexName {
    template: String,
    dated: bool,
    /// The last day named (days since the epoch) and its name: a batch rarely spans days.
    last: Option<(i64, String)>,
}

const DAY_MICROS: i64 = 86_400_000_000;

impl IndexName {
    pub fn new(template: &str) -> IndexName {
        IndexName {
            template: template.to_string(),
            dated: ["%Y", "%m", "%d"].iter().any(|p| template.contains(p)),
            last: None,
        }
    }

    pub fn for_time(&mut self, time: Timestamp) -> &str {
        if !self.dated {
            return &self.template;
        }
        let day = time.unix_micros().div_euclid(DAY_MICROS);
        if self.last.as_ref().is_none_or(|(d, _)| *d != day) {
            let (y, m, d) = time.date();
            let name = self
                .template
                .replace("%Y", &format!("{y:04}"))
                .replace("%m", &format!("{m:02}"))
                .replace("%d", &format!("{d:02}"));
            self.last = Some((day, name));
        }
        self.last.as_ref().map_or(&self.template, |(_, n)| n)
    }

    /// The pattern every index of this template matches (`*` for the date parts).
    pub fn pattern(template: &str) -> String {
        let mut pattern = template
            .replace("%Y", "*")
            .replace("%m", "*")
            .replace("%d", "*");
        while pattern.contains("**") {
            pattern = pattern.replace("**", "*");
        }
        pattern
    }
}

/// A whole batch as NDJSON: `{"create":...}\n{event}\n` per event, in batch order, so that
/// any run of consecutive events is one contiguous slice of the body.
pub struct BulkBody {
    bytes: Vec<u8>,
    /// Byte range of each event's two lines.
    items: Vec<Range<usize>>,
    /// Each event's id, to name it in a rejection.
    ids: Vec<uuid::Uuid>,
}

impl BulkBody {
    pub fn encode(batch: &Batch, index: &mut IndexName) -> BulkBody {
        let mut bytes = Vec::with_capacity(batch.size() * 2 + batch.len() * 96);
        let mut items = Vec::with_capacity(batch.len());
        let mut ids = Vec::with_capacity(batch.len());
        for event in batch.iter() {
            let start = bytes.len();
            // Index names were checked at config time (no quotes, no backslashes) and ids are
            // hyphenated UUIDs, so neither needs JSON escaping.
            let _ = writeln!(
                bytes,
                "{{\"create\":{{\"_index\":\"{}\",\"_id\":\"{}\"}}}}",
                index.for_time(event.time),
                event.id
            );
            json::write_event(&mut bytes, &event);
            bytes.push(b'\n');
            items.push(start..bytes.len());
            ids.push(event.id);
        }
        BulkBody { bytes, items, ids }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The body of the events at `positions`.
    pub fn slice(&self, positions: Range<usize>) -> &[u8] {
        let start = self.items[positions.start].start;
        let end = self.items[positions.end - 1].end;
        &self.bytes[start..end]
    }

    pub fn id(&self, position: usize) -> uuid::Uuid {
        self.ids[position]
    }

    pub fn item_bytes(&self, position: usize) -> usize {
        self.items[position].len()
    }

    /// Cut `positions` into runs of at most `cap` bytes each (an event bigger than the cap
    /// travels alone: it cannot be cut, and the server decides).
    pub fn plan(&self, positions: Range<usize>, cap: usize) -> Vec<Range<usize>> {
        let mut runs = Vec::new();
        let mut start = positions.start;
        let mut size = 0;
        for i in positions.clone() {
            let n = self.item_bytes(i);
            if i > start && size + n > cap {
                runs.push(start..i);
                start = i;
                size = 0;
            }
            size += n;
        }
        if start < positions.end {
            runs.push(start..positions.end);
        }
        runs
    }
}

/// How the cluster answered one action.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemResult {
    /// Created, or already there (409: `create` of an id the index holds: our own retry).
    Stored,
    /// 429 or 5xx: the cluster could not take it now.
    Retry(String),
    /// Anything else: the document itself is refused (mapping, size, index closed...).
    Rejected(String),
}

#[derive(Deserialize)]
struct BulkAnswer {
    #[serde(default)]
    items: Vec<HashMap<String, ItemAnswer>>,
}

#[derive(Deserialize)]
struct ItemAnswer {
    status: u16,
    #[serde(default)]
    error: Option<Value>,
}

/// Read a 2xx `_bulk` answer for `expected` actions. Every item is read, whatever the
/// top-level `errors` says: a 200 does not mean every document was taken.
pub fn parse_items(body: &[u8], expected: usize) -> Result<Vec<ItemResult>, String> {
    let answer: BulkAnswer = serde_json::from_slice(body)
        .map_err(|e| format!("the _bulk answer is not what Elasticsearch sends: {e}"))?;
    if answer.items.len() != expected {
        return Err(format!(
            "the _bulk answer has {} items for {expected} actions",
            answer.items.len()
        ));
    }
    Ok(answer
        .items
        .into_iter()
        .map(|item| {
            let Some(result) = item.into_values().next() else {
                return ItemResult::Retry("an empty item in the _bulk answer".into());
            };
            let reason = || {
                let text = result.error.as_ref().map(error_text).unwrap_or_default();
                format!("HTTP {}: {text}", result.status)
            };
            match result.status {
                200..=299 | 409 => ItemResult::Stored,
                429 | 500..=599 => ItemResult::Retry(reason()),
                _ => ItemResult::Rejected(reason()),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Entity, Event, Kind};

    fn event(micros: i64) -> Event {
        Event::sample(Kind::Started, Entity::new("job", "j"), Timestamp::from_unix_micros(micros))
    }

    #[test]
    fn daily_index_names_follow_the_utc_date() {
        let mut index = IndexName::new("ev-%Y.%m.%d");
        // 2026-03-01T23:59:59.999999Z and the microsecond after it.
        let t = 1_772_409_599_999_999;
        assert_eq!(
            index.for_time(Timestamp::from_unix_micros(t)),
            "ev-2026.03.01"
        );
        assert_eq!(
            index.for_time(Timestamp::from_unix_micros(t + 1)),
            "ev-2026.03.02"
        );
        assert_eq!(IndexName::pattern("ev-%Y.%m.%d"), "ev-*.*.*");
        assert_eq!(IndexName::pattern("ev-%Y%m%d"), "ev-*");
        let mut fixed = IndexName::new("events");
        assert_eq!(fixed.for_time(Timestamp::from_unix_micros(t)), "events");
    }

    #[test]
    fn bodies_are_cut_between_events_under_the_cap() {
        let events: Vec<Event> = (0..5).map(|i| event(1_772_409_599_000_000 + i)).collect();
        let batch = Batch::from_events(&events);
        let body = BulkBody::encode(&batch, &mut IndexName::new("ev-%Y.%m.%d"));
        assert_eq!(body.len(), 5);
        let one = body.item_bytes(0);
        let lines: Vec<&[u8]> = body.slice(0..1).split(|b| *b == b'\n').collect();
        let action: Value = serde_json::from_slice(lines[0]).unwrap();
        assert_eq!(action["create"]["_index"], "ev-2026.03.01");
        assert_eq!(action["create"]["_id"], events[0].id.to_string());
        let doc: Value = serde_json::from_slice(lines[1]).unwrap();
        assert_eq!(doc, serde_json::to_value(&events[0]).unwrap());
        // Two events fit per run (sizes differ by at most a digit, so allow one byte).
        let runs = body.plan(0..5, 2 * one + 1);
        assert_eq!(runs, vec![0..2, 2..4, 4..5]);
        assert!(runs
            .iter()
            .all(|r| body.slice(r.clone()).len() <= 2 * one + 1));
        // A cap smaller than one event still sends every event, one per request.
        assert_eq!(body.plan(1..4, 10), vec![1..2, 2..3, 3..4]);
    }

    #[test]
    fn item_statuses_are_read_one_by_one() {
        let answer = br#"{"errors":true,"items":[
            {"create":{"status":201}},
            {"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}},
            {"create":{"status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [x]"}}},
            {"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
            {"create":{"status":503,"error":"unavailable"}}]}"#;
        let items = parse_items(answer, 5).unwrap();
        assert_eq!(items[0], ItemResult::Stored);
        assert_eq!(items[1], ItemResult::Stored);
        assert_eq!(
            items[2],
            ItemResult::Rejected(
                "HTTP 400: mapper_parsing_exception: failed to parse field [x]".into()
            )
        );
        assert!(matches!(&items[3], ItemResult::Retry(r) if r.contains("queue full")));
        assert!(matches!(&items[4], ItemResult::Retry(r) if r.contains("unavailable")));
        assert!(parse_items(answer, 4)
            .unwrap_err()
            .contains("5 items for 4"));
        assert!(parse_items(b"<html>", 1).is_err());
    }
}
