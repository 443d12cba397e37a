//! The read API on both stores: job lists with filters and cursors, one job with its subtree
//! and events, ambiguous ids, and per-app hourly statistics.

mod common;

use std::collections::HashSet;

use serde_json::{json, Value};

use common::{approx, counts, encode, ev, ids, ts, Gateway, HOUR, MINUTE, SECOND, T0};

on_both_stores! {
    job_lists_filter_and_page_without_gaps => job_lists_filter_and_page_without_gaps_sqlite, job_lists_filter_and_page_without_gaps_postgres;
    a_job_shows_its_subtree_and_events => a_job_shows_its_subtree_and_events_sqlite, a_job_shows_its_subtree_and_events_postgres;
    an_id_used_at_two_sites_needs_a_site => an_id_used_at_two_sites_needs_a_site_sqlite, an_id_used_at_two_sites_needs_a_site_postgres;
    stats_count_rates_and_percentiles_per_app_and_hour => stats_count_rates_and_percentiles_per_app_and_hour_sqlite, stats_count_rates_and_percentiles_per_app_and_hour_postgres;
    awkward_ids_round_trip_through_paths_and_cursors => awkward_ids_round_trip_through_paths_and_cursors_sqlite, awkward_ids_round_trip_through_paths_and_cursors_postgres;
    stats_summarise_each_app_and_take_any_bucket_width => stats_summarise_each_app_and_take_any_bucket_width_sqlite, stats_summarise_each_app_and_take_any_bucket_width_postgres;
    jobs_are_found_by_part_of_their_business_key => jobs_are_found_by_part_of_their_business_key_sqlite, jobs_are_found_by_part_of_their_business_key_postgres;
}

/// What the test knows about one of the jobs it made.
struct Spec {
    site: &'static str,
    id: String,
    app: &'static str,
    kind: &'static str,
    status: &'static str,
    parent: Option<&'static str>,
    first: i64,
    last: i64,
}

/// 25 jobs over two sites, two apps, three statuses and two entity kinds. Some share their
/// last event time, so the page order has to break ties.
fn specs() -> Vec<Spec> {
    (0..25)
        .map(|i| {
            let first = T0 + 6 * HOUR + i64::from(i) * MINUTE;
            // Some jobs end at the same instant: (1, 2), (7, 8), ... at two sites and
            // (4, 6), (10, 12), ... at one.
            let last = first
                + MINUTE
                + match i % 6 {
                    1 => MINUTE,
                    4 => 2 * MINUTE,
                    _ => 0,
                };
            Spec {
                site: if i % 2 == 0 { "fab1" } else { "fab2" },
                id: format!("job-{i:02}"),
                app: if i % 3 == 0 { "litho" } else { "etch" },
                kind: if i % 5 == 0 { "lot" } else { "job" },
                status: match i % 4 {
                    0 => "running",
                    1 | 2 => "succeeded",
                    _ => "failed",
                },
                parent: (i % 7 == 3).then_some("batch-7"),
                first,
                last,
            }
        })
        .collect()
}

fn events_of(s: &Spec) -> Vec<Value> {
    let with = |e: common::Ev| {
        let e = e.entity_kind(s.kind);
        match s.parent {
            Some(p) => e.parent(p),
            None => e,
        }
    };
    let start = with(ev(s.site, s.app, &s.id, "started", s.first));
    let last = match s.status {
        "running" => with(ev(s.site, s.app, &s.id, "progress", s.last).progress(10.0)),
        "succeeded" => with(ev(s.site, s.app, &s.id, "finished", s.last)),
        _ => with(ev(s.site, s.app, &s.id, "failed", s.last).message("fault")),
    };
    vec![start.build(), last.build()]
}

fn key(job: &Value) -> (String, String) {
    (
        job["site"].as_str().unwrap().to_string(),
        job["id"].as_str().unwrap().to_string(),
    )
}

fn keys(jobs: &[Value]) -> Vec<(String, String)> {
    jobs.iter().map(key).collect()
}

