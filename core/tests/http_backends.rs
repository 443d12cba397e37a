//! The HTTP backends (sidecar, managed_api, webhook) against real HTTP servers on 127.0.0.1.
#![cfg(feature = "http")]

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use wafermon::backends::{build, Backend, DeliveryError};
use wafermon::event::{App, Entity};
use wafermon::Batch;
use wafermon::{Client, Config, Event, Kind, Level, Scalar, Status, Timestamp};

// ---------------------------------------------------------------------------------------
// A small recording HTTP server.

#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The status we answered with.
    status: u16,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .count()
    }
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn reply(status: u16) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: String::new(),
    }
}

struct TestServer {
    port: u16,
    log: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Serve until dropped; `answer` gets the 0-based number of the request.
    fn start(answer: impl Fn(usize) -> Reply + Send + 'static) -> TestServer {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind test server");
        let port = server.server_addr().to_ip().expect("ip listener").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log2, stop2) = (log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut n = 0;
            while !stop2.load(Ordering::Acquire) {
                let mut request = match server.recv_timeout(Duration::from_millis(50)) {
                    Ok(Some(r)) => r,
                    Ok(None) => continue,
                    Err(_) => break,
                };
                let mut body = Vec::new();
                request
                    .as_reader()
                    .read_to_end(&mut body)
                    .expect("read body");
                let answer = answer(n);
                n += 1;
                log2.lock().unwrap().push(Received {
                    method: request.method().to_string(),
                    path: request.url().to_string(),
                    headers: request
                        .headers()
                        .iter()
                        .map(|h| (h.field.to_string(), h.value.to_string()))
                        .collect(),
                    body,
                    status: answer.status,
                });
                let mut response =
                    tiny_http::Response::from_string(answer.body).with_status_code(answer.status);
                for (name, value) in answer.headers {
                    response = response.with_header(
                        tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
                            .expect("header"),
                    );
                }
                let _ = request.respond(response);
            }
        });
        TestServer {
            port,
            log,
            stop,
            thread: Some(thread),
        }
    }

    fn ok() -> TestServer {
        TestServer::start(|_| reply(200))
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Helpers.

fn event(seq: u64, kind: Kind) -> Event {
    let time = Timestamp::from_unix_micros(1_700_000_000_123_456 + seq as i64);
    let mut entity = Entity::new("job", "job-1");
    entity.name = Some("etch".into());
    entity.key = Some("LOT42".into());
    let mut metrics = BTreeMap::new();
    metrics.insert("duration_s".to_string(), 1.25);
    let mut attrs = BTreeMap::new();
    attrs.insert("tool".to_string(), Scalar::from("ETCH-03"));
    attrs.insert("wafers".to_string(), Scalar::from(25));
    attrs.insert("temp".to_string(), Scalar::from(21.5));
    attrs.insert("rework".to_string(), Scalar::from(false));
    Event {
        v: 1,
        id: wafermon::event::new_v7(time.unix_millis()),
        seq,
        time,
        site: "F1".into(),
        app: App {
            name: "etch-app".into(),
            version: Some("1.2.3".into()),
            instance: Some("host-1".into()),
        },
        entity,
        kind,
        status: kind.implied_status().unwrap_or(Status::Running),
        progress: (kind == Kind::Progress).then_some(42.0),
        level: (kind == Kind::Log).then_some(Level::Warning),
        message: Some(format!("event {seq} ü")),
        metrics,
        attrs,
    }
}

fn events() -> Vec<Event> {
    vec![
        event(1, Kind::Started),
        event(2, Kind::Progress),
        event(3, Kind::Log),
        event(4, Kind::Finished),
    ]
}

/// The first direct backend of a config given as JSON.
fn backend_from(json: &str) -> Box<dyn Backend> {
    let config = Config::from_json_str(json).expect("valid config");
    build(&config.direct_backends[0], &config.app).expect("backend builds")
}

fn backend_at(kind: &str, url: &str) -> Box<dyn Backend> {
    backend_from(&format!(
        r#"{{"direct_backends": [{{"type": "{kind}", "url": "{url}", "timeout": 2}}]}}"#
    ))
}

fn verify_signature(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

#[derive(Deserialize)]
struct SidecarBody {
    events: Vec<Event>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManagedBody {
    events: Vec<Event>,
    source: String,
    site_id: String,
}

// ---------------------------------------------------------------------------------------
// Envelopes and headers.

#[test]
fn sidecar_posts_json_envelope_with_bearer_token() {
    let server = TestServer::ok();
    let mut backend = backend_from(&format!(
        r#"{{"direct_backends": [{{"type": "sidecar", "url": "{}/", "token": "t0k-1"}}]}}"#,
        server.base()
    ));
    let sent = events();
    backend.send(&Batch::from_events(&sent)).expect("delivered");

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/ingest/batch");
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.header("Authorization"), Some("Bearer t0k-1"));
    assert!(r
        .header("User-Agent")
        .unwrap_or("")
        .starts_with("wafermon/"));
    let value: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        value.as_object().unwrap().len(),
        1,
        "only `events`: {value}"
    );
    let body: SidecarBody = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body.events, sent);
}

