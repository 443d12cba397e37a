//! Keys of the `kafka` backend: where the brokers are, the topic, and how the producer
//! talks to them (compression, acknowledgements, SASL, TLS).

use serde::Deserialize;
use serde_json::Value;

use crate::backends::http::WireFormat;
use crate::config::from_value_at;
use crate::config::net::{default_retries, default_timeout, net, non_empty, NetConfig};
use crate::config::Secret;
use crate::error::{Error, Result};

/// The brokers, the topic and how to reach them: the keys a producer (this backend) and a
/// consumer (the gateway's `ingest.kafka`) share.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaConnection {
    /// `host:port` of each bootstrap broker.
    pub brokers: Vec<String>,
    pub topic: String,
    pub sasl: Option<Sasl>,
    pub tls: Option<Tls>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KafkaConfig {
    pub connection: KafkaConnection,
    /// None: `wafermon-<app name>`.
    pub client_id: Option<String>,
    pub compression: Compression,
    pub acks: Acks,
    pub format: WireFormat,
    /// How long a batch may wait for the brokers' acknowledgements.
    pub net: NetConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
        }
    }
}

/// Which acknowledgement counts as delivered. `all` (every in-sync replica) keeps the
/// producer idempotent; `leader` gives that up for latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    All,
    Leader,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sasl {
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    pub mechanism: String,
    pub username: String,
    pub password: Secret,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tls {
    /// PEM file of the CA that signed the brokers' certificates; None: the system's CAs.
    pub ca_file: Option<String>,
    /// A client certificate and its key (PEM), for brokers that ask for one.
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub key_password: Option<Secret>,
}

const MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

/// The keys `KafkaConnection::take` takes out of an entry.
const CONNECTION_KEYS: &[&str] = &["brokers", "topic", "sasl", "tls"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnection {
    brokers: Brokers,
    topic: String,
    sasl: Option<RawSasl>,
    tls: Option<RawTls>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKafka {
    client_id: Option<String>,
    #[serde(default = "none")]
    compression: String,
    #[serde(default = "all")]
    acks: String,
    #[serde(default = "json")]
    format: String,
    #[serde(default = "default_timeout")]
    timeout: f64,
    #[serde(default = "default_retries")]
    retries: u32,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Brokers {
    List(Vec<String>),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSasl {
    #[serde(default = "plain")]
    mechanism: String,
    username: String,
    password: Secret,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawTls {
    On(bool),
    Files(TlsFiles),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFiles {
    ca_file: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    key_password: Option<Secret>,
}

fn none() -> String {
    "none".into()
}
fn all() -> String {
    "all".into()
}
fn json() -> String {
    "json".into()
}
fn plain() -> String {
    "PLAIN".into()
}

impl KafkaConnection {
    /// Take the connection keys out of an entry (`value`, at `path`) and check them; the
    /// rest is the entry's own keys.
    pub fn take(value: &mut Value, path: &str) -> Result<KafkaConnection> {
        let Some(entry) = value.as_object_mut() else {
            return Err(Error::config(
                path,
                "must be an object with brokers and topic",
            ));
        };
        let mut keys = serde_json::Map::new();
        for key in CONNECTION_KEYS {
            if let Some(v) = entry.remove(*key) {
                keys.insert((*key).to_string(), v);
            }
        }
        let raw: RawConnection = from_value_at(Value::Object(keys), path)?;
        let key = |k: &str| format!("{path}.{k}");
        Ok(KafkaConnection {
            brokers: brokers(raw.brokers, &key("brokers"))?,
            topic: topic(raw.topic, &key("topic"))?,
            sasl: raw.sasl.map(|s| sasl(s, &key("sasl"))).transpose()?,
            tls: match raw.tls {
                None | Some(RawTls::On(false)) => None,
                Some(RawTls::On(true)) => Some(Tls::default()),
                Some(RawTls::Files(files)) => Some(tls(files, &key("tls"))?),
            },
        })
    }

    /// The brokers in librdkafka's form.
    pub fn bootstrap(&self) -> String {
        self.brokers.join(",")
    }

    /// librdkafka's settings for reaching the brokers: the bootstrap servers, the security
    /// protocol, SASL and TLS.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let protocol = match (&self.sasl, &self.tls) {
            (None, None) => "plaintext",
            (Some(_), None) => "sasl_plaintext",
            (None, Some(_)) => "ssl",
            (Some(_), Some(_)) => "sasl_ssl",
        };
        let mut out = vec![
            ("bootstrap.servers", self.bootstrap()),
            ("security.protocol", protocol.to_string()),
        ];
        if let Some(sasl) = &self.sasl {
            out.push(("sasl.mechanism", sasl.mechanism.clone()));
            out.push(("sasl.username", sasl.username.clone()));
            out.push(("sasl.password", sasl.password.expose().to_string()));
        }
        if let Some(tls) = &self.tls {
            let files = [
                ("ssl.ca.location", &tls.ca_file),
                ("ssl.certificate.location", &tls.cert_file),
                ("ssl.key.location", &tls.key_file),
            ];
            for (key, value) in files {
                if let Some(value) = value {
                    out.push((key, value.clone()));
                }
            }
            if let Some(password) = &tls.key_password {
                out.push(("ssl.key.password", password.expose().to_string()));
            }
        }
        out
    }
}

pub(crate) fn parse(mut value: Value, path: &str) -> Result<KafkaConfig> {
    let connection = KafkaConnection::take(&mut value, path)?;
    let raw: RawKafka = from_value_at(value, path)?;
    let key = |k: &str| format!("{path}.{k}");
    Ok(KafkaConfig {
        connection,
        client_id: raw
            .client_id
            .map(|c| non_empty(c, &key("client_id")))
            .transpose()?,
        compression: match raw.compression.as_str() {
            "none" => Compression::None,
            "gzip" => Compression::Gzip,
            "snappy" => Compression::Snappy,
            "lz4" => Compression::Lz4,
            other => {
                return Err(not_one_of(
                    &key("compression"),
                    other,
                    "none, gzip, snappy, lz4",
                ))
            }
        },
        acks: match raw.acks.as_str() {
            "all" => Acks::All,
            "leader" => Acks::Leader,
            other => return Err(not_one_of(&key("acks"), other, "all, leader")),
        },
        format: match raw.format.as_str() {
            "json" => WireFormat::Json,
            "msgpack" => WireFormat::MsgPack,
            other => return Err(not_one_of(&key("format"), other, "json, msgpack")),
        },
        net: net(raw.timeout, raw.retries, path)?,
    })
}

fn not_one_of(path: &str, value: &str, allowed: &str) -> Error {
    Error::config(path, format!("'{value}' is not one of {allowed}"))
}

fn brokers(raw: Brokers, path: &str) -> Result<Vec<String>> {
    let list: Vec<String> = match raw {
        Brokers::List(list) => list,
        Brokers::Text(text) => text.split(',').map(str::to_string).collect(),
    };
    let list: Vec<String> = list.iter().map(|b| b.trim().to_string()).collect();
    if list.is_empty() || list.iter().any(String::is_empty) {
        return Err(Error::config(path, "must name at least one broker, each as host:port"));
    }
    for broker in &list {
        let port_ok = broker
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
        if !port_ok {
            return Err(Error::config(path, format!("'{broker}' is not host:port")));
        }
    }
    Ok(list)
}

/// Kafka's own rule for topic names.
fn topic(name: String, path: &str) -> Result<String> {
    let legal = !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !legal {
        return Err(Error::config(
            path,
            format!("'{name}' is not a Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)"),
        ));
    }
    Ok(name)
}

fn sasl(raw: RawSasl, path: &str) -> Result<Sasl> {
    if !MECHANISMS.contains(&raw.mechanism.as_str()) {
        return Err(not_one_of(
            &format!("{path}.mechanism"),
            &raw.mechanism,
            &MECHANISMS.join(", "),
        ));
    }
    Ok(Sasl {
        mechanism: raw.mechanism,
        username: non_empty(raw.username, &format!("{path}.username"))?,
        password: raw.password,
    })
}

fn tls(files: TlsFiles, path: &str) -> Result<Tls> {
    if files.cert_file.is_some() != files.key_file.is_some() {
        let missing = if files.cert_file.is_some() { "key_file" } else { "cert_file" };
        return Err(Error::config(
            format!("{path}.{missing}"),
            "is required: cert_file and key_file go together",
        ));
    }
    Ok(Tls {
        ca_file: files.ca_file,
        cert_file: files.cert_file,
        key_file: files.key_file,
        key_password: files.key_password,
    })
}

impl crate::backends::registry::ServiceConfig for KafkaConfig {
    fn inline_retries(&self) -> u32 {
        self.net.retries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(value: Value) -> Result<KafkaConfig> {
        parse(value, "direct_backends[0]")
    }

    fn path_of(value: Value) -> String {
        parsed(value).unwrap_err().path().unwrap_or_default().to_string()
    }

    #[test]
    fn defaults_and_every_key() {
        let c = parsed(json!({"brokers": "k1:9092, k2:9093", "topic": "fab.events"})).unwrap();
        assert_eq!(c.connection.brokers, ["k1:9092", "k2:9093"]);
        assert_eq!((c.compression, c.acks, c.format), (Compression::None, Acks::All, WireFormat::Json));
        assert_eq!((c.connection.sasl.is_none(), c.connection.tls.is_none()), (true, true));
        let settings = c.connection.settings();
        assert!(settings.contains(&("security.protocol", "plaintext".to_string())));
        let c = parsed(json!({
            "brokers": ["k1:9092"], "topic": "t", "client_id": "etch", "compression": "lz4",
            "acks": "leader", "format": "msgpack", "timeout": 5, "retries": 1,
            "sasl": {"mechanism": "SCRAM-SHA-512", "username": "u", "password": "p"},
            "tls": {"ca_file": "/etc/ca.pem"}
        }))
        .unwrap();
        assert_eq!(c.client_id.as_deref(), Some("etch"));
        assert_eq!((c.compression, c.acks, c.format), (Compression::Lz4, Acks::Leader, WireFormat::MsgPack));
        let settings = c.connection.settings();
        for (key, value) in [
            ("bootstrap.servers", "k1:9092"),
            ("security.protocol", "sasl_ssl"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.password", "p"),
            ("ssl.ca.location", "/etc/ca.pem"),
        ] {
            assert!(settings.contains(&(key, value.to_string())), "{key}");
        }
        let tls_only = parsed(json!({"brokers": "k:1", "topic": "t", "tls": true})).unwrap();
        assert!(tls_only.connection.settings().contains(&("security.protocol", "ssl".to_string())));
    }

    #[test]
    fn mistakes_name_their_key() {
        let base = |extra: Value| {
            let mut v = json!({"brokers": "k:9092", "topic": "t"});
            v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            v
        };
        assert_eq!(path_of(base(json!({"brokers": "k"}))), "direct_backends[0].brokers");
        assert_eq!(path_of(base(json!({"brokers": []}))), "direct_backends[0].brokers");
        assert_eq!(path_of(base(json!({"topic": "a b"}))), "direct_backends[0].topic");
        assert_eq!(path_of(base(json!({"compression": "zstd"}))), "direct_backends[0].compression");
        assert_eq!(path_of(base(json!({"acks": "0"}))), "direct_backends[0].acks");
        assert_eq!(path_of(base(json!({"format": "xml"}))), "direct_backends[0].format");
        assert_eq!(
            path_of(base(json!({"sasl": {"mechanism": "GSSAPI", "username": "u", "password": "p"}}))),
            "direct_backends[0].sasl.mechanism"
        );
        assert_eq!(
            path_of(base(json!({"tls": {"cert_file": "c.pem"}}))),
            "direct_backends[0].tls.key_file"
        );
        assert!(path_of(base(json!({"partition": 1}))).starts_with("direct_backends[0]"));
    }
}
