//! What the HTTP backends share: one agent per backend, one POST, and one reading of the
//! answer, so sidecar, gateway and webhook retry (or give up) for the same reasons.

use std::io::Read;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use ureq::http::{header, Response, StatusCode};
use ureq::{Agent, Body};

use super::DeliveryError;
use crate::config::HttpConfig;

/// Enough of an error body to show the server's reason in stats, not a whole HTML page.
const EXCERPT_CHARS: usize = 200;
/// Read at most this much of any response: an ack is small, and a huge body is not worth the
/// time of the delivery thread.
const READ_LIMIT: u64 = 64 * 1024;

/// One HTTP endpoint with its own connection pool.
pub(crate) struct Endpoint {
    agent: Agent,
    url: String,
    authorization: Option<String>,
}

/// A sidecar or gateway on this machine must never be reached through a proxy from the
/// environment (HTTP_PROXY without NO_PROXY is common on fab hosts).
fn is_loopback(url: &str) -> bool {
    let rest = url
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    ["127.", "localhost", "[::1]"]
        .iter()
        .any(|prefix| rest.starts_with(prefix))
}

impl Endpoint {
    /// Fails when no request to this URL could ever work in this build, so the client
    /// refuses the config at start instead of failing every batch later.
    pub(crate) fn new(config: &HttpConfig) -> crate::Result<Self> {
        if config.url.starts_with("https://") && !cfg!(feature = "tls") {
            return Err(crate::Error::config(
                "url",
                format!(
                    "'{}' needs HTTPS, but wafermon was built without the \"tls\" feature",
                    config.url
                ),
            ));
        }
        let mut builder = Agent::config_builder();
        if is_loopback(&config.url) {
            builder = builder.proxy(None);
        }
        let agent: Agent = builder
            // The status and body of a 4xx/5xx are what tells a retry from a give-up.
            .http_status_as_error(false)
            .timeout_global(Some(config.timeout))
            // Following a redirect would re-send (or drop) the body somewhere nobody configured.
            .max_redirects(0)
            .user_agent(format!("wafermon/{}", crate::VERSION))
            .build()
            .into();
        Ok(Endpoint {
            agent,
            url: config.url.clone(),
            authorization: config.token.as_ref().map(|t| format!("Bearer {t}")),
        })
    }

    /// POST `body`; Ok only for a 2xx answer.
    pub(crate) fn post(
        &self,
        body: &[u8],
        content_type: &str,
        headers: &[(&str, &str)],
    ) -> Result<(), DeliveryError> {
        let mut request = self.agent.post(&self.url).content_type(content_type);
        if let Some(auth) = &self.authorization {
            request = request.header(header::AUTHORIZATION, auth);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        match request.send(body) {
            Ok(response) => classify(response, SystemTime::now()),
            Err(e) => Err(from_ureq(e)),
        }
    }
}

/// Serialize an envelope as JSON; failing here is a bug in the data, not in the network.
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, DeliveryError> {
    serde_json::to_vec(value)
        .map_err(|e| DeliveryError::permanent(format!("cannot encode batch as JSON: {e}")))
}

fn classify(mut response: Response<Body>, now: SystemTime) -> Result<(), DeliveryError> {
    let status = response.status();
    if status.is_success() {
        // Reading the ack to its end lets the agent reuse the connection; the server has
        // already taken the batch, so a failure here changes nothing.
        let _ = std::io::copy(
            &mut response.body_mut().as_reader().take(READ_LIMIT),
            &mut std::io::sink(),
        );
        return Ok(());
    }
    let headers = response.headers();
    let retry_after = headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now));
    let location = headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|l| format!(" (redirect to {l} not followed)"))
        .unwrap_or_default();
    let mut message = format!("HTTP {}{location}", status_text(status));
    let excerpt = excerpt(response.body_mut());
    if !excerpt.is_empty() {
        message.push_str(": ");
        message.push_str(&excerpt);
    }
    if status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        Err(DeliveryError::Transient {
            message,
            retry_after,
        })
    } else {
        Err(DeliveryError::permanent(message))
    }
}

fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// `Retry-After` is either delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The start of the body on one line, for an error message.
fn excerpt(body: &mut Body) -> String {
    let mut bytes = Vec::new();
    let _ = body.as_reader().take(READ_LIMIT).read_to_end(&mut bytes);
    let one_line = String::from_utf8_lossy(&bytes)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    match one_line.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

fn from_ureq(error: ureq::Error) -> DeliveryError {
    use ureq::Error as E;
    match error {
        // Only with http_status_as_error(true); kept so a config change cannot lose statuses.
        E::StatusCode(code) if (400..500).contains(&code) && code != 408 && code != 429 => {
            DeliveryError::permanent(format!("HTTP {code}"))
        }
        // The request itself is malformed (bad URL, header, proxy, scheme): it will stay so.
        e @ (E::Http(_)
        | E::BadUri(_)
        | E::InvalidProxyUrl
        | E::RequireHttpsOnly(_)
        | E::TlsRequired
        | E::RedirectFailed
        | E::TooManyRedirects) => DeliveryError::permanent(e.to_string()),
        // Network, timeout, DNS, TLS handshake, protocol: the next attempt may well work.
        e => DeliveryError::transient(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }
}
