//! Sending to Telegram through the Bot API's `sendMessage`, and reading its answers into
//! `SendOutcome`s. The token lives only in the request path and never in an error or log line.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

use super::{Channel, Outgoing, SendOutcome, describe_reqwest_error};
use crate::domain::ChannelKind;

pub struct TelegramChannel {
    client: reqwest::Client,
    api_url: String,
    token: SecretString,
}

impl TelegramChannel {
    pub fn new(client: reqwest::Client, api_url: &str, token: SecretString) -> Self {
        TelegramChannel {
            client,
            api_url: api_url.trim_end_matches('/').to_string(),
            token,
        }
    }
}

#[async_trait]
impl Channel for TelegramChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Telegram
    }

    async fn send(&self, message: &Outgoing) -> SendOutcome {
        let url = format!(
            "{}/bot{}/sendMessage",
            self.api_url,
            self.token.expose_secret()
        );
        let body = json!({
            "chat_id": message.address,
            "text": message.text,
            "disable_notification": message.silent,
            "link_preview_options": {"is_disabled": true},
        });
        let response = match self.client.post(url).json(&body).send().await {
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
struct ApiAnswer {
    ok: bool,
    #[serde(default)]
    result: Option<SentMessage>,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<ResponseParameters>,
}

#[derive(Deserialize)]
struct SentMessage {
    message_id: i64,
}

#[derive(Deserialize)]
struct ResponseParameters {
    retry_after: Option<u64>,
    migrate_to_chat_id: Option<i64>,
}

/// Descriptions that mean the recipient cannot be reached again (they arrive under 400 and 403,
/// and teloxide turns some of them into `ApiError::Unknown`, so the text is what counts).
const GONE: [&str; 6] = [
    "bot was blocked by the user",
    "user is deactivated",
    "chat not found",
    "bot can't initiate conversation",
    "bot was kicked",
    "peer_id_invalid",
];

/// Reads a Bot API answer (HTTP status and body) into a `SendOutcome`.
pub fn classify(status: u16, body: &[u8]) -> SendOutcome {
    let answer: ApiAnswer = match serde_json::from_slice(body) {
        Ok(a) => a,
        Err(_) if status >= 500 => return SendOutcome::Transient(format!("HTTP {status}")),
        Err(e) => {
            return SendOutcome::Transient(format!("HTTP {status}, unreadable answer: {e}"));
        }
    };
    if answer.ok {
        return SendOutcome::Sent {
            platform_id: answer.result.map(|m| m.message_id.to_string()),
        };
    }
    let code = answer.error_code.unwrap_or(status);
    let description = answer.description.unwrap_or_default();
    let reason = format!("{code}: {description}");
    if let Some(after) = answer.parameters.as_ref().and_then(|p| p.retry_after) {
        return SendOutcome::LaneThrottled {
            after: Duration::from_secs(after),
            reason,
        };
    }
    if code == 429 {
        return SendOutcome::LaneThrottled {
            after: Duration::from_secs(1),
            reason,
        };
    }
    if answer
        .parameters
        .as_ref()
        .and_then(|p| p.migrate_to_chat_id)
        .is_some()
    {
        // The group became a supergroup; citizens subscribe in private chats, so this is rare.
        return SendOutcome::Permanent(reason);
    }
    let lower = description.to_lowercase();
    if GONE.iter().any(|g| lower.contains(g)) {
        return SendOutcome::RecipientGone(reason);
    }
    if code >= 500 || status >= 500 {
        return SendOutcome::Transient(reason);
    }
    SendOutcome::Permanent(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/telegram/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn a_sent_message_keeps_its_id() {
        let out = classify(200, &fixture("sendMessage_response_ok.json"));
        assert!(
            matches!(
                out,
                SendOutcome::Sent {
                    platform_id: Some(_)
                }
            ),
            "{out:?}"
        );
    }

    #[test]
    fn blocked_deactivated_and_unknown_chats_are_gone() {
        for (status, name) in [
            (403, "error_403_bot_blocked_by_user.json"),
            (403, "error_403_user_is_deactivated.json"),
            (400, "error_400_chat_not_found.json"),
        ] {
            let out = classify(status, &fixture(name));
            assert!(
                matches!(out, SendOutcome::RecipientGone(_)),
                "{name}: {out:?}"
            );
        }
        let unknown = br#"{"ok":false,"error_code":403,"description":"Forbidden: bot can't initiate conversation with a user"}"#;
        assert!(matches!(
            classify(403, unknown),
            SendOutcome::RecipientGone(_)
        ));
    }

    #[test]
    fn too_many_requests_pauses_the_lane_for_retry_after() {
        let out = classify(429, &fixture("error_429_too_many_requests.json"));
        assert_eq!(
            out,
            SendOutcome::LaneThrottled {
                after: Duration::from_secs(2282),
                reason: "429: Too Many Requests: retry after 2282".into()
            }
        );
    }

    #[test]
    fn server_errors_are_transient_and_bad_requests_permanent() {
        assert!(matches!(
            classify(502, b"<html>bad gateway</html>"),
            SendOutcome::Transient(_)
        ));
        let bad =
            br#"{"ok":false,"error_code":400,"description":"Bad Request: message text is empty"}"#;
        assert!(matches!(classify(400, bad), SendOutcome::Permanent(_)));
        let migrated = fixture("error_400_group_chat_migrated.json");
        assert!(matches!(
            classify(400, &migrated),
            SendOutcome::Permanent(_)
        ));
    }
}
