//! The push request body in the JSON form Loki documents for `POST /loki/api/v1/push`:
//!
//! ```text
//! {"streams":[{"stream":{"label":"value",...},"values":[["<unix ns>","<line>"],...]},...]}
//! ```
//!
//! Each event is encoded once (`["<ns>","<schema v1 JSON>"]`), then requests are cut from the
//! encoded entries by exact byte count, so a split never re-serializes an event.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use super::super::{Batch, DeliveryError};
use crate::event::Kind;

const OPEN: &[u8] = b"{\"streams\":[";
const CLOSE: &[u8] = b"]}";
const STREAM_OPEN: &[u8] = b"{\"stream\":";
const VALUES_OPEN: &[u8] = b",\"values\":[";
const STREAM_CLOSE: &[u8] = b"]}";

/// One log line: where it sits in the batch, and its `["<ns>","<line>"]` pair.
struct Entry {
    pos: usize,
    ns: i128,
    json: Vec<u8>,
}

/// Lines sharing one label set, in time order (Loki wants each stream's values by time).
struct Stream {
    labels: Vec<u8>,
    entries: Vec<Entry>,
}

/// One line of a request: entry `entry` of stream `stream`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Item {
    stream: u32,
    entry: u32,
}

/// A batch grouped into streams and encoded.
pub(super) struct Streams {
    streams: Vec<Stream>,
}

/// The stream a line goes to: only values with few distinct values (never ids), so Loki's
/// index stays small.
type StreamKey<'a> = (&'a str, &'a str, &'a str, Kind);

impl Streams {
    /// Group the batch by (site, app, entity kind, kind), add the fixed labels, and encode
    /// every event as its schema v1 JSON with a nanosecond timestamp.
    pub(super) fn group(
        batch: &Batch,
        fixed: &BTreeMap<String, String>,
    ) -> Result<Streams, DeliveryError> {
        let mut index: HashMap<StreamKey<'_>, usize> = HashMap::new();
        let mut streams: Vec<Stream> = Vec::new();
        for (pos, event) in batch.iter().enumerate() {
            let key = (event.site, event.app.name, event.entity.kind, event.kind);
            let at = match index.get(&key) {
                Some(&at) => at,
                None => {
                    streams.push(Stream {
                        labels: labels_json(fixed, key)?,
                        entries: Vec::new(),
                    });
                    index.insert(key, streams.len() - 1);
                    streams.len() - 1
                }
            };
            let line = serde_json::to_string(&event).map_err(encode_error)?;
            // Microseconds are all an event has; Loki counts nanoseconds.
            let ns = i128::from(event.time.unix_micros()) * 1000;
            let mut json = Vec::with_capacity(line.len() + line.len() / 8 + 32);
            json.extend_from_slice(b"[\"");
            json.extend_from_slice(ns.to_string().as_bytes());
            json.extend_from_slice(b"\",");
            serde_json::to_writer(&mut json, &line).map_err(encode_error)?;
            json.push(b']');
            streams[at].entries.push(Entry { pos, ns, json });
        }
        for stream in &mut streams {
            // Stable: equal timestamps keep the order the application emitted them in.
            stream.entries.sort_by_key(|e| e.ns);
        }
        // A fixed order of streams makes requests reproducible (and tests exact).
        streams.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(Streams { streams })
    }

    /// Every line, stream by stream, each stream in time order.
    pub(super) fn items(&self) -> Vec<Item> {
        let mut items = Vec::new();
        for (s, stream) in self.streams.iter().enumerate() {
            items.extend((0..stream.entries.len()).map(|e| Item {
                stream: s as u32,
                entry: e as u32,
            }));
        }
        items
    }

    fn entry(&self, item: Item) -> &Entry {
        &self.streams[item.stream as usize].entries[item.entry as usize]
    }

    /// The position in the batch of a line.
    pub(super) fn pos(&self, item: Item) -> usize {
        self.entry(item).pos
    }

    /// True when all the items belong to one stream.
    pub(super) fn one_stream(items: &[Item]) -> bool {
        items.windows(2).all(|w| w[0].stream == w[1].stream)
    }

    /// Cut `items` into consecutive runs whose bodies are at most `max_bytes` each. A line
    /// too big on its own still gets a request of its own (the server then says what it
    /// thinks of it, and only that line is rejected).
    pub(super) fn chunks(&self, items: &[Item], max_bytes: usize) -> Vec<Range<usize>> {
        let mut chunks = Vec::new();
        let mut start = 0;
        let mut size = 0;
        for (i, &item) in items.iter().enumerate() {
            let prev = (i > start).then(|| items[i - 1]);
            let grown = size + self.growth(prev, item);
            if i > start && grown > max_bytes {
                chunks.push(start..i);
                start = i;
                size = self.growth(None, item);
            } else {
                size = grown;
            }
        }
        if start < items.len() {
            chunks.push(start..items.len());
        }
        chunks
    }

    /// Bytes that `item` adds to a body whose last line is `prev` (none: an empty body).
    fn growth(&self, prev: Option<Item>, item: Item) -> usize {
        let entry = self.entry(item).json.len();
        let new_stream = || {
            STREAM_OPEN.len()
                + self.streams[item.stream as usize].labels.len()
                + VALUES_OPEN.len()
                + STREAM_CLOSE.len()
        };
        match prev {
            None => OPEN.len() + CLOSE.len() + new_stream() + entry,
            Some(p) if p.stream == item.stream => 1 + entry,
            // A comma between the streams, then the new stream.
            _ => 1 + new_stream() + entry,
        }
    }

