//! Keys of the `rabbitmq` backend: the broker's URL (its password kept secret), the exchange,
//! the routing key as a template of the event's site, app and kind, whether to declare the
//! exchange, and the message format.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::backends::http::WireFormat;
use crate::config::from_value_at;
use crate::config::net::{default_retries, default_timeout, net, NetConfig};
use crate::config::{Secret, REDACTED};
use crate::error::{Error, Result};

/// AMQP's limit on exchange names and routing keys (a short string).
pub const MAX_NAME: usize = 255;

#[derive(Debug, Clone, PartialEq)]
pub struct RabbitMqConfig {
    pub url: BrokerUrl,
    /// "" is the default exchange (routing keys name queues).
    pub exchange: String,
    pub routing_key: RoutingKey,
    /// Declare the exchange (durable, `topic`) before the first publish.
    pub declare: bool,
    pub format: WireFormat,
    /// How long a batch may wait for the connection and the broker's confirms.
    pub net: NetConfig,
}

/// An `amqp://` or `amqps://` URL. It may carry a password, so it prints with the password
/// replaced by `***`; `expose` gives the URL to connect with.
#[derive(Clone, PartialEq)]
pub struct BrokerUrl {
    url: Secret,
    shown: String,
}

impl BrokerUrl {
    pub fn expose(&self) -> &str {
        self.url.expose()
    }

    /// Whether the URL asks for TLS (`amqps://`).
    pub fn is_tls(&self) -> bool {
        self.url.expose().starts_with("amqps://")
    }

    /// The URL without its password, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// `text` (a client library's error) with this URL and its password taken out, in case
    /// it quotes them.
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.replace(self.url.expose(), &self.shown);
        if let Some(password) = password(self.url.expose()).filter(|p| !p.is_empty()) {
            text = text.replace(password, REDACTED);
        }
        text
    }
}

impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// One piece of a routing key template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Site,
    App,
    Kind,
}

/// A routing key with `{site}`, `{app}` and `{kind}` filled in per event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingKey {
    pieces: Vec<Piece>,
}

impl RoutingKey {
    /// The key of an event from these values, appended to `out`.
    pub fn fill(&self, site: &str, app: &str, kind: &str, out: &mut String) {
        for piece in &self.pieces {
            out.push_str(match piece {
                Piece::Text(text) => text,
                Piece::Site => site,
                Piece::App => app,
                Piece::Kind => kind,
            });
        }
    }
}

const DEFAULT_ROUTING_KEY: &str = "wafermon.{site}.{app}.{kind}";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRabbitMq {
    url: Secret,
    exchange: String,
    #[serde(default = "default_routing_key")]
    routing_key: String,
    #[serde(default)]
    declare: bool,
    #[serde(default = "json")]
    format: String,
    #[serde(default = "default_timeout")]
    timeout: f64,
    #[serde(default = "default_retries")]
    retries: u32,
}

fn default_routing_key() -> String {
    DEFAULT_ROUTING_KEY.into()
}
fn json() -> String {
    "json".into()
}

pub(crate) fn parse(value: Value, path: &str) -> Result<RabbitMqConfig> {
    let raw: RawRabbitMq = from_value_at(value, path)?;
    let key = |k: &str| format!("{path}.{k}");
    if raw.exchange.len() > MAX_NAME {
        return Err(Error::config(
            key("exchange"),
            format!("is longer than {MAX_NAME} bytes"),
        ));
    }
    if raw.declare && raw.exchange.is_empty() {
        return Err(Error::config(
            key("declare"),
            "the default exchange (\"\") cannot be declared: name an exchange or set declare to false",
        ));
    }
    Ok(RabbitMqConfig {
        url: broker_url(raw.url, &key("url"))?,
        exchange: raw.exchange,
        routing_key: routing_key(&raw.routing_key, &key("routing_key"))?,
        declare: raw.declare,
        format: match raw.format.as_str() {
            "json" => WireFormat::Json,
            "msgpack" => WireFormat::MsgPack,
            other => {
                return Err(Error::config(
                    key("format"),
                    format!("'{other}' is not one of json, msgpack"),
                ))
            }
        },
        net: net(raw.timeout, raw.retries, path)?,
    })
}

/// Checks the scheme and host; errors show the URL without its password.
fn broker_url(url: Secret, path: &str) -> Result<BrokerUrl> {
    let text = url.expose();
    let shown = without_password(text);
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(Error::config(path, format!("'{shown}' is not an amqp:// or amqps:// URL")));
    };
    if scheme != "amqp" && scheme != "amqps" {
        return Err(Error::config(path, format!("'{shown}' is not an amqp:// or amqps:// URL")));
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if host.is_empty() || host.starts_with(':') {
        return Err(Error::config(path, format!("'{shown}' names no host")));
    }
    Ok(BrokerUrl { url, shown })
}

/// Where the password of the URL's user info is (`user:password@`), if it has one.
fn password_span(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let at = start + url[start..end].rfind('@')?;
    let colon = start + url[start..at].find(':')?;
    Some((colon + 1, at))
}

fn password(url: &str) -> Option<&str> {
    password_span(url).map(|(from, to)| &url[from..to])
}

/// The URL with the password of its user info (if any) replaced by `***`.
fn without_password(url: &str) -> String {
    match password_span(url) {
        Some((from, to)) => format!("{}{REDACTED}{}", &url[..from], &url[to..]),
        None => url.to_string(),
    }
}

