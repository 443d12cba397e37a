//! The HTTP surface on both stores: bearer tokens, malformed requests (each a clear 4xx after
//! which the gateway keeps serving), every documented route answering, metrics and health.

mod common;

use serde_json::{json, Value};

use common::{encode, ev, expected_engines, ts, Gateway, Launch, Reply, HOUR, SECOND, T0};

on_both_stores! {
    tokens_guard_ingest_and_reads_separately => tokens_guard_ingest_and_reads_separately_sqlite, tokens_guard_ingest_and_reads_separately_postgres;
    token_variables_override_the_file => token_variables_override_the_file_sqlite, token_variables_override_the_file_postgres;
    malformed_requests_get_clear_errors_and_the_gateway_keeps_serving => malformed_requests_get_clear_errors_and_the_gateway_keeps_serving_sqlite, malformed_requests_get_clear_errors_and_the_gateway_keeps_serving_postgres;
    every_documented_route_answers => every_documented_route_answers_sqlite, every_documented_route_answers_postgres;
    metrics_and_health_report_what_happened => metrics_and_health_report_what_happened_sqlite, metrics_and_health_report_what_happened_postgres;
}

#[test]
fn the_dashboard_is_served_from_the_binary_without_a_token() {
    common::on_sqlite(|db| {
        let gw = Launch::new(db)
            .config(json!({"read_token": READ, "ingest_token": INGEST}))
            .start();
        let page = gw.get("/");
        assert_eq!(page.status, 200, "{page}");
        assert!(page
            .header("content-type")
            .unwrap()
            .starts_with("text/html"));
        let policy = page.header("content-security-policy").unwrap();
        assert!(policy.contains("default-src 'self'"), "{policy}");
        assert!(policy.contains("connect-src 'self'"), "{policy}");
        assert!(page.body.contains("<main id=\"main\""), "{}", page.body);
        // The data stays behind the token; the page asks for it.
        unauthorized(&gw.get("/v1/jobs"));

        let mut assets = 0;
        for (i, _) in page.body.match_indices("\"/assets/") {
            let rest = &page.body[i + 1..];
            let path = &rest[..rest.find('"').unwrap()];
            let reply = gw.get(path);
            assert_eq!(reply.status, 200, "{reply}");
            let kind = reply.header("content-type").unwrap();
            let expected = match path.rsplit('.').next().unwrap() {
                "js" => "text/javascript",
                "css" => "text/css",
                _ => "text/plain",
            };
            assert!(kind.starts_with(expected), "{path}: {kind}");
            assets += 1;
            // Nothing is loaded from another host: no CDN, no remote fonts.
            if !path.contains("/vendor/") {
                for remote in ["http://", "https://", "//cdn", "@import"] {
                    assert!(!reply.body.contains(remote), "{path} mentions {remote}");
                }
            }
        }
        assert!(assets >= 4, "{}", page.body);
        let module = gw.get("/assets/js/live.js");
        assert!(module.body.contains("/v1/stream") || module.body.contains("openStream"));

        gw.get("/assets/js/nope.js")
            .expect_error(404, "no dashboard file 'js/nope.js'");
        gw.get("/assets/index.html").expect_error(404, "index.html");
        gw.get("/assets/../Cargo.toml").expect_error(404, "");
    });
}

const INGEST: &str = "ingest-s3cret";
const READ: &str = "read-s3cret";

fn one_event(id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"events": [ev("fab1", "etch", id, "started", T0).build()]})).unwrap()
}

fn ingest_with(gw: &Gateway, token: Option<&str>, id: &str) -> Reply {
    gw.request(
        "POST",
        "/v1/ingest/managed",
        token,
        Some("application/json"),
        Some(&one_event(id)),
    )
}

fn unauthorized(reply: &Reply) {
    assert_eq!(reply.status, 401, "{reply}");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"), "{reply}");
    assert!(reply.json()["error"].as_str().is_some(), "{reply}");
}

