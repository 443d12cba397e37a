//! The handle API a JNI/XS/extendr binding rides on (`wafermon::skin::JobHandle`): what it
//! records, its failure paths (stale, double-released and reused handles are errors, never
//! another job), the per-thread current job, threads, and fork.

mod common;

use std::time::Duration;

use serde_json::{json, Value};
use wafermon::event::ScalarRef;
use wafermon::skin::{JobAttrs, JobHandle, JobSpec, Parent};
use wafermon::{Client, Config, ErrorKind, Level};

use common::fork::in_child;
use common::{config_in, read_events};

fn client_in(dir: &std::path::Path) -> Client {
    Client::new(Config::from_value(config_in(dir, json!({}))).unwrap()).unwrap()
}

/// The `started` event of the job with this name.
fn started_named(events: &[Value], name: &str) -> Value {
    events
        .iter()
        .find(|e| e["kind"] == "started" && e["entity"]["name"] == name)
        .unwrap()
        .clone()
}

fn events_of(client: &Client, dir: &std::path::Path) -> Vec<Value> {
    client.close(Duration::from_secs(10));
    read_events(&dir.join("data"))
}

#[test]
fn a_job_through_handles_records_what_the_guard_api_records() {
    let _serial = common::fork::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let lot = JobHandle::prepare(&client, "lot-dispatch", Parent::Root).unwrap();
    lot.set_kind("lot").unwrap();
    lot.set_key("LOT-1").unwrap();
    lot.attr("recipe", "R7").unwrap();
    lot.attr("slots", 25i64).unwrap();
    lot.attr("temp_c", 21.5).unwrap();
    lot.attr("rework", false).unwrap();
    lot.start().unwrap();
    let wafer = lot.prepare_sub("wafer-3").unwrap();
    wafer.start().unwrap();
    wafer.progress(50.0, Some("slot 12 of 25")).unwrap();
    wafer.metric("thickness_nm", 101.2).unwrap();
    wafer.log(Level::Warning, "pump slow").unwrap();
    wafer.heartbeat().unwrap();
    wafer.fail("chamber fault").unwrap();
    lot.finish().unwrap();
    let (lot_id, wafer_id) = (lot.id().unwrap(), wafer.id().unwrap());
    assert!(lot.release());
    assert!(wafer.release());

    let events = events_of(&client, dir.path());
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "started",
            "started",
            "progress",
            "metric",
            "log",
            "heartbeat",
            "failed",
            "finished"
        ]
    );
    let started = &events[0];
    assert_eq!(started["entity"]["kind"], "lot");
    assert_eq!(started["entity"]["key"], "LOT-1");
    assert_eq!(started["entity"]["id"], lot_id.as_str());
    assert_eq!(
        started["attrs"],
        json!({"recipe": "R7", "slots": 25, "temp_c": 21.5, "rework": false})
    );
    assert_eq!(events[1]["entity"]["kind"], "subjob");
    assert_eq!(events[1]["entity"]["parent"], lot_id.as_str());
    assert_eq!(events[1]["entity"]["id"], wafer_id.as_str());
    assert_eq!(events[2]["message"], "slot 12 of 25");
    assert_eq!(events[3]["metrics"]["thickness_nm"], 101.2);
    assert_eq!(events[4]["level"], "warning");
    assert_eq!(events[6]["message"], "chamber fault");
    assert!(events[7]["metrics"]["duration_s"].as_f64().is_some());
}

