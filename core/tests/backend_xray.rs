//! The xray backend against moto server on 127.0.0.1: segments read back with X-Ray's own
//! GetTraceSummaries and BatchGetTraces. Tests find their segments by their own entity ids
//! (UUIDv7s), so they share the default moto without seeing each other's traces; the outage
//! test runs a private moto.
#![cfg(feature = "xray")]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::config_in;
use common::servers::{server, PrivateServer};
use serde_json::{json, Value};
use wafermon::backends::aws::AwsClient;
use wafermon::backends::{build, Backend};
use wafermon::config::AwsConfig;
use wafermon::event::{App, Entity};
use wafermon::{Batch, Client, Config, Event, Kind, Status, Timestamp};

fn xray_api(endpoint: &str) -> AwsClient {
    let config = AwsConfig {
        region: Some("eu-west-1".into()),
        endpoint: Some(endpoint.into()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        session_token: None,
    };
    AwsClient::new(&config, "xray", Duration::from_secs(10)).unwrap()
}

/// Every segment document of every trace of the last hour (and the next), parsed.
fn segments(endpoint: &str) -> Vec<Value> {
    let api = xray_api(endpoint);
    let now = Timestamp::now().unix_millis() / 1000;
    let summaries = api
        .post_rest_json(
            "/TraceSummaries",
            &json!({"StartTime": now - 7200, "EndTime": now + 3600}),
        )
        .unwrap();
    let ids: Vec<&str> = summaries["TraceSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Id"].as_str().unwrap())
        .collect();
    let mut out = Vec::new();
    for chunk in ids.chunks(5) {
        let traces = api
            .post_rest_json("/Traces", &json!({"TraceIds": chunk}))
            .unwrap();
        for trace in traces["Traces"].as_array().unwrap() {
            for segment in trace["Segments"].as_array().unwrap() {
                out.push(serde_json::from_str(segment["Document"].as_str().unwrap()).unwrap());
            }
        }
    }
    out
}

fn segment_of<'a>(segments: &'a [Value], entity_id: &str) -> Vec<&'a Value> {
    segments
        .iter()
        .filter(|s| s["annotations"]["entity_id"] == entity_id)
        .collect()
}

fn backend_json(endpoint: &str) -> Value {
    json!({"type": "xray", "name": "xr", "endpoint": endpoint, "region": "eu-west-1",
           "access_key_id": "testing", "secret_access_key": "testing", "timeout": 5})
}

fn client_with(dir: &std::path::Path, backend: Value) -> Client {
    let config = config_in(dir, json!({"direct_backends": [backend]}));
    Client::new(Config::from_value(config).unwrap()).unwrap()
}

fn xray_stats(client: &Client) -> wafermon::BackendStats {
    client
        .stats()
        .backends
        .into_iter()
        .find(|b| b.name == "xr")
        .unwrap()
}

#[test]
fn jobs_become_segments_and_subjobs_subsegments() {
    let endpoint = server("moto");
    let dir = tempfile::tempdir().unwrap();
    let client = client_with(dir.path(), backend_json(&endpoint));
    let job = client.job("etch").key("LOT42").start().unwrap();
    let rinse = job.subjob("rinse").start().unwrap();
    let rinse_id = rinse.id().to_string();
    rinse.finish().unwrap();
    let dry = job.subjob("dry").start().unwrap();
    let dry_id = dry.id().to_string();
    dry.fail("heater off").unwrap();
    let job_id = job.id().to_string();
    job.finish().unwrap();
    let canceled = client.job("anneal").start().unwrap();
    let canceled_id = canceled.id().to_string();
    canceled.cancel("operator").unwrap();
    client.flush(Duration::from_secs(30)).unwrap();
    let stats = xray_stats(&client);
    assert_eq!((stats.sent, stats.failed), (8, 0), "{stats:?}");

    let all = segments(&endpoint);
    let job_seg = segment_of(&all, &job_id);
    assert_eq!(job_seg.len(), 1, "{all:#?}");
    let job_seg = job_seg[0];
    assert_eq!(job_seg["name"], "etch");
    assert_eq!(job_seg["annotations"]["key"], "LOT42");
    assert_eq!(job_seg["annotations"]["status"], "succeeded");
    assert!(job_seg.get("type").is_none() && job_seg.get("parent_id").is_none());
    assert!(job_seg.get("fault").is_none() && job_seg.get("error").is_none());
    assert!(job_seg["start_time"].as_f64() <= job_seg["end_time"].as_f64());
    let trace = job_seg["trace_id"].as_str().unwrap();
    let parts: Vec<&str> = trace.split('-').collect();
    assert_eq!(
        (parts.len(), parts[1].len(), parts[2].len()),
        (3, 8, 24),
        "{trace}"
    );
    assert_eq!(job_seg["id"].as_str().unwrap().len(), 16);
    assert!(job_seg["metadata"]["wafermon"]["metrics"]["duration_s"]
        .as_f64()
        .is_some());

    for (sub, name, fault) in [(&rinse_id, "rinse", false), (&dry_id, "dry", true)] {
        let seg = segment_of(&all, sub);
        assert_eq!(seg.len(), 1);
        let seg = seg[0];
        assert_eq!(seg["type"], "subsegment");
        assert_eq!(seg["name"], name);
        assert_eq!(seg["trace_id"], trace, "subjobs are in their job's trace");
        assert_eq!(seg["parent_id"], job_seg["id"]);
        assert_eq!(seg.get("fault").is_some(), fault);
    }
    let seg = segment_of(&all, &canceled_id);
    assert_eq!(seg[0]["error"], true);
    assert_ne!(seg[0]["trace_id"], trace);

    // The summary of the job's trace says it holds a fault.
    let now = Timestamp::now().unix_millis() / 1000;
    let summaries = xray_api(&endpoint)
        .post_rest_json(
            "/TraceSummaries",
            &json!({"StartTime": now - 7200, "EndTime": now + 3600}),
        )
        .unwrap();
    let summary = summaries["TraceSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Id"] == trace)
        .unwrap();
    assert_eq!(summary["HasFault"], true);
    client.close(Duration::from_secs(5));
}

