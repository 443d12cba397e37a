//! Ingest through HTTP on both stores: counts, idempotent replays, per-event rejection,
//! MessagePack, and job state that does not depend on the order events arrive in.

mod common;

use serde_json::{json, Value};

use common::{approx, ev, ids, shuffled, ts, Gateway, HOUR, MINUTE, SECOND, T0};

on_both_stores! {
    batch_counts_and_idempotent_replay => batch_counts_and_idempotent_replay_sqlite, batch_counts_and_idempotent_replay_postgres;
    a_bad_event_rejects_only_itself => a_bad_event_rejects_only_itself_sqlite, a_bad_event_rejects_only_itself_postgres;
    messagepack_bodies_are_ingested => messagepack_bodies_are_ingested_sqlite, messagepack_bodies_are_ingested_postgres;
    job_state_does_not_depend_on_arrival_order => job_state_does_not_depend_on_arrival_order_sqlite, job_state_does_not_depend_on_arrival_order_postgres;
    a_late_start_keeps_a_failed_job_failed => a_late_start_keeps_a_failed_job_failed_sqlite, a_late_start_keeps_a_failed_job_failed_postgres;
    concurrent_overlapping_batches_count_each_event_once => concurrent_overlapping_batches_count_each_event_once_sqlite, concurrent_overlapping_batches_count_each_event_once_postgres;
    an_id_sent_again_with_another_time_is_stored_once => an_id_sent_again_with_another_time_is_stored_once_sqlite, an_id_sent_again_with_another_time_is_stored_once_postgres;
}

fn lot_events() -> Vec<Value> {
    let t = T0 + HOUR;
    vec![
        ev("fab1", "etch", "J-1", "started", t).build(),
        ev("fab1", "etch", "J-1", "progress", t + SECOND)
            .progress(50.0)
            .build(),
        ev("fab1", "etch", "J-1", "finished", t + 2 * SECOND)
            .metric("duration_s", 2.0)
            .build(),
        ev("fab1", "etch", "J-2", "started", t + 3 * SECOND).build(),
        ev("fab2", "litho", "J-3", "failed", t + 4 * SECOND)
            .message("resist")
            .build(),
    ]
}

fn batch_counts_and_idempotent_replay(db: &str) {
    let gw = Gateway::start(db);
    let events = lot_events();
    let first = gw.ingest(&events);
    assert_eq!(
        first,
        json!({"accepted": 5, "stored": 5, "duplicates": 0, "rejected": [], "rejected_count": 0})
    );
    let jobs_before = gw.get_json("/v1/jobs");
    assert_eq!(jobs_before["jobs"].as_array().unwrap().len(), 3);
    let j1_before = gw.job("J-1");
    assert_eq!(j1_before["job"]["event_count"], 3);

    let replay = gw.ingest(&events);
    assert_eq!(
        replay,
        json!({"accepted": 5, "stored": 0, "duplicates": 5, "rejected": [], "rejected_count": 0})
    );
    // A replay must not be folded into the job state a second time.
    assert_eq!(gw.get_json("/v1/jobs"), jobs_before);
    assert_eq!(gw.job("J-1"), j1_before);

    // A partial replay mixed with new events stores only the new ones, and repeats of one
    // id inside a batch count once.
    let new = ev("fab1", "etch", "J-2", "finished", T0 + HOUR + 9 * SECOND).build();
    let mixed = gw.ingest(&[events[0].clone(), new.clone(), new.clone()]);
    assert_eq!(
        mixed,
        json!({"accepted": 3, "stored": 1, "duplicates": 2, "rejected": [], "rejected_count": 0})
    );
    let j2 = gw.job("J-2");
    assert_eq!(j2["job"]["event_count"], 2);
    assert_eq!(j2["job"]["status"], "succeeded");
    assert_eq!(gw.job("J-1"), j1_before);

    // An empty batch is a valid no-op.
    assert_eq!(
        gw.ingest(&[]),
        json!({"accepted": 0, "stored": 0, "duplicates": 0, "rejected": [], "rejected_count": 0})
    );
}

