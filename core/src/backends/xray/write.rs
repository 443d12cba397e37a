//! X-Ray backend: each ended entity becomes a trace segment (PutTraceSegments, REST-JSON).
//! A job, or any entity without a parent, is a segment; an entity with a parent (a subjob,
//! a step...) is a subsegment of its parent's segment, in the trace of its root entity.
//!
//! Ids are derived from entity ids, so a retried batch sends the same segments again (X-Ray
//! keeps one segment per id) instead of new traces. Start times come from `started` events
//! seen by this process, kept in a bounded map; an ending without a known start is a
//! zero-length segment, annotated `start_unknown`.

use std::collections::{HashMap, VecDeque};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::backends::aws::{AwsClient, Outcome};
use crate::backends::{Backend, Batch, DeliveryError};
use crate::config::{AppConfig, XRayConfig};
use crate::error::Result;
use crate::event::{EventRef, Kind, Status};

/// Documents per request, as the X-Ray daemon sends them.
const MAX_DOCUMENTS: usize = 50;
/// X-Ray's limit for one segment document.
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// Started entities remembered for their start time and root.
const REMEMBERED_ENTITIES: usize = 50_000;
/// The ending's message in the segment's metadata is cut here, so that a segment stays well
/// under X-Ray's document limit (the full message is in the logs backends).
const MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// Segment names: at most 200 characters.
const MAX_NAME_CHARS: usize = 200;

pub struct XRay {
    client: AwsClient,
    starts: Starts,
}

impl XRay {
    pub fn new(config: XRayConfig, _app: &AppConfig) -> Result<XRay> {
        Ok(XRay {
            client: AwsClient::new(&config.aws, "xray", config.net.timeout)?,
            starts: Starts::default(),
        })
    }
}

impl Backend for XRay {
    fn send(&mut self, batch: &Batch) -> std::result::Result<(), DeliveryError> {
        let mut outcome = Outcome::default();
        let mut documents: Vec<(usize, String, String)> = Vec::new();
        for (position, event) in batch.iter().enumerate() {
            if event.kind == Kind::Started {
                self.starts.record(&event);
            } else if event.kind.is_terminal() {
                let segment = self.starts.segment(&event);
                match serde_json::to_string(&segment.document) {
                    Ok(doc) if doc.len() > MAX_DOCUMENT_BYTES => outcome.reject(
                        position,
                        format!(
                            "the segment of entity {} is {} bytes, over X-Ray's 64 KiB",
                            event.entity.id,
                            doc.len()
                        ),
                    ),
                    Ok(doc) => documents.push((position, segment.id, doc)),
                    Err(e) => outcome.reject(position, format!("cannot encode a segment: {e}")),
                }
            }
        }
        let requests: Vec<&[(usize, String, String)]> = documents.chunks(MAX_DOCUMENTS).collect();
        for (k, request) in requests.iter().enumerate() {
            let docs: Vec<&str> = request.iter().map(|(_, _, d)| d.as_str()).collect();
            match self
                .client
                .post_rest_json("/TraceSegments", &json!({"TraceSegmentDocuments": docs}))
            {
                Ok(answer) => {
                    for (p, reason) in unprocessed(&answer, request) {
                        outcome.reject(p, reason);
                    }
                }
                Err(e) if e.transient => {
                    outcome.retry_all(requests[k..].iter().flat_map(|r| r.iter().map(|d| d.0)), e);
                    break;
                }
                Err(e) => {
                    let message = format!("X-Ray: {e}");
                    for (p, _, _) in request.iter() {
                        outcome.reject(*p, message.clone());
                    }
                }
            }
        }
        outcome.into_result(batch.len())
    }
}

/// The positions X-Ray did not take (`UnprocessedTraceSegments`), each with its reason.
fn unprocessed(answer: &Value, request: &[(usize, String, String)]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for item in answer["UnprocessedTraceSegments"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let id = item["Id"].as_str().unwrap_or_default();
        let reason = format!(
            "X-Ray did not take segment {id}: {} {}",
            item["ErrorCode"].as_str().unwrap_or_default(),
            item["Message"].as_str().unwrap_or_default()
        );
        // A document X-Ray could not even read comes back without its id: the whole request.
        out.extend(
            request
                .iter()
                .filter(|(_, seg, _)| id.is_empty() || seg == id)
                .map(|(p, _, _)| (*p, reason.clone())),
        );
    }
    out
}

struct Segment {
    id: String,
    document: Value,
}

/// Start time and root of started entities, oldest forgotten first.
#[derive(Default)]
struct Starts {
    known: HashMap<String, (i64, String)>,
    order: VecDeque<String>,
}

impl Starts {
    fn record(&mut self, event: &EventRef<'_>) {
        let id = event.entity.id;
        let root = self.root_of(id, event.entity.parent);
        if self
            .known
            .insert(id.to_string(), (event.time.unix_micros(), root))
            .is_none()
        {
            self.order.push_back(id.to_string());
            if self.order.len() > REMEMBERED_ENTITIES {
                if let Some(old) = self.order.pop_front() {
                    self.known.remove(&old);
                }
            }
        }
    }

    /// The root of an entity: its parent's root when the parent was seen, else the parent
    /// (an entity started in another process is taken as the root), else itself.
    fn root_of(&self, id: &str, parent: Option<&str>) -> String {
        match parent {
            None => id.to_string(),
            Some(p) => self
                .known
                .get(p)
                .map(|(_, root)| root.clone())
                .unwrap_or_else(|| p.to_string()),
        }
    }