fn job_lists_filter_and_page_without_gaps(db: &str) {
    let gw = Gateway::start(db);
    let specs = specs();
    let events: Vec<Value> = specs.iter().flat_map(events_of).collect();
    // Two requests, so some jobs are created by one batch and finished by another.
    let (a, b) = events.split_at(events.len() / 2 + 1);
    gw.ingest(a);
    gw.ingest(b);

    // Newest last event first; ties by site then id, descending.
    let mut expected: Vec<&Spec> = specs.iter().collect();
    expected.sort_by(|x, y| (y.last, y.site, &y.id).cmp(&(x.last, x.site, &x.id)));
    let expected_keys: Vec<(String, String)> = expected
        .iter()
        .map(|s| (s.site.to_string(), s.id.clone()))
        .collect();

    let whole = gw.get_json("/v1/jobs?limit=100");
    assert_eq!(whole["next_cursor"], Value::Null);
    assert_eq!(keys(whole["jobs"].as_array().unwrap()), expected_keys);

    for page in [1, 7, 24, 25] {
        let paged = gw.all_jobs("", page);
        let got = keys(&paged);
        let unique: HashSet<&(String, String)> = got.iter().collect();
        assert_eq!(unique.len(), got.len(), "page {page}: duplicates");
        assert_eq!(got, expected_keys, "page {page}");
    }
    // Times render like event times, and order follows them.
    let times: Vec<String> = whole["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["last_event_at"].as_str().unwrap().to_string())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    assert_eq!(times[0], ts(expected[0].last));

    let check = |query: &str, want: &dyn Fn(&Spec) -> bool| {
        let mut got = keys(&gw.all_jobs(query, 4));
        let mut exp: Vec<(String, String)> = specs
            .iter()
            .filter(|s| want(s))
            .map(|s| (s.site.to_string(), s.id.clone()))
            .collect();
        assert!(!exp.is_empty(), "{query}: the data should have matches");
        got.sort();
        exp.sort();
        assert_eq!(got, exp, "{query}");
    };
    check("site=fab1", &|s| s.site == "fab1");
    check("app=litho", &|s| s.app == "litho");
    check("status=failed", &|s| s.status == "failed");
    check("status=running", &|s| s.status == "running");
    check("kind=lot", &|s| s.kind == "lot");
    check("parent=batch-7", &|s| s.parent == Some("batch-7"));
    check("site=fab2&app=etch&status=succeeded", &|s| {
        s.site == "fab2" && s.app == "etch" && s.status == "succeeded"
    });
    let (start, end) = (T0 + 6 * HOUR + 10 * MINUTE, T0 + 6 * HOUR + 15 * MINUTE);
    check(&format!("start={}", encode(&ts(start))), &|s| {
        s.last >= start
    });
    check(&format!("end={}", encode(&ts(end))), &|s| s.first < end);
    check(
        &format!("start={}&end={}", encode(&ts(start)), encode(&ts(end))),
        &|s| s.last >= start && s.first < end,
    );
    // Filters that match nothing give an empty page, not an error.
    let none = gw.get_json("/v1/jobs?site=nowhere");
    assert_eq!(none, json!({"jobs": [], "next_cursor": null}));

    // Each listed job has the documented fields.
    let job = gw.job("job-03")["job"].clone();
    for field in [
        "site",
        "id",
        "app",
        "kind",
        "name",
        "key",
        "parent",
        "status",
        "progress",
        "started_at",
        "ended_at",
        "duration_s",
        "cpu_s",
        "max_rss_bytes",
        "message",
        "first_event_at",
        "last_event_at",
        "event_count",
    ] {
        assert!(job.get(field).is_some(), "no {field} in {job}");
    }
    assert_eq!(job["parent"], "batch-7");
    assert_eq!(job["status"], "failed");
    assert_eq!(job["message"], "fault");
}

fn a_job_shows_its_subtree_and_events(db: &str) {
    let gw = Gateway::start(db);
    let t = T0 + 8 * HOUR;
    let job = [
        ev("fab1", "etch", "P", "started", t).name("etch-lot"),
        ev("fab1", "etch", "P", "progress", t + 30 * SECOND).progress(50.0),
        ev("fab1", "etch", "P", "finished", t + 60 * SECOND),
    ]
    .map(|e| e.build());
    let sub = [
        ev("fab1", "etch", "P.rinse", "started", t + SECOND)
            .entity_kind("subjob")
            .parent("P"),
        ev("fab1", "etch", "P.rinse", "finished", t + 20 * SECOND)
            .entity_kind("subjob")
            .parent("P"),
    ]
    .map(|e| e.build());
    let subsub = ev("fab1", "etch", "P.rinse.dry", "started", t + 2 * SECOND)
        .entity_kind("step")
        .parent("P.rinse")
        .build();
    // The same names at another site are another tree.
    let elsewhere = [
        ev("fab2", "etch", "P", "started", t + 3 * SECOND).build(),
        ev("fab2", "etch", "P.other", "started", t + 3 * SECOND)
            .parent("P")
            .build(),
    ];
    // Newest first, split across requests, so storage order is not time order.
    gw.ingest(&[job[2].clone(), subsub.clone()]);
    gw.ingest(&[sub[1].clone(), job[0].clone(), elsewhere[0].clone()]);
    gw.ingest(&[job[1].clone(), sub[0].clone(), elsewhere[1].clone()]);

    let detail = gw.get_json("/v1/jobs/P?site=fab1");
    assert_eq!(detail["job"]["id"], "P");
    assert_eq!(detail["job"]["name"], "etch-lot");
    assert_eq!(detail["job"]["status"], "succeeded");
    let subtree: Vec<(&str, &str, &str)> = detail["subtree"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["id"].as_str().unwrap(),
                j["parent"].as_str().unwrap(),
                j["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        subtree,
        [
            ("P.rinse", "P", "subjob"),
            ("P.rinse.dry", "P.rinse", "step")
        ]
    );
    assert_eq!(detail["subtree"][0]["status"], "succeeded");
    assert_eq!(detail["subtree"][1]["status"], "running");
    let events = detail["events"].as_array().unwrap();
    assert_eq!(ids(events), ids(&job));
    // The events come back as sent.
    for (got, sent) in events.iter().zip(&job) {
        assert!(common::same_json(got, sent), "{got} != {sent}");
    }

    let limited = gw.get_json("/v1/jobs/P?site=fab1&events_limit=2");
    assert_eq!(ids(limited["events"].as_array().unwrap()), ids(&job[..2]));

    // A subjob has its own subtree.
    let rinse = gw.job("P.rinse");
    assert_eq!(rinse["subtree"].as_array().unwrap().len(), 1);
    assert_eq!(rinse["subtree"][0]["id"], "P.rinse.dry");
    let leaf = gw.job("P.rinse.dry");
    assert_eq!(leaf["subtree"], json!([]));

    gw.get("/v1/jobs/no-such-job")
        .expect_error(404, "no-such-job");
    gw.get("/v1/jobs/P.rinse?site=fab2").expect(404);
}

fn an_id_used_at_two_sites_needs_a_site(db: &str) {
    let gw = Gateway::start(db);
    let t = T0 + 9 * HOUR;
    gw.ingest(&[
        ev("fab1", "etch", "LOT-42", "started", t).build(),
        ev("fab2", "litho", "LOT-42", "failed", t + SECOND).build(),
        ev("fab2", "litho", "only-here", "started", t).build(),
    ]);
    let reply = gw.get("/v1/jobs/LOT-42");
    let body = reply.expect_error(409, "site");
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("fab1") && message.contains("fab2"),
        "{reply}"
    );
    let one = gw.get_json("/v1/jobs/LOT-42?site=fab2");
    assert_eq!(one["job"]["site"], "fab2");
    assert_eq!(one["job"]["app"], "litho");
    assert_eq!(one["job"]["status"], "failed");
    assert_eq!(one["events"].as_array().unwrap().len(), 1);
    let other = gw.get_json("/v1/jobs/LOT-42?site=fab1");
    assert_eq!(other["job"]["status"], "running");
    assert_eq!(gw.job("only-here")["job"]["site"], "fab2");
    gw.get("/v1/jobs/LOT-42?site=fab9").expect(404);
}

fn stats_count_rates_and_percentiles_per_app_and_hour(db: &str) {
    let gw = Gateway::start(db);
    let h = T0 + 12 * HOUR;
    let mut events = Vec::new();
    let mut end = |site: &str, app: &str, id: &str, kind: &str, at: i64, duration: f64| {
        events.push(ev(site, app, id, "started", at - 100 * SECOND).build());
        events.push(
            ev(site, app, id, kind, at)
                .metric("duration_s", duration)
                .build(),
        );
    };
    // etch in hour h: durations 1, 2, 3, 4; three succeeded and one failed.
    end("fab1", "etch", "e1", "finished", h + 5 * MINUTE, 3.0);
    end("fab1", "etch", "e2", "failed", h + 10 * MINUTE, 1.0);
    end("fab2", "etch", "e3", "finished", h + 20 * MINUTE, 4.0);
    end("fab1", "etch", "e4", "finished", h + 59 * MINUTE, 2.0);
    // litho in hour h+1: one succeeded, one canceled.
    end("fab1", "litho", "l1", "finished", h + HOUR, 10.0);
    end(
        "fab1",
        "litho",
        "l2",
        "canceled",
        h + HOUR + 30 * MINUTE,
        20.0,
    );
    // Outside the window.
    end("fab1", "etch", "old", "finished", h - 2 * HOUR, 99.0);
    // Still running, seen in the window.
    events.push(ev("fab1", "etch", "r1", "started", h + 3 * MINUTE).build());
    gw.ingest(&events);

    let window = format!("start={}&end={}", encode(&ts(h)), encode(&ts(h + 2 * HOUR)));
    let stats = gw.get_json(&format!("/v1/stats?{window}"));
    assert_eq!(stats["start"], ts(h));
    assert_eq!(stats["end"], ts(h + 2 * HOUR));
    assert_eq!(stats["running"], 1, "{stats}");
    let totals = &stats["totals"];
    assert_eq!(
        (
            &totals["ended"],
            &totals["succeeded"],
            &totals["failed"],
            &totals["canceled"]
        ),
        (&json!(6), &json!(4), &json!(1), &json!(1)),
        "{stats}"
    );
    assert!(approx(&totals["success_rate"], 4.0 / 6.0), "{stats}");
    let hours = stats["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 2, "{stats}");
    let etch = &hours[0];
    assert_eq!(etch["app"], "etch");
    assert_eq!(etch["hour"], ts(h));
    assert_eq!(etch["ended"], 4);
    assert_eq!(etch["succeeded"], 3);
    assert_eq!(etch["failed"], 1);
    assert_eq!(etch["canceled"], 0);
    assert!(approx(&etch["success_rate"], 0.75), "{etch}");
    assert!(approx(&etch["p50_duration_s"], 2.5), "{etch}");
    assert!(approx(&etch["p95_duration_s"], 3.85), "{etch}");
    let litho = &hours[1];
    assert_eq!(litho["app"], "litho");
    assert_eq!(litho["hour"], ts(h + HOUR));
    assert_eq!(
        (&litho["ended"], &litho["canceled"]),
        (&json!(2), &json!(1))
    );
    assert!(approx(&litho["success_rate"], 0.5), "{litho}");
    assert!(approx(&litho["p50_duration_s"], 15.0), "{litho}");
    assert!(approx(&litho["p95_duration_s"], 19.5), "{litho}");

    let only_litho = gw.get_json(&format!("/v1/stats?{window}&app=litho"));
    assert_eq!(only_litho["hours"].as_array().unwrap().len(), 1);
    assert_eq!(only_litho["totals"]["ended"], 2);
    assert_eq!(only_litho["running"], 0);

    let fab2 = gw.get_json(&format!("/v1/stats?{window}&site=fab2"));
    assert_eq!(fab2["totals"]["ended"], 1);
    assert!(approx(&fab2["hours"][0]["p50_duration_s"], 4.0), "{fab2}");

    let jobs_kind = gw.get_json(&format!("/v1/stats?{window}&kind=lot"));
    assert_eq!(jobs_kind["totals"]["ended"], 0);
    assert_eq!(jobs_kind["totals"]["success_rate"], Value::Null);
    assert_eq!(jobs_kind["hours"], json!([]));

    // The hour before holds only the old job.
    let before = gw.get_json(&format!(
        "/v1/stats?start={}&end={}",
        encode(&ts(h - 3 * HOUR)),
        encode(&ts(h))
    ));
    let apps = counts(
        before["hours"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["app"].as_str().unwrap()),
    );
    assert_eq!(apps.len(), 1);
    // The running job started after this window: it was not running in it.
    assert_eq!(before["running"], 0, "{before}");
    assert!(
        approx(&before["hours"][0]["p50_duration_s"], 99.0),
        "{before}"
    );

    // Hours are floored on both stores, before the epoch too.
    gw.ingest(&[ev("fab1", "etch", "epoch", "finished", -30 * MINUTE).build()]);
    let early = gw.get_json(&format!(
        "/v1/stats?start={}&end={}",
        encode(&ts(-HOUR)),
        encode(&ts(HOUR))
    ));
    assert_eq!(early["hours"][0]["hour"], ts(-HOUR), "{early}");
}

fn stats_summarise_each_app_and_take_any_bucket_width(db: &str) {
    let gw = Gateway::start(db);
    let h = T0 + 30 * HOUR;
    let mut events = Vec::new();
    let mut end = |app: &str, id: &str, kind: &str, at: i64, duration: f64, cpu: f64, rss: f64| {
        events.push(ev("fab1", app, id, "started", at - 100 * SECOND).build());
        events.push(
            ev("fab1", app, id, kind, at)
                .metric("duration_s", duration)
                .metric("cpu_user_s", cpu * 0.75)
                .metric("cpu_system_s", cpu * 0.25)
                .metric("max_rss_bytes", rss)
                .build(),
        );
    };
    end("etch", "e1", "finished", h + 5 * MINUTE, 1.0, 2.0, 100.0);
    end("etch", "e2", "failed", h + 20 * MINUTE, 3.0, 4.0, 300.0);
    end("etch", "e3", "finished", h + 50 * MINUTE, 2.0, 6.0, 200.0);
    end("litho", "l1", "canceled", h + 40 * MINUTE, 8.0, 1.0, 50.0);
    gw.ingest(&events);
    let window = format!("start={}&end={}", encode(&ts(h)), encode(&ts(h + HOUR)));

    let stats = gw.get_json(&format!("/v1/stats?{window}&bucket_s=1800"));
    assert_eq!(stats["bucket_s"], 1800, "{stats}");
    let buckets: Vec<(&str, &str, i64)> = stats["hours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["app"].as_str().unwrap(),
                b["hour"].as_str().unwrap(),
                b["ended"].as_i64().unwrap(),
            )
        })
        .collect();
    let half = ts(h + 30 * MINUTE);
    let first = ts(h);
    assert_eq!(
        buckets,
        vec![
            ("etch", first.as_str(), 2),
            ("etch", half.as_str(), 1),
            ("litho", half.as_str(), 1)
        ],
        "{stats}"
    );

    let apps = stats["apps"].as_array().unwrap();
    assert_eq!(apps.len(), 2, "{stats}");
    let etch = &apps[0];
    assert_eq!(etch["app"], "etch");
    assert_eq!(
        (&etch["ended"], &etch["succeeded"], &etch["failed"]),
        (&json!(3), &json!(2), &json!(1))
    );
    assert!(approx(&etch["p50_duration_s"], 2.0), "{etch}");
    assert!(approx(&etch["p95_duration_s"], 2.9), "{etch}");
    assert!(approx(&etch["mean_cpu_s"], 4.0), "{etch}");
    assert!(approx(&etch["peak_rss_bytes"], 300.0), "{etch}");
    assert!(approx(&etch["success_rate"], 2.0 / 3.0), "{etch}");
    let litho = &apps[1];
    assert_eq!(
        (&litho["app"], &litho["canceled"]),
        (&json!("litho"), &json!(1))
    );
    assert!(approx(&litho["mean_cpu_s"], 1.0), "{litho}");

    for bad in ["0", "59", "7", "100000", "-1", "x"] {
        let reply = gw.get(&format!("/v1/stats?{window}&bucket_s={bad}"));
        assert_eq!(reply.status, 400, "bucket_s={bad}");
        assert!(
            reply.body.contains("bucket_s"),
            "bucket_s={bad}: {}",
            reply.body
        );
    }
}