#[test]
fn misuse_gives_errors_naming_the_job_and_stale_handles_never_reach_another_job() {
    let _serial = common::fork::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let job = JobHandle::prepare(&client, "etch", Parent::Root).unwrap();
    let early = job.metric("x", 1.0).unwrap_err();
    assert_eq!(early.kind(), ErrorKind::InvalidArgument);
    assert!(
        early.to_string().contains("job 'etch' has not started"),
        "{early}"
    );
    assert_eq!(job.id().unwrap_err().kind(), ErrorKind::InvalidArgument);
    job.start().unwrap();
    let late = job.set_key("K").unwrap_err();
    assert_eq!(late.kind(), ErrorKind::InvalidArgument);
    assert!(late.to_string().contains("already started"), "{late}");
    assert_eq!(job.start().unwrap_err().kind(), ErrorKind::InvalidArgument);
    // Invalid values are event errors naming the field; the job goes on.
    let bad = job.progress(120.0, None).unwrap_err();
    assert_eq!(
        (bad.kind(), bad.path()),
        (ErrorKind::InvalidEvent, Some("progress"))
    );
    job.finish().unwrap();
    let after = job.metric("x", 1.0).unwrap_err();
    assert_eq!(after.kind(), ErrorKind::Closed);
    assert!(after.to_string().contains("job 'etch'"), "{after}");
    assert!(after.to_string().contains("already finished"), "{after}");
    assert_eq!(job.cancel("again").unwrap_err().kind(), ErrorKind::Closed);
    assert!(job.is_ended().unwrap());
    assert_eq!(job.name().unwrap(), "etch");

    assert!(job.release());
    assert!(!job.release(), "a second release says so and does nothing");
    let stale = job.metric("x", 1.0).unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::InvalidArgument);
    assert!(
        stale.to_string().contains("not a live job handle"),
        "{stale}"
    );
    // The freed slot is reused by the next jobs; the old handle still reaches none of them.
    let next: Vec<JobHandle> = (0..4)
        .map(|i| JobHandle::prepare(&client, &format!("next-{i}"), Parent::Root).unwrap())
        .collect();
    assert!(next.iter().all(|h| *h != job));
    assert_eq!(job.name().unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert!(!job.release());
    for h in &next {
        assert!(h.name().unwrap().starts_with("next-"));
        assert!(h.release(), "a prepared job is released without an event");
    }
    // Numbers that were never handles.
    for raw in [0, 1, u64::MAX, 12345 << 32] {
        let h = JobHandle::from_raw(raw);
        assert_eq!(
            h.heartbeat().unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
        assert!(!h.release());
    }
    let events = events_of(&client, dir.path());
    assert_eq!(events.len(), 2, "{events:#?}");
}

#[test]
fn a_start_that_fails_leaves_the_job_prepared() {
    let _serial = common::fork::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let job = JobHandle::prepare(&client, "etch", Parent::Root).unwrap();
    job.attr("bad\nname", 1i64).unwrap();
    let err = job.start().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidEvent, "{err}");
    assert_eq!(
        job.metric("x", 1.0).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert!(job.release());
    // Releasing a running job records `canceled`, as dropping a guard does.
    let dropped = JobHandle::prepare(&client, "dropped", Parent::Root).unwrap();
    dropped.start().unwrap();
    assert!(dropped.release());
    let events = events_of(&client, dir.path());
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["kind"], "canceled");
    assert_eq!(events[1]["message"], "dropped without finish");
}

#[test]
fn a_job_started_in_one_call_records_what_prepare_and_start_record() {
    let _serial = common::fork::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let describe = |b: wafermon::JobBuilder| {
        Ok(b.kind("lot")
            .key("LOT-1")
            .attr("recipe", "R7")
            .attr("slots", 25i64)
            .attr("temp_c", 21.5)
            .attr("rework", false))
    };
    let lot = JobHandle::start_new(&client, "lot-dispatch", Parent::Root, describe).unwrap();
    lot.enter().unwrap();
    // Under the current job: a subjob unless described otherwise.
    let wafer = JobHandle::start_new(&client, "wafer-3", Parent::Current, Ok).unwrap();
    let step =
        JobHandle::start_new(&client, "etch", Parent::Current, |b| Ok(b.kind("step"))).unwrap();
    let by_handle = JobHandle::start_new(&client, "measure", Parent::Job(wafer), Ok).unwrap();
    // A description that fails, or a start that fails, leaves nothing behind.
    let refused = JobHandle::start_new(&client, "refused", Parent::Root, |_| {
        Err(wafermon::Error::new(ErrorKind::InvalidArgument, "no"))
    })
    .unwrap_err();
    assert_eq!(refused.to_string(), "invalid argument: no");
    let invalid = JobHandle::start_new(&client, "invalid", Parent::Root, |b| {
        Ok(b.attr("bad\nname", 1i64))
    })
    .unwrap_err();
    assert_eq!(invalid.kind(), ErrorKind::InvalidEvent, "{invalid}");
    lot.leave();
    for h in [by_handle, step, wafer, lot] {
        h.finish().unwrap();
        assert!(h.release());
    }
    let lot_id = lot.id().unwrap_err(); // released: stale
    assert_eq!(lot_id.kind(), ErrorKind::InvalidArgument);

    let events = events_of(&client, dir.path());
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["started"; 4]
            .iter()
            .chain(&["finished"; 4])
            .copied()
            .collect::<Vec<_>>()
    );
    let started = |name: &str| started_named(&events, name);
    let lot = started("lot-dispatch");
    assert_eq!(lot["entity"]["kind"], "lot");
    assert_eq!(lot["entity"]["key"], "LOT-1");
    assert_eq!(
        lot["attrs"],
        json!({"recipe": "R7", "slots": 25, "temp_c": 21.5, "rework": false})
    );
    let wafer = started("wafer-3");
    assert_eq!(wafer["entity"]["kind"], "subjob");
    assert_eq!(wafer["entity"]["parent"], lot["entity"]["id"]);
    assert_eq!(started("etch")["entity"]["kind"], "step");
    assert_eq!(started("etch")["entity"]["parent"], lot["entity"]["id"]);
    assert_eq!(
        started("measure")["entity"]["parent"],
        wafer["entity"]["id"]
    );
}

