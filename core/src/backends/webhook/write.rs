//! Webhook backend: each batch is one POST of a JSON array of events, optionally signed with
//! HMAC-SHA256 so the receiver can tell it came from us and was not altered.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::backends::http::{to_json, Endpoint};
use crate::backends::{Backend, DeliveryError};
use crate::config::WebhookConfig;
use crate::pipeline::Batch;

/// Lets a receiver check it got the whole batch without parsing it first.
const BATCH_SIZE_HEADER: &str = "X-Wafermon-Batch-Size";

pub struct Webhook {
    endpoint: Endpoint,
    headers: Vec<(String, String)>,
    secret: Option<Vec<u8>>,
    signature_header: String,
}

impl Webhook {
    pub fn new(config: WebhookConfig) -> crate::Result<Self> {
        // Headers we set ourselves win: a configured duplicate would be sent twice and could
        // make a receiver read the wrong signature or content type.
        let mut ours = vec![
            "content-type".to_string(),
            BATCH_SIZE_HEADER.to_ascii_lowercase(),
            config.signature_header.to_ascii_lowercase(),
        ];
        if config.http.token.is_some() {
            ours.push("authorization".into());
        }
        let headers = config
            .headers
            .into_iter()
            .filter(|(name, _)| !ours.contains(&name.to_ascii_lowercase()))
            .collect();
        Ok(Webhook {
            endpoint: Endpoint::new(&config.http)?,
            headers,
            secret: config.secret.map(|s| s.expose().as_bytes().to_vec()),
            signature_header: config.signature_header,
        })
    }
}

/// `sha256=<hex>` over exactly the bytes sent, the GitHub-style form receivers know.
fn signature(secret: &[u8], body: &[u8]) -> Result<String, DeliveryError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret)
        .map_err(|e| DeliveryError::permanent(format!("cannot use webhook secret: {e}")))?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

impl Backend for Webhook {
    fn send(&mut self, events: &Batch) -> Result<(), DeliveryError> {
        let body = to_json(events)?;
        let count = events.len().to_string();
        let signed = match &self.secret {
            Some(secret) => Some(signature(secret, &body)?),
            None => None,
        };
        let mut headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        headers.push((BATCH_SIZE_HEADER, &count));
        if let Some(sig) = &signed {
            headers.push((&self.signature_header, sig));
        }
        self.endpoint.post(&body, "application/json", &headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_vector() {
        // RFC 4231 test case 2.
        let sig = signature(b"Jefe", b"what do ya want for nothing?").unwrap();
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
