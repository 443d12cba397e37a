//! The fuzz targets' corpora (fuzz/corpus/<target>/) and crash regressions
//! (fuzz/regressions/<target>/) replayed through the functions the targets call
//! (wafermon::fuzzing), without afl: every input the fuzzer kept or crashed on must now be
//! read without a panic. The body parsers' targets are replayed by hostkit's own test.

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut files = Vec::new();
    for folder in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(folder).join(target)) else {
            continue;
        };
        files.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
    }
    files.sort();
    files
}

/// Runs every input of `target`; fails naming each input that panicked.
fn replay(target: &str, run: fn(&[u8])) {
    let files = inputs(target);
    assert!(!files.is_empty(), "fuzz/corpus/{target}/ has no inputs");
    let panicked: Vec<String> = files
        .iter()
        .filter(|file| {
            let data = std::fs::read(file).expect("a corpus file");
            std::panic::catch_unwind(|| run(&data)).is_err()
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(panicked.is_empty(), "{target}: panicked on {panicked:#?}");
}

#[test]
fn event_input_corpus_reads_without_panic() {
    replay("event_input", wafermon::fuzzing::event_input);
}

#[test]
fn legacy_corpus_converts_without_panic() {
    replay("legacy", wafermon::fuzzing::legacy);
}

#[test]
fn config_corpus_loads_without_panic() {
    replay("config", wafermon::fuzzing::config);
}

#[test]
fn spool_segment_corpus_replays_without_panic() {
    replay("spool_segment", wafermon::fuzzing::spool_segment);
}

#[test]
fn record_corpus_decodes_without_panic() {
    replay("record", wafermon::fuzzing::record);
}

#[cfg(feature = "zabbix")]
#[test]
fn zabbix_answer_corpus_reads_without_panic() {
    replay("zabbix_answer", wafermon::fuzzing::zabbix_answer);
}

#[cfg(feature = "loki")]
#[test]
fn loki_answer_corpus_reads_without_panic() {
    replay("loki_answer", wafermon::fuzzing::loki_answer);
}
