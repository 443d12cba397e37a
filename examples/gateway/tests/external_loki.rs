//! The loki external source: events pushed by the core's loki backend, read back through a
//! real gateway.
//!
//! LOKI'S QUERY API FORMAT, NO REAL LOKI SERVER: no Loki is in the package registries these
//! machines reach, and VictoriaLogs (which the core's loki tests push to) has no
//! `query_range`. So `LokiLike` below keeps what the writer pushes (`POST
//! /loki/api/v1/push`) and answers `GET /loki/api/v1/query_range` in the format Loki
//! documents (`{"status":"success","data":{"resultType":"streams","result":[{"stream":
//! {...},"values":[["<ns>","<line>"]]}]}}`), evaluating the part of LogQL the reader uses:
//! label matchers (`=`, `=~".+"`), `|= "text"`, `| json name="path", ...` and `| name="v"`.
//! Any other LogQL fails the test.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};

use common::{counts, encode, ts, Launch, HOUR, MINUTE, PATIENCE, SECOND, T0};

const W: i64 = T0 + 14 * HOUR;

// ---------------------------------------------------------------------------------------
// A receiver with Loki's push and query_range APIs (not a Loki server).

type Labels = BTreeMap<String, String>;

#[derive(Default)]
struct Store {
    streams: BTreeMap<Labels, Vec<(i128, String)>>,
    /// The query parameters of every query_range request.
    queries: Vec<HashMap<String, String>>,
}

struct LokiLike {
    port: u16,
    store: Arc<Mutex<Store>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl LokiLike {
    fn start() -> LokiLike {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind");
        let port = server.server_addr().to_ip().unwrap().port();
        let store = Arc::new(Mutex::new(Store::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (store2, stop2) = (store.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Acquire) {
                let mut request = match server.recv_timeout(Duration::from_millis(20)) {
                    Ok(Some(r)) => r,
                    Ok(None) => continue,
                    Err(_) => break,
                };
                let mut body = Vec::new();
                request.as_reader().read_to_end(&mut body).unwrap();
                let url = request.url().to_string();
                let (status, text) = match (request.method().as_str(), url.split_once('?')) {
                    ("POST", None) if url == "/loki/api/v1/push" => {
                        push(&mut store2.lock().unwrap(), &body);
                        (204, String::new())
                    }
                    ("GET", Some(("/loki/api/v1/query_range", params))) => {
                        let params = decode_params(params);
                        let answer = query_range(&store2.lock().unwrap(), &params);
                        store2.lock().unwrap().queries.push(params);
                        (200, answer.to_string())
                    }
                    (method, _) => panic!("LokiLike: unexpected {method} {url}"),
                };
                let _ = request
                    .respond(tiny_http::Response::from_string(text).with_status_code(status));
            }
        });
        LokiLike {
            port,
            store,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn queries(&self) -> Vec<HashMap<String, String>> {
        self.store.lock().unwrap().queries.clone()
    }
}

impl Drop for LokiLike {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn push(store: &mut Store, body: &[u8]) {
    let body: Value = serde_json::from_slice(body).expect("push body is JSON");
    for stream in body["streams"].as_array().expect("streams") {
        let labels: Labels = serde_json::from_value(stream["stream"].clone()).expect("labels");
        let kept = store.streams.entry(labels).or_default();
        for pair in stream["values"].as_array().expect("values") {
            let ns: i128 = pair[0].as_str().expect("ns string").parse().expect("ns");
            let line = pair[1].as_str().expect("line").to_string();
            if !kept.contains(&(ns, line.clone())) {
                kept.push((ns, line));
            }
        }
    }
}

fn decode_params(text: &str) -> HashMap<String, String> {
    let decode = |s: &str| {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("percent escape"));
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).expect("utf-8")
    };
    text.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// The LogQL subset the reader writes.
struct LogQl {
    matchers: Vec<(String, Option<String>)>, // None: =~".+"
    stages: Vec<Stage>,
}

enum Stage {
    Contains(String),
    Json(Vec<(String, String)>),
    Equals(String, String),
}

fn parse_logql(text: &str) -> LogQl {
    let mut rest = text.trim();
    let quoted = |rest: &mut &str| -> String {
        let s = rest.trim_start();
        assert!(s.starts_with('"'), "a string expected at {s:?} in {text}");
        let mut out = String::new();
        let mut chars = s[1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => out.push('\n'),
                    Some(c) => out.push(c),
                    None => panic!("dangling escape in {text}"),
                },
                '"' => {
                    *rest = &s[i + 2..];
                    return out;
                }
                c => out.push(c),
            }
        }
        panic!("unterminated string in {text}");
    };
    let name = |rest: &mut &str| -> String {
        let s = rest.trim_start();
        let end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        *rest = &s[end..];
        s[..end].to_string()
    };
    assert!(rest.starts_with('{'), "{text}");
    rest = &rest[1..];
    let mut matchers = Vec::new();
    loop {
        let label = name(&mut rest);
        if rest.starts_with("=~") {
            rest = &rest[2..];
            assert_eq!(
                quoted(&mut rest),
                ".+",
                "only =~\".+\" is supported: {text}"
            );
            matchers.push((label, None));
        } else {
            assert!(rest.starts_with('='), "{text}");
            rest = &rest[1..];
            matchers.push((label, Some(quoted(&mut rest))));
        }
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else {
            assert!(rest.starts_with('}'), "{text}");
            rest = &rest[1..];
            break;
        }
    }
    let mut stages = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        if let Some(r) = rest.strip_prefix("|=") {
            rest = r;
            stages.push(Stage::Contains(quoted(&mut rest)));
        } else if let Some(r) = rest.strip_prefix("| json ") {
            rest = r;
            let mut fields = Vec::new();
            loop {
                let label = name(&mut rest);
                rest = rest.trim_start().strip_prefix('=').expect("json =");
                fields.push((label, quoted(&mut rest)));
                match rest.trim_start().strip_prefix(',') {
                    Some(r) => rest = r,
                    None => break,
                }
            }
            stages.push(Stage::Json(fields));
        } else if let Some(r) = rest.strip_prefix('|') {
            rest = r;
            let label = name(&mut rest);
            rest = rest.trim_start().strip_prefix('=').expect("label filter =");
            stages.push(Stage::Equals(label, quoted(&mut rest)));
        } else {
            panic!("unsupported LogQL at {rest:?} in {text}");
        }
    }
    LogQl { matchers, stages }
}

