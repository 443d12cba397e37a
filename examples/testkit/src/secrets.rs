//! What the secret-leak tests share: a marker value to set every secret-bearing key to,
//! and the list of those keys read from the schemas themselves, so a new key whose name
//! says it holds a secret (token, secret, password, key) cannot be left out of the tests.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::schema::{load_json, schema_dir};

/// The value every secret-bearing key is set to; it must show up nowhere.
pub const MARKER: &str = "wm-leak-marker-5b1e9c";

/// One entry per backend type that takes a secret (two where a type takes exclusive
/// credentials), each with every secret-bearing key set to the marker and no retries, all
/// talking to `url`.
pub fn every_backend(url: &str) -> Vec<Value> {
    let aws = json!({"endpoint": url, "region": "eu-west-1", "access_key_id": MARKER,
                     "secret_access_key": MARKER, "session_token": MARKER, "retries": 0});
    let with = |base: Value, extra: &Value| {
        let mut entry = base;
        for (k, v) in extra.as_object().into_iter().flatten() {
            entry[k] = v.clone();
        }
        entry
    };
    vec![
        json!({"type": "sidecar", "url": url, "token": MARKER, "retries": 0}),
        json!({"type": "managed_api", "url": url, "token": MARKER, "retries": 0}),
        json!({"type": "webhook", "url": url, "token": MARKER, "secret": MARKER, "retries": 0}),
        json!({"type": "elk", "name": "elk-basic", "url": url, "username": "u",
               "password": MARKER, "retries": 0}),
        json!({"type": "elk", "name": "elk-key", "url": url, "api_key": MARKER,
               "retries": 0}),
        json!({"type": "elasticsearch", "name": "es-basic", "url": url, "username": "u",
               "password": MARKER, "retries": 0}),
        json!({"type": "elasticsearch", "name": "es-key", "url": url, "api_key": MARKER,
               "retries": 0}),
        json!({"type": "loki", "name": "loki-basic", "url": url, "username": "u",
               "password": MARKER, "retries": 0}),
        json!({"type": "loki", "name": "loki-token", "url": url, "token": MARKER, "retries": 0}),
        with(
            json!({"type": "s3", "bucket": "b", "path_style": true}),
            &aws,
        ),
        with(json!({"type": "cloudwatch", "create": false}), &aws),
        with(json!({"type": "xray"}), &aws),
        with(
            json!({"type": "sqs", "queue_url": format!("{url}/123456789012/events")}),
            &aws,
        ),
        json!({"type": "kafka", "brokers": url.trim_start_matches("http://"), "topic": "events",
               "sasl": {"username": "u", "password": MARKER}, "tls": {"key_password": MARKER},
               "timeout": 2, "retries": 0}),
    ]
}

/// Keys whose name has a secret-like word but that hold none (a message queue's routing key
/// names where messages go, and shows in its errors).
const NOT_SECRETS: &[&str] = &["routing_key"];

/// Whether a key's name says it holds a secret (a `..._file` key names a file: its path is
/// not the secret).
pub fn secret_like(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    if NOT_SECRETS.contains(&name.as_str()) || name.ends_with("_file") {
        return false;
    }
    ["token", "secret", "password", "key"]
        .iter()
        .any(|word| name.contains(word))
}

/// Secret-like property names anywhere under `pointer` of core/schema/`schema`, following
/// the `$ref`s inside that file (not into other files: each file is listed on its own).
pub fn secret_keys(schema: &str, pointer: &str) -> BTreeSet<String> {
    let root = load_json(&schema_dir().join(schema));
    let start = root
        .pointer(pointer)
        .unwrap_or_else(|| panic!("{schema} has nothing at {pointer}"));
    let mut keys = BTreeSet::new();
    collect(&root, start, &mut keys, 0);
    keys
}

/// For each backend type of config.v1, the secret-like keys it takes.
pub fn backend_secret_keys() -> BTreeMap<String, BTreeSet<String>> {
    let root = load_json(&schema_dir().join("config.v1.schema.json"));
    let mut out = BTreeMap::new();
    let backend = &root["$defs"]["backend"];
    for t in backend["properties"]["type"]["enum"]
        .as_array()
        .expect("backend types are an enum")
    {
        out.insert(t.as_str().unwrap_or_default().to_string(), BTreeSet::new());
    }
    for branch in backend["allOf"].as_array().expect("backend has allOf") {
        let when = &branch["if"]["properties"]["type"];
        let types: Vec<&str> = match (&when["const"], &when["enum"]) {
            (Value::String(t), _) => vec![t.as_str()],
            (_, Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => continue,
        };
        let mut keys = BTreeSet::new();
        collect(&root, &branch["then"], &mut keys, 0);
        for t in types {
            out.entry(t.to_string()).or_default().extend(keys.clone());
        }
    }
    out
}

/// The backend types that take a secret, read from the schema.
pub fn secret_backend_types() -> Vec<String> {
    backend_secret_keys()
        .into_iter()
        .filter(|(_, keys)| !keys.is_empty())
        .map(|(t, _)| t)
        .collect()
}

fn collect(root: &Value, node: &Value, keys: &mut BTreeSet<String>, depth: usize) {
    assert!(depth < 64, "the schema's $refs loop");
    match node {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                keys.extend(props.keys().filter(|k| secret_like(k)).cloned());
            }
            if let Some(Value::String(target)) = map.get("$ref") {
                if let Some(local) = target.strip_prefix('#') {
                    if let Some(referred) = root.pointer(local) {
                        collect(root, referred, keys, depth + 1);
                    }
                }
            }
            for value in map.values() {
                collect(root, value, keys, depth + 1);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect(root, item, keys, depth + 1);
            }
        }
        _ => {}
    }
}

/// Names of the keys anywhere in `config` whose value is the marker.
pub fn keys_holding_marker(config: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![config];
    while let Some(node) = stack.pop() {
        match node {
            Value::Object(map) => {
                for (k, v) in map {
                    if v.as_str() == Some(MARKER) {
                        out.insert(k.clone());
                    }
                    stack.push(v);
                }
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out
}

/// Every entry of `entries` (backends or sources, each with a `type`) of each listed type
/// together sets every secret key that type takes to the marker: panics naming what is
/// missing otherwise.
pub fn assert_backend_secrets_covered<T: AsRef<str>>(entries: &[Value], types: &[T]) {
    let wanted = backend_secret_keys();
    for t in types {
        let t = t.as_ref();
        let want = wanted
            .get(t)
            .unwrap_or_else(|| panic!("config.v1 has no backend type {t}"));
        let mut have = BTreeSet::new();
        for entry in entries.iter().filter(|e| e["type"] == *t) {
            have.extend(keys_holding_marker(entry));
        }
        let missing: Vec<&String> = want.difference(&have).collect();
        assert!(
            missing.is_empty(),
            "no {t} entry sets {missing:?} to the marker: add them to the test"
        );
    }
}

/// Panics when `text` (what `what` printed or answered) contains the marker.
pub fn assert_no_marker(what: &str, text: &str) {
    assert!(!text.contains(MARKER), "a secret shows in {what}:\n{text}");
}
