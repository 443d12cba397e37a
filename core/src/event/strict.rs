//! JSON (or MessagePack) as `serde_json::Value` trees, but strict: a key given twice in one
//! object is an error that names it (a lenient parser keeps one of the values and silently
//! loses the other, e.g. `{"events": [...], "events": []}`), and one tree can be bounded in
//! values, so no element of a request body costs more than a fixed amount of memory beyond its
//! own bytes. `parse_event_json` reads events this way; the hosts read request bodies with it.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// One step of a path into a body: an object key or an array index.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Steps as `events[3].attrs.n`.
pub fn path_text(steps: &[Step]) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            Step::Key(key) if out.is_empty() => out.push_str(key),
            Step::Key(key) => {
                out.push('.');
                out.push_str(key);
            }
            Step::Index(index) => out.push_str(&format!("[{index}]")),
        }
    }
    out
}

/// What one tree may cost, and what went wrong while it was built. The serde error that
/// unwinds the parse carries text only, so the duplicate's path is collected here instead:
/// each level the error passes adds its step (outermost last).
pub struct TreeState {
    budget: usize,
    left: Cell<usize>,
    over: Cell<bool>,
    duplicate: RefCell<Option<Vec<Step>>>,
}

impl TreeState {
    pub fn new(budget: usize) -> Self {
        TreeState {
            budget,
            left: Cell::new(budget),
            over: Cell::new(false),
            duplicate: RefCell::new(None),
        }
    }

    /// Start a new tree with the whole budget.
    pub fn reset(&self) {
        self.left.set(self.budget);
        self.over.set(false);
    }

    /// The last tree had more values than the budget (it was cut short and is incomplete).
    pub fn was_over(&self) -> bool {
        self.over.get()
    }

    /// Called while an error unwinds through `step`: extends the duplicate's path.
    pub fn unwinding(&self, step: Step) {
        if let Some(steps) = self.duplicate.borrow_mut().as_mut() {
            steps.push(step);
        }
    }

    /// The duplicate key's path from the body's root, if the error was one.
    pub fn duplicate_path(&self) -> Option<String> {
        let steps = self.duplicate.borrow();
        let mut steps = steps.as_ref()?.clone();
        steps.reverse();
        Some(path_text(&steps))
    }

    pub fn found_duplicate(&self, key: &str) {
        *self.duplicate.borrow_mut() = Some(vec![Step::Key(key.to_string())]);
    }

    /// Count one value; false once the budget is spent.
    fn take(&self) -> bool {
        let left = self.left.get();
        if left == 0 {
            self.over.set(true);
            return false;
        }
        self.left.set(left - 1);
        true
    }
}

pub fn duplicate_error<E: de::Error>(key: &str) -> E {
    E::custom(format_args!("duplicate key '{key}'"))
}

/// Deserializes one strict tree.
#[derive(Clone, Copy)]
pub struct Tree<'s> {
    pub state: &'s TreeState,
}

impl<'de> DeserializeSeed<'de> for Tree<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Tree<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.state.take();
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.state.take();
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.state.take();
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.state.take();
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format_args!("{v} is not a finite number")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.state.take();
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.state.take();
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.state.take();
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if !self.state.take() {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(Value::Null);
        }
        let mut items = Vec::new();
        loop {
            if self.state.was_over() {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                break;
            }
            match seq.next_element_seed(self) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(e) => {
                    self.state.unwinding(Step::Index(items.len()));
                    return Err(e);
                }
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if !self.state.take() {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Value::Null);
        }
        let mut object = Map::new();
        loop {
            if self.state.was_over() {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                break;
            }
            let Some(key) = map.next_key::<String>()? else {
                break;
            };
            if object.contains_key(&key) {
                self.state.found_duplicate(&key);
                return Err(duplicate_error(&key));
            }
            match map.next_value_seed(self) {
                Ok(value) => {
                    object.insert(key, value);
                }
                Err(e) => {
                    self.state.unwinding(Step::Key(key));
                    return Err(e);
                }
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, budget: usize) -> (Result<Value, String>, TreeState) {
        let state = TreeState::new(budget);
        let mut de = serde_json::Deserializer::from_str(text);
        let result = Tree { state: &state }
            .deserialize(&mut de)
            .map_err(|e| e.to_string());
        (result, state)
    }

    #[test]
    fn values_come_out_as_serde_json_builds_them() {
        let text = r#"{"a": [1, -2, 2.5, "x", true, null, {"b": 18446744073709551615}]}"#;
        let (value, state) = parse(text, 100);
        assert_eq!(value.unwrap(), serde_json::from_str::<Value>(text).unwrap());
        assert!(!state.was_over());
    }

    #[test]
    fn duplicates_are_named_with_their_path() {
        let (value, state) = parse(r#"{"a": [0, {"b": 1, "b": 2}]}"#, 100);
        assert!(value.unwrap_err().contains("duplicate key 'b'"));
        assert_eq!(state.duplicate_path().as_deref(), Some("a[1].b"));
    }

    #[test]
    fn a_tree_stops_growing_at_its_budget() {
        let (value, state) = parse("[[0, 0, 0, 0, 0, 0], 1, 2, {\"a\": 3}]", 4);
        assert!(value.is_ok());
        assert!(state.was_over());
    }
}
