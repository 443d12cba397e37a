//! Sidecar backend: batches go to a local `wafermon-sidecar` (`POST /v1/ingest/batch`), which
//! acknowledges only once they are in its own spool.

use serde::Serialize;

use super::http::{to_json, Endpoint};
use super::{Backend, DeliveryError};
use crate::config::{HttpConfig, WireFormat};
use crate::event::Event;

/// The body of `/v1/ingest/batch`, the same shape in JSON and MessagePack.
#[derive(Serialize)]
struct Envelope<'a> {
    events: &'a [Event],
}

pub struct Sidecar {
    endpoint: Endpoint,
    format: WireFormat,
}

impl Sidecar {
    pub fn new(config: HttpConfig) -> Self {
        Sidecar {
            endpoint: Endpoint::new(&config),
            format: config.format,
        }
    }
}

impl Backend for Sidecar {
    fn send(&mut self, events: &[Event]) -> Result<(), DeliveryError> {
        let envelope = Envelope { events };
        match self.format {
            WireFormat::Json => self
                .endpoint
                .post(&to_json(&envelope)?, "application/json", &[]),
            WireFormat::MsgPack => {
                // Named fields, so the sidecar can decode it into the same structs as JSON.
                let body = rmp_serde::to_vec_named(&envelope).map_err(|e| {
                    DeliveryError::permanent(format!("cannot encode batch as MessagePack: {e}"))
                })?;
                self.endpoint.post(&body, "application/msgpack", &[])
            }
        }
    }
}