#[test]
fn sidecar_mode_msgpack_decodes_to_the_same_events() {
    let server = TestServer::ok();
    let config = Config::from_json_str(&format!(
        r#"{{"mode": "sidecar", "sidecar": {{"url": "{}", "format": "msgpack", "token": "s3"}}}}"#,
        server.base()
    ))
    .unwrap();
    let mut backend = build(&config.active_backends()[0], &config.app).unwrap();
    let sent = events();
    backend.send(&Batch::from_events(&sent)).expect("delivered");

    let r = &server.requests()[0];
    assert_eq!(r.path, "/v1/ingest/batch");
    assert_eq!(r.header("Content-Type"), Some("application/msgpack"));
    assert_eq!(r.header("Authorization"), Some("Bearer s3"));
    // Human-readable MessagePack: the id travels as its UUID string, as in JSON.
    let mut de = rmp_serde::Deserializer::new(&r.body[..]).with_human_readable();
    let body = SidecarBody::deserialize(&mut de).expect("valid msgpack envelope");
    assert_eq!(body.events, sent);
    let generic: serde_json::Value = rmp_serde::from_slice(&r.body).expect("plain msgpack");
    let first_id = &generic["events"][0]["id"];
    assert_eq!(first_id.as_str(), Some(sent[0].id.to_string().as_str()));
}

#[test]
fn managed_api_posts_gateway_envelope() {
    let server = TestServer::ok();
    let config = Config::from_json_str(&format!(
        r#"{{"app": {{"site_id": "FAB-7"}},
            "direct_backends": [{{"type": "managed_api", "url": "{}", "source": "etch-line", "token": "gw"}}]}}"#,
        server.base()
    ))
    .unwrap();
    let mut backend = build(&config.direct_backends[0], &config.app).unwrap();
    let sent = events();
    backend.send(&Batch::from_events(&sent)).expect("delivered");

    let r = &server.requests()[0];
    assert_eq!(r.path, "/v1/ingest/managed");
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.header("Authorization"), Some("Bearer gw"));
    let body: ManagedBody = serde_json::from_slice(&r.body).expect("gateway envelope");
    assert_eq!(body.events, sent);
    assert_eq!(body.source, "etch-line");
    assert_eq!(body.site_id, "FAB-7");
}

#[test]
fn webhook_posts_signed_array_with_custom_headers() {
    let server = TestServer::ok();
    let mut backend = backend_from(&format!(
        r#"{{"direct_backends": [{{"type": "webhook", "url": "{}/hook", "secret": "k",
             "headers": {{"X-Fab": "F1", "content-type": "text/plain"}}}}]}}"#,
        server.base()
    ));
    let sent = events();
    backend.send(&Batch::from_events(&sent)).expect("delivered");

    let r = &server.requests()[0];
    assert_eq!(r.path, "/hook");
    assert_eq!(r.header("X-Fab"), Some("F1"));
    assert_eq!(r.header_count("Content-Type"), 1);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.header("X-Wafermon-Batch-Size"), Some("4"));
    assert_eq!(r.header("Authorization"), None);
    let sig = r.header("X-Wafermon-Signature").expect("signature header");
    assert!(verify_signature("k", &r.body, sig), "{sig}");
    assert!(!verify_signature("other", &r.body, sig));
    let body: Vec<Event> = serde_json::from_slice(&r.body).expect("a JSON array of events");
    assert_eq!(body, sent);
}

