//! Runs the shared conformance vectors (core/conformance) through the Rust API. The C suite
//! and every language package run the same files; the checking is the core's
//! (`wafermon::skin::conformance`), as every skin's runner uses it: this file only runs the
//! steps and validates against the JSON schemas.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use wafermon::skin::conformance;
use wafermon::{Client, Config, ErrorKind, Job, Level};

use common::{core_dir, load_json, schema_validator};

fn check_error(err: &wafermon::Error, expected: &Value, what: &str) {
    if let Err(problem) = conformance::check_error(err.kind().as_str(), &err.to_string(), expected)
    {
        panic!("{what}: {problem}");
    }
}

fn run_step(
    client: &Client,
    jobs: &mut HashMap<String, Job>,
    job_ids: &mut Vec<(String, String)>,
    step: &Value,
) -> wafermon::Result<()> {
    let job = |name: &str| step[name].as_str().unwrap_or_default().to_string();
    let text = |name: &str| step[name].as_str();
    match step["op"].as_str().expect("op") {
        "job_start" | "subjob_start" => {
            let mut builder = if step["op"] == "job_start" {
                client.job(text("name").unwrap())
            } else {
                jobs[&job("parent")].subjob(text("name").unwrap())
            };
            if let Some(k) = text("kind") {
                builder = builder.kind(k);
            }
            if let Some(k) = text("key") {
                builder = builder.key(k);
            }
            if let Some(k) = text("id") {
                builder = builder.id(k);
            }
            if let Some(attrs) = step["attrs"].as_object() {
                for (name, value) in attrs {
                    builder = match value {
                        Value::String(s) => builder.attr(name.as_str(), s.as_str()),
                        Value::Bool(b) => builder.attr(name.as_str(), *b),
                        Value::Number(n) if n.is_i64() => {
                            builder.attr(name.as_str(), n.as_i64().unwrap())
                        }
                        Value::Number(n) => builder.attr(name.as_str(), n.as_f64().unwrap()),
                        other => panic!("attr {name} = {other}"),
                    };
                }
            }
            let started = builder.start()?;
            job_ids.push((job("as"), started.id().to_string()));
            jobs.insert(job("as"), started);
            Ok(())
        }
        "progress" => {
            let j = &jobs[&job("job")];
            let pct = step["percent"].as_f64().unwrap();
            match text("message") {
                Some(m) => j.progress_with(pct, m),
                None => j.progress(pct),
            }
        }
        "metric" => {
            jobs[&job("job")].metric(text("name").unwrap(), step["value"].as_f64().unwrap())
        }
        "log" => {
            let level = Level::parse(text("level").unwrap()).unwrap();
            jobs[&job("job")].log(level, text("message").unwrap())
        }
        "finish" => jobs.remove(&job("job")).unwrap().finish(),
        "fail" => jobs
            .remove(&job("job"))
            .unwrap()
            .fail(text("message").unwrap()),
        "cancel" => jobs
            .remove(&job("job"))
            .unwrap()
            .cancel(text("message").unwrap()),
        "drop" => {
            drop(jobs.remove(&job("job")).unwrap());
            Ok(())
        }
        "emit" => client.emit_json(&event_text(&step["event"])),
        other => panic!("unknown op {other}"),
    }
}

