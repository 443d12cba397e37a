//! The events of an ingest body, read one element at a time.
//!
//! A body is never turned into one tree: the events array is walked element by element (a
//! serde `SeqAccess`), each element is handed to the host and dropped before the next, and an
//! element that is not an object is rejected without being built. So the work and memory per
//! element are bounded (at most [`MAX_EVENT_VALUES`] values), and a request costs its own
//! bytes plus what the host keeps of the valid events. Keys given twice anywhere are refused
//! (400 naming the key's path). Rejections are counted, and only the first
//! [`MAX_REJECTIONS_SHOWN`] are described in the answer.

use std::cell::RefCell;
use std::fmt;

use axum::http::StatusCode;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::{BodyFormat, HttpError};
use wafermon::event::strict::{duplicate_error, Step, Tree, TreeState};

/// Rejections described one by one in an answer; the rest are only counted.
pub const MAX_REJECTIONS_SHOWN: usize = 100;

/// Values (objects, arrays, strings, numbers...) one event may hold. A valid event holds a
/// few hundred at most (128 metrics, 128 attrs, a legacy event's metadata); an element with
/// more is rejected without being built further.
pub const MAX_EVENT_VALUES: usize = 10_000;

/// Nesting levels a body may have, in either format (serde_json's own limit).
pub(crate) const MAX_DEPTH: usize = 128;

/// The shapes an ingest route takes.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// One event object, or an array of events.
    EventOrArray,
    /// An array of events, or an envelope `{"events": [...], <fields>}`.
    ArrayOrEnvelope(&'static [&'static str]),
    /// Only the envelope `{"events": [...], <fields>}` (each field optional).
    Envelope(&'static [&'static str]),
}

impl Shape {
    fn expected(self) -> String {
        let envelope = |fields: &[&str]| {
            let mut text = String::from("an object {\"events\": [...]");
            for field in fields {
                text.push_str(&format!(", \"{field}\": ..."));
            }
            text.push('}');
            text
        };
        match self {
            Shape::EventOrArray => "the body must be an event object or an array of events".into(),
            Shape::ArrayOrEnvelope(fields) => format!(
                "the body must be an array of events or {}",
                envelope(fields)
            ),
            Shape::Envelope(fields) => format!("the body must be {}", envelope(fields)),
        }
    }

    fn fields(self) -> &'static [&'static str] {
        match self {
            Shape::EventOrArray => &[],
            Shape::ArrayOrEnvelope(fields) | Shape::Envelope(fields) => fields,
        }
    }
}

/// Where an element sits in the body.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Base {
    /// The body is the one event.
    Whole,
    /// `[i]` of a bare array.
    Array,
    /// `events[i]` of an envelope.
    Envelope,
}

enum Element<'b> {
    /// The element's JSON text, not parsed yet.
    Json(&'b str),
    /// A MessagePack element, built as a tree.
    Tree(Value),
    NotAnObject,
    TooLarge,
}

/// One element of the events array, as the host gets it.
pub struct Item<'b, 's> {
    pub index: usize,
    base: Base,
    element: Element<'b>,
    state: &'s TreeState,
}

/// Why an element is not an event, before any field is looked at.
pub type Unfit = String;

impl<'b> Item<'b, '_> {
    /// The element's JSON text (JSON bodies only), for a host's own fast parse.
    pub fn json_text(&self) -> Option<&'b str> {
        match self.element {
            Element::Json(text) => Some(text),
            _ => None,
        }
    }

    /// The element's path in the body: `events[3]`, `[3]`, or `` for a body that is the event.
    pub fn path(&self) -> String {
        match self.base {
            Base::Whole => String::new(),
            Base::Array => format!("[{}]", self.index),
            Base::Envelope => format!("events[{}]", self.index),
        }
    }

    /// The element as a JSON object, or why it is not one (the host rejects the element and
    /// goes on). A duplicate key is an error for the whole request.
    pub fn object(self) -> Result<Result<Value, Unfit>, HttpError> {
        let value = match self.element {
            Element::NotAnObject => return Ok(Err(not_an_object())),
            Element::TooLarge => return Ok(Err(too_large())),
            Element::Tree(value) => value,
            Element::Json(text) => {
                if !text.trim_start().starts_with('{') {
                    return Ok(Err(not_an_object()));
                }
                self.state.reset();
                let mut de = serde_json::Deserializer::from_str(text);
                let parsed = Tree { state: self.state }
                    .deserialize(&mut de)
                    .and_then(|value| de.end().map(|()| value));
                match parsed {
                    Ok(value) => value,
                    Err(e) => {
                        return Err(match self.state.duplicate_path() {
                            Some(inner) => duplicate(&join(&self.path(), &inner)),
                            None => malformed(BodyFormat::Json, e),
                        })
                    }
                }
            }
        };
        if self.state.was_over() {
            return Ok(Err(too_large()));
        }
        Ok(Ok(value))
    }
}

