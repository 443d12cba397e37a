//! The managed store as a TimescaleDB hypertable, on the PGlite + TimescaleDB stand-in
//! (scripts/servers/timescaledb.sh; no real TimescaleDB server can be installed here). A
//! hypertable's unique indexes must contain its time column, so there an event is unique
//! per (id, time), not per id as on SQLite and plain PostgreSQL (issue 16, defect 8).

mod common;

use serde_json::json;
use wafermon_testkit::servers::PrivateServer;

use common::{encode, ev, pg_execute, pg_query, schema_versions, ts, Gateway, HOUR, SECOND, T0};

#[test]
fn on_a_hypertable_an_event_is_unique_per_id_and_time() {
    // PGlite is one database: a private instance keeps this test's tables its own.
    let dir = tempfile::tempdir().unwrap();
    let server = PrivateServer::start("timescaledb", dir.path());
    let mut gw = Gateway::start(&server.address);
    let health = gw.get_json("/v1/health");
    assert_eq!(health["store"]["engine"], "timescaledb", "{health}");
    let first = ev("fab1", "etch", "H-1", "started", T0 + HOUR).build();
    assert_eq!(gw.ingest(std::slice::from_ref(&first))["stored"], 1);
    // The same id and time: a duplicate, not folded again.
    let replay = gw.ingest(std::slice::from_ref(&first));
    assert_eq!(
        replay,
        json!({"accepted": 1, "stored": 0, "duplicates": 1, "rejected": [], "rejected_count": 0})
    );
    assert_eq!(gw.job("H-1")["job"]["event_count"], 1);

    // The same id with another time: a second row, counted in its job.
    let mut moved = first.clone();
    moved["time"] = json!(ts(T0 + HOUR + 30 * SECOND));
    assert_eq!(gw.ingest(&[moved])["stored"], 1);
    let job = gw.job("H-1");
    assert_eq!(job["job"]["event_count"], 2, "{job}");
    assert_eq!(job["events"].as_array().unwrap().len(), 2, "{job}");

    // The unified view still shows the id once.
    let window = format!(
        "start={}&end={}",
        encode(&ts(T0 + HOUR)),
        encode(&ts(T0 + 2 * HOUR))
    );
    let view = gw.get_json(&format!("/v1/data/unified?site_id=fab1&{window}"));
    let ids: Vec<&str> = view["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [first["id"].as_str().unwrap()], "{view}");

    // PGlite serves one session at a time and the gateway's pool holds its connections: ask
    // the database itself once the gateway is gone.
    assert!(gw.terminate().success(), "{}", gw.stderr());
    assert_eq!(hypertables(&server.address), ["events"]);
    // The id-only unique index of the plain table cannot exist on a hypertable.
    let indexes = pg_query(
        &server.address,
        "SELECT indexname::text FROM pg_indexes WHERE tablename = 'events' ORDER BY 1",
    )
    .unwrap();
    let indexes: Vec<String> = indexes.iter().map(|r| r.get(0)).collect();
    assert!(!indexes.contains(&"events_id".to_string()), "{indexes:?}");

    // A hypertable made by the version before the id index: its migration must leave the
    // hypertable as it is (an index on id alone cannot be made there), and the gateway starts
    // and stores on it. A fresh PGlite session, since the old one keeps the gateway's
    // prepared statements' names; reopened, PGlite refuses compression, so the gateway says
    // it could not enable TimescaleDB's policies and reports plain PostgreSQL, while `events`
    // stays a hypertable.
    pg_execute(
        &server.address,
        "DELETE FROM schema_migrations WHERE version = 2",
    )
    .unwrap();
    server.stop();
    server.restart();
    let mut upgraded = Gateway::start(&server.address);
    let later = ev("fab1", "etch", "H-1", "finished", T0 + HOUR + 60 * SECOND).build();
    assert_eq!(upgraded.ingest(&[later])["stored"], 1);
    assert_eq!(upgraded.job("H-1")["job"]["event_count"], 3);
    assert!(upgraded.terminate().success(), "{}", upgraded.stderr());
    assert_eq!(hypertables(&server.address), ["events"]);
    assert_eq!(schema_versions(&server.address), [1, 2, 3]);
}

fn hypertables(url: &str) -> Vec<String> {
    pg_query(
        url,
        "SELECT hypertable_name::text FROM timescaledb_information.hypertables",
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}
