//! `POST /v1/ingest/managed`: `{"events": [...], "source": "...", "site_id": "..."}` as JSON
//! or MessagePack. Each event is validated on its own (a bad one rejects only itself); the
//! valid ones are stored in one transaction before the answer, so a 200 means durable.
//! Replays are harmless: the store keeps each event id once.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use wafermon::event::Event;
use wafermon_hostkit::{body_format, decode, BodyFormat};

use super::{unavailable, ApiError, AppState, Published};
use crate::store::Incoming;

/// Recorded as the source of events whose envelope names none.
const DEFAULT_SOURCE: &str = "managed_api";

pub async fn managed(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let format = body_format(&headers)?;
    let body = body.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    let fast = match format {
        BodyFormat::Json => fast_json(&body),
        BodyFormat::MsgPack => None,
    };
    let (valid, rejected, source) = match fast {
        Some((valid, source)) => {
            state.metrics.events_received.inc_by(valid.len() as u64);
            (valid, Vec::new(), source)
        }
        None => {
            let (items, source) = envelope(decode(&body, format)?)?;
            state.metrics.events_received.inc_by(items.len() as u64);
            let (valid, rejected) = parse_items(&items);
            (valid, rejected, source)
        }
    };
    state.metrics.events_rejected.inc_by(rejected.len() as u64);
    if valid.is_empty() && !rejected.is_empty() {
        return Ok((
            StatusCode::BAD_REQUEST,
            Json(
                json!({"error": "no valid events", "accepted": 0, "stored": 0, "rejected": rejected}),
            ),
        ));
    }
    let stored = state
        .store
        .ingest(&valid, &source)
        .await
        .map_err(|e| unavailable(&state, &e))?;
    state.metrics.events_stored.inc_by(stored.len() as u64);
    state
        .metrics
        .events_duplicate
        .inc_by((valid.len() - stored.len()) as u64);
    if state.published.receiver_count() > 0 {
        for index in &stored {
            // No receiver left between the check and the send is fine: nothing to deliver.
            let _ = state
                .published
                .send(Arc::new(Published::of(&valid[*index])));
        }
    }
    Ok((
        StatusCode::OK,
        Json(json!({
            "accepted": valid.len(),
            "stored": stored.len(),
            "duplicates": valid.len() - stored.len(),
            "rejected": rejected,
        })),
    ))
}

/// Each item parsed and validated on its own: the valid events, and one entry per rejected
/// item naming the offending field.
fn parse_items(items: &[Value]) -> (Vec<Incoming>, Vec<Value>) {
    let mut valid = Vec::with_capacity(items.len());
    let mut rejected = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match wafermon::event::parse_complete_event(item) {
            Ok(event) => {
                let json = canonical_json(&event, 0);
                valid.push(Incoming { event, json });
            }
            Err(e) => {
                let path = match e.path() {
                    Some(p) if !p.is_empty() => format!("events[{index}].{p}"),
                    _ => format!("events[{index}]"),
                };
                rejected.push(json!({"index": index, "path": path, "error": e.message()}));
            }
        }
    }
    (valid, rejected)
}

/// The envelope of a JSON body with its events left as raw text.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    site_id: Option<String>,
}

/// The common case without a JSON tree per event: a JSON body (`BodyFormat::Json`) whose every event
/// deserializes straight into `Event` and validates. `None` sends the request down the
/// general path (`decode`, `envelope`, `parse_items`), which then gives exactly the
/// answer it always gave: anything this path accepts, that one accepts as the same events,
/// and anything else (a bad or unusual event, an odd envelope) is left to it.
fn fast_json(body: &[u8]) -> Option<(Vec<Incoming>, String)> {
    let text = std::str::from_utf8(body).ok()?;
    let envelope: RawEnvelope<'_> = serde_json::from_str(text).ok()?;
    // Checked (a string or absent) but informational, as on the general path.
    let _ = envelope.site_id;
    let source = envelope.source.unwrap_or_else(|| DEFAULT_SOURCE.into());
    if source.is_empty() || source.len() > 256 {
        return None;
    }
    let mut valid = Vec::with_capacity(envelope.events.len());
    for raw in envelope.events {
        let text = raw.get();
        // Serde is more lenient than the schema parser in a few places: `null` for an
        // optional field, a struct given as an array, an enum as `{"variant": null}`.
        // Events with either character sequence anywhere take the general path.
        if !text.starts_with('{') || text.contains("null") || text.contains('[') {
            return None;
        }
        let event: Event = serde_json::from_str(text).ok()?;
        event.validate().ok()?;
        let json = canonical_json(&event, text.len());
        valid.push(Incoming { event, json });
    }
    Some((valid, source))
}

/// `event.to_json()`, written into a buffer sized for it up front.
fn canonical_json(event: &Event, size_hint: usize) -> String {
    if size_hint == 0 {
        return event.to_json();
    }
    let mut out = Vec::with_capacity(size_hint + 64);
    match serde_json::to_writer(&mut out, event) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The events and the source name from the envelope; unknown fields are errors.
fn envelope(value: Value) -> Result<(Vec<Value>, String), ApiError> {
    let Value::Object(mut map) = value else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the body must be an object {\"events\": [...], \"source\": ..., \"site_id\": ...}",
        ));
    };
    if let Some(key) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "events" | "source" | "site_id"))
    {
        return Err(ApiError::bad_request(
            key.clone(),
            "unknown field (expected events, source, site_id)",
        ));
    }
    let source = optional_string(&mut map, "source")?.unwrap_or_else(|| DEFAULT_SOURCE.into());
    if source.is_empty() || source.len() > 256 {
        return Err(ApiError::bad_request("source", "must be 1-256 characters"));
    }
    // Informational: events carry their own site, which is what the store records.
    optional_string(&mut map, "site_id")?;
    match map.remove("events") {
        Some(Value::Array(items)) => Ok((items, source)),
        Some(_) => Err(ApiError::bad_request(
            "events",
            "must be an array of events",
        )),
        None => Err(ApiError::bad_request("events", "is required")),
    }
}

