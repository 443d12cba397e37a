//! What the AWS backends share: region, credentials and endpoint resolved from the config or
//! the standard AWS environment variables, and one SigV4-signed POST over ureq whose answer
//! (AWS's error JSON included) becomes a value or an [`AwsError`].
//!
//! Public so that the gateway's CloudWatch reader (and the tests) call AWS exactly the way the
//! writers do.

use std::fmt;
use std::io::Read;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde_json::Value;
use ureq::Agent;

use crate::backends::http;
use crate::backends::DeliveryError;
use crate::config::AwsConfig;
use crate::error::{Error, Result};

/// The region when neither the config nor the environment names one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// A response larger than this is not something these APIs send (their pages are <= 1 MB).
const READ_LIMIT: u64 = 16 * 1024 * 1024;
/// Reasons quoted in a partial failure's message.
const REASONS_SHOWN: usize = 3;
/// Enough of AWS's message for stats.
const MESSAGE_CHARS: usize = 300;

/// AWS error codes that mean "slow down" rather than "this request is wrong".
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "SlowDown",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalError",
    "RequestTimeout",
    "RequestTimeoutException",
];

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The config's region, else `AWS_REGION`, else `AWS_DEFAULT_REGION`, else us-east-1.
pub fn region(config: &AwsConfig) -> String {
    config
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| DEFAULT_REGION.to_string())
}

/// The config's keys, else `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
/// `AWS_SESSION_TOKEN`. Without either, a config error naming both places.
pub fn credentials(config: &AwsConfig) -> Result<Credentials> {
    let (key, secret, token) = match (&config.access_key_id, &config.secret_access_key) {
        (Some(key), Some(secret)) => (
            key.expose().to_string(),
            secret.expose().to_string(),
            config
                .session_token
                .as_ref()
                .map(|t| t.expose().to_string()),
        ),
        _ => match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(key), Some(secret)) => (key, secret, env("AWS_SESSION_TOKEN")),
            (key, secret) => {
                let missing = match (key.is_some(), secret.is_some()) {
                    (true, false) => "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not",
                    (false, true) => "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not",
                    _ => "none in the config or the environment",
                };
                return Err(Error::config(
                    "access_key_id",
                    format!(
                        "no AWS credentials ({missing}): set access_key_id and \
                         secret_access_key (and session_token if temporary) in the config, or \
                         AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) in \
                         the environment"
                    ),
                ));
            }
        },
    };
    Ok(Credentials::new(key, secret, token, None, "wafermon"))
}

/// The config's endpoint, else `https://<service>.<region>.amazonaws.com`.
pub fn endpoint(config: &AwsConfig, service: &str, region: &str) -> String {
    config
        .endpoint
        .clone()
        .unwrap_or_else(|| format!("https://{service}.{region}.amazonaws.com"))
}

/// Why an AWS call did not succeed: AWS's own error code and message, or the network's.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsError {
    /// HTTP status; None when no answer came (network, timeout).
    pub status: Option<u16>,
    /// AWS's error code without its namespace (`ResourceNotFoundException`); empty when none.
    pub code: String,
    pub message: String,
    /// Worth retrying: network trouble, 5xx, 408/429 or a throttling code.
    pub transient: bool,
    pub retry_after: Option<Duration>,
}

impl AwsError {
    pub fn is(&self, code: &str) -> bool {
        self.code == code
    }

    fn network(message: String, transient: bool) -> AwsError {
        AwsError {
            status: None,
            code: String::new(),
            message,
            transient,
            retry_after: None,
        }
    }
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code.is_empty(), self.status) {
            (true, None) => write!(f, "{}", self.message),
            (true, Some(status)) => write!(f, "HTTP {status}: {}", self.message),
            (false, Some(status)) => write!(f, "{}: {} (HTTP {status})", self.code, self.message),
            (false, None) => write!(f, "{}: {}", self.code, self.message),
        }
    }
}

impl From<AwsError> for DeliveryError {
    fn from(e: AwsError) -> DeliveryError {
        let message = e.to_string();
        if e.transient {
            DeliveryError::Transient {
                message,
                retry_after: e.retry_after,
            }
        } else {
            DeliveryError::Permanent { message }
        }
    }
}

/// One AWS service endpoint with its own connection pool and signing identity.
pub struct AwsClient {
    agent: Agent,
    base: String,
    region: String,
    signing_name: String,
    identity: Identity,
}

