//! Validators for the schemas under core/schema. The host schemas take their backend
//! entries from config.v1.schema.json by `$ref`, so every schema file is registered under
//! its `$id` and no reference is fetched from anywhere.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// core/schema of this workspace.
pub fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|dir| dir.join("core/schema"))
        .find(|dir| dir.is_dir())
        .expect("core/schema not found above the crate")
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
