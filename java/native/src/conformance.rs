//! The core's checker of the shared vectors (`wafermon::skin::conformance`) for the JUnit
//! suite: the test runs each step through the Java API and hands the rest here, as every
//! skin does. A failed check throws `java.lang.AssertionError` naming what differs.

use std::path::Path;

use jni::objects::{JClass, JObjectArray, JString};
use jni::strings::JNIString;
use jni::{jni_str, Env, EnvUnowned};
use serde_json::Value;
use wafermon::event::LegacyDefaults;
use wafermon::skin::conformance;
use wafermon::Error;

use crate::throw::{cold, Fail};

fn text(env: &Env<'_>, s: &JString<'_>) -> Result<String, Fail> {
    Ok(s.try_to_string(env)?)
}

fn json(env: &Env<'_>, s: &JString<'_>, what: &str) -> Result<Value, Fail> {
    let text = text(env, s)?;
    serde_json::from_str(&text).map_err(|e| {
        Error::new(wafermon::ErrorKind::InvalidArgument, format!("{what}: {e}")).into()
    })
}

/// Throw `AssertionError(message)` when a check failed.
fn checked(env: &mut Env<'_>, result: Result<(), String>) -> Result<(), Fail> {
    if let Err(message) = result {
        env.throw_new(
            jni_str!("java/lang/AssertionError"),
            JNIString::new(&message),
        )?;
    }
    Ok(())
}

fn strings(env: &mut Env<'_>, array: &JObjectArray<'_>) -> Result<Vec<String>, Fail> {
    let len = array.len(env)?;
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        let item = array.get_element(env, i)?;
        let item = env.cast_local::<JString>(item)?;
        out.push(text(env, &item)?);
    }
    Ok(out)
}

/// `String conformanceConfig(String dir, String scenarioConfigJson)`: the config a scenario
/// runs with (JSONL under `dir/data`, the spool under `dir/spool`), as JSON text.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_conformanceConfig<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    dir: JString<'l>,
    scenario_config: JString<'l>,
) -> JString<'l> {
    cold(&mut env, |env| {
        let dir = text(env, &dir)?;
        let extra = json(env, &scenario_config, "scenario config")?;
        let config = conformance::scenario_config(Path::new(&dir), &extra);
        Ok(env.new_string(config.to_string())?)
    })
}

/// `void conformanceCheckError(String kind, String message, String expectedJson)`.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_conformanceCheckError<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    kind: JString<'l>,
    message: JString<'l>,
    expected: JString<'l>,
) {
    cold(&mut env, |env| {
        let kind = text(env, &kind)?;
        let message = text(env, &message)?;
        let expected = json(env, &expected, "expected")?;
        checked(env, conformance::check_error(&kind, &message, &expected))
    })
}

/// `void conformanceCheckEvents(String dataDir, String expectJson, String[] aliases,
/// String[] ids)`: `aliases[i]` is the `"as"` of the job whose entity id is `ids[i]`.
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_conformanceCheckEvents<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    data_dir: JString<'l>,
    expect: JString<'l>,
    aliases: JObjectArray<'l>,
    ids: JObjectArray<'l>,
) {
    cold(&mut env, |env| {
        let dir = text(env, &data_dir)?;
        let expect = json(env, &expect, "expect")?;
        let jobs: Vec<(String, String)> = strings(env, &aliases)?
            .into_iter()
            .zip(strings(env, &ids)?)
            .collect();
        checked(
            env,
            conformance::check_events(Path::new(&dir), &expect, &jobs),
        )
    })
}

/// `String convertLegacy(String legacyJson, String defaultsJson)`: one event of the SDK
/// wafermon replaces, converted to schema v1 as the sidecar converts it (legacy_cases.json).
#[no_mangle]
pub extern "system" fn Java_io_wafermon_Native_convertLegacy<'l>(
    mut env: EnvUnowned<'l>,
    _class: JClass<'l>,
    legacy: JString<'l>,
    defaults: JString<'l>,
) -> JString<'l> {
    cold(&mut env, |env| {
        let legacy: Value = serde_json::from_str(&text(env, &legacy)?)
            .map_err(|e| Error::event("", format!("malformed JSON: {e}")))?;
        let defaults = json(env, &defaults, "defaults")?;
        let defaults = LegacyDefaults {
            site: defaults["site"].as_str().unwrap_or_default().to_string(),
            app: serde_json::from_value(defaults["app"].clone())
                .map_err(|e| Error::event("", format!("bad defaults: {e}")))?,
        };
        let event = wafermon::event::from_legacy(&legacy, &defaults)?;
        Ok(env.new_string(event.to_json())?)
    })
}
