//! The command line and the process: config checks, database URLs, the default SQLite file,
//! data and migrations surviving a restart on both stores, and `--demo`.

mod common;

use std::collections::HashSet;
use std::fs;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::{ev, run_cli, schema_versions, ts, Gateway, Launch, PATIENCE, SECOND, T0};

on_both_stores! {
    data_survives_a_restart_and_migrations_run_once => data_survives_a_restart_and_migrations_run_once_sqlite, data_survives_a_restart_and_migrations_run_once_postgres;
    two_gateways_can_start_on_one_new_database => two_gateways_can_start_on_one_new_database_sqlite, two_gateways_can_start_on_one_new_database_postgres;
    retention_removes_old_events_and_jobs => retention_removes_old_events_and_jobs_sqlite, retention_removes_old_events_and_jobs_postgres;
    repeated_ids_stored_before_the_upgrade_are_kept_once => repeated_ids_stored_before_the_upgrade_are_kept_once_sqlite, repeated_ids_stored_before_the_upgrade_are_kept_once_postgres;
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn check_reports_config_errors_with_their_json_path() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            json!({"sources": [{"name": "a", "type": "filesystem", "pth": "/x"}]}),
            vec!["sources[0]", "pth"],
        ),
        (json!({"max_body_bytes": "big"}), vec!["max_body_bytes:"]),
        (json!({"lisen": "127.0.0.1:1"}), vec!["lisen"]),
        (
            json!({"sources": [{"name": "a", "type": "kafka"}, {"name": "managed", "type": "filesystem", "path": "/x"},
                               {"name": "b", "type": "s3"}],
                   "max_body_bytes": 10, "retention_days": 0}),
            vec![
                "sources[0].type:",
                "sources[1].name:",
                "sources[2].bucket:",
                "max_body_bytes:",
                "retention_days:",
            ],
        ),
        (json!({"ingest_token": "  "}), vec!["ingest_token:"]),
        (
            json!({"listen": "0.0.0.0:18000"}),
            vec!["listen:", "read_token"],
        ),
    ];
    for (i, (config, needles)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad-{i}.json"));
        fs::write(&path, config.to_string()).unwrap();
        let out = run_cli(&["--config", path.to_str().unwrap(), "--check"], dir.path());
        let stderr = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{config}: {stderr}");
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{config}: '{needle}' not in {stderr}"
            );
        }
        assert!(
            out.stdout.is_empty(),
            "{config}: a failed check printed to stdout"
        );
    }

    let path = dir.path().join("not-json.json");
    fs::write(&path, "{\"sources\": [").unwrap();
    let out = run_cli(&["--config", path.to_str().unwrap(), "--check"], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));

    let out = run_cli(
        &["--config", "/nonexistent/gateway.json", "--check"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("/nonexistent/gateway.json"));

    let good = dir.path().join("good.json");
    fs::write(
        &good,
        json!({"sources": [{"name": "files", "type": "filesystem", "path": dir.path()}],
               "max_body_bytes": 4096})
        .to_string(),
    )
    .unwrap();
    let out = run_cli(&["--config", good.to_str().unwrap(), "--check"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    // A check opens no database.
    assert!(!dir.path().join("wafermon-data").exists());
}

#[test]
fn bad_arguments_and_database_urls_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(&["--colour"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("--colour") && stderr_of(&out).contains("usage"));

    let out = run_cli(&["--listen", "localhost"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("--listen"));

    let out = run_cli(&["--demo", "--config", "gateway.json"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("--demo") && stderr_of(&out).contains("--config"));

    for url in ["mysql://wafermon:pw@127.0.0.1/wafermon", "gateway.sqlite3"] {
        for check in [false, true] {
            let mut args = vec!["--listen", "127.0.0.1:0", "--database-url", url];
            if check {
                args.push("--check");
            }
            let out = run_cli(&args, dir.path());
            let stderr = stderr_of(&out);
            assert!(
                !out.status.success(),
                "{url} (check: {check}) was accepted: {stderr}"
            );
            assert!(
                stderr.contains("postgres://") && stderr.contains("sqlite://"),
                "{url}: the message should say which URLs work: {stderr}"
            );
            assert!(!stderr.contains(":pw@"), "the password shows: {stderr}");
            assert!(!String::from_utf8_lossy(&out.stdout).contains("listening"));
        }
    }

    // Nothing listens on port 1: the store can not be opened, and the password stays hidden.
    let out = run_cli(
        &[
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            "postgres://wafermon:hunter2@127.0.0.1:1/wafermon",
        ],
        dir.path(),
    );
    let stderr = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot open the store"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "the password shows: {stderr}");
}

#[test]
fn the_default_database_is_a_sqlite_file_under_the_working_dir() {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Launch::default().cwd(dir.path()).start();
    let file = dir.path().join("wafermon-data").join("gateway.sqlite3");
    assert!(file.is_file(), "no {}", file.display());
    let health = gw.get_json("/v1/health");
    assert_eq!(health["store"]["engine"], "sqlite");
    gw.ingest(&[ev("fab1", "etch", "D-1", "started", T0).build()]);
    assert!(gw.terminate().success(), "{}", gw.stderr());

    let url = format!("sqlite://{}", file.display());
    let gw = Gateway::start(&url);
    assert_eq!(gw.job("D-1")["job"]["status"], "running");
}

fn data_survives_a_restart_and_migrations_run_once(db: &str) {
    let t = T0 + 22 * 3600 * SECOND;
    let events = vec![
        ev("fab1", "etch", "P-1", "started", t).build(),
        ev("fab1", "etch", "P-1", "finished", t + 4 * SECOND)
            .metric("duration_s", 4.0)
            .build(),
    ];
    let mut first = Gateway::start(db);
    first.ingest(&events);
    let before = first.job("P-1");
    let versions = schema_versions(db);
    assert!(!versions.is_empty());
    let status = first.terminate();
    assert!(status.success(), "exit {status:?}: {}", first.stderr());
    assert!(first.stderr().contains("stopped"), "{}", first.stderr());

    for _ in 0..2 {
        let mut again = Gateway::start(db);
        assert_eq!(again.job("P-1"), before);
        let replay = again.ingest(&events);
        assert_eq!(replay["duplicates"], 2, "{replay}");
        assert_eq!(again.job("P-1"), before);
        assert_eq!(schema_versions(db), versions);
        assert!(again.terminate().success(), "{}", again.stderr());
    }
    // A gateway killed without warning leaves a store the next one opens.
    let killed = Gateway::start(db);
    killed.ingest(&[ev("fab1", "etch", "P-2", "started", t).build()]);
    drop(killed);
    let after = Gateway::start(db);
    assert_eq!(after.job("P-2")["job"]["status"], "running");
    assert_eq!(after.job("P-1"), before);
}

/// Issue 16, defect 8, on a store made by the version before it: that version let an id in
/// twice with two times (it is turned back into such a store here: the id index dropped, its
/// migration unrecorded, a repeat stored and counted). The upgraded gateway keeps the first
/// stored of each id, corrects the entity's event count, and refuses repeats from then on.
fn repeated_ids_stored_before_the_upgrade_are_kept_once(db: &str) {
    let t = T0 + 21 * 3600 * SECOND;
    let started = ev("fab1", "etch", "U-1", "started", t).build();
    let finished = ev("fab1", "etch", "U-1", "finished", t + 4 * SECOND).build();
    let mut old = Gateway::start(db);
    old.ingest(&[started.clone(), finished]);
    assert!(old.terminate().success(), "{}", old.stderr());
    let id = started["id"].as_str().unwrap();
    let (sqlite, postgres) = (
        format!(
            "INSERT INTO events SELECT id, time + 3600000000, seq, site, app, entity_kind,
                 entity_id, parent, kind, status, source, received_at + 1, body
             FROM events WHERE id = '{id}'"
        ),
        format!(
            "INSERT INTO events SELECT id, time + interval '1 hour', seq, site, app,
                 entity_kind, entity_id, parent, kind, status, source,
                 received_at + interval '1 millisecond', body
             FROM events WHERE id = '{id}'"
        ),
    );
    let common = "DROP INDEX events_id; DELETE FROM schema_migrations WHERE version = 2;
        UPDATE jobs SET event_count = event_count + 1 WHERE entity_id = 'U-1';";
    common::store_execute(
        db,
        &format!("{common} {sqlite};"),
        &format!("{common} {postgres};"),
    );
    assert_eq!(schema_versions(db), [1, 3]);

    let upgraded = Gateway::start(db);
    assert_eq!(schema_versions(db), [1, 2, 3]);
    let job = upgraded.job("U-1");
    assert_eq!(job["job"]["event_count"], 2, "{job}");
    let times: Vec<&str> = job["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["time"].as_str().unwrap())
        .collect();
    assert_eq!(times.len(), 2, "{job}");
    assert!(times.contains(&ts(t).as_str()), "{job}");
    let mut moved = started;
    moved["time"] = json!(ts(t + 7200 * SECOND));
    assert_eq!(upgraded.ingest(&[moved])["duplicates"], 1);
}

fn two_gateways_can_start_on_one_new_database(db: &str) {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Gateway::start(db));
        let b = s.spawn(|| Gateway::start(db));
        (a.join().unwrap(), b.join().unwrap())
    });
    let t = T0 + 23 * 3600 * SECOND;
    let event = ev("fab1", "etch", "C-1", "started", t).build();
    assert_eq!(a.ingest(std::slice::from_ref(&event))["stored"], 1);
    assert_eq!(b.ingest(&[event])["duplicates"], 1);
    assert_eq!(b.job("C-1")["job"]["event_count"], 1);
    assert!(!schema_versions(db).is_empty());
}

fn retention_removes_old_events_and_jobs(db: &str) {
    let now = wafermon::Timestamp::now().unix_micros();
    let mut first = Gateway::start(db);
    first.ingest(&[
        ev("fab1", "etch", "OLD-1", "started", T0).build(),
        ev("fab1", "etch", "NEW-1", "started", now - 3600 * SECOND).build(),
        // An old start of a job that is still active keeps the job, not the old event.
        ev(
            "fab1",
            "etch",
            "MIX-1",
            "started",
            now - 3 * 86_400 * SECOND,
        )
        .build(),
        ev("fab1", "etch", "MIX-1", "progress", now - 60 * SECOND)
            .progress(50.0)
            .build(),
    ]);
    assert!(first.terminate().success());

    // The retention is applied once at start, then hourly.
    let gw = Launch::new(db)
        .config(serde_json::json!({"retention_days": 2}))
        .start();
    assert!(gw.store_line.contains("kept 2 days"), "{}", gw.store_line);
    let deadline = Instant::now() + PATIENCE;
    while gw.get("/v1/jobs/OLD-1").status != 404 {
        assert!(
            Instant::now() < deadline,
            "OLD-1 was not pruned: {}",
            gw.stderr()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(gw.job("NEW-1")["events"].as_array().unwrap().len(), 1);
    let mix = gw.job("MIX-1");
    assert_eq!(mix["events"].as_array().unwrap().len(), 1, "{mix}");
    assert_eq!(mix["job"]["started_at"], ts(now - 3 * 86_400 * SECOND));
}

/// A source read that never returns (a hung network mount, here a FIFO with no writer) is
/// given up on before the request times out (a 502 naming the source's limit), and does not
/// keep the gateway from exiting on SIGTERM.
#[test]
fn a_hung_source_read_times_out_and_does_not_block_shutdown() {
    common::on_sqlite(|db| {
        let files = tempfile::tempdir().unwrap();
        let folder = files.path().join("fab1").join("etch");
        fs::create_dir_all(&folder).unwrap();
        let fifo = std::ffi::CString::new(
            folder
                .join("events-2026-03-01.jsonl")
                .to_str()
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let mut gw = Launch::new(db)
            .config(serde_json::json!({
                "request_timeout_s": 1,
                "sources": [{"name": "hung", "type": "filesystem", "path": files.path()}]
            }))
            .start();
        let reply = gw.post_json(
            "/v1/query/external",
            &serde_json::json!({"source": "hung",
                    "time_range": {"start": ts(T0), "end": ts(T0 + 3600 * SECOND)}}),
        );
        reply.expect_error(502, "no answer within");
        assert_eq!(gw.get("/v1/health").status, 200);
        gw.ingest(&[ev("fab1", "etch", "H-1", "started", T0).build()]);
        let status = gw.terminate();
        assert!(status.success(), "{status:?}: {}", gw.stderr());
    });
}

/// How long the demo's line gets to have lots, wafers, steps and files to show.
const DEMO_PATIENCE: Duration = Duration::from_secs(30);

/// `--demo` in an empty working directory: its own SQLite file and files under
/// ./wafermon-demo, the dashboard's URL on stdout, a fab line whose lot -> wafer -> step trees
/// reach the managed store and whose files the `fab-files` source reads, and a prompt exit.
#[test]
fn demo_runs_a_fab_line_into_the_store_and_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut gw = Launch::default().cwd(dir.path()).arg("--demo").start();
    let url = gw.next_stdout_line(PATIENCE);
    let expected = format!("wafermon dashboard: http://{}/", gw.addr);
    assert_eq!(url.as_deref(), Some(expected.as_str()), "{}", gw.stderr());
    let demo = dir.path().join("wafermon-demo");
    assert!(demo.join("gateway.sqlite3").is_file(), "no demo store");
    assert!(
        !dir.path().join("wafermon-data").exists(),
        "the demo wrote to the default store"
    );

    let deadline = Instant::now() + DEMO_PATIENCE;
    loop {
        let missing = demo_gaps(&gw);
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {DEMO_PATIENCE:?} the demo still lacks:\n  {}\nstderr:\n{}",
            missing.join("\n  "),
            gw.stderr()
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    let asked = Instant::now();
    let status = gw.terminate();
    let took = asked.elapsed();
    assert!(status.success(), "exit {status:?}: {}", gw.stderr());
    assert!(
        took < Duration::from_secs(10),
        "the demo took {took:?} to stop: {}",
        gw.stderr()
    );
}

/// What the demo does not show yet, in words; empty once it shows everything.
fn demo_gaps(gw: &Gateway) -> Vec<String> {
    let mut gaps = Vec::new();
    let lots = gw.all_jobs("kind=lot", 1000);
    if lots.is_empty() {
        gaps.push("a lot in GET /v1/jobs?kind=lot".to_string());
    }
    let wafers: HashSet<String> = gw
        .all_jobs("kind=wafer", 1000)
        .iter()
        .map(|w| format!("{}/{}", w["site"], w["id"]))
        .collect();
    let steps = gw.all_jobs("kind=step", 1000);
    if !steps
        .iter()
        .any(|s| wafers.contains(&format!("{}/{}", s["site"], s["parent"])))
    {
        gaps.push(format!(
            "a step whose parent is a wafer in GET /v1/jobs?kind=step ({} steps, {} wafers)",
            steps.len(),
            wafers.len()
        ));
    }
    let kinds_below = |lot: &Value| -> HashSet<String> {
        let path = format!(
            "/v1/jobs/{}?site={}",
            lot["id"].as_str().unwrap(),
            lot["site"].as_str().unwrap()
        );
        let detail = gw.get_json(&path);
        detail["subtree"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|j| j["kind"].as_str().map(str::to_string))
            .collect()
    };
    if !lots.iter().any(|lot| {
        let kinds = kinds_below(lot);
        kinds.contains("wafer") && kinds.contains("step")
    }) {
        gaps.push("a lot whose /v1/jobs/{id} subtree holds wafers and steps".to_string());
    }
    let sources = gw.get_json("/v1/sources");
    if !sources["sources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == "fab-files" && s["type"] == "filesystem")
    {
        gaps.push(format!("the filesystem source fab-files in {sources}"));
    }
    let now = wafermon::Timestamp::now().unix_micros();
    let found = gw
        .post_json(
            "/v1/query/external",
            &json!({"source": "fab-files",
                    "time_range": {"start": ts(now - 3600 * SECOND), "end": ts(now + 60 * SECOND)}}),
        )
        .expect(200);
    let events = found["events"].as_array().unwrap();
    if events.is_empty() {
        gaps.push("events in the last hour from fab-files".to_string());
    }
    // Heartbeats go to the managed store only: the files never hold one.
    if let Some(beat) = events.iter().find(|e| e["kind"] == "heartbeat") {
        gaps.push(format!("no heartbeat in fab-files, yet it holds {beat}"));
    }
    gaps
}