impl AwsClient {
    /// `service` is the endpoint prefix (`logs`, `monitoring`, `xray`), also the SigV4
    /// signing name of these three services. Errors name the config key at fault.
    pub fn new(config: &AwsConfig, service: &str, timeout: Duration) -> Result<AwsClient> {
        let region = region(config);
        let base = endpoint(config, service, &region);
        if base.starts_with("https://") && !cfg!(feature = "tls") {
            return Err(Error::config(
                "endpoint",
                format!(
                    "'{base}' needs HTTPS, but wafermon was built without the \"tls\" feature \
                     (build with it, or set endpoint to an http:// AWS-compatible server)"
                ),
            ));
        }
        let identity: Identity = credentials(config)?.into();
        let agent = http::agent(&base, timeout);
        Ok(AwsClient {
            agent,
            base,
            region,
            signing_name: service.to_string(),
            identity,
        })
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// An AWS JSON protocol call (`json_version` "1.0" or "1.1"): POST / with
    /// `X-Amz-Target: <target>` (e.g. `Logs_20140328.PutLogEvents`).
    pub fn call_json(
        &self,
        json_version: &str,
        target: &str,
        body: &Value,
    ) -> std::result::Result<Value, AwsError> {
        let bytes = encode(body)?;
        let content_type = format!("application/x-amz-json-{json_version}");
        self.post(
            "/",
            &[("content-type", &content_type), ("x-amz-target", target)],
            &bytes,
        )
    }

    /// A REST-JSON call: POST `path` with a JSON body (X-Ray's protocol).
    pub fn post_rest_json(&self, path: &str, body: &Value) -> std::result::Result<Value, AwsError> {
        let bytes = encode(body)?;
        self.post(path, &[("content-type", "application/json")], &bytes)
    }

    /// Sign and send; the answer's JSON (Null when empty) on a 2xx.
    fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::result::Result<Value, AwsError> {
        let url = format!("{}{path}", self.base);
        let signed = self.sign(&url, headers, body)?;
        let mut request = self.agent.post(&url);
        for (name, value) in headers
            .iter()
            .copied()
            .chain(signed.iter().map(|(n, v)| (*n, v.as_str())))
        {
            request = request.header(name, value);
        }
        let mut response = match request.send(body) {
            Ok(r) => r,
            Err(e) => return Err(from_ureq(e)),
        };
        let status = response.status().as_u16();
        let retry_after = http::retry_after(response.headers(), SystemTime::now());
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut bytes = Vec::new();
        if let Err(e) = response
            .body_mut()
            .as_reader()
            .take(READ_LIMIT)
            .read_to_end(&mut bytes)
        {
            return Err(AwsError::network(
                format!("reading the answer of {url} failed: {e}"),
                true,
            ));
        }
        if (200..300).contains(&status) {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes).map_err(|e| {
                AwsError::network(format!("the answer of {url} is not JSON: {e}"), true)
            });
        }
        Err(error_from(status, error_type, &bytes, retry_after))
    }

    /// The SigV4 headers (authorization, x-amz-date, x-amz-security-token) for this request.
    fn sign(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::result::Result<Vec<(&'static str, String)>, AwsError> {
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(&self.signing_name)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| AwsError::network(format!("cannot sign the request: {e}"), false))?
            .into();
        let request = SignableRequest::new(
            "POST",
            url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| AwsError::network(format!("cannot sign a request to {url}: {e}"), false))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| AwsError::network(format!("cannot sign a request to {url}: {e}"), false))?
            .into_parts();
        let (headers, _) = instructions.into_parts();
        Ok(headers
            .into_iter()
            .map(|h| (h.name(), h.value().to_string()))
            .collect())
    }
}

/// What happened to each position of a batch sent in several requests: rejected (with the
/// service's reason), to retry (after a transient failure), or else delivered.
#[derive(Debug, Default)]
pub struct Outcome {
    rejected: Vec<usize>,
    reasons: Vec<String>,
    retry: Vec<usize>,
    transient: Option<AwsError>,
}

impl Outcome {
    /// A transient failure stopped the sending: what was not sent waits for the retry.
    pub fn interrupted(&self) -> bool {
        self.transient.is_some()
    }

    pub fn reject(&mut self, position: usize, reason: String) {
        self.rejected.push(position);
        if self.reasons.len() < REASONS_SHOWN && !self.reasons.contains(&reason) {
            self.reasons.push(reason);
        }
    }

