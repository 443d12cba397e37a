//! `ingest.kafka`: the topic the gateway consumes beside its HTTP ingest, as a member of a
//! consumer group. Every error names its JSON path (`ingest.kafka.<key>`).

use serde::Deserialize;
use serde_json::Value;
use wafermon::config::Secret;
use wafermon_hostkit::BodyFormat;

use crate::config::{problem, ConfigError};

/// Messages stored in one transaction at most, unless `max_batch` says otherwise.
const DEFAULT_MAX_BATCH: usize = 1_000;
/// How long a batch waits for more messages once it has one (milliseconds).
const DEFAULT_BATCH_WAIT_MS: u64 = 100;

#[derive(Debug, Clone)]
pub struct KafkaIngest {
    /// `host:port` of each bootstrap broker.
    pub brokers: Vec<String>,
    pub topic: String,
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
    /// As the `kafka` writer's `sasl` and `tls` keys.
    pub sasl: Option<Sasl>,
    pub tls: Option<Tls>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sasl {
    #[serde(default = "plain")]
    pub mechanism: String,
    pub username: String,
    pub password: Secret,
}

/// PEM files; none given: the system's CAs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub key_password: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawTls {
    On(bool),
    Files(Tls),
}

const MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

fn plain() -> String {
    "PLAIN".into()
}

impl KafkaIngest {
    /// `host:port,host:port`, as librdkafka takes them.
    pub fn bootstrap(&self) -> String {
        self.brokers.join(",")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIngest {
    kafka: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKafka {
    brokers: Brokers,
    topic: String,
    group: String,
    #[serde(default = "json")]
    format: String,
    client_id: Option<String>,
    max_batch: Option<usize>,
    batch_wait_ms: Option<u64>,
    #[serde(default = "yes")]
    live: bool,
    session_timeout_ms: Option<u32>,
    sasl: Option<Sasl>,
    tls: Option<RawTls>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Brokers {
    List(Vec<String>),
    Text(String),
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
    let raw = match wafermon::config::from_value_at::<RawKafka>(raw, at) {
        Ok(raw) => raw,
        Err(e) => {
            errors.push(e);
            return None;
        }
    };
    let before = errors.len();
    let brokers: Vec<String> = match raw.brokers {
        Brokers::List(list) => list,
        Brokers::Text(text) => text.split(',').map(|b| b.trim().to_string()).collect(),
    };
    if brokers.is_empty() {
        errors.push(problem(
            format!("{at}.brokers"),
            "must name at least one broker",
        ));
    }
    for broker in &brokers {
        let port_ok = broker
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            errors.push(problem(
                format!("{at}.brokers"),
                format!("'{broker}' is not host:port"),
            ));
        }
    }
    // Kafka's own rule for topic names.
    let topic_ok = !raw.topic.is_empty()
        && raw.topic.len() <= 249
        && raw.topic != "."
        && raw.topic != ".."
        && raw
            .topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !topic_ok {
        errors.push(problem(
            format!("{at}.topic"),
            format!(
                "'{}' is not a Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)",
                raw.topic
            ),
        ));
    }
    if raw.group.trim().is_empty() || raw.group.len() > 249 {
        errors.push(problem(format!("{at}.group"), "must be 1-249 characters"));
    }
    if let Some(sasl) = &raw.sasl {
        if !MECHANISMS.contains(&sasl.mechanism.as_str()) {
            errors.push(problem(
                format!("{at}.sasl.mechanism"),
                format!(
                    "'{}' is not one of {}",
                    sasl.mechanism,
                    MECHANISMS.join(", ")
                ),
            ));
        }
        if sasl.username.trim().is_empty() {
            errors.push(problem(format!("{at}.sasl.username"), "must not be blank"));
        }
    }
    let tls = match raw.tls {
        None | Some(RawTls::On(false)) => None,
        Some(RawTls::On(true)) => Some(Tls::default()),
        Some(RawTls::Files(files)) => {
            if files.cert_file.is_some() != files.key_file.is_some() {
                let missing = if files.cert_file.is_some() {
                    "key_file"
                } else {
                    "cert_file"
                };
                errors.push(problem(
                    format!("{at}.tls.{missing}"),
                    "is required: cert_file and key_file go together",
                ));
            }
            Some(files)
        }
    };
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
        brokers,
        topic: raw.topic,
        group: raw.group,
        format,
        client_id: raw
            .client_id
            .unwrap_or_else(|| "wafermon-gateway".to_string()),
        max_batch,
        batch_wait: std::time::Duration::from_millis(wait_ms),
        live: raw.live,
        session_timeout_ms: raw.session_timeout_ms,
        sasl: raw.sasl,
        tls,
    })
}
