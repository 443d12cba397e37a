//! SQS backend: every event as one message (its JSON), sent with SendMessageBatch over the
//! AWS JSON protocol. Per-entry failures come back as `Partial`: the sender's faults are
//! rejected, SQS's own are retried.

use serde_json::{json, Value};

use super::entries::{pack, Request};
use crate::backends::aws::{AwsClient, Outcome};
use crate::backends::messaging::Roots;
use crate::backends::{Backend, Batch, DeliveryError};
use crate::config::SqsConfig;
use crate::error::Result;

const TARGET: &str = "AmazonSQS.SendMessageBatch";

pub struct Sqs {
    client: AwsClient,
    queue_url: String,
    fifo: bool,
    roots: Roots,
}

impl Sqs {
    pub fn new(config: SqsConfig) -> Result<Sqs> {
        let mut aws = config.aws.clone();
        aws.endpoint = Some(config.api_endpoint());
        Ok(Sqs {
            client: AwsClient::new(&aws, "sqs", config.net.timeout)?,
            fifo: config.is_fifo(),
            queue_url: config.queue_url,
            roots: Roots::default(),
        })
    }

    fn send_request(&self, request: &Request, outcome: &mut Outcome) -> bool {
        let body = json!({"QueueUrl": self.queue_url, "Entries": request.entries});
        match self.client.call_json("1.0", TARGET, &body) {
            Ok(answer) => {
                self.sort_failures(&answer, request, outcome);
                true
            }
            Err(e) if e.transient => {
                outcome.retry_all(request.positions.iter().copied(), e);
                false
            }
            Err(e) => {
                let reason = format!("SQS refused the batch for {}: {e}", self.queue_url);
                for &position in &request.positions {
                    outcome.reject(position, reason.clone());
                }
                true
            }
        }
    }

    /// `Failed` entries: the sender's fault (bad content, too large) is final, SQS's is
    /// worth another try.
    fn sort_failures(&self, answer: &Value, request: &Request, outcome: &mut Outcome) {
        let Some(failed) = answer.get("Failed").and_then(Value::as_array) else {
            return;
        };
        for entry in failed {
            let Some(position) = entry
                .get("Id")
                .and_then(Value::as_str)
                .and_then(|id| id.parse::<usize>().ok())
                .filter(|p| request.positions.contains(p))
            else {
                continue;
            };
            let text = |key: &str| entry.get(key).and_then(Value::as_str).unwrap_or_default();
            let sender_fault = entry.get("SenderFault").and_then(Value::as_bool) != Some(false);
            if sender_fault {
                outcome.reject(
                    position,
                    format!("SQS refused an event: {}: {}", text("Code"), text("Message")),
                );
            } else {
                outcome.retry_all(std::iter::once(position), None);
            }
        }
    }
}

impl Backend for Sqs {
    fn send(&mut self, batch: &Batch) -> Result<(), DeliveryError> {
        let (requests, too_large) = pack(batch, self.fifo, &mut self.roots);
        let mut outcome = Outcome::default();
        for (position, reason) in too_large {
            outcome.reject(position, reason);
        }
        for (k, request) in requests.iter().enumerate() {
            if !self.send_request(request, &mut outcome) {
                // SQS is unreachable or throttling: what is left waits for the retry.
                let rest = requests[k + 1..].iter().flat_map(|r| r.positions.iter().copied());
                outcome.retry_all(rest, None);
                break;
            }
        }
        outcome.into_result(batch.len())
    }
}
