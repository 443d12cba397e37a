//! Helpers shared by the benches.

use std::io::Read;
use std::path::Path;

/// Lines and bytes of every JSONL file under `root`.
pub fn jsonl_lines_and_bytes(root: &Path) -> (u64, u64) {
    fn walk(dir: &Path, acc: &mut (u64, u64), buf: &mut [u8]) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, acc, buf);
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                let Ok(mut file) = std::fs::File::open(&path) else {
                    continue;
                };
                while let Ok(n) = file.read(buf) {
                    if n == 0 {
                        break;
                    }
                    acc.0 += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
                    acc.1 += n as u64;
                }
            }
        }
    }
    let mut acc = (0, 0);
    let mut buf = vec![0u8; 1 << 20];
    walk(root, &mut acc, &mut buf);
    acc
}
