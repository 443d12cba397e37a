//! One push request and how to read Loki's answer. Loki answers a push with 204; a 400 means
//! some lines were invalid (too old, too long, bad labels) and the others were kept; 429 is
//! its rate limit; 401/403 come from the auth proxy in front of it.

use std::io::Read;
use std::time::SystemTime;

use ureq::http::{header, Response, StatusCode};
use ureq::{Agent, Body};

use super::super::http::parse_retry_after;
use super::super::DeliveryError;
use crate::config::LokiConfig;

/// Loki's messages name the stream and the line's timestamp; a few hundred characters hold
/// that without filling the stats with a whole label dump.
const EXCERPT_CHARS: usize = 300;
/// Read at most this much of an answer.
const READ_LIMIT: u64 = 64 * 1024;

/// The tenant and credential headers every request to this Loki carries (the gateway's
/// reader sends the same).
pub fn request_headers(config: &LokiConfig) -> Vec<(&'static str, String)> {
    let mut headers = Vec::new();
    if let Some(tenant) = &config.tenant {
        headers.push(("X-Scope-OrgID", tenant.clone()));
    }
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        use base64::Engine;
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        headers.push(("Authorization", format!("Basic {pair}")));
    } else if let Some(token) = &config.token {
        headers.push(("Authorization", format!("Bearer {token}")));
    }
    headers
}

/// What one request came to.
pub(super) enum Answer {
    Accepted,
    /// 400 (or 413): something in this request was refused; Loki's message says what.
    Refused(String),
    Failed(DeliveryError),
}

pub(super) struct Pusher {
    agent: Agent,
    url: String,
    headers: Vec<(&'static str, String)>,
}

/// Loki on this machine must not be reached through a proxy from the environment.
fn is_loopback(url: &str) -> bool {
    let rest = url
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    ["127.", "localhost", "[::1]"]
        .iter()
        .any(|prefix| rest.starts_with(prefix))
}

impl Pusher {
    pub(super) fn new(config: &LokiConfig) -> crate::Result<Pusher> {
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
            .http_status_as_error(false)
            .timeout_global(Some(config.net.timeout))
            .max_redirects(0)
            .user_agent(format!("wafermon/{}", crate::VERSION))
            .build()
            .into();
        Ok(Pusher {
            agent,
            url: format!("{}{}", config.url, config.endpoint),
            headers: request_headers(config),
        })
    }

    pub(super) fn push(&self, body: &[u8]) -> Answer {
        let mut request = self.agent.post(&self.url).content_type("application/json");
        for (name, value) in &self.headers {
            request = request.header(*name, value);
        }
        match request.send(body) {
            Ok(response) => read_answer(response, SystemTime::now()),
            Err(e) => Answer::Failed(from_ureq(e)),
        }
    }
}

fn read_answer(mut response: Response<Body>, now: SystemTime) -> Answer {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now));
    // Read to the end either way so the connection can be reused.
    let text = excerpt(response.body_mut());
    if status.is_success() {
        return Answer::Accepted;
    }
    let message = match status.canonical_reason() {
        Some(reason) if text.is_empty() => format!("HTTP {} {reason}", status.as_u16()),
        Some(reason) => format!("HTTP {} {reason}: {text}", status.as_u16()),
        None => format!("HTTP {}: {text}", status.as_u16()),
    };
    if status == StatusCode::BAD_REQUEST || status == StatusCode::PAYLOAD_TOO_LARGE {
        Answer::Refused(message)
    } else if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        Answer::Failed(DeliveryError::Transient {
            message,
            retry_after,
        })
    } else {
        Answer::Failed(DeliveryError::permanent(message))
    }
}

/// The start of the answer on one line.
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
        // The request itself is malformed: it will stay so.
        e @ (E::Http(_)
        | E::BadUri(_)
        | E::InvalidProxyUrl
        | E::RequireHttpsOnly(_)
        | E::TlsRequired
        | E::RedirectFailed
        | E::TooManyRedirects) => DeliveryError::permanent(e.to_string()),
        // Network, timeout, DNS, TLS handshake: the next attempt may work.
        e => DeliveryError::transient(e.to_string()),
    }
}

/// Loki ends a validation message with `total ignored: N out of M for stream: {...}`. When
/// every line of a one-stream request was ignored, splitting it further cannot save any.
pub(super) fn all_ignored(message: &str, lines: usize) -> bool {
    let Some(at) = message.find("total ignored: ") else {
        return false;
    };
    let mut words = message[at + "total ignored: ".len()..].split_whitespace();
    let ignored = words.next().and_then(|w| w.parse::<usize>().ok());
    let of = words.next() == Some("out") && words.next() == Some("of");
    let total = words.next().and_then(|w| w.parse::<usize>().ok());
    of && ignored == Some(lines) && total == Some(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lokis_ignored_count() {
        let loki = "entry with timestamp 2024-05-06 15:58:50 +0000 UTC ignored, reason: 'entry \
                    too far behind', user 'fake', total ignored: 2 out of 2 for stream: {a=\"b\"}";
        assert!(all_ignored(loki, 2));
        assert!(!all_ignored(loki, 3));
        assert!(!all_ignored(&loki.replace("2 out of 2", "1 out of 2"), 2));
        assert!(!all_ignored("bad request", 1));
    }
}