fn event_text(event: &Value) -> String {
    match event {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

fn merged_config(dir: &std::path::Path, scenario_config: &Value) -> Config {
    Config::from_value(conformance::scenario_config(dir, scenario_config))
        .expect("scenario config is valid")
}

#[test]
fn scenarios_produce_the_expected_events() {
    let event_schema = schema_validator("event.v1.schema.json");
    let files = conformance::scenario_files(&core_dir().join("conformance")).unwrap();
    assert!(!files.is_empty(), "no scenario files");
    for file in files {
        let scenario = load_json(&file);
        let name = scenario["name"].as_str().unwrap_or("?").to_string();
        let dir = tempfile::tempdir().unwrap();
        let client = Client::new(merged_config(dir.path(), &scenario["config"])).unwrap();
        let mut jobs = HashMap::new();
        let mut job_ids = Vec::new();
        for (i, step) in scenario["steps"].as_array().unwrap().iter().enumerate() {
            let result = run_step(&client, &mut jobs, &mut job_ids, step);
            match (&step["error"], result) {
                (Value::Null, Ok(())) => {}
                (Value::Null, Err(e)) => panic!("{name}: step {i} failed: {e}"),
                (expected, Err(e)) => check_error(&e, expected, &format!("{name} step {i}")),
                (_, Ok(())) => panic!("{name}: step {i} should have failed"),
            }
        }
        let stats = client.close(Duration::from_secs(10));
        assert_eq!(stats.pending(), 0, "{name}: {stats:?}");
        let data = dir.path().join("data");
        for event in conformance::read_events(&data).unwrap() {
            let errors: Vec<String> = event_schema
                .iter_errors(&event)
                .map(|e| e.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "{name}: {event} violates the schema: {errors:?}"
            );
        }
        if let Err(problem) = conformance::check_events(&data, &scenario["expect"], &job_ids) {
            panic!("{name}: {problem}");
        }
    }
}

#[test]
fn config_cases_are_accepted_or_rejected_with_their_path() {
    let config_schema = schema_validator("config.v1.schema.json");
    let cases = load_json(&core_dir().join("conformance/config_cases.json"));
    let cases = cases.as_array().unwrap();
    assert!(cases.len() > 10);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let result = Config::from_value(case["config"].clone());
        if case["ok"] == json!(true) {
            if let Err(e) = result {
                panic!("{name}: rejected: {e}");
            }
            let errors: Vec<String> = config_schema
                .iter_errors(&case["config"])
                .map(|e| e.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "{name}: the schema rejects an accepted config: {errors:?}"
            );
        } else {
            let err = result.err().unwrap_or_else(|| panic!("{name}: accepted"));
            assert_eq!(err.kind(), ErrorKind::InvalidConfig, "{name}");
            check_error(&err, &case["error"], name);
        }
    }
}

#[test]
fn event_cases_are_accepted_or_rejected_with_their_path() {
    let event_schema = schema_validator("event.v1.schema.json");
    let cases = load_json(&core_dir().join("conformance/event_cases.json"));
    let cases = cases.as_array().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = Client::new(merged_config(dir.path(), &json!({}))).unwrap();
    let mut accepted = 0;
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let result = client.emit_json(&event_text(&case["event"]));
        if case["ok"] == json!(true) {
            if let Err(e) = result {
                panic!("{name}: rejected: {e}");
            }
            accepted += 1;
        } else {
            let err = result.err().unwrap_or_else(|| panic!("{name}: accepted"));
            assert_eq!(err.kind(), ErrorKind::InvalidEvent, "{name}");
            check_error(&err, &case["error"], name);
        }
    }
    client.close(Duration::from_secs(10));
    let events = conformance::read_events(&dir.path().join("data")).unwrap();
    assert_eq!(events.len(), accepted);
    for event in &events {
        let errors: Vec<String> = event_schema
            .iter_errors(event)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{event} violates the schema: {errors:?}");
    }
    // Cases that give `attrs`: the written attrs, exactly (integers digit for digit).
    for case in cases.iter().filter(|c| c.get("attrs").is_some()) {
        let name = case["name"].as_str().unwrap();
        let input: Value = match &case["event"] {
            Value::String(text) => serde_json::from_str(text).unwrap(),
            other => other.clone(),
        };
        let written = events
            .iter()
            .find(|e| e["entity"]["id"] == input["entity"]["id"])
            .unwrap_or_else(|| panic!("{name}: not written"));
        assert_eq!(written["attrs"], case["attrs"], "{name}");
    }
}

#[test]
fn legacy_cases_convert_to_schema_v1_or_name_the_legacy_field() {
    use wafermon::event::{from_legacy, is_legacy, App, LegacyDefaults};

    let event_schema = schema_validator("event.v1.schema.json");
    let cases = load_json(&core_dir().join("conformance/legacy_cases.json"));
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 12);
    let mut ids: HashMap<&str, Value> = HashMap::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        assert!(is_legacy(&case["legacy"]), "{name}: not detected as legacy");
        let defaults = LegacyDefaults {
            site: case["defaults"]["site"].as_str().unwrap().to_string(),
            app: serde_json::from_value::<App>(case["defaults"]["app"].clone()).unwrap(),
        };
        let result = from_legacy(&case["legacy"], &defaults);
        match (&case["expect"], result) {
            (Value::Null, Ok(event)) => panic!("{name}: accepted as {}", event.to_json()),
            (Value::Null, Err(e)) => {
                assert_eq!(e.kind(), ErrorKind::InvalidEvent, "{name}");
                check_error(&e, &case["error"], name);
            }
            (_, Err(e)) => panic!("{name}: rejected: {e}"),
            (expected, Ok(event)) => {
                let got = serde_json::to_value(&event).unwrap();
                let errors: Vec<String> = event_schema
                    .iter_errors(&got)
                    .map(|e| e.to_string())
                    .collect();
                assert!(
                    errors.is_empty(),
                    "{name}: {got} violates the schema: {errors:?}"
                );
                assert!(
                    conformance::same_json(&got, expected),
                    "{name}\n got: {got}\nwant: {expected}"
                );
                if let Some(other) = case["same_id_as"].as_str() {
                    let want = ids
                        .get(other)
                        .unwrap_or_else(|| panic!("{name}: same_id_as names no earlier case"));
                    assert_eq!(&got["id"], want, "{name}: the id of '{other}'");
                }
                ids.insert(name, got["id"].clone());
            }
        }
    }
}
