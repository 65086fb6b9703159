//! Sending through the WhatsApp Business Cloud API (`POST {base}/{phone-number-id}/messages`
//! with a bearer token) and reading Graph API answers into `SendOutcome`s. Inside a person's
//! 24-hour window a broadcast goes as free text; outside it, as the approved template of its
//! kind with the text, flattened to a valid template parameter, as its one body parameter.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Attached, Channel, MediaFile, Outgoing, SendOutcome, Uploaded, describe_reqwest_error,
    parts_with_media,
};
use crate::domain::media::MediaKind;
use crate::domain::text::{MESSAGE_MAX, utf16_weight};
use crate::domain::{BroadcastKind, ChannelKind, now_ms};

/// Free text is allowed this long after the person's last message.
pub const WINDOW_MS: i64 = crate::domain::WHATSAPP_WINDOW_MS;
/// Meta's limit for one template parameter.
pub use crate::domain::TEMPLATE_PARAM_MAX;

/// An approved message template: `name:language`, e.g. `stadt_meldung:de`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    pub language: String,
}

impl Template {
    pub fn parse(s: &str) -> Result<Template, String> {
        match s.trim().split_once(':') {
            Some((n, l)) if !n.is_empty() && !l.is_empty() && !n.contains(char::is_whitespace) => {
                Ok(Template {
                    name: n.to_string(),
                    language: l.to_string(),
                })
            }
            _ => Err(format!(
                "invalid template '{s}', expected name:language like stadt_meldung:de"
            )),
        }
    }
}

/// The approved templates a broadcast goes with outside the 24-hour window: one per kind for
/// text, and one each with an image or a document header for a broadcast that carries one
/// (Meta refuses a header a template was not approved with, and a template approved with one
/// without it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Templates {
    pub by_kind: HashMap<BroadcastKind, Template>,
    /// Image header, one body parameter.
    pub picture: Option<Template>,
    /// Document header, one body parameter.
    pub document: Option<Template>,
}

impl From<HashMap<BroadcastKind, Template>> for Templates {
    fn from(by_kind: HashMap<BroadcastKind, Template>) -> Templates {
        Templates {
            by_kind,
            ..Templates::default()
        }
    }
}

pub struct WhatsappChannel {
    client: reqwest::Client,
    messages_url: String,
    media_url: String,
    /// `…/v23.0`: media are fetched at `{api_url}/{media-id}`.
    api_url: String,
    token: SecretString,
    templates: Templates,
}

impl WhatsappChannel {
    pub fn new(
        client: reqwest::Client,
        api_url: &str,
        phone_number_id: &str,
        token: SecretString,
        templates: impl Into<Templates>,
    ) -> Self {
        WhatsappChannel {
            client,
            messages_url: format!(
                "{}/{phone_number_id}/messages",
                api_url.trim_end_matches('/')
            ),
            media_url: format!("{}/{phone_number_id}/media", api_url.trim_end_matches('/')),
            api_url: api_url.trim_end_matches('/').to_string(),
            token,
            templates: templates.into(),
        }
    }

