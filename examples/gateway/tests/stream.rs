//! `/v1/stream` on both stores: filtered server-sent events of newly stored events only, and
//! streams that end when the gateway is asked to stop.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{ev, ids, same_json, Gateway, PATIENCE, SECOND, T0};

on_both_stores! {
    streams_carry_only_matching_new_events_and_end_on_sigterm => streams_carry_only_matching_new_events_and_end_on_sigterm_sqlite, streams_carry_only_matching_new_events_and_end_on_sigterm_postgres;
}

fn streams_carry_only_matching_new_events_and_end_on_sigterm(db: &str) {
    let mut gw = Gateway::start(db);
    let mut failures = gw.stream("?site=fab1&kind=failed", None);
    let mut everything = gw.stream("", None);
    let mut one_job = gw.stream("?entity_id=J-B&app=etch", None);
    for s in [&failures, &everything, &one_job] {
        assert_eq!(s.status, 200);
        assert!(
            s.content_type.starts_with("text/event-stream"),
            "{}",
            s.content_type
        );
    }
    assert_eq!(gw.get_json("/v1/health")["stream_clients"], 3);

    let t = T0 + 20 * 3600 * SECOND;
    let a = ev("fab1", "etch", "J-A", "failed", t).message("a").build();
    let b = ev("fab1", "etch", "J-B", "failed", t + SECOND).build();
    let d = ev("fab1", "litho", "J-D", "failed", t + 2 * SECOND).build();
    let batches: Vec<Vec<Value>> = vec![
        vec![
            ev("fab1", "etch", "J-A", "started", t).build(),
            ev("fab2", "etch", "J-X", "failed", t).build(),
            a.clone(),
        ],
        // A replay is not new, so it is not streamed again.
        vec![b.clone(), a.clone()],
        vec![a.clone()],
        vec![ev("fab1", "etch", "J-B", "progress", t)
            .progress(5.0)
            .build()],
        vec![d.clone()],
    ];
    for batch in &batches {
        gw.ingest(batch);
    }

    // `d` comes last, so anything that should have been filtered out would already be here.
    let got = failures.take(3);
    assert_eq!(
        got.iter()
            .map(|f| f.id.clone().unwrap())
            .collect::<Vec<_>>(),
        ids(&[a.clone(), b.clone(), d.clone()])
    );
    for (frame, sent) in got.iter().zip([&a, &b, &d]) {
        assert_eq!(frame.event, "event");
        let data: Value = serde_json::from_str(&frame.data).unwrap();
        assert!(same_json(&data, sent), "{data} != {sent}");
    }

    let stored: Vec<Value> = vec![
        batches[0][0].clone(),
        batches[0][1].clone(),
        a.clone(),
        b.clone(),
        batches[3][0].clone(),
        d.clone(),
    ];
    let all = everything.take(stored.len());
    assert_eq!(
        all.iter()
            .map(|f| f.id.clone().unwrap())
            .collect::<Vec<_>>(),
        ids(&stored)
    );
    let job_b = one_job.take(2);
    assert_eq!(
        job_b
            .iter()
            .map(|f| f.id.clone().unwrap())
            .collect::<Vec<_>>(),
        ids(&[b.clone(), batches[3][0].clone()])
    );

    // A client that goes away is noticed and stops counting.
    let raw = open_raw_stream(&gw);
    assert_eq!(gw.get_json("/v1/health")["stream_clients"], 4);
    drop(raw);
    let deadline = Instant::now() + PATIENCE;
    while gw.get_json("/v1/health")["stream_clients"] != 3 {
        assert!(Instant::now() < deadline, "the closed stream still counts");
        std::thread::sleep(Duration::from_millis(20));
    }

    let status = gw.terminate();
    assert!(
        status.success(),
        "exit {status:?}; stderr:\n{}",
        gw.stderr()
    );
    for stream in [&mut failures, &mut everything, &mut one_job] {
        let (rest, error) = stream.rest();
        assert!(rest.is_empty(), "more messages after the last: {rest:?}");
        assert_eq!(error, None, "the stream did not end cleanly");
    }
}

#[test]
fn stream_filters_are_validated() {
    common::on_sqlite(|db| {
        let gw = Gateway::start(db);
        gw.get("/v1/stream?sitee=fab1").expect_error(400, "sitee");
        // The gateway still streams after a rejected request.
        let s = gw.stream("?site=fab1", None);
        assert_eq!(s.status, 200);
    });
}

/// A stream on a plain socket, read up to the end of the headers, so the test can close the
/// connection itself.
fn open_raw_stream(gw: &Gateway) -> TcpStream {
    let mut socket = TcpStream::connect(gw.addr).unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        socket,
        "GET /v1/stream HTTP/1.1\r\nHost: {}\r\n\r\n",
        gw.addr
    )
    .unwrap();
    let mut reader = BufReader::new(socket.try_clone().unwrap());
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            return socket;
        }
    }
}