fn check_tokens(gw: &Gateway, ingest: &str, read: &str) {
    // Ingest takes only the ingest token, whole.
    let longer = format!("{ingest}x");
    for token in [None, Some("wrong"), Some(read), Some(longer.as_str())] {
        unauthorized(&ingest_with(gw, token, "A-1"));
    }
    let basic = gw.send(
        "POST",
        "/v1/ingest/managed",
        Some(&format!("Basic {ingest}")),
        Some("application/json"),
        Some(&one_event("A-1")),
    );
    unauthorized(&basic);
    assert_eq!(
        ingest_with(gw, Some(ingest), "A-1").expect(200)["stored"],
        1
    );

    // Reads take only the read token, the stream included.
    let range = json!({"start": ts(T0), "end": ts(T0 + HOUR)});
    for token in [None, Some("wrong"), Some(ingest)] {
        for path in [
            "/v1/jobs",
            "/v1/jobs/A-1",
            "/v1/stats",
            "/v1/sources",
            "/v1/data/unified",
            "/v1/stream",
        ] {
            unauthorized(&gw.request("GET", path, token, None, None));
        }
        let body = serde_json::to_vec(&json!({"source": "x", "time_range": range})).unwrap();
        unauthorized(&gw.request(
            "POST",
            "/v1/query/external",
            token,
            Some("application/json"),
            Some(&body),
        ));
    }
    let jobs = gw.get_with("/v1/jobs", read).expect(200);
    assert_eq!(jobs["jobs"][0]["id"], "A-1");
    assert_eq!(gw.get_with("/v1/jobs/A-1", read).status, 200);
    let stream = gw.stream("?site=fab1", Some(read));
    assert_eq!(stream.status, 200);
    // The scheme is case-insensitive, as RFC 7235 says.
    let lower = gw.send(
        "GET",
        "/v1/sources",
        Some(&format!("bearer {read}")),
        None,
        None,
    );
    assert_eq!(lower.status, 200, "{lower}");

    // Health, metrics and the API description stay open for probes and tooling.
    for path in ["/v1/health", "/metrics", "/v1/openapi.json"] {
        assert_eq!(gw.get(path).status, 200, "{path}");
    }
}

fn tokens_guard_ingest_and_reads_separately(db: &str) {
    let gw = Launch::new(db)
        .config(json!({"ingest_token": INGEST, "read_token": READ}))
        .start();
    check_tokens(&gw, INGEST, READ);
}

fn token_variables_override_the_file(db: &str) {
    let gw = Launch::new(db)
        .config(json!({"ingest_token": "file-ingest", "read_token": "file-read"}))
        .env("WAFERMON_GATEWAY_INGEST_TOKEN", "env-ingest")
        .env("WAFERMON_GATEWAY_READ_TOKEN", "env-read")
        .start();
    unauthorized(&ingest_with(&gw, Some("file-ingest"), "B-1"));
    unauthorized(&gw.request("GET", "/v1/jobs", Some("file-read"), None, None));
    check_tokens(&gw, "env-ingest", "env-read");

    // Variables alone are enough.
    let gw = Launch::new(db)
        .env("WAFERMON_GATEWAY_INGEST_TOKEN", INGEST)
        .env("WAFERMON_GATEWAY_READ_TOKEN", READ)
        .start();
    check_tokens(&gw, INGEST, READ);
}

/// After each bad request, a good one still works.
fn still_serving(gw: &Gateway, n: &mut u32) {
    *n += 1;
    let event = ev(
        "fab1",
        "etch",
        &format!("OK-{n}"),
        "started",
        T0 + i64::from(*n) * SECOND,
    )
    .build();
    assert_eq!(gw.ingest(&[event])["stored"], 1);
    assert_eq!(gw.get("/v1/health").status, 200);
}