#[test]
fn webhook_without_secret_is_unsigned_and_honours_signature_header_name() {
    let server = TestServer::ok();
    let mut plain = backend_at("webhook", &format!("{}/plain", server.base()));
    plain.send(&Batch::from_events(&events()[..1])).unwrap();
    let mut named = backend_from(&format!(
        r#"{{"direct_backends": [{{"type": "webhook", "url": "{}/named", "secret": "s",
             "signature_header": "X-Hub-Signature-256"}}]}}"#,
        server.base()
    ));
    named.send(&Batch::from_events(&events()[..2])).unwrap();

    let requests = server.requests();
    assert_eq!(requests[0].header("X-Wafermon-Signature"), None);
    assert_eq!(requests[0].header("X-Wafermon-Batch-Size"), Some("1"));
    let sig = requests[1]
        .header("X-Hub-Signature-256")
        .expect("renamed header");
    assert!(verify_signature("s", &requests[1].body, sig));
    assert_eq!(requests[1].header("X-Wafermon-Signature"), None);
}

// ---------------------------------------------------------------------------------------
// How answers are classified.

fn send_to(kind: &str, answer: Reply) -> Result<(), DeliveryError> {
    let answer = Mutex::new(Some(answer));
    let server = TestServer::start(move |_| answer.lock().unwrap().take().unwrap_or(reply(500)));
    let mut backend = backend_at(kind, &format!("{}/x", server.base()));
    backend.send(&Batch::from_events(&events()))
}

#[test]
fn server_errors_are_transient() {
    for kind in ["sidecar", "managed_api", "webhook"] {
        for status in [500, 502, 408, 429] {
            match send_to(kind, reply(status)) {
                Err(DeliveryError::Transient {
                    message,
                    retry_after: None,
                }) => assert!(message.contains(&status.to_string()), "{message}"),
                other => panic!("{kind} {status}: {other:?}"),
            }
        }
    }
}

