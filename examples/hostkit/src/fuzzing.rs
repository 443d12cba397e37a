//! The hosts' ingest body parsers as the fuzz targets (fuzz/) and tests/fuzz_corpus.rs run
//! them: the body read by [`read_events`] in each shape the host's routes take, in both
//! formats, and each element handed to the core's parser the host calls (the sidecar's
//! `routes::accept`, the gateway's `api::ingest::read_valid`). A panic here is a bug.
//! Feature `fuzzing`; not part of the API.

use wafermon::event::{self, Event, LegacyDefaults};
use wafermon::{Config, IngestBatch};

use crate::events::{read_events, Rejections, Shape};
use crate::BodyFormat;

const FORMATS: [BodyFormat; 2] = [BodyFormat::Json, BodyFormat::MsgPack];

/// The sidecar's ingest routes: an event or an array (`/v1/ingest/events`), an array or an
/// envelope (`/v1/ingest/batch`, the legacy batch); elements in schema v1 or legacy form.
pub fn sidecar_body(data: &[u8]) {
    let defaults = LegacyDefaults::from_config(&Config::default().app);
    for format in FORMATS {
        for shape in [Shape::EventOrArray, Shape::ArrayOrEnvelope(&[])] {
            let mut valid = IngestBatch::default();
            let mut rejections = Rejections::default();
            let _ = read_events(data, format, shape, |item| {
                let index = item.index;
                let object = match item.object()? {
                    Ok(object) => object,
                    Err(why) => {
                        rejections.add(index, "", &why);
                        return Ok(());
                    }
                };
                let parsed = if event::is_legacy(&object) {
                    event::parse_legacy_value(&object, &defaults)
                } else {
                    event::parse_event_value(&object)
                }
                .and_then(|event| valid.push(&event));
                if let Err(e) = parsed {
                    rejections.add(index, e.path().unwrap_or_default(), e.message());
                }
                Ok(())
            });
        }
    }
}

/// The gateway's ingest: the managed envelope (`/v1/ingest/managed`) and a Kafka message
/// (an event or an array); complete events, each JSON element first tried the fast way
/// (straight into `Event`) and then the strict way.
pub fn gateway_body(data: &[u8]) {
    for format in FORMATS {
        for shape in [Shape::Envelope(&["source", "site_id"]), Shape::EventOrArray] {
            let mut rejections = Rejections::default();
            let _ = read_events(data, format, shape, |item| {
                let index = item.index;
                if let Some(text) = item.json_text() {
                    if let Ok(event) = serde_json::from_str::<Event>(text) {
                        if event.validate().is_ok() {
                            let _ = event.to_json();
                        }
                    }
                }
                let at = item.path();
                match item.object()? {
                    Err(why) => rejections.add(index, &at, &why),
                    Ok(object) => match event::parse_complete_event(&object) {
                        Ok(event) => {
                            let _ = event.to_json();
                        }
                        Err(e) => rejections.add(index, &at, e.message()),
                    },
                }
                Ok(())
            });
        }
    }
}
