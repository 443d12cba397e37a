//! Keys of the `sqs` backend (Amazon SQS, standard or FIFO queues).

use serde::Deserialize;
use serde_json::Value;

use crate::backends::aws::AwsConfig;
use crate::config::from_value_at;
use crate::config::net::{base_url, default_retries, default_timeout, net, NetConfig};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct SqsConfig {
    /// `endpoint` defaults to this URL's scheme and host.
    pub aws: AwsConfig,
    pub queue_url: String,
    pub net: NetConfig,
}

impl SqsConfig {
    /// A FIFO queue's name ends in `.fifo`: its messages need a group and a deduplication id.
    pub fn is_fifo(&self) -> bool {
        self.queue_url.ends_with(".fifo")
    }

    /// Where the API calls go: the `endpoint` key, else the queue URL's origin.
    pub fn api_endpoint(&self) -> String {
        if let Some(endpoint) = &self.aws.endpoint {
            return endpoint.clone();
        }
        let after_scheme = self.queue_url.find("://").map_or(0, |i| i + 3);
        match self.queue_url[after_scheme..].find('/') {
            Some(slash) => self.queue_url[..after_scheme + slash].to_string(),
            None => self.queue_url.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSqs {
    queue_url: String,
    #[serde(default = "default_timeout")]
    timeout: f64,
    #[serde(default = "default_retries")]
    retries: u32,
}

pub(crate) fn parse(mut value: Value, path: &str) -> Result<SqsConfig> {
    let aws = AwsConfig::take(&mut value, path)?;
    let raw: RawSqs = from_value_at(value, path)?;
    let queue_url = base_url(&raw.queue_url, &format!("{path}.queue_url"))?;
    let after_scheme = queue_url.find("://").map_or(0, |i| i + 3);
    if !queue_url[after_scheme..].contains('/') {
        return Err(Error::config(
            format!("{path}.queue_url"),
            format!("'{queue_url}' names no queue (expected https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"),
        ));
    }
    Ok(SqsConfig {
        aws,
        queue_url,
        net: net(raw.timeout, raw.retries, path)?,
    })
}

impl crate::backends::registry::ServiceConfig for SqsConfig {
    fn inline_retries(&self) -> u32 {
        self.net.retries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(value: Value) -> Result<SqsConfig> {
        parse(value, "direct_backends[0]")
    }

    #[test]
    fn the_endpoint_defaults_to_the_queue_urls_origin() {
        let c = parsed(json!({"queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/events"})).unwrap();
        assert_eq!(c.api_endpoint(), "https://sqs.eu-west-1.amazonaws.com");
        assert!(!c.is_fifo());
        let c = parsed(json!({"queue_url": "http://127.0.0.1:5000/123456789012/events.fifo",
                              "endpoint": "http://127.0.0.1:5001"}))
        .unwrap();
        assert_eq!(c.api_endpoint(), "http://127.0.0.1:5001");
        assert!(c.is_fifo());
    }

    #[test]
    fn a_queue_url_without_a_queue_names_the_key() {
        let e = parsed(json!({"queue_url": "https://sqs.eu-west-1.amazonaws.com"})).unwrap_err();
        assert_eq!(e.path(), Some("direct_backends[0].queue_url"));
        let e = parsed(json!({"queue_url": "sqs://events"})).unwrap_err();
        assert_eq!(e.path(), Some("direct_backends[0].queue_url"));
        let e = parsed(json!({})).unwrap_err();
        assert!(e.message().contains("queue_url"), "{e}");
    }
}
