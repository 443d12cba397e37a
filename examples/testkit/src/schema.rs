//! Validators for the schemas under core/schema, and the checks of the hosts' config files
//! against them. The host schemas take their backend
//! entries from config.v1.schema.json by `$ref`, so every schema file is registered under
//! its `$id` and no reference is fetched from anywhere.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

/// core/schema of this workspace.
pub fn schema_dir() -> PathBuf {
    crate::in_checkout("core/schema")
}

pub fn load_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every schema file, by name (`config.v1.schema.json`), parsed.
pub fn schemas() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(schema_dir()).expect("core/schema is readable");
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".schema.json") {
            out.push((name, load_json(&entry.path())));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A validator for core/schema/`name`, with the other schema files resolvable by `$ref`.
pub fn schema_validator(name: &str) -> jsonschema::Validator {
    let all = schemas();
    let schema = all
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, s)| s.clone())
        .unwrap_or_else(|| panic!("no schema {name} in core/schema"));
    let mut builder = jsonschema::Registry::new();
    for (n, s) in &all {
        let id = s["$id"]
            .as_str()
            .unwrap_or_else(|| panic!("{n} has no $id"));
        builder = builder
            .add(id, s.clone())
            .unwrap_or_else(|e| panic!("{n}: {e}"));
    }
    let registry = builder
        .prepare()
        .unwrap_or_else(|e| panic!("the schemas do not resolve: {e}"));
    jsonschema::options()
        .with_registry(&registry)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{name} is not a valid schema: {e}"))
}

/// Panics, listing every error, unless `instance` is valid against core/schema/`name`.
pub fn assert_schema_valid(name: &str, instance: &Value) {
    let errors: Vec<String> = schema_validator(name)
        .iter_errors(instance)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{name} rejects this config: {errors:#?}\n{instance:#}"
    );
}

// What the hosts' config tests check of `--check` (`out` is its output): the schema and the
// host agree on what a valid config is, and the host names every mistake by its JSON path.

/// `--check` of a valid config: exit code 0 and `ok`.
pub fn assert_check_ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

/// A config with one mistake at `path`: `schema` refuses it, and so does `--check` (exit
/// code 2), naming the path.
pub fn assert_mistake_refused(
    schema: &jsonschema::Validator,
    path: &str,
    config: &Value,
    out: &Output,
) {
    assert!(
        !schema.is_valid(config),
        "the schema accepts {path}: {config}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{path}: {stderr}");
    assert!(
        stderr.contains(&format!("invalid config at {path}:")),
        "{path} not named: {stderr}"
    );
}

/// `--check` of a config with a mistake at each of `paths`: exit code 2, every one reported.
pub fn assert_mistakes_reported(out: &Output, paths: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for path in paths {
        assert!(
            stderr.contains(&format!("invalid config at {path}:")),
            "{path} not reported: {stderr}"
        );
    }
}
