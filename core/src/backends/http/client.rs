//! What the HTTP backends share: one agent per backend, one POST, and one reading of the
//! answer, so sidecar, gateway and webhook retry (or give up) for the same reasons.
//!
//! The direct backends (Loki, Elasticsearch, AWS) read their answers their own way, but build
//! their agents and sort statuses and transport errors with the functions below, so every
//! backend treats a 503, a Retry-After or a refused connection alike.

use std::io::Read;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use ureq::http::{header, HeaderMap, Response, StatusCode};
use ureq::{Agent, Body};

use crate::backends::DeliveryError;
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

/// A server on this machine (sidecar, gateway, local Loki, cluster or AWS emulator) must never
/// be reached through a proxy from the environment (HTTP_PROXY without NO_PROXY is common on
/// fab hosts).
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
        check_scheme(&config.url)?;
        let agent = agent(&config.url, config.timeout);
        Ok(Endpoint {
            agent,
            url: config.url.clone(),
            authorization: config
                .token
                .as_ref()
                .map(|t| format!("Bearer {}", t.expose())),
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

/// Refuse an https:// URL when this build cannot speak TLS: at start, under the `url` key,
/// rather than on every request later.
pub(crate) fn check_scheme(url: &str) -> crate::Result<()> {
    if url.starts_with("https://") && !cfg!(feature = "tls") {
        return Err(crate::Error::config(
            "url",
            format!("'{url}' needs HTTPS, but wafermon was built without the \"tls\" feature"),
        ));
    }
    Ok(())
}

/// The agent every HTTP backend sends with: its own connection pool, no proxy for this
/// machine, one deadline per request, statuses left to the caller, no redirects.
pub(crate) fn agent(url: &str, timeout: Duration) -> Agent {
    let mut builder = Agent::config_builder();
    if is_loopback(url) {
        builder = builder.proxy(None);
    }
    builder
        // The status and body of a 4xx/5xx are what tells a retry from a give-up.
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        // Following a redirect would re-send (or drop) the body somewhere nobody configured.
        .max_redirects(0)
        .user_agent(format!("wafermon/{}", crate::VERSION))
        .build()
        .into()
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
    let retry_after = retry_after(response.headers(), now);
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|l| format!(" (redirect to {l} not followed)"))
        .unwrap_or_default();
    let excerpt = read_excerpt(response.body_mut(), EXCERPT_CHARS);
    let message = status_message(status, &location, &excerpt);
    Err(by_status(status, message, retry_after))
}

/// Worth sending again later: the server is busy or broken (5xx), or timed out waiting for
/// us (408), or asks us to slow down (429); any other failure will fail again.
pub(crate) fn is_transient_status(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

/// A failed answer as a delivery error, transient or permanent by its status.
pub(crate) fn by_status(
    status: StatusCode,
    message: String,
    retry_after: Option<Duration>,
) -> DeliveryError {
    if is_transient_status(status.as_u16()) {
        DeliveryError::Transient {
            message,
            retry_after,
        }
    } else {
        DeliveryError::permanent(message)
    }
}

/// `HTTP 503 Service Unavailable{note}: {excerpt}`, without the colon when there is no
/// excerpt.
pub(crate) fn status_message(status: StatusCode, note: &str, excerpt: &str) -> String {
    let mut message = format!("HTTP {}{note}", status_text(status));
    if !excerpt.is_empty() {
        message.push_str(": ");
        message.push_str(excerpt);
    }
    message
}

fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// The answer's `Retry-After`, when it has a readable one.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now))
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

/// Read the start of a body (reading it lets the agent reuse the connection) and return it
/// as an excerpt for an error message.
pub(crate) fn read_excerpt(body: &mut Body, max_chars: usize) -> String {
    excerpt(&read_limited(body), max_chars)
}

/// The body, up to the size worth reading for an answer.
pub(crate) fn read_limited(body: &mut Body) -> Vec<u8> {
    let mut bytes = Vec::new();
    let _ = body.as_reader().take(READ_LIMIT).read_to_end(&mut bytes);
    bytes
}

/// The start of a body on one line, for an error message: enough to show the server's
/// reason in stats, not a whole HTML page.
pub(crate) fn excerpt(bytes: &[u8], max_chars: usize) -> String {
    truncated(one_line(bytes), max_chars)
}

/// The text with every run of whitespace (newlines included) made one space.
pub(crate) fn one_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// At most `max_chars` characters, with `…` when some were cut.
pub(crate) fn truncated(text: String, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// Whether a request that got no answer may work when sent again: network, timeout, DNS,
/// TLS handshake and protocol trouble may pass; a malformed request (bad URL, header, proxy,
/// scheme) will stay so.
pub(crate) fn is_transient_transport_error(error: &ureq::Error) -> bool {
    use ureq::Error as E;
    !matches!(
        error,
        E::Http(_)
            | E::BadUri(_)
            | E::InvalidProxyUrl
            | E::RequireHttpsOnly(_)
            | E::TlsRequired
            | E::RedirectFailed
            | E::TooManyRedirects
    )
}

/// A request that got no HTTP answer, as a delivery error.
pub(crate) fn from_ureq(error: ureq::Error) -> DeliveryError {
    match error {
        // Only with http_status_as_error(true); kept so a config change cannot lose statuses.
        ureq::Error::StatusCode(code)
            if (400..500).contains(&code) && !is_transient_status(code) =>
        {
            DeliveryError::permanent(format!("HTTP {code}"))
        }
        e if is_transient_transport_error(&e) => DeliveryError::transient(e.to_string()),
        e => DeliveryError::permanent(e.to_string()),
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

    #[test]
    fn statuses_worth_a_retry() {
        for status in [408, 429, 500, 503, 599] {
            assert!(is_transient_status(status), "{status}");
        }
        for status in [400, 401, 403, 404, 413, 301] {
            assert!(!is_transient_status(status), "{status}");
        }
    }

    #[test]
    fn excerpts_are_one_line_and_cut() {
        assert_eq!(excerpt(b"  a\n\tb  c ", 10), "a b c");
        assert_eq!(excerpt("ééééé".as_bytes(), 3), "ééé…");
        assert_eq!(excerpt(b"", 3), "");
    }

    #[test]
    fn status_messages() {
        assert_eq!(
            status_message(StatusCode::SERVICE_UNAVAILABLE, "", "busy"),
            "HTTP 503 Service Unavailable: busy"
        );
        assert_eq!(
            status_message(StatusCode::FOUND, " (redirect to /x not followed)", ""),
            "HTTP 302 Found (redirect to /x not followed)"
        );
    }
}
