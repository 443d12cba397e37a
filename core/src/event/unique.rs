//! Maps deserialized with every key once: a key given twice is an error naming it, where
//! serde's own `BTreeMap` would keep the last value and silently lose the first.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

pub(crate) fn map<'de, D, V>(deserializer: D) -> Result<BTreeMap<String, V>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    deserializer.deserialize_map(UniqueKeys(PhantomData))
}

struct UniqueKeys<V>(PhantomData<V>);

impl<'de, V: Deserialize<'de>> Visitor<'de> for UniqueKeys<V> {
    type Value = BTreeMap<String, V>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = BTreeMap::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(super::strict::duplicate_error(&key));
            }
            let value = access.next_value()?;
            map.insert(key, value);
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use crate::event::Event;

    #[test]
    fn an_event_with_a_key_twice_is_refused() {
        let event = r#"{"v":1,"id":"01936b2e-1e4a-7cde-8f00-0123456789ab","seq":1,
            "time":"2025-11-27T08:33:37.123456Z","site":"f","app":{"name":"a"},
            "entity":{"kind":"job","id":"J"},"kind":"metric","status":"running",
            "metrics":{"x":1},"attrs":{"n":1}}"#;
        assert!(serde_json::from_str::<Event>(event).is_ok());
        for twice in [
            event.replace(r#""x":1"#, r#""x":1,"x":2"#),
            event.replace(r#""n":1"#, r#""n":1,"n":2"#),
        ] {
            let err = serde_json::from_str::<Event>(&twice).unwrap_err();
            assert!(err.to_string().contains("duplicate key"), "{err}");
        }
    }
}
