//! `POST /v1/ingest/managed`: `{"events": [...], "source": "...", "site_id": "..."}` as JSON
//! or MessagePack. The events array is read one element at a time (hostkit's `events`), each
//! event validated on its own (a bad one rejects only itself, and only the first 100
//! rejections are described); the valid ones are stored before the answer, so a 200 means
//! durable. They are stored in transactions of up to `CHUNK` events, so a large request never
//! has the store's copies of all its events at once; a failure part way answers 503, and the
//! client's retry stores only what is missing, because the store keeps each event id once.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{Map, Value};
use wafermon::event::Event;
use wafermon_hostkit::events::{read_events, Envelope, Rejections, Shape};
use wafermon_hostkit::{body_format, memory, BodyFormat};

use super::{unavailable, ApiError, AppState, Published};
use crate::store::Incoming;

/// Recorded as the source of events whose envelope names none.
const DEFAULT_SOURCE: &str = "managed_api";

const SHAPE: Shape = Shape::Envelope(&["source", "site_id"]);

/// Events per store transaction (and per allocation of parsed events).
const CHUNK: usize = 1_000;

pub async fn managed(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let format = body_format(&headers)?;
    let body = body.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    let len = body.len();
    // Parsing a large body is CPU work: keep it off the I/O threads.
    let read = tokio::task::spawn_blocking(move || read_body(&body, format))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("ingest failed: {e}"),
            )
        })?;
    let answer = match read {
        Ok(read) => store(&state, read).await,
        Err(e) => Err(e),
    };
    // malloc_trim walks and locks every arena: not on an I/O thread.
    let _ = tokio::task::spawn_blocking(move || memory::release_after(len)).await;
    answer
}

/// What a body held.
struct Read {
    /// In chunks of at most `CHUNK`, so no one allocation grows with the request.
    valid: Vec<Vec<Incoming>>,
    rejections: Rejections,
    received: usize,
    source: String,
}

async fn store(state: &AppState, read: Read) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Read {
        valid,
        rejections,
        received,
        source,
    } = read;
    state.metrics.events_received.inc_by(received as u64);
    state
        .metrics
        .events_rejected
        .inc_by(rejections.count() as u64);
    let mut answer = Map::new();
    let total: usize = valid.iter().map(Vec::len).sum();
    if total == 0 && !rejections.is_empty() {
        answer.insert("error".into(), "no valid events".into());
        answer.insert("accepted".into(), 0.into());
        answer.insert("stored".into(), 0.into());
        rejections.write_into(&mut answer);
        return Ok((StatusCode::BAD_REQUEST, Json(Value::Object(answer))));
    }
    let mut stored_count = 0;
    for chunk in valid {
        let stored = store_events(state, &chunk, &source, true)
            .await
            .map_err(|e| unavailable(state, &e))?;
        stored_count += stored;
    }
    answer.insert("accepted".into(), total.into());
    answer.insert("stored".into(), stored_count.into());
    answer.insert("duplicates".into(), (total - stored_count).into());
    rejections.write_into(&mut answer);
    Ok((StatusCode::OK, Json(Value::Object(answer))))
}

/// Store `events` in one transaction (each event id once, job states merged), count what was
/// new and what was a replay, and (with `publish`) send the new ones to the live stream.
/// Returns how many were new. Every ingest path stores through here.
pub async fn store_events(
    state: &AppState,
    events: &[Incoming],
    source: &str,
    publish: bool,
) -> Result<usize, crate::store::StoreError> {
    let stored = state.store.ingest(events, source).await?;
    state.metrics.events_stored.inc_by(stored.len() as u64);
    state
        .metrics
        .events_duplicate
        .inc_by((events.len() - stored.len()) as u64);
    if publish && state.published.receiver_count() > 0 {
        for index in &stored {
            // No receiver left between the check and the send is fine: nothing to deliver.
            let _ = state
                .published
                .send(Arc::new(Published::of(&events[*index])));
        }
    }
    Ok(stored.len())
}

