//! Elasticsearch / OpenSearch backend (`elasticsearch`, alias `elk`): `_bulk` with `create`
//! actions and `_id` = event id, so a retried batch never makes a second document (the
//! cluster answers 409 for ids it holds, and those count as delivered).
//!
//! Every item of a bulk answer is read: a 200 can still carry refused documents. Items the
//! cluster could not take now (429, 5xx) go back to the lane to retry; the others are
//! reported with the cluster's own reason. Requests stay under `max_bytes`, and a 413 halves
//! the cap for the rest of the backend's life (the server's limit does not change often).
//! docs/backends/elasticsearch.md has the keys, limits and guarantees.

use std::ops::Range;
use std::time::Duration;

use super::bulk::{BulkBody, IndexName, ItemResult};
use super::cluster::{Cluster, Method};
use super::{bulk, template};
use crate::backends::{Backend, Batch, DeliveryError};
use crate::config::{AppConfig, ElasticConfig};
use crate::error::Result;

/// Only the parts of a bulk answer we read: its size grows with every document otherwise.
const BULK_PATH: &str = "/_bulk?filter_path=errors,items.*.status,items.*.error";
/// Halving stops here: below it a 413 is about one document, not the request.
const MIN_CAP: usize = 1024;
/// A connection cut while sending a body at least this big is read as a refused size (the
/// 413 was sent but could not be read); below it, as the network failing.
const CUT_OFF_MIN: usize = 1024 * 1024;
/// Reasons quoted in a message; the counts say how many there were.
const REASONS_SHOWN: usize = 3;

/// The pattern every index of an `index` template matches (`*` for its date parts).
pub fn index_pattern(index: &str) -> String {
    IndexName::pattern(index)
}

pub struct Elastic {
    cluster: Cluster,
    index_template: String,
    index: IndexName,
    /// Bytes per request: `max_bytes`, lower after a 413.
    cap: usize,
    /// Still to do before the first write.
    install_template: bool,
}

impl Elastic {
    pub fn new(config: ElasticConfig, _app: &AppConfig) -> Result<Elastic> {
        let cluster = Cluster::new(&config.url, &config.auth, config.net.timeout)?;
        Ok(Elastic {
            cluster,
            index: IndexName::new(&config.index),
            index_template: config.index,
            cap: config.max_bytes,
            install_template: config.install_template,
        })
    }

    /// Install the template once, before the first document. A refusal is reported (in the
    /// batch's result) and not tried again; the events are written all the same.
    fn ensure_template(&mut self) -> std::result::Result<Option<String>, DeliveryError> {
        if !self.install_template {
            return Ok(None);
        }
        match template::install(&self.cluster, &self.index_template) {
            Ok(()) => {
                self.install_template = false;
                Ok(None)
            }
            Err(template::Failure::Refused(message)) => {
                self.install_template = false;
                Ok(Some(message))
            }
            Err(template::Failure::Transient {
                message,
                retry_after,
            }) => Err(DeliveryError::Transient {
                message,
                retry_after,
            }),
        }
    }
}

/// What became of each event of a batch, across all its requests.
#[derive(Default)]
struct Tally {
    rejected: Vec<usize>,
    retry: Vec<usize>,
    rejected_reasons: Vec<String>,
    retry_reasons: Vec<String>,
    retry_after: Option<Duration>,
    /// Why a whole request was refused (bad credentials...); when that left no event of the
    /// batch delivered, the batch fails as a whole with this reason.
    refused: Option<String>,
}

impl Tally {
    fn reject(&mut self, positions: Range<usize>, reason: &str) {
        if self.rejected_reasons.len() < REASONS_SHOWN {
            self.rejected_reasons.push(reason.to_string());
        }
        self.rejected.extend(positions);
    }

    fn retry(&mut self, positions: Range<usize>, reason: &str, after: Option<Duration>) {
        if self.retry_reasons.len() < REASONS_SHOWN {
            self.retry_reasons.push(reason.to_string());
        }
        self.retry.extend(positions);
        self.retry_after = self.retry_after.max(after);
    }

    fn message(&self, total: usize) -> String {
        let mut parts = Vec::new();
        if !self.rejected.is_empty() {
            parts.push(format!(
                "{} of {total} events rejected: {}",
                self.rejected.len(),
                self.rejected_reasons.join("; ")
            ));
        }
        if !self.retry.is_empty() {
            parts.push(format!(
                "{} of {total} events to retry: {}",
                self.retry.len(),
                self.retry_reasons.join("; ")
            ));
        }
        parts.join("; ")
    }

    fn into_result(
        self,
        total: usize,
        note: Option<String>,
    ) -> std::result::Result<(), DeliveryError> {
        if let Some(message) = self
            .refused
            .clone()
            .filter(|_| self.rejected.len() == total)
        {
            return Err(DeliveryError::permanent(message));
        }
        if self.retry.len() == total {
            return Err(DeliveryError::Transient {
                message: self.message(total),
                retry_after: self.retry_after,
            });
        }
        let mut message = self.message(total);
        if let Some(note) = note {
            if !message.is_empty() {
                message.push_str("; ");
            }
            message.push_str(&note);
        }
        if message.is_empty() {
            return Ok(());
        }
        // Nothing rejected and nothing to retry, but something to say (the template): the
        // lane counts the batch delivered and shows the message.
        Err(DeliveryError::Partial {
            rejected: self.rejected,
            retry: self.retry,
            message,
            retry_after: self.retry_after,
        })
    }
}

