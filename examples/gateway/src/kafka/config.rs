//! `ingest.kafka`: the topic the gateway consumes beside its HTTP ingest, as a member of a
//! consumer group. Every error names its JSON path (`ingest.kafka.<key>`).

use serde::Deserialize;
use serde_json::Value;
use wafermon::config::KafkaConnection;
use wafermon_hostkit::BodyFormat;

use crate::config::{problem, ConfigError};

/// Messages stored in one transaction at most, unless `max_batch` says otherwise.
const DEFAULT_MAX_BATCH: usize = 5_000;
/// How long a batch waits for more messages once it has one (milliseconds).
const DEFAULT_BATCH_WAIT_MS: u64 = 100;

#[derive(Debug, Clone)]
pub struct KafkaIngest {
    /// Brokers, topic, SASL and TLS: the same keys, checked the same way, as the core's
    /// `kafka` writer.
    pub connection: KafkaConnection,
    /// The consumer group every gateway storing this topic shares.
    pub group: String,
    /// Each message's value: one event (or an array of events) as JSON or MessagePack.
    pub format: BodyFormat,
    pub client_id: String,
    pub max_batch: usize,
    pub batch_wait: std::time::Duration,
    /// Feed the live view (`/v1/stream`) from a group of this gateway's own.
    pub live: bool,
    /// How long the group waits for a silent member (a killed gateway) before handing its
    /// partitions to the others; None: librdkafka's 45 s.
    pub session_timeout_ms: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIngest {
    kafka: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKafka {
    group: String,
    #[serde(default = "json")]
    format: String,
    client_id: Option<String>,
    max_batch: Option<usize>,
    batch_wait_ms: Option<u64>,
    #[serde(default = "yes")]
    live: bool,
    session_timeout_ms: Option<u32>,
}

fn json() -> String {
    "json".into()
}

fn yes() -> bool {
    true
}

/// The `ingest` section: None when absent or without `kafka`.
pub fn parse(ingest: &Value, errors: &mut Vec<ConfigError>) -> Option<KafkaIngest> {
    let raw = match wafermon::config::from_value_at::<RawIngest>(ingest.clone(), "ingest") {
        Ok(raw) => raw.kafka?,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    let at = "ingest.kafka";
    let mut raw = raw;
    let connection = match KafkaConnection::take(&mut raw, at) {
        Ok(connection) => connection,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    let raw = match wafermon::config::from_value_at::<RawKafka>(raw, at) {
        Ok(raw) => raw,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    let before = errors.len();
    if raw.group.trim().is_empty() || raw.group.len() > 249 {
        errors.push(problem(format!("{at}.group"), "must be 1-249 characters"));
    }
    let format = match raw.format.as_str() {
        "json" => BodyFormat::Json,
        "msgpack" => BodyFormat::MsgPack,
        other => {
            errors.push(problem(
                format!("{at}.format"),
                format!("'{other}' is not json or msgpack"),
            ));
            BodyFormat::Json
        }
    };
    if raw
        .client_id
        .as_deref()
        .is_some_and(|c| c.trim().is_empty())
    {
        errors.push(problem(format!("{at}.client_id"), "must not be blank"));
    }
    let max_batch = raw.max_batch.unwrap_or(DEFAULT_MAX_BATCH);
    if !(1..=100_000).contains(&max_batch) {
        errors.push(problem(format!("{at}.max_batch"), "must be 1 to 100000"));
    }
    let wait_ms = raw.batch_wait_ms.unwrap_or(DEFAULT_BATCH_WAIT_MS);
    if wait_ms > 60_000 {
        errors.push(problem(
            format!("{at}.batch_wait_ms"),
            "must be at most 60000",
        ));
    }
    // The broker's default group.min/max.session.timeout.ms.
    if raw
        .session_timeout_ms
        .is_some_and(|ms| !(6_000..=1_800_000).contains(&ms))
    {
        errors.push(problem(
            format!("{at}.session_timeout_ms"),
            "must be 6000 to 1800000 (the brokers' default bounds)",
        ));
    }
    if errors.len() > before {
        return None;
    }
    Some(KafkaIngest {
        connection,
        group: raw.group,
        format,
        client_id: raw
            .client_id
            .unwrap_or_else(|| "wafermon-gateway".to_string()),
        max_batch,
        batch_wait: std::time::Duration::from_millis(wait_ms),
        live: raw.live,
        session_timeout_ms: raw.session_timeout_ms,
    })
}
