//! One push request and how to read Loki's answer. Loki answers a push with 204; a 400 means
//! some lines were invalid (too old, too long, bad labels) and the others were kept; 429 is
//! its rate limit; 401/403 come from the auth proxy in front of it.

use std::time::SystemTime;

use ureq::http::{Response, StatusCode};
use ureq::{Agent, Body};

use super::super::http;
use super::super::DeliveryError;
use crate::config::LokiConfig;

/// Loki's messages name the stream and the line's timestamp; a few hundred characters hold
/// that without filling the stats with a whole label dump.
const EXCERPT_CHARS: usize = 300;

/// The tenant and credential headers every request to this Loki carries (the gateway's
/// reader sends the same).
pub fn request_headers(config: &LokiConfig) -> Vec<(&'static str, String)> {
    let mut headers = Vec::new();
    if let Some(tenant) = &config.tenant {
        headers.push(("X-Scope-OrgID", tenant.clone()));
    }
    if let (Some(user), Some(password)) = (&config.username, &config.password) {
        use base64::Engine;
        let pair = base64::engine::general_purpose::STANDARD
            .encode(format!("{user}:{}", password.expose()));
        headers.push(("Authorization", format!("Basic {pair}")));
    } else if let Some(token) = &config.token {
        headers.push(("Authorization", format!("Bearer {}", token.expose())));
    }
    headers
}

/// What one request came to.
pub(super) enum Answer {
    Accepted,
    /// 400 (or 413): something in this request was refused; Loki's message says what, and
    /// `ignored` is its "total ignored: N out of M" (read from the whole answer: the excerpt
    /// in `message` may cut it off).
    Refused {
        message: String,
        ignored: Option<(usize, usize)>,
    },
    Failed(DeliveryError),
}

pub(super) struct Pusher {
    agent: Agent,
    url: String,
    headers: Vec<(&'static str, String)>,
}

impl Pusher {
    pub(super) fn new(config: &LokiConfig) -> crate::Result<Pusher> {
        http::check_scheme(&config.url)?;
        let agent = http::agent(&config.url, config.net.timeout);
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
            Err(e) => Answer::Failed(http::from_ureq(e)),
        }
    }
}

fn read_answer(mut response: Response<Body>, now: SystemTime) -> Answer {
    let status = response.status();
    let retry_after = http::retry_after(response.headers(), now);
    // Read to the end either way so the connection can be reused.
    let bytes = http::read_limited(response.body_mut());
    if status.is_success() {
        return Answer::Accepted;
    }
    let (message, ignored) = refusal(status, &bytes);
    // Loki kept the request's other lines: only the refused ones need looking at.
    if status == StatusCode::BAD_REQUEST || status == StatusCode::PAYLOAD_TOO_LARGE {
        Answer::Refused { message, ignored }
    } else {
        Answer::Failed(http::by_status(status, message, retry_after))
    }
}

/// A refusal's message (an excerpt of the body, on one line) and its ignored counts.
fn refusal(status: StatusCode, body: &[u8]) -> (String, Option<(usize, usize)>) {
    let whole = http::one_line(body);
    let ignored = ignored_counts(&whole);
    let message = http::status_message(status, "", &http::truncated(whole, EXCERPT_CHARS));
    (message, ignored)
}

/// A refusal's body read as `push` reads it: the fuzz target's entry (feature "fuzzing").
#[cfg(feature = "fuzzing")]
pub(crate) fn read_refusal(body: &[u8]) {
    let _ = refusal(StatusCode::BAD_REQUEST, body);
}

/// N and M of Loki's `total ignored: N out of M for stream: {...}`, the end of its
/// validation message. When every line of a one-stream request was ignored, splitting it
/// further cannot save any.
fn ignored_counts(message: &str) -> Option<(usize, usize)> {
    let at = message.find("total ignored: ")?;
    let mut words = message[at + "total ignored: ".len()..].split_whitespace();
    let ignored = words.next()?.parse::<usize>().ok()?;
    let of = words.next() == Some("out") && words.next() == Some("of");
    let total = words.next()?.parse::<usize>().ok()?;
    of.then_some((ignored, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lokis_ignored_count() {
        let loki = "entry with timestamp 2024-05-06 15:58:50 +0000 UTC ignored, reason: 'entry \
                    too far behind', user 'fake', total ignored: 2 out of 2 for stream: {a=\"b\"}";
        assert_eq!(ignored_counts(loki), Some((2, 2)));
        assert_eq!(
            ignored_counts(&loki.replace("2 out of 2", "1 out of 2")),
            Some((1, 2))
        );
        assert_eq!(ignored_counts("bad request"), None);
        // Read from the whole answer: one line per refused entry comes first, far past
        // the excerpt kept for the stats.
        let long = format!("{}{loki}", "entry ignored, reason: too old; ".repeat(40));
        assert_eq!(ignored_counts(&long), Some((2, 2)));
    }
}
