//! The fuzz targets' corpora (fuzz/corpus/<target>/) and crash regressions
//! (fuzz/regressions/<target>/) replayed through the function a target calls, without afl.

use std::path::PathBuf;

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = crate::in_checkout("fuzz");
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

/// Runs every input of `target` through `run`; fails naming each input that panicked.
pub fn replay(target: &str, run: fn(&[u8])) {
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