fn keeps(query: &LogQl, labels: &Labels, line: &str) -> bool {
    let mut labels = labels.clone();
    for stage in &query.stages {
        match stage {
            Stage::Contains(text) if !line.contains(text.as_str()) => return false,
            Stage::Contains(_) => {}
            Stage::Json(fields) => {
                let value: Value = serde_json::from_str(line).expect("JSON line");
                for (label, path) in fields {
                    let found = path
                        .split('.')
                        .try_fold(&value, |v, k| v.get(k))
                        .and_then(Value::as_str);
                    if let Some(found) = found {
                        labels.insert(label.clone(), found.to_string());
                    }
                }
            }
            Stage::Equals(label, want) if labels.get(label) != Some(want) => return false,
            Stage::Equals(..) => {}
        }
    }
    true
}

fn query_range(store: &Store, params: &HashMap<String, String>) -> Value {
    assert_eq!(params.get("direction").map(String::as_str), Some("forward"));
    let query = parse_logql(&params["query"]);
    let start: i128 = params["start"].parse().unwrap();
    let end: i128 = params["end"].parse().unwrap();
    let limit: usize = params["limit"].parse().unwrap();
    let mut hits: Vec<(i128, String, &Labels)> = Vec::new();
    for (labels, lines) in &store.streams {
        let selected = query.matchers.iter().all(|(k, v)| match v {
            Some(v) => labels.get(k) == Some(v),
            None => labels.get(k).is_some_and(|x| !x.is_empty()),
        });
        if !selected {
            continue;
        }
        for (ns, line) in lines {
            // Loki's range: start inclusive, end exclusive.
            if *ns >= start && *ns < end && keeps(&query, labels, line) {
                hits.push((*ns, line.clone(), labels));
            }
        }
    }
    hits.sort();
    hits.truncate(limit);
    let mut result: BTreeMap<&Labels, Vec<Value>> = BTreeMap::new();
    for (ns, line, labels) in hits {
        result
            .entry(labels)
            .or_default()
            .push(json!([ns.to_string(), line]));
    }
    let result: Vec<Value> = result
        .into_iter()
        .map(|(labels, values)| json!({"stream": labels, "values": values}))
        .collect();
    json!({"status": "success", "data": {"resultType": "streams", "result": result,
           "stats": {}}})
}

// ---------------------------------------------------------------------------------------
// Writing with the core's loki backend.

/// (entity kind, entity id, kind, time)
type Spec<'a> = (&'a str, &'a str, &'a str, i64);

