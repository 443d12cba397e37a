//! An `EventRef` as JSON, written by hand: byte for byte what serde_json writes for it (a
//! test holds the two together), at a fraction of the cost. Delivery writes every event
//! this way (JSONL files, S3 objects, Elasticsearch bulk bodies), and serde_json's string
//! escaping, a table lookup per byte, was a third of the filesystem lane's instructions.

use super::view::ScalarRef;
use super::{hyphenated, EventRef};

/// Append `event` as one JSON object (no newline).
pub(crate) fn write_event(out: &mut Vec<u8>, event: &EventRef<'_>) {
    out.extend_from_slice(b"{\"v\":");
    write_u64(out, u64::from(event.v));
    out.extend_from_slice(b",\"id\":\"");
    let mut id = [0u8; 36];
    out.extend_from_slice(hyphenated(&event.id, &mut id).as_bytes());
    out.extend_from_slice(b"\",\"seq\":");
    write_u64(out, event.seq);
    out.extend_from_slice(b",\"time\":\"");
    out.extend_from_slice(&event.time.rfc3339());
    out.extend_from_slice(b"\",\"site\":");
    write_str(out, event.site);

    let app = &event.app;
    out.extend_from_slice(b",\"app\":{\"name\":");
    write_str(out, app.name);
    optional_str(out, b",\"version\":", app.version);
    optional_str(out, b",\"instance\":", app.instance);

    let entity = &event.entity;
    out.extend_from_slice(b"},\"entity\":{\"kind\":");
    write_str(out, entity.kind);
    out.extend_from_slice(b",\"id\":");
    write_str(out, entity.id);
    optional_str(out, b",\"name\":", entity.name);
    optional_str(out, b",\"parent\":", entity.parent);
    optional_str(out, b",\"key\":", entity.key);

    out.extend_from_slice(b"},\"kind\":\"");
    out.extend_from_slice(event.kind.as_str().as_bytes());
    out.extend_from_slice(b"\",\"status\":\"");
    out.extend_from_slice(event.status.as_str().as_bytes());
    out.push(b'"');
    if let Some(progress) = event.progress {
        out.extend_from_slice(b",\"progress\":");
        write_f64(out, progress);
    }
    if let Some(level) = event.level {
        out.extend_from_slice(b",\"level\":\"");
        out.extend_from_slice(level.as_str().as_bytes());
        out.push(b'"');
    }
    optional_str(out, b",\"message\":", event.message);
    if !event.metrics.is_empty() {
        out.extend_from_slice(b",\"metrics\":");
        write_object(out, event.metrics.iter(), write_f64);
    }
    if !event.attrs.is_empty() {
        out.extend_from_slice(b",\"attrs\":");
        write_object(out, event.attrs.iter(), write_scalar);
    }
    out.push(b'}');
}

fn optional_str(out: &mut Vec<u8>, key: &[u8], value: Option<&str>) {
    if let Some(value) = value {
        out.extend_from_slice(key);
        write_str(out, value);
    }
}

/// A JSON object of `entries`, each value written by `value`.
fn write_object<V>(
    out: &mut Vec<u8>,
    entries: impl Iterator<Item = (impl AsRef<str>, V)>,
    mut value: impl FnMut(&mut Vec<u8>, V),
) {
    out.push(b'{');
    for (i, (name, v)) in entries.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, name.as_ref());
        out.push(b':');
        value(out, v);
    }
    out.push(b'}');
}

fn write_scalar(out: &mut Vec<u8>, value: ScalarRef<'_>) {
    match value {
        ScalarRef::Bool(true) => out.extend_from_slice(b"true"),
        ScalarRef::Bool(false) => out.extend_from_slice(b"false"),
        ScalarRef::Int(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        ScalarRef::Float(x) => write_f64(out, x),
        ScalarRef::Str(s) => write_str(out, s),
    }
}

fn write_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Floats are few per event: serde_json formats them, so the shortest round-trip digits
/// and `null` for a non-finite value stay exactly its own.
fn write_f64(out: &mut Vec<u8>, x: f64) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &x);
}

/// Whether any byte of `bytes` must be escaped in a JSON string: below 0x20, `"` or `\`.
fn needs_escape(bytes: &[u8]) -> bool {
    super::bytescan::any_control_or(bytes, b'"', b'\\')
}

/// `s` as a JSON string, escaped as serde_json escapes: `"`, `\`, the short forms of
/// backspace, tab, newline, form feed and carriage return, `\u00xx` for other controls.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    if !needs_escape(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x09 => b't',
            0x0a => b'n',
            0x0c => b'f',
            0x0d => b'r',
            0x00..=0x1f => b'u',
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        run = i + 1;
        out.push(b'\\');
        out.push(short);
        if short == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 15)],
            ]);
        }
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Entity, Event, Kind, Level, Scalar, Status, Timestamp};
    use crate::pipeline::with_view;

    fn same_as_serde(event: &Event) {
        with_view(event, |view| {
            let mut ours = Vec::new();
            write_event(&mut ours, view);
            let theirs = serde_json::to_vec(view).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            );
        });
    }

    fn event() -> Event {
        Event {
            seq: 7,
            time: Timestamp::from_unix_micros(1_764_232_417_123_456),
            ..Event::sample(
                Kind::Started,
                Entity::new("lot", "LOT-1"),
                Timestamp::from_unix_micros(0),
            )
        }
    }

    #[test]
    fn every_field_is_written_as_serde_json_writes_it() {
        same_as_serde(&event());
        let mut full = event();
        full.app.version = Some("2.1".into());
        full.app.instance = Some("host-7:4411".into());
        full.entity.name = Some("lot dispatch".into());
        full.entity.parent = Some("0190c7e2-5c1d-7000-8000-000000000000".into());
        full.entity.key = Some("LOT-1".into());
        full.kind = Kind::Log;
        full.level = Some(Level::Warning);
        full.progress = Some(42.5);
        full.message = Some("line 1\nline \"2\"\t\\ end \u{1}\u{1f}\u{7f} é 日本".into());
        for (name, value) in [("cpu_user_s", 0.25), ("big", 1e300), ("tiny", 5e-324)] {
            full.metrics.insert(name.into(), value);
        }
        full.attrs
            .insert("recipe".into(), Scalar::Str("R7 \"x\"".into()));
        full.attrs.insert("slot".into(), Scalar::Int(i64::MIN));
        full.attrs.insert("temp_c".into(), Scalar::Float(-0.0));
        full.attrs.insert("rework".into(), Scalar::Bool(true));
        full.attrs.insert("done".into(), Scalar::Bool(false));
        same_as_serde(&full);
        for kind in Kind::ALL {
            full.kind = *kind;
            same_as_serde(&full);
        }
        for status in Status::ALL {
            full.status = *status;
            same_as_serde(&full);
        }
        for level in Level::ALL {
            full.level = Some(*level);
            same_as_serde(&full);
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        for b in 0u8..0x80 {
            for len in [1, 7, 8, 9, 17] {
                let mut text = "a".repeat(len);
                text.insert(len / 2, char::from(b));
                let mut ours = Vec::new();
                write_str(&mut ours, &text);
                assert_eq!(
                    ours,
                    serde_json::to_vec(&text).unwrap(),
                    "byte {b:#x} in {len}"
                );
            }
        }
    }
}