fn not_an_object() -> Unfit {
    "an event must be an object".into()
}

fn too_large() -> Unfit {
    format!("an event holds at most {MAX_EVENT_VALUES} values; this one holds more")
}

fn join(outer: &str, inner: &str) -> String {
    if outer.is_empty() || inner.starts_with('[') {
        format!("{outer}{inner}")
    } else {
        format!("{outer}.{inner}")
    }
}

fn duplicate(path: &str) -> HttpError {
    HttpError::bad_request(path, "duplicate key (a key may appear once per object)")
}

fn malformed(format: BodyFormat, e: impl fmt::Display) -> HttpError {
    let name = match format {
        BodyFormat::Json => "JSON",
        BodyFormat::MsgPack => "MessagePack",
    };
    HttpError::new(StatusCode::BAD_REQUEST, format!("malformed {name}: {e}"))
}

/// What the body held besides the events.
#[derive(Debug, Default)]
pub struct Envelope {
    /// Elements of the events array, valid or not.
    pub received: usize,
    /// The envelope's other fields (those the shape allows) that were given.
    pub fields: Map<String, Value>,
}

/// Read `body`'s events, calling `on_item` once per element in order. An error from
/// `on_item` stops the reading and is the answer.
pub fn read_events<'b, F>(
    body: &'b [u8],
    format: BodyFormat,
    shape: Shape,
    mut on_item: F,
) -> Result<Envelope, HttpError>
where
    F: for<'s> FnMut(Item<'b, 's>) -> Result<(), HttpError>,
{
    let ctx = Ctx {
        state: TreeState::new(MAX_EVENT_VALUES),
        abort: RefCell::new(None),
        problem: RefCell::new(None),
    };
    let mut envelope = Envelope::default();
    let result = match format {
        BodyFormat::Json => {
            let text = std::str::from_utf8(body).map_err(|e| {
                HttpError::new(
                    StatusCode::BAD_REQUEST,
                    format!("the body is not valid UTF-8 (at byte {})", e.valid_up_to()),
                )
            })?;
            let top = match text.trim_start().as_bytes().first() {
                Some(b'{') => Top::Object,
                Some(b'[') => Top::Array,
                _ => Top::Other,
            };
            let mut de = serde_json::Deserializer::from_str(text);
            read::<Json, _, _>(&mut de, top, shape, &ctx, &mut envelope, &mut on_item)
                .and_then(|()| de.end())
                .map_err(|e| ctx.failure(format, e))
        }
        BodyFormat::MsgPack => {
            let top = match body.first() {
                Some(0x80..=0x8f | 0xde | 0xdf) => Top::Object,
                Some(0x90..=0x9f | 0xdc | 0xdd) => Top::Array,
                _ => Top::Other,
            };
            let mut de = rmp_serde::Deserializer::from_read_ref(body);
            // As deep as serde_json goes (its default is 1024, which a deeply nested body
            // turns into a stack overflow on a 2 MiB thread stack).
            de.set_max_depth(MAX_DEPTH);
            read::<MsgPack, _, _>(&mut de, top, shape, &ctx, &mut envelope, &mut on_item)
                .map_err(|e| ctx.failure(format, e))
        }
    };
    result.map(|()| envelope)
}

enum Top {
    Object,
    Array,
    Other,
}

/// What a read shares across its visitors; serde errors carry text only, so the answer a
/// failure deserves is kept here.
struct Ctx {
    state: TreeState,
    /// The host's own error for an element.
    abort: RefCell<Option<HttpError>>,
    /// A wrong envelope: (path, message).
    problem: RefCell<Option<(String, String)>>,
}

impl Ctx {
    fn failure(&self, format: BodyFormat, e: impl fmt::Display) -> HttpError {
        if let Some(error) = self.abort.borrow_mut().take() {
            return error;
        }
        if let Some(path) = self.state.duplicate_path() {
            return duplicate(&path);
        }
        if let Some((path, message)) = self.problem.borrow_mut().take() {
            if path.is_empty() {
                return HttpError::new(StatusCode::BAD_REQUEST, message);
            }
            return HttpError::bad_request(path, message);
        }
        malformed(format, e)
    }