/// Push `events` for `site` through a real client with the loki backend (and a filesystem
/// backend beside it, to know exactly what was written). Returns the events as written.
fn write_with_loki(loki: &str, site: &str, events: &[Spec<'_>]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let config = json!({
        "app": {"name": "etch-tool", "version": "1.0", "site_id": site, "instance_id": "t-1"},
        "direct_backends": [
            {"type": "filesystem", "path": dir.path().join("files")},
            {"type": "loki", "url": loki, "labels": {"env": "test"}, "max_bytes": 65536}
        ],
        "spool": {"path": dir.path().join("spool")},
        "batch": {"flush_interval": 0.05}
    });
    let client = wafermon::Client::new(wafermon::Config::from_value(config).unwrap()).unwrap();
    for (entity_kind, id, kind, time) in events {
        let new = wafermon::NewEvent::new(wafermon::Kind::parse(kind).unwrap(), *entity_kind, *id)
            .time(wafermon::Timestamp::from_unix_micros(*time))
            .message(format!("{kind} \"{id}\""));
        client.emit(&new).unwrap();
    }
    client.flush(PATIENCE).unwrap();
    let stats = client.close(PATIENCE);
    assert!(stats.backends.iter().all(|b| b.failed == 0), "{stats:?}");
    let mut written = common::read_jsonl(&dir.path().join("files"));
    written.sort_by_key(|e| e["seq"].as_u64());
    written
}

fn entity_ids(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["entity"]["id"].as_str().unwrap())
        .collect()
}

