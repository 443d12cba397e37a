//! The rules of schema v1 that JSON Schema states in core/schema/event.v1.schema.json,
//! checked in Rust so every language gets the same errors naming the same fields.

use uuid::Uuid;

use super::{App, Entity, EntityRef, Event, Kind, Scalar, ScalarRef, Status};
use crate::error::{Error, Result};

/// Size limits of schema v1 (mirrored in the schema file).
pub mod limits {
    /// Identifiers and names: entity kind/id/name/parent/key, site, app fields.
    pub const MAX_IDENT: usize = 256;
    /// Metric and attribute names.
    pub const MAX_NAME: usize = 128;
    /// A message.
    pub const MAX_MESSAGE: usize = 65_536;
    /// A string attribute value.
    pub const MAX_ATTR_VALUE: usize = 4_096;
    /// Metrics or attributes on one event.
    pub const MAX_ENTRIES: usize = 128;
}

/// Unicode category Cc: U+0000-U+001F, U+007F, and U+0080-U+009F (UTF-8 0xC2 0x80-0x9F).
/// A byte scan, because this runs on every emit.
#[inline]
fn has_control(value: &str) -> bool {
    let bytes = value.as_bytes();
    // Almost every name is plain text, and short: a pass over 8 bytes at a time settles it.
    if !maybe_control(bytes) {
        return false;
    }
    bytes.iter().enumerate().any(|(i, &b)| {
        b < 0x20
            || b == 0x7f
            || (b == 0xc2 && bytes.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)))
    })
}

/// Whether any byte is below 0x20, 0x7F or 0xC2 (the lead byte of U+0080-U+00BF; only
/// some of those are controls, which `has_control` then tells byte by byte).
#[inline]
fn maybe_control(bytes: &[u8]) -> bool {
    super::bytescan::any_control_or(bytes, 0x7f, 0xc2)
}

/// Limits count characters, as JSON Schema's maxLength does; bytes >= characters, so the
/// count is only needed when the byte length is over the limit.
#[inline]
fn too_long(field: &str, value: &str, max: usize) -> Result<()> {
    if value.len() > max {
        let chars = value.chars().count();
        if chars > max {
            return Err(Error::event(
                field,
                format!("is {chars} characters long, the limit is {max}"),
            ));
        }
    }
    Ok(())
}

/// Non-empty, bounded, no control characters.
#[inline]
pub(crate) fn check_name(field: &str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() {
        return Err(Error::event(field, "must not be empty"));
    }
    too_long(field, value, max)?;
    if has_control(value) {
        return Err(Error::event(field, "must not contain control characters"));
    }
    Ok(())
}

/// Bounded free text (may be empty, may contain newlines).
pub(crate) fn check_text(field: &str, value: &str, max: usize) -> Result<()> {
    too_long(field, value, max)
}

pub(crate) fn check_progress(value: f64) -> Result<()> {
    if !(0.0..=100.0).contains(&value) {
        return Err(Error::event(
            "progress",
            format!("must be a number from 0 to 100, got {value}"),
        ));
    }
    Ok(())
}

pub(crate) fn check_metric(name: &str, value: f64) -> Result<()> {
    check_name("metrics", name, limits::MAX_NAME)?;
    if !value.is_finite() {
        return Err(Error::event(
            format!("metrics.{name}"),
            format!("must be a finite number, got {value}"),
        ));
    }
    Ok(())
}

pub(crate) fn check_attr(name: &str, value: ScalarRef<'_>) -> Result<()> {
    check_name("attrs", name, limits::MAX_NAME)?;
    match value {
        // The path is only formatted for a value that may be over the limit: this runs for
        // every string attribute of every event.
        ScalarRef::Str(s) if s.len() > limits::MAX_ATTR_VALUE => {
            check_text(&format!("attrs.{name}"), s, limits::MAX_ATTR_VALUE)
        }
        ScalarRef::Float(f) => check_attr_number(|| format!("attrs.{name}"), f),
        _ => Ok(()),
    }
}

/// Attribute numbers are exact: integers are 64-bit signed, floats are finite and within the
/// same range. Beyond it a number is refused rather than kept approximately (an integer from
/// 2^63 up, e.g. a u64 id, would otherwise become the nearest double).
/// `path` builds the field's JSON path, only when the number is refused: this runs on every
/// emit, where a valid event must cost no formatting.
pub(crate) fn check_attr_number(path: impl FnOnce() -> String, value: f64) -> Result<()> {
    // -2^63 and 2^63 are exact doubles.
    const LOW: f64 = -9_223_372_036_854_775_808.0;
    const HIGH: f64 = 9_223_372_036_854_775_808.0;
    if !value.is_finite() {
        return Err(Error::event(
            path(),
            format!("must be a finite number, got {value}"),
        ));
    }
    if !(LOW..HIGH).contains(&value) {
        return Err(Error::event(
            path(),
            format!(
                "{value} is outside the exact range of attribute numbers (-2^63 to 2^63-1); \
                 send it as a string"
            ),
        ));
    }
    Ok(())
}

pub(crate) fn check_entry_count(field: &str, count: usize) -> Result<()> {
    if count > limits::MAX_ENTRIES {
        return Err(Error::event(
            field,
            format!("has {count} entries, the limit is {}", limits::MAX_ENTRIES),
        ));
    }
    Ok(())
}

