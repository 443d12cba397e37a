//! The body parsers' fuzz corpora (fuzz/corpus/{sidecar,gateway}_body/) and crash
//! regressions (fuzz/regressions/...) replayed through the functions the targets call
//! (wafermon_hostkit::fuzzing), without afl: no input may panic.

use wafermon_testkit::fuzz::replay;

#[test]
fn sidecar_body_corpus_reads_without_panic() {
    replay("sidecar_body", wafermon_hostkit::fuzzing::sidecar_body);
}

#[test]
fn gateway_body_corpus_reads_without_panic() {
    replay("gateway_body", wafermon_hostkit::fuzzing::gateway_body);
}
