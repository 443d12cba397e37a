//! Hostile query strings and paths get the same answer on every read route: a 400 in the JSON
//! error shape `{"error", "path"}` naming the parameter, never a store error, never a filter
//! silently dropped. And health tells where the store lives to read-token holders only.

mod common;

use serde_json::Value;

use common::{encode, ev, ts, Gateway, Launch, Reply, HOUR, SECOND, T0};

on_both_stores! {
    a_long_q_is_refused_naming_q_and_is_no_store_error => a_long_q_is_refused_naming_q_and_is_no_store_error_sqlite, a_long_q_is_refused_naming_q_and_is_no_store_error_postgres;
    control_characters_never_widen_a_filter => control_characters_never_widen_a_filter_sqlite, control_characters_never_widen_a_filter_postgres;
}

/// A 400 in the JSON error shape naming `path`.
fn refused(reply: &Reply, path: &str) -> Value {
    let body = reply.expect(400);
    assert_eq!(body["path"], path, "{reply}");
    assert!(body["error"].is_string(), "{reply}");
    body
}

fn store_errors(gw: &Gateway) -> String {
    let metrics = gw.metrics();
    metrics
        .lines()
        .find(|l| l.starts_with("wafermon_gateway_store_errors_total "))
        .unwrap_or_default()
        .to_string()
}

fn seed(gw: &Gateway) {
    let t = T0 + 3 * HOUR;
    gw.ingest(&[
        ev("fab1", "etch", "LOT-1", "started", t)
            .key("A-100")
            .build(),
        ev("fab1", "etch", "LOT-2", "started", t + SECOND)
            .key("B-200")
            .build(),
    ]);
}

fn a_long_q_is_refused_naming_q_and_is_no_store_error(db: &str) {
    let gw = Gateway::start(db);
    seed(&gw);
    let long = "x".repeat(50_000);
    let body = refused(&gw.get(&format!("/v1/jobs?q={long}")), "q");
    assert!(
        body["error"].as_str().unwrap().contains("limit is 256"),
        "{body}"
    );
    // The longest an identifier can be still searches.
    let at_limit = "x".repeat(256);
    let page = gw.get_json(&format!("/v1/jobs?q={at_limit}"));
    assert_eq!(page["jobs"].as_array().unwrap().len(), 0, "{page}");
    assert_eq!(store_errors(&gw), "wafermon_gateway_store_errors_total 0");
}

fn control_characters_never_widen_a_filter(db: &str) {
    let gw = Gateway::start(db);
    seed(&gw);
    // The filters work at all.
    let page = gw.get_json("/v1/jobs?q=a-1");
    assert_eq!(page["jobs"].as_array().unwrap().len(), 1, "{page}");
    for (path, name) in [
        ("/v1/jobs?q=%00", "q"),
        ("/v1/jobs?q=A-1%00", "q"),
        ("/v1/jobs?q=%09", "q"),
        ("/v1/jobs?site=fab1%00", "site"),
        ("/v1/jobs?app=%00", "app"),
        ("/v1/jobs?parent=%1b", "parent"),
        ("/v1/jobs?kind=job%00", "kind"),
        ("/v1/jobs/LOT-1%00", "id"),
        ("/v1/jobs/LOT-1?site=%00", "site"),
        ("/v1/stats?app=%00", "app"),
        ("/v1/data/unified?site_id=%00", "site_id"),
        ("/v1/sources/compare?site=%00", "site"),
        ("/v1/stream?site=%00", "site"),
    ] {
        refused(&gw.get(path), name);
    }
    let query = gw.post_json(
        "/v1/query/external",
        &serde_json::json!({
            "source": "nowhere",
            "time_range": {"start": ts(T0), "end": ts(T0 + HOUR)},
            "filters": {"site": "fab1\u{0}"}
        }),
    );
    refused(&query, "filters.site");
    assert_eq!(store_errors(&gw), "wafermon_gateway_store_errors_total 0");
}

/// `/v1/jobs` said 200 with nothing where `/v1/stats` and the others said 400.
#[test]
fn every_route_refuses_a_window_that_ends_before_it_starts() {
    common::on_sqlite(|db| {
        let gw = Gateway::start(db);
        seed(&gw);
        let early = encode(&ts(T0));
        let late = encode(&ts(T0 + HOUR));
        for route in [
            "/v1/jobs",
            "/v1/stats",
            "/v1/data/unified",
            "/v1/sources/compare",
        ] {
            for (start, end) in [(&late, &early), (&early, &early)] {
                let reply = gw.get(&format!("{route}?start={start}&end={end}"));
                refused(&reply, "start");
            }
            let ok = gw.get(&format!("{route}?start={early}&end={late}"));
            assert_eq!(ok.status, 200, "{ok}");
        }
    });
}

/// Invalid UTF-8 in a path got a plain-text 400; every rejection by an extractor, and the
/// router's own 405, now answer `{"error", "path"}`.
#[test]
fn rejected_paths_and_query_strings_answer_in_the_json_error_shape() {
    common::on_sqlite(|db| {
        let gw = Gateway::start(db);
        let reply = gw.get("/v1/jobs/%FF");
        assert!(
            reply
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{reply}"
        );
        refused(&reply, "id");
        refused(&gw.get("/v1/jobs?limit=ten"), "limit");
        refused(&gw.get("/v1/stats?bucket_s=-5"), "bucket_s");
        let body = gw.get("/v1/jobs?colour=red").expect_error(400, "colour");
        assert!(body["error"].is_string());
        let not_allowed = gw.request("DELETE", "/v1/jobs/LOT-1", None, None, None);
        let body = not_allowed.expect(405);
        assert!(body["error"].as_str().unwrap().contains("DELETE"), "{body}");
        assert!(not_allowed.header("allow").is_some(), "{not_allowed}");
        let not_json = gw.request(
            "POST",
            "/v1/query/external",
            None,
            Some("application/json"),
            Some(b"{\"source\": "),
        );
        assert!(not_json.expect(400)["error"].is_string(), "{not_json}");
        let wrong_type = gw.post_json(
            "/v1/query/external",
            &serde_json::json!({"source": 1, "time_range": {}}),
        );
        refused(&wrong_type, "source");
        let nested = gw.post_json(
            "/v1/query/external",
            &serde_json::json!({"source": "x", "time_range": {"start": 5, "end": "y"}}),
        );
        refused(&nested, "time_range.start");
    });
}

/// The absolute database path showed in health to anyone.
#[test]
fn health_shows_where_the_store_is_to_read_token_holders_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret-place.sqlite3");
    let db = format!("sqlite://{}", file.display());
    let gw = Launch::new(&db)
        .env("WAFERMON_GATEWAY_READ_TOKEN", "reader-token")
        .start();
    let anonymous = gw.get("/v1/health");
    assert_eq!(anonymous.status, 200, "{anonymous}");
    assert!(!anonymous.body.contains("secret-place"), "{anonymous}");
    let health = anonymous.json();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["store"]["engine"], "sqlite");
    assert_eq!(health["store"]["ok"], true);
    assert!(health["store"].get("detail").is_none(), "{health}");
    let wrong = gw.get_with("/v1/health", "not-the-token");
    assert!(!wrong.body.contains("secret-place"), "{wrong}");
    let holder = gw.get_with("/v1/health", "reader-token").expect(200);
    let detail = holder["store"]["detail"].as_str().unwrap();
    assert!(detail.contains("secret-place"), "{holder}");
    drop(gw);

    // No read token configured: reads are open, and so is the detail.
    let open = Gateway::start(&db).get_json("/v1/health");
    assert!(
        open["store"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("secret-place")),
        "{open}"
    );
}
