//! The `elasticsearch` backend (spelled `elk` here, its alias) against a real
//! OpenSearch-compatible server (osmem-server, started by scripts/servers/osmem.sh) on
//! 127.0.0.1.
//!
//! osmem has no security layer: the auth tests put a small forwarding proxy in front of it
//! that records what arrives and, like a cluster's security layer, refuses requests without
//! the expected `Authorization` header (with an Elasticsearch-shaped 401 body).
#![cfg(feature = "elasticsearch")]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use wafermon::backends::build;
use wafermon::event::{parse_event_value, App, Entity};
use wafermon::{BackendStats, Batch, Client, Config, Event, Kind, Level, Status, Timestamp};

use common::servers::{server, PrivateServer};
use common::{read_events, same_json};

// ---------------------------------------------------------------------------------------
// Talking to the server directly, to check what the backend stored.

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn call(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let agent = agent();
    let mut response = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("PUT", Some(b)) => agent
            .put(url)
            .content_type("application/json")
            .send(b.to_string()),
        ("POST", Some(b)) => agent
            .post(url)
            .content_type("application/json")
            .send(b.to_string()),
        ("POST", None) => agent.post(url).send_empty(),
        other => panic!("no such call {other:?}"),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A name no other test (or earlier run against the same server) uses.
fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("wm-test-{name}-{nanos}")
}

/// Every document of the indices matching `pattern`, by `_id`, with the index it is in.
fn stored(url: &str, pattern: &str) -> BTreeMap<String, (String, Value)> {
    let (status, _) = call("POST", &format!("{url}/{pattern}/_refresh"), None);
    assert_eq!(status, 200, "refresh {pattern}");
    let (status, answer) = call(
        "POST",
        &format!("{url}/{pattern}/_search"),
        Some(json!({"size": 10000, "query": {"match_all": {}}, "track_total_hits": true})),
    );
    assert_eq!(status, 200, "{answer}");
    let hits = answer["hits"]["hits"].as_array().expect("hits").clone();
    assert_eq!(
        answer["hits"]["total"]["value"].as_u64(),
        Some(hits.len() as u64),
        "every hit in one page"
    );
    let mut docs = BTreeMap::new();
    for hit in hits {
        let id = hit["_id"].as_str().unwrap().to_string();
        let index = hit["_index"].as_str().unwrap().to_string();
        let previous = docs.insert(id.clone(), (index, hit["_source"].clone()));
        assert!(previous.is_none(), "document {id} stored twice");
    }
    docs
}

fn count(url: &str, pattern: &str) -> u64 {
    stored(url, pattern).len() as u64
}

// ---------------------------------------------------------------------------------------
// Clients.

fn elk(url: &str, index: &str, extra: Value) -> Value {
    let mut backend = json!({"type": "elk", "url": url, "index": index, "timeout": 5});
    if let (Value::Object(b), Value::Object(e)) = (&mut backend, extra) {
        b.extend(e);
    }
    backend
}

/// A client writing to `backends`, its spool under `dir`.
fn client(dir: &Path, backends: Vec<Value>) -> Client {
    let config = json!({
        "app": {"name": "etch-app", "version": "2.1", "site_id": "fab1", "instance_id": "i-7"},
        "direct_backends": backends,
        "spool": {"path": dir.join("spool")},
        "batch": {"flush_interval": 0.05},
        "retry": {"initial_backoff": 0.05, "max_backoff": 0.3}
    });
    Client::new(Config::from_json_str(&config.to_string()).expect("valid config"))
        .expect("client starts")
}

fn elk_stats(client: &Client) -> BackendStats {
    client
        .stats()
        .backends
        .into_iter()
        .find(|b| b.kind == "elasticsearch")
        .expect("an elasticsearch backend")
}