fn jobs_are_found_by_part_of_their_business_key(db: &str) {
    let gw = Gateway::start(db);
    let at = T0 + 40 * HOUR;
    gw.ingest(&[
        ev("fab1", "etch", "j1", "started", at)
            .key("LOT-1001")
            .build(),
        ev("fab1", "etch", "j2", "started", at)
            .key("LOT-1002")
            .build(),
        ev("fab1", "etch", "j3", "started", at)
            .key("LOT_2001%")
            .build(),
        ev("fab1", "etch", "j4", "started", at)
            .name("rework LOT-1001")
            .build(),
    ]);
    let found = |q: &str| {
        let mut ids: Vec<String> = gw
            .all_jobs(&format!("q={}", encode(q)), 100)
            .iter()
            .map(|j| j["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(
        found("lot-100"),
        ["j1", "j2", "j4"],
        "any case, key or name"
    );
    assert_eq!(found("LOT-1001"), ["j1", "j4"]);
    // LIKE's wildcards are taken as the characters they are.
    assert_eq!(found("T_2"), ["j3"]);
    assert_eq!(found("2001%"), ["j3"]);
    assert_eq!(found("%"), ["j3"]);
    assert_eq!(found("j2"), ["j2"], "the id matches too");
    assert_eq!(
        found("  LOT-1002 "),
        ["j2"],
        "surrounding spaces are ignored"
    );
    assert!(found("LOT-9").is_empty());
}

fn awkward_ids_round_trip_through_paths_and_cursors(db: &str) {
    let gw = Gateway::start(db);
    let t = T0 + 10 * HOUR;
    let awkward = [
        ("fab~1", "a~b~c"),
        ("fab%1", "100%"),
        ("fab~1", "%7E"),
        ("fab 1", "lot 42/wafer 7"),
        ("fab1", "über-job?x=1&y=#2"),
        ("fab1", "a+b"),
    ];
    let events: Vec<Value> = awkward
        .iter()
        .enumerate()
        .map(|(i, (site, id))| ev(site, "etch", id, "started", t + i as i64 * SECOND).build())
        .collect();
    gw.ingest(&events);
    let mut expected: Vec<(String, String)> = awkward
        .iter()
        .rev()
        .map(|(s, i)| (s.to_string(), i.to_string()))
        .collect();
    assert_eq!(keys(&gw.all_jobs("", 1)), expected);
    assert_eq!(keys(&gw.all_jobs("", 2)), expected);
    for (site, id) in &awkward {
        let path = format!("/v1/jobs/{}?site={}", encode(id), encode(site));
        let detail = gw.get_json(&path);
        assert_eq!(detail["job"]["id"], *id, "{path}");
        assert_eq!(detail["job"]["site"], *site, "{path}");
        let listed = gw.all_jobs(&format!("site={}", encode(site)), 1);
        assert!(keys(&listed).contains(&(site.to_string(), id.to_string())));
    }
    expected.sort();
    let mut by_time = keys(&gw.all_jobs(&format!("start={}", encode(&ts(t))), 3));
    by_time.sort();
    assert_eq!(by_time, expected);
}
