//! The checking half of the shared conformance vectors (`core/conformance`, format in its
//! README), so a skin's runner only executes each step through its own API:
//!
//! 1. `scenario_config(dir, &scenario["config"])`: the client's configuration (JSONL under
//!    `dir/data`, spool under `dir/spool`), as JSON for the skin's own config loader;
//! 2. run the steps; a step with `"error"` goes to `check_error(kind, message, &step["error"])`;
//!    remember each started job's id under its `"as"` alias;
//! 3. close the client and call `check_events(&dir.join("data"), &scenario["expect"], &jobs)`.
//!
//! The config, event and legacy cases use `check_error` the same way. Every check returns
//! `Err(text)` saying what differs, for the skin's test framework to report. Behind the
//! non-default feature `conformance`: only test builds need it. It adds no dependency.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// The metrics the core measures itself; their values vary, so they become `"<number>"`.
pub const RESOURCE_METRICS: [&str; 4] =
    ["cpu_user_s", "cpu_system_s", "max_rss_bytes", "duration_s"];

/// The scenario files under `conformance_dir/scenarios`, sorted.
pub fn scenario_files(conformance_dir: &Path) -> Result<Vec<PathBuf>, String> {
    let dir = conformance_dir.join("scenarios");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Ok(files)
}

/// A scenario runner's config: the app of the tests, one filesystem backend writing JSONL
/// under `dir/data`, the spool under `dir/spool`, a short flush interval, then `extra` (the
/// scenario's `config`) merged one level deep.
pub fn scenario_config(dir: &Path, extra: &Value) -> Value {
    let mut config = json!({
        "app": {"name": "test-app", "version": "1.0", "site_id": "fab-t", "instance_id": "i-1"},
        "direct_backends": [{"type": "filesystem", "path": dir.join("data")}],
        "spool": {"path": dir.join("spool")},
        "batch": {"flush_interval": 0.05}
    });
    if let (Value::Object(base), Value::Object(extra)) = (&mut config, extra) {
        for (k, v) in extra {
            match (base.get_mut(k), v) {
                (Some(Value::Object(b)), Value::Object(e)) => {
                    b.extend(e.iter().map(|(k, v)| (k.clone(), v.clone())))
                }
                _ => {
                    base.insert(k.clone(), v.clone());
                }
            }
        }
    }
    config
}

/// Every `*.jsonl` file under `dir` (at any depth), sorted; none when `dir` does not exist.
pub fn jsonl_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every event in every `*.jsonl` file under `dir`, sorted by `seq`.
pub fn read_events(dir: &Path) -> Result<Vec<Value>, String> {
    let mut events = Vec::new();
    for path in jsonl_files(dir) {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for line in text.lines().filter(|l| !l.is_empty()) {
            let event = serde_json::from_str::<Value>(line)
                .map_err(|e| format!("bad line in {}: {e}: {line}", path.display()))?;
            events.push(event);
        }
    }
    events.sort_by_key(|e| e["seq"].as_u64().unwrap_or(0));
    Ok(events)
}

/// JSON equality where numbers compare by value (50 == 50.0).
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// Check that an error the skin got (its kind name and its message) is the one `expected`
/// (`{"kind"?, "path"}`) describes: the same kind, and a message containing `at <path>:`
/// (for the root path `""`: starting with the kind's words, e.g. "invalid config").
pub fn check_error(kind: &str, message: &str, expected: &Value) -> Result<(), String> {
    if let Some(want) = expected["kind"].as_str() {
        if kind != want {
            return Err(format!("error kind '{kind}', expected '{want}': {message}"));
        }
    }
    let path = expected["path"].as_str().unwrap_or("");
    let ok = if path.is_empty() {
        message.starts_with(&kind.replace('_', " "))
    } else {
        message.contains(&format!("at {path}:"))
    };
    if ok {
        Ok(())
    } else if path.is_empty() {
        Err(format!(
            "'{message}' should start with '{}'",
            kind.replace('_', " ")
        ))
    } else {
        Err(format!("'{message}' should name {path} ('at {path}:')"))
    }
}