    pub fn retry_all(
        &mut self,
        positions: impl Iterator<Item = usize>,
        cause: impl Into<Option<AwsError>>,
    ) {
        self.retry.extend(positions);
        if let Some(cause) = cause.into() {
            self.transient.get_or_insert(cause);
        }
    }

    pub fn into_result(mut self, len: usize) -> std::result::Result<(), DeliveryError> {
        self.retry.sort_unstable();
        self.retry.dedup();
        self.rejected.sort_unstable();
        self.rejected.dedup();
        self.rejected
            .retain(|p| self.retry.binary_search(p).is_err());
        let retry_after = self.transient.as_ref().and_then(|e| e.retry_after);
        let mut message = self.reasons.join("; ");
        if let Some(cause) = &self.transient {
            if !message.is_empty() {
                message.push_str("; ");
            }
            message.push_str(&format!("will retry: {cause}"));
        }
        DeliveryError::by_positions(len, self.rejected, self.retry, message, retry_after)
    }
}

fn encode(body: &Value) -> std::result::Result<Vec<u8>, AwsError> {
    serde_json::to_vec(body)
        .map_err(|e| AwsError::network(format!("cannot encode the request: {e}"), false))
}

/// AWS's error JSON (`__type`, `message`), or the `x-amzn-ErrorType` header, or the status.
fn error_from(
    status: u16,
    error_type: Option<String>,
    body: &[u8],
    retry_after: Option<Duration>,
) -> AwsError {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_string);
    let code = text("__type")
        .or_else(|| text("code"))
        .or(error_type)
        .map(|c| short_code(&c).to_string())
        .unwrap_or_default();
    let message = text("message")
        .or_else(|| text("Message"))
        .unwrap_or_else(|| http::one_line(body));
    let message = http::truncated(message, MESSAGE_CHARS);
    // AWS also throttles with a 400 and a throttling code.
    let transient = http::is_transient_status(status) || THROTTLING.contains(&code.as_str());
    AwsError {
        status: Some(status),
        code,
        message,
        transient,
        retry_after,
    }
}

/// `com.amazonaws.logs#ResourceNotFoundException` or `Code:http://...` -> `Code`.
fn short_code(code: &str) -> &str {
    let code = code.rsplit('#').next().unwrap_or(code);
    code.split(':').next().unwrap_or(code)
}

fn from_ureq(error: ureq::Error) -> AwsError {
    let transient = http::is_transient_transport_error(&error);
    AwsError::network(error.to_string(), transient)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_become_the_right_delivery_error() {
        assert_eq!(Outcome::default().into_result(3), Ok(()));
        let mut o = Outcome::default();
        o.reject(1, "too old".into());
        match o.into_result(3) {
            Err(DeliveryError::Partial {
                rejected,
                retry,
                message,
                ..
            }) => {
                assert_eq!((rejected, retry), (vec![1], vec![]));
                assert_eq!(message, "too old");
            }
            other => panic!("{other:?}"),
        }
        let mut o = Outcome::default();
        o.reject(0, "no group".into());
        o.reject(1, "no group".into());
        assert!(matches!(
            o.into_result(2),
            Err(DeliveryError::Permanent { .. })
        ));
    }

    #[test]
    fn error_codes_lose_their_namespace() {
        assert_eq!(
            short_code("com.amazonaws.logs#ResourceNotFoundException"),
            "ResourceNotFoundException"
        );
        assert_eq!(
            short_code("ThrottlingException:http://internal.amazon.com/"),
            "ThrottlingException"
        );
        assert_eq!(short_code("AccessDenied"), "AccessDenied");
    }

    #[test]
    fn throttling_and_5xx_are_transient_the_rest_permanent() {
        let e = error_from(
            400,
            None,
            br#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
            None,
        );
        assert!(e.transient);
        assert_eq!(
            e.to_string(),
            "ThrottlingException: Rate exceeded (HTTP 400)"
        );
        let e = error_from(
            400,
            None,
            br#"{"__type":"com.amazonaws.logs#InvalidParameterException","message":"bad"}"#,
            None,
        );
        assert!(!e.transient);
        assert!(e.is("InvalidParameterException"));
        assert!(error_from(503, None, b"<html>busy</html>", None).transient);
        let e = error_from(403, Some("UnrecognizedClientException:x".into()), b"", None);
        assert!(!e.transient);
        assert_eq!(e.code, "UnrecognizedClientException");
    }
}