fn a_bad_event_rejects_only_itself(db: &str) {
    let gw = Gateway::start(db);
    let t = T0 + 2 * HOUR;
    let mut events: Vec<Value> = (0..4)
        .map(|i| ev("fab1", "etch", &format!("R-{i}"), "started", t + i * SECOND).build())
        .collect();
    events[2]["kind"] = json!("exploded");
    let body = gw.ingest(&events);
    assert_eq!(body["accepted"], 3);
    assert_eq!(body["stored"], 3);
    let rejected = body["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{body}");
    assert_eq!(rejected[0]["index"], 2);
    assert_eq!(rejected[0]["path"], "events[2].kind");
    assert!(rejected[0]["error"].as_str().unwrap().contains("exploded"));
    for i in [0, 1, 3] {
        gw.job(&format!("R-{i}"));
    }
    assert_eq!(gw.get("/v1/jobs/R-2").status, 404);

    // Nested paths name the field inside the event.
    let mut nested = ev("fab1", "etch", "R-9", "started", t).build();
    nested["entity"]["id"] = json!(7);
    let body = gw
        .post_json("/v1/ingest/managed", &json!({"events": [nested]}))
        .expect(400);
    assert_eq!(body["accepted"], 0);
    assert_eq!(body["rejected"][0]["path"], "events[0].entity.id", "{body}");
}

fn messagepack_bodies_are_ingested(db: &str) {
    let gw = Gateway::start(db);
    let t = T0 + 3 * HOUR;
    let events = vec![
        ev("fab1", "etch", "M-1", "started", t).build(),
        ev("fab1", "etch", "M-1", "finished", t + 5 * SECOND)
            .metric("duration_s", 4.5)
            .metric("max_rss_bytes", 1e6)
            .build(),
    ];
    let body = rmp_serde::to_vec_named(&json!({"events": events, "source": "plc-bridge"})).unwrap();
    for content_type in ["application/msgpack", "application/x-msgpack"] {
        let reply = gw.request(
            "POST",
            "/v1/ingest/managed",
            None,
            Some(content_type),
            Some(&body),
        );
        let counts = reply.expect(200);
        assert_eq!(counts["accepted"], 2, "{reply}");
    }
    let job = gw.job("M-1");
    assert_eq!(job["job"]["status"], "succeeded");
    assert!(approx(&job["job"]["duration_s"], 4.5), "{job}");
    assert_eq!(job["job"]["event_count"], 2);
    assert_eq!(ids(job["events"].as_array().unwrap()), ids(&events));
}

/// The events of one job's life, in time order.
fn life(job: &str, t: i64) -> Vec<Value> {
    vec![
        ev("fab1", "etch", job, "started", t).build(),
        ev("fab1", "etch", job, "progress", t + 10 * SECOND)
            .progress(40.0)
            .metric("max_rss_bytes", 2_097_152.0)
            .build(),
        ev("fab1", "etch", job, "progress", t + 20 * SECOND)
            .progress(80.0)
            .build(),
        ev("fab1", "etch", job, "finished", t + 30 * SECOND)
            .metric("duration_s", 30.5)
            .metric("cpu_user_s", 1.25)
            .metric("cpu_system_s", 0.5)
            .metric("max_rss_bytes", 1_048_576.0)
            .build(),
        ev("fab1", "etch", job, "canceled", t + 40 * SECOND)
            .message("late cancel")
            .build(),
        ev("fab1", "etch", job, "progress", t + 50 * SECOND)
            .progress(90.0)
            .build(),
    ]
}

