//! R values to JSON and back, for configs, attributes, free-form events and stats.
//!
//! R has no scalars: a vector of length one becomes a JSON scalar, a longer one an array.
//! A named list becomes an object, an unnamed list an array, `NULL` and `NA` become `null`.
//! Anything else (functions, environments, ...) is refused, naming where it was found.

use extendr_api::prelude::*;
use serde_json::{Map, Number, Value};

use crate::rtext;

/// `robj` as JSON; `path` names it in the error ("config", "attrs.recipe", ...).
pub(crate) fn to_json(robj: &Robj, path: &str) -> std::result::Result<Value, String> {
    let len = robj.len();
    let one = |values: Vec<Value>| {
        if len == 1 {
            values.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(values)
        }
    };
    match robj.rtype() {
        Rtype::Null => Ok(Value::Null),
        Rtype::Logicals => Ok(one(robj
            .as_logical_slice()
            .unwrap_or_default()
            .iter()
            .map(|b| {
                if b.is_na() {
                    Value::Null
                } else {
                    Value::Bool(b.is_true())
                }
            })
            .collect())),
        Rtype::Integers => Ok(one(robj
            .as_integer_slice()
            .unwrap_or_default()
            .iter()
            .map(|&i| {
                if i == i32::MIN {
                    Value::Null // NA_integer_
                } else {
                    Value::from(i)
                }
            })
            .collect())),
        Rtype::Doubles => Ok(one(robj
            .as_real_slice()
            .unwrap_or_default()
            .iter()
            .map(|&x| double(x))
            .collect())),
        Rtype::Strings => {
            let strings =
                rtext::strings(robj).map_err(|problem| format!("{} {problem}", label(path)))?;
            Ok(one(strings
                .into_iter()
                .map(|s| s.map_or(Value::Null, Value::String))
                .collect()))
        }
        Rtype::List => {
            let list = robj
                .as_list()
                .ok_or_else(|| format!("{}: unreadable list", label(path)))?;
            let names =
                rtext::names(robj).map_err(|problem| format!("{} names {problem}", label(path)))?;
            let named = names.as_ref().is_some_and(|n| {
                n.iter()
                    .any(|name| name.as_deref().is_some_and(|s| !s.is_empty()))
            });
            if let (true, Some(names)) = (named, names) {
                let mut map = Map::new();
                for (name, value) in names.into_iter().zip(list.values()) {
                    let Some(name) = name.filter(|n| !n.is_empty()) else {
                        return Err(format!(
                            "{}: every element of a named list needs a name",
                            label(path)
                        ));
                    };
                    let at = join(path, &name);
                    let value = to_json(&value, &at)?;
                    map.insert(name, value);
                }
                Ok(Value::Object(map))
            } else {
                let mut items = Vec::with_capacity(len);
                for (i, value) in list.values().enumerate() {
                    items.push(to_json(&value, &format!("{path}[{}]", i + 1))?);
                }
                Ok(Value::Array(items))
            }
        }
        other => Err(format!(
            "{}: an R {other:?} has no JSON form (use a list, a string, a number or a logical)",
            label(path)
        )),
    }
}

fn label(path: &str) -> &str {
    if path.is_empty() {
        "value"
    } else {
        path
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// A double as JSON: a whole number that fits exactly stays an integer (R's `25` is a double,
/// and `25` reads better than `25.0` in an attribute); NA, NaN and infinities are `null`.
fn double(x: f64) -> Value {
    if x.is_na() || !x.is_finite() {
        return Value::Null;
    }
    if x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15 {
        return Value::from(x as i64);
    }
    Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// JSON as an R value: objects become named lists, arrays unnamed lists, numbers doubles.
pub(crate) fn from_json(value: &Value) -> Robj {
    match value {
        Value::Null => ().into(),
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN).into(),
        Value::String(s) => s.as_str().into(),
        Value::Array(items) => List::from_values(items.iter().map(from_json)).into(),
        Value::Object(map) => List::from_names_and_values(map.keys(), map.values().map(from_json))
            .map(Robj::from)
            .unwrap_or_else(|_| ().into()),
    }
}
