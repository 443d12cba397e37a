//! The cloudwatch backend against moto server (an AWS emulator) on 127.0.0.1: events read
//! back with CloudWatch Logs' and CloudWatch Metrics' own APIs. Every test uses its own log
//! group and namespace, so tests sharing the default moto never see each other's data; the
//! outage test runs a private moto.
#![cfg(feature = "cloudwatch")]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::servers::{server, PrivateServer};
use common::{config_in, read_events, same_json};
use serde_json::{json, Value};
use wafermon::backends::aws::AwsClient;
use wafermon::backends::{build, DeliveryError};
use wafermon::config::AwsConfig;
use wafermon::event::{App, Entity};
use wafermon::{Batch, Client, Config, Event, Kind, NewEvent, Status, Timestamp};

fn moto() -> String {
    server("moto")
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::now_v7().simple())
}

fn aws_config(endpoint: &str) -> AwsConfig {
    AwsConfig {
        region: Some("eu-west-1".into()),
        endpoint: Some(endpoint.into()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        session_token: None,
    }
}

fn logs_api(endpoint: &str) -> AwsClient {
    AwsClient::new(&aws_config(endpoint), "logs", Duration::from_secs(10)).unwrap()
}

fn logs_call(endpoint: &str, action: &str, body: Value) -> Value {
    logs_api(endpoint)
        .call_json("1.1", &format!("Logs_20140328.{action}"), &body)
        .unwrap_or_else(|e| panic!("{action}: {e}"))
}

fn metrics_call(endpoint: &str, action: &str, body: Value) -> Value {
    AwsClient::new(&aws_config(endpoint), "monitoring", Duration::from_secs(10))
        .unwrap()
        .call_json(
            "1.0",
            &format!("GraniteServiceVersion20100801.{action}"),
            &body,
        )
        .unwrap_or_else(|e| panic!("{action}: {e}"))
}

/// Every event in the group, parsed back from the log lines, in the service's order.
fn logged_events(endpoint: &str, group: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut body = json!({"logGroupName": group, "interleaved": true});
        if let Some(t) = &token {
            body["nextToken"] = json!(t);
        }
        let page = logs_call(endpoint, "FilterLogEvents", body);
        for e in page["events"].as_array().unwrap() {
            let event: Value = serde_json::from_str(e["message"].as_str().unwrap()).unwrap();
            let time = Timestamp::parse(event["time"].as_str().unwrap()).unwrap();
            assert_eq!(e["timestamp"].as_i64(), Some(time.unix_millis()));
            events.push(event);
        }
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return events,
        }
    }
}

