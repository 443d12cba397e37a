//! A batch as SendMessageBatch requests within SQS's limits: at most 10 messages and
//! 256 KiB per request, a message counting its body and its attributes. Each entry's `Id`
//! is its position in the batch, so a per-entry failure names the event it was.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::backends::http::WireFormat;
use crate::backends::messaging::{body, header_values, Roots};
use crate::backends::Batch;

pub(crate) const MAX_ENTRIES: usize = 10;
pub(crate) const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// SQS's attribute data type for text, counted in a message's size like its name and value.
const STRING: &str = "String";

pub(crate) struct Request {
    pub positions: Vec<usize>,
    pub entries: Vec<Value>,
    bytes: usize,
}

/// The requests a batch makes, and the events no request can carry (position, why).
pub(crate) fn pack(
    batch: &Batch,
    fifo: bool,
    roots: &mut Roots,
) -> (Vec<Request>, Vec<(usize, String)>) {
    let mut requests: Vec<Request> = Vec::new();
    let mut too_large = Vec::new();
    let mut text = Vec::with_capacity(1024);
    for (position, event) in batch.iter().enumerate() {
        // Every event goes through the roots, so a later child finds its parent's root.
        let root = roots.root(&event.entity);
        text.clear();
        body(&event, WireFormat::Json, &mut text);
        let message = String::from_utf8_lossy(&text).into_owned();
        let mut attributes = Map::new();
        let mut size = message.len();
        for (name, value) in header_values(&event) {
            size += name.len() + STRING.len() + value.len();
            attributes.insert(
                name.to_string(),
                json!({"DataType": STRING, "StringValue": value}),
            );
        }
        if size > MAX_REQUEST_BYTES {
            too_large.push((
                position,
                format!(
                    "event {} is {size} bytes with its attributes, over SQS's {} KiB per message",
                    event.id,
                    MAX_REQUEST_BYTES / 1024
                ),
            ));
            continue;
        }
        let mut entry = json!({
            "Id": position.to_string(),
            "MessageBody": message,
            "MessageAttributes": attributes,
        });
        if fifo {
            entry["MessageGroupId"] = json!(group_id(&root));
            entry["MessageDeduplicationId"] = json!(event.id.to_string());
        }
        let fits = requests
            .last()
            .is_some_and(|r| r.entries.len() < MAX_ENTRIES && r.bytes + size <= MAX_REQUEST_BYTES);
        if !fits {
            requests.push(Request {
                positions: Vec::new(),
                entries: Vec::new(),
                bytes: 0,
            });
        }
        if let Some(request) = requests.last_mut() {
            request.positions.push(position);
            request.entries.push(entry);
            request.bytes += size;
        }
    }
    (requests, too_large)
}

/// A FIFO group id: the root entity id when SQS takes it as one (up to 128 printable ASCII
/// characters), else a digest of it, so every event of a tree still shares one group.
pub(crate) fn group_id(root: &str) -> String {
    let usable = !root.is_empty()
        && root.len() <= 128
        && root.bytes().all(|b| b.is_ascii_graphic());
    if usable {
        return root.to_string();
    }
    let digest = Sha256::digest(root.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Entity, Event, Kind, Timestamp};

    fn event(id: &str, parent: Option<&str>, message_len: usize) -> Event {
        let mut entity = Entity::new("wafer", id);
        entity.parent = parent.map(str::to_string);
        let mut e = Event::sample(Kind::Log, entity, Timestamp::from_unix_micros(1_700_000_000_000_000));
        e.message = Some("x".repeat(message_len));
        e
    }

    #[test]
    fn requests_hold_at_most_ten_messages_and_256_kib() {
        let small: Vec<Event> = (0..25).map(|i| event(&format!("w{i}"), None, 10)).collect();
        let (requests, too_large) = pack(&Batch::from_events(&small), false, &mut Roots::default());
        assert!(too_large.is_empty());
        let sizes: Vec<usize> = requests.iter().map(|r| r.entries.len()).collect();
        assert_eq!(sizes, [10, 10, 5]);
        assert_eq!(requests[2].positions, [20, 21, 22, 23, 24]);

        let big: Vec<Event> = (0..5).map(|i| event(&format!("w{i}"), None, 100 * 1024)).collect();
        let (requests, _) = pack(&Batch::from_events(&big), false, &mut Roots::default());
        let sizes: Vec<usize> = requests.iter().map(|r| r.entries.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert!(requests.iter().all(|r| r.bytes <= MAX_REQUEST_BYTES));
    }

    #[test]
    fn an_event_over_the_message_limit_is_set_aside_naming_its_size() {
        let events = vec![event("w0", None, 10), event("w1", None, 300 * 1024), event("w2", None, 10)];
        let (requests, too_large) = pack(&Batch::from_events(&events), false, &mut Roots::default());
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].positions, [0, 2]);
        assert_eq!(too_large.len(), 1);
        assert_eq!(too_large[0].0, 1);
        assert!(too_large[0].1.contains("over SQS's 256 KiB per message"), "{}", too_large[0].1);
    }

    #[test]
    fn fifo_entries_group_by_the_root_and_deduplicate_by_the_event_id() {
        let events = vec![event("lot-1", None, 1), event("wafer-1", Some("lot-1"), 1)];
        let batch = Batch::from_events(&events);
        let (requests, _) = pack(&batch, true, &mut Roots::default());
        let entries = &requests[0].entries;
        assert_eq!(entries[0]["MessageGroupId"], "lot-1");
        assert_eq!(entries[1]["MessageGroupId"], "lot-1");
        assert_eq!(entries[1]["MessageDeduplicationId"], events[1].id.to_string());
        assert_eq!(entries[1]["MessageAttributes"]["kind"]["StringValue"], "log");
        let (standard, _) = pack(&batch, false, &mut Roots::default());
        assert!(standard[0].entries[0].get("MessageGroupId").is_none());
    }

    #[test]
    fn a_root_sqs_cannot_take_becomes_a_stable_digest() {
        assert_eq!(group_id("LOT-1"), "LOT-1");
        let odd = group_id("lot 1 ümlaut");
        assert!(odd.starts_with("sha256-") && odd.len() == 71, "{odd}");
        assert_eq!(odd, group_id("lot 1 ümlaut"));
        assert!(group_id(&"x".repeat(129)).starts_with("sha256-"));
    }
}
