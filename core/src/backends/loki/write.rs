//! Loki backend: Loki's push API (`POST /loki/api/v1/push`, JSON body).
//!
//! Each event becomes one log line (its schema v1 JSON) at its own time in nanoseconds, in a
//! stream labelled by a bounded set (site, app, entity kind, kind, plus the config's fixed
//! labels): ids stay in the line, never in labels, so Loki's index does not grow per job.
//! Requests are cut at `max_bytes`. Loki keeps the valid lines of a request it answers with
//! 400; we then split the request in halves until the refused lines stand alone, so good
//! lines are still sent (Loki drops a line identical in stream, time and text to one in its
//! open chunk, so re-sent ones normally do not double) and only the refused ones are
//! reported, with Loki's message.
//!
//! Tested against the documented wire format with a local receiver and against VictoriaLogs'
//! Loki-compatible push endpoint; no Loki server ran in the tests (none is in the package
//! registries these machines reach). See docs/backends/loki.md.

use std::collections::BTreeMap;
use std::time::Duration;

use super::body::{Item, Streams};
use super::push::{Answer, Pusher};
use crate::backends::{Backend, Batch, DeliveryError};
use crate::config::{AppConfig, LokiConfig};
use crate::error::Result;

/// Rejection messages kept for the stats: enough to see the reasons, not a list per line.
const MESSAGES_KEPT: usize = 3;

pub struct Loki {
    pusher: Pusher,
    labels: BTreeMap<String, String>,
    max_bytes: usize,
}

impl Loki {
    pub fn new(config: LokiConfig, _app: &AppConfig) -> Result<Loki> {
        Ok(Loki {
            pusher: Pusher::new(&config)?,
            labels: config.labels,
            max_bytes: config.max_bytes,
        })
    }

    /// Send `items` in one request; on a 400, in halves until each refused line is alone.
    fn deliver(&self, streams: &Streams, items: &[Item], out: &mut Outcome) {
        if out.halted.is_some() {
            // The server is down, rate limiting or refusing our credentials: asking again
            // for each remaining request would only make it worse.
            out.halt_rest(streams, items);
            return;
        }
        match self.pusher.push(&streams.body(items)) {
            Answer::Accepted => {}
            Answer::Refused { message, ignored } => {
                let n = items.len();
                let whole = n == 1 || (Streams::one_stream(items) && ignored == Some((n, n)));
                if whole {
                    out.rejected
                        .extend(items.iter().map(|&item| streams.pos(item)));
                    out.note(message);
                } else {
                    let (left, right) = items.split_at(items.len() / 2);
                    self.deliver(streams, left, out);
                    self.deliver(streams, right, out);
                }
            }
            Answer::Failed(error) => {
                let halt = match error {
                    DeliveryError::Transient {
                        message,
                        retry_after,
                    } => {
                        out.retry_after = retry_after;
                        Halt::Retry(message)
                    }
                    other => Halt::Reject(other.message().to_string()),
                };
                out.halted = Some(halt);
                out.halt_rest(streams, items);
            }
        }
    }
}

impl Backend for Loki {
    fn send(&mut self, batch: &Batch) -> std::result::Result<(), DeliveryError> {
        let streams = Streams::group(batch, &self.labels)?;
        let items = streams.items();
        let mut out = Outcome::default();
        for range in streams.chunks(&items, self.max_bytes) {
            self.deliver(&streams, &items[range], &mut out);
        }
        out.into_result(batch.len())
    }
}

/// Why the rest of a batch was not sent.
enum Halt {
    Retry(String),
    Reject(String),
}

/// What became of a batch's lines, by position; the rest were delivered.
#[derive(Default)]
struct Outcome {
    rejected: Vec<usize>,
    retry: Vec<usize>,
    messages: Vec<String>,
    more_messages: usize,
    halted: Option<Halt>,
    retry_after: Option<Duration>,
}

impl Outcome {
    fn note(&mut self, message: String) {
        if self.messages.contains(&message) {
            return;
        }
        if self.messages.len() < MESSAGES_KEPT {
            self.messages.push(message);
        } else {
            self.more_messages += 1;
        }
    }

    fn halt_rest(&mut self, streams: &Streams, items: &[Item]) {
        let positions = items.iter().map(|&item| streams.pos(item));
        match &self.halted {
            Some(Halt::Retry(_)) => self.retry.extend(positions),
            Some(Halt::Reject(_)) => self.rejected.extend(positions),
            None => {}
        }
    }

    fn message(&mut self) -> String {
        if let Some(Halt::Retry(m) | Halt::Reject(m)) = &self.halted {
            let m = m.clone();
            self.note(m);
        }
        let mut text = self.messages.join("; ");
        if self.more_messages > 0 {
            text.push_str(&format!(" (and {} other reasons)", self.more_messages));
        }
        text
    }

    fn into_result(mut self, len: usize) -> std::result::Result<(), DeliveryError> {
        if self.rejected.is_empty() && self.retry.is_empty() {
            return Ok(());
        }
        let message = self.message();
        DeliveryError::by_positions(len, self.rejected, self.retry, message, self.retry_after)
    }
}
