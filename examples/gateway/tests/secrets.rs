//! Secrets stay secret in the running gateway: both tokens and every secret of every
//! external source are set to a marker, which must show in no `--check` output, config
//! error, log line, `/v1/health`, `/metrics` or query answer, nor in the errors of sources
//! whose servers refuse the credential.

mod common;

use std::path::Path;

use serde_json::{json, Value};

use common::{run_cli, ts, Launch, HOUR, T0};
use wafermon_testkit::refuser::Refuser;
use wafermon_testkit::secrets::{
    assert_backend_secrets_covered, assert_no_marker, every_backend, keys_holding_marker,
    secret_keys, MARKER,
};

/// Source types whose keys are the core backend's of the same type (the gateway schema's
/// source types other than its own filesystem and zabbix readers).
fn backend_source_types() -> Vec<String> {
    let schema = wafermon_testkit::load_json(
        &wafermon_testkit::schema::schema_dir().join("gateway.v1.schema.json"),
    );
    schema["$defs"]["source"]["properties"]["type"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|t| !["filesystem", "zabbix"].contains(t))
        .map(str::to_string)
        .collect()
}

fn leaky_config(url: &str) -> Value {
    let types = backend_source_types();
    let mut sources = vec![
        json!({"name": "zabbix-login", "type": "zabbix", "url": format!("{url}/api_jsonrpc.php"),
               "username": "u", "password": MARKER, "host": "h"}),
        json!({"name": "zabbix-token", "type": "zabbix", "url": format!("{url}/api_jsonrpc.php"),
               "api_token": MARKER, "host": "h"}),
    ];
    for mut backend in every_backend(url) {
        let kind = backend["type"].as_str().unwrap().to_string();
        if types.contains(&kind) {
            if backend.get("name").is_none() {
                backend["name"] = json!(kind);
            }
            sources.push(backend);
        }
    }
    // The Kafka consumer's credentials: brokers that do not answer, files that do not exist.
    let kafka = json!({"brokers": "127.0.0.1:9", "topic": "t", "group": "g",
                       "sasl": {"username": "u", "password": MARKER},
                       "tls": {"cert_file": "/nonexistent/c.pem", "key_file": "/nonexistent/k.pem",
                               "key_password": MARKER}});
    json!({"ingest_token": MARKER, "read_token": MARKER, "sources": sources,
           "ingest": {"kafka": kafka}})
}

fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn check(dir: &Path, config: &Value) -> std::process::Output {
    let path = dir.join("gateway.json");
    std::fs::write(&path, config.to_string()).unwrap();
    run_cli(&["--config", path.to_str().unwrap(), "--check"], dir)
}

#[test]
fn the_test_sets_every_secret_key_the_schemas_have() {
    let config = leaky_config("http://127.0.0.1:9");
    wafermon_testkit::assert_schema_valid("gateway.v1.schema.json", &config);
    let own = secret_keys("gateway.v1.schema.json", "");
    let have = keys_holding_marker(&config);
    let missing: Vec<&String> = own.difference(&have).collect();
    assert!(missing.is_empty(), "set {missing:?} in leaky_config()");
    for key in ["ingest_token", "read_token", "password", "api_token"] {
        assert!(own.contains(key), "{own:?}");
    }
    let types = backend_source_types();
    assert!(types.len() >= 4, "{types:?}");
    assert_backend_secrets_covered(config["sources"].as_array().unwrap(), &types);
}

#[test]
fn check_shows_no_secret_whether_the_config_is_good_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut good = leaky_config("http://127.0.0.1:9");
    // A database password is a secret too, though its key does not say so.
    good["database_url"] = json!(format!("postgres://wafermon:{MARKER}@127.0.0.1:9/wafermon"));
    let out = check(dir.path(), &good);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_no_marker("--check of a good config", &text);

    let mut bad = good.clone();
    bad["max_body_bytes"] = json!("big");
    bad["listen"] = json!("nowhere");
    bad["sources"][0]["colour"] = json!(MARKER);
    bad["sources"][3]["url"] = json!("ftp://x");
    bad["database_url"] = json!(format!(
        "postgres://wafermon:{MARKER}@127.0.0.1:9/wafermon?sslmode=sometimes"
    ));
    let out = check(dir.path(), &bad);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    for path in [
        "max_body_bytes",
        "listen",
        "sources[0]",
        "sources[3].url",
        "database_url",
    ] {
        assert!(text.contains(&format!("at {path}")), "{path}: {text}");
    }
    assert_no_marker("--check of a broken config", &text);

    // Tokens from the environment, with a mistake that concerns them.
    let path = dir.path().join("open.json");
    std::fs::write(&path, json!({"listen": "0.0.0.0:18000"}).to_string()).unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["--config", path.to_str().unwrap(), "--check"])
        .env("WAFERMON_GATEWAY_INGEST_TOKEN", MARKER)
        .env_remove("WAFERMON_GATEWAY_READ_TOKEN")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("read_token"), "{text}");
    assert_no_marker("--check with a token from the environment", &text);
}

#[test]
fn health_queries_logs_and_source_errors_show_no_secret() {
    let refuser = Refuser::start();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gateway.sqlite3").display());
    let config = leaky_config(&refuser.url);
    let mut gw = Launch::new(&db).config(config.clone()).start();

    for token in [None, Some("wrong"), Some(MARKER)] {
        let health = gw.request("GET", "/v1/health", token, None, None);
        assert_eq!(health.status, 200, "{}", health.body);
        assert_no_marker("/v1/health", &health.body);
    }
    let range = json!({"start": ts(T0), "end": ts(T0 + HOUR)});
    for source in config["sources"].as_array().unwrap() {
        let name = source["name"].as_str().unwrap();
        let body = serde_json::to_vec(&json!({"source": name, "time_range": range})).unwrap();
        let answer = gw.request(
            "POST",
            "/v1/query/external",
            Some(MARKER),
            Some("application/json"),
            Some(&body),
        );
        assert!(answer.status >= 400, "{name} answered {}", answer.body);
        assert_no_marker(&format!("the answer about {name}"), &answer.body);
    }
    let unified = gw.request(
        "GET",
        &format!(
            "/v1/data/unified?start={}&end={}",
            common::encode(&ts(T0)),
            common::encode(&ts(T0 + HOUR))
        ),
        Some(MARKER),
        None,
        None,
    );
    assert_no_marker("/v1/data/unified", &unified.body);
    for path in ["/v1/sources", "/metrics"] {
        let answer = gw.request("GET", path, Some(MARKER), None, None);
        assert_no_marker(path, &answer.body);
    }
    let refused = gw.request("GET", "/v1/jobs", Some("wrong"), None, None);
    assert_eq!(refused.status, 401);
    assert_no_marker("a 401 answer", &refused.body);
    // The readers did send their credentials, to the servers they are meant for.
    let heads = refuser.heads().join("\n").to_ascii_lowercase();
    assert!(
        heads.contains(&format!("bearer {MARKER}")),
        "no reader sent its token:\n{heads}"
    );

    gw.terminate();
    assert_no_marker("the gateway's log", &gw.stderr());
}
