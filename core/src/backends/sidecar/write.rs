//! Sidecar backend: batches go to a local `wafermon-sidecar` (`POST /v1/ingest/batch`), which
//! acknowledges only once they are in its own spool.

use serde::Serialize;

use crate::backends::http::{to_json, Endpoint};
use crate::backends::{Backend, DeliveryError};
use crate::config::{HttpConfig, WireFormat};
use crate::pipeline::Batch;

/// The body of `/v1/ingest/batch`, the same shape in JSON and MessagePack.
#[derive(Serialize)]
struct Envelope<'a> {
    events: &'a Batch,
}

pub struct Sidecar {
    endpoint: Endpoint,
    format: WireFormat,
}

impl Sidecar {
    pub fn new(config: HttpConfig) -> crate::Result<Self> {
        Ok(Sidecar {
            endpoint: Endpoint::new(&config)?,
            format: config.format,
        })
    }
}

impl Backend for Sidecar {
    fn send(&mut self, events: &Batch) -> Result<(), DeliveryError> {
        let envelope = Envelope { events };
        match self.format {
            WireFormat::Json => self
                .endpoint
                .post(&to_json(&envelope)?, "application/json", &[]),
            WireFormat::MsgPack => {
                // Named fields and human-readable values (the id as its UUID string), so the
                // MessagePack body has exactly the shape of the JSON schema.
                let mut body = Vec::with_capacity(events.len() * 256);
                let mut serializer = rmp_serde::Serializer::new(&mut body)
                    .with_struct_map()
                    .with_human_readable();
                envelope.serialize(&mut serializer).map_err(|e| {
                    DeliveryError::permanent(format!("cannot encode batch as MessagePack: {e}"))
                })?;
                self.endpoint.post(&body, "application/msgpack", &[])
            }
        }
    }
}