#[test]
fn a_job_started_from_borrowed_parts_records_what_the_builder_records() {
    let _serial = common::fork::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let mut attrs = JobAttrs::new();
    attrs.push("recipe", ScalarRef::Str("R7"));
    attrs.push("slots", ScalarRef::Int(25));
    attrs.push("temp_c", ScalarRef::Float(21.5));
    attrs.push("rework", ScalarRef::Bool(false));
    fn spec<'a>(
        name: &'a str,
        kind: Option<&'a str>,
        id: Option<&'a str>,
        key: Option<&'a str>,
        attrs: &'a JobAttrs,
    ) -> JobSpec<'a> {
        JobSpec {
            name,
            kind,
            id,
            key,
            attrs,
        }
    }
    let lot = JobHandle::start_spec(
        &client,
        Parent::Root,
        &spec("lot-dispatch", Some("lot"), None, Some("LOT-1"), &attrs),
    )
    .unwrap();
    attrs.clear();
    // Without a kind: "subjob" under a parent (by handle or by id), "job" without one.
    let wafer = JobHandle::start_spec(
        &client,
        Parent::Job(lot),
        &spec("wafer-3", None, None, None, &attrs),
    )
    .unwrap();
    let remote = JobHandle::start_spec(
        &client,
        Parent::Id("lot-elsewhere"),
        &spec("measure", None, Some("measure-7"), None, &attrs),
    )
    .unwrap();
    let root = JobHandle::start_spec(
        &client,
        Parent::Root,
        &spec("sweep", None, None, None, &attrs),
    )
    .unwrap();
    // A bad part is refused naming it, and nothing is left in the table.
    attrs.push("bad\nname", ScalarRef::Int(1));
    let bad_attr =
        JobHandle::start_spec(&client, Parent::Root, &spec("x", None, None, None, &attrs))
            .unwrap_err();
    assert_eq!(bad_attr.kind(), ErrorKind::InvalidEvent, "{bad_attr}");
    assert_eq!(bad_attr.path(), Some("attrs"), "{bad_attr}");
    attrs.clear();
    attrs.push("slot", ScalarRef::Int(1));
    attrs.push("slot", ScalarRef::Int(2));
    let twice = JobHandle::start_spec(&client, Parent::Root, &spec("x", None, None, None, &attrs))
        .unwrap_err();
    assert_eq!(twice.path(), Some("attrs.slot"), "{twice}");
    attrs.clear();
    let bad_key = JobHandle::start_spec(
        &client,
        Parent::Root,
        &spec("x", None, None, Some("a\u{7}b"), &attrs),
    )
    .unwrap_err();
    assert_eq!(bad_key.path(), Some("entity.key"), "{bad_key}");
    let empty_id = JobHandle::start_spec(
        &client,
        Parent::Root,
        &spec("x", None, Some(""), None, &attrs),
    )
    .unwrap_err();
    assert_eq!(empty_id.path(), Some("entity.id"), "{empty_id}");

    assert_eq!(remote.id().unwrap(), "measure-7");
    for h in [root, remote, wafer, lot] {
        h.finish().unwrap();
        // An ended job still answers its name and id.
        assert!(!h.name().unwrap().is_empty());
        assert!(!h.id().unwrap().is_empty());
        assert!(h.release());
    }
    let events = events_of(&client, dir.path());
    assert_eq!(events.len(), 8, "{events:#?}");
    let started = |name: &str| started_named(&events, name);
    let lot = started("lot-dispatch");
    assert_eq!(lot["entity"]["kind"], "lot");
    assert_eq!(lot["entity"]["key"], "LOT-1");
    // A generated entity id is the id of the `started` event.
    assert_eq!(lot["entity"]["id"], lot["id"]);
    assert_eq!(
        lot["attrs"],
        json!({"recipe": "R7", "slots": 25, "temp_c": 21.5, "rework": false})
    );
    let wafer = started("wafer-3");
    assert_eq!(wafer["entity"]["kind"], "subjob");
    assert_eq!(wafer["entity"]["parent"], lot["entity"]["id"]);
    assert!(wafer.get("attrs").is_none(), "{wafer}");
    assert_eq!(started("measure")["entity"]["kind"], "subjob");
    assert_eq!(started("measure")["entity"]["parent"], "lot-elsewhere");
    assert_eq!(started("measure")["entity"]["id"], "measure-7");
    assert_eq!(started("sweep")["entity"]["kind"], "job");
    let finished = events.iter().find(|e| e["kind"] == "finished").unwrap();
    for metric in ["cpu_user_s", "cpu_system_s", "max_rss_bytes", "duration_s"] {
        assert!(finished["metrics"][metric].is_number(), "{finished}");
    }
}