fn job_state_does_not_depend_on_arrival_order(db: &str) {
    let gw = Gateway::start(db);
    let jobs: Vec<(String, i64, Vec<Value>)> = (0..5)
        .map(|i| {
            let id = format!("L-{i}");
            let t = T0 + 4 * HOUR + i * MINUTE;
            let events = life(&id, t);
            (id, t, events)
        })
        .collect();
    // Interleave the jobs and shuffle each one's events; one request per event.
    let mut sends: Vec<&Value> = Vec::new();
    let orders: Vec<Vec<usize>> = (0..jobs.len())
        .map(|j| shuffled(6, 17 + j as u64))
        .collect();
    for step in 0..6 {
        for (j, (_, _, events)) in jobs.iter().enumerate() {
            sends.push(&events[orders[j][step]]);
        }
    }
    for event in sends {
        let counts = gw.ingest(std::slice::from_ref(event));
        assert_eq!(counts["stored"], 1);
    }
    for (id, t, events) in &jobs {
        let detail = gw.job(id);
        let job = &detail["job"];
        assert_eq!(job["status"], "succeeded", "{id}: {job}");
        assert_eq!(job["progress"], json!(100.0), "{id}: {job}");
        assert!(approx(&job["duration_s"], 30.5), "{id}: {job}");
        assert!(approx(&job["cpu_s"], 1.75), "{id}: {job}");
        assert!(approx(&job["max_rss_bytes"], 2_097_152.0), "{id}: {job}");
        assert_eq!(job["started_at"], ts(*t), "{id}");
        assert_eq!(job["ended_at"], ts(t + 30 * SECOND), "{id}");
        assert_eq!(job["first_event_at"], ts(*t), "{id}");
        assert_eq!(job["last_event_at"], ts(t + 50 * SECOND), "{id}");
        assert_eq!(job["event_count"], 6, "{id}");
        assert_eq!(
            job["message"],
            Value::Null,
            "{id}: the late cancel's message shows"
        );
        // Events come back in time order whatever order they arrived in.
        assert_eq!(
            ids(detail["events"].as_array().unwrap()),
            ids(events),
            "{id}"
        );
    }
    // Every job went through the same states, so they look the same but for ids and times.
    let strip = |v: &Value| {
        let mut v = v["job"].clone();
        for k in [
            "id",
            "started_at",
            "ended_at",
            "first_event_at",
            "last_event_at",
        ] {
            v[k] = Value::Null;
        }
        v
    };
    let first = strip(&gw.job("L-0"));
    for (id, _, _) in &jobs[1..] {
        assert_eq!(strip(&gw.job(id)), first, "{id}");
    }
}

fn a_late_start_keeps_a_failed_job_failed(db: &str) {
    let gw = Gateway::start(db);
    let t = T0 + 5 * HOUR;
    let start = ev("fab1", "etch", "F-1", "started", t).build();
    let progress = ev("fab1", "etch", "F-1", "progress", t + 5 * SECOND)
        .progress(30.0)
        .build();
    let failed = ev("fab1", "etch", "F-1", "failed", t + 12 * SECOND)
        .message("chamber fault")
        .build();
    gw.ingest(&[failed]);
    assert_eq!(gw.job("F-1")["job"]["status"], "failed");
    gw.ingest(&[start]);
    gw.ingest(&[progress]);
    let job = gw.job("F-1")["job"].clone();
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["message"], "chamber fault");
    assert_eq!(job["started_at"], ts(t));
    assert_eq!(job["progress"], json!(30.0));
    // No measured duration: the span from the start to the failure.
    assert!(approx(&job["duration_s"], 12.0), "{job}");
    assert_eq!(job["event_count"], 3);
}