    /// The request body for `items` (consecutive lines of the same stream share its entry).
    pub(super) fn body(&self, items: &[Item]) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.size(items));
        body.extend_from_slice(OPEN);
        let mut prev: Option<Item> = None;
        for &item in items {
            match prev {
                Some(p) if p.stream == item.stream => body.push(b','),
                _ => {
                    if prev.is_some() {
                        body.extend_from_slice(STREAM_CLOSE);
                        body.push(b',');
                    }
                    body.extend_from_slice(STREAM_OPEN);
                    body.extend_from_slice(&self.streams[item.stream as usize].labels);
                    body.extend_from_slice(VALUES_OPEN);
                }
            }
            body.extend_from_slice(&self.entry(item).json);
            prev = Some(item);
        }
        if prev.is_some() {
            body.extend_from_slice(STREAM_CLOSE);
        }
        body.extend_from_slice(CLOSE);
        body
    }

    /// The exact length `body(items)` will have.
    pub(super) fn size(&self, items: &[Item]) -> usize {
        if items.is_empty() {
            return OPEN.len() + CLOSE.len();
        }
        (0..items.len())
            .map(|i| self.growth(i.checked_sub(1).map(|p| items[p]), items[i]))
            .sum()
    }
}

/// The stream's label set as a JSON object: the fixed labels and ours (the config refuses
/// fixed labels named like ours, so neither hides the other).
fn labels_json(
    fixed: &BTreeMap<String, String>,
    (site, app, entity_kind, kind): StreamKey<'_>,
) -> Result<Vec<u8>, DeliveryError> {
    let mut labels: BTreeMap<&str, &str> = fixed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    labels.insert("site", site);
    labels.insert("app", app);
    labels.insert("entity_kind", entity_kind);
    labels.insert("kind", kind.as_str());
    serde_json::to_vec(&labels).map_err(encode_error)
}

fn encode_error(e: serde_json::Error) -> DeliveryError {
    DeliveryError::permanent(format!("cannot encode the push request as JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{App, Entity, Event, Status, Timestamp};
    use serde_json::Value;

    fn event(seq: u64, micros: i64, kind: Kind, entity_kind: &str, message: &str) -> Event {
        Event {
            v: 1,
            id: uuid::Uuid::now_v7(),
            seq,
            time: Timestamp::from_unix_micros(micros),
            site: "fab1".into(),
            app: App {
                name: "etch".into(),
                version: None,
                instance: None,
            },
            entity: Entity {
                kind: entity_kind.into(),
                id: format!("job-{seq}"),
                name: None,
                parent: None,
                key: None,
            },
            kind,
            status: Status::Running,
            progress: None,
            level: None,
            message: Some(message.into()),
            metrics: Default::default(),
            attrs: Default::default(),
        }
    }

    fn sample() -> Batch {
        Batch::from_events(&[
            event(1, 1_700_000_000_000_003, Kind::Log, "job", "third"),
            event(
                2,
                1_700_000_000_000_001,
                Kind::Log,
                "job",
                "first \"quoted\"",
            ),
            event(
                3,
                1_700_000_000_000_002,
                Kind::Started,
                "wafer",
                "other stream",
            ),
            event(4, 1_700_000_000_000_002, Kind::Log, "job", "second"),
        ])
    }

    #[test]
    fn body_is_lokis_json_with_sorted_ns_strings() {
        let fixed = BTreeMap::from([("env".to_string(), "prod".to_string())]);
        let streams = Streams::group(&sample(), &fixed).unwrap();
        let items = streams.items();
        let body: Value = serde_json::from_slice(&streams.body(&items)).unwrap();
        let list = body["streams"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        let log = list.iter().find(|s| s["stream"]["kind"] == "log").unwrap();
        assert_eq!(
            log["stream"],
            serde_json::json!({"env": "prod", "site": "fab1", "app": "etch",
                               "entity_kind": "job", "kind": "log"})
        );
        let times: Vec<&str> = log["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v[0].as_str().unwrap())
            .collect();
        assert_eq!(
            times,
            [
                "1700000000000001000",
                "1700000000000002000",
                "1700000000000003000"
            ]
        );
        let line: Value = serde_json::from_str(log["values"][0][1].as_str().unwrap()).unwrap();
        assert_eq!(line["message"], "first \"quoted\"");
        assert_eq!(line["seq"], 2);
    }

    #[test]
    fn chunks_respect_the_byte_cap_exactly() {
        let streams = Streams::group(&sample(), &BTreeMap::new()).unwrap();
        let items = streams.items();
        assert_eq!(streams.size(&items), streams.body(&items).len());
        for cap in [1, 100, 400, 700, 900, 100_000] {
            let chunks = streams.chunks(&items, cap);
            let mut covered = 0;
            for range in chunks {
                assert_eq!(range.start, covered);
                covered = range.end;
                let part = &items[range.clone()];
                let len = streams.body(part).len();
                assert_eq!(len, streams.size(part));
                assert!(len <= cap || part.len() == 1, "cap {cap}: {len} bytes");
            }
            assert_eq!(covered, items.len());
        }
    }
}
