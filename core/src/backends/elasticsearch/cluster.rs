//! One Elasticsearch/OpenSearch cluster over HTTP: the agent, the auth header, and the
//! reading of an answer. Public so the gateway's reader talks to a cluster exactly the way
//! the writer does (same auth, same proxy rule, same error text).

use std::fmt;
use std::io::Read;
use std::time::{Duration, SystemTime};

use base64::Engine;
use serde_json::Value;
use ureq::http::header;
use ureq::Agent;

use crate::backends::http;
use crate::config::ElasticAuth;
use crate::error::Result;

/// A `_bulk` answer holds one small item per action (fewer with `filter_path`); a search
/// page holds its documents. Anything bigger than this is not an answer we asked for.
const READ_LIMIT: u64 = 256 * 1024 * 1024;
/// Enough of an error body for stats, not a whole HTML page.
const EXCERPT_CHARS: usize = 300;

/// The value of the `Authorization` header for these credentials, if any.
pub fn authorization(auth: &ElasticAuth) -> Option<String> {
    match auth {
        ElasticAuth::None => None,
        ElasticAuth::Basic { username, password } => {
            let pair = format!("{username}:{}", password.expose());
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ))
        }
        // The key as Elasticsearch hands it out: base64 of `id:api_key` already.
        ElasticAuth::ApiKey(key) => Some(format!("ApiKey {}", key.expose())),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
}

/// An HTTP answer, whatever its status.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Worth trying again later: the cluster is busy or broken, not refusing us.
    pub fn is_transient(&self) -> bool {
        http::is_transient_status(self.status)
    }

    pub fn json(&self) -> std::result::Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| {
            format!(
                "the answer is not JSON ({e}): {}",
                http::excerpt(&self.body, EXCERPT_CHARS)
            )
        })
    }

    /// The server's own reason for a failed request: `type: reason` of an Elasticsearch
    /// error object, or the start of the body when it is something else.
    pub fn reason(&self) -> String {
        let text = serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("error").map(error_text))
            .unwrap_or_else(|| http::excerpt(&self.body, EXCERPT_CHARS));
        if text.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            format!("HTTP {}: {text}", self.status)
        }
    }
}

/// `type: reason (caused by type: reason)` of an error object (or the error if it is text).
pub fn error_text(error: &Value) -> String {
    let field = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    match error {
        Value::String(s) => s.clone(),
        Value::Object(_) => {
            let mut text = match (field(error, "type"), field(error, "reason")) {
                (Some(t), Some(r)) => format!("{t}: {r}"),
                (Some(t), None) => t,
                (None, Some(r)) => r,
                (None, None) => error.to_string(),
            };
            if let Some(cause) = error.get("caused_by") {
                if let (Some(t), Some(r)) = (field(cause, "type"), field(cause, "reason")) {
                    text.push_str(&format!(" (caused by {t}: {r})"));
                }
            }
            text
        }
        other => other.to_string(),
    }
}

/// A request that got no HTTP answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestError {
    pub message: String,
    /// Network, timeout, DNS, protocol trouble: the next attempt may work. False when the
    /// request itself can never be sent (bad URL, header, scheme).
    pub transient: bool,
    /// The server closed the connection while the body was still being sent: what
    /// Elasticsearch (and osmem) do after answering 413 to a body over their limit, before
    /// the client could read that answer.
    pub cut_off: bool,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<ureq::Error> for RequestError {
    fn from(error: ureq::Error) -> Self {
        let transient = http::is_transient_transport_error(&error);
        let cut_off = matches!(
            &error,
            ureq::Error::Io(e) if matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
            )
        );
        RequestError {
            message: error.to_string(),
            transient,
            cut_off,
        }
    }
}

/// One cluster, one connection pool.
pub struct Cluster {
    agent: Agent,
    url: String,
    authorization: Option<String>,
}

