//! The S3 client (object_store's `AmazonS3`) built from the config and the standard AWS
//! environment variables, and the reading of its errors as transient or permanent. The
//! gateway's reader builds its client here too, so writer and reader resolve endpoint,
//! region and credentials the same way.

use std::sync::Arc;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, AwsCredential};
use object_store::{ClientOptions, RetryConfig, StaticCredentialProvider};

use super::super::DeliveryError;
use crate::config::S3Config;
use crate::error::{Error, Result};

/// A client for the configured bucket. Keys of the config win over `AWS_*` variables;
/// without keys in either, object_store looks for container or instance credentials.
/// object_store's own retries are off: the lane retries, with backoff and the spool.
pub fn build_store(config: &S3Config) -> Result<AmazonS3> {
    let env = AmazonS3Builder::from_env();
    let env_value = |key: AmazonS3ConfigKey| env.get_config_value(&key).filter(|v| !v.is_empty());
    let endpoint = config
        .aws
        .endpoint
        .clone()
        .or_else(|| env_value(AmazonS3ConfigKey::S3Endpoint))
        .or_else(|| env_value(AmazonS3ConfigKey::Endpoint));
    let region = config
        .aws
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()))
        .or_else(|| {
            std::env::var("AWS_DEFAULT_REGION")
                .ok()
                .filter(|r| !r.is_empty())
        })
        .unwrap_or_else(|| "us-east-1".to_string());

    let mut options = ClientOptions::new()
        .with_timeout(config.net.timeout)
        .with_connect_timeout(config.net.timeout)
        .with_user_agent(
            format!("wafermon/{}", crate::VERSION)
                .parse()
                .map_err(|_| Error::config("type", "bad user agent"))?,
        );
    let mut builder = env
        .with_bucket_name(&config.bucket)
        .with_region(&region)
        .with_retry(RetryConfig {
            max_retries: 0,
            retry_timeout: config.net.timeout,
            ..RetryConfig::default()
        });
    match &endpoint {
        Some(url) => {
            options = options.with_allow_http(url.starts_with("http://"));
            let url = if config.path_style {
                url.clone()
            } else {
                virtual_hosted(url, &config.bucket)?
            };
            builder = builder
                .with_config(AmazonS3ConfigKey::S3Endpoint, &url)
                .with_endpoint(url)
                .with_virtual_hosted_style_request(!config.path_style);
        }
        None => builder = builder.with_virtual_hosted_style_request(!config.path_style),
    }
    if let (Some(key_id), Some(secret_key)) =
        (&config.aws.access_key_id, &config.aws.secret_access_key)
    {
        // A provider of its own, so an AWS_SESSION_TOKEN meant for other keys is not mixed in.
        builder =
            builder.with_credentials(Arc::new(StaticCredentialProvider::new(AwsCredential {
                key_id: key_id.expose().to_string(),
                secret_key: secret_key.expose().to_string(),
                token: config
                    .aws
                    .session_token
                    .as_ref()
                    .map(|t| t.expose().to_string()),
            })));
    } else if let Some(token) = &config.aws.session_token {
        // Keys from the environment, token from the config.
        builder = builder.with_token(token.expose());
    }
    builder
        .with_client_options(options)
        .build()
        .map_err(|e| Error::config("type", format!("cannot build the S3 client: {e}")))
}