/// Each element parsed and validated on its own: the valid events, and the rejections naming
/// the offending field (`events[i].field`).
fn read_body(body: &[u8], format: BodyFormat) -> Result<Read, ApiError> {
    let (valid, rejections, envelope) = read_valid(body, format, SHAPE)?;
    let mut fields = envelope.fields;
    let source = optional_string(&mut fields, "source")?.unwrap_or_else(|| DEFAULT_SOURCE.into());
    if source.is_empty() || source.len() > 256 {
        return Err(ApiError::bad_request("source", "must be 1-256 characters"));
    }
    // Informational: events carry their own site, which is what the store records.
    optional_string(&mut fields, "site_id")?;
    Ok(Read {
        valid,
        rejections,
        received: envelope.received,
        source,
    })
}

/// One Kafka message's value (an event, or an array of events) decoded and validated exactly
/// as the elements of an ingest body are: the valid events and the rejections (`[i].field`,
/// or `field` for a message that is one event). `Err`: the value is not JSON/MessagePack, or
/// neither an event nor an array.
pub fn read_message(
    body: &[u8],
    format: BodyFormat,
) -> Result<(Vec<Incoming>, Rejections), ApiError> {
    let (valid, rejections, _) = read_valid(body, format, Shape::EventOrArray)?;
    Ok((valid.into_iter().flatten().collect(), rejections))
}

/// The elements of `body` (of the given shape), each parsed and validated on its own, the
/// valid ones in chunks of at most `CHUNK`.
fn read_valid(
    body: &[u8],
    format: BodyFormat,
    shape: Shape,
) -> Result<(Vec<Vec<Incoming>>, Rejections, Envelope), ApiError> {
    let mut valid: Vec<Vec<Incoming>> = Vec::new();
    let mut rejections = Rejections::default();
    let envelope = read_events(body, format, shape, |item| {
        let index = item.index;
        if valid.last().is_none_or(|chunk| chunk.len() == CHUNK) {
            // Grows as events come: a one-event request need not reserve a whole chunk.
            valid.push(Vec::new());
        }
        let Some(valid) = valid.last_mut() else {
            unreachable!("a chunk was just pushed")
        };
        if let Some(incoming) = item.json_text().and_then(fast_event) {
            valid.push(incoming);
            return Ok(());
        }
        let at = item.path();
        match item.object()? {
            Err(why) => rejections.add(index, &at, &why),
            Ok(object) => match wafermon::event::parse_complete_event(&object) {
                Ok(event) => {
                    let json = canonical_json(&event, 0);
                    valid.push(Incoming { event, json });
                }
                Err(e) => {
                    let path = match e.path() {
                        Some(p) if !p.is_empty() && !at.is_empty() => format!("{at}.{p}"),
                        Some(p) if !p.is_empty() => p.to_string(),
                        _ => at,
                    };
                    rejections.add(index, &path, e.message());
                }
            },
        }
        Ok(())
    })?;
    valid.retain(|chunk| !chunk.is_empty());
    Ok((valid, rejections, envelope))
}