    /// Posts one message body; the answer classified.
    pub async fn post(&self, body: &Value) -> SendOutcome {
        let response = match self
            .client
            .post(&self.messages_url)
            .bearer_auth(self.token.expose_secret())
            .json(body)
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

    /// The body for a broadcast to `message.address`: free text inside the window, else the
    /// template of its kind; `Err` when a template is needed and none is configured.
    pub fn broadcast_body(&self, message: &Outgoing, now: i64) -> Result<Value, String> {
        if free_text(message, now) {
            let mut body = match &message.media {
                Some(media) => media_body(&message.address, media, &message.text)?,
                None => text_body(&message.address, &message.text),
            };
            if let Some(reply_to) = &message.reply_to {
                // A correction or retraction quotes the message it is about (WhatsApp cannot edit);
                // the text after a picture answers the picture.
                body["context"] = json!({"message_id": reply_to});
            }
            return Ok(body);
        }
        // A picture or document goes in the template approved with its kind of header; without
        // one, the text goes alone in its kind's template (the picture is on the archive page).
        let media = message.media.as_ref();
        let media_template = media.and_then(|m| match m.kind {
            MediaKind::Picture => self.templates.picture.as_ref(),
            MediaKind::Document => self.templates.document.as_ref(),
        });
        let (template, header) = match media_template {
            Some(t) => (Some(t), media),
            None => (self.text_template(message), None),
        };
        let Some(t) = template else {
            return Err(format!(
                "outside the 24-hour window and no template for {} is configured (AMTSBOTE_WHATSAPP_TEMPLATE_{})",
                message.kind.as_str(),
                message.kind.as_str().to_uppercase()
            ));
        };
        Ok(json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.address,
            "type": "template",
            "template": {
                "name": t.name,
                "language": {"code": t.language},
                "components": template_components(&message.text, header)?,
            },
        }))
    }

    /// The text template of `message`'s kind. A correction or retraction goes with the template
    /// of what it is about, unless it has one of its own.
    fn text_template(&self, message: &Outgoing) -> Option<&Template> {
        let fallback = if message.kind == BroadcastKind::Retraction
            || message.priority == crate::domain::Priority::Alert
        {
            BroadcastKind::Alert
        } else {
            BroadcastKind::Announcement
        };
        self.templates.by_kind.get(&message.kind).or_else(|| {
            message
                .kind
                .is_notice()
                .then(|| self.templates.by_kind.get(&fallback))
                .flatten()
        })
    }

    /// Uploads a medium to `/{phone-number-id}/media` (multipart); the answer's `id` is what
    /// every send names.
    pub async fn upload_media(&self, file: MediaFile) -> Result<String, SendOutcome> {
        let size = file.bytes.len() as u64;
        let part = reqwest::multipart::Part::bytes(file.bytes)
            .file_name(file.file_name)
            .mime_str(&file.mime)
            .map_err(|e| SendOutcome::Permanent(format!("media type {}: {e}", file.mime)))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", file.mime.clone())
            .part("file", part);
        // A few MB take longer than a message: a second per 100 kB on top of the usual.
        let timeout = Duration::from_secs(30 + size / 100_000);
        let response = self
            .client
            .post(&self.media_url)
            .bearer_auth(self.token.expose_secret())
            .multipart(form)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| SendOutcome::Transient(describe_reqwest_error(e)))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| SendOutcome::Transient(describe_reqwest_error(e)))?;
        #[derive(Deserialize)]
        struct MediaId {
            id: String,
        }
        match serde_json::from_slice::<MediaId>(&bytes) {
            Ok(m) if (200..300).contains(&status) && !m.id.is_empty() => Ok(m.id),
            _ => Err(match classify(status, &bytes) {
                SendOutcome::Sent { .. } => {
                    SendOutcome::Transient(format!("HTTP {status}: the upload named no media id"))
                }
                other => other,
            }),
        }
    }
}

#[async_trait::async_trait]
impl crate::services::media::FetchFile for WhatsappChannel {
    /// `GET /{media-id}` names a short-lived URL; the file is fetched from it with the same
    /// token (Meta's documented way).
    async fn fetch(
        &self,
        file: &crate::domain::media::ChatFile,
        max: u64,
    ) -> Result<Vec<u8>, String> {
        if file.id.is_empty() || !file.id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err("the media id is not one WhatsApp gives".into());
        }
        let response = self
            .client
            .get(format!("{}/{}", self.api_url, file.id))
            .bearer_auth(self.token.expose_secret())
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(describe_reqwest_error)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(describe_reqwest_error)?;
        #[derive(Deserialize)]
        struct MediaUrl {
            url: String,
            #[serde(default)]
            file_size: Option<u64>,
        }
        let found = match serde_json::from_slice::<MediaUrl>(&bytes) {
            Ok(m) if (200..300).contains(&status) => m,
            _ => return Err(classify(status, &bytes).reason()),
        };
        if let Some(size) = found.file_size.filter(|s| *s > max) {
            return Err(format!(
                "the file is {}; at most {} can be fetched",
                crate::domain::media::human_size(size),
                crate::domain::media::human_size(max)
            ));
        }
        let url = url::Url::parse(&found.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http"))
            .ok_or("WhatsApp named no usable address for the file")?;
        let response = self
            .client
            .get(url)
            .bearer_auth(self.token.expose_secret())
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .map_err(describe_reqwest_error)?;
        if !response.status().is_success() {
            return Err(format!(
                "WhatsApp answered HTTP {} for the file",
                response.status().as_u16()
            ));
        }
        super::body_within(response, max).await
    }
}