fn backend_json(endpoint: &str, group: &str, extra: Value) -> Value {
    let mut b = json!({
        "type": "cloudwatch", "name": "cw", "endpoint": endpoint, "region": "eu-west-1",
        "access_key_id": "testing", "secret_access_key": "testing",
        "log_group": group, "namespace": null, "timeout": 5
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut b, extra) {
        b.extend(e);
    }
    b
}

fn client_with(dir: &std::path::Path, backend: Value) -> Client {
    client_of(dir, "test-app", backend)
}

fn client_of(dir: &std::path::Path, app: &str, backend: Value) -> Client {
    let config = config_in(
        dir,
        json!({
            "app": {"name": app},
            "direct_backends": [{"type": "filesystem", "path": dir.join("data")}, backend],
            "batch": {"flush_interval": 0.05},
        }),
    );
    Client::new(Config::from_value(config).unwrap()).unwrap()
}

fn event_at(n: u64, micros: i64, message: &str) -> Event {
    let time = Timestamp::from_unix_micros(micros);
    let mut entity = Entity::new("job", format!("job-{n}"));
    entity.name = Some("etch".into());
    Event {
        v: 1,
        id: wafermon::event::new_v7(time.unix_millis()),
        seq: n,
        time,
        site: "F1".into(),
        app: App {
            name: "etch-app".into(),
            version: None,
            instance: Some("host-1".into()),
        },
        entity,
        kind: Kind::Log,
        status: Status::Running,
        progress: None,
        level: Some(wafermon::Level::Info),
        message: Some(message.into()),
        metrics: BTreeMap::new(),
        attrs: BTreeMap::new(),
    }
}

fn direct_backend(
    endpoint: &str,
    group: &str,
    extra: Value,
) -> Box<dyn wafermon::backends::Backend> {
    let config =
        Config::from_value(json!({"direct_backends": [backend_json(endpoint, group, extra)]}))
            .unwrap();
    build(&config.direct_backends[0], &config.app).unwrap()
}

#[test]
fn round_trip_logs_and_metrics() {
    let endpoint = moto();
    let dir = tempfile::tempdir().unwrap();
    let group = unique("/wafermon/test/round-trip-");
    let namespace = unique("WafermonTest");
    // A unique app too: moto's GetMetricData drops the namespace from its match when
    // dimensions are given, so only unique dimensions keep tests apart.
    let app = unique("rt-");
    let client = client_of(
        dir.path(),
        &app,
        backend_json(&endpoint, &group, json!({"namespace": namespace})),
    );
    let job = client
        .job("etch")
        .key("LOT42")
        .attr("tool", "ETCH-03")
        .start()
        .unwrap();
    job.progress_with(50.0, "slot 12 of 25 ü").unwrap();
    job.metric("temperature_c", 21.5).unwrap();
    let sub = job.subjob("rinse").start().unwrap();
    sub.fail("nozzle clogged").unwrap();
    job.finish().unwrap();
    client.flush(Duration::from_secs(30)).unwrap();

    let stats = client.stats();
    let cw = stats.backends.iter().find(|b| b.name == "cw").unwrap();
    assert_eq!((cw.sent, cw.failed), (6, 0), "{cw:?}");

    // The same events, field for field, as the filesystem backend wrote.
    let written = read_events(&dir.path().join("data"));
    let mut logged = logged_events(&endpoint, &group);
    logged.sort_by_key(|e| e["seq"].as_u64());
    assert_eq!(logged.len(), written.len());
    for (a, b) in logged.iter().zip(&written) {
        assert!(same_json(a, b), "{a}\n{b}");
    }
    let stream = logs_call(
        &endpoint,
        "DescribeLogStreams",
        json!({"logGroupName": group}),
    );
    assert_eq!(
        stream["logStreams"][0]["logStreamName"],
        format!("{app}/i-1")
    );

    // Metrics: a completion per ending, plus the resource metrics of the finish events.
    let listed = metrics_call(&endpoint, "ListMetrics", json!({"Namespace": namespace}));
    let mut names: Vec<String> = listed["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["MetricName"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(
        names,
        [
            "completions",
            "cpu_system_s",
            "cpu_user_s",
            "duration_s",
            "max_rss_bytes"
        ]
    );
    let dims = |status: &str, kind: &str| {
        json!([{"Name": "Site", "Value": "fab-t"}, {"Name": "App", "Value": app},
               {"Name": "Status", "Value": status}, {"Name": "EntityKind", "Value": kind}])
    };
    let now = Timestamp::now().unix_micros() as f64 / 1e6;
    let query = |id: &str, name: &str, dims: Value| {
        json!({"Id": id, "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": name,
               "Dimensions": dims}, "Period": 60, "Stat": "Sum"}})
    };
    let data = metrics_call(
        &endpoint,
        "GetMetricData",
        json!({"StartTime": now - 3600.0, "EndTime": now + 3600.0, "MetricDataQueries": [
            query("done", "completions", dims("succeeded", "job")),
            query("failed", "completions", dims("failed", "subjob")),
            query("rss", "max_rss_bytes", dims("succeeded", "job")),
        ]}),
    );
    let sum = |id: &str| -> f64 {
        data["MetricDataResults"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["Id"] == id)
            .map(|r| {
                r["Values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .sum()
            })
            .unwrap()
    };
    assert_eq!(sum("done"), 1.0);
    assert_eq!(sum("failed"), 1.0);
    assert!(sum("rss") > 0.0, "{data}");
    client.close(Duration::from_secs(5));
}