/// Normalize `event` in place as the README says, checking what it replaces. `job_ids` maps
/// entity ids of started jobs to their `"as"` alias; `last_seq` is the previous event's.
pub fn normalize(
    event: &mut Value,
    job_ids: &HashMap<String, String>,
    last_seq: &mut u64,
) -> Result<(), String> {
    let id = event["id"].as_str().ok_or("id is not a string")?;
    let uuid = uuid::Uuid::parse_str(id).map_err(|e| format!("id {id} is not a UUID: {e}"))?;
    if uuid.get_version_num() != 7 {
        return Err(format!("id {id} is not a UUIDv7"));
    }
    event["id"] = json!("<id>");
    let time = event["time"].as_str().ok_or("time is not a string")?;
    if !is_micro_utc(time) {
        return Err(format!("time {time} is not YYYY-MM-DDTHH:MM:SS.ffffffZ"));
    }
    event["time"] = json!("<time>");
    let seq = event["seq"].as_u64().ok_or("seq is not an integer")?;
    if seq <= *last_seq {
        return Err(format!("seq {seq} does not increase (after {last_seq})"));
    }
    *last_seq = seq;
    event["seq"] = json!("<seq>");
    for field in ["id", "parent"] {
        if let Some(value) = event["entity"][field].as_str() {
            if let Some(alias) = job_ids.get(value) {
                event["entity"][field] = json!(format!("<job:{alias}>"));
            }
        }
    }
    if let Some(metrics) = event.get_mut("metrics").and_then(Value::as_object_mut) {
        for name in RESOURCE_METRICS {
            if let Some(v) = metrics.get_mut(name) {
                if !v.as_f64().is_some_and(|n| n >= 0.0) {
                    return Err(format!("metric {name} = {v} is not a number >= 0"));
                }
                *v = json!("<number>");
            }
        }
    }
    Ok(())
}

fn is_micro_utc(time: &str) -> bool {
    let b = time.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() == 27
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..26)
        && b[26] == b'Z'
}

/// Read what a scenario's client wrote under `data_dir`, normalize it and compare it with
/// `expect` (the scenario's array) exactly. `jobs` are `(alias, entity id)` pairs of the
/// jobs the runner started with `"as": alias`.
pub fn check_events(
    data_dir: &Path,
    expect: &Value,
    jobs: &[(String, String)],
) -> Result<(), String> {
    let expected = expect.as_array().ok_or("expect is not an array")?;
    let job_ids: HashMap<String, String> = jobs
        .iter()
        .map(|(alias, id)| (id.clone(), alias.clone()))
        .collect();
    let mut events = read_events(data_dir)?;
    let mut last_seq = 0;
    for (i, event) in events.iter_mut().enumerate() {
        let before = event.to_string();
        normalize(event, &job_ids, &mut last_seq)
            .map_err(|e| format!("event {i}: {e}: {before}"))?;
    }
    if events.len() != expected.len() {
        let got: Vec<String> = events.iter().map(Value::to_string).collect();
        return Err(format!(
            "{} events written, {} expected; got:\n{}",
            events.len(),
            expected.len(),
            got.join("\n")
        ));
    }
    for (i, (got, want)) in events.iter().zip(expected).enumerate() {
        if !same_json(got, want) {
            return Err(format!("event {i}\n got: {got}\nwant: {want}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_checked_by_kind_and_path() {
        let want = json!({"kind": "invalid_event", "path": "progress"});
        assert!(check_error("invalid_event", "invalid event at progress: too big", &want).is_ok());
        let wrong_kind = check_error("closed", "closed: x", &want).unwrap_err();
        assert!(
            wrong_kind.contains("expected 'invalid_event'"),
            "{wrong_kind}"
        );
        let wrong_path =
            check_error("invalid_event", "invalid event at seq: x", &want).unwrap_err();
        assert!(wrong_path.contains("should name progress"), "{wrong_path}");
        let root = json!({"path": ""});
        assert!(check_error("invalid_config", "invalid config: not an object", &root).is_ok());
        assert!(check_error("invalid_config", "bad", &root).is_err());
    }

    #[test]
    fn normalization_checks_what_it_replaces() {
        let jobs = HashMap::from([("J".to_string(), "j1".to_string())]);
        let mut event = json!({
            "id": "01936f3e-8b6c-7cc0-9a4e-0123456789ab", "time": "2025-01-02T03:04:05.123456Z",
            "seq": 3, "entity": {"kind": "job", "id": "J"}, "metrics": {"duration_s": 0.5}
        });
        let mut last = 2;
        normalize(&mut event, &jobs, &mut last).unwrap();
        assert_eq!(
            event,
            json!({"id": "<id>", "time": "<time>", "seq": "<seq>",
                   "entity": {"kind": "job", "id": "<job:j1>"}, "metrics": {"duration_s": "<number>"}})
        );
        let mut again = json!({"id": "01936f3e-8b6c-7cc0-9a4e-0123456789ab",
                               "time": "2025-01-02T03:04:05.123456Z", "seq": 3, "entity": {}});
        assert!(normalize(&mut again, &jobs, &mut last)
            .unwrap_err()
            .contains("does not increase"));
        let mut bad_time = json!({"id": "01936f3e-8b6c-7cc0-9a4e-0123456789ab",
                                  "time": "2025-01-02T03:04:05Z", "seq": 9, "entity": {}});
        assert!(normalize(&mut bad_time, &jobs, &mut last).is_err());
    }
}