/// A realistic job: started, progress with a message, metrics, a log line, a failed subjob,
/// finished with resource metrics.
fn run_job(client: &Client, lot: &str) {
    let job = client
        .job("etch")
        .key(lot)
        .attr("chamber", "B")
        .attr("wafers", 25i64)
        .start()
        .unwrap();
    job.progress_with(40.0, "etching layer 2").unwrap();
    job.metric("temperature_c", 61.25).unwrap();
    job.log(Level::Warning, "pressure drift 0.3%").unwrap();
    let sub = job.subjob("measure").start().unwrap();
    sub.fail("probe timeout").unwrap();
    job.finish().unwrap();
}

fn day_index(prefix: &str, time: &str) -> String {
    let t = Timestamp::parse(time).unwrap();
    let (y, m, d) = t.date();
    format!("{prefix}-{y:04}.{m:02}.{d:02}")
}

// ---------------------------------------------------------------------------------------

#[test]
fn events_come_back_from_search_as_written() {
    let url = server("osmem");
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("rt");
    let client = client(
        dir.path(),
        vec![
            json!({"type": "filesystem", "path": dir.path().join("data")}),
            elk(&url, &format!("{prefix}-%Y.%m.%d"), json!({})),
        ],
    );
    run_job(&client, "LOT-1");
    run_job(&client, "LOT-2");
    client.flush(Duration::from_secs(20)).expect("flushed");

    // The filesystem backend got the same events: the reference for what was sent.
    let written = read_events(&dir.path().join("data"));
    assert_eq!(written.len(), 14);
    let docs = stored(&url, &format!("{prefix}-*"));
    assert_eq!(docs.len(), written.len());
    for event in &written {
        let id = event["id"].as_str().unwrap();
        let (index, source) = docs.get(id).unwrap_or_else(|| panic!("{id} not stored"));
        assert!(same_json(source, event), "{source} != {event}");
        assert_eq!(index, &day_index(&prefix, event["time"].as_str().unwrap()));
    }
    let kinds: Vec<&str> = written
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        &kinds[..6],
        ["started", "progress", "metric", "log", "started", "failed"]
    );
    let stats = elk_stats(&client);
    assert_eq!((stats.sent, stats.failed), (14, 0), "{stats:?}");
    assert_eq!(stats.last_error, None);
}

#[test]
fn the_index_template_is_installed_before_the_first_document() {
    let url = server("osmem");
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("tpl");
    let client = client(
        dir.path(),
        vec![elk(
            &url,
            &format!("{prefix}-%Y.%m.%d"),
            json!({"install_template": true}),
        )],
    );
    run_job(&client, "LOT-T");
    client.flush(Duration::from_secs(20)).expect("flushed");
    let stats = elk_stats(&client);
    assert_eq!((stats.sent, stats.failed), (7, 0), "{stats:?}");
    assert_eq!(stats.last_error, None);

    let (status, template) = call("GET", &format!("{url}/_index_template/{prefix}"), None);
    assert_eq!(status, 200, "{template}");
    assert_eq!(
        template["index_templates"][0]["index_template"]["index_patterns"],
        json!([format!("{prefix}-*.*.*")])
    );
    let (_, mapping) = call("GET", &format!("{url}/{prefix}-*/_mapping"), None);
    let (_, index) = mapping.as_object().unwrap().iter().next().unwrap();
    let props = &index["mappings"]["properties"];
    assert_eq!(props["time"]["type"], "date_nanos", "{mapping}");
    assert_eq!(props["site"]["type"], "keyword");
    assert_eq!(props["entity"]["properties"]["id"]["type"], "keyword");
    assert_eq!(
        props["metrics"]["properties"]["temperature_c"]["type"],
        "double"
    );
    assert_eq!(props["attrs"]["properties"]["chamber"]["type"], "keyword");
    assert_eq!(count(&url, &format!("{prefix}-*")), 7);
}