#[test]
fn requests_are_split_by_count_bytes_and_span_and_sent_in_order() {
    let endpoint = moto();
    let group = unique("/wafermon/test/limits-");
    let mut backend = direct_backend(&endpoint, &group, json!({}));
    let now = Timestamp::now().unix_micros();
    let hour = 3_600_000_000;
    // 12,000 events (over 10,000 a request), 2 MB of messages (over 1 MiB), spread over
    // three days (over 24 h), handed over newest first (PutLogEvents wants them oldest first).
    let big = "x".repeat(170);
    let mut events: Vec<Event> = (0..12_000u64)
        // 21.6 s apart: from 73 h ago to 1 h ago.
        .map(|n| event_at(n, now - 73 * hour + n as i64 * 21_600_000, &big))
        .collect();
    events.reverse();
    let batch = Batch::from_events(&events);
    assert!(batch.size() > 1_048_576);
    backend.send(&batch).unwrap();
    let logged = logged_events(&endpoint, &group);
    assert_eq!(logged.len(), 12_000);
    let times: Vec<i64> = logged
        .iter()
        .map(|e| {
            Timestamp::parse(e["time"].as_str().unwrap())
                .unwrap()
                .unix_micros()
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert!(
        times[11_999] - times[0] > 24 * hour,
        "the batch spans over a day"
    );
    let mut ids: Vec<&str> = logged.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12_000, "no event twice");
}

#[test]
fn a_batch_sent_again_is_not_logged_twice() {
    // CloudWatch Logs has no idempotency key: the backend remembers what it delivered, so
    // the lane's retry of a batch (after a later request of it failed) sends only the rest.
    let endpoint = moto();
    let group = unique("/wafermon/test/again-");
    let mut backend = direct_backend(&endpoint, &group, json!({}));
    let now = Timestamp::now().unix_micros();
    let events: Vec<Event> = (0..5)
        .map(|n| event_at(n, now + n as i64, "once"))
        .collect();
    let batch = Batch::from_events(&events);
    backend.send(&batch).unwrap();
    backend.send(&batch).unwrap();
    assert_eq!(logged_events(&endpoint, &group).len(), 5);
}

#[test]
fn too_old_and_too_new_events_are_rejected_per_event() {
    let endpoint = moto();
    let group = unique("/wafermon/test/rejected-");
    let mut backend = direct_backend(&endpoint, &group, json!({}));
    let now = Timestamp::now().unix_micros();
    let day = 86_400_000_000;
    let events = vec![
        event_at(0, now - 20 * day, "too old"),
        event_at(1, now, "fine"),
        event_at(2, now + day, "too new"),
    ];
    match backend.send(&Batch::from_events(&events)) {
        Err(DeliveryError::Partial {
            mut rejected,
            retry,
            message,
            ..
        }) => {
            rejected.sort();
            assert_eq!((rejected, retry), (vec![0, 2], vec![]));
            assert!(
                message.contains("too old") && message.contains("too new"),
                "{message}"
            );
        }
        other => panic!("expected a partial result, got {other:?}"),
    }
    let logged = logged_events(&endpoint, &group);
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0]["message"], "fine");
}

#[test]
fn a_partial_rejection_is_counted_in_stats() {
    let endpoint = moto();
    let dir = tempfile::tempdir().unwrap();
    let group = unique("/wafermon/test/stats-");
    let client = client_with(dir.path(), backend_json(&endpoint, &group, json!({})));
    let mut old = NewEvent::new(Kind::Log, "job", "j-old");
    old.message = Some("from three weeks ago".into());
    old.time = Some(Timestamp::from_unix_micros(
        Timestamp::now().unix_micros() - 21 * 86_400_000_000,
    ));
    client.emit(&old).unwrap();
    let mut fresh = NewEvent::new(Kind::Log, "job", "j-new");
    fresh.message = Some("now".into());
    client.emit(&fresh).unwrap();
    client.flush(Duration::from_secs(30)).unwrap();
    let stats = client.stats();
    let cw = stats.backends.iter().find(|b| b.name == "cw").unwrap();
    assert_eq!((cw.sent, cw.failed), (1, 1), "{cw:?}");
    assert!(
        cw.last_error.as_deref().unwrap_or("").contains("too old"),
        "{cw:?}"
    );
    client.close(Duration::from_secs(5));
}

#[test]
fn a_missing_group_without_create_is_a_permanent_error_with_aws_message() {
    let endpoint = moto();
    let group = unique("/wafermon/test/missing-");
    let mut backend = direct_backend(&endpoint, &group, json!({"create": false}));
    match backend.send(&Batch::from_events(&[event_at(
        0,
        Timestamp::now().unix_micros(),
        "x",
    )])) {
        Err(DeliveryError::Permanent { message }) => {
            assert!(message.contains("ResourceNotFoundException"), "{message}");
            assert!(
                message.contains("The specified log group does not exist"),
                "{message}"
            );
        }
        other => panic!("expected a permanent error, got {other:?}"),
    }

    // Through a client: counted as failed with AWS's message, not retried forever.
    let dir = tempfile::tempdir().unwrap();
    let client = client_with(
        dir.path(),
        backend_json(&endpoint, &group, json!({"create": false})),
    );
    for i in 0..3 {
        let mut e = NewEvent::new(Kind::Heartbeat, "tool", format!("t{i}"));
        e.message = Some("beat".into());
        client.emit(&e).unwrap();
    }
    client.flush(Duration::from_secs(30)).unwrap();
    let stats = client.stats();
    let cw = stats.backends.iter().find(|b| b.name == "cw").unwrap();
    assert_eq!((cw.sent, cw.failed), (0, 3), "{cw:?}");
    assert!(
        cw.last_error
            .as_deref()
            .unwrap_or("")
            .contains("The specified log group does not exist"),
        "{cw:?}"
    );
    client.close(Duration::from_secs(5));
}