    fn refuse<E: de::Error>(&self, path: &str, message: String) -> E {
        *self.problem.borrow_mut() = Some((path.to_string(), message.clone()));
        E::custom(message)
    }
}

fn read<'b, P, D, F>(
    de: D,
    top: Top,
    shape: Shape,
    ctx: &Ctx,
    envelope: &mut Envelope,
    on_item: &mut F,
) -> Result<(), D::Error>
where
    P: ElementParser,
    D: de::Deserializer<'b>,
    F: for<'s> FnMut(Item<'b, 's>) -> Result<(), HttpError>,
{
    let mut events = Events::<P, F> {
        ctx,
        on_item,
        base: Base::Array,
        received: &mut envelope.received,
        marker: std::marker::PhantomData,
    };
    match (top, shape) {
        (Top::Object, Shape::EventOrArray) => {
            let element = P::element(de, &ctx.state)?;
            events.hand_over(0, Base::Whole, element)
        }
        (Top::Array, Shape::EventOrArray | Shape::ArrayOrEnvelope(_)) => de.deserialize_seq(events),
        (Top::Object, Shape::ArrayOrEnvelope(_) | Shape::Envelope(_)) => {
            de.deserialize_map(EnvelopeVisitor {
                events: Events {
                    base: Base::Envelope,
                    ..events
                },
                shape,
                fields: &mut envelope.fields,
            })
        }
        _ => {
            // A well-formed body of the wrong shape says so; a malformed one says that.
            IgnoredAny::deserialize(de)?;
            Err(ctx.refuse("", shape.expected()))
        }
    }
}

/// How one element of the events array is read in each format.
trait ElementParser {
    fn element<'b, D: de::Deserializer<'b>>(
        de: D,
        state: &TreeState,
    ) -> Result<Element<'b>, D::Error>;
}

/// JSON elements are kept as their text (no tree yet): checking the first byte rejects a
/// non-object, and the host may parse the text its own way.
struct Json;

impl ElementParser for Json {
    fn element<'b, D: de::Deserializer<'b>>(de: D, _: &TreeState) -> Result<Element<'b>, D::Error> {
        <&'b RawValue>::deserialize(de).map(|raw| Element::Json(raw.get()))
    }
}

/// MessagePack elements are built as bounded trees, or skipped when they are not maps.
struct MsgPack;

impl ElementParser for MsgPack {
    fn element<'b, D: de::Deserializer<'b>>(
        de: D,
        state: &TreeState,
    ) -> Result<Element<'b>, D::Error> {
        state.reset();
        de.deserialize_any(MsgPackElement { state })
    }
}

struct MsgPackElement<'s> {
    state: &'s TreeState,
}

impl<'b> Visitor<'b> for MsgPackElement<'_> {
    type Value = Element<'b>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event")
    }

    fn visit_map<A: MapAccess<'b>>(self, map: A) -> Result<Element<'b>, A::Error> {
        let value = Tree { state: self.state }.visit_map(map)?;
        Ok(if self.state.was_over() {
            Element::TooLarge
        } else {
            Element::Tree(value)
        })
    }

    fn visit_seq<A: SeqAccess<'b>>(self, mut seq: A) -> Result<Element<'b>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Element::NotAnObject)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Element<'b>, E> {
        Ok(Element::NotAnObject)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Element<'b>, E> {
        Ok(Element::NotAnObject)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Element<'b>, E> {
        Ok(Element::NotAnObject)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Element<'b>, E> {
        Ok(Element::NotAnObject)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Element<'b>, E> {
        Ok(Element::NotAnObject)
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Element<'b>, E> {
        Ok(Element::NotAnObject)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Element<'b>, E> {
        Ok(Element::NotAnObject)
    }
    fn visit_none<E: de::Error>(self) -> Result<Element<'b>, E> {
        Ok(Element::NotAnObject)
    }
    fn visit_some<D: de::Deserializer<'b>>(self, de: D) -> Result<Element<'b>, D::Error> {
        IgnoredAny::deserialize(de).map(|_| Element::NotAnObject)
    }
    fn visit_newtype_struct<D: de::Deserializer<'b>>(self, de: D) -> Result<Element<'b>, D::Error> {
        IgnoredAny::deserialize(de).map(|_| Element::NotAnObject)
    }
}