/// Complete events with fixed ids and times (as a sidecar forwards them).
fn fixed_events(n: usize, lot: Value) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "v": 1,
                "id": uuid::Uuid::now_v7().to_string(),
                "seq": i,
                "time": format!("2026-03-01T10:00:{:02}.{:06}Z", i % 60, 100 + i),
                "site": "fab1",
                "app": {"name": "etch-app"},
                "entity": {"kind": "wafer", "id": format!("W-{i}")},
                "kind": "metric",
                "status": "running",
                "metrics": {"thickness_nm": 100.5 + i as f64},
                "attrs": {"lot": lot.clone()}
            })
        })
        .collect()
}

fn ingest(client: &Client, events: &[Value]) {
    let parsed: Vec<_> = events
        .iter()
        .map(|e| parse_event_value(e).expect("valid event"))
        .collect();
    client.ingest(&parsed).expect("ingested");
}

#[test]
fn the_same_events_sent_twice_make_one_document_each() {
    let url = server("osmem");
    let dir = tempfile::tempdir().unwrap();
    let index = unique("dup");
    let client = client(dir.path(), vec![elk(&url, &index, json!({}))]);
    let events = fixed_events(20, json!("L1"));
    ingest(&client, &events);
    client.flush(Duration::from_secs(20)).expect("flushed");
    // A replay (a retried batch, a re-sent spool): every `create` answers 409.
    ingest(&client, &events);
    ingest(&client, &events[5..10]);
    client.flush(Duration::from_secs(20)).expect("flushed");

    let stats = elk_stats(&client);
    assert_eq!((stats.sent, stats.failed), (45, 0), "{stats:?}");
    assert_eq!(stats.last_error, None);
    let docs = stored(&url, &index);
    assert_eq!(docs.len(), 20);
    // The first copy stays. The client numbers `seq` itself, so compare the rest.
    for event in &events {
        let (_, source) = &docs[event["id"].as_str().unwrap()];
        let (mut source, mut event) = (source.clone(), event.clone());
        source.as_object_mut().unwrap().remove("seq");
        event.as_object_mut().unwrap().remove("seq");
        assert!(same_json(&source, &event), "{source} != {event}");
    }
}

#[test]
fn refused_documents_are_counted_with_the_servers_reason_and_the_rest_stored() {
    let url = server("osmem");
    let dir = tempfile::tempdir().unwrap();
    let index = unique("reject");
    // The plant's own mapping says a lot is a number.
    let (status, answer) = call(
        "PUT",
        &format!("{url}/{index}"),
        Some(json!({"mappings": {"properties": {"attrs": {"properties": {
            "lot": {"type": "long"}}}}}})),
    );
    assert_eq!(status, 200, "{answer}");
    let client = client(dir.path(), vec![elk(&url, &index, json!({}))]);
    let good = fixed_events(6, json!(4711));
    let bad = fixed_events(3, json!("LOT-A"));
    let mixed: Vec<Value> = vec![
        good[0].clone(),
        bad[0].clone(),
        good[1].clone(),
        good[2].clone(),
        bad[1].clone(),
        good[3].clone(),
        bad[2].clone(),
        good[4].clone(),
        good[5].clone(),
    ];
    ingest(&client, &mixed);
    client.flush(Duration::from_secs(20)).expect("flushed");

    let stats = elk_stats(&client);
    assert_eq!((stats.sent, stats.failed), (6, 3), "{stats:?}");
    // Not retried: a refused mapping stays refused.
    assert_eq!(stats.retried, 0, "{stats:?}");
    let error = stats.last_error.expect("the reason is kept");
    assert!(error.contains("3 of 9 events rejected"), "{error}");
    assert!(error.contains("mapper_parsing_exception"), "{error}");
    assert!(error.contains("attrs.lot"), "{error}");
    assert!(error.contains(bad[0]["id"].as_str().unwrap()), "{error}");
    let docs = stored(&url, &index);
    let mut ids: Vec<&str> = docs.keys().map(String::as_str).collect();
    let mut want: Vec<&str> = good.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    want.sort_unstable();
    assert_eq!(ids, want);
}

