//! One event as a message: its body in the schema-v1 shape, and the values a message's
//! headers (attributes) carry so a consumer can route without reading the body.

use serde::Serialize;

use crate::backends::http::WireFormat;
use crate::event::json;
use crate::event::EventRef;

/// The event as JSON or MessagePack (named fields, the id as its UUID text: the shape of
/// the JSON schema), appended to `out`.
pub(crate) fn body(event: &EventRef<'_>, format: WireFormat, out: &mut Vec<u8>) {
    match format {
        WireFormat::Json => json::write_event(out, event),
        WireFormat::MsgPack => {
            let mut serializer = rmp_serde::Serializer::new(out)
                .with_struct_map()
                .with_human_readable();
            // Writing into a Vec cannot fail, and an EventRef has nothing serde refuses.
            let _ = event.serialize(&mut serializer);
        }
    }
}

/// `site`, `app` and `kind` (the event's kind), as message headers name them.
pub(crate) fn header_values<'a>(event: &EventRef<'a>) -> [(&'static str, &'a str); 3] {
    [
        ("site", event.site),
        ("app", event.app.name),
        ("kind", event.kind.as_str()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Entity, Event, Kind, Timestamp};
    use serde::Deserialize;

    #[test]
    fn a_body_decodes_to_the_event_in_either_format() {
        let time = Timestamp::from_unix_micros(1_700_000_000_000_000);
        let sample = Event::sample(Kind::Started, Entity::new("lot", "lot-1"), time);
        let batch = crate::pipeline::Batch::from_events(std::slice::from_ref(&sample));
        let view = batch.iter().next().unwrap();
        let event = view.to_event();
        let mut text = Vec::new();
        body(&view, WireFormat::Json, &mut text);
        let from_json: Event = serde_json::from_slice(&text).unwrap();
        assert_eq!(from_json, event);
        let mut packed = Vec::new();
        body(&view, WireFormat::MsgPack, &mut packed);
        let mut decoder = rmp_serde::Deserializer::from_read_ref(&packed).with_human_readable();
        let from_msgpack = Event::deserialize(&mut decoder).unwrap();
        assert_eq!(from_msgpack, event);
    }
}