/// The events array: each element handed to the host as it is read.
struct Events<'c, 'r, P, F> {
    ctx: &'c Ctx,
    on_item: &'r mut F,
    base: Base,
    received: &'r mut usize,
    marker: std::marker::PhantomData<P>,
}

impl<'b, P, F> Events<'_, '_, P, F>
where
    F: for<'s> FnMut(Item<'b, 's>) -> Result<(), HttpError>,
{
    fn hand_over<E: de::Error>(
        &mut self,
        index: usize,
        base: Base,
        element: Element<'b>,
    ) -> Result<(), E> {
        *self.received += 1;
        let item = Item {
            index,
            base,
            element,
            state: &self.ctx.state,
        };
        (self.on_item)(item).map_err(|error| {
            *self.ctx.abort.borrow_mut() = Some(error);
            E::custom("the host refused an event")
        })
    }
}

struct ElementSeed<'s, P> {
    state: &'s TreeState,
    marker: std::marker::PhantomData<P>,
}

impl<'b, P: ElementParser> DeserializeSeed<'b> for ElementSeed<'_, P> {
    type Value = Element<'b>;

    fn deserialize<D: de::Deserializer<'b>>(self, de: D) -> Result<Element<'b>, D::Error> {
        P::element(de, self.state)
    }
}

impl<'b, P, F> Visitor<'b> for Events<'_, '_, P, F>
where
    P: ElementParser,
    F: for<'s> FnMut(Item<'b, 's>) -> Result<(), HttpError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of events")
    }

    fn visit_seq<A: SeqAccess<'b>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            let seed = ElementSeed::<P> {
                state: &self.ctx.state,
                marker: std::marker::PhantomData,
            };
            let element = match seq.next_element_seed(seed) {
                Ok(Some(element)) => element,
                Ok(None) => break,
                Err(e) => {
                    self.ctx.state.unwinding(Step::Index(index));
                    return Err(e);
                }
            };
            self.hand_over(index, self.base, element)?;
            index += 1;
        }
        Ok(())
    }
}

impl<'b, P, F> DeserializeSeed<'b> for Events<'_, '_, P, F>
where
    P: ElementParser,
    F: for<'s> FnMut(Item<'b, 's>) -> Result<(), HttpError>,
{
    type Value = ();

    fn deserialize<D: de::Deserializer<'b>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_seq(self)
    }
}

struct EnvelopeVisitor<'c, 'r, P, F> {
    events: Events<'c, 'r, P, F>,
    shape: Shape,
    fields: &'r mut Map<String, Value>,
}

impl<'b, P, F> Visitor<'b> for EnvelopeVisitor<'_, '_, P, F>
where
    P: ElementParser,
    F: for<'s> FnMut(Item<'b, 's>) -> Result<(), HttpError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object {\"events\": [...]}")
    }

    fn visit_map<A: MapAccess<'b>>(self, mut map: A) -> Result<(), A::Error> {
        let ctx = self.events.ctx;
        let mut events = Some(self.events);
        while let Some(key) = map.next_key::<String>()? {
            let seen = if key == "events" {
                events.is_none()
            } else {
                self.fields.contains_key(&key)
            };
            if seen {
                ctx.state.found_duplicate(&key);
                return Err(duplicate_error(&key));
            }
            if key == "events" {
                let Some(seq) = events.take() else {
                    unreachable!("checked above")
                };
                if let Err(e) = map.next_value_seed(EventsField(seq)) {
                    ctx.state.unwinding(Step::Key(key));
                    return Err(e);
                }
            } else if self.shape.fields().contains(&key.as_str()) {
                ctx.state.reset();
                let value = match map.next_value_seed(Tree { state: &ctx.state }) {
                    Ok(value) => value,
                    Err(e) => {
                        ctx.state.unwinding(Step::Key(key));
                        return Err(e);
                    }
                };
                if ctx.state.was_over() {
                    return Err(ctx.refuse(&key, "is too large".into()));
                }
                self.fields.insert(key, value);
            } else {
                let mut expected = vec!["events"];
                expected.extend(self.shape.fields());
                return Err(ctx.refuse(
                    &key,
                    format!("unknown field (expected {})", expected.join(", ")),
                ));
            }
        }
        if events.is_some() {
            return Err(ctx.refuse("events", "is required".into()));
        }
        Ok(())
    }
}

/// The `events` field: an array, else the envelope names it.
struct EventsField<'c, 'r, P, F>(Events<'c, 'r, P, F>);