fn routing_key(template: &str, path: &str) -> Result<RoutingKey> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_string()));
        }
        let Some(close) = rest[open..].find('}').map(|i| open + i) else {
            return Err(Error::config(path, format!("'{template}' has a '{{' without its '}}'")));
        };
        pieces.push(match &rest[open + 1..close] {
            "site" => Piece::Site,
            "app" => Piece::App,
            "kind" => Piece::Kind,
            other => {
                return Err(Error::config(
                    path,
                    format!("'{{{other}}}' is not one of {{site}}, {{app}}, {{kind}}"),
                ))
            }
        });
        rest = &rest[close + 1..];
    }
    if rest.contains('}') {
        return Err(Error::config(path, format!("'{template}' has a '}}' without its '{{'")));
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    let fixed: usize = pieces
        .iter()
        .map(|p| if let Piece::Text(t) = p { t.len() } else { 0 })
        .sum();
    if fixed > MAX_NAME {
        return Err(Error::config(path, format!("is longer than {MAX_NAME} bytes")));
    }
    Ok(RoutingKey { pieces })
}

impl crate::backends::registry::ServiceConfig for RabbitMqConfig {
    fn inline_retries(&self) -> u32 {
        self.net.retries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(value: Value) -> Result<RabbitMqConfig> {
        parse(value, "direct_backends[0]")
    }

    fn base(extra: Value) -> Value {
        let mut v = json!({"url": "amqp://fab:s3cret@mq.fab:5672/%2f", "exchange": "events"});
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    }

    fn path_of(value: Value) -> String {
        parsed(value).unwrap_err().path().unwrap_or_default().to_string()
    }

    fn key(c: &RabbitMqConfig) -> String {
        let mut out = String::new();
        c.routing_key.fill("F1", "etch", "started", &mut out);
        out
    }

    #[test]
    fn defaults_and_every_key() {
        let c = parsed(base(json!({}))).unwrap();
        assert_eq!(c.url.expose(), "amqp://fab:s3cret@mq.fab:5672/%2f");
        assert_eq!(key(&c), "wafermon.F1.etch.started");
        assert_eq!((c.declare, c.format), (false, WireFormat::Json));
        assert!(!c.url.is_tls());
        let c = parsed(base(json!({
            "url": "amqps://mq.fab", "exchange": "", "routing_key": "{kind}",
            "format": "msgpack", "timeout": 2, "retries": 0
        })))
        .unwrap();
        assert_eq!((key(&c).as_str(), c.format, c.net.retries), ("started", WireFormat::MsgPack, 0));
        assert!(c.url.is_tls());
        let c = parsed(base(json!({"routing_key": "fab/{site}-{app}:x", "declare": true}))).unwrap();
        assert_eq!((key(&c).as_str(), c.declare), ("fab/F1-etch:x", true));
    }

    #[test]
    fn mistakes_name_their_key() {
        assert_eq!(path_of(base(json!({"url": "http://mq.fab"}))), "direct_backends[0].url");
        assert_eq!(path_of(base(json!({"url": "amqp://u:p@/x"}))), "direct_backends[0].url");
        assert_eq!(path_of(base(json!({"routing_key": "{lot}"}))), "direct_backends[0].routing_key");
        assert_eq!(path_of(base(json!({"routing_key": "a.{site"}))), "direct_backends[0].routing_key");
        assert_eq!(path_of(base(json!({"routing_key": "a}"}))), "direct_backends[0].routing_key");
        assert_eq!(path_of(base(json!({"format": "xml"}))), "direct_backends[0].format");
        assert_eq!(path_of(base(json!({"declare": "yes"}))), "direct_backends[0].declare");
        assert_eq!(path_of(base(json!({"exchange": "", "declare": true}))), "direct_backends[0].declare");
        assert_eq!(path_of(base(json!({"exchange": "x".repeat(256)}))), "direct_backends[0].exchange");
        assert_eq!(path_of(base(json!({"timeout": -1}))), "direct_backends[0].timeout");
        assert!(path_of(base(json!({"queue": "q"}))).starts_with("direct_backends[0]"));
        let e = parsed(json!({"url": "amqp://h"})).unwrap_err();
        assert!(e.message().contains("exchange"), "{e}");
    }

    #[test]
    fn the_password_shows_nowhere() {
        let c = parsed(base(json!({}))).unwrap();
        assert_eq!(c.url.shown(), "amqp://fab:***@mq.fab:5672/%2f");
        assert!(!format!("{c:?}").contains("s3cret"));
        let e = parsed(base(json!({"url": "amqpx://fab:s3cret@mq.fab"}))).unwrap_err();
        assert!(!e.to_string().contains("s3cret") && e.to_string().contains("fab:***@"), "{e}");
        assert_eq!(without_password("amqp://fab@mq.fab/v?x=a@b"), "amqp://fab@mq.fab/v?x=a@b");
        assert_eq!(without_password("amqp://mq.fab"), "amqp://mq.fab");
        let said = "cannot parse amqp://fab:s3cret@mq.fab:5672/%2f (s3cret)";
        assert_eq!(c.url.redact(said), "cannot parse amqp://fab:***@mq.fab:5672/%2f (***)");
    }
}