impl Backend for Elastic {
    fn send(&mut self, batch: &Batch) -> std::result::Result<(), DeliveryError> {
        let note = self.ensure_template()?;
        let body = BulkBody::encode(batch, &mut self.index);
        let total = body.len();
        let mut tally = Tally::default();
        let mut pending = body.plan(0..total, self.cap);
        pending.reverse(); // a stack: the next run is last
        while let Some(run) = pending.pop() {
            let bytes = body.slice(run.clone());
            let sent = self
                .cluster
                .request(Method::Post, BULK_PATH, "application/x-ndjson", bytes);
            let reply = match sent {
                Ok(reply) => reply,
                Err(e) if e.cut_off && run.len() > 1 && bytes.len() >= CUT_OFF_MIN => {
                    self.cap = self.cap.min((bytes.len() / 2).max(CUT_OFF_MIN));
                    pending.extend(halves(&body, run, self.cap).into_iter().rev());
                    continue;
                }
                Err(e) if e.cut_off && run.len() == 1 && bytes.len() >= CUT_OFF_MIN => {
                    // One document the server (or a proxy before it) will not even read:
                    // sending it again cannot help, and it would hold up the whole lane.
                    let reason = format!(
                        "the connection was cut while sending one document of {} bytes: \
                         larger than the server or a proxy before it accepts ({})",
                        bytes.len(),
                        e.message
                    );
                    tally.reject(run.clone(), &reason);
                    continue;
                }
                Err(e) if e.transient => {
                    // The cluster is unreachable: the rest waits for the next attempt.
                    tally.retry(run.start..total, &e.message, None);
                    break;
                }
                Err(e) => {
                    tally.refused = Some(e.message.clone());
                    tally.reject(run.start..total, &e.message);
                    break;
                }
            };
            if reply.is_success() {
                match bulk::parse_items(&reply.body, run.len()) {
                    Ok(items) => {
                        for (position, item) in run.clone().zip(items) {
                            match item {
                                ItemResult::Stored => {}
                                ItemResult::Retry(reason) => {
                                    tally.retry(position..position + 1, &reason, reply.retry_after)
                                }
                                ItemResult::Rejected(reason) => tally.reject(
                                    position..position + 1,
                                    &format!("event {}: {reason}", body.id(position)),
                                ),
                            }
                        }
                    }
                    // Not knowing which documents got in, send them again: `create` by id
                    // makes that harmless.
                    Err(e) => tally.retry(run, &e, None),
                }
            } else if reply.status == 413 {
                if run.len() == 1 {
                    let reason = format!(
                        "event {}: {} bytes is more than the server takes in one request: {}",
                        body.id(run.start),
                        bytes.len(),
                        reply.reason()
                    );
                    tally.reject(run, &reason);
                } else {
                    self.cap = (bytes.len() / 2).max(MIN_CAP);
                    pending.extend(halves(&body, run, self.cap).into_iter().rev());
                }
            } else if reply.is_transient() {
                tally.retry(run.start..total, &reply.reason(), reply.retry_after);
                break;
            } else if matches!(reply.status, 401 | 403) {
                // The same credentials fail every request: stop here.
                let reason = reply.reason();
                tally.refused = Some(reason.clone());
                tally.reject(run.start..total, &reason);
                break;
            } else {
                // This request was refused as a whole; the next ones may still be fine.
                tally.reject(run, &reply.reason());
            }
        }
        tally.into_result(total, note)
    }
}

/// `run` (of two events or more) cut under `cap`, and in two at least.
fn halves(body: &BulkBody, run: Range<usize>, cap: usize) -> Vec<Range<usize>> {
    let smaller = body.plan(run.clone(), cap);
    if smaller.len() > 1 {
        return smaller;
    }
    // One event holds nearly all the bytes: cut by count instead.
    let mid = run.start + run.len() / 2;
    vec![run.start..mid, mid..run.end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_settles_by_what_became_of_each_event() {
        assert_eq!(Tally::default().into_result(3, None), Ok(()));

        let mut busy = Tally::default();
        busy.retry(0..3, "HTTP 503: unavailable", Some(Duration::from_secs(2)));
        assert_eq!(
            busy.into_result(3, None),
            Err(DeliveryError::Transient {
                message: "3 of 3 events to retry: HTTP 503: unavailable".into(),
                retry_after: Some(Duration::from_secs(2)),
            })
        );

        let mut mixed = Tally::default();
        mixed.reject(1..2, "event x: HTTP 400: mapper_parsing_exception: bad");
        mixed.retry(3..4, "HTTP 429: queue full", None);
        match mixed.into_result(5, None) {
            Err(DeliveryError::Partial {
                rejected,
                retry,
                message,
                ..
            }) => {
                assert_eq!((rejected, retry), (vec![1], vec![3]));
                assert!(
                    message.starts_with("1 of 5 events rejected: event x"),
                    "{message}"
                );
                assert!(message.contains("1 of 5 events to retry"), "{message}");
            }
            other => panic!("{other:?}"),
        }

        let mut refused = Tally {
            refused: Some("HTTP 401: security_exception: no".into()),
            ..Tally::default()
        };
        refused.reject(0..4, "HTTP 401: security_exception: no");
        assert_eq!(
            refused.into_result(4, None),
            Err(DeliveryError::permanent("HTTP 401: security_exception: no"))
        );

        // Delivered, with something to say: the lane counts it sent and shows the note.
        match Tally::default().into_result(2, Some("index template not installed".into())) {
            Err(DeliveryError::Partial {
                rejected,
                retry,
                message,
                ..
            }) => {
                assert!(rejected.is_empty() && retry.is_empty());
                assert_eq!(message, "index template not installed");
            }
            other => panic!("{other:?}"),
        }
    }
}