/// A template's components: a medium as its header (for a template approved with one), the
/// text as the body's one parameter.
fn template_components(text: &str, header: Option<&Attached>) -> Result<Value, String> {
    let body =
        json!({"type": "body", "parameters": [{"type": "text", "text": template_parameter(text)}]});
    let Some(media) = header else {
        return Ok(json!([body]));
    };
    let id = media
        .platform_ref
        .as_deref()
        .ok_or("the medium was not uploaded before")?;
    let header = match media.kind {
        MediaKind::Picture => json!({"type": "image", "image": {"id": id}}),
        MediaKind::Document => {
            json!({"type": "document", "document": {"id": id, "filename": media.file_name}})
        }
    };
    Ok(json!([{"type": "header", "parameters": [header]}, body]))
}

/// A picture or document by its uploaded id, with the text as caption when there is one.
pub fn media_body(to: &str, media: &Attached, caption: &str) -> Result<Value, String> {
    let id = media
        .platform_ref
        .as_deref()
        .ok_or("the medium was not uploaded before")?;
    let (kind, mut object) = match media.kind {
        MediaKind::Picture => ("image", json!({"id": id})),
        MediaKind::Document => ("document", json!({"id": id, "filename": media.file_name})),
    };
    if !caption.is_empty() {
        object["caption"] = json!(caption);
    }
    Ok(json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": kind,
        kind: object,
    }))
}

/// Whether `message` may go as free text at `now`: inside the 24-hour window, and not refused
/// as free text before.
fn free_text(message: &Outgoing, now: i64) -> bool {
    let in_window = message.last_inbound_at.is_some_and(|t| now - t < WINDOW_MS);
    in_window && !message.force_template
}

pub fn text_body(to: &str, text: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"preview_url": false, "body": text},
    })
}

/// The approval template to `to`: its body's two parameters are the text to approve (made a
/// valid parameter) and the code the approver answers with (`/confirm CODE`).
pub fn approval_template_body(to: &str, template: &Template, text: &str, code: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {
            "name": template.name,
            "language": {"code": template.language},
            "components": [{"type": "body", "parameters": [
                {"type": "text", "text": template_parameter(text)},
                {"type": "text", "text": code},
            ]}],
        },
    })
}

#[async_trait]
impl Channel for WhatsappChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Whatsapp
    }

    fn parts(&self, message: &Outgoing, now: i64) -> Vec<Outgoing> {
        if free_text(message, now) {
            parts_with_media(message, MESSAGE_MAX, utf16_weight)
        } else {
            // A template takes the text as one parameter, cut at 1,024 characters: one message.
            // Pinned as a template, so that a window opening meanwhile cannot turn it into free
            // text too long for one message.
            vec![Outgoing {
                force_template: true,
                ..message.clone()
            }]
        }
    }

    async fn send(&self, message: &Outgoing) -> SendOutcome {
        match self.broadcast_body(message, now_ms()) {
            Ok(body) => self.post(&body).await,
            Err(reason) => SendOutcome::Permanent(reason),
        }
    }

    async fn upload(&self, file: MediaFile, _message: &Outgoing) -> Uploaded {
        match self.upload_media(file).await {
            Ok(id) => Uploaded {
                platform_ref: Some(id),
                sent: None,
            },
            Err(outcome) => Uploaded {
                platform_ref: None,
                sent: Some(outcome),
            },
        }
    }
}