#[test]
fn a_job_corrected_after_a_failed_start_keeps_what_was_set_and_an_ended_job_its_id() {
    let _serial = common::fork::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let job = JobHandle::prepare(&client, "etch", Parent::Root).unwrap();
    job.attr("recipe", "R7").unwrap();
    job.set_key("bad\nkey").unwrap();
    let err = job.start().unwrap_err();
    assert_eq!(err.path(), Some("entity.key"), "{err}");
    job.set_key("LOT-1").unwrap();
    job.attr("slots", 25i64).unwrap();
    job.start().unwrap();
    let id = job.id().unwrap();
    job.finish().unwrap();
    assert_eq!(job.id().unwrap(), id, "an ended job keeps its id");
    assert_eq!(job.name().unwrap(), "etch");
    let again = job.finish().unwrap_err();
    assert!(
        again
            .to_string()
            .contains(&format!("job 'etch' (id {id}) has already finished")),
        "{again}"
    );
    assert!(job.release());
    let events = events_of(&client, dir.path());
    assert_eq!(events.len(), 2, "{events:#?}");
    let started = &events[0];
    assert_eq!(started["entity"]["id"], id.as_str());
    assert_eq!(started["entity"]["kind"], "job");
    assert_eq!(started["entity"]["key"], "LOT-1");
    assert_eq!(started["attrs"], json!({"recipe": "R7", "slots": 25}));
    assert_eq!(events[1]["entity"], started["entity"]);
}

