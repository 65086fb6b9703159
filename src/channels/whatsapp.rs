//! Sending through the WhatsApp Business Cloud API (`POST {base}/{phone-number-id}/messages`
//! with a bearer token) and reading Graph API answers into `SendOutcome`s.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::{Channel, Outgoing, SendOutcome, describe_reqwest_error};
use crate::domain::ChannelKind;

pub struct WhatsappChannel {
    client: reqwest::Client,
    messages_url: String,
    token: SecretString,
}

impl WhatsappChannel {
    pub fn new(
        client: reqwest::Client,
        api_url: &str,
        phone_number_id: &str,
        token: SecretString,
    ) -> Self {
        WhatsappChannel {
            client,
            messages_url: format!(
                "{}/{phone_number_id}/messages",
                api_url.trim_end_matches('/')
            ),
            token,
        }
    }
}

#[async_trait]
impl Channel for WhatsappChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Whatsapp
    }

    async fn send(&self, message: &Outgoing) -> SendOutcome {
        let body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.address,
            "type": "text",
            "text": {"preview_url": false, "body": message.text},
        });
        let response = match self
            .client
            .post(&self.messages_url)
            .bearer_auth(self.token.expose_secret())
            .json(&body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return SendOutcome::Transient(describe_reqwest_error(e)),
        };
        let status = response.status().as_u16();
        match response.bytes().await {
            Ok(bytes) => classify(status, &bytes),
            Err(e) => SendOutcome::Transient(describe_reqwest_error(e)),
        }
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    messages: Vec<MessageRef>,
    #[serde(default)]
    error: Option<GraphError>,
}

#[derive(Deserialize)]
struct MessageRef {
    id: String,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    error_data: Option<ErrorData>,
}

#[derive(Deserialize)]
struct ErrorData {
    #[serde(default)]
    details: Option<String>,
}

/// Lane-wide throttles: the number may send nothing for a while.
const THROTTLE_CODES: [i64; 4] = [4, 80007, 130429, 131048];
/// Pair rate limit: one recipient gets about one message per six seconds.
const PAIR_RATE_LIMIT: i64 = 131056;
const UNDELIVERABLE: i64 = 131026;

/// Reads a Graph API answer (HTTP status and body) into a `SendOutcome`.
pub fn classify(status: u16, body: &[u8]) -> SendOutcome {
    let answer: Answer = match serde_json::from_slice(body) {
        Ok(a) => a,
        Err(_) if status == 429 => {
            return SendOutcome::LaneThrottled {
                after: Duration::from_secs(1),
                reason: "HTTP 429".into(),
            };
        }
        Err(_) if status >= 500 => return SendOutcome::Transient(format!("HTTP {status}")),
        Err(e) => return SendOutcome::Transient(format!("HTTP {status}, unreadable answer: {e}")),
    };
    if let Some(err) = answer.error {
        let details = err.error_data.and_then(|d| d.details).unwrap_or_default();
        let reason = format!("{}: {} {}", err.code, err.message, details)
            .trim_end()
            .to_string();
        return match err.code {
            c if THROTTLE_CODES.contains(&c) || status == 429 => SendOutcome::LaneThrottled {
                // Meta names no wait; back off for a few seconds, growing on repeats.
                after: Duration::from_secs(if c == 131048 { 60 } else { 5 }),
                reason,
            },
            PAIR_RATE_LIMIT => SendOutcome::RecipientThrottled {
                after: Duration::from_secs(6),
                reason,
            },
            UNDELIVERABLE => SendOutcome::RecipientGone(reason),
            _ if status >= 500 => SendOutcome::Transient(reason),
            _ => SendOutcome::Permanent(reason),
        };
    }
    if (200..300).contains(&status) {
        return SendOutcome::Sent {
            platform_id: answer.messages.into_iter().next().map(|m| m.id),
        };
    }
    if status >= 500 {
        SendOutcome::Transient(format!("HTTP {status}"))
    } else {
        SendOutcome::Permanent(format!("HTTP {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/whatsapp/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn a_sent_message_keeps_its_wamid() {
        let out = classify(200, &fixture("send_response_success.json"));
        assert_eq!(
            out,
            SendOutcome::Sent {
                platform_id: Some("wamid.gBGGSFcCNEOPAgkO_KJ55r4w_ww".into())
            }
        );
    }

    #[test]
    fn rate_limit_hit_pauses_the_lane_even_under_500() {
        let out = classify(500, &fixture("send_error_130429_rate_limit.json"));
        assert!(matches!(out, SendOutcome::LaneThrottled { .. }), "{out:?}");
    }

    #[test]
    fn an_invalid_parameter_is_permanent_with_its_reason() {
        match classify(400, &fixture("send_error_100_invalid_parameter.json")) {
            SendOutcome::Permanent(reason) => {
                assert!(
                    reason.starts_with("100: (#100) Invalid parameter"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn undeliverable_is_gone_and_pair_rate_waits_for_that_recipient() {
        let gone = br#"{"error":{"code":131026,"message":"Message undeliverable"}}"#;
        assert!(matches!(classify(400, gone), SendOutcome::RecipientGone(_)));
        let pair = br#"{"error":{"code":131056,"message":"(Business Account, Consumer Account) pair rate limit hit"}}"#;
        assert!(matches!(
            classify(400, pair),
            SendOutcome::RecipientThrottled { .. }
        ));
    }
}