pub use crate::domain::template_parameter;

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
pub const UNDELIVERABLE: i64 = 131026;
pub const OUTSIDE_WINDOW: i64 = 131047;

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
            131048 => {
                tracing::error!(reason = %reason, "WhatsApp reports spam rate limiting: messages are being reported or blocked");
                SendOutcome::LaneThrottled {
                    after: Duration::from_secs(60),
                    reason,
                }
            }
            // Meta names no wait; back off for a few seconds.
            c if THROTTLE_CODES.contains(&c) || status == 429 => SendOutcome::LaneThrottled {
                after: Duration::from_secs(5),
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

    #[test]
    fn a_picture_by_id_is_the_request_the_platform_documents() {
        let recorded: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/whatsapp/send_request_image_id_caption.json"
        ))
        .unwrap();
        let media = Attached {
            media_id: 1,
            kind: MediaKind::Picture,
            mime: "image/jpeg".into(),
            file_name: "Bild.jpg".into(),
            platform_ref: Some("75457812459735784".into()),
        };
        assert_eq!(
            media_body("121212121212", &media, "See the image").unwrap(),
            recorded
        );
    }

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
            SendOutcome::Permanent(reason) => assert!(
                reason.starts_with("100: (#100) Invalid parameter"),
                "{reason}"
            ),
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
        for code in [4, 80007, 131048] {
            let body = format!(r#"{{"error":{{"code":{code},"message":"x"}}}}"#);
            assert!(
                matches!(
                    classify(400, body.as_bytes()),
                    SendOutcome::LaneThrottled { .. }
                ),
                "{code}"
            );
        }
    }

    #[test]
    fn a_long_multi_line_text_becomes_a_valid_template_parameter() {
        let text = "Hochwasser am Neckar.\n\n\tDie Uferstraße ist gesperrt.     Bitte meiden Sie das Gebiet. ".repeat(30);
        let p = template_parameter(&text);
        assert!(
            p.chars().count() <= TEMPLATE_PARAM_MAX,
            "{}",
            p.chars().count()
        );
        assert!(!p.contains('\n') && !p.contains('\t') && !p.contains("     "));
        assert!(p.ends_with(".…"), "cut after a sentence: {p}");
        assert_eq!(template_parameter("Kurz\nund gut"), "Kurz und gut");
    }

    #[test]
    fn free_text_goes_in_parts_and_a_template_as_one() {
        let templates = [(
            BroadcastKind::Announcement,
            Template::parse("stadt:de").unwrap(),
        )];
        let channel = WhatsappChannel::new(
            reqwest::Client::new(),
            "http://127.0.0.1:9/v23.0",
            "1234",
            SecretString::from("t"),
            templates.into_iter().collect::<HashMap<_, _>>(),
        );
        let now = now_ms();
        let message = Outgoing {
            address: "4915100000000".into(),
            text: "Die Uferstraße ist gesperrt. ".repeat(350), // 10,150 characters
            kind: BroadcastKind::Announcement,
            priority: crate::domain::Priority::Normal,
            silent: false,
            language: "de".into(),
            last_inbound_at: Some(now - 1000),
            force_template: false,
            reply_to: None,
            edit: None,
            notice: true,
            media: None,
        };
        let parts = channel.parts(&message, now);
        assert_eq!(parts.len(), 3);
        for part in &parts {
            assert!(part.text.chars().count() <= MESSAGE_MAX);
            let body = channel.broadcast_body(part, now).unwrap();
            assert_eq!(body["type"], "text");
        }

        let outside = channel.parts(&message, now + WINDOW_MS);
        assert_eq!(outside.len(), 1);
        assert_eq!(
            outside[0].text, message.text,
            "the whole text, cut in the template"
        );
        // Pinned as a template: a window opened meanwhile does not make it free text.
        let body = channel.broadcast_body(&outside[0], now).unwrap();
        assert_eq!(body["type"], "template");
        let parameter = body["template"]["components"][0]["parameters"][0]["text"].as_str();
        assert!(parameter.is_some_and(|p| p.chars().count() <= TEMPLATE_PARAM_MAX));
    }

    #[test]
    fn templates_are_name_and_language() {
        assert_eq!(
            Template::parse("stadt_meldung:de"),
            Ok(Template {
                name: "stadt_meldung".into(),
                language: "de".into()
            })
        );
        assert!(Template::parse("stadt_meldung").is_err());
    }
}