/// The status an event ends up with, or an error when the given one contradicts the kind.
pub(crate) fn resolve_status(kind: Kind, given: Option<Status>) -> Result<Status> {
    match (kind.implied_status(), given) {
        (Some(implied), Some(given)) if implied != given => Err(Error::event(
            "status",
            format!("'{given}' contradicts kind '{kind}', which implies '{implied}'"),
        )),
        (Some(implied), _) => Ok(implied),
        (None, given) => Ok(given.unwrap_or(Status::Running)),
    }
}

/// A name may appear once per map (a JSON object cannot hold it twice). Lists are short, so
/// comparing with the names before each one costs less than building a set.
pub(crate) fn check_unique<T>(field: &str, entries: &[(String, T)]) -> Result<()> {
    for (i, (name, _)) in entries.iter().enumerate() {
        if entries[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(Error::event(
                format!("{field}.{name}"),
                "is given more than once",
            ));
        }
    }
    Ok(())
}

/// The rules an event's own content follows, whether it arrives complete (`Event`) or as
/// input (`NewEvent`). Returns the status the event carries.
#[allow(clippy::too_many_arguments)]
pub(crate) fn content<'a>(
    entity: &Entity,
    kind: Kind,
    status: Option<Status>,
    progress: Option<f64>,
    message: Option<&str>,
    metrics: impl ExactSizeIterator<Item = (&'a String, &'a f64)>,
    attrs: impl ExactSizeIterator<Item = (&'a String, &'a Scalar)>,
) -> Result<Status> {
    let entity = EntityRef {
        kind: &entity.kind,
        id: &entity.id,
        name: entity.name.as_deref(),
        parent: entity.parent.as_deref(),
        key: entity.key.as_deref(),
    };
    check_entity(&entity, true)?;
    let status = resolve_status(kind, status)?;
    if let Some(p) = progress {
        check_progress(p)?;
    }
    if let Some(m) = message {
        check_text("message", m, limits::MAX_MESSAGE)?;
    }
    if kind == Kind::Log && message.is_none() {
        return Err(Error::event("message", "is required for kind 'log'"));
    }
    check_entry_count("metrics", metrics.len())?;
    for (name, value) in metrics {
        check_metric(name, *value)?;
    }
    check_entry_count("attrs", attrs.len())?;
    for (name, value) in attrs {
        check_attr(name, value.borrowed())?;
    }
    Ok(status)
}

fn check_entity(entity: &EntityRef<'_>, check_id: bool) -> Result<()> {
    check_name("entity.kind", entity.kind, limits::MAX_IDENT)?;
    if check_id {
        check_name("entity.id", entity.id, limits::MAX_IDENT)?;
    }
    for (field, value) in [
        ("entity.name", entity.name),
        ("entity.parent", entity.parent),
        ("entity.key", entity.key),
    ] {
        if let Some(v) = value {
            check_name(field, v, limits::MAX_IDENT)?;
        }
    }
    Ok(())
}

/// What `NewEvent::validate` checks of a job's `started` event but its attributes (which a
/// job checks as they are given: `client::attrs`). `check_id` false: the core made the id.
pub(crate) fn started(entity: &EntityRef<'_>, check_id: bool) -> Result<()> {
    check_entity(entity, check_id)
}

/// Identity fields the core normally fills in itself.
pub(crate) fn origin(id: Option<&Uuid>, site: Option<&str>, app: Option<&App>) -> Result<()> {
    if let Some(id) = id {
        if id.get_version_num() != 7 {
            return Err(Error::event("id", "must be a UUIDv7"));
        }
    }
    if let Some(site) = site {
        check_name("site", site, limits::MAX_IDENT)?;
    }
    if let Some(app) = app {
        check_name("app.name", &app.name, limits::MAX_IDENT)?;
        for (field, value) in [
            ("app.version", &app.version),
            ("app.instance", &app.instance),
        ] {
            if let Some(v) = value {
                check_name(field, v, limits::MAX_IDENT)?;
            }
        }
    }
    Ok(())
}

pub(crate) fn event(e: &Event) -> Result<()> {
    if e.v != super::SCHEMA_VERSION {
        return Err(Error::event("v", format!("must be 1, got {}", e.v)));
    }
    origin(Some(&e.id), Some(&e.site), Some(&e.app))?;
    content(
        &e.entity,
        e.kind,
        Some(e.status),
        e.progress,
        e.message.as_deref(),
        e.metrics.iter(),
        e.attrs.iter(),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::has_control;

    #[test]
    fn control_scan_matches_char_is_control() {
        for c in [
            '\u{0}', '\n', '\u{1f}', '\u{7f}', '\u{80}', '\u{9f}', 'a', 'é', '\u{a0}', '\u{2028}',
            '€', '😀',
        ] {
            let text = format!("x{c}y");
            assert_eq!(has_control(&text), c.is_control(), "{c:?}");
        }
    }

    #[test]
    fn control_scan_finds_a_control_at_every_position_of_every_length() {
        for len in 1..40 {
            assert!(!has_control(&"w".repeat(len)), "{len}");
            for at in 0..len {
                for c in ['\u{0}', '\u{1f}', '\u{7f}', '\u{85}'] {
                    let mut text: Vec<char> = "w".repeat(len).chars().collect();
                    text[at] = c;
                    let text: String = text.into_iter().collect();
                    assert!(has_control(&text), "{len} {at} {c:?}");
                }
                let mut text: Vec<char> = "w".repeat(len).chars().collect();
                text[at] = '\u{a0}';
                let text: String = text.into_iter().collect();
                assert!(!has_control(&text), "{len} {at}");
            }
        }
    }
}
