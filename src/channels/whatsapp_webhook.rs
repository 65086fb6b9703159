//! The WhatsApp webhook (`/webhooks/whatsapp`): Meta's GET handshake, and POSTed events checked
//! against `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the app secret, compared in
//! constant time) before anything is read. Incoming messages go through the same conversation
//! as Telegram, once per message id (remembered as a keyed hash only); status events move a
//! sent message forward only.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::intake::{Followup, Intake};
use super::whatsapp::{OUTSIDE_WINDOW, UNDELIVERABLE, WhatsappChannel, text_body};
use super::{Addressee, ReplyPace, SendOutcome};
use crate::conversation::{Button, Conversation, Incoming, Input, Reply};
use crate::domain::text::{MESSAGE_MAX, split, utf16_weight};
use crate::domain::{ChannelKind, LateFailure, PlatformStatus};
use crate::i18n::Texts;
use crate::store::{StatusApplied, Store, StoreError};

/// Larger bodies are refused with 413 before they are read further.
pub const MAX_BODY: usize = 1024 * 1024;

pub struct WebhookState {
    pub app_secret: SecretString,
    pub verify_token: SecretString,
    pub store: Arc<dyn Store>,
    pub conversation: Arc<Conversation>,
    pub texts: Arc<Texts>,
    /// Sends the conversation's answers.
    pub channel: Arc<WhatsappChannel>,
    /// Where messages wait to be handled: at once, in order per chat, staff first.
    pub intake: Arc<Intake>,
    /// The WhatsApp lane's budget, which the answers draw on.
    pub pace: Arc<dyn ReplyPace>,
}