#[test]
fn retry_after_seconds_is_reported() {
    let mut answer = reply(503);
    answer.headers.push(("Retry-After", "2".into()));
    match send_to("webhook", answer) {
        Err(DeliveryError::Transient {
            retry_after,
            message,
        }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(2)));
            assert!(message.contains("503"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn retry_after_http_date_is_reported() {
    let mut answer = reply(429);
    let when = SystemTime::now() + Duration::from_secs(3);
    answer
        .headers
        .push(("Retry-After", httpdate::fmt_http_date(when)));
    match send_to("sidecar", answer) {
        Err(DeliveryError::Transient {
            retry_after: Some(after),
            ..
        }) => assert!(after <= Duration::from_secs(3) && after >= Duration::from_secs(1)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn client_errors_are_permanent_with_status_and_excerpt() {
    for kind in ["sidecar", "managed_api", "webhook"] {
        let mut answer = reply(400);
        answer.body = format!(
            "{{\"error\": \"bad field\n  entity.id\"}}{}",
            "x".repeat(5000)
        );
        match send_to(kind, answer) {
            Err(DeliveryError::Permanent { message }) => {
                assert!(message.contains("400"), "{message}");
                assert!(message.contains("bad field entity.id"), "{message}");
                assert!(
                    message.len() < 400,
                    "excerpt stays short: {}",
                    message.len()
                );
            }
            other => panic!("{kind}: {other:?}"),
        }
    }
    assert!(matches!(
        send_to("webhook", reply(404)),
        Err(DeliveryError::Permanent { .. })
    ));
}

#[test]
fn redirects_are_not_followed() {
    let mut answer = reply(302);
    answer
        .headers
        .push(("Location", "http://127.0.0.1:1/elsewhere".into()));
    match send_to("webhook", answer) {
        Err(DeliveryError::Permanent { message }) => {
            assert!(
                message.contains("302") && message.contains("elsewhere"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn closed_port_is_transient() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    for kind in ["sidecar", "managed_api", "webhook"] {
        let mut backend = backend_at(kind, &format!("http://127.0.0.1:{port}/x"));
        match backend.send(&Batch::from_events(&events())) {
            Err(DeliveryError::Transient { .. }) => {}
            other => panic!("{kind}: {other:?}"),
        }
    }
}

#[test]
fn a_silent_server_times_out_as_transient() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept and say nothing; the connection is held until the test is done.
    let holder = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
    let mut backend = backend_from(&format!(
        r#"{{"direct_backends": [{{"type": "webhook", "url": "http://127.0.0.1:{port}/", "timeout": 0.3}}]}}"#
    ));
    let started = Instant::now();
    let result = backend.send(&Batch::from_events(&events()));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(result, Err(DeliveryError::Transient { .. })),
        "{result:?}"
    );
    drop(holder.join());
}

// ---------------------------------------------------------------------------------------
// Through the client.

fn client_config(url: &str, spool: &std::path::Path, extra: &str) -> Config {
    Config::from_json_str(&format!(
        r#"{{"app": {{"name": "etch-app", "site_id": "F1"}},
            "direct_backends": [{{"type": "webhook", "url": "{url}", "secret": "k", "timeout": 2{extra}}}],
            "batch": {{"flush_interval": 0.05}},
            "retry": {{"initial_backoff": 0.05, "max_backoff": 0.2}},
            "spool": {{"path": {spool}}}}}"#,
        spool = serde_json::to_string(&spool.to_string_lossy()).unwrap(),
    ))
    .expect("valid config")
}

/// Events the server accepted (answered 2xx), after checking each request's signature.
fn accepted(server: &TestServer) -> Vec<Event> {
    let mut out = Vec::new();
    for r in server.requests() {
        let sig = r.header("X-Wafermon-Signature").unwrap_or("");
        assert!(verify_signature("k", &r.body, sig));
        let batch: Vec<Event> = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            r.header("X-Wafermon-Batch-Size"),
            Some(batch.len().to_string().as_str())
        );
        if (200..300).contains(&r.status) {
            out.extend(batch);
        }
    }
    out
}

#[test]
fn client_delivers_job_events_to_webhook() {
    let server = TestServer::ok();
    let spool = tempfile::tempdir().unwrap();
    let client = Client::new(client_config(
        &format!("{}/hook", server.base()),
        spool.path(),
        "",
    ))
    .unwrap();
    let job = client.job("x").key("LOT42").start().unwrap();
    job.progress(50.0).unwrap();
    job.finish().unwrap();
    client.flush(Duration::from_secs(5)).expect("flushed");

    let got = accepted(&server);
    let kinds: Vec<Kind> = got.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [Kind::Started, Kind::Progress, Kind::Finished]);
    for e in &got {
        assert_eq!(e.entity.name.as_deref(), Some("x"));
        assert_eq!(e.entity.key.as_deref(), Some("LOT42"));
        assert_eq!(e.site, "F1");
        assert_eq!(e.app.name, "etch-app");
    }
    assert_eq!(got[2].status, Status::Succeeded);
    let stats = client.close(Duration::from_secs(2));
    assert_eq!(stats.backends[0].sent, 3);
    assert_eq!(stats.backends[0].failed, 0);
}

#[test]
fn client_retries_through_503s_and_delivers_each_event_once() {
    let failures = Arc::new(AtomicUsize::new(0));
    let counter = failures.clone();
    let server = TestServer::start(move |n| {
        if n < 3 {
            counter.fetch_add(1, Ordering::AcqRel);
            reply(503)
        } else {
            reply(200)
        }
    });
    let spool = tempfile::tempdir().unwrap();
    let client = Client::new(client_config(
        &format!("{}/hook", server.base()),
        spool.path(),
        r#", "retries": 1"#,
    ))
    .unwrap();
    for name in ["a", "b", "c"] {
        let job = client.job(name).start().unwrap();
        job.metric("wafers", 25.0).unwrap();
        job.finish().unwrap();
    }
    client.flush(Duration::from_secs(5)).expect("flushed");

    assert_eq!(failures.load(Ordering::Acquire), 3);
    let got = accepted(&server);
    assert_eq!(got.len(), 9, "{got:#?}");
    let mut by_id: HashMap<_, usize> = HashMap::new();
    for e in &got {
        *by_id.entry(e.id).or_default() += 1;
    }
    assert!(by_id.values().all(|&n| n == 1), "duplicates: {by_id:?}");
    for name in ["a", "b", "c"] {
        let kinds: Vec<Kind> = got
            .iter()
            .filter(|e| e.entity.name.as_deref() == Some(name))
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            [Kind::Started, Kind::Metric, Kind::Finished],
            "{name}"
        );
    }
    let stats = client.close(Duration::from_secs(2));
    assert_eq!(stats.backends[0].sent, 9);
    assert_eq!(stats.backends[0].failed, 0);
    assert!(stats.backends[0].retried > 0);
}
