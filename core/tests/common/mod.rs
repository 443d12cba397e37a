//! Helpers shared by the integration tests: a client's config and reading back what the
//! filesystem backend wrote (the core's conformance checker's own, panicking where it
//! returns an error), JSON comparison by value, and forked children.
#![allow(dead_code)]

pub mod fork;
pub mod logs;

// Not every test binary uses each of these.
#[allow(unused_imports)]
pub use wafermon::skin::conformance::same_json;
#[allow(unused_imports)]
pub use wafermon_testkit::{load_json, schema_validator, servers};

use std::path::{Path, PathBuf};

use serde_json::Value;
use wafermon::skin::conformance;

pub fn core_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A config writing JSONL under `dir/data` with its spool under `dir/spool`, merged with
/// `extra` (objects merged one level deep): a conformance scenario's config.
pub fn config_in(dir: &Path, extra: Value) -> Value {
    conformance::scenario_config(dir, &extra)
}

/// Every event in every `*.jsonl` file under `dir`, sorted by `seq`; panics on a file it
/// cannot read or a line that is not JSON.
pub fn read_events(dir: &Path) -> Vec<Value> {
    conformance::read_events(dir).unwrap_or_else(|e| panic!("{e}"))
}

/// A client whose events go to the filesystem backend under `dir/data` (what a backend's
/// test compares its server's copy with) and to `backend`, flushing every 50 ms.
pub fn client_beside_filesystem(dir: &Path, app: &str, backend: Value) -> wafermon::Client {
    let config = config_in(
        dir,
        serde_json::json!({
            "app": {"name": app},
            "direct_backends": [{"type": "filesystem", "path": dir.join("data")}, backend],
            "batch": {"flush_interval": 0.05},
        }),
    );
    wafermon::Client::new(wafermon::Config::from_value(config).unwrap()).unwrap()
}

/// The stats of the client's backend named `name`.
pub fn backend_stats(client: &wafermon::Client, name: &str) -> wafermon::BackendStats {
    let stats = client.stats();
    stats.backends.into_iter().find(|b| b.name == name).unwrap()
}

/// `base` (an object) with the keys of `extra` set.
pub fn with_keys(mut base: Value, extra: Value) -> Value {
    if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
        b.extend(e);
    }
    base
}

/// A lot with `wafers` wafers, each with a step under it: 2 + 5 * wafers events.
pub fn run_lot(client: &wafermon::Client, lot: &str, wafers: usize) {
    let job = client
        .job("lot-dispatch")
        .kind("lot")
        .id(lot)
        .start()
        .unwrap();
    for _ in 0..wafers {
        let wafer = job.subjob("coat").kind("wafer").start().unwrap();
        let step = wafer.subjob("bake").kind("step").start().unwrap();
        step.finish().unwrap();
        wafer.progress_with(50.0, "half way ü").unwrap();
        wafer.finish().unwrap();
    }
    job.finish().unwrap();
}

/// Event number `n` of wafer `w-<n>` (seq `n`, a microsecond apart), of `kind`, with
/// `message`: a batch built by hand, for a backend's limits.
pub fn wafer_event(n: u64, kind: wafermon::Kind, message: String) -> wafermon::Event {
    let time = wafermon::Timestamp::from_unix_micros(1_700_000_000_000_000 + n as i64);
    wafermon::Event {
        v: 1,
        id: wafermon::event::new_v7(time.unix_millis()),
        seq: n,
        time,
        site: "F1".into(),
        app: wafermon::event::App {
            name: "etch-app".into(),
            version: None,
            instance: None,
        },
        entity: wafermon::event::Entity::new("wafer", format!("w-{n}")),
        kind,
        status: wafermon::Status::Running,
        progress: None,
        level: Some(wafermon::Level::Info),
        message: Some(message),
        metrics: std::collections::BTreeMap::new(),
        attrs: std::collections::BTreeMap::new(),
    }
}

/// The writer of one backend entry, built on its own (no client, no lane), to send batches
/// built by hand.
pub fn direct_backend(entry: Value) -> Box<dyn wafermon::backends::Backend> {
    let config =
        wafermon::Config::from_value(serde_json::json!({"direct_backends": [entry]})).unwrap();
    wafermon::backends::build(&config.direct_backends[0], &config.app).unwrap()
}