// ---------------------------------------------------------------------------------------
// A recording, auth-checking proxy in front of osmem.

#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: Option<String>,
    content_type: Option<String>,
    body_len: usize,
    status: u16,
}

struct Proxy {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Forward to `upstream`; with `require`, answer 401 to any other Authorization.
    fn start(upstream: &str, require: Option<&str>) -> Proxy {
        let listener = tiny_http::Server::http("127.0.0.1:0").expect("bind proxy");
        let port = listener.server_addr().to_ip().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let upstream = upstream.to_string();
        let require = require.map(str::to_string);
        let thread = std::thread::spawn(move || {
            let agent = agent();
            while !stop2.load(Ordering::Acquire) {
                let mut request = match listener.recv_timeout(Duration::from_millis(50)) {
                    Ok(Some(r)) => r,
                    Ok(None) => continue,
                    Err(_) => break,
                };
                let header = |name: &'static str| {
                    request
                        .headers()
                        .iter()
                        .find(|h| h.field.equiv(name))
                        .map(|h| h.value.to_string())
                };
                let authorization = header("Authorization");
                let content_type = header("Content-Type");
                let mut body = Vec::new();
                request.as_reader().read_to_end(&mut body).unwrap();
                let path = request.url().to_string();
                let (status, answer) = if require.is_some() && authorization != require {
                    let refusal = json!({"error": {"type": "security_exception",
                        "reason": "unable to authenticate user [wafermon] for REST request [/_bulk]"},
                        "status": 401});
                    (401, refusal.to_string().into_bytes())
                } else {
                    let target = format!("{upstream}{path}");
                    let ct = content_type.clone().unwrap_or("application/json".into());
                    let mut response = match request.method() {
                        tiny_http::Method::Get => agent.get(&target).call(),
                        tiny_http::Method::Put => {
                            agent.put(&target).content_type(&ct).send(&body[..])
                        }
                        _ => agent.post(&target).content_type(&ct).send(&body[..]),
                    }
                    .expect("osmem answers");
                    let status = response.status().as_u16();
                    (status, response.body_mut().read_to_vec().unwrap())
                };
                seen2.lock().unwrap().push(Seen {
                    path,
                    authorization,
                    content_type,
                    body_len: body.len(),
                    status,
                });
                let _ = request.respond(
                    tiny_http::Response::from_data(answer)
                        .with_status_code(status)
                        .with_header(
                            tiny_http::Header::from_bytes(
                                &b"Content-Type"[..],
                                &b"application/json"[..],
                            )
                            .unwrap(),
                        ),
                );
            }
        });
        Proxy {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn batches_are_cut_into_requests_under_max_bytes() {
    let url = server("osmem");
    let proxy = Proxy::start(&url, None);
    let dir = tempfile::tempdir().unwrap();
    let index = unique("split");
    let client = client(
        dir.path(),
        vec![elk(&proxy.url(), &index, json!({"max_bytes": 1024}))],
    );
    let events = fixed_events(60, json!("L2"));
    ingest(&client, &events);
    client.flush(Duration::from_secs(30)).expect("flushed");

    let stats = elk_stats(&client);
    assert_eq!((stats.sent, stats.failed), (60, 0), "{stats:?}");
    let bulks: Vec<Seen> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.path.starts_with("/_bulk"))
        .collect();
    // About 420 bytes per event: two per request.
    assert!(bulks.len() >= 30, "{} requests", bulks.len());
    for s in &bulks {
        assert!(s.body_len <= 1024, "{s:?}");
        assert_eq!(s.authorization, None, "no credentials configured");
        assert_eq!(s.content_type.as_deref(), Some("application/x-ndjson"));
        assert_eq!(s.status, 200);
    }
    assert_eq!(count(&url, &index), 60);
}

#[test]
fn api_key_and_basic_credentials_are_sent_and_bad_ones_fail_with_the_servers_reason() {
    let url = server("osmem");
    let dir = tempfile::tempdir().unwrap();

    let key_proxy = Proxy::start(
        &url,
        Some("ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="),
    );
    let key_index = unique("apikey");
    let with_key = client(
        &dir.path().join("key"),
        vec![elk(
            &key_proxy.url(),
            &key_index,
            json!({"api_key": "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==",
                   "install_template": true}),
        )],
    );
    ingest(&with_key, &fixed_events(4, json!("K")));
    with_key.flush(Duration::from_secs(20)).expect("flushed");
    let stats = elk_stats(&with_key);
    assert_eq!((stats.sent, stats.failed), (4, 0), "{stats:?}");
    let seen = key_proxy.seen();
    // The template PUT and the bulk POST both carried the key.
    assert!(seen.iter().any(|s| s.path.starts_with("/_index_template/")));
    assert!(seen.iter().all(|s| s.status == 200), "{seen:?}");
    assert!(
        seen.iter().all(|s| s
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("ApiKey "))),
        "{seen:?}"
    );
    assert_eq!(count(&url, &key_index), 4);