/// The common case without a JSON tree: an element whose text deserializes straight into
/// `Event` and validates. `None` sends the element down the general path (a strict tree,
/// `parse_complete_event`), which then decides exactly as it always does: anything this path
/// accepts, that one accepts as the same event, and anything else (a bad or unusual event) is
/// left to it.
fn fast_event(text: &str) -> Option<Incoming> {
    // Serde is more lenient than the schema parser in a few places: `null` for an
    // optional field, a struct given as an array, an enum as `{"variant": null}`.
    // Events with either character sequence anywhere take the general path.
    if !text.starts_with('{') || text.contains("null") || text.contains('[') {
        return None;
    }
    let event: Event = serde_json::from_str(text).ok()?;
    event.validate().ok()?;
    let json = canonical_json(&event, text.len());
    Some(Incoming { event, json })
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
    use serde_json::json;

    fn read(body: &str) -> Result<Read, ApiError> {
        read_body(body.as_bytes(), BodyFormat::Json)
    }

    #[test]
    fn envelopes_name_what_is_wrong() {
        let err = |body: Value| read(&body.to_string()).err().and_then(|e| e.path);
        assert_eq!(err(json!({"events": [], "extra": 1})), Some("extra".into()));
        assert_eq!(err(json!({"events": {}})), Some("events".into()));
        assert_eq!(err(json!({})), Some("events".into()));
        assert_eq!(
            err(json!({"events": [], "source": 3})),
            Some("source".into())
        );
        let read = read(&json!({"events": [{}], "site_id": "f"}).to_string())
            .ok()
            .unwrap();
        assert_eq!(
            (
                read.valid.len(),
                read.rejections.count(),
                read.source.as_str()
            ),
            (0, 1, DEFAULT_SOURCE)
        );
        let many: Vec<Value> = (0..2500)
            .map(|i| complete("started", "running", json!({"seq": i})))
            .collect();
        let read = super::read_body(
            json!({"events": many}).to_string().as_bytes(),
            BodyFormat::Json,
        )
        .ok()
        .unwrap();
        let sizes: Vec<usize> = read.valid.iter().map(Vec::len).collect();
        assert_eq!(sizes, [CHUNK, CHUNK, 500]);
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

    /// The general path alone, as a tree: what the fast path must agree with.
    fn general(event: &Value) -> Result<Incoming, String> {
        wafermon::event::parse_complete_event(event)
            .map(|event| {
                let json = canonical_json(&event, 0);
                Incoming { event, json }
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_fast_path_stores_what_the_general_path_stores() {
        let events = [
            complete("started", "running", json!({})),
            complete(
                "progress",
                "running",
                json!({"progress": 40, "metrics": {"rss": 3, "t": 0.25}}),
            ),
            complete(
                "log",
                "running",
                json!({"level": "warning", "message": "tab\there \"q\" €",
                "attrs": {"n": 3, "f": 1.5, "e": 1e2, "b": true, "s": "x", "big": 9007199254740993i64}}),
            ),
            complete(
                "finished",
                "succeeded",
                json!({"metrics": {"duration_s": 2.5}}),
            ),
            complete("metric", "failed", json!({"seq": 18446744073709551615u64})),
        ];
        for event in &events {
            for text in [
                event.to_string(),
                serde_json::to_string_pretty(event).unwrap(),
            ] {
                let fast = fast_event(&text).expect("fast path");
                let slow = general(event).unwrap();
                assert_eq!(fast.event, slow.event);
                assert_eq!(fast.json, slow.json);
                assert_eq!(fast.json, fast.event.to_json());
            }
        }
        let body = json!({"events": events, "source": "line-3", "site_id": "fab1"}).to_string();
        let read = read(&body).ok().unwrap();
        assert_eq!((read.valid[0].len(), read.source.as_str()), (5, "line-3"));
        assert_eq!(
            read.valid[0][2].event.attrs["big"],
            wafermon::event::Scalar::Int(9007199254740993)
        );
    }

    #[test]
    fn unusual_events_take_the_general_path() {
        let fast = |event: &Value| fast_event(&event.to_string()).is_some();
        assert!(fast(&complete("started", "running", json!({}))));
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
            complete(
                "started",
                "running",
                json!({"attrs": {"big": 18446744073709551615u64}}),
            ),
            json!([1]),
        ] {
            assert!(!fast(&event), "{event}");
        }
        let text = complete("started", "running", json!({"attrs": {"n": 1}})).to_string();
        for duplicate in [
            text.replacen("\"seq\":7", "\"seq\":7,\"seq\":8", 1),
            text.replacen("\"n\":1", "\"n\":1,\"n\":2", 1),
        ] {
            assert_ne!(duplicate, text);
            assert!(fast_event(&duplicate).is_none(), "{duplicate}");
            let body = format!("{{\"events\": [{duplicate}]}}");
            let err = read(&body).err().expect("a duplicate key is refused");
            assert_eq!(err.status, StatusCode::BAD_REQUEST);
            assert!(
                err.path
                    .as_deref()
                    .is_some_and(|p| p.starts_with("events[0].")),
                "{}",
                err.message
            );
        }
        assert!(read(r#"{"events": [], "events": []}"#).is_err());
        assert!(read(r#"{"events": [], "source": ""}"#).is_err());
    }
}
