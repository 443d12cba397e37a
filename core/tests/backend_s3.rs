#![cfg(feature = "s3")]
//! The s3 backend against real S3 servers on 127.0.0.1: SeaweedFS (round trip, gzip,
//! overwrite on retry, an outage) and s3s-fs, which checks signatures (wrong secret, missing
//! bucket). Objects are read back with object_store, the same client library the backend
//! uses, but through a client of the test's own.

mod common;

use std::time::Duration;

use object_store::aws::AmazonS3;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::{json, Value};

use common::servers::{server, PrivateServer};
use wafermon::backends::s3::{build_store, layout};
use wafermon::config::{BackendKind, S3Config};
use wafermon::{Client, Config, Event, Kind, NewEvent, Timestamp};

const PATIENCE: Duration = Duration::from_secs(30);
/// The keys scripts/servers/s3s.sh starts s3s-fs with.
const S3S_KEY: &str = "wafermon-key";
const S3S_SECRET: &str = "wafermon-secret";

/// An s3 backend entry for the bucket `wafermon` at `endpoint`, merged with `extra`.
fn s3_entry(endpoint: &str, prefix: &str, extra: Value) -> Value {
    let mut entry = json!({
        "type": "s3", "name": "s3", "bucket": "wafermon", "endpoint": endpoint,
        "path_style": true, "prefix": prefix, "region": "us-east-1",
        "access_key_id": "any", "secret_access_key": "any", "timeout": 5, "retries": 1
    });
    if let (Value::Object(e), Value::Object(x)) = (&mut entry, extra) {
        e.extend(x);
    }
    entry
}

/// A client writing to S3 (and, for comparison, to JSONL files under `dir/data`).
fn client(dir: &std::path::Path, entry: Value) -> Client {
    let config = common::config_in(
        dir,
        json!({
            "direct_backends": [entry, {"type": "filesystem", "path": dir.join("data")}],
            "retry": {"initial_backoff": 0.05, "max_backoff": 0.5}
        }),
    );
    Client::new(Config::from_value(config).expect("valid config")).expect("client starts")
}

fn unique_prefix(test: &str) -> String {
    format!("tests/{test}/{}", uuid::Uuid::now_v7())
}