    let basic_proxy = Proxy::start(&url, Some("Basic d2FmZXJtb246czNjcmV0"));
    let basic_index = unique("basic");
    let with_basic = client(
        &dir.path().join("basic"),
        vec![elk(
            &basic_proxy.url(),
            &basic_index,
            json!({"username": "wafermon", "password": "s3cret"}),
        )],
    );
    ingest(&with_basic, &fixed_events(3, json!("B")));
    with_basic.flush(Duration::from_secs(20)).expect("flushed");
    assert_eq!(elk_stats(&with_basic).sent, 3);
    assert_eq!(count(&url, &basic_index), 3);

    let wrong_index = unique("wrong");
    let wrong = client(
        &dir.path().join("wrong"),
        vec![elk(
            &basic_proxy.url(),
            &wrong_index,
            json!({"username": "wafermon", "password": "guess"}),
        )],
    );
    ingest(&wrong, &fixed_events(5, json!("W")));
    wrong.flush(Duration::from_secs(20)).expect("settled");
    let stats = elk_stats(&wrong);
    assert_eq!(
        (stats.sent, stats.failed, stats.retried),
        (0, 5, 0),
        "{stats:?}"
    );
    let error = stats.last_error.unwrap();
    assert!(
        error.contains("HTTP 401: security_exception: unable to authenticate user"),
        "{error}"
    );
}

#[test]
fn an_outage_loses_nothing_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let es = PrivateServer::start("osmem", &dir.path().join("es"));
    let index = unique("outage");
    let client = client(
        dir.path(),
        vec![elk(&es.address, &index, json!({"retries": 0}))],
    );
    let before = fixed_events(10, json!("O1"));
    ingest(&client, &before);
    client.flush(Duration::from_secs(20)).expect("flushed");
    assert_eq!(count(&es.address, &index), 10);

    es.stop();
    let during = fixed_events(15, json!("O2"));
    ingest(&client, &during[..8]);
    // Wait until the backend has seen the outage (no timing: poll its stats).
    for _ in 0..400 {
        if elk_stats(&client).retried > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(elk_stats(&client).retried > 0);
    ingest(&client, &during[8..]);
    es.restart();
    client
        .flush(Duration::from_secs(30))
        .expect("flushed after restart");

    let stats = elk_stats(&client);
    assert_eq!((stats.sent, stats.failed), (25, 0), "{stats:?}");
    // osmem keeps documents in memory only: the restarted instance starts empty, so exactly
    // the events of the outage must be there, each once (`stored` checks for doubles).
    let docs = stored(&es.address, &index);
    let mut ids: Vec<&str> = docs.keys().map(String::as_str).collect();
    let mut want: Vec<&str> = during.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    want.sort_unstable();
    assert_eq!(ids, want);
}

