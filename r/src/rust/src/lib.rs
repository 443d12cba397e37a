//! The native half of the wafermon R package: the core's process-wide client and its jobs
//! behind `.Call` entry points (R/extendr-wrappers.R). The R code in R/ is the API.
//!
//! No R error is ever raised from a Rust frame (its longjmp would skip Rust's destructors):
//! every argument arrives as an `Robj` and is checked here, every failure is returned as an
//! error record (a list of class `wafermon_native_error` with `kind`, `path`, `message`)
//! that the R side signals as a condition, and every entry point catches panics. Strings
//! are read by `rtext` (translated to UTF-8 and checked), never by extendr's unchecked
//! readers.

mod rtext;
mod value;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Duration;

use extendr_api::prelude::*;
use wafermon::event::{parse_event_json, parse_event_value, LegacyDefaults};
use wafermon::skin::{conformance, exit, JobHandle, Parent};
use wafermon::{Config, Error, ErrorKind, Level};

type Outcome = std::result::Result<Robj, Error>;

/// Run an entry point: its value, or its error (or panic) as an error record.
fn entry(f: impl FnOnce() -> Outcome) -> Robj {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(value)) => value,
        Ok(Err(e)) => error_record(e.kind().as_str(), e.path().unwrap_or(""), &e.to_string()),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".to_string());
            error_record(
                "panic",
                "",
                &format!("panic in the wafermon library: {what}"),
            )
        }
    }
}

fn error_record(kind: &str, path: &str, message: &str) -> Robj {
    let mut record: Robj = list!(kind = kind, path = path, message = message).into();
    match record.set_class(["wafermon_native_error"]) {
        Ok(classed) => classed.clone(),
        Err(_) => record,
    }
}

fn invalid(what: &str, problem: &str) -> Error {
    Error::new(ErrorKind::InvalidArgument, format!("{what} {problem}"))
}

/// A single, non-missing string.
fn text(robj: &Robj, what: &str) -> std::result::Result<String, Error> {
    rtext::single(robj).map_err(|problem| invalid(what, problem))
}

/// `NULL`, or a single string.
fn optional_text(robj: &Robj, what: &str) -> std::result::Result<Option<String>, Error> {
    if robj.is_null() {
        Ok(None)
    } else {
        text(robj, what).map(Some)
    }
}

/// A single, non-missing number.
fn number(robj: &Robj, what: &str) -> std::result::Result<f64, Error> {
    match robj.as_real().or_else(|| robj.as_integer().map(f64::from)) {
        Some(x) if robj.len() == 1 && !robj.is_na() => Ok(x),
        _ => Err(invalid(what, "must be a single number (not NA)")),
    }
}

fn timeout(robj: &Robj) -> std::result::Result<Duration, Error> {
    let seconds = number(robj, "timeout")?;
    // Negative or NaN: do not wait; infinite: a very long time.
    Ok(Duration::try_from_secs_f64(seconds.max(0.0))
        .unwrap_or(Duration::from_secs(u64::from(u32::MAX))))
}

fn json_text(robj: &Robj, what: &str) -> std::result::Result<serde_json::Value, Error> {
    let text = text(robj, what)?;
    serde_json::from_str(&text).map_err(|e| invalid(what, &format!("is not JSON: {e}")))
}

/// A configuration: `NULL` (environment and defaults), a list, a JSON text, or the path of
/// a JSON file. The core's precedence applies (`Config::load`: environment over explicit).
fn config_of(robj: &Robj) -> std::result::Result<Config, Error> {
    if robj.is_null() {
        return Config::from_env();
    }
    let value = if robj.rtype() == Rtype::List {
        value::to_json(robj, "").map_err(|e| Error::config("", e))?
    } else {
        let given = text(robj, "config")?;
        if given.trim_start().starts_with('{') {
            serde_json::from_str(&given)
                .map_err(|e| Error::config("", format!("malformed JSON: {e}")))?
        } else {
            let read = std::fs::read_to_string(&given)
                .map_err(|e| Error::config("", format!("cannot read config file {given}: {e}")))?;
            serde_json::from_str(&read)
                .map_err(|e| Error::config("", format!("malformed JSON in {given}: {e}")))?
        }
    };
    Config::load(Some(value))
}

fn client() -> std::result::Result<wafermon::Client, Error> {
    wafermon::global()
}

fn handle(robj: &Robj) -> std::result::Result<JobHandle, Error> {
    let raw = text(robj, "job")?;
    raw.parse::<u64>()
        .map(JobHandle::from_raw)
        .map_err(|_| invalid("job", "is not a job of this package"))
}

/// The job a call acts on: the one given, or the innermost open one.
fn target(robj: &Robj) -> std::result::Result<JobHandle, Error> {
    if robj.is_null() {
        JobHandle::current().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidArgument,
                "no job is open (call it inside with_job())",
            )
        })
    } else {
        handle(robj)
    }
}

/// Make the process-wide client; `config` as `config_of` takes it.
#[extendr]
fn wm_init(config: Robj) -> Robj {
    entry(|| {
        wafermon::init(config_of(&config)?)?;
        Ok(().into())
    })
}