/// `scheme://host...` -> `scheme://bucket.host...`: the endpoint of a virtual-hosted bucket.
fn virtual_hosted(url: &str, bucket: &str) -> Result<String> {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let host = rest.split([':', '/']).next().unwrap_or_default();
    let is_ip = host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[');
    if is_ip || host == "localhost" {
        return Err(Error::config(
            "path_style",
            format!(
                "must be true for the endpoint '{url}': a bucket can only be a host name \
                 (virtual-hosted style) under a DNS name"
            ),
        ));
    }
    Ok(format!("{scheme}://{bucket}.{rest}"))
}

/// S3 error codes worth another try (the service is busy or failed, not the request).
const TRANSIENT_CODES: &[&str] = &[
    "SlowDown",
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "OperationAborted",
];

/// What went wrong with a request, as the lane needs it: network trouble, throttling and
/// 5xx are transient; any other answer of the server (403 SignatureDoesNotMatch or
/// InvalidAccessKeyId, 404 NoSuchBucket...) is permanent, with the server's code and message.
pub(crate) fn classify(what: &str, error: &object_store::Error) -> DeliveryError {
    let (message, transient) = read_error(what, error);
    if transient {
        DeliveryError::transient(message)
    } else {
        DeliveryError::permanent(message)
    }
}

/// One line saying what failed and why, in the server's words when it answered: "`what`:
/// HTTP 403 SignatureDoesNotMatch: The request signature...". For readers of the bucket.
pub fn describe(what: &str, error: &object_store::Error) -> String {
    read_error(what, error).0
}

/// The message, and whether another try may work.
fn read_error(what: &str, error: &object_store::Error) -> (String, bool) {
    let text = error.to_string();
    let status = status_of(&text);
    let code = xml_field(&text, "Code");
    let detail = match (&code, xml_field(&text, "Message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.clone(),
        // No S3 error document: object_store's own words (network error, timeout...).
        _ => one_line(&text),
    };
    let message = match status {
        Some(status) => format!("{what}: HTTP {status} {detail}"),
        None => format!("{what}: {detail}"),
    };
    let transient = match (status, &code) {
        (_, Some(code)) if TRANSIENT_CODES.contains(&code.as_str()) => true,
        (Some(s), _) => s >= 500 || s == 408 || s == 429,
        // No answer at all (connection refused, reset, timeout, credentials not reachable).
        (None, _) => true,
    };
    (message, transient)
}

/// The HTTP status object_store puts in its message ("... status code: 403 Forbidden: ...").
fn status_of(text: &str) -> Option<u16> {
    let at = text.find("status code: ")? + "status code: ".len();
    text.get(at..at + 3)?.parse().ok()
}

/// `<Name>value</Name>` from an S3 error document.
fn xml_field(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = start + text[start..].find(&format!("</{name}>"))?;
    let value = text[start..end].trim();
    (!value.is_empty()).then(|| value.to_string())
}

fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(400) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(text: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: text.to_string().into(),
        }
    }

    #[test]
    fn server_answers_are_read_by_status_and_code() {
        let denied = generic(
            "Error performing PUT http://h/b/k in 2ms - Server returned non-2xx status code: \
             403 Forbidden: <?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code>\
             <Message>The request signature we calculated does not match</Message></Error>",
        );
        let e = classify("PUT s3://b/k", &denied);
        assert_eq!(
            e,
            DeliveryError::permanent(
                "PUT s3://b/k: HTTP 403 SignatureDoesNotMatch: The request signature we \
                 calculated does not match"
            )
        );
        let slow = generic(
            "Server returned non-2xx status code: 503 Service Unavailable: \
             <Error><Code>SlowDown</Code><Message>Reduce your request rate</Message></Error>",
        );
        assert!(matches!(
            classify("PUT", &slow),
            DeliveryError::Transient { .. }
        ));
        let skew =
            generic("status code: 403 Forbidden: <Error><Code>RequestTimeTooSkewed</Code></Error>");
        assert!(matches!(
            classify("PUT", &skew),
            DeliveryError::Transient { .. }
        ));
        let refused =
            generic("Error performing PUT http://h/b/k - HTTP error: error sending request");
        assert!(matches!(
            classify("PUT", &refused),
            DeliveryError::Transient { .. }
        ));
        let no_bucket = generic(
            "status code: 404 Not Found: <Error><Code>NoSuchBucket</Code>\
             <Message>The specified bucket does not exist</Message></Error>",
        );
        assert!(matches!(
            classify("PUT", &no_bucket),
            DeliveryError::Permanent { message } if message.contains("NoSuchBucket")
        ));
    }

    #[test]
    fn virtual_hosted_needs_a_dns_name() {
        assert_eq!(
            virtual_hosted("https://s3.example.com:9000", "b").unwrap(),
            "https://b.s3.example.com:9000"
        );
        let e = virtual_hosted("http://127.0.0.1:8333", "b").unwrap_err();
        assert_eq!(e.path(), Some("path_style"));
    }
}
