//! Managed gateway backend: `POST /v1/ingest/managed` of the gateway envelope. The gateway
//! inserts with `ON CONFLICT DO NOTHING` on (id, time), so re-sending a batch is harmless.

use serde::Serialize;

use crate::backends::http::{to_json, Endpoint};
use crate::backends::{Backend, DeliveryError};
use crate::config::HttpConfig;
use crate::pipeline::Batch;

#[derive(Serialize)]
struct Envelope<'a> {
    events: &'a Batch,
    source: &'a str,
    site_id: &'a str,
}

pub struct ManagedApi {
    endpoint: Endpoint,
    source: String,
    site_id: String,
}

impl ManagedApi {
    pub fn new(config: HttpConfig, site_id: String) -> crate::Result<Self> {
        Ok(ManagedApi {
            endpoint: Endpoint::new(&config)?,
            source: config.source,
            site_id,
        })
    }
}

impl Backend for ManagedApi {
    fn send(&mut self, events: &Batch) -> Result<(), DeliveryError> {
        let body = to_json(&Envelope {
            events,
            source: &self.source,
            site_id: &self.site_id,
        })?;
        self.endpoint.post(&body, "application/json", &[])
    }
}