/// Check a configuration exactly as given (no environment, no file): `NULL` or an error.
#[extendr]
fn wm_check_config(config_json: Robj) -> Robj {
    entry(|| {
        let value = json_text(&config_json, "config")?;
        Config::from_value(value)?;
        Ok(().into())
    })
}

#[extendr]
fn wm_flush(seconds: Robj) -> Robj {
    entry(|| {
        client()?.flush(timeout(&seconds)?)?;
        Ok(().into())
    })
}

/// Close the process-wide client; its final stats, or `NULL` if there was none.
#[extendr]
fn wm_shutdown(seconds: Robj) -> Robj {
    entry(|| {
        let stats = wafermon::shutdown(timeout(&seconds)?);
        Ok(match stats {
            Some(stats) => stats_robj(&stats),
            None => ().into(),
        })
    })
}

/// What R's exit finalizer calls: close the process-wide client the way a process ends
/// (short when every backend is down; once per process; never in a forked child's copy).
#[extendr]
fn wm_close_at_exit(seconds: Robj) -> Robj {
    entry(|| {
        exit::close_all(timeout(&seconds)?);
        Ok(().into())
    })
}

fn stats_robj(stats: &wafermon::Stats) -> Robj {
    serde_json::to_value(stats)
        .map(|v| value::from_json(&v))
        .unwrap_or_else(|_| ().into())
}

#[extendr]
fn wm_stats() -> Robj {
    entry(|| Ok(stats_robj(&client()?.stats())))
}

/// A free-form event: a list (its JSON form) or a JSON text.
#[extendr]
fn wm_emit(event: Robj) -> Robj {
    entry(|| {
        let event = if event.rtype() == Rtype::List {
            let value = value::to_json(&event, "").map_err(|e| Error::event("", e))?;
            parse_event_value(&value)?
        } else {
            parse_event_json(&text(&event, "event")?)?
        };
        client()?.emit(&event)?;
        Ok(().into())
    })
}

/// Start a job of the process-wide client; returns its handle (a decimal string).
/// `parent`: `NULL` the innermost open job, `FALSE` none, or a handle. `enter`: make it the
/// innermost open job until it ends.
#[extendr]
fn wm_job_start(
    name: Robj,
    kind: Robj,
    key: Robj,
    id: Robj,
    attrs: Robj,
    parent: Robj,
    enter: Robj,
) -> Robj {
    entry(|| {
        let name = text(&name, "name")?;
        let kind = optional_text(&kind, "kind")?;
        let key = optional_text(&key, "key")?;
        let id = optional_text(&id, "id")?;
        let attrs = if attrs.is_null() {
            serde_json::Map::new()
        } else {
            match value::to_json(&attrs, "attrs").map_err(|e| Error::event("attrs", e))? {
                serde_json::Value::Object(map) => map,
                serde_json::Value::Array(items) if items.is_empty() => serde_json::Map::new(),
                _ => return Err(Error::event("attrs", "must be a named list")),
            }
        };
        let parent_handle;
        let parent = if parent.is_null() {
            Parent::Current
        } else if parent.as_bool() == Some(false) {
            Parent::Root
        } else {
            parent_handle = handle(&parent)?;
            Parent::Job(parent_handle)
        };
        let client = client()?;
        let job = JobHandle::start_new(&client, &name, parent, |mut builder| {
            if let Some(kind) = kind {
                builder.set_kind(kind);
            }
            if let Some(key) = key {
                builder.set_key(key);
            }
            if let Some(id) = id {
                builder.set_id(id);
            }
            for (name, value) in &attrs {
                let scalar = wafermon::Scalar::from_json(value).ok_or_else(|| {
                    Error::event(
                        format!("attrs.{name}"),
                        "must be a single string, number or logical",
                    )
                })?;
                builder.push_attr(name, scalar.borrowed());
            }
            Ok(builder)
        })?;
        if enter.as_bool() == Some(true) {
            job.enter()?;
        }
        Ok(job.raw().to_string().into())
    })
}

/// End a job and let go of it: `how` is "finish", "fail", "cancel" or "drop" (released
/// without an ending: the core records `canceled`, "dropped without finish").
#[extendr]
fn wm_job_end(job: Robj, how: Robj, message: Robj) -> Robj {
    entry(|| {
        let job = handle(&job)?;
        let how = text(&how, "how")?;
        let message = optional_text(&message, "message")?;
        let message = message.as_deref().unwrap_or("");
        job.leave();
        let ended = match how.as_str() {
            "finish" => job.finish(),
            "fail" => job.fail(message),
            "cancel" => job.cancel(message),
            "drop" => Ok(()),
            _ => Err(invalid("how", "must be finish, fail, cancel or drop")),
        };
        job.release();
        ended?;
        Ok(().into())
    })
}

#[extendr]
fn wm_job_id(job: Robj) -> Robj {
    entry(|| Ok(target(&job)?.id()?.into()))
}

