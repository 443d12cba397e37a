//! The checked-in c/include/wafermon.h must be exactly what cbindgen generates from this
//! crate. `WAFERMON_BLESS=1 cargo test -p wafermon-ffi --test header` rewrites it.

use std::path::{Path, PathBuf};

fn generate() -> String {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .unwrap_or_else(|e| panic!("ffi/cbindgen.toml: {e}"));
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen failed: {e}"));
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("cbindgen writes UTF-8")
}

fn header_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../c/include/wafermon.h")
}

#[test]
fn checked_in_header_is_up_to_date() {
    let fresh = generate();
    let path = header_path();
    if std::env::var_os("WAFERMON_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &fresh).expect("write c/include/wafermon.h");
        eprintln!("rewrote {}", path.display());
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current != fresh {
        let first_diff = current
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| current.lines().count().min(fresh.lines().count()));
        panic!(
            "c/include/wafermon.h is stale (first difference at line {}).\n\
             It is generated from ffi/src by cbindgen; regenerate it with\n\
             \n    WAFERMON_BLESS=1 cargo test -p wafermon-ffi --test header\n\n\
             and commit the result.",
            first_diff + 1
        );
    }
}

#[test]
fn header_declares_the_whole_api() {
    let header = generate();
    for name in [
        "wm_config_from_json",
        "wm_config_from_file",
        "wm_config_from_env",
        "wm_config_free",
        "wm_client_new",
        "wm_client_new_for_program",
        "wm_close_at_exit",
        "wm_client_free",
        "wm_emit_json",
        "wm_job_start",
        "wm_job_start_sub",
        "wm_job_new",
        "wm_job_new_sub",
        "wm_job_set_kind",
        "wm_job_set_key",
        "wm_job_set_id",
        "wm_job_attr_string",
        "wm_job_attr_int",
        "wm_job_attr_double",
        "wm_job_attr_bool",
        "wm_job_begin",
        "wm_job_id",
        "wm_job_progress",
        "wm_job_metric",
        "wm_job_log",
        "wm_job_finish",
        "wm_job_fail",
        "wm_job_cancel",
        "wm_job_free",
        "wm_flush",
        "wm_close",
        "wm_stats_json",
        "wm_string_free",
        "wm_version",
        "wm_last_error",
    ] {
        assert!(
            header.contains(&format!("{name}(")),
            "{name} missing from header"
        );
    }
    assert!(header.contains("typedef enum wm_status {"));
    assert!(header.contains("WM_MUST_USE enum wm_status wm_emit_json("));
}
