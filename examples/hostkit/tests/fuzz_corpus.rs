//! The body parsers' fuzz corpora (fuzz/corpus/{sidecar,gateway}_body/) and crash
//! regressions (fuzz/regressions/...) replayed through the functions the targets call
//! (wafermon_hostkit::fuzzing), without afl: no input may panic.

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
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
fn sidecar_body_corpus_reads_without_panic() {
    replay("sidecar_body", wafermon_hostkit::fuzzing::sidecar_body);
}

#[test]
fn gateway_body_corpus_reads_without_panic() {
    replay("gateway_body", wafermon_hostkit::fuzzing::gateway_body);
}
