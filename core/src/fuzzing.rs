//! What the fuzz targets (`fuzz/`) run, and the test that replays their corpora
//! (`tests/fuzz_corpus.rs`): one function per parser, each taking arbitrary bytes and reading
//! them the way the library reads that input, then using what it read the way the library
//! does next. A panic (or an abort on allocation) here is a bug. Feature `fuzzing`; not part
//! of the API.

use std::path::PathBuf;

use serde_json::Value;

use crate::config::Config;
use crate::event::{self, App, LegacyDefaults};
use crate::pipeline::record::{decode_ref, encode, no_defaults, Defaults, Fields};
use crate::{Event, EventRef, IngestBatch};

/// The event input (`emit_json`, the C and language skins): parsed, validated, encoded as
/// `emit` encodes it, and as a complete event, which must survive the record format.
pub fn event_input(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(new) = event::parse_event_json(text) else {
        return;
    };
    let _ = IngestBatch::default().push(&new);
    if let Ok(complete) = new.into_complete() {
        round_trip(&complete);
    }
}

/// The legacy converter, on a JSON body as the sidecar hands it over.
pub fn legacy(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let _ = event::is_legacy(&value);
    let defaults = LegacyDefaults::from_config(&Config::default().app);
    if let Ok(converted) = event::from_legacy(&value, &defaults) {
        let _ = converted.validate();
        round_trip(&converted);
    }
    if let Ok(new) = event::parse_legacy_value(&value, &defaults) {
        let _ = IngestBatch::default().push(&new);
    }
}

/// The config loader (a JSON object on top of the defaults), and the backend list it gives.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::from_json_str(text) {
        let _ = config.active_backends();
    }
}

/// The spool segment reader: `data` is a segment file left by an earlier process, replayed
/// (opened, read and committed batch by batch) until the spool is empty.
pub fn spool_segment(data: &[u8]) {
    crate::pipeline::replay_segment(&scratch_dir("spool"), data);
}

/// The record decoder: a record as a batch or the spool holds it, read as the lanes read it
/// and written as JSON as the writers write it.
pub fn record(data: &[u8]) {
    let app = App {
        name: "fuzz".into(),
        version: None,
        instance: None,
    };
    let defaults = Defaults {
        site: "fuzz",
        app: &app,
    };
    let Ok(view) = decode_ref(data, &defaults, 1) else {
        return;
    };
    let mut json = Vec::new();
    event::json::write_event(&mut json, &view);
    let by_serde = serde_json::to_vec(&view).expect("a view serializes");
    assert_eq!(json, by_serde, "the hand-written JSON differs from serde's");
    let _ = view.to_event();
    // Compared as bytes: a record may hold NaN, which no event equals.
    let mut again = Vec::new();
    encode(&Fields::of_ref(&view), &mut again);
    let reread = decode_ref(&again, &defaults, 1).expect("a re-encoded view decodes");
    let mut third = Vec::new();
    encode(&Fields::of_ref(&reread), &mut third);
    assert_eq!(again, third, "a record read and written again changed");
}

/// The Zabbix answers: the sender protocol's answer frame, and the JSON-RPC API's answers
/// (item.get, then history.get pages) the reader turns into events, given as texts separated
/// by NUL bytes (which JSON never holds raw).
pub fn zabbix_answer(data: &[u8]) {
    #[cfg(feature = "zabbix")]
    let _ = crate::backends::zabbix::read_answer(data);
    #[cfg(all(feature = "zabbix", feature = "read"))]
    {
        let texts: Vec<String> = data
            .split(|b| *b == 0)
            .map(|part| String::from_utf8_lossy(part).into_owned())
            .collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        crate::backends::zabbix::read::read_answers(&texts);
    }
    let _ = data;
}

/// The Loki answers: a push refusal's body, and a query_range answer with the events its
/// lines hold.
pub fn loki_answer(data: &[u8]) {
    #[cfg(feature = "loki")]
    crate::backends::loki::read_refusal(data);
    #[cfg(all(feature = "loki", feature = "read"))]
    crate::backends::loki::read::read_answer(data);
    let _ = data;
}

/// An event as a record and back: what a backend gets must be what was emitted.
fn round_trip(event: &Event) {
    let mut record = Vec::new();
    encode(&Fields::of_event(event), &mut record);
    let view: EventRef<'_> =
        decode_ref(&record, &no_defaults(), event.seq).expect("a record just encoded decodes");
    assert_eq!(&view.to_event(), event, "the record changed the event");
}

/// A folder of this process's own for a target's files.
fn scratch_dir(target: &str) -> PathBuf {
    std::env::temp_dir().join(format!("wafermon-fuzz-{target}-{}", std::process::id()))
}