fn concurrent_overlapping_batches_count_each_event_once(db: &str) {
    let gw = Gateway::start(db);
    let t = T0 + 6 * HOUR;
    const JOBS: usize = 4;
    const PER_JOB: usize = 40;
    // Every event of every job, then batches that each hold one event per job; each thread
    // sends all batches in its own order, so the same events race in different orders.
    let events: Vec<Vec<Value>> = (0..JOBS)
        .map(|j| {
            (0..PER_JOB)
                .map(|i| {
                    let kind = if i == PER_JOB - 1 {
                        "finished"
                    } else {
                        "progress"
                    };
                    let e = ev(
                        "fab1",
                        "etch",
                        &format!("C-{j}"),
                        kind,
                        t + i as i64 * SECOND,
                    );
                    if kind == "progress" {
                        e.progress(i as f64).build()
                    } else {
                        e.build()
                    }
                })
                .collect()
        })
        .collect();
    let batches: Vec<Vec<Value>> = (0..PER_JOB)
        .map(|i| {
            let mut batch: Vec<Value> = (0..JOBS).map(|j| events[j][i].clone()).collect();
            batch.rotate_left(i % JOBS);
            batch
        })
        .collect();
    let stored: usize = std::thread::scope(|s| {
        let threads: Vec<_> = (0..4u64)
            .map(|k| {
                let (gw, batches) = (&gw, &batches);
                s.spawn(move || {
                    let mut stored = 0;
                    for b in shuffled(batches.len(), 100 + k) {
                        let counts = gw.ingest(&batches[b]);
                        assert_eq!(counts["accepted"], JOBS, "{counts}");
                        stored += counts["stored"].as_u64().unwrap() as usize;
                    }
                    stored
                })
            })
            .collect();
        threads.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(
        stored,
        JOBS * PER_JOB,
        "each event is stored by exactly one request"
    );
    for (j, sent) in events.iter().enumerate() {
        let detail = gw.job(&format!("C-{j}"));
        let job = &detail["job"];
        assert_eq!(job["event_count"], PER_JOB, "C-{j}: {job}");
        assert_eq!(job["status"], "succeeded", "C-{j}: {job}");
        assert_eq!(job["first_event_at"], ts(t));
        assert_eq!(job["last_event_at"], ts(t + (PER_JOB as i64 - 1) * SECOND));
        assert_eq!(ids(detail["events"].as_array().unwrap()), ids(sent));
    }
    assert!(
        gw.metrics()
            .lines()
            .any(|l| l == "wafermon_gateway_store_errors_total 0"),
        "{}",
        gw.stderr()
    );
}

/// Issue 16, defect 8: the id is the idempotency key, so an event sent again with another
/// time (a retry re-stamped by its client) is a duplicate, not a second row, and is not
/// folded into its job again. On a TimescaleDB hypertable every unique key must contain the
/// time column: there only a resend with the same time is a duplicate, and one with another
/// time is stored as a second event (as ARCHITECTURE.md, "The gateway's store", says).
fn an_id_sent_again_with_another_time_is_stored_once(db: &str) {
    let gw = Gateway::start(db);
    let first = ev("fab1", "etch", "R-1", "started", T0 + HOUR).build();
    let mut moved = first.clone();
    moved["time"] = json!(ts(T0 + 2 * HOUR));
    assert_eq!(gw.ingest(std::slice::from_ref(&first))["stored"], 1);

    let engine = gw.get_json("/v1/health")["store"]["engine"].clone();
    let again = gw.ingest(std::slice::from_ref(&moved));
    let job = gw.job("R-1");
    let times: Vec<&str> = job["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["time"].as_str().unwrap())
        .collect();
    if engine == "timescaledb" {
        assert_eq!(again["stored"], 1, "{again}");
        assert_eq!(job["job"]["event_count"], 2, "{job}");
    } else {
        assert_eq!(
            again,
            json!({"accepted": 1, "stored": 0, "duplicates": 1, "rejected": [], "rejected_count": 0})
        );
        assert_eq!(times, [ts(T0 + HOUR)], "{job}");
        assert_eq!(job["job"]["event_count"], 1, "{job}");
    }
    // The same id and time is a duplicate everywhere.
    assert_eq!(gw.ingest(&[first])["duplicates"], 1);
}