impl<'b, P, F> DeserializeSeed<'b> for EventsField<'_, '_, P, F>
where
    P: ElementParser,
    F: for<'s> FnMut(Item<'b, 's>) -> Result<(), HttpError>,
{
    type Value = ();

    fn deserialize<D: de::Deserializer<'b>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(EventsField(self.0))
    }
}

impl<'b, P, F> Visitor<'b> for EventsField<'_, '_, P, F>
where
    P: ElementParser,
    F: for<'s> FnMut(Item<'b, 's>) -> Result<(), HttpError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of events")
    }

    fn visit_seq<A: SeqAccess<'b>>(self, seq: A) -> Result<(), A::Error> {
        let events = Events {
            base: Base::Envelope,
            ..self.0
        };
        events.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'b>>(self, _: A) -> Result<(), A::Error> {
        Err(self.not_an_array())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.not_an_array())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(self.not_an_array())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(self.not_an_array())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(self.not_an_array())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.not_an_array())
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        Err(self.not_an_array())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.not_an_array())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(self.not_an_array())
    }
}

impl<P, F> EventsField<'_, '_, P, F> {
    fn not_an_array<E: de::Error>(&self) -> E {
        self.0
            .ctx
            .refuse("events", "must be an array of events".into())
    }
}

/// The rejected elements of a request: the first [`MAX_REJECTIONS_SHOWN`] described, all
/// counted. In an answer: `"rejected": [{"index", "path", "error"}...], "rejected_count": n`.
#[derive(Debug, Default)]
pub struct Rejections {
    shown: Vec<Value>,
    count: usize,
}