    fn segment(&self, end: &EventRef<'_>) -> Segment {
        let entity = &end.entity;
        let end_micros = end.time.unix_micros();
        let (start_micros, root) = match self.known.get(entity.id) {
            Some((start, root)) => (Some(*start), root.clone()),
            None => (None, self.root_of(entity.id, entity.parent)),
        };
        let root_start = self.known.get(&root).map(|(s, _)| *s);
        let start = start_micros.unwrap_or(end_micros);
        let id = segment_id(entity.id);
        let mut annotations = Map::new();
        annotations.insert("site".into(), json!(end.site));
        annotations.insert("app".into(), json!(end.app.name));
        annotations.insert("entity_kind".into(), json!(entity.kind));
        annotations.insert("entity_id".into(), json!(entity.id));
        annotations.insert("status".into(), json!(end.status.as_str()));
        if let Some(key) = entity.key {
            annotations.insert("key".into(), json!(key));
        }
        if start_micros.is_none() {
            annotations.insert("start_unknown".into(), json!(true));
        }
        let mut wafermon = Map::new();
        wafermon.insert("event_id".into(), json!(end.id.to_string()));
        if let Some(message) = end.message {
            wafermon.insert(
                "message".into(),
                json!(truncated(message, MAX_MESSAGE_BYTES)),
            );
        }
        if !end.metrics.is_empty() {
            wafermon.insert("metrics".into(), json!(end.metrics));
        }
        if start_micros.is_none() {
            wafermon.insert(
                "note".into(),
                json!("no started event was seen by this process: start_time is the end time"),
            );
        }
        let mut doc = json!({
            "name": segment_name(entity.name.unwrap_or(entity.kind)),
            "id": id,
            "trace_id": trace_id(&root, root_start.unwrap_or(start)),
            "start_time": seconds(start),
            "end_time": seconds(end_micros.max(start)),
            "annotations": annotations,
            "metadata": {"wafermon": wafermon},
        });
        if let Some(version) = end.app.version {
            doc["service"] = json!({"version": version});
        }
        // X-Ray's flags: fault for a job that failed, error for one that was canceled.
        match end.status {
            Status::Failed => doc["fault"] = json!(true),
            Status::Canceled => doc["error"] = json!(true),
            _ => {}
        }
        if let Some(parent) = entity.parent {
            doc["parent_id"] = json!(segment_id(parent));
            if entity.kind != "job" {
                doc["type"] = json!("subsegment");
            }
        }
        Segment { id, document: doc }
    }
}

fn truncated(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

fn seconds(micros: i64) -> f64 {
    micros as f64 / 1e6
}

/// `1-<8 hex: seconds>-<24 hex>`: the time is the root's (its UUIDv7 id's when it has one,
/// so every process derives the same), the rest a hash of the root id.
fn trace_id(root: &str, fallback_micros: i64) -> String {
    let secs = Uuid::parse_str(root)
        .ok()
        .filter(|u| u.get_version_num() == 7)
        .and_then(|u| u.get_timestamp())
        .map(|ts| ts.to_unix().0 as i64)
        .unwrap_or(fallback_micros.div_euclid(1_000_000));
    let hash = Sha256::digest(format!("wafermon trace {root}").as_bytes());
    format!("1-{:08x}-{}", secs as u32, hex::encode(&hash[..12]))
}

/// 16 hex digits from the entity id.
fn segment_id(entity_id: &str) -> String {
    let hash = Sha256::digest(format!("wafermon segment {entity_id}").as_bytes());
    hex::encode(&hash[..8])
}

/// Letters, digits, whitespace and `_ . : / % & # = + \ - @`, at most 200 characters.
fn segment_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ' ' || "_.:/%&#=+\\-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME_CHARS)
        .collect();
    if clean.trim().is_empty() {
        "wafermon".into()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_are_deterministic_and_well_formed() {
        let root = Uuid::now_v7().to_string();
        let a = trace_id(&root, 0);
        assert_eq!(a, trace_id(&root, 123_000_000));
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!((parts[0], parts[1].len(), parts[2].len()), ("1", 8, 24));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let secs = u64::from_str_radix(parts[1], 16).unwrap();
        assert!(now.abs_diff(secs) < 5);
        // Not a UUIDv7: the time given.
        assert_eq!(
            &trace_id("lot-42", 0x6000_0000 * 1_000_000)[..11],
            "1-60000000-"
        );
        assert_eq!(segment_id("job-1").len(), 16);
        assert_ne!(segment_id("job-1"), segment_id("job-2"));
    }

    #[test]
    fn unprocessed_segments_become_rejected_positions() {
        let request = vec![
            (0, "aaaaaaaaaaaaaaaa".to_string(), String::new()),
            (3, "bbbbbbbbbbbbbbbb".to_string(), String::new()),
        ];
        let answer = json!({"UnprocessedTraceSegments": [
            {"Id": "bbbbbbbbbbbbbbbb", "ErrorCode": "InvalidTraceId", "Message": "too old"}]});
        let out = unprocessed(&answer, &request);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 3);
        assert!(out[0].1.contains("InvalidTraceId too old"), "{}", out[0].1);
        let answer = json!({"UnprocessedTraceSegments": [{"ErrorCode": "JSONFormatError"}]});
        assert_eq!(unprocessed(&answer, &request).len(), 2);
        assert!(unprocessed(&json!({"UnprocessedTraceSegments": []}), &request).is_empty());
        assert_eq!(truncated("aü", 2), "a");
    }

    #[test]
    fn names_keep_what_xray_allows() {
        assert_eq!(segment_name("etch <LOT42>"), "etch _LOT42_");
        assert_eq!(segment_name(""), "wafermon");
        assert_eq!(segment_name(&"x".repeat(300)).len(), 200);
    }
}
