//! The loki backend. Two kinds of tests, named so:
//!
//! - `victorialogs_*`: a real log server, VictoriaLogs (scripts/servers/victorialogs.sh),
//!   through its Loki-compatible push endpoint, read back with its own LogsQL API. It is not
//!   Loki: it takes Loki's push body but neither refuses old lines nor rate limits.
//! - `wire_*`: WIRE FORMAT, NO REAL LOKI SERVER. No Loki server is in the package registries
//!   these machines reach, so a small receiver in this file checks every request against
//!   Loki's documented push API (path, JSON body, labels, nanosecond timestamps as strings,
//!   time order within a stream, size) and answers the way Loki does: 204; 400 naming the
//!   refused lines while keeping the others; 429 with Retry-After; 401 without credentials.
#![cfg(feature = "loki")]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wafermon::backends::{build, Backend, DeliveryError};
use wafermon::event::{App, Entity};
use wafermon::{Batch, Client, Config, Event, Kind, Level, NewEvent, Status, Timestamp};

use common::servers::{server, server_script, PrivateServer};
use common::{read_events, same_json};

// ---------------------------------------------------------------------------------------
// Wire format, no real Loki server: a receiver that speaks Loki's push API.

/// A line the receiver kept.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    ns: i128,
    text: String,
}

/// One request seen: status answered, body length, headers.
type Request = (u16, usize, Vec<(String, String)>);

#[derive(Default)]
struct LokiState {
    /// Lines kept per stream (the label set as sorted JSON).
    streams: BTreeMap<String, Vec<Line>>,
    requests: Vec<Request>,
    /// Anything that breaks Loki's documented push API.
    violations: Vec<String>,
}

/// How the receiver behaves; shared with a restarted receiver so an outage keeps its data.
struct LokiRules {
    /// Lines older than this (ns) are refused, as Loki refuses lines too far behind.
    oldest_ns: i128,
    /// Answer this many requests with 429 first.
    throttle: AtomicUsize,
    /// `Authorization` every request must carry, if any (else 401).
    authorization: Option<String>,
    /// A request body larger than this with more than one line breaks the writer's promise.
    max_bytes: usize,
    /// Answer 503 from this request on (0-based), as a Loki going down mid-batch.
    unavailable_from: Option<usize>,
    state: Mutex<LokiState>,
}