impl Rejections {
    pub fn add(&mut self, index: usize, path: &str, error: &str) {
        self.count += 1;
        if self.shown.len() < MAX_REJECTIONS_SHOWN {
            self.shown
                .push(json!({"index": index, "path": path, "error": error}));
        }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Write `rejected` and `rejected_count` into an answer.
    pub fn write_into(self, answer: &mut Map<String, Value>) {
        answer.insert("rejected".into(), Value::Array(self.shown));
        answer.insert("rejected_count".into(), Value::from(self.count));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Objects kept, rejections as (index, why), and the envelope.
    type Outcome = (Vec<Value>, Vec<(usize, String)>, Envelope);

    fn run(body: &[u8], format: BodyFormat, shape: Shape) -> Result<Outcome, HttpError> {
        let mut objects = Vec::new();
        let mut unfit = Vec::new();
        let envelope = read_events(body, format, shape, |item| {
            let index = item.index;
            match item.object()? {
                Ok(object) => objects.push(object),
                Err(why) => unfit.push((index, why)),
            }
            Ok(())
        })?;
        Ok((objects, unfit, envelope))
    }

    const BATCH: Shape = Shape::ArrayOrEnvelope(&[]);
    const MANAGED: Shape = Shape::Envelope(&["source", "site_id"]);

    fn json_run(text: &str, shape: Shape) -> Result<Outcome, HttpError> {
        run(text.as_bytes(), BodyFormat::Json, shape)
    }

    #[test]
    fn every_shape_a_route_takes() {
        let (objects, _, env) = json_run(r#"{"kind": "x"}"#, Shape::EventOrArray).unwrap();
        assert_eq!((objects.len(), env.received), (1, 1));
        let (objects, unfit, env) = json_run(r#"[{"a": 1}, 0, [1], {"b": 2}]"#, BATCH).unwrap();
        assert_eq!(objects, vec![json!({"a": 1}), json!({"b": 2})]);
        assert_eq!(unfit.iter().map(|u| u.0).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(env.received, 4);
        let (objects, _, env) = json_run(
            r#"{"source": "s", "events": [{"a": 1}], "site_id": null}"#,
            MANAGED,
        )
        .unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!(env.fields["source"], "s");
        assert!(json_run("[]", MANAGED).is_err());
        let err = json_run("3", BATCH).err().unwrap();
        assert!(
            err.message.starts_with("the body must be"),
            "{}",
            err.message
        );
        assert_eq!(err.path, None);
        let err = run(b"\xc1", BodyFormat::MsgPack, BATCH).err().unwrap();
        assert!(
            err.message.starts_with("malformed MessagePack"),
            "{}",
            err.message
        );
    }

    #[test]
    fn envelope_errors_name_the_field() {
        let path = |text: &str, shape| {
            json_run(text, shape)
                .err()
                .unwrap()
                .path
                .unwrap_or_default()
        };
        assert_eq!(path(r#"{"events": [], "x": 1}"#, BATCH), "x");
        assert_eq!(path(r#"{"events": {}}"#, BATCH), "events");
        assert_eq!(path(r#"{"events": 3}"#, MANAGED), "events");
        assert_eq!(path(r#"{}"#, MANAGED), "events");
        assert_eq!(path(r#"{"events": [{}], "events": []}"#, BATCH), "events");
        assert_eq!(
            path(r#"{"events": [], "source": "a", "source": "b"}"#, MANAGED),
            "source"
        );
        assert_eq!(
            path(
                r#"{"events": [{"kind": "x"}, {"attrs": {"n": 1, "n": 2}}]}"#,
                BATCH
            ),
            "events[1].attrs.n"
        );
        assert_eq!(path(r#"[{"a": {"b": 1}, "a": 2}]"#, BATCH), "[0].a");
        assert_eq!(
            path(r#"{"kind": 1, "kind": 2}"#, Shape::EventOrArray),
            "kind"
        );
    }

    #[test]
    fn msgpack_reads_the_same_way() {
        let pack = |v: &Value| rmp_serde::to_vec_named(v).unwrap();
        let body = pack(&json!({"events": [{"a": 1}, 0, "x", [1, 2], {"b": [true]}]}));
        let (objects, unfit, env) = run(&body, BodyFormat::MsgPack, BATCH).unwrap();
        assert_eq!(objects, vec![json!({"a": 1}), json!({"b": [true]})]);
        assert_eq!(unfit.len(), 3);
        assert_eq!(env.received, 5);
        let (objects, _, _) = run(
            &pack(&json!({"kind": "x"})),
            BodyFormat::MsgPack,
            Shape::EventOrArray,
        )
        .unwrap();
        assert_eq!(objects, vec![json!({"kind": "x"})]);
        // A map with a key twice: written by hand (no serializer writes one).
        let mut body = vec![0x91, 0x82];
        for _ in 0..2 {
            body.extend([0xa1, b'k', 0x01]);
        }
        let err = run(&body, BodyFormat::MsgPack, BATCH).err().unwrap();
        assert_eq!(err.path.as_deref(), Some("[0].k"), "{}", err.message);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        for element in [0x91u8, 0x81] {
            // [ {"k": {"k": ... 0 }} ] or [[[[...0]]]], 100,000 deep.
            let mut body = vec![0x91];
            for _ in 0..100_000 {
                body.push(element);
                if element == 0x81 {
                    body.extend_from_slice(&[0xa1, b'k']);
                }
            }
            body.push(0);
            let result = run(&body, BodyFormat::MsgPack, BATCH);
            assert!(result.is_err(), "{:?}", result.map(|r| r.1));
        }
        let deep = format!("[{}0{}]", "{\"k\":".repeat(100_000), "}".repeat(100_000));
        let err = json_run(&deep, BATCH).err().unwrap();
        assert!(err.message.contains("recursion"), "{}", err.message);
    }

    #[test]
    fn an_element_too_large_is_rejected_alone() {
        let big = format!(
            "[{{\"a\": [{}0]}}, {{\"b\": 1}}]",
            "0,".repeat(MAX_EVENT_VALUES)
        );
        let (objects, unfit, _) = json_run(&big, BATCH).unwrap();
        assert_eq!(objects, vec![json!({"b": 1})]);
        assert_eq!(unfit[0].0, 0);
        assert!(unfit[0].1.contains("at most"), "{:?}", unfit);
    }

    #[test]
    fn malformed_bodies_say_so() {
        let err = json_run("[{\"a\": 1}", BATCH).err().unwrap();
        assert!(err.message.starts_with("malformed JSON"), "{}", err.message);
        let err = json_run("[] x", BATCH).err().unwrap();
        assert!(err.message.starts_with("malformed JSON"), "{}", err.message);
        let err = run(b"[{\"a\": \"\xff\"}]", BodyFormat::Json, BATCH)
            .err()
            .unwrap();
        assert!(err.message.contains("UTF-8"), "{}", err.message);
    }

    #[test]
    fn rejections_show_the_first_hundred_and_count_all() {
        let mut rejections = Rejections::default();
        for i in 0..1000 {
            rejections.add(i, "", "no");
        }
        let mut answer = Map::new();
        rejections.write_into(&mut answer);
        assert_eq!(
            answer["rejected"].as_array().unwrap().len(),
            MAX_REJECTIONS_SHOWN
        );
        assert_eq!(answer["rejected_count"], 1000);
    }
}
