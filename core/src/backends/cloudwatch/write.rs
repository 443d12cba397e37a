//! CloudWatch backend: every event as a JSON line in CloudWatch Logs (PutLogEvents), and the
//! endings of jobs as CloudWatch Metrics (PutMetricData) when a namespace is set.
//!
//! A batch can need several requests (limits, two services). What one request delivered is
//! remembered by event id for a while, so a retry of the batch sends only what is still
//! missing instead of duplicating log lines; per-request results come back as `Partial`.

use serde_json::Value;
use uuid::Uuid;

use super::{logs, metrics};
use crate::backends::aws::{AwsClient, AwsError, Outcome};
use crate::backends::recent::RecentIds;
use crate::backends::{Backend, Batch, DeliveryError};
use crate::config::{AppConfig, CloudWatchConfig};
use crate::error::{Error, Result};
use crate::event::Timestamp;

const LOGS_TARGET_PREFIX: &str = "Logs_20140328";

pub struct CloudWatch {
    logs: AwsClient,
    metrics: Option<(AwsClient, String)>,
    group: String,
    stream: String,
    create: bool,
    logged: RecentIds,
    measured: RecentIds,
}

impl CloudWatch {
    pub fn new(config: CloudWatchConfig, app: &AppConfig) -> Result<CloudWatch> {
        logs::check_group(&config.log_group).map_err(|m| Error::config("log_group", m))?;
        let logs = AwsClient::new(&config.aws, "logs", config.net.timeout)?;
        let metrics = match config.namespace {
            Some(ns) => Some((
                AwsClient::new(&config.aws, "monitoring", config.net.timeout)?,
                ns,
            )),
            None => None,
        };
        let stream = match config.log_stream {
            Some(s) if s.contains(':') || s.contains('*') => {
                return Err(Error::config(
                    "log_stream",
                    format!("'{s}' holds ':' or '*', which CloudWatch Logs refuses"),
                ))
            }
            Some(s) => s,
            None => logs::stream_name(&app.name, &app.instance_id),
        };
        Ok(CloudWatch {
            logs,
            metrics,
            group: config.log_group,
            stream,
            create: config.create,
            logged: RecentIds::default(),
            measured: RecentIds::default(),
        })
    }

    fn call_logs(&self, action: &str, body: &Value) -> std::result::Result<Value, AwsError> {
        self.logs
            .call_json("1.1", &format!("{LOGS_TARGET_PREFIX}.{action}"), body)
    }

    /// PutLogEvents; when the group or stream is missing and `create` allows, make them and
    /// try once more.
    fn put_logs(&self, lines: &[logs::Line]) -> std::result::Result<Value, AwsError> {
        let body = logs::put_body(&self.group, &self.stream, lines);
        match self.call_logs("PutLogEvents", &body) {
            Err(e) if self.create && e.is("ResourceNotFoundException") => {
                self.create_destination()?;
                self.call_logs("PutLogEvents", &body)
            }
            other => other,
        }
    }

    fn create_destination(&self) -> std::result::Result<(), AwsError> {
        let exists_ok = |r: std::result::Result<Value, AwsError>| match r {
            Err(e) if e.is("ResourceAlreadyExistsException") => Ok(()),
            other => other.map(|_| ()),
        };
        exists_ok(self.call_logs(
            "CreateLogGroup",
            &serde_json::json!({"logGroupName": self.group}),
        ))?;
        exists_ok(self.call_logs(
            "CreateLogStream",
            &serde_json::json!({"logGroupName": self.group, "logStreamName": self.stream}),
        ))
    }