struct WireLoki {
    port: u16,
    rules: Arc<LokiRules>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl WireLoki {
    fn start(rules: LokiRules) -> WireLoki {
        WireLoki::serve(0, Arc::new(rules))
    }

    /// Listen on `port` (0: any) with `rules`.
    fn serve(port: u16, rules: Arc<LokiRules>) -> WireLoki {
        let server = tiny_http::Server::http(("127.0.0.1", port)).expect("bind receiver");
        let port = server.server_addr().to_ip().expect("ip").port();
        let stop = Arc::new(AtomicBool::new(false));
        let (rules2, stop2) = (rules.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Acquire) {
                let mut request = match server.recv_timeout(Duration::from_millis(20)) {
                    Ok(Some(r)) => r,
                    Ok(None) => continue,
                    Err(_) => break,
                };
                let mut body = Vec::new();
                request.as_reader().read_to_end(&mut body).expect("body");
                let headers: Vec<(String, String)> = request
                    .headers()
                    .iter()
                    .map(|h| (h.field.to_string(), h.value.to_string()))
                    .collect();
                let (status, extra, text) =
                    rules2.answer(request.method().as_str(), request.url(), &headers, &body);
                let mut response = tiny_http::Response::from_string(text).with_status_code(status);
                for (name, value) in extra {
                    response = response
                        .with_header(tiny_http::Header::from_bytes(name, value).expect("header"));
                }
                let _ = request.respond(response);
            }
        });
        WireLoki {
            port,
            rules,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LokiState> {
        self.rules.state.lock().unwrap()
    }

    /// Every kept line parsed back as an event, with its stream's labels.
    fn kept(&self) -> Vec<(BTreeMap<String, String>, Line, Event)> {
        let state = self.state();
        assert!(state.violations.is_empty(), "{:#?}", state.violations);
        let mut out = Vec::new();
        for (labels, lines) in &state.streams {
            let labels: BTreeMap<String, String> = serde_json::from_str(labels).unwrap();
            for line in lines {
                let event: Event = serde_json::from_str(&line.text).expect("line is an event");
                out.push((labels.clone(), line.clone(), event));
            }
        }
        out
    }

    fn kept_events(&self) -> Vec<Event> {
        let mut events: Vec<Event> = self.kept().into_iter().map(|(_, _, e)| e).collect();
        events.sort_by_key(|e| e.seq);
        events
    }
}

impl Drop for WireLoki {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn rules() -> LokiRules {
    LokiRules {
        oldest_ns: 0,
        throttle: AtomicUsize::new(0),
        authorization: None,
        max_bytes: 1024 * 1024,
        unavailable_from: None,
        state: Mutex::new(LokiState::default()),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

type Answer = (u16, Vec<(&'static str, String)>, String);

impl LokiRules {
    fn answer(&self, method: &str, url: &str, headers: &[(String, String)], body: &[u8]) -> Answer {
        let answer = self.judge(method, url, headers, body);
        self.state
            .lock()
            .unwrap()
            .requests
            .push((answer.0, body.len(), headers.to_vec()));
        answer
    }

    fn judge(&self, method: &str, url: &str, headers: &[(String, String)], body: &[u8]) -> Answer {
        let violation = |what: String| {
            self.state.lock().unwrap().violations.push(what.clone());
            (400, Vec::new(), what)
        };
        if method != "POST" || url != "/loki/api/v1/push" {
            return violation(format!("{method} {url} is not the push API"));
        }
        if header(headers, "Content-Type") != Some("application/json") {
            return violation(format!(
                "content type {:?}",
                header(headers, "Content-Type")
            ));
        }
        if let Some(want) = &self.authorization {
            if header(headers, "Authorization") != Some(want.as_str()) {
                return (401, Vec::new(), "unauthorized".into());
            }
        }
        let seen = self.state.lock().unwrap().requests.len();
        if self.unavailable_from.is_some_and(|n| seen >= n) {
            return (
                503,
                Vec::new(),
                "too many unhealthy instances in the ring".into(),
            );
        }
        // Loki's rate limit answer.
        if self
            .throttle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
        {
            return (
                429,
                vec![("Retry-After", "0".into())],
                "Ingestion rate limit exceeded for user fake (limit: 4194304 bytes/sec) while \
                 attempting to ingest lines, reduce log volume or contact your Loki \
                 administrator to see if the limit can be increased"
                    .into(),
            );
        }
        let parsed = match parse_push(body) {
            Ok(parsed) => parsed,
            Err(e) => return violation(e),
        };
        let lines: usize = parsed.iter().map(|(_, v)| v.len()).sum();
        if body.len() > self.max_bytes && lines > 1 {
            return violation(format!(
                "{} bytes over max_bytes {}",
                body.len(),
                self.max_bytes
            ));
        }
        let mut refused = Vec::new();
        let mut state = self.state.lock().unwrap();
        for (labels, values) in parsed {
            if values.windows(2).any(|w| w[0].ns > w[1].ns) {
                state
                    .violations
                    .push(format!("values of {labels} not in time order"));
            }
            let total = values.len();
            let mut ignored = Vec::new();
            let kept = state.streams.entry(labels.clone()).or_default();
            for line in values {
                if line.ns < self.oldest_ns {
                    ignored.push(line.ns);
                } else if !kept.contains(&line) {
                    // Loki drops a line identical in stream, time and text to one it holds.
                    kept.push(line);
                }
            }
            if let Some(first) = ignored.first() {
                refused.push(format!(
                    "entry with timestamp {first} ignored, reason: 'entry too far behind, \
                     oldest acceptable timestamp is: {}', user 'fake', total ignored: {} out \
                     of {total} for stream: {labels}",
                    self.oldest_ns,
                    ignored.len()
                ));
            }
        }
        if refused.is_empty() {
            (204, Vec::new(), String::new())
        } else {
            (400, Vec::new(), refused.join("\n"))
        }
    }
}

/// Check a body against the documented push format; the streams' labels (as sorted JSON)
/// and lines.
fn parse_push(body: &[u8]) -> Result<Vec<(String, Vec<Line>)>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let top = value.as_object().ok_or("body is not an object")?;
    if top.keys().ne(["streams"].iter()) {
        return Err(format!(
            "top-level keys {:?}",
            top.keys().collect::<Vec<_>>()
        ));
    }
    let mut out = Vec::new();
    for stream in top["streams"].as_array().ok_or("streams is not an array")? {
        let stream = stream.as_object().ok_or("a stream is not an object")?;
        if stream.len() != 2 {
            return Err(format!(
                "stream keys {:?}",
                stream.keys().collect::<Vec<_>>()
            ));
        }
        let labels = stream
            .get("stream")
            .and_then(Value::as_object)
            .ok_or("stream.stream is not an object")?;
        let mut sorted = BTreeMap::new();
        for (k, v) in labels {
            sorted.insert(
                k.clone(),
                v.as_str().ok_or("a label value is not a string")?,
            );
        }
        let mut lines = Vec::new();
        for pair in stream
            .get("values")
            .and_then(Value::as_array)
            .ok_or("values is not an array")?
        {
            let [ts, text] = pair.as_array().map(Vec::as_slice).unwrap_or(&[]) else {
                return Err(format!("value {pair} is not a [timestamp, line] pair"));
            };
            let ts = ts.as_str().ok_or("the timestamp is not a string")?;
            if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("timestamp '{ts}' is not Unix nanoseconds"));
            }
            lines.push(Line {
                ns: ts.parse().map_err(|e| format!("{ts}: {e}"))?,
                text: text.as_str().ok_or("the line is not a string")?.to_string(),
            });
        }
        out.push((serde_json::to_string(&sorted).unwrap(), lines));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Events and backends.

const BASE_MICROS: i64 = 1_700_000_000_000_000;

fn event(seq: u64, micros: i64, kind: Kind, entity: (&str, &str)) -> Event {
    let time = Timestamp::from_unix_micros(micros);
    let mut metrics = BTreeMap::new();
    metrics.insert("wafers".to_string(), 25.0);
    Event {
        v: 1,
        id: wafermon::event::new_v7(time.unix_millis()),
        seq,
        time,
        site: "F1".into(),
        app: App {
            name: "etch-app".into(),
            version: Some("1.2".into()),
            instance: Some("host-1".into()),
        },
        entity: Entity::new(entity.0, entity.1),
        kind,
        status: kind.implied_status().unwrap_or(Status::Running),
        progress: None,
        level: (kind == Kind::Log).then_some(Level::Info),
        message: Some(format!("line {seq} \"quoted\" ü")),
        metrics,
        attrs: BTreeMap::new(),
    }
}

fn loki_backend(extra: Value) -> Box<dyn Backend> {
    let mut entry = json!({"type": "loki", "timeout": 2});
    entry
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let config = Config::from_value(json!({"direct_backends": [entry]})).expect("config");
    build(&config.direct_backends[0], &config.app).expect("backend builds")
}

fn client_with(dir: &std::path::Path, loki: Value) -> Client {
    let mut entry = json!({"type": "loki", "name": "loki", "timeout": 2, "retries": 1});
    entry
        .as_object_mut()
        .unwrap()
        .extend(loki.as_object().unwrap().clone());
    let config = common::config_in(
        dir,
        json!({
            "direct_backends": [
                {"type": "filesystem", "name": "files", "path": dir.join("data")},
                entry
            ],
            "retry": {"initial_backoff": 0.05, "max_backoff": 0.2}
        }),
    );
    Client::new(Config::from_value(config).expect("config")).expect("client")
}

fn loki_stats(client: &Client) -> wafermon::BackendStats {
    client
        .stats()
        .backends
        .into_iter()
        .find(|b| b.name == "loki")
        .expect("loki stats")
}

fn emit_job(client: &Client, name: &str, steps: usize) {
    let job = client.job(name).key(format!("LOT-{name}")).start().unwrap();
    for i in 0..steps {
        job.progress((i * 100 / steps.max(1)) as f64).unwrap();
        job.metric("wafers", i as f64).unwrap();
    }
    job.log(Level::Warning, "chamber pressure high").unwrap();
    job.finish().unwrap();
}

// ---------------------------------------------------------------------------------------
// Wire format tests (no real Loki server).

#[test]
fn wire_body_is_lokis_push_format_with_bounded_labels() {
    let loki = WireLoki::start(LokiRules {
        authorization: Some("Basic dTpw".into()), // base64("u:p")
        ..rules()
    });
    let mut backend = loki_backend(json!({
        "url": loki.url(), "labels": {"env": "test"}, "tenant": "fab-a",
        "username": "u", "password": "p"
    }));
    // Two streams, times out of order, 40 different job ids.
    let mut events = Vec::new();
    for i in 0..40u64 {
        let micros = BASE_MICROS + ((i * 7919) % 40) as i64;
        let kind = if i % 2 == 0 { Kind::Log } else { Kind::Metric };
        events.push(event(i + 1, micros, kind, ("job", &format!("job-{i}"))));
    }
    backend
        .send(&Batch::from_events(&events))
        .expect("delivered");

    {
        let state = loki.state();
        assert_eq!(state.requests.len(), 1);
        let headers = &state.requests[0].2;
        assert_eq!(header(headers, "X-Scope-OrgID"), Some("fab-a"));
    }
    let kept = loki.kept();
    assert_eq!(kept.len(), 40);
    let label_sets: BTreeSet<_> = kept.iter().map(|(l, _, _)| l.clone()).collect();
    assert_eq!(
        label_sets.len(),
        2,
        "one stream per (site, app, entity kind, kind)"
    );
    for labels in &label_sets {
        let names: Vec<&str> = labels.keys().map(String::as_str).collect();
        assert_eq!(names, ["app", "entity_kind", "env", "kind", "site"]);
        assert!(
            labels.values().all(|v| !v.starts_with("job-")),
            "no ids in labels"
        );
    }
    for (labels, line, got) in &kept {
        let sent = events.iter().find(|e| e.id == got.id).expect("sent event");
        assert_eq!(
            serde_json::to_value(got).unwrap(),
            serde_json::to_value(sent).unwrap()
        );
        assert_eq!(line.ns, i128::from(sent.time.unix_micros()) * 1000);
        assert_eq!(labels["kind"], sent.kind.as_str());
        assert_eq!(labels["site"], "F1");
        assert_eq!(labels["app"], "etch-app");
        assert_eq!(labels["entity_kind"], "job");
    }
}

#[test]
fn wire_bearer_token_and_wrong_credentials() {
    let loki = WireLoki::start(LokiRules {
        authorization: Some("Bearer s3cret".into()),
        ..rules()
    });
    let batch = Batch::from_events(&[event(1, BASE_MICROS, Kind::Log, ("job", "j"))]);
    loki_backend(json!({"url": loki.url(), "token": "s3cret"}))
        .send(&batch)
        .expect("delivered");
    let err = loki_backend(json!({"url": loki.url(), "token": "wrong"}))
        .send(&batch)
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Permanent {
            message: "HTTP 401 Unauthorized: unauthorized".into()
        }
    );
    assert_eq!(loki.kept().len(), 1);
}

#[test]
fn wire_requests_are_cut_at_max_bytes() {
    let loki = WireLoki::start(LokiRules {
        max_bytes: 2048,
        ..rules()
    });
    let mut backend = loki_backend(json!({"url": loki.url(), "max_bytes": 2048}));
    let events: Vec<Event> = (0..60)
        .map(|i| {
            let kind = [Kind::Log, Kind::Metric, Kind::Progress][i as usize % 3];
            event(
                i + 1,
                BASE_MICROS + i as i64,
                kind,
                ("wafer", &format!("w{i}")),
            )
        })
        .collect();
    backend
        .send(&Batch::from_events(&events))
        .expect("delivered");
    let state_requests = loki.state().requests.clone();
    assert!(
        state_requests.len() > 5,
        "{} requests",
        state_requests.len()
    );
    assert!(state_requests
        .iter()
        .all(|(s, len, _)| *s == 204 && *len <= 2048));
    let ids: BTreeSet<_> = loki.kept_events().iter().map(|e| e.id).collect();
    assert_eq!(ids, events.iter().map(|e| e.id).collect());
}

#[test]
fn wire_400_keeps_the_good_lines_and_rejects_the_refused_ones() {
    let oldest = BASE_MICROS + 1_000;
    let loki = WireLoki::start(LokiRules {
        oldest_ns: i128::from(oldest) * 1000,
        ..rules()
    });
    let mut backend = loki_backend(json!({"url": loki.url()}));
    // 12 events over two streams; positions 2, 5 and 9 are too old for the receiver.
    let old = [2usize, 5, 9];
    let events: Vec<Event> = (0..12usize)
        .map(|i| {
            let micros = if old.contains(&i) {
                BASE_MICROS + i as i64
            } else {
                oldest + i as i64
            };
            let kind = if i % 2 == 0 {
                Kind::Log
            } else {
                Kind::Heartbeat
            };
            event(i as u64 + 1, micros, kind, ("tool", "ETCH-01"))
        })
        .collect();
    let err = backend.send(&Batch::from_events(&events)).unwrap_err();
    let DeliveryError::Partial {
        mut rejected,
        retry,
        message,
        ..
    } = err
    else {
        panic!("expected a partial result, got {err:?}");
    };
    rejected.sort_unstable();
    assert_eq!(rejected, old);
    assert!(retry.is_empty());
    assert!(
        message.contains("HTTP 400 Bad Request: entry with timestamp"),
        "{message}"
    );
    assert!(message.contains("entry too far behind"), "{message}");
    let kept: Vec<u64> = loki.kept_events().iter().map(|e| e.seq).collect();
    assert_eq!(
        kept,
        [1, 2, 4, 5, 7, 8, 9, 11, 12],
        "each good line kept once"
    );
}

#[test]
fn wire_a_stream_loki_refuses_whole_is_not_split_further() {
    let loki = WireLoki::start(LokiRules {
        oldest_ns: i128::from(BASE_MICROS + 1_000_000) * 1000,
        ..rules()
    });
    let mut backend = loki_backend(json!({"url": loki.url()}));
    let events: Vec<Event> = (0..20)
        .map(|i| event(i + 1, BASE_MICROS + i as i64, Kind::Log, ("job", "j")))
        .collect();
    let err = backend.send(&Batch::from_events(&events)).unwrap_err();
    let DeliveryError::Permanent { message } = err else {
        panic!("expected permanent, got {err:?}");
    };
    assert!(message.contains("total ignored: 20 out of 20"), "{message}");
    assert_eq!(
        loki.state().requests.len(),
        1,
        "Loki said every line was refused"
    );
    assert!(loki.kept().is_empty());
}

#[test]
fn wire_client_counts_refused_lines_as_failed_and_the_rest_as_sent() {
    let now = Timestamp::now().unix_micros();
    let cutoff = now - 3_600_000_000; // an hour ago
    let loki = WireLoki::start(LokiRules {
        oldest_ns: i128::from(cutoff) * 1000,
        ..rules()
    });
    let dir = tempfile::tempdir().unwrap();
    let client = client_with(dir.path(), json!({"url": loki.url()}));
    for i in 0..10 {
        let mut e = NewEvent::new(Kind::Log, "tool", "ETCH-01");
        e.message = Some(format!("reading {i}"));
        if i % 4 == 0 {
            // A replayed reading from two hours ago: Loki refuses it.
            e.time = Some(Timestamp::from_unix_micros(now - 7_200_000_000 + i));
        }
        client.emit(&e).unwrap();
    }
    client.flush(Duration::from_secs(10)).expect("settled");
    let stats = loki_stats(&client);
    assert_eq!((stats.sent, stats.failed), (7, 3), "{stats:?}");
    let error = stats.last_error.expect("last error");
    assert!(error.contains("entry too far behind"), "{error}");
    assert_eq!(loki.kept_events().len(), 7);
}

#[test]
fn wire_429_is_retried_with_retry_after_then_delivered_once() {
    let loki = WireLoki::start(LokiRules {
        throttle: AtomicUsize::new(1),
        ..rules()
    });
    let batch = Batch::from_events(&[event(1, BASE_MICROS, Kind::Log, ("job", "j"))]);
    let err = loki_backend(json!({"url": loki.url()}))
        .send(&batch)
        .unwrap_err();
    let DeliveryError::Transient {
        message,
        retry_after,
    } = err
    else {
        panic!("expected transient, got {err:?}");
    };
    assert!(message.starts_with("HTTP 429 Too Many Requests: Ingestion rate limit exceeded"));
    assert_eq!(retry_after, Some(Duration::ZERO));

    // Through the client: three 429s, then everything arrives, once.
    loki.rules.throttle.store(3, Ordering::Release);
    let dir = tempfile::tempdir().unwrap();
    let client = client_with(dir.path(), json!({"url": loki.url()}));
    emit_job(&client, "etch", 5);
    client.flush(Duration::from_secs(20)).expect("delivered");
    let stats = loki_stats(&client);
    assert_eq!((stats.sent, stats.failed), (13, 0), "{stats:?}");
    assert!(stats.retried > 0);
    let sent = read_events(&dir.path().join("data"));
    let kept = loki.kept_events();
    assert_eq!(kept.len(), sent.len());
    for (got, want) in kept.iter().zip(&sent) {
        assert!(same_json(&serde_json::to_value(got).unwrap(), want));
    }
}

#[test]
fn wire_down_mid_batch_retries_only_what_was_not_taken() {
    let loki = WireLoki::start(LokiRules {
        max_bytes: 2048,
        unavailable_from: Some(2),
        ..rules()
    });
    let mut backend = loki_backend(json!({"url": loki.url(), "max_bytes": 2048}));
    let events: Vec<Event> = (0..30)
        .map(|i| event(i + 1, BASE_MICROS + i as i64, Kind::Log, ("job", "j")))
        .collect();
    let err = backend.send(&Batch::from_events(&events)).unwrap_err();
    let DeliveryError::Partial {
        rejected,
        mut retry,
        message,
        ..
    } = err
    else {
        panic!("expected partial, got {err:?}");
    };
    assert!(rejected.is_empty());
    assert!(
        message.starts_with("HTTP 503 Service Unavailable"),
        "{message}"
    );
    let kept: BTreeSet<u64> = loki.kept_events().iter().map(|e| e.seq).collect();
    assert!(!kept.is_empty());
    retry.sort_unstable();
    let rest: Vec<usize> = (0..30)
        .filter(|i| !kept.contains(&(*i as u64 + 1)))
        .collect();
    assert_eq!(retry, rest, "exactly the lines not taken go back in line");
    // Nothing was sent after the first 503.
    assert_eq!(loki.state().requests.len(), 3);
}

#[test]
fn wire_outage_loses_nothing() {
    let loki = WireLoki::start(rules());
    let (port, shared) = (loki.port, loki.rules.clone());
    let dir = tempfile::tempdir().unwrap();
    let client = client_with(dir.path(), json!({"url": loki.url()}));
    emit_job(&client, "before", 2);
    client.flush(Duration::from_secs(10)).expect("delivered");
    drop(loki); // down: connections are refused
    emit_job(&client, "during", 2);
    assert!(client.flush(Duration::from_millis(500)).is_err());
    let loki = WireLoki::serve(port, shared); // up again, same data
    client
        .flush(Duration::from_secs(20))
        .expect("delivered after the outage");
    let stats = loki_stats(&client);
    assert_eq!(
        (stats.sent, stats.failed, stats.dropped),
        (14, 0, 0),
        "{stats:?}"
    );
    assert!(stats.retried > 0, "{stats:?}");
    let kept: Vec<String> = loki
        .kept_events()
        .iter()
        .map(|e| e.id.to_string())
        .collect();
    let sent: Vec<String> = read_events(&dir.path().join("data"))
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kept, sent);
}

#[test]
fn config_errors_name_the_field() {
    let cases = [
        (
            json!({"url": "http://x", "labels": {"kind": "k"}}),
            "labels.kind",
        ),
        (
            json!({"url": "http://x", "labels": {"bad-name": "v"}}),
            "labels.bad-name",
        ),
        (json!({"url": "http://x", "endpoint": "push"}), "endpoint"),
        (json!({"url": "ftp://x"}), "url"),
        (json!({"url": "http://x", "username": "u"}), "password"),
        (json!({"url": "http://x", "max_bytes": 10}), "max_bytes"),
        (json!({"url": "http://x", "lables": {}}), "lables"),
    ];
    for (loki, field) in cases {
        let mut entry = json!({"type": "loki"});
        entry
            .as_object_mut()
            .unwrap()
            .extend(loki.as_object().unwrap().clone());
        let err = Config::from_value(json!({"direct_backends": [entry]})).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("direct_backends[0].{field}")),
            "{field}: {text}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Against a real server: VictoriaLogs' Loki-compatible push API (not Loki itself).

const VL_PUSH: &str = "/insert/loki/api/v1/push?disable_message_parsing=1";

/// Lines of `site` stored by VictoriaLogs at `url`, read with LogsQL, once `want` are there
/// (or after a while: the caller's assertions then say what is missing).
fn victorialogs_lines(url: &str, auth: Option<&str>, site: &str, want: usize) -> Vec<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder().proxy(None).build().into();
    let query = format!("{{site=\"{site}\"}} | sort by (_time)");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut request = agent.post(format!("{url}/select/logsql/query"));
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        let text = request
            .send_form([("query", query.as_str())])
            .expect("LogsQL query")
            .body_mut()
            .read_to_string()
            .expect("LogsQL answer");
        let lines: Vec<Value> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        if lines.len() >= want || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn unique_site(tag: &str) -> String {
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        Timestamp::now().unix_micros()
    )
}

fn victorialogs_client(dir: &std::path::Path, url: &str, site: &str, extra: Value) -> Client {
    let mut loki = json!({"url": url, "endpoint": VL_PUSH, "labels": {"env": "test"}});
    loki.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let mut config = common::config_in(
        dir,
        json!({
            "direct_backends": [
                {"type": "filesystem", "name": "files", "path": dir.join("data")},
                {"type": "loki", "name": "loki", "timeout": 2, "retries": 1}
            ],
            "retry": {"initial_backoff": 0.05, "max_backoff": 0.2}
        }),
    );
    config["app"]["site_id"] = json!(site);
    config["direct_backends"][1]
        .as_object_mut()
        .unwrap()
        .extend(loki.as_object().unwrap().clone());
    Client::new(Config::from_value(config).expect("config")).expect("client")
}

/// The events VictoriaLogs holds (each line's `_msg`), by id, checking each line's stream.
fn events_by_id(lines: &[Value]) -> HashMap<String, Vec<Value>> {
    let mut by_id: HashMap<String, Vec<Value>> = HashMap::new();
    for line in lines {
        let event: Value = serde_json::from_str(line["_msg"].as_str().unwrap()).expect("_msg");
        let stream = line["_stream"].as_str().unwrap();
        let want = format!(
            "{{app=\"{}\",entity_kind=\"{}\",env=\"test\",kind=\"{}\",site=\"{}\"}}",
            event["app"]["name"].as_str().unwrap(),
            event["entity"]["kind"].as_str().unwrap(),
            event["kind"].as_str().unwrap(),
            event["site"].as_str().unwrap()
        );
        assert_eq!(stream, want, "labels: the bounded set only");
        let id = event["id"].as_str().unwrap().to_string();
        by_id.entry(id).or_default().push(event);
    }
    by_id
}

#[test]
fn victorialogs_round_trip_returns_the_same_events() {
    let url = server("victorialogs");
    let dir = tempfile::tempdir().unwrap();
    let site = unique_site("rt");
    let client = victorialogs_client(dir.path(), &url, &site, json!({}));
    emit_job(&client, "etch", 3);
    {
        let job = client.job("litho").start().unwrap();
        let sub = job.subjob("expose").start().unwrap();
        sub.metric("dose", 32.5).unwrap();
        sub.finish().unwrap();
        job.fail("lamp failure").unwrap();
    }
    client.flush(Duration::from_secs(10)).expect("delivered");
    let sent = read_events(&dir.path().join("data"));
    let lines = victorialogs_lines(&url, None, &site, sent.len());
    let by_id = events_by_id(&lines);
    assert_eq!(by_id.len(), sent.len());
    for want in &sent {
        let got = &by_id[want["id"].as_str().unwrap()];
        assert_eq!(got.len(), 1, "once");
        assert!(same_json(&got[0], want), "{:#}\n{:#}", got[0], want);
    }
    // Nanosecond times: VictoriaLogs files each line at its event's own time.
    for line in &lines {
        let event: Value = serde_json::from_str(line["_msg"].as_str().unwrap()).unwrap();
        let stored = Timestamp::parse(line["_time"].as_str().unwrap()).unwrap();
        assert_eq!(
            Some(stored),
            Timestamp::parse(event["time"].as_str().unwrap()).ok()
        );
    }
    let stats = loki_stats(&client);
    assert_eq!((stats.sent, stats.failed), (sent.len() as u64, 0));
}

#[test]
fn victorialogs_outage_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let vl = PrivateServer::start("victorialogs", &dir.path().join("vl"));
    let site = unique_site("outage");
    let client = victorialogs_client(dir.path(), &vl.address, &site, json!({}));
    emit_job(&client, "before", 2);
    client.flush(Duration::from_secs(10)).expect("delivered");
    vl.stop();
    emit_job(&client, "during", 2);
    assert!(client.flush(Duration::from_millis(500)).is_err());
    vl.restart();
    emit_job(&client, "after", 2);
    client
        .flush(Duration::from_secs(20))
        .expect("delivered after the outage");
    let sent = read_events(&dir.path().join("data"));
    assert_eq!(sent.len(), 21);
    let by_id = events_by_id(&victorialogs_lines(&vl.address, None, &site, sent.len()));
    assert_eq!(by_id.len(), sent.len(), "nothing lost");
    assert!(by_id.values().all(|v| v.len() == 1), "nothing doubled");
    let stats = loki_stats(&client);
    assert_eq!(
        (stats.sent, stats.failed, stats.dropped),
        (21, 0, 0),
        "{stats:?}"
    );
}

#[test]
fn victorialogs_basic_auth_and_bad_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::servers::free_port().to_string();
    let data = dir.path().join("vl").to_string_lossy().to_string();
    let url = server_script("victorialogs", &["start", &port, &data, "fab:right"]);
    struct Stop(String);
    impl Drop for Stop {
        fn drop(&mut self) {
            server_script("victorialogs", &["stop", &self.0]);
        }
    }
    let _stop = Stop(port.clone());

    let site = unique_site("auth");
    let good = victorialogs_client(
        &dir.path().join("good"),
        &url,
        &site,
        json!({"username": "fab", "password": "right"}),
    );
    emit_job(&good, "etch", 1);
    good.flush(Duration::from_secs(10)).expect("delivered");
    assert_eq!(loki_stats(&good).failed, 0);
    let auth = "Basic ZmFiOnJpZ2h0"; // base64("fab:right")
    assert_eq!(victorialogs_lines(&url, Some(auth), &site, 5).len(), 5);

    let bad = victorialogs_client(
        &dir.path().join("bad"),
        &url,
        &site,
        json!({"username": "fab", "password": "wrong"}),
    );
    emit_job(&bad, "etch", 1);
    bad.flush(Duration::from_secs(10))
        .expect("a permanent error settles the batch, no endless retry");
    let stats = loki_stats(&bad);
    assert_eq!((stats.sent, stats.failed), (0, 5), "{stats:?}");
    assert_eq!(stats.last_error.as_deref(), Some("HTTP 401 Unauthorized"));
}