pub fn router(state: Arc<WebhookState>) -> Router {
    Router::new()
        .route("/webhooks/whatsapp", get(handshake).post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// True when `header` is `sha256=<hex>` of the HMAC-SHA256 of `body` keyed with `secret`.
pub fn signature_valid(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(given) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

async fn handshake(
    State(state): State<Arc<WebhookState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mode_ok = q.get("hub.mode").is_some_and(|m| m == "subscribe");
    let token_ok = q.get("hub.verify_token").is_some_and(|t| {
        bool::from(
            t.as_bytes()
                .ct_eq(state.verify_token.expose_secret().as_bytes()),
        )
    });
    match (mode_ok && token_ok, q.get("hub.challenge")) {
        (true, Some(challenge)) => (StatusCode::OK, challenge.clone()).into_response(),
        _ => {
            tracing::warn!("WhatsApp webhook handshake refused: wrong mode or verify token");
            StatusCode::FORBIDDEN.into_response()
        }
    }
}

async fn receive(
    State(state): State<Arc<WebhookState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if !signature_valid(state.app_secret.expose_secret().as_bytes(), &body, header) {
        tracing::warn!(
            signed = header.is_some(),
            "WhatsApp webhook with a missing or wrong signature; ignored"
        );
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let payload = match read_body(&body) {
        Ok(p) => p,
        Err(BodyError::NotJson(e)) => {
            tracing::warn!(error = %e, "WhatsApp webhook body is not JSON; ignored");
            return (StatusCode::BAD_REQUEST, "malformed JSON").into_response();
        }
        Err(BodyError::Shape(e)) => {
            tracing::info!(error = %e, "WhatsApp webhook of a shape we do not handle; ignored");
            return StatusCode::OK.into_response();
        }
    };
    match process(&state, payload).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => {
            // Meta retries what we do not acknowledge; handling is idempotent on message ids.
            tracing::error!(error = %e, "WhatsApp webhook could not be processed; Meta will retry");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Why a verified body is not read further.
#[derive(Debug)]
pub enum BodyError {
    /// Not JSON at all (answered 400).
    NotJson(serde_json::Error),
    /// JSON of a shape we do not handle (acknowledged, so that Meta does not retry it).
    Shape(serde_json::Error),
}

/// Reads a body whose signature was checked. Pure (no I/O), so the fuzzer reaches it.
pub fn read_body(body: &[u8]) -> Result<Payload, BodyError> {
    let value: Value = serde_json::from_slice(body).map_err(BodyError::NotJson)?;
    serde_json::from_value(value).map_err(BodyError::Shape)
}

/// One message of a webhook, as the conversation reads it.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    /// Meta's message id (`wamid…`): handling is idempotent on it.
    pub id: String,
    pub incoming: Incoming,
    /// When the person wrote it (ms since the epoch), if Meta says so in a readable way.
    pub sent_at_ms: Option<i64>,
}

impl Payload {
    /// The messages in the order Meta lists them (statuses and errors are not messages).
    pub fn messages(&self) -> impl Iterator<Item = InboundMessage> + '_ {
        self.entry
            .iter()
            .flat_map(|e| &e.changes)
            .flat_map(|c| &c.value.messages)
            .map(read_message)
    }
}

/// A webhook's events as Meta sends them (only the fields we read).
#[derive(Debug, Deserialize)]
pub struct Payload {
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
struct Change {
    #[serde(default)]
    value: ChangeValue,
}

#[derive(Debug, Default, Deserialize)]
struct ChangeValue {
    #[serde(default)]
    messages: Vec<InMessage>,
    #[serde(default)]
    statuses: Vec<StatusEvent>,
    #[serde(default)]
    errors: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct InMessage {
    from: String,
    id: String,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    text: Option<TextBody>,
    #[serde(default)]
    interactive: Option<Interactive>,
    #[serde(default)]
    button: Option<QuickReply>,
    /// A shared location; read leniently so that a bad one gets an answer, not a 400.
    #[serde(default)]
    location: Option<Value>,
    /// Set on a forwarded message (`forwarded`, `frequently_forwarded`) or a reply.
    #[serde(default)]
    context: Option<InContext>,
    /// A picture (`type: image`) or a document, by its media id.
    #[serde(default)]
    image: Option<InMedia>,
    #[serde(default)]
    document: Option<InMedia>,
}

#[derive(Debug, Deserialize)]
struct InMedia {
    id: String,
    #[serde(default)]
    mime_type: Option<String>,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    filename: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
struct InContext {
    #[serde(default)]
    forwarded: bool,
    #[serde(default)]
    frequently_forwarded: bool,
}

#[derive(Debug, Deserialize)]
struct TextBody {
    body: String,
}

#[derive(Debug, Deserialize)]
struct Interactive {
    #[serde(default)]
    button_reply: Option<Choice>,
    #[serde(default)]
    list_reply: Option<Choice>,
}

#[derive(Debug, Deserialize)]
struct Choice {
    id: String,
}

#[derive(Debug, Deserialize)]
struct QuickReply {
    #[serde(default)]
    payload: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct StatusEvent {
    id: String,
    status: String,
    /// The number the message went to.
    #[serde(default)]
    recipient_id: Option<String>,
    #[serde(default)]
    errors: Vec<StatusError>,
}

#[derive(Debug, Deserialize)]
struct StatusError {
    code: i64,
    #[serde(default)]
    title: Option<String>,
}

async fn process(state: &WebhookState, payload: Payload) -> Result<(), StoreError> {
    for change in payload.entry.into_iter().flat_map(|e| e.changes) {
        for err in &change.value.errors {
            tracing::error!(error = %err, "WhatsApp reports an error for the number");
        }
        for status in change.value.statuses {
            apply_status(state, status).await?;
        }
        for message in change.value.messages {
            let from = message.from.trim().to_string();
            let now = crate::domain::now_ms();
            if !state
                .store
                .claim_inbound(ChannelKind::Whatsapp, &from, &message.id, now)
                .await?
            {
                tracing::debug!("WhatsApp message seen before; ignored");
                continue;
            }
            match through_intake(state, message).await {
                Ok(()) => {}
                Err((e, id)) => {
                    // Not recorded as handled: Meta's retry of this message gets through.
                    if let Err(release) = state.store.release_inbound(&id).await {
                        tracing::warn!(error = %release, "the claim on a WhatsApp message stays until it goes stale");
                    }
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

/// Hands one claimed message to the intake and waits until it is handled (not until its
/// answers are sent: they follow in the chat's turn, within the lane's budget, and are lost
/// with the process as before: what the message did is in the database).
async fn through_intake(
    state: &WebhookState,
    message: InMessage,
) -> Result<(), (StoreError, String)> {
    let incoming = read_message(&message).incoming;
    let to = super::intake::addressee(&*state.store, &incoming).await;
    let chat = format!("{}:{}", ChannelKind::Whatsapp, incoming.chat);
    let (handled, outcome) = tokio::sync::oneshot::channel();
    let id = message.id.clone();
    let job = {
        let (conversation, store) = (state.conversation.clone(), state.store.clone());
        let (channel, texts, pace) = (
            state.channel.clone(),
            state.texts.clone(),
            state.pace.clone(),
        );
        Box::pin(async move {
            match handle_message(&conversation, &*store, &message).await {
                Ok(replies) => {
                    let _ = handled.send(Ok(()));
                    let answers: Followup = Box::pin(async move {
                        render(&channel, &texts, &*pace, to, replies).await;
                    });
                    Some(answers)
                }
                Err(e) => {
                    let _ = handled.send(Err(e));
                    None
                }
            }
        })
    };
    state.intake.submit(chat, to, job).await;
    match outcome.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err((e, id)),
        Err(_) => Err((
            StoreError::Corrupt("the message's handling ended before it was done".into()),
            id,
        )),
    }
}

/// Hands one claimed message to the conversation and records it as handled; the answers are for
/// the caller to send once that is written.
async fn handle_message(
    conversation: &Conversation,
    store: &dyn Store,
    message: &InMessage,
) -> Result<Vec<Reply>, StoreError> {
    let InboundMessage {
        incoming,
        sent_at_ms,
        ..
    } = read_message(message);
    let replies = conversation.handle(&incoming).await;
    // The person's 24-hour window opens with their own message's time.
    let at = sent_at_ms.unwrap_or_else(crate::domain::now_ms);
    // One transaction: the window and "handled" are written together or not at all.
    store
        .inbound_handled(ChannelKind::Whatsapp, &incoming.sender, &message.id, at)
        .await?;
    Ok(replies)
}

/// A message as the conversation reads it: text, a pressed button, or (pictures, voice,
/// locations) an empty text that the conversation answers with its help pointer.
fn read_message(message: &InMessage) -> InboundMessage {
    let forwarded = message
        .context
        .as_ref()
        .is_some_and(|c| c.forwarded || c.frequently_forwarded);
    let file = message
        .image
        .as_ref()
        .map(|m| (m, true))
        .or(message.document.as_ref().map(|m| (m, false)));
    let input = match (&message.text, &message.interactive, &message.button) {
        (None, None, None) if let Some((m, picture)) = file => Input::Attachment {
            caption: m.caption.clone().unwrap_or_default(),
            file: crate::domain::media::ChatFile {
                id: m.id.clone(),
                name: m.filename.clone(),
                mime: m.mime_type.clone(),
                size: None,
                picture,
            },
            replied_buttons: Vec::new(),
        },
        (Some(t), _, _) if forwarded => Input::Forwarded {
            text: t.body.clone(),
            from_bot: false,
        },
        (Some(t), _, _) => Input::Text(t.body.clone()),
        (_, Some(i), _) => match i.button_reply.as_ref().or(i.list_reply.as_ref()) {
            Some(c) => Input::Button {
                data: c.id.clone(),
                callback_id: None,
                message_id: None,
            },
            None => Input::Text(String::new()),
        },
        (_, _, Some(b)) => match (&b.payload, &b.text) {
            (Some(p), _) => Input::Button {
                data: p.clone(),
                callback_id: None,
                message_id: None,
            },
            (None, Some(t)) => Input::Text(t.clone()),
            (None, None) => Input::Text(String::new()),
        },
        _ => match &message.location {
            // A coordinate that is no number becomes NaN: the conversation refuses it.
            Some(l) => Input::Location {
                lat: l["latitude"].as_f64().unwrap_or(f64::NAN),
                lon: l["longitude"].as_f64().unwrap_or(f64::NAN),
            },
            // Pictures, voice: the conversation answers with its help pointer.
            None => Input::Text(String::new()),
        },
    };
    let from = message.from.trim().to_string();
    InboundMessage {
        id: message.id.clone(),
        incoming: Incoming {
            channel: ChannelKind::Whatsapp,
            chat: from.clone(),
            sender: from,
            private: true,
            language_hint: None,
            input,
        },
        sent_at_ms: message
            .timestamp
            .as_deref()
            .and_then(|t| t.parse::<i64>().ok())
            // Beyond what milliseconds hold it is no time; the arrival time counts then.
            .and_then(|s| s.checked_mul(1000)),
    }
}

async fn apply_status(state: &WebhookState, event: StatusEvent) -> Result<(), StoreError> {
    let Some(status) = read_status(&event) else {
        tracing::debug!(status = %event.status, "WhatsApp status we do not track; ignored");
        return Ok(());
    };
    // Unknown messages, duplicates and statuses behind a later one change nothing; a status
    // that came before its send's outcome was written is kept until it is.
    let applied = state
        .store
        .record_platform_status_for(&event.id, &status, event.recipient_id.as_deref())
        .await?;
    if let StatusApplied::Applied {
        delivery_id,
        resent: true,
    } = applied
    {
        tracing::info!(
            delivery = delivery_id,
            "outside the 24-hour window; sending again as template"
        );
    }
    Ok(())
}

/// What a status event means for the queue: the WhatsApp error codes read here, once.
fn read_status(event: &StatusEvent) -> Option<PlatformStatus> {
    Some(match event.status.as_str() {
        "sent" => PlatformStatus::Sent,
        "delivered" => PlatformStatus::Delivered,
        "read" => PlatformStatus::Read,
        "failed" => {
            let first = event.errors.first();
            let error = first
                .map(|e| format!("{}: {}", e.code, e.title.as_deref().unwrap_or("")))
                .unwrap_or_else(|| "failed".into());
            let failure = match first.map(|e| e.code) {
                Some(OUTSIDE_WINDOW) => LateFailure::OutsideWindow,
                Some(UNDELIVERABLE) => LateFailure::RecipientGone,
                _ => LateFailure::Refused,
            };
            PlatformStatus::Failed { failure, error }
        }
        _ => return None,
    })
}

/// WhatsApp's limits for interactive messages.
const BUTTON_TITLE_MAX: usize = 20;
const ROW_TITLE_MAX: usize = 24;
const BODY_MAX: usize = 1024;

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", crate::domain::text::prefix_within(s, max - 1))
    }
}

/// The bodies of one reply: text (in parts when longer than one message), up to three reply
/// buttons, or a list (topic choice).
pub fn reply_body(to: &str, text: &str, buttons: &[Vec<Button>], list_button: &str) -> Vec<Value> {
    // WhatsApp's buttons carry no links: a link stands in the text (the conversation puts it
    // there), never as a button.
    let all: Vec<&Button> = buttons
        .iter()
        .flatten()
        .filter(|b| {
            !matches!(
                crate::conversation::command::ButtonData::parse(&b.data),
                Some(crate::conversation::command::ButtonData::Open(_))
            )
        })
        .collect();
    let text_bodies = || {
        split(text, MESSAGE_MAX, utf16_weight)
            .into_iter()
            .map(|part| text_body(to, &part))
    };
    if all.is_empty() {
        return text_bodies().collect();
    }
    let mut bodies = Vec::new();
    let body_text = if text.chars().count() > BODY_MAX {
        bodies.extend(text_bodies());
        "…".to_string()
    } else {
        text.to_string()
    };
    // Topic choices are a list (as WhatsApp users know them); Send/Cancel are reply buttons.
    let topic_choice = all.iter().all(|b| b.data.starts_with("t:"));
    let interactive = if all.len() <= 3 && !topic_choice {
        json!({
            "type": "button",
            "body": {"text": body_text},
            "action": {"buttons": all.iter().map(|b| json!({"type": "reply", "reply": {"id": b.data, "title": clip(&b.label, BUTTON_TITLE_MAX)}})).collect::<Vec<_>>()},
        })
    } else {
        json!({
            "type": "list",
            "body": {"text": body_text},
            "action": {
                "button": clip(list_button, BUTTON_TITLE_MAX),
                "sections": [{"rows": all.iter().take(10).map(|b| json!({"id": b.data, "title": clip(&b.label, ROW_TITLE_MAX)})).collect::<Vec<_>>()}],
            },
        })
    };
    bodies.push(json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "interactive", "interactive": interactive}));
    bodies
}

/// WhatsApp's interactive location request: the person's app offers to send their location.
pub fn location_request(to: &str, text: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "interactive",
        "interactive": {"type": "location_request_message", "body": {"text": clip(text, BODY_MAX)}, "action": {"name": "send_location"}}})
}

/// Sends the conversation's answers to `to`, each message after a turn of the lane's budget
/// (`pace`); WhatsApp cannot edit, so an edit is a new message.
pub async fn render(
    channel: &WhatsappChannel,
    texts: &Texts,
    pace: &dyn ReplyPace,
    to: Addressee,
    replies: Vec<Reply>,
) {
    let addressee = to;
    for reply in replies {
        let bodies = match reply {
            Reply::Send { to, text, buttons }
            | Reply::Edit {
                to, text, buttons, ..
            } => {
                let list_button = texts.get(crate::i18n::DEFAULT_LANGUAGE, "wa-list-button", &[]);
                reply_body(&to, &text, &buttons, &list_button)
            }
            Reply::AskLocation { to, text, .. } => vec![location_request(&to, &text)],
            // An incoming medium's id cannot be sent back; the preview names the medium.
            Reply::AnswerButton { .. } | Reply::Picture { .. } => continue,
        };
        for body in bodies {
            pace.reply_turn(addressee).await;
            match channel.post(&body).await {
                SendOutcome::Sent { .. } => {}
                other => {
                    tracing::warn!(outcome = ?other, "a WhatsApp reply could not be delivered")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/whatsapp/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap_or_default()
    }

    #[test]
    fn the_recorded_signature_vector_checks_out_and_nothing_else_does() {
        let vector: Value =
            serde_json::from_slice(&fixture("x_hub_signature_256_vector.json")).unwrap_or_default();
        let secret = vector["app_secret"].as_str().unwrap_or_default().as_bytes();
        let header = vector["x_hub_signature_256"].as_str();
        let body = fixture("x_hub_signature_256_body.json");
        assert_eq!(body.len(), 511, "the body file must stay byte for byte");
        assert!(signature_valid(secret, &body, header));
        let mut altered = body.clone();
        altered[100] ^= 1;
        assert!(!signature_valid(secret, &altered, header));
        assert!(!signature_valid(b"another secret", &body, header));
        assert!(!signature_valid(secret, &body, None));
        assert!(!signature_valid(secret, &body, Some("sha256=zz")));
        assert!(!signature_valid(
            secret,
            &body,
            header.map(|h| h.trim_start_matches("sha256="))
        ));
    }

    /// A message time beyond what milliseconds can hold overflowed (a panic in debug builds, a
    /// wrapped window time in release): it is no time, so the arrival time counts.
    #[test]
    fn a_message_time_beyond_the_calendar_is_no_time() {
        let body = br#"{"entry":[{"changes":[{"value":{"messages":[
            {"from":" 491234 ","id":"wamid.1","timestamp":"9223372036854775807","text":{"body":"Hi"}},
            {"from":"491234","id":"wamid.2","timestamp":"1653253313","button":{"payload":"t:news"}}
        ]}}]}]}"#;
        let Ok(payload) = read_body(body) else {
            panic!("a readable body");
        };
        let messages: Vec<InboundMessage> = payload.messages().collect();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].sent_at_ms, None);
        assert_eq!(messages[0].incoming.sender, "491234");
        assert_eq!(messages[0].incoming.input, Input::Text("Hi".into()));
        assert_eq!(messages[1].sent_at_ms, Some(1_653_253_313_000));
        assert!(
            matches!(&messages[1].incoming.input, Input::Button { data, .. } if data == "t:news")
        );
        assert!(matches!(read_body(b"{"), Err(BodyError::NotJson(_))));
        assert!(matches!(
            read_body(br#"{"entry":1}"#),
            Err(BodyError::Shape(_))
        ));
    }

    #[test]
    fn failed_statuses_are_read_by_their_code() {
        let event = |status: &str, code: Option<i64>| StatusEvent {
            id: "wamid.1".into(),
            status: status.into(),
            recipient_id: None,
            errors: code
                .map(|code| StatusError {
                    code,
                    title: Some("t".into()),
                })
                .into_iter()
                .collect(),
        };
        let failure = |code| read_status(&event("failed", code)).and_then(|s| s.failure());
        assert_eq!(failure(Some(131047)), Some(LateFailure::OutsideWindow));
        assert_eq!(failure(Some(131026)), Some(LateFailure::RecipientGone));
        assert_eq!(failure(Some(131000)), Some(LateFailure::Refused));
        assert_eq!(failure(None), Some(LateFailure::Refused));
        assert_eq!(
            read_status(&event("failed", Some(131047)))
                .as_ref()
                .and_then(|s| s.error()),
            Some("131047: t")
        );
        assert_eq!(
            read_status(&event("delivered", None)),
            Some(PlatformStatus::Delivered)
        );
        assert_eq!(read_status(&event("deleted", None)), None);
    }

    #[test]
    fn topic_choices_become_a_list_and_confirmations_buttons() {
        let b = |l: &str, d: &str| Button {
            label: l.into(),
            data: d.into(),
        };
        let list = reply_body(
            "49",
            "Themen",
            &[
                vec![b("✅ Nachrichten", "t:news")],
                vec![b("⬜ Verkehr", "t:traffic")],
                vec![b("✅ Warnungen", "t:alerts")],
                vec![b("⬜ Abfall", "t:waste")],
            ],
            "Auswählen",
        );
        assert_eq!(list[0]["interactive"]["type"], "list");
        assert_eq!(
            list[0]["interactive"]["action"]["sections"][0]["rows"][3]["id"],
            "t:waste"
        );
        let buttons = reply_body(
            "49",
            "Vorschau",
            &[vec![b("Senden", "c:ABC"), b("Abbrechen", "x:ABC")]],
            "x",
        );
        assert_eq!(buttons[0]["interactive"]["type"], "button");
        assert_eq!(reply_body("49", "Hallo", &[], "x")[0]["type"], "text");
        // A preview of a long text: the text in parts of one message each, then the buttons.
        let long = "Die Uferstraße ist gesperrt. ".repeat(350);
        let preview = reply_body("49", &long, &[vec![b("Senden", "c:ABC")]], "x");
        assert_eq!(preview.len(), 4);
        assert!(preview[..3].iter().all(|body| {
            body["type"] == "text"
                && body["text"]["body"]
                    .as_str()
                    .is_some_and(|t| t.chars().count() <= MESSAGE_MAX)
        }));
        assert_eq!(preview[3]["type"], "interactive");
        assert_eq!(reply_body("49", &long, &[], "x").len(), 3);
    }
}
