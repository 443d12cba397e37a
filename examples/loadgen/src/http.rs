//! Blocking HTTP through ureq: one agent (one keep-alive connection) per load thread.

use std::time::Duration;

use ureq::Agent;

/// Bodies larger than this are an error (the largest read answers are a few MB).
const READ_LIMIT: u64 = 256 * 1024 * 1024;

pub fn agent(timeout: Duration) -> Agent {
    Agent::config_builder()
        // Statuses are data here: a 503 is counted, not raised.
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .proxy(None)
        .max_redirects(0)
        .user_agent("wafermon-loadgen")
        .build()
        .into()
}

pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The status and the start of the body, for error reports.
    pub fn describe(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let cut: String = one_line.chars().take(200).collect();
        format!("HTTP {}: {cut}", self.status)
    }
}

fn read(mut response: ureq::http::Response<ureq::Body>) -> Result<Reply, String> {
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(READ_LIMIT)
        .read_to_vec()
        .map_err(|e| format!("reading the answer: {e}"))?;
    Ok(Reply { status, body })
}

pub fn post(agent: &Agent, url: &str, content_type: &str, body: &[u8]) -> Result<Reply, String> {
    let response = agent
        .post(url)
        .content_type(content_type)
        .send(body)
        .map_err(|e| e.to_string())?;
    read(response)
}

pub fn get(agent: &Agent, url: &str) -> Result<Reply, String> {
    let response = agent.get(url).call().map_err(|e| e.to_string())?;
    read(response)
}

/// Percent-encode a query-string value (everything but RFC 3986 unreserved characters).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            super::encode("2025-01-01T00:00:00+01:00"),
            "2025-01-01T00%3A00%3A00%2B01%3A00"
        );
        assert_eq!(super::encode("17~fab1~job-1"), "17~fab1~job-1");
    }
}