impl Cluster {
    /// `url` is the base URL without a trailing slash (as the config gives it). Fails when
    /// no request could ever work in this build (HTTPS without the "tls" feature).
    pub fn new(url: &str, auth: &ElasticAuth, timeout: Duration) -> Result<Cluster> {
        http::check_scheme(url)?;
        let agent = http::agent(url, timeout);
        Ok(Cluster {
            agent,
            url: url.trim_end_matches('/').to_string(),
            authorization: authorization(auth),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Send one request to `path` (with its query string, starting with `/`). A body is
    /// sent with POST and PUT only.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> std::result::Result<Reply, RequestError> {
        let url = format!("{}{path}", self.url);
        let response = match method {
            Method::Get => {
                let mut request = self.agent.get(&url);
                if let Some(auth) = &self.authorization {
                    request = request.header(header::AUTHORIZATION, auth);
                }
                request.call()
            }
            Method::Post | Method::Put => {
                let mut request = if method == Method::Post {
                    self.agent.post(&url)
                } else {
                    self.agent.put(&url)
                };
                if let Some(auth) = &self.authorization {
                    request = request.header(header::AUTHORIZATION, auth);
                }
                request.content_type(content_type).send(body)
            }
        };
        let mut response = response?;
        let status = response.status().as_u16();
        let retry_after = http::retry_after(response.headers(), SystemTime::now());
        let mut bytes = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(READ_LIMIT)
            .read_to_end(&mut bytes)
            .map_err(|e| RequestError {
                message: format!("cannot read the answer of {path}: {e}"),
                transient: true,
                cut_off: false,
            })?;
        Ok(Reply {
            status,
            retry_after,
            body: bytes,
        })
    }

    /// POST a JSON body; the answer's JSON on 2xx, the server's reason otherwise.
    pub fn post_json(&self, path: &str, body: &Value) -> std::result::Result<Value, String> {
        let bytes = serde_json::to_vec(body).map_err(|e| format!("cannot encode: {e}"))?;
        self.json(Method::Post, path, &bytes)
    }

    /// GET `path`; the answer's JSON on 2xx, the server's reason otherwise.
    pub fn get_json(&self, path: &str) -> std::result::Result<Value, String> {
        self.json(Method::Get, path, &[])
    }

    fn json(&self, method: Method, path: &str, body: &[u8]) -> std::result::Result<Value, String> {
        let reply = self
            .request(method, path, "application/json", body)
            .map_err(|e| format!("{}{path}: {e}", self.url))?;
        if !reply.is_success() {
            return Err(format!("{}{path}: {}", self.url, reply.reason()));
        }
        reply.json().map_err(|e| format!("{}{path}: {e}", self.url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn auth_headers() {
        assert_eq!(authorization(&ElasticAuth::None), None);
        let basic = ElasticAuth::Basic {
            username: "Aladdin".into(),
            password: "open sesame".into(),
        };
        // RFC 7617's example.
        assert_eq!(
            authorization(&basic).as_deref(),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );
        assert_eq!(
            authorization(&ElasticAuth::ApiKey("abc==".into())).as_deref(),
            Some("ApiKey abc==")
        );
    }

    #[test]
    fn reasons_come_from_the_error_object() {
        let reply = Reply {
            status: 401,
            retry_after: None,
            body: serde_json::to_vec(&json!({"error": {
                "type": "security_exception",
                "reason": "unable to authenticate user [x]"}, "status": 401}))
            .unwrap(),
        };
        assert_eq!(
            reply.reason(),
            "HTTP 401: security_exception: unable to authenticate user [x]"
        );
        let plain = Reply {
            status: 502,
            retry_after: None,
            body: b"<html> bad\n gateway </html>".to_vec(),
        };
        assert_eq!(plain.reason(), "HTTP 502: <html> bad gateway </html>");
        let cause = json!({"type": "mapper_parsing_exception", "reason": "failed",
                           "caused_by": {"type": "illegal_argument_exception", "reason": "x"}});
        assert_eq!(
            error_text(&cause),
            "mapper_parsing_exception: failed (caused by illegal_argument_exception: x)"
        );
    }
}