#[extendr]
fn wm_job_progress(job: Robj, percent: Robj, message: Robj) -> Robj {
    entry(|| {
        let job = target(&job)?;
        let message = optional_text(&message, "message")?;
        job.progress(number(&percent, "percent")?, message.as_deref())?;
        Ok(().into())
    })
}

#[extendr]
fn wm_job_metric(job: Robj, name: Robj, value: Robj) -> Robj {
    entry(|| {
        let job = target(&job)?;
        job.metric(&text(&name, "name")?, number(&value, "value")?)?;
        Ok(().into())
    })
}

#[extendr]
fn wm_job_log(job: Robj, level: Robj, message: Robj) -> Robj {
    entry(|| {
        let job = target(&job)?;
        let level = Level::parse(&text(&level, "level")?).map_err(|e| invalid("level", &e))?;
        job.log(level, &text(&message, "message")?)?;
        Ok(().into())
    })
}

/// The core's error kinds, for the test of the R error table.
#[extendr]
fn wm_error_kinds() -> Robj {
    entry(|| {
        let kinds: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        Ok(kinds.into())
    })
}

/// A panic on purpose, for the test that none reaches R.
#[extendr]
fn wm_debug_panic() -> Robj {
    entry(|| panic!("wm_debug_panic"))
}

/// One legacy event (JSON text) as schema v1 (JSON text), with the host's defaults
/// (`{"site", "app": {...}}`), as `legacy_cases.json` describes.
#[extendr]
fn wm_convert_legacy(legacy_json: Robj, defaults_json: Robj) -> Robj {
    entry(|| {
        let legacy = json_text(&legacy_json, "legacy")?;
        let defaults = json_text(&defaults_json, "defaults")?;
        let defaults = LegacyDefaults {
            site: defaults["site"].as_str().unwrap_or_default().to_string(),
            app: serde_json::from_value(defaults["app"].clone())
                .map_err(|e| Error::event("", format!("bad defaults: {e}")))?,
        };
        Ok(wafermon::event::from_legacy(&legacy, &defaults)?
            .to_json()
            .into())
    })
}

/// The conformance checker (core/conformance/README.md): a scenario's config with one
/// filesystem backend under `dir`, as JSON text.
#[extendr]
fn wm_conformance_config(dir: Robj, scenario_config: Robj) -> Robj {
    entry(|| {
        let dir = text(&dir, "dir")?;
        let extra = json_text(&scenario_config, "scenario config")?;
        Ok(conformance::scenario_config(Path::new(&dir), &extra)
            .to_string()
            .into())
    })
}

/// "" when an error of `kind` with `message` is the one `expected_json` describes, else what
/// is wrong.
#[extendr]
fn wm_conformance_check_error(kind: Robj, message: Robj, expected_json: Robj) -> Robj {
    entry(|| {
        let expected = json_text(&expected_json, "expected")?;
        let checked = conformance::check_error(
            &text(&kind, "kind")?,
            &text(&message, "message")?,
            &expected,
        );
        Ok(checked.err().unwrap_or_default().into())
    })
}

/// "" when what the client wrote under `dir` is `expect_json` once normalized, else what
/// differs. `aliases` and `ids`: the jobs the runner started with `"as"`.
#[extendr]
fn wm_conformance_check_events(dir: Robj, expect_json: Robj, aliases: Robj, ids: Robj) -> Robj {
    entry(|| {
        let dir = text(&dir, "dir")?;
        let expect = json_text(&expect_json, "expect")?;
        let strings = |robj: &Robj, what: &str| {
            if robj.is_null() {
                return Ok(Vec::new());
            }
            rtext::strings(robj)
                .map(|v| v.into_iter().map(Option::unwrap_or_default).collect())
                .map_err(|problem| invalid(what, problem))
        };
        let jobs: Vec<(String, String)> = strings(&aliases, "aliases")?
            .into_iter()
            .zip(strings(&ids, "ids")?)
            .collect();
        let checked = conformance::check_events(Path::new(&dir), &expect, &jobs);
        Ok(checked.err().unwrap_or_default().into())
    })
}

/// Whether two JSON texts hold the same value (numbers by value: `50` equals `50.0`).
#[extendr]
fn wm_same_json(a: Robj, b: Robj) -> Robj {
    entry(|| {
        let a = json_text(&a, "a")?;
        let b = json_text(&b, "b")?;
        Ok(conformance::same_json(&a, &b).into())
    })
}

extendr_module! {
    mod wafermon;
    fn wm_init;
    fn wm_check_config;
    fn wm_flush;
    fn wm_shutdown;
    fn wm_close_at_exit;
    fn wm_stats;
    fn wm_emit;
    fn wm_job_start;
    fn wm_job_end;
    fn wm_job_id;
    fn wm_job_progress;
    fn wm_job_metric;
    fn wm_job_log;
    fn wm_error_kinds;
    fn wm_debug_panic;
    fn wm_convert_legacy;
    fn wm_conformance_config;
    fn wm_conformance_check_error;
    fn wm_conformance_check_events;
    fn wm_same_json;
}
