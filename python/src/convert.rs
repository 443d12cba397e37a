//! Python values -> the core's inputs. The core owns validation: this only translates types,
//! and a value JSON cannot carry is an `InvalidEvent` naming its path, like any other field.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};
use wafermon::{Error, Kind, Level, NewEvent, Scalar, Status};

/// A conversion failure: the path segments collected on the way out, innermost first.
pub struct BadValue {
    segments: Vec<String>,
    message: String,
}

impl BadValue {
    fn new(message: String) -> Self {
        BadValue {
            segments: Vec::new(),
            message,
        }
    }

    fn within(mut self, segment: String) -> Self {
        self.segments.push(segment);
        self
    }

    /// As a core error, with `prefix` (e.g. "attrs") in front of the collected path.
    pub fn into_error(self, prefix: &str) -> Error {
        let mut path = String::from(prefix);
        for segment in self.segments.iter().rev() {
            if segment.starts_with('[') || path.is_empty() {
                path.push_str(segment);
            } else {
                path.push('.');
                path.push_str(segment);
            }
        }
        Error::event(path, self.message)
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// A str as an owned String, or why not ("must be a string, got int").
fn string(obj: &Bound<'_, PyAny>) -> Result<String, String> {
    if !obj.is_instance_of::<PyString>() {
        return Err(format!("must be a string, got {}", type_name(obj)));
    }
    text(obj).ok_or_else(|| "is not valid UTF-8 (lone surrogate?)".to_string())
}

fn float(f: f64) -> Result<Value, BadValue> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| BadValue::new(format!("must be a finite number, got {f}")))
}

fn int(obj: &Bound<'_, PyAny>) -> Result<Value, BadValue> {
    if let Ok(i) = obj.extract::<i64>() {
        return Ok(Value::from(i));
    }
    if let Ok(u) = obj.extract::<u64>() {
        return Ok(Value::from(u));
    }
    Err(BadValue::new("the integer is too large".into()))
}

/// Any JSON-shaped Python value (dict with str keys, list, tuple, str, int, float, bool,
/// None) as a JSON value.
pub fn to_value(obj: &Bound<'_, PyAny>) -> Result<Value, BadValue> {
    if obj.is_instance_of::<PyString>() {
        return string(obj).map(Value::String).map_err(BadValue::new);
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in d.iter() {
            let key = string(&k).map_err(|m| BadValue::new(format!("a key {m}")))?;
            let value = to_value(&v).map_err(|e| e.within(key.clone()))?;
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    // bool is a subclass of int, so it is checked first.
    if obj.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(obj.is_truthy().unwrap_or(false)));
    }
    if obj.is_instance_of::<PyInt>() {
        return int(obj);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return float(f.value());
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    let items: Vec<Bound<'_, PyAny>> = if let Ok(l) = obj.cast::<PyList>() {
        l.iter().collect()
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        t.iter().collect()
    } else {
        return Err(BadValue::new(format!(
            "{} is not a JSON value (str, int, float, bool, None, dict, list)",
            type_name(obj)
        )));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| to_value(v).map_err(|e| e.within(format!("[{i}]"))))
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

/// One attribute value: str, int, float or bool.
pub fn scalar(name: &str, obj: &Bound<'_, PyAny>) -> Result<Scalar, Error> {
    let bad = |message: String| Error::event(format!("attrs.{name}"), message);
    if obj.is_instance_of::<PyString>() {
        return string(obj).map(Scalar::Str).map_err(bad);
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(Scalar::Bool(obj.is_truthy().unwrap_or(false)));
    }
    if obj.is_instance_of::<PyInt>() {
        return obj
            .extract::<i64>()
            .map(Scalar::Int)
            .map_err(|_| bad("the integer does not fit in 64 bits".into()));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(Scalar::Float(f.value()));
    }
    Err(bad(format!(
        "must be a string, number or boolean, got {}",
        type_name(obj)
    )))
}

/// `{name: scalar}` as the core's attribute list, in the dict's order.
pub fn attrs(obj: Option<&Bound<'_, PyAny>>) -> Result<Vec<(String, Scalar)>, Error> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Vec::new());
    };
    let dict = obj
        .cast::<PyDict>()
        .map_err(|_| Error::event("attrs", format!("must be a dict, got {}", type_name(obj))))?;
    let mut out = Vec::with_capacity(dict.len());
    for (k, v) in dict.iter() {
        let key = string(&k).map_err(|m| Error::event("attrs", format!("a name {m}")))?;
        let value = scalar(&key, &v)?;
        out.push((key, value));
    }
    Ok(out)
}