fn ending(entity_id: &str, parent: Option<&str>, kind: Kind, micros: i64) -> Event {
    let time = Timestamp::from_unix_micros(micros);
    let mut entity = Entity::new(if parent.is_some() { "subjob" } else { "job" }, entity_id);
    entity.name = Some("polish".into());
    entity.parent = parent.map(str::to_string);
    Event {
        v: 1,
        id: wafermon::event::new_v7(time.unix_millis()),
        seq: 1,
        time,
        site: "F1".into(),
        app: App {
            name: "cmp".into(),
            version: Some("2.0".into()),
            instance: None,
        },
        entity,
        kind,
        status: kind.implied_status().unwrap_or(Status::Running),
        progress: None,
        level: None,
        message: None,
        metrics: BTreeMap::new(),
        attrs: BTreeMap::new(),
    }
}

fn direct(endpoint: &str) -> Box<dyn Backend> {
    let config = Config::from_value(json!({"direct_backends": [backend_json(endpoint)]})).unwrap();
    build(&config.direct_backends[0], &config.app).unwrap()
}

#[test]
fn a_retried_batch_keeps_its_ids_and_an_end_without_start_says_so() {
    let endpoint = server("moto");
    let now = Timestamp::now().unix_micros();
    let job = uuid::Uuid::now_v7().to_string();
    let step = uuid::Uuid::now_v7().to_string();
    let events = vec![
        ending(&job, None, Kind::Started, now - 2_000_000),
        ending(&step, Some(&job), Kind::Finished, now - 1_000_000),
        ending(&job, None, Kind::Finished, now),
    ];
    let batch = Batch::from_events(&events);
    // One backend per "process": the second never saw the started event.
    direct(&endpoint).send(&batch).unwrap();
    direct(&endpoint)
        .send(&Batch::from_events(&events[1..]))
        .unwrap();
    let all = segments(&endpoint);
    let jobs = segment_of(&all, &job);
    assert_eq!(
        jobs.len(),
        2,
        "moto keeps both copies; X-Ray keeps one per id"
    );
    assert_eq!(jobs[0]["id"], jobs[1]["id"]);
    assert_eq!(
        jobs[0]["trace_id"], jobs[1]["trace_id"],
        "no new trace on a retry"
    );
    let (known, unknown): (Vec<&&Value>, Vec<&&Value>) = jobs
        .iter()
        .partition(|s| s["annotations"].get("start_unknown").is_none());
    assert!(
        known[0]["end_time"].as_f64().unwrap() - known[0]["start_time"].as_f64().unwrap() > 1.5
    );
    assert_eq!(unknown[0]["start_time"], unknown[0]["end_time"]);
    assert!(unknown[0]["metadata"]["wafermon"]["note"].is_string());
    let steps = segment_of(&all, &step);
    assert_eq!(steps.len(), 2);
    assert!(steps.iter().all(|s| s["trace_id"] == jobs[0]["trace_id"]));
    assert_eq!(jobs[0]["service"]["version"], "2.0");
}

#[test]
fn a_wrong_endpoint_is_a_permanent_error_not_retried_forever() {
    let endpoint = format!("{}/no-such-api", server("moto"));
    let dir = tempfile::tempdir().unwrap();
    let client = client_with(dir.path(), backend_json(&endpoint));
    client.job("etch").start().unwrap().finish().unwrap();
    client.flush(Duration::from_secs(30)).unwrap();
    let stats = xray_stats(&client);
    // The started event has nothing to send (its time waits for the ending): delivered.
    assert_eq!((stats.sent, stats.failed), (1, 1), "{stats:?}");
    assert!(
        stats
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("HTTP 404"),
        "{stats:?}"
    );
    client.close(Duration::from_secs(5));
}

#[test]
fn an_outage_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let moto = PrivateServer::start("moto", &dir.path().join("moto"));
    let client = client_with(dir.path(), {
        let mut b = backend_json(&moto.address);
        b["timeout"] = json!(2);
        b
    });
    moto.stop();
    let ids: Vec<String> = (0..10)
        .map(|_| {
            let job = client.job("etch").start().unwrap();
            let id = job.id().to_string();
            job.finish().unwrap();
            id
        })
        .collect();
    assert!(
        client.flush(Duration::from_millis(500)).is_err(),
        "moto is down"
    );
    moto.restart();
    client.flush(Duration::from_secs(60)).unwrap();
    let all = segments(&moto.address);
    for id in &ids {
        assert_eq!(segment_of(&all, id).len(), 1, "{id}");
    }
    let stats = xray_stats(&client);
    assert_eq!((stats.sent, stats.failed), (20, 0), "{stats:?}");
    client.close(Duration::from_secs(5));
}

#[test]
fn missing_credentials_name_the_keys() {
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        std::env::remove_var(var);
    }
    let config = Config::from_value(json!({"direct_backends": [
        {"type": "xray", "name": "xr", "endpoint": "http://127.0.0.1:5000"}]}))
    .unwrap();
    let e = build(&config.direct_backends[0], &config.app)
        .err()
        .unwrap();
    assert_eq!(e.path(), Some("backend 'xr'.access_key_id"), "{e}");
    assert!(e.message().contains("AWS_SECRET_ACCESS_KEY"), "{e}");
}