fn malformed_requests_get_clear_errors_and_the_gateway_keeps_serving(db: &str) {
    let gw = Launch::new(db)
        .config(json!({"max_body_bytes": 4096}))
        .start();
    let mut n = 0;
    let post = |content_type: Option<&str>, body: &[u8]| {
        gw.request("POST", "/v1/ingest/managed", None, content_type, Some(body))
    };
    let json_post = |body: &[u8]| post(Some("application/json"), body);
    let good = ev("fab1", "etch", "G-1", "started", T0).build();

    json_post(b"{\"events\": [").expect_error(400, "malformed JSON");
    still_serving(&gw, &mut n);
    json_post(b"").expect_error(400, "malformed JSON");
    still_serving(&gw, &mut n);
    json_post(b"[1, 2]").expect_error(400, "object");
    still_serving(&gw, &mut n);
    let e = json_post(br#"{"events": {"0": 1}}"#).expect(400);
    assert_eq!(e["path"], "events", "{e}");
    still_serving(&gw, &mut n);
    json_post(br#"{"source": "x"}"#).expect_error(400, "events");
    still_serving(&gw, &mut n);
    json_post(br#"{"events": [], "source": 5}"#).expect_error(400, "source");
    still_serving(&gw, &mut n);

    let mut numeric_time = good.clone();
    numeric_time["time"] = json!(1_772_323_200);
    let e = json_post(&serde_json::to_vec(&json!({"events": [numeric_time]})).unwrap()).expect(400);
    assert_eq!(e["rejected"][0]["path"], "events[0].time", "{e}");
    still_serving(&gw, &mut n);

    let mut extra = good.clone();
    extra["colour"] = json!("red");
    let e = json_post(&serde_json::to_vec(&json!({"events": [extra]})).unwrap()).expect(400);
    assert_eq!(e["rejected"][0]["path"], "events[0].colour", "{e}");
    still_serving(&gw, &mut n);

    let e = json_post(&serde_json::to_vec(&json!({"events": [good], "priority": 1})).unwrap())
        .expect(400);
    assert_eq!(e["path"], "priority", "{e}");
    still_serving(&gw, &mut n);

    let mut latin1 = br#"{"events": [], "source": "Gr"#.to_vec();
    latin1.extend_from_slice(&[0xfc, b'n', b'"', b'}']);
    json_post(&latin1).expect_error(400, "UTF-8");
    still_serving(&gw, &mut n);

    let events: Vec<Value> = (0..40)
        .map(|i| ev("fab1", "etch", &format!("BIG-{i}"), "started", T0).build())
        .collect();
    let huge = serde_json::to_vec(&json!({ "events": events })).unwrap();
    assert!(huge.len() > 4096);
    let reply = json_post(&huge);
    assert_eq!(reply.status, 413, "{reply}");
    still_serving(&gw, &mut n);
    // None of the too-large batch was stored.
    assert_eq!(gw.get("/v1/jobs/BIG-0").status, 404);

    post(Some("text/plain"), b"{}").expect_error(415, "Content-Type");
    post(None, b"{\"events\": []}").expect_error(415, "Content-Type");
    post(Some("application/x-www-form-urlencoded"), b"events=1").expect_error(415, "Content-Type");
    post(Some("application/msgpack"), b"\xc1\xc1").expect_error(400, "MessagePack");
    still_serving(&gw, &mut n);

    // Query strings: each error names the parameter.
    let start = encode(&ts(T0));
    for (path, name) in [
        ("/v1/jobs?limit=0".to_string(), "limit"),
        ("/v1/jobs?limit=1001".to_string(), "limit"),
        ("/v1/jobs?limit=ten".to_string(), "limit"),
        ("/v1/jobs?limit=-1".to_string(), "limit"),
        ("/v1/jobs?start=garbage".to_string(), "start"),
        ("/v1/jobs?end=2026-13-01T00:00:00Z".to_string(), "end"),
        ("/v1/jobs?status=done".to_string(), "status"),
        ("/v1/jobs?cursor=not-a-cursor".to_string(), "cursor"),
        ("/v1/jobs?colour=red".to_string(), "colour"),
        ("/v1/jobs/OK-1?events_limit=0".to_string(), "events_limit"),
        ("/v1/jobs/OK-1?sight=fab1".to_string(), "sight"),
        ("/v1/stats?start=yesterday".to_string(), "start"),
        (format!("/v1/stats?start={start}&end={start}"), "start"),
        ("/v1/stats?app=etch&bucket=day".to_string(), "bucket"),
        ("/v1/data/unified?limit=0".to_string(), "limit"),
        ("/v1/data/unified?site=fab1".to_string(), "site"),
        ("/v1/data/unified?end=soon".to_string(), "end"),
    ] {
        gw.get(&path).expect_error(400, name);
    }
    still_serving(&gw, &mut n);

    // The external query body.
    let query = |body: &[u8]| {
        gw.request(
            "POST",
            "/v1/query/external",
            None,
            Some("application/json"),
            Some(body),
        )
    };
    assert_eq!(query(b"{\"source\": ").status, 400);
    query(br#"{"source": 1, "time_range": {}}"#).expect_error(400, "source");
    assert_eq!(
        gw.request("POST", "/v1/query/external", None, None, Some(b"{}"))
            .status,
        415
    );
    still_serving(&gw, &mut n);

    // Unknown routes and methods.
    gw.get("/v1/nothing").expect_error(404, "/v1/nothing");
    assert_eq!(gw.get("/v1/ingest/managed").status, 405);
    assert_eq!(
        gw.request("DELETE", "/v1/jobs/OK-1", None, None, None)
            .status,
        405
    );
    still_serving(&gw, &mut n);
}

fn every_documented_route_answers(db: &str) {
    let files = tempfile::tempdir().unwrap();
    let gw = Launch::new(db)
        .config(json!({"sources": [{"name": "plant-files", "type": "filesystem", "path": files.path()}]}))
        .start();
    let t = T0 + 16 * HOUR;
    gw.ingest(&[
        ev("fab1", "etch", "DOC-1", "started", t).build(),
        ev("fab1", "etch", "DOC-1", "finished", t + SECOND).build(),
    ]);
    let doc = gw.get_json("/v1/openapi.json");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 10, "{doc}");
    let window = format!("start={}&end={}", encode(&ts(t)), encode(&ts(t + HOUR)));
    let mut checked = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let concrete = path.replace("{id}", "DOC-1");
            let reply = match (method.as_str(), path.as_str()) {
                ("post", "/v1/ingest/managed") => gw.post_json(&concrete, &json!({"events": []})),
                ("post", "/v1/query/external") => gw.post_json(
                    &concrete,
                    &json!({"source": "plant-files",
                            "time_range": {"start": ts(t), "end": ts(t + HOUR)}}),
                ),
                ("get", "/v1/stream") => {
                    // Streams never end by themselves: the status line is enough.
                    let s = gw.stream("", None);
                    assert_eq!(s.status, 200, "GET {path}");
                    checked += 1;
                    continue;
                }
                ("get", "/v1/stats") | ("get", "/v1/data/unified") => {
                    gw.get(&format!("{concrete}?{window}"))
                }
                ("get", _) => gw.get(&concrete),
                (m, p) => panic!("no request for {m} {p} in this test; add one"),
            };
            assert!(
                (200..300).contains(&reply.status),
                "{method} {path} is documented but answered {reply}"
            );
            let documented = op["responses"]
                .as_object()
                .unwrap()
                .contains_key(&reply.status.to_string());
            assert!(
                documented,
                "{method} {path}: {} is not documented",
                reply.status
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 12);
}

fn metrics_and_health_report_what_happened(db: &str) {
    let gw = Gateway::start(db);
    let health = gw.get_json("/v1/health");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["store"]["ok"], true);
    let engine = health["store"]["engine"].as_str().unwrap();
    assert!(expected_engines(db).contains(&engine), "{health}");
    assert!(gw.store_line.contains(engine), "{}", gw.store_line);
    // The database password never shows.
    assert!(!health.to_string().contains(":wafermon@"), "{health}");
    assert_eq!(health["sources"], json!([]));
    assert_eq!(health["stream_clients"], 0);

    let t = T0 + 18 * HOUR;
    let a = ev("fab1", "etch", "MX-1", "started", t).build();
    let b = ev("fab1", "etch", "MX-1", "finished", t + SECOND).build();
    let mut bad = ev("fab1", "etch", "MX-2", "started", t).build();
    bad["status"] = json!("sleeping");
    gw.ingest(&[a.clone(), b, bad]);
    gw.ingest(&[a]);
    gw.get("/v1/jobs?limit=0");

    let reply = gw.get("/metrics");
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/openmetrics-text")),
        "{:?}",
        reply.headers
    );
    let text = reply.body;
    for line in [
        "wafermon_gateway_events_received_total 4",
        "wafermon_gateway_events_stored_total 2",
        "wafermon_gateway_events_duplicate_total 1",
        "wafermon_gateway_events_rejected_total 1",
        "wafermon_gateway_store_errors_total 0",
        "wafermon_gateway_stream_clients 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no '{line}' in:\n{text}");
    }
    let requests = |route: &str, status: u16| {
        let prefix = "wafermon_gateway_http_requests_total{";
        text.lines()
            .find(|l| {
                l.starts_with(prefix)
                    && l.contains(&format!("route=\"{route}\""))
                    && l.contains(&format!("status=\"{status}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .map(|n| n.to_string())
    };
    assert_eq!(
        requests("/v1/ingest/managed", 200).as_deref(),
        Some("2"),
        "{text}"
    );
    assert_eq!(requests("/v1/jobs", 400).as_deref(), Some("1"), "{text}");
    assert!(
        text.contains("wafermon_gateway_http_request_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
}
