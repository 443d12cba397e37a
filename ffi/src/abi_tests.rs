//! The extern functions called directly from Rust (unit tests: the crate has no rlib, so
//! integration tests cannot link it): NULLs, bad handles, panics, job endings.
//! (The main proof is C: c/tests/api_safety.c.)

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use crate::*;

fn last_error() -> String {
    unsafe { CStr::from_ptr(wm_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn c(text: &str) -> CString {
    CString::new(text).unwrap()
}

fn client_in(dir: &std::path::Path) -> *mut wm_client {
    let json = serde_json::json!({
        "app": {"name": "ffi-test", "site_id": "fab-t", "instance_id": "i-1"},
        "direct_backends": [{"type": "filesystem", "path": dir.join("data")}],
        "spool": {"path": dir.join("spool")},
    })
    .to_string();
    let mut config = ptr::null_mut();
    assert_eq!(
        unsafe { wm_config_from_json(c(&json).as_ptr(), &mut config) },
        wm_status::WM_OK,
        "{}",
        last_error()
    );
    let mut client = ptr::null_mut();
    assert_eq!(
        unsafe { wm_client_new(config, &mut client) },
        wm_status::WM_OK
    );
    assert_eq!(unsafe { wm_config_free(config) }, wm_status::WM_OK);
    client
}

#[test]
fn a_panic_inside_is_reported_not_propagated() {
    assert_eq!(wm_debug_panic(), wm_status::WM_ERR_PANIC);
    assert!(
        last_error().starts_with("panic in wm_debug_panic: "),
        "{}",
        last_error()
    );
}

#[test]
fn nulls_name_the_argument() {
    let mut config = ptr::null_mut();
    let status = unsafe { wm_config_from_json(ptr::null(), &mut config) };
    assert_eq!(status, wm_status::WM_ERR_INVALID_ARGUMENT);
    assert_eq!(
        last_error(),
        "invalid argument to wm_config_from_json: json is NULL"
    );
    assert!(config.is_null());

    let status = unsafe { wm_emit_json(ptr::null_mut(), c("{}").as_ptr()) };
    assert_eq!(status, wm_status::WM_ERR_INVALID_ARGUMENT);
    assert_eq!(
        last_error(),
        "invalid argument to wm_emit_json: client is NULL"
    );

    assert_eq!(unsafe { wm_client_free(ptr::null_mut()) }, wm_status::WM_OK);
    assert_eq!(last_error(), "");
}

#[test]
fn invalid_utf8_is_rejected() {
    let bad = [b'{', 0xff, b'}', 0u8];
    let mut config = ptr::null_mut();
    let status = unsafe { wm_config_from_json(bad.as_ptr().cast::<c_char>(), &mut config) };
    assert_eq!(status, wm_status::WM_ERR_INVALID_ARGUMENT);
    assert!(
        last_error().contains("json is not valid UTF-8"),
        "{}",
        last_error()
    );
}

#[test]
fn double_free_and_wrong_kind_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    // A client handle where a job is expected.
    let status = unsafe { wm_job_finish(client.cast::<wm_job>()) };
    assert_eq!(status, wm_status::WM_ERR_INVALID_ARGUMENT);
    assert!(last_error().contains("job is a wafermon client handle, not a job handle"));

    assert_eq!(unsafe { wm_client_free(client) }, wm_status::WM_OK);
    assert_eq!(
        unsafe { wm_client_free(client) },
        wm_status::WM_ERR_INVALID_ARGUMENT
    );
    assert!(last_error().contains("client is not a live wafermon handle (already freed?)"));
    let status = unsafe { wm_emit_json(client, c("{}").as_ptr()) };
    assert_eq!(status, wm_status::WM_ERR_INVALID_ARGUMENT);
}

#[test]
fn an_ended_job_answers_closed() {
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(dir.path());
    let mut job = ptr::null_mut();
    let options = c(r#"{"kind": "lot", "key": "LOT42", "attrs": {"tool": "ETCH-01", "n": 3}}"#);
    let status = unsafe { wm_job_start(client, c("etch").as_ptr(), options.as_ptr(), &mut job) };
    assert_eq!(status, wm_status::WM_OK, "{}", last_error());
    assert_eq!(unsafe { wm_job_finish(job) }, wm_status::WM_OK);
    assert_eq!(unsafe { wm_job_finish(job) }, wm_status::WM_ERR_CLOSED);
    assert!(
        last_error().contains("has already finished"),
        "{}",
        last_error()
    );
    let mut id = ptr::null();
    assert_eq!(unsafe { wm_job_id(job, &mut id) }, wm_status::WM_OK);
    assert_eq!(unsafe { CStr::from_ptr(id) }.to_bytes().len(), 36);
    assert_eq!(unsafe { wm_job_free(job) }, wm_status::WM_OK);
    assert_eq!(unsafe { wm_close(client, 5000) }, wm_status::WM_OK);
    let mut stats = ptr::null_mut();
    assert_eq!(
        unsafe { wm_stats_json(client, &mut stats) },
        wm_status::WM_OK
    );
    let text = unsafe { CStr::from_ptr(stats) }
        .to_string_lossy()
        .into_owned();
    assert!(text.contains("\"emitted\":2"), "{text}");
    assert_eq!(unsafe { wm_string_free(stats) }, wm_status::WM_OK);
    assert_eq!(
        unsafe { wm_string_free(stats) },
        wm_status::WM_ERR_INVALID_ARGUMENT
    );
    assert_eq!(unsafe { wm_client_free(client) }, wm_status::WM_OK);
}
