//! Helpers shared by the integration tests: temporary clients and reading back what the
//! filesystem backend wrote.
#![allow(dead_code)]

// Not every test binary uses each of these.
#[allow(unused_imports)]
pub use wafermon_testkit::{load_json, same_json, schema_validator, servers};

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

pub fn core_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A config writing JSONL under `dir/data` with its spool under `dir/spool`, merged with
/// `extra` (objects merged one level deep).
pub fn config_in(dir: &Path, extra: Value) -> Value {
    let mut config = json!({
        "app": {"name": "test-app", "version": "1.0", "site_id": "fab-t", "instance_id": "i-1"},
        "direct_backends": [{"type": "filesystem", "path": dir.join("data")}],
        "spool": {"path": dir.join("spool")},
        "batch": {"flush_interval": 0.05}
    });
    if let (Value::Object(base), Value::Object(extra)) = (&mut config, extra) {
        for (k, v) in extra {
            match (base.get_mut(&k), v) {
                (Some(Value::Object(b)), Value::Object(e)) => b.extend(e),
                (_, v) => {
                    base.insert(k, v);
                }
            }
        }
    }
    config
}

/// Every event in every `*.jsonl` file under `dir`, sorted by `seq`.
pub fn read_events(dir: &Path) -> Vec<Value> {
    let mut events = Vec::new();
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
                let text = std::fs::read_to_string(&path).unwrap();
                for line in text.lines().filter(|l| !l.is_empty()) {
                    events.push(
                        serde_json::from_str::<Value>(line).unwrap_or_else(|e| {
                            panic!("bad line in {}: {e}: {line}", path.display())
                        }),
                    );
                }
            }
        }
    }
    events.sort_by_key(|e| e["seq"].as_u64().unwrap_or(0));
    events
}
