//! The fuzz targets' corpora (fuzz/corpus/<target>/) and crash regressions
//! (fuzz/regressions/<target>/) replayed through the functions the targets call
//! (wafermon::fuzzing), without afl: every input the fuzzer kept or crashed on must now be
//! read without a panic. The body parsers' targets are replayed by hostkit's own test.

use wafermon_testkit::fuzz::replay;

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