/// The S3Config of an entry, for a reading client of the test's own.
fn s3_config(entry: &Value) -> S3Config {
    let config = Config::from_value(json!({ "direct_backends": [entry] })).unwrap();
    match &config.direct_backends[0].kind {
        BackendKind::S3(c) => c.clone(),
        _ => unreachable!(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Every object under `prefix`, by key, with its bytes.
fn objects(store: &AmazonS3, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let rt = runtime();
    let mut out = Vec::new();
    let mut folders = vec![Path::from(prefix)];
    while let Some(folder) = folders.pop() {
        let listing = rt
            .block_on(store.list_with_delimiter(Some(&folder)))
            .expect("list");
        folders.extend(listing.common_prefixes);
        for meta in listing.objects {
            let bytes = rt
                .block_on(async { store.get(&meta.location).await?.bytes().await })
                .expect("get");
            out.push((meta.location.to_string(), bytes.to_vec()));
        }
    }
    out.sort();
    out
}

fn lines(body: &[u8], gzip: bool) -> Vec<Value> {
    let text = if gzip {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(body), &mut out)
            .expect("gzip");
        out
    } else {
        String::from_utf8(body.to_vec()).unwrap()
    };
    text.lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// Each object is named as the layout says: its site and hour, after its first event.
fn check_layout(prefix: &str, key: &str, events: &[Value]) {
    let info = layout::parse_key(prefix, key).unwrap_or_else(|| panic!("foreign key {key}"));
    assert_eq!(info.gzip, key.ends_with(".gz"));
    let name = key.rsplit('/').next().unwrap();
    assert_eq!(
        name.split('.').next().unwrap(),
        events[0]["id"].as_str().unwrap()
    );
    for e in events {
        assert_eq!(
            layout::site_segment(e["site"].as_str().unwrap()),
            info.site_segment
        );
        let t = Timestamp::parse(e["time"].as_str().unwrap()).unwrap();
        assert_eq!(layout::hour_of(t.unix_micros()), info.hour, "{key}: {e}");
    }
}

/// All events in the objects under `prefix`, by seq, after checking the layout.
fn events_in(store: &AmazonS3, prefix: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for (key, body) in objects(store, prefix) {
        let events = lines(&body, key.ends_with(".gz"));
        check_layout(prefix, &key, &events);
        all.extend(events);
    }
    all.sort_by_key(|e| e["seq"].as_u64());
    all
}

fn emit_jobs(client: &Client, n: usize, base: i64) {
    for i in 0..n {
        let id = format!("J-{i}");
        let at = |s: i64| Timestamp::from_unix_micros(base + (i as i64) * 1_000_000 + s);
        client
            .emit(
                &NewEvent::new(Kind::Started, "job", &id)
                    .name("etch")
                    .time(at(0)),
            )
            .unwrap();
        client
            .emit(
                &NewEvent::new(Kind::Progress, "job", &id)
                    .progress(50.0)
                    .metric("wafers", 25.0)
                    .attr("tool", "ETCH-03")
                    .message("halfway ü")
                    .time(at(1)),
            )
            .unwrap();
        client
            .emit(&NewEvent::new(Kind::Finished, "job", &id).time(at(2)))
            .unwrap();
    }
}

fn stats_of(client: &Client) -> wafermon::BackendStats {
    client
        .stats()
        .backends
        .into_iter()
        .find(|b| b.name == "s3")
        .unwrap()
}

fn assert_same_events(got: &[Value], want: &[Value]) {
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (g, w) in got.iter().zip(want) {
        assert!(common::same_json(g, w), "{g} != {w}");
    }
}

fn now_micros() -> i64 {
    Timestamp::now().unix_micros()
}

#[test]
fn round_trip_on_seaweedfs_reads_back_the_same_events() {
    let endpoint = server("seaweedfs");
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique_prefix("round-trip");
    let entry = s3_entry(&endpoint, &prefix, json!({}));
    let client = client(dir.path(), entry.clone());
    // Across an hour boundary, so the batch is split into two objects.
    let hour = layout::HOUR_MICROS;
    let base = (now_micros() / hour + 1) * hour - 2_000_000;
    emit_jobs(&client, 4, base);
    client.flush(PATIENCE).expect("flushed");
    let stats = stats_of(&client);
    assert_eq!((stats.sent, stats.failed), (12, 0), "{stats:?}");

    let store = build_store(&s3_config(&entry)).unwrap();
    let got = events_in(&store, &prefix);
    let want = common::read_events(&dir.path().join("data"));
    assert_same_events(&got, &want);
    let validator = common::schema_validator("event.v1.schema.json");
    for e in &got {
        assert!(validator.is_valid(e), "{e}");
    }
    let hours: std::collections::BTreeSet<_> = objects(&store, &prefix)
        .iter()
        .map(|(k, _)| layout::parse_key(&prefix, k).unwrap().hour)
        .collect();
    assert_eq!(hours.len(), 2, "one object per hour at least: {got:#?}");
    assert_eq!(got[0]["message"], Value::Null);
    assert_eq!(got[1]["metrics"]["wafers"], json!(25.0));
    assert_eq!(got[1]["attrs"]["tool"], "ETCH-03");
    assert_eq!(got[1]["message"], "halfway ü");
    client.close(PATIENCE);
}

#[test]
fn gzip_objects_hold_the_same_events() {
    let endpoint = server("seaweedfs");
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique_prefix("gzip");
    let entry = s3_entry(&endpoint, &prefix, json!({"compression": "gzip"}));
    let client = client(dir.path(), entry.clone());
    emit_jobs(&client, 5, now_micros());
    client.flush(PATIENCE).expect("flushed");
    let store = build_store(&s3_config(&entry)).unwrap();
    let keys: Vec<String> = objects(&store, &prefix).into_iter().map(|o| o.0).collect();
    assert!(!keys.is_empty());
    assert!(keys.iter().all(|k| k.ends_with(".jsonl.gz")), "{keys:?}");
    let got = events_in(&store, &prefix);
    assert_same_events(&got, &common::read_events(&dir.path().join("data")));
    client.close(PATIENCE);
}

fn event_at(seq: u64, site: &str, micros: i64) -> Event {
    let time = Timestamp::from_unix_micros(micros);
    let id = wafermon::event::new_v7(time.unix_millis());
    wafermon::event::parse_complete_event(&json!({
        "v": 1, "id": id, "seq": seq, "time": time, "site": site,
        "app": {"name": "etch"}, "entity": {"kind": "job", "id": format!("J-{seq}")},
        "kind": "started", "status": "running"
    }))
    .unwrap()
}

#[test]
fn a_retried_batch_overwrites_its_objects() {
    let endpoint = server("seaweedfs");
    let prefix = unique_prefix("retry");
    let entry = s3_entry(&endpoint, &prefix, json!({}));
    let config = Config::from_value(json!({ "direct_backends": [entry] })).unwrap();
    let mut backend = wafermon::backends::build(&config.direct_backends[0], &config.app).unwrap();
    let hour = layout::HOUR_MICROS;
    let t = 1_790_000_000_000_000 / hour * hour;
    // Two sites and two hours: four objects.
    let events = vec![
        event_at(1, "fab1", t + 10),
        event_at(2, "fab2", t + 20),
        event_at(3, "fab1", t + hour + 30),
        event_at(4, "fab1", t + 40),
        event_at(5, "fab2", t + hour + 50),
    ];
    let batch = wafermon::Batch::from_events(&events);
    backend.send(&batch).expect("first attempt");
    let store = build_store(&s3_config(&entry)).unwrap();
    let first = objects(&store, &prefix);
    backend.send(&batch).expect("the retry");
    let second = objects(&store, &prefix);
    assert_eq!(first, second, "same keys, same bodies");
    let keys: Vec<&str> = second.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    let got = events_in(&store, &prefix);
    let ids: Vec<String> = got
        .iter()
        .map(|e| e["id"].as_str().unwrap().into())
        .collect();
    let want: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(ids, want);
    let fab1_first = format!("{}.jsonl", events[0].id);
    assert!(keys
        .iter()
        .any(|k| k.contains("/fab1/") && k.ends_with(&fab1_first)));
}

#[test]
fn an_outage_loses_nothing() {
    let data = tempfile::tempdir().unwrap();
    let seaweed = PrivateServer::start("seaweedfs", data.path());
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique_prefix("outage");
    let entry = s3_entry(&seaweed.address, &prefix, json!({"timeout": 2}));
    let client = client(dir.path(), entry.clone());
    emit_jobs(&client, 2, now_micros());
    client.flush(PATIENCE).expect("delivered before the outage");

    seaweed.stop();
    emit_jobs(&client, 3, now_micros());
    // Nothing can be delivered now: the flush gives up, and the lane says why.
    assert!(client.flush(Duration::from_secs(3)).is_err());
    let during = stats_of(&client);
    assert!(during.retried > 0, "{during:?}");
    assert!(!during.healthy);
    assert!(during.last_error.is_some());
    assert_eq!(during.failed, 0);

    seaweed.restart();
    client
        .flush(Duration::from_secs(120))
        .expect("delivered after the outage");
    let after = stats_of(&client);
    assert_eq!(
        (after.sent, after.failed, after.dropped),
        (15, 0, 0),
        "{after:?}"
    );
    let store = build_store(&s3_config(&entry)).unwrap();
    let got = events_in(&store, &prefix);
    let want = common::read_events(&dir.path().join("data"));
    assert_eq!(want.len(), 15);
    assert_same_events(&got, &want);
    client.close(PATIENCE);
}

#[test]
fn a_wrong_secret_is_a_permanent_error_with_the_servers_reason() {
    let endpoint = server("s3s");
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique_prefix("wrong-secret");
    let entry = s3_entry(
        &endpoint,
        &prefix,
        json!({"access_key_id": S3S_KEY, "secret_access_key": "not-the-secret"}),
    );
    let client = client(dir.path(), entry);
    emit_jobs(&client, 2, now_micros());
    // Settled (as failed) rather than retried: the flush completes.
    client.flush(PATIENCE).expect("settled");
    let stats = stats_of(&client);
    assert_eq!(
        (stats.sent, stats.failed, stats.retried),
        (0, 6, 0),
        "{stats:?}"
    );
    let error = stats.last_error.unwrap_or_default();
    assert!(error.contains("SignatureDoesNotMatch"), "{error}");
    assert!(error.contains("403"), "{error}");
    assert!(stats.healthy, "a permanent error is not an outage");
    client.close(PATIENCE);
}

#[test]
fn the_right_secret_works_on_s3s() {
    let endpoint = server("s3s");
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique_prefix("right-secret");
    let entry = s3_entry(
        &endpoint,
        &prefix,
        json!({"access_key_id": S3S_KEY, "secret_access_key": S3S_SECRET, "compression": "gzip"}),
    );
    let client = client(dir.path(), entry.clone());
    emit_jobs(&client, 3, now_micros());
    client.flush(PATIENCE).expect("flushed");
    let stats = stats_of(&client);
    assert_eq!((stats.sent, stats.failed), (9, 0), "{stats:?}");
    let store = build_store(&s3_config(&entry)).unwrap();
    assert_same_events(
        &events_in(&store, &prefix),
        &common::read_events(&dir.path().join("data")),
    );
    client.close(PATIENCE);
}

#[test]
fn an_unknown_key_or_bucket_is_permanent() {
    let s3s = server("s3s");
    let seaweed = server("seaweedfs");
    for (endpoint, extra, reason) in [
        (
            &s3s,
            json!({"access_key_id": "nobody", "secret_access_key": S3S_SECRET}),
            // s3s-fs's code for a key it does not know (AWS says InvalidAccessKeyId).
            "NotSignedUp",
        ),
        // s3s-fs makes a missing bucket on the fly; SeaweedFS answers 403 AccessDenied
        // (AWS: 404 NoSuchBucket, permanent as well: see the unit tests of the classifier).
        (
            &seaweed,
            json!({"bucket": "no-such-bucket"}),
            "AccessDenied",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let client = client(dir.path(), s3_entry(endpoint, "p", extra));
        emit_jobs(&client, 1, now_micros());
        client.flush(PATIENCE).expect("settled");
        let stats = stats_of(&client);
        assert_eq!(
            (stats.sent, stats.failed, stats.retried),
            (0, 3, 0),
            "{stats:?}"
        );
        let error = stats.last_error.unwrap_or_default();
        assert!(error.contains(reason), "{reason}: {error}");
        client.close(PATIENCE);
    }
}

#[test]
fn config_errors_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (json!({"type": "s3"}), "bucket"),
        (json!({"type": "s3", "bucket": ""}), "bucket"),
        (
            json!({"type": "s3", "bucket": "b", "compression": "zip"}),
            "compression",
        ),
        (
            json!({"type": "s3", "bucket": "b", "endpoint": "ftp://x"}),
            "endpoint",
        ),
        (
            json!({"type": "s3", "bucket": "b", "access_key_id": "k"}),
            "secret_access_key",
        ),
        (
            json!({"type": "s3", "bucket": "b", "buckett": "x"}),
            "buckett",
        ),
        (
            json!({"type": "s3", "bucket": "b", "prefix": "a/../b"}),
            "prefix",
        ),
        (
            json!({"type": "s3", "bucket": "b", "endpoint": "http://127.0.0.1:8333"}),
            "path_style",
        ),
    ];
    for (entry, field) in cases {
        let config = common::config_in(dir.path(), json!({ "direct_backends": [entry] }));
        let error = match Config::from_value(config) {
            Err(e) => e,
            Ok(config) => Client::new(config).err().expect("the client refuses it"),
        };
        assert_eq!(error.kind(), wafermon::ErrorKind::InvalidConfig, "{error}");
        let path = error.path().unwrap_or_default();
        assert!(
            path.ends_with(field) || error.message().contains(field),
            "{field}: {path}: {error}"
        );
    }
}