#[test]
fn a_request_over_the_servers_body_limit_is_halved_until_it_fits() {
    // osmem, like Elasticsearch, refuses bodies over 100 MB with 413 and closes the
    // connection, often before the client has finished sending (then the client sees a
    // broken pipe, not the 413). With max_bytes above the limit, the first request is refused
    // either way and the backend halves until the server takes it.
    // A private instance, stopped at the end: osmem keeps what it stores in memory, and
    // this is more than a hundred megabytes.
    let dir = tempfile::tempdir().unwrap();
    let es = PrivateServer::start("osmem", dir.path());
    let url = es.address.clone();
    let index = unique("huge");
    let config = Config::from_json_str(
        &json!({"app": {"name": "big"},
                "direct_backends": [elk(&url, &index, json!({"max_bytes": 400_000_000u64,
                                                              "timeout": 120}))]})
        .to_string(),
    )
    .unwrap();
    let mut backend = build(&config.direct_backends[0], &config.app).unwrap();
    let message = "x".repeat(60_000);
    let events: Vec<Event> = (0..1900)
        .map(|i| Event {
            v: 1,
            id: uuid::Uuid::now_v7(),
            seq: i,
            time: Timestamp::parse("2026-03-01T10:00:00Z").unwrap(),
            site: "fab1".into(),
            app: App {
                name: "big".into(),
                version: None,
                instance: None,
            },
            entity: Entity::new("job", format!("J-{i}")),
            kind: Kind::Log,
            status: Status::Running,
            progress: None,
            level: Some(Level::Info),
            message: Some(message.clone()),
            metrics: Default::default(),
            attrs: Default::default(),
        })
        .collect();
    let batch = Batch::from_events(&events);
    assert!(batch.size() > 110_000_000);
    if let Err(e) = backend.send(&batch) {
        panic!("not delivered: {e}");
    }
    drop(batch);
    let (_, answer) = call("POST", &format!("{url}/{index}/_refresh"), None);
    let (_, counted) = call("GET", &format!("{url}/{index}/_count"), None);
    assert_eq!(counted["count"], 1900, "{counted} {answer}");
}

#[test]
fn config_errors_name_the_key() {
    let bad = |backend: Value| {
        let config = json!({"app": {"name": "a"}, "direct_backends": [backend]});
        match Config::from_json_str(&config.to_string()) {
            Ok(config) => Client::new(config).err().map(|e| e.to_string()),
            Err(e) => Some(e.to_string()),
        }
        .expect("refused")
    };
    let cases: [(Value, &str); 7] = [
        (json!({"type": "elk"}), "url"),
        (
            json!({"type": "elk", "url": "ftp://x"}),
            "direct_backends[0].url",
        ),
        (
            json!({"type": "elasticsearch", "url": "http://127.0.0.1:9", "index": "Events"}),
            "direct_backends[0].index",
        ),
        (
            json!({"type": "elk", "url": "http://127.0.0.1:9", "api_key": "k", "username": "u", "password": "p"}),
            "direct_backends[0].api_key",
        ),
        (
            json!({"type": "elk", "url": "http://127.0.0.1:9", "username": "u"}),
            "direct_backends[0].password",
        ),
        (
            json!({"type": "elk", "url": "http://127.0.0.1:9", "max_bytes": 10}),
            "direct_backends[0].max_bytes",
        ),
        (
            json!({"type": "elk", "url": "http://127.0.0.1:9", "indexx": "a"}),
            "indexx",
        ),
    ];
    for (backend, path) in cases {
        let error = bad(backend.clone());
        assert!(error.contains(path), "{backend}: {error}");
    }
    if !cfg!(feature = "tls") {
        let error = bad(json!({"type": "elk", "url": "https://127.0.0.1:9"}));
        assert!(error.contains("url") && error.contains("tls"), "{error}");
    }
}