fn config(loki: &LokiLike, dead_port: u16) -> Value {
    json!({"sources": [
        {"name": "plant-loki", "type": "loki", "url": loki.url(), "labels": {"env": "test"}},
        {"name": "dead-loki", "type": "loki", "url": format!("http://127.0.0.1:{dead_port}"),
         "timeout": 1}
    ]})
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn loki_source_returns_the_pushed_events_filtered() {
    common::on_sqlite(loki_source_scenario);
}

fn loki_source_scenario(db: &str) {
    let loki = LokiLike::start();
    let fab1_specs: Vec<(String, &str, i64)> = (0..6)
        .map(|i| {
            let kind = if i % 3 == 2 { "failed" } else { "started" };
            (format!("F-{i}"), kind, W + i * 5 * MINUTE)
        })
        .collect();
    let mut specs: Vec<Spec<'_>> = fab1_specs
        .iter()
        .map(|(id, kind, t)| ("job", id.as_str(), *kind, *t))
        .collect();
    specs.push(("wafer", "WF-1", "progress", W + 31 * MINUTE));
    specs.push(("job", "F-old", "started", W - 25 * HOUR));
    specs.push(("job", "F-late", "started", W + 2 * HOUR));
    let fab1 = write_with_loki(&loki.url(), "fab1", &specs);
    let fab2 = write_with_loki(
        &loki.url(),
        "fab2",
        &[
            ("job", "G-0", "failed", W + 30 * SECOND),
            ("job", "G-1", "failed", W + MINUTE + 30 * SECOND),
        ],
    );
    let gw = Launch::new(db).config(config(&loki, closed_port())).start();
    let range = json!({"start": ts(W), "end": ts(W + HOUR)});
    let external = |filters: Value, limit: u32| {
        gw.post_json(
            "/v1/query/external",
            &json!({"source": "plant-loki", "time_range": range, "filters": filters,
                    "limit": limit}),
        )
        .expect(200)
    };

    let all = external(json!({}), 100);
    assert_eq!(all["type"], "loki");
    assert_eq!(all["matched"], 9, "{all}");
    assert_eq!(all["truncated"], false);
    let got = all["events"].as_array().unwrap();
    let times: Vec<&str> = got.iter().map(|e| e["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // Events come back exactly as the writer wrote them.
    for want in fab1.iter().chain(&fab2) {
        let id = want["entity"]["id"].as_str().unwrap();
        if ["F-old", "F-late"].contains(&id) {
            assert!(got.iter().all(|e| e["id"] != want["id"]), "{id} is outside");
            continue;
        }
        let found = got.iter().find(|e| e["id"] == want["id"]).expect(id);
        assert!(common::same_json(found, want), "{found} != {want}");
    }

    let first = external(json!({"site": "fab1"}), 4);
    assert_eq!(
        entity_ids(first["events"].as_array().unwrap()),
        ["F-0", "F-1", "F-2", "F-3"]
    );
    assert_eq!(first["truncated"], true);
    let failed = external(
        json!({"site": "fab1", "app": "etch-tool", "kind": "failed"}),
        100,
    );
    assert_eq!(
        entity_ids(failed["events"].as_array().unwrap()),
        ["F-2", "F-5"]
    );
    let one = external(json!({"entity_id": "F-3"}), 100);
    assert_eq!(entity_ids(one["events"].as_array().unwrap()), ["F-3"]);
    let wafers = external(json!({"entity_kind": "wafer"}), 100);
    assert_eq!(entity_ids(wafers["events"].as_array().unwrap()), ["WF-1"]);
    let status = external(json!({"site": "fab2", "status": "failed"}), 100);
    assert_eq!(
        entity_ids(status["events"].as_array().unwrap()),
        ["G-0", "G-1"]
    );

    // The filters went to Loki as LogQL, not applied after reading everything.
    let queries = loki.queries();
    assert!(queries
        .iter()
        .all(|q| q["query"].starts_with("{env=\"test\"")));
    assert!(queries
        .iter()
        .any(|q| q["query"] == "{env=\"test\",site=\"fab1\",app=\"etch-tool\",kind=\"failed\"}"));
    assert!(queries.iter().any(|q| q["query"]
        == "{env=\"test\"} |= \"F-3\" | json entity_id=\"entity.id\" | entity_id=\"F-3\""));
    assert!(queries
        .iter()
        .all(|q| q["start"] == format!("{}000", W) && q["end"] == format!("{}000", W + HOUR)));

    gw.post_json(
        "/v1/query/external",
        &json!({"source": "dead-loki", "time_range": range}),
    )
    .expect_error(502, "dead-loki");

    // The unified view: managed + loki, the shared event once; the dead source reported.
    let shared = fab1[1].clone();
    assert_eq!(gw.ingest(std::slice::from_ref(&shared))["stored"], 1);
    let window = format!("start={}&end={}", encode(&ts(W)), encode(&ts(W + HOUR)));
    let view = gw.get_json(&format!("/v1/data/unified?site_id=fab1&{window}"));
    let events = view["events"].as_array().unwrap();
    assert_eq!(events.len(), 7, "{view}");
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap())
        .collect();
    assert!(
        counts(ids.iter().copied()).values().all(|&n| n == 1),
        "{ids:?}"
    );
    for e in events {
        let want = if e["event"]["id"] == shared["id"] {
            "managed"
        } else {
            "plant-loki"
        };
        assert_eq!(e["source"], want, "{e}");
    }
    let reports = view["sources"].as_array().unwrap();
    let report = |name: &str| reports.iter().find(|r| r["name"] == name).unwrap().clone();
    assert_eq!(
        report("plant-loki"),
        json!({"name": "plant-loki", "ok": true, "matched": 7})
    );
    assert_eq!(report("dead-loki")["ok"], false);
    assert!(report("dead-loki")["error"]
        .as_str()
        .is_some_and(|e| !e.is_empty()));
}

#[test]
fn loki_source_pages_through_lines_sharing_a_timestamp() {
    common::on_sqlite(paging_scenario);
}

fn paging_scenario(db: &str) {
    let loki = LokiLike::start();
    // 1,100 events, seven at each microsecond: pages of 500 end inside such a group.
    let ids: Vec<String> = (0..1100).map(|i| format!("P-{i:04}")).collect();
    let specs: Vec<Spec<'_>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| ("job", id.as_str(), "heartbeat", W + (i as i64 / 7) * SECOND))
        .collect();
    let written = write_with_loki(&loki.url(), "fab1", &specs);
    let gw = Launch::new(db).config(config(&loki, closed_port())).start();
    let range = json!({"start": ts(W), "end": ts(W + HOUR)});
    let all = gw
        .post_json(
            "/v1/query/external",
            &json!({"source": "plant-loki", "time_range": range, "limit": 10000}),
        )
        .expect(200);
    assert_eq!(all["matched"], 1100);
    let got = all["events"].as_array().unwrap();
    assert_eq!(got.len(), 1100);
    assert!(
        counts(entity_ids(got)).values().all(|&n| n == 1),
        "no line twice"
    );
    let mut want: Vec<&Value> = written.iter().collect();
    want.sort_by_key(|e| (e["time"].as_str().unwrap().to_string(), e["seq"].as_u64()));
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g["id"], w["id"]);
    }
    let pages = loki.queries();
    assert!(pages.len() >= 3, "{} requests", pages.len());
    assert!(pages.iter().all(|q| q["limit"] == "500"));

    // A limit reads no further than one line past it.
    let few = gw
        .post_json(
            "/v1/query/external",
            &json!({"source": "plant-loki", "time_range": range, "limit": 10}),
        )
        .expect(200);
    assert_eq!(few["events"].as_array().unwrap().len(), 10);
    assert_eq!(few["truncated"], true);
    assert_eq!(loki.queries().len(), pages.len() + 1);
}