extern "C" {
    // Part of the stable ABI only from 3.10 on, but exported with this signature by every
    // CPython 3.x: it returns the string's cached UTF-8 form without a copy, where the
    // 3.9 stable ABI only offers a new bytes object per call. That difference is most of
    // the cost of reading an event.
    fn PyUnicode_AsUTF8AndSize(
        unicode: *mut pyo3::ffi::PyObject,
        size: *mut pyo3::ffi::Py_ssize_t,
    ) -> *const std::os::raw::c_char;
}

/// The text of a Python str, borrowed from it (None for a non-str or one that is not
/// valid UTF-8, e.g. with lone surrogates).
#[inline]
pub fn utf8<'a>(obj: &'a Bound<'_, PyAny>) -> Option<&'a str> {
    let s = obj.cast::<PyString>().ok()?;
    let mut size: pyo3::ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live str; the buffer belongs to it and lives as long as it does
    // (the returned borrow is tied to `obj`). On failure the function sets an exception,
    // which is cleared here.
    unsafe {
        let data = PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size);
        if data.is_null() {
            drop(PyErr::take(obj.py()));
            return None;
        }
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), size as usize);
        Some(std::str::from_utf8_unchecked(bytes))
    }
}

#[inline]
fn text(obj: &Bound<'_, PyAny>) -> Option<String> {
    utf8(obj).map(str::to_owned)
}

/// A number that is not a bool (JSON has no bool-as-number).
fn number(obj: &Bound<'_, PyAny>) -> Option<f64> {
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Some(f.value());
    }
    if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
        return obj.extract::<f64>().ok();
    }
    None
}

fn plain_scalar(obj: &Bound<'_, PyAny>) -> Option<Scalar> {
    if obj.is_instance_of::<PyString>() {
        return text(obj).map(Scalar::Str);
    }
    if obj.is_instance_of::<PyBool>() {
        return obj.is_truthy().ok().map(Scalar::Bool);
    }
    if obj.is_instance_of::<PyInt>() {
        return obj.extract::<i64>().ok().map(Scalar::Int);
    }
    obj.cast::<PyFloat>().ok().map(|f| Scalar::Float(f.value()))
}

/// The common shape of an application's event, read straight from the dict: kind, entity,
/// status, progress, level, message, metrics, attrs, with plain values. None for anything
/// else (identity fields of forwarded events, odd types, unknown keys, missing required
/// fields): the caller then takes the JSON path, whose parser names the problem. So this
/// decides nothing the core's parser would decide differently; it only skips building a
/// JSON value on the way. The core validates the result in `emit` either way.
pub fn fast_event(d: &Bound<'_, PyDict>) -> Option<NewEvent> {
    let mut kind = None;
    let mut entity = None;
    let mut event = NewEvent::new(Kind::Heartbeat, "", "");
    for (k, v) in d.iter() {
        if v.is_none() {
            continue;
        }
        match utf8(&k)? {
            "kind" => kind = Some(Kind::parse(&text(&v)?).ok()?),
            "entity" => {
                let e = v.cast::<PyDict>().ok()?;
                let (mut ekind, mut id) = (None, None);
                for (k, v) in e.iter() {
                    if v.is_none() {
                        continue;
                    }
                    match utf8(&k)? {
                        "kind" => ekind = Some(text(&v)?),
                        "id" => id = Some(text(&v)?),
                        "name" => event.entity.name = Some(text(&v)?),
                        "parent" => event.entity.parent = Some(text(&v)?),
                        "key" => event.entity.key = Some(text(&v)?),
                        _ => return None,
                    }
                }
                entity = Some((ekind?, id?));
            }
            "status" => event.status = Some(Status::parse(&text(&v)?).ok()?),
            "progress" => event.progress = Some(number(&v)?),
            "level" => event.level = Some(Level::parse(&text(&v)?).ok()?),
            "message" => event.message = Some(text(&v)?),
            "metrics" => {
                let m = v.cast::<PyDict>().ok()?;
                event.metrics.reserve(m.len());
                for (k, v) in m.iter() {
                    event.metrics.push((text(&k)?, number(&v)?));
                }
            }
            "attrs" => {
                let a = v.cast::<PyDict>().ok()?;
                event.attrs.reserve(a.len());
                for (k, v) in a.iter() {
                    event.attrs.push((text(&k)?, plain_scalar(&v)?));
                }
            }
            _ => return None,
        }
    }
    let (ekind, id) = entity?;
    event.kind = kind?;
    event.entity.kind = ekind;
    event.entity.id = id;
    Some(event)
}