#[test]
fn parentless_jobs_attach_to_the_current_job_of_their_thread() {
    let _serial = common::fork::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    assert!(JobHandle::current().is_none());
    let none = JobHandle::current_or_err().unwrap_err();
    assert_eq!(none.kind(), ErrorKind::InvalidArgument);
    assert!(none.to_string().contains("no job is open"), "{none}");

    let lot = JobHandle::prepare(&client, "lot", Parent::Current).unwrap();
    lot.start().unwrap();
    lot.enter().unwrap();
    assert_eq!(JobHandle::current(), Some(lot));
    let sub = JobHandle::prepare(&client, "wafer", Parent::Current).unwrap();
    sub.start().unwrap();
    let root = JobHandle::prepare(&client, "audit", Parent::Root).unwrap();
    root.start().unwrap();
    let step = JobHandle::prepare(&client, "step", Parent::Current).unwrap();
    step.set_kind("step").unwrap();
    step.start().unwrap();
    let by_handle = JobHandle::prepare(&client, "rinse", Parent::Job(sub)).unwrap();
    by_handle.start().unwrap();
    // Another thread has its own current job (none).
    let other = std::thread::scope(|s| {
        s.spawn(|| {
            let h = JobHandle::prepare(&client, "elsewhere", Parent::Current).unwrap();
            h.start().unwrap();
            h
        })
        .join()
        .unwrap()
    });
    lot.leave();
    assert!(JobHandle::current().is_none());
    // A released job stops being current even if it was never left.
    sub.enter().unwrap();
    sub.finish().unwrap();
    assert_eq!(
        JobHandle::current(),
        Some(sub),
        "an ended job stays current until left"
    );
    assert!(sub.release());
    assert!(JobHandle::current().is_none());
    for h in [lot, root, step, by_handle, other] {
        h.finish().unwrap();
        h.release();
    }

    let events = events_of(&client, dir.path());
    let started = |name: &str| {
        events
            .iter()
            .find(|e| e["kind"] == "started" && e["entity"]["name"] == name)
            .unwrap_or_else(|| panic!("no started event of {name}"))["entity"]
            .clone()
    };
    let lot_id = started("lot")["id"].clone();
    assert!(started("lot").get("parent").is_none());
    assert_eq!(started("wafer")["parent"], lot_id);
    assert_eq!(started("wafer")["kind"], "subjob");
    assert!(started("audit").get("parent").is_none());
    assert_eq!(started("audit")["kind"], "job");
    assert_eq!(started("step")["parent"], lot_id);
    assert_eq!(started("step")["kind"], "step");
    assert_eq!(started("rinse")["parent"], started("wafer")["id"]);
    assert!(started("elsewhere").get("parent").is_none());
}

#[test]
fn threads_each_running_their_own_jobs_get_every_event_once() {
    let _serial = common::fork::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    std::thread::scope(|s| {
        for t in 0..8 {
            let client = &client;
            s.spawn(move || {
                for i in 0..200 {
                    let h =
                        JobHandle::prepare(client, &format!("t{t}-{i}"), Parent::Current).unwrap();
                    h.start().unwrap();
                    h.metric("i", i as f64).unwrap();
                    h.finish().unwrap();
                    assert!(h.release());
                    assert!(!h.release());
                }
            });
        }
    });
    let events = events_of(&client, dir.path());
    assert_eq!(events.len(), 8 * 200 * 3);
    for t in 0..8 {
        for i in 0..200 {
            let name = format!("t{t}-{i}");
            let of_job: Vec<&Value> = events
                .iter()
                .filter(|e| e["entity"]["name"] == name.as_str())
                .collect();
            assert_eq!(of_job.len(), 3, "{name}");
            assert_eq!(of_job[1]["metrics"]["i"], i as f64);
        }
    }
}

#[test]
fn a_forked_child_uses_its_parents_job_but_releasing_it_there_records_nothing() {
    let _serial = common::fork::one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let lot = JobHandle::prepare(&client, "lot", Parent::Root).unwrap();
    lot.start().unwrap();
    lot.enter().unwrap();
    let code = in_child(|| {
        // A subjob under the inherited current job, and a metric on the parent's job.
        let wafer = JobHandle::prepare(&client, "wafer", Parent::Current).unwrap();
        let ok = wafer.start().is_ok()
            && lot.metric("from_child", 1.0).is_ok()
            && wafer.finish().is_ok()
            && wafer.release()
            && lot.release(); // no `canceled` from the child
        ok && client.flush(Duration::from_secs(10)).is_ok()
    });
    assert_eq!(code, 0);
    lot.leave();
    lot.metric("from_parent", 2.0).unwrap();
    lot.finish().unwrap();
    assert!(lot.release());
    let events = events_of(&client, dir.path());
    let mut seen: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["entity"]["name"].as_str().unwrap(),
                e["kind"].as_str().unwrap()
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            "lot:finished",
            "lot:metric",
            "lot:metric",
            "lot:started",
            "wafer:finished",
            "wafer:started"
        ]
    );
    let wafer = events
        .iter()
        .find(|e| e["entity"]["name"] == "wafer")
        .unwrap();
    let lot = events
        .iter()
        .find(|e| e["entity"]["name"] == "lot")
        .unwrap();
    assert_eq!(wafer["entity"]["parent"], lot["entity"]["id"]);
}