#[test]
fn an_outage_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let moto = PrivateServer::start("moto", &dir.path().join("moto"));
    let endpoint = moto.address.clone();
    let group = "/wafermon/test/outage";
    let client = client_with(
        dir.path(),
        backend_json(
            &endpoint,
            group,
            json!({"namespace": "WafermonOutage", "timeout": 2}),
        ),
    );
    let emit = |from: u32, to: u32| {
        for i in from..to {
            let job = client.job("etch").id(format!("job-{i}")).start().unwrap();
            job.finish().unwrap();
        }
    };
    emit(0, 20);
    client.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(logged_events(&endpoint, group).len(), 40);

    moto.stop();
    emit(20, 50);
    assert!(
        client.flush(Duration::from_millis(500)).is_err(),
        "moto is down"
    );
    // moto keeps its data in memory: the restarted one is empty, and the backend makes the
    // group and stream again.
    moto.restart();
    client.flush(Duration::from_secs(60)).unwrap();
    let logged = logged_events(&endpoint, group);
    let mut ids: Vec<&str> = logged
        .iter()
        .map(|e| e["entity"]["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(
        logged.len(),
        60,
        "the 30 jobs of the outage, started and finished, once each"
    );
    ids.dedup();
    assert_eq!(ids.len(), 30);
    let stats = client.stats();
    let cw = stats.backends.iter().find(|b| b.name == "cw").unwrap();
    assert_eq!((cw.sent, cw.failed), (100, 0), "{cw:?}");
    let listed = metrics_call(
        &endpoint,
        "ListMetrics",
        json!({"Namespace": "WafermonOutage"}),
    );
    assert!(!listed["Metrics"].as_array().unwrap().is_empty());
    client.close(Duration::from_secs(5));
}

#[test]
fn config_errors_name_the_key() {
    let build_error = |backend: Value| {
        let config = Config::from_value(json!({"direct_backends": [backend]}));
        match config {
            Err(e) => e,
            Ok(config) => match build(&config.direct_backends[0], &config.app) {
                Err(e) => e,
                Ok(_) => panic!("{backend} was accepted"),
            },
        }
    };
    // No credentials anywhere: the error names both the config keys and the variables.
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        std::env::remove_var(var);
    }
    let e = build_error(
        json!({"type": "cloudwatch", "name": "cw", "endpoint": "http://127.0.0.1:5000"}),
    );
    assert_eq!(e.path(), Some("backend 'cw'.access_key_id"), "{e}");
    for key in [
        "access_key_id",
        "secret_access_key",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        assert!(e.message().contains(key), "{e}");
    }

    let keys = json!({"access_key_id": "k", "secret_access_key": "s"});
    let with = |extra: Value| {
        let mut b =
            json!({"type": "cloudwatch", "name": "cw", "endpoint": "http://127.0.0.1:5000"});
        b.as_object_mut()
            .unwrap()
            .extend(keys.as_object().unwrap().clone());
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    let e = build_error(with(json!({"log_group": "has spaces"})));
    assert_eq!(e.path(), Some("backend 'cw'.log_group"), "{e}");
    let e = build_error(with(json!({"log_stream": "a:b"})));
    assert_eq!(e.path(), Some("backend 'cw'.log_stream"), "{e}");
    let e = build_error(json!({"type": "cloudwatch", "access_key_id": "k"}));
    assert!(e.path().unwrap_or("").ends_with("secret_access_key"), "{e}");
    if !cfg!(feature = "tls") {
        let mut b = with(json!({}));
        b.as_object_mut().unwrap().remove("endpoint");
        let e = build_error(b);
        assert_eq!(e.path(), Some("backend 'cw'.endpoint"), "{e}");
        assert!(e.message().contains("https://logs."), "{e}");
    }
}