    fn send_logs(&mut self, lines: Vec<logs::Line>, outcome: &mut Outcome) {
        let requests = logs::requests(lines);
        for (k, request) in requests.iter().enumerate() {
            match self.put_logs(request) {
                Ok(answer) => {
                    let refused = logs::rejected(&answer, request.len());
                    for (i, line) in request.iter().enumerate() {
                        match refused.iter().find(|(r, _)| *r == i) {
                            Some((_, reason)) => outcome.reject(
                                line.position,
                                format!("CloudWatch Logs refused an event: {reason}"),
                            ),
                            None => self.logged.insert(line.id),
                        }
                    }
                }
                Err(e) if e.transient => {
                    outcome.retry_all(requests[k..].iter().flatten().map(|l| l.position), e);
                    return;
                }
                Err(e) => {
                    let message = format!("CloudWatch Logs: {e}");
                    for line in request {
                        outcome.reject(line.position, message.clone());
                    }
                }
            }
        }
    }

    fn send_metrics(&mut self, wanted: Vec<(usize, Uuid, Vec<Value>)>, outcome: &mut Outcome) {
        let Some((client, namespace)) = &self.metrics else {
            return;
        };
        // An event's data stay in one request, so each event is sent or not as a whole.
        let mut requests: Vec<Vec<(usize, Uuid, Vec<Value>)>> = Vec::new();
        let mut count = 0;
        for item in wanted {
            if requests.is_empty() || count + item.2.len() > metrics::MAX_DATA {
                requests.push(Vec::new());
                count = 0;
            }
            count += item.2.len();
            if let Some(last) = requests.last_mut() {
                last.push(item);
            }
        }
        for (k, request) in requests.iter().enumerate() {
            let data: Vec<Value> = request
                .iter()
                .flat_map(|(_, _, d)| d.iter().cloned())
                .collect();
            match client.call_json("1.0", metrics::TARGET, &metrics::put_body(namespace, &data)) {
                Ok(_) => {
                    for (_, id, _) in request {
                        self.measured.insert(*id);
                    }
                }
                Err(e) if e.transient => {
                    outcome.retry_all(requests[k..].iter().flatten().map(|(p, _, _)| *p), e);
                    return;
                }
                Err(e) => {
                    let message = format!("CloudWatch Metrics: {e}");
                    for (position, _, _) in request {
                        outcome.reject(*position, message.clone());
                    }
                }
            }
        }
    }
}

impl Backend for CloudWatch {
    fn send(&mut self, batch: &Batch) -> std::result::Result<(), DeliveryError> {
        let now_ms = Timestamp::now().unix_millis();
        let mut outcome = Outcome::default();
        let mut lines = Vec::new();
        let mut wanted = Vec::new();
        for (position, event) in batch.iter().enumerate() {
            if !self.logged.contains(&event.id) {
                match serde_json::to_string(&event) {
                    Ok(message) if message.len() + logs::EVENT_OVERHEAD_BYTES > logs::MAX_EVENT_BYTES => {
                        outcome.reject(
                            position,
                            format!(
                                "event {} is {} bytes as JSON, over CloudWatch Logs' 256 KiB per event",
                                event.id,
                                message.len()
                            ),
                        )
                    }
                    Ok(message) => lines.push(logs::Line {
                        position,
                        id: event.id,
                        millis: event.time.unix_millis(),
                        message,
                    }),
                    Err(e) => outcome.reject(position, format!("cannot encode event {}: {e}", event.id)),
                }
            }
            if self.metrics.is_some() && !self.measured.contains(&event.id) {
                let data = metrics::data_of(&event);
                if data.is_empty() {
                    // Not an ending: nothing to measure.
                } else if metrics::in_window(event.time.unix_millis(), now_ms) {
                    wanted.push((position, event.id, data));
                } else {
                    outcome.reject(
                        position,
                        format!(
                            "event {} is outside the time window CloudWatch Metrics accepts \
                             (two weeks back, two hours ahead)",
                            event.id
                        ),
                    );
                }
            }
        }
        self.send_logs(lines, &mut outcome);
        if outcome.interrupted() {
            // The service is unreachable or busy: the metrics wait for the same retry.
            outcome.retry_all(wanted.iter().map(|(p, _, _)| *p), None);
        } else {
            self.send_metrics(wanted, &mut outcome);
        }
        outcome.into_result(batch.len())
    }
}
