//! Configuration sources and their precedence: explicit > WAFERMON_CONFIG file > WAFERMON_*
//! variables > defaults. One test in its own binary, because it changes the environment.

use serde_json::json;
use wafermon::config::{BackendKind, FileFormat, Mode, OnFull};
use wafermon::{Config, ErrorKind};

fn clear_env() {
    for (var, _) in wafermon::config::ENV_VARS {
        std::env::remove_var(var);
    }
    std::env::remove_var("WAFERMON_CONFIG");
}

#[test]
fn sources_layer_in_order_and_errors_name_their_origin() {
    clear_env();
    // Nothing configured: direct JSONL under ./wafermon-data.
    let defaults = Config::from_env().unwrap();
    assert_eq!(defaults.mode, Mode::Direct);
    assert_eq!(defaults.app.site_id, "default");
    assert_eq!(defaults.queue.on_full, OnFull::Spill);
    match &defaults.active_backends()[0].kind {
        BackendKind::Filesystem(fs) => {
            assert_eq!(fs.path, std::path::Path::new("./wafermon-data"));
            assert_eq!(fs.format, FileFormat::Jsonl);
        }
        other => panic!("default backend is {other:?}"),
    }

    std::env::set_var("WAFERMON_APP_NAME", "env-app");
    std::env::set_var("WAFERMON_SITE_ID", "env-site");
    std::env::set_var("WAFERMON_BATCH_MAX_EVENTS", "7");
    std::env::set_var("WAFERMON_ON_FULL", "block");
    let from_env = Config::from_env().unwrap();
    assert_eq!(
        (
            from_env.app.name.as_str(),
            from_env.app.site_id.as_str(),
            from_env.batch.max_events
        ),
        ("env-app", "env-site", 7)
    );
    assert_eq!(from_env.queue.on_full, OnFull::Block);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wafermon.json");
    std::fs::write(
        &file,
        json!({"app": {"name": "file-app"}, "batch": {"max_events": 9}}).to_string(),
    )
    .unwrap();
    std::env::set_var("WAFERMON_CONFIG", &file);
    let layered = Config::load(Some(json!({"app": {"name": "explicit-app"}}))).unwrap();
    assert_eq!(layered.app.name, "explicit-app", "explicit beats file");
    assert_eq!(layered.batch.max_events, 9, "file beats environment");
    assert_eq!(
        layered.app.site_id, "env-site",
        "environment beats defaults"
    );
    assert_eq!(layered.queue.on_full, OnFull::Block);

    std::fs::write(&file, "{\"batch\": {\"max_events\": \"nine\"}}").unwrap();
    let err = Config::from_env().unwrap_err();
    assert_eq!(
        (err.kind(), err.path()),
        (ErrorKind::InvalidConfig, Some("batch.max_events"))
    );

    std::fs::write(&file, "{not json").unwrap();
    let err = Config::from_env().unwrap_err();
    assert!(err.message().contains("wafermon.json"), "{err}");

    std::env::set_var("WAFERMON_CONFIG", dir.path().join("missing.json"));
    let err = Config::from_env().unwrap_err();
    assert!(err.message().contains("cannot read config file"), "{err}");

    std::env::remove_var("WAFERMON_CONFIG");
    std::env::set_var("WAFERMON_BATCH_MAX_EVENTS", "lots");
    let err = Config::from_env().unwrap_err();
    assert_eq!(err.path(), Some("batch.max_events"));
    assert!(err.message().contains("WAFERMON_BATCH_MAX_EVENTS"), "{err}");

    std::env::set_var("WAFERMON_BATCH_MAX_EVENTS", "5");
    std::env::set_var("WAFERMON_ON_FULL", "explode");
    let err = Config::from_env().unwrap_err();
    assert_eq!(err.path(), Some("queue.on_full"));
    clear_env();
}