fn optional_string(map: &mut Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ApiError::bad_request(
            key,
            format!("must be a string, got {other}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_name_what_is_wrong() {
        let err = |v: Value| envelope(v).err().map(|e| e.path).unwrap_or_default();
        assert_eq!(err(json!({"events": [], "extra": 1})), Some("extra".into()));
        assert_eq!(err(json!({"events": {}})), Some("events".into()));
        assert_eq!(err(json!({})), Some("events".into()));
        assert_eq!(
            err(json!({"events": [], "source": 3})),
            Some("source".into())
        );
        let (items, source) = envelope(json!({"events": [{}], "site_id": "f"}))
            .ok()
            .unwrap();
        assert_eq!((items.len(), source.as_str()), (1, DEFAULT_SOURCE));
    }

    fn complete(kind: &str, status: &str, extra: Value) -> Value {
        let mut event = json!({
            "v": 1, "id": wafermon::event::new_v7(1_800_000_000_000).to_string(), "seq": 7,
            "time": "2027-01-15T08:00:00.123456+01:00", "site": "fab1",
            "app": {"name": "etch", "version": "1.2"},
            "entity": {"kind": "job", "id": "Jé1", "name": "etch lot", "parent": "L1"},
            "kind": kind, "status": status,
        });
        if let (Some(obj), Some(more)) = (event.as_object_mut(), extra.as_object()) {
            for (k, v) in more {
                obj.insert(k.clone(), v.clone());
            }
        }
        event
    }

    fn general(body: &str) -> (Vec<Incoming>, Vec<Value>, String) {
        let (items, source) = envelope(decode(body.as_bytes(), BodyFormat::Json).ok().unwrap())
            .ok()
            .unwrap();
        let (valid, rejected) = parse_items(&items);
        (valid, rejected, source)
    }

    #[test]
    fn the_fast_path_stores_what_the_general_path_stores() {
        let events = json!([
            complete("started", "running", json!({})),
            complete(
                "progress",
                "running",
                json!({"progress": 40, "metrics": {"rss": 3, "t": 0.25}})
            ),
            complete(
                "log",
                "running",
                json!({"level": "warning", "message": "tab\there \"q\" €",
                "attrs": {"n": 3, "f": 1.5, "e": 1e2, "b": true, "s": "x", "big": 18446744073709551615u64}})
            ),
            complete(
                "finished",
                "succeeded",
                json!({"metrics": {"duration_s": 2.5}})
            ),
            complete("metric", "failed", json!({"seq": 18446744073709551615u64})),
        ]);
        for body in [
            json!({"events": events, "source": "line-3", "site_id": "fab1"}).to_string(),
            json!({"events": events}).to_string(),
            serde_json::to_string_pretty(&json!({"events": events, "source": null})).unwrap(),
        ] {
            let (fast, source) = fast_json(body.as_bytes()).expect("fast path");
            let (slow, rejected, slow_source) = general(&body);
            assert!(rejected.is_empty(), "{rejected:?}");
            assert_eq!(source, slow_source);
            assert_eq!(fast.len(), slow.len());
            for (a, b) in fast.iter().zip(&slow) {
                assert_eq!(a.event, b.event);
                assert_eq!(a.json, b.json);
                assert_eq!(a.json, a.event.to_json());
            }
        }
    }

    #[test]
    fn unusual_bodies_take_the_general_path() {
        let fast = |body: &str| fast_json(body.as_bytes()).is_some();
        let one = |event: Value| json!({"events": [event]}).to_string();
        assert!(fast(&one(complete("started", "running", json!({})))));
        // Accepted by the general path only, or differently: it must decide.
        let mut no_status = complete("started", "running", json!({}));
        no_status.as_object_mut().unwrap().remove("status");
        let mut no_v = complete("started", "running", json!({}));
        no_v.as_object_mut().unwrap().remove("v");
        for event in [
            no_status,
            no_v,
            complete("progress", "running", json!({"progress": null})),
            complete("started", "running", json!({"message": null})),
            complete("started", "running", json!({"app": ["etch"]})),
            complete("started", "running", json!({"kind": {"started": null}})),
            complete("started", "succeeded", json!({})),
            complete("started", "running", json!({"extra": 1})),
            json!([1]),
        ] {
            assert!(!fast(&one(event.clone())), "{event}");
        }
        let text = one(complete("started", "running", json!({})));
        let duplicate = text.replacen("\"seq\":7", "\"seq\":7,\"seq\":8", 1);
        assert_ne!(duplicate, text);
        assert!(!fast(&duplicate));
        assert!(!fast(r#"{"events": [], "events": []}"#));
        assert!(!fast(r#"{"events": [], "source": ""}"#));
        assert!(!fast(r#"{"events": [], "other": 1}"#));
        assert!(!fast(r#"{"events": {}}"#));
    }
}
