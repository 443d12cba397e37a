//! S3 backend (object_store): each batch becomes JSONL objects, one per site and UTC hour,
//! under `<prefix>/<site>/yyyy/mm/dd/hh/<first event id>.jsonl[.gz]` (see `layout`). The key
//! depends only on the events, so a retried batch overwrites its own object.
//!
//! The core is synchronous; object_store is async. Each backend owns a current-thread tokio
//! runtime and blocks on one request at a time on the lane's own thread, which is what the
//! lane expects of `send` anyway.

use std::io::Write;
use std::time::Duration;

use flate2::write::GzEncoder;
use object_store::aws::AmazonS3;
use object_store::path::Path;
use object_store::{Attribute, Attributes, ObjectStore, PutOptions, PutPayload};
use uuid::Uuid;

use super::layout;
use super::store::{self, build_store};
use crate::backends::{Backend, Batch, DeliveryError};
use crate::config::{AppConfig, Compression, S3Config};
use crate::error::{Error, Result};
use crate::event::{json, Timestamp};

pub struct S3 {
    runtime: tokio::runtime::Runtime,
    store: AmazonS3,
    bucket: String,
    prefix: String,
    compression: Compression,
    timeout: Duration,
}

impl S3 {
    pub fn new(config: S3Config, _app: &AppConfig) -> Result<S3> {
        // Checked here, so a bad prefix is a config error and not a failure of every batch.
        if !config.prefix.is_empty() {
            Path::parse(&config.prefix).map_err(|e| {
                Error::config(
                    "prefix",
                    format!("'{}' is not a valid key prefix: {e}", config.prefix),
                )
            })?;
        }
        let store = build_store(&config)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("cannot start the s3 backend's runtime", e))?;
        Ok(S3 {
            runtime,
            store,
            bucket: config.bucket,
            prefix: config.prefix,
            compression: config.compression,
            timeout: config.net.timeout,
        })
    }

    /// PUT one object, overwriting any object of the same key.
    fn put(&self, group: &mut Group) -> std::result::Result<(), DeliveryError> {
        let body = match self.compression {
            // Handed over, not copied: each group is sent once per `send`.
            Compression::None => std::mem::take(&mut group.body),
            Compression::Gzip => gzip(&group.body)?,
        };
        let key = layout::object_key(
            &self.prefix,
            &group.site,
            group.first_time,
            group.first_id,
            self.compression,
        );
        let what = format!("PUT s3://{}/{key}", self.bucket);
        let location = Path::parse(&key).map_err(|e| {
            DeliveryError::permanent(format!("{what}: not a valid object key: {e}"))
        })?;
        let mut attributes = Attributes::new();
        // A content type and no Content-Encoding: clients that inflate gzip bodies on their
        // own would otherwise hand readers a .gz object already inflated.
        let content_type = match self.compression {
            Compression::None => "application/x-ndjson",
            Compression::Gzip => "application/gzip",
        };
        attributes.insert(Attribute::ContentType, content_type.into());
        let options = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        let request = self
            .store
            .put_opts(&location, PutPayload::from(body), options);
        // The client has its own timeout per request; this one also bounds fetching
        // credentials and anything else it might wait on.
        match self
            .runtime
            .block_on(async { tokio::time::timeout(self.timeout * 2, request).await })
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(store::classify(&what, &e)),
            Err(_) => Err(DeliveryError::transient(format!(
                "{what}: no answer within {:?}",
                self.timeout * 2
            ))),
        }
    }
}

/// The events of one site and one hour, as JSONL.
struct Group {
    site: String,
    hour: i64,
    first_time: Timestamp,
    first_id: Uuid,
    body: Vec<u8>,
    /// Positions of its events in the batch, for a partial result.
    positions: Vec<usize>,
}

/// Split a batch by site and UTC hour, keeping the batch's order within each group.
fn groups(batch: &Batch) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (position, event) in batch.iter().enumerate() {
        let hour = layout::hour_of(event.time.unix_micros());
        let index = match groups
            .iter()
            .position(|g| g.hour == hour && g.site == event.site)
        {
            Some(i) => i,
            None => {
                groups.push(Group {
                    site: event.site.to_string(),
                    hour,
                    first_time: event.time,
                    first_id: event.id,
                    body: Vec::with_capacity(batch.size() * 2),
                    positions: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let group = &mut groups[index];
        group.positions.push(position);
        json::write_event(&mut group.body, &event);
        group.body.push(b'\n');
    }
    groups
}

fn gzip(body: &[u8]) -> std::result::Result<Vec<u8>, DeliveryError> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::default(),
    );
    encoder
        .write_all(body)
        .and_then(|_| encoder.finish())
        .map_err(|e| DeliveryError::permanent(format!("cannot gzip the batch: {e}")))
}

impl Backend for S3 {
    /// Usually one object. When a batch spans sites or hours, each object succeeds or fails
    /// on its own: a rejected one fails its events only, and after a transient failure the
    /// objects not yet written are retried (those written stay; retrying them would only
    /// rewrite the same content).
    fn send(&mut self, batch: &Batch) -> std::result::Result<(), DeliveryError> {
        let mut groups = groups(batch);
        let mut rejected: Vec<usize> = Vec::new();
        let mut rejected_message = None;
        let mut delivered_any = false;
        for index in 0..groups.len() {
            let group = &mut groups[index];
            match self.put(group) {
                Ok(()) => delivered_any = true,
                Err(DeliveryError::Permanent { message }) => {
                    rejected.extend(&group.positions);
                    rejected_message.get_or_insert(message);
                }
                Err(transient) => {
                    if !delivered_any && rejected.is_empty() {
                        return Err(transient);
                    }
                    let retry = groups[index..]
                        .iter()
                        .flat_map(|g| g.positions.iter().copied())
                        .collect();
                    let message = match rejected_message {
                        Some(m) => format!("{m}; then {}", transient.message()),
                        None => transient.message().to_string(),
                    };
                    return Err(DeliveryError::Partial {
                        rejected,
                        retry,
                        message,
                        retry_after: None,
                    });
                }
            }
        }
        match rejected_message {
            None => Ok(()),
            Some(message) if !delivered_any => Err(DeliveryError::Permanent { message }),
            Some(message) => Err(DeliveryError::Partial {
                rejected,
                retry: Vec::new(),
                message,
                retry_after: None,
            }),
        }
    }
}
