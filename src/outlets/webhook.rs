//! The city's website or CMS: one JSON POST per broadcast, version and retraction, signed with
//! HMAC-SHA256 over the raw body. Headers:
//! - `X-Amtsbote-Delivery`: the delivery's id, the same on every retry (for deduplication);
//! - `X-Amtsbote-Signature`: `sha256=` and the hex HMAC-SHA256 of the raw body with the secret.
//!
//! The body carries `sent_at` (ms), so a receiver can refuse old replays.

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};

use super::{Job, Outlet, OutletError, Remote, classify, transport};
use crate::domain::outlet::{OutletAction, OutletKind};

pub const DELIVERY_HEADER: &str = "X-Amtsbote-Delivery";
pub const SIGNATURE_HEADER: &str = "X-Amtsbote-Signature";

pub struct Webhook {
    name: String,
    client: reqwest::Client,
    url: url::Url,
    secret: SecretString,
}

impl Webhook {
    pub fn new(name: &str, client: reqwest::Client, url: url::Url, secret: SecretString) -> Self {
        Webhook {
            name: name.to_string(),
            client,
            url,
            secret,
        }
    }
}

/// `sha256=<hex>` of `body` under `secret`: what `X-Amtsbote-Signature` carries.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` is the signature of `body` (compared in constant time).
pub fn verify(secret: &[u8], body: &[u8], header: &str) -> bool {
    use subtle::ConstantTimeEq;
    signature(secret, body)
        .as_bytes()
        .ct_eq(header.as_bytes())
        .into()
}

#[async_trait]
impl Outlet for Webhook {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> OutletKind {
        OutletKind::Webhook
    }

    async fn publish(&self, job: &Job) -> Result<Remote, OutletError> {
        let event = match job.action {
            OutletAction::Post => "broadcast",
            OutletAction::Correct => "correction",
            OutletAction::Retract => "retraction",
        };
        let body = serde_json::json!({
            "id": job.key,
            "event": event,
            "broadcast_id": job.broadcast_id,
            "version": job.version,
            "kind": job.kind.as_str(),
            "priority": job.priority.as_str(),
            "topic": job.topic,
            "text": job.text,
            "link": job.link,
            "sent_at": crate::domain::now_ms(),
        });
        let raw = serde_json::to_vec(&body)
            .map_err(|e| OutletError::Permanent(format!("cannot write the body: {e}")))?;
        let r = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(DELIVERY_HEADER, &job.key)
            .header(
                SIGNATURE_HEADER,
                signature(self.secret.expose_secret().as_bytes(), &raw),
            )
            .body(raw)
            .send()
            .await
            .map_err(transport)?;
        let (status, headers) = (r.status(), r.headers().clone());
        if status.is_success() {
            let url = headers
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            return Ok(Remote {
                id: job.key.clone(),
                url,
                reference: None,
            });
        }
        let text = r.text().await.unwrap_or_default();
        Err(classify(status, &headers, &text))
    }

    async fn check(&self) -> Result<String, OutletError> {
        Ok(format!(
            "posts to {} (not tried: a check must not post)",
            self.url.host_str().unwrap_or_default()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_raw_body_in_hex() {
        // RFC 4231, test case 2.
        let sig = signature(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify(b"Jefe", b"what do ya want for nothing?", &sig));
        assert!(!verify(b"Jefe", b"what do ya want for nothing!", &sig));
    }
}
