//! Sending to Telegram with teloxide's `Bot` (on our own HTTP client and time-outs), and reading
//! its errors into `SendOutcome`s. Broadcast text goes out in HTML parse mode, escaped, in parts
//! (`domain::text::split`) when longer than Telegram's 4096 characters. The token lives only
//! inside `Bot` and never reaches an error or log line.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use teloxide::RequestError;
use teloxide::prelude::*;
use teloxide::types::{
    FileId, InputFile, LinkPreviewOptions, Message, MessageId, ParseMode, Recipient,
    ReplyParameters,
};

use super::{Attached, Channel, MediaFile, Outgoing, SendOutcome, Uploaded, parts_with_media};
use crate::domain::ChannelKind;
use crate::domain::media::MediaKind;
use crate::domain::text::{MESSAGE_MAX, utf16_weight};

pub struct TelegramChannel {
    bot: Bot,
    token: SecretString,
}

impl TelegramChannel {
    pub fn new(
        client: reqwest::Client,
        api_url: &str,
        token: SecretString,
    ) -> Result<Self, url::ParseError> {
        Ok(TelegramChannel {
            bot: bot(client, api_url, &token)?,
            token,
        })
    }
}

#[async_trait]
impl crate::services::media::FetchFile for TelegramChannel {
    /// `getFile`, then the file from `{api}/file/bot{token}/{path}` (the Bot API hands out
    /// files up to 20 MB).
    async fn fetch(
        &self,
        file: &crate::domain::media::ChatFile,
        max: u64,
    ) -> Result<Vec<u8>, String> {
        let found = self
            .bot
            .get_file(FileId(file.id.clone()))
            .await
            .map_err(|e| classify(e, &self.token).reason())?;
        if u64::from(found.meta.size) > max {
            return Err(format!(
                "the file is {}; at most {} can be fetched",
                crate::domain::media::human_size(u64::from(found.meta.size)),
                crate::domain::media::human_size(max)
            ));
        }
        let mut url = self.bot.api_url();
        url.set_path(&format!(
            "{}/file/bot{}/{}",
            url.path().trim_end_matches('/'),
            self.token.expose_secret(),
            found.path.trim_start_matches('/')
        ));
        let response = self
            .bot
            .client()
            .get(url)
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .map_err(|e| redact(&super::describe_reqwest_error(e), &self.token))?;
        if !response.status().is_success() {
            return Err(format!(
                "Telegram answered HTTP {} for the file",
                response.status().as_u16()
            ));
        }
        super::body_within(response, max)
            .await
            .map_err(|e| redact(&e, &self.token))
    }
}

/// A teloxide `Bot` on our client, pointed at `api_url` (the official server, a local Bot API
/// server, or a test fake).
pub fn bot(
    client: reqwest::Client,
    api_url: &str,
    token: &SecretString,
) -> Result<Bot, url::ParseError> {
    let url = url::Url::parse(api_url)?;
    Ok(Bot::with_client(token.expose_secret(), client).set_api_url(url))
}

#[async_trait]
impl Channel for TelegramChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Telegram
    }

    /// A correction or retraction is, unless silent, the notice as a reply to the original,
    /// then an edit of the original (when it has its id and the new text fits one message).
    fn parts(&self, message: &Outgoing, _now: i64) -> Vec<Outgoing> {
        if message.media.is_some() {
            return parts_with_media(message, MESSAGE_MAX, escaped_weight);
        }
        let edit = match (&message.edit, &message.reply_to) {
            (Some(text), Some(_))
                if text.chars().map(escaped_weight).sum::<usize>() <= MESSAGE_MAX =>
            {
                Some(Outgoing {
                    text: text.clone(),
                    address: message.address.clone(),
                    language: message.language.clone(),
                    reply_to: message.reply_to.clone(),
                    edit: message.edit.clone(),
                    media: None,
                    ..*message
                })
            }
            _ => None,
        };
        let notice = Outgoing {
            edit: None,
            ..message.clone()
        };
        // The notice first: it is what tells people; the edit (which tells nobody) after it.
        match (edit, message.notice) {
            (Some(edit), true) => super::split_outgoing(&notice, MESSAGE_MAX, escaped_weight)
                .into_iter()
                .chain(std::iter::once(edit))
                .collect(),
            (Some(edit), false) => vec![edit],
            (None, _) => super::split_outgoing(&notice, MESSAGE_MAX, escaped_weight),
        }
    }

    async fn send(&self, message: &Outgoing) -> SendOutcome {
        let chat = match chat_id(message) {
            Ok(chat) => chat,
            Err(outcome) => return outcome,
        };
        // A correction's edit of the original (Telegram can edit; nobody is notified by it).
        if message.edit.is_some() {
            let Some(original) = message
                .reply_to
                .as_deref()
                .and_then(|id| id.parse::<i32>().ok())
                .map(MessageId)
            else {
                return SendOutcome::Permanent("no message to edit".into());
            };
            return self.edit(chat, original, message).await;
        }
        let sent = match &message.media {
            Some(Attached {
                platform_ref: Some(file_id),
                kind,
                ..
            }) => {
                let file = InputFile::file_id(FileId(file_id.clone()));
                self.send_medium(chat, *kind, file, message).await
            }
            Some(_) => {
                return SendOutcome::Permanent("the picture was not uploaded before".into());
            }
            None => {
                let mut request = self
                    .bot
                    .send_message(chat, escape_html(&message.text))
                    .parse_mode(ParseMode::Html)
                    .disable_notification(message.silent)
                    .link_preview_options(no_preview());
                if let Some(reply) = reply_parameters(message) {
                    request = request.reply_parameters(reply);
                }
                request.await
            }
        };
        match sent {
            Ok(m) => SendOutcome::Sent {
                platform_id: Some(m.id.0.to_string()),
            },
            Err(e) => classify(e, &self.token),
        }
    }

    /// The first send carries the file (`sendPhoto` / `sendDocument` as multipart); the
    /// answer names the `file_id` every further send uses.
    async fn upload(&self, file: MediaFile, message: &Outgoing) -> Uploaded {
        let chat = match chat_id(message) {
            Ok(chat) => chat,
            Err(outcome) => {
                return Uploaded {
                    platform_ref: None,
                    sent: Some(outcome),
                };
            }
        };
        let input = InputFile::memory(file.bytes).file_name(file.file_name);
        match self.send_medium(chat, file.kind, input, message).await {
            Ok(m) => {
                let platform_ref = file_id_of(&m);
                if platform_ref.is_none() {
                    tracing::warn!("Telegram took the medium but named no file_id");
                }
                Uploaded {
                    platform_ref,
                    sent: Some(SendOutcome::Sent {
                        platform_id: Some(m.id.0.to_string()),
                    }),
                }
            }
            Err(e) => Uploaded {
                platform_ref: None,
                sent: Some(classify(e, &self.token)),
            },
        }
    }
}

impl TelegramChannel {
    /// `sendPhoto` or `sendDocument` with the message's text as caption.
    async fn send_medium(
        &self,
        chat: Recipient,
        kind: MediaKind,
        file: InputFile,
        message: &Outgoing,
    ) -> Result<Message, RequestError> {
        let caption = (!message.text.is_empty()).then(|| escape_html(&message.text));
        let reply = reply_parameters(message);
        match kind {
            MediaKind::Picture => {
                let mut request = self
                    .bot
                    .send_photo(chat, file)
                    .parse_mode(ParseMode::Html)
                    .disable_notification(message.silent);
                if let Some(caption) = caption {
                    request = request.caption(caption);
                }
                if let Some(reply) = reply {
                    request = request.reply_parameters(reply);
                }
                request.await
            }
            MediaKind::Document => {
                let mut request = self
                    .bot
                    .send_document(chat, file)
                    .parse_mode(ParseMode::Html)
                    .disable_notification(message.silent);
                if let Some(caption) = caption {
                    request = request.caption(caption);
                }
                if let Some(reply) = reply {
                    request = request.reply_parameters(reply);
                }
                request.await
            }
        }
    }
}

/// A chat's numeric id, or a public channel's `@name` (the city's channel outlet).
fn chat_id(message: &Outgoing) -> Result<Recipient, SendOutcome> {
    if message.address.starts_with('@') && message.address.len() > 1 {
        return Ok(Recipient::ChannelUsername(message.address.clone()));
    }
    message
        .address
        .parse::<i64>()
        .map(|id| Recipient::Id(ChatId(id)))
        .map_err(|_| {
            SendOutcome::Permanent(format!("'{}' is not a Telegram chat id", message.address))
        })
}

/// A reply to the message before, which may be gone meanwhile: then it goes as it is.
fn reply_parameters(message: &Outgoing) -> Option<ReplyParameters> {
    let id = message.reply_to.as_deref()?.parse::<i32>().ok()?;
    Some(ReplyParameters::new(MessageId(id)).allow_sending_without_reply())
}

/// The `file_id` of a sent photo (its largest size) or document.
fn file_id_of(m: &Message) -> Option<String> {
    if let Some(sizes) = m.photo() {
        return sizes.last().map(|p| p.file.id.0.clone());
    }
    m.document().map(|d| d.file.id.0.clone())
}

impl TelegramChannel {
    /// Edits `original` to `message.text`. Unchanged counts as done; a message that can no
    /// longer be edited (too old, deleted by the citizen) leaves the notice to tell them, or,
    /// for a silent correction, fails with the reason.
    async fn edit(&self, chat: Recipient, original: MessageId, message: &Outgoing) -> SendOutcome {
        let edited = self
            .bot
            .edit_message_text(chat, original, escape_html(&message.text))
            .parse_mode(ParseMode::Html)
            .link_preview_options(no_preview())
            .await;
        // No id of its own: the delivery keeps its notice's.
        let done = SendOutcome::Sent { platform_id: None };
        match edited {
            Ok(_) => done,
            Err(e) => match classify(e, &self.token) {
                SendOutcome::Permanent(reason) => match edit_refusal(&reason) {
                    Some(EditRefusal::NotModified) => done,
                    // The notice told them already.
                    Some(EditRefusal::NotEditable) if message.notice => done,
                    _ => SendOutcome::Permanent(reason),
                },
                other => other,
            },
        }
    }
}

/// What Telegram said about an edit it did not make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditRefusal {
    /// The text is the one it has: the edit is done.
    NotModified,
    /// Too old, deleted, or not the bot's: it can only be answered.
    NotEditable,
}

/// Reads an edit's refusal from Telegram's description.
pub fn edit_refusal(description: &str) -> Option<EditRefusal> {
    let d = description.to_lowercase();
    if d.contains("message is not modified") {
        Some(EditRefusal::NotModified)
    } else if d.contains("message can't be edited")
        || d.contains("message to edit not found")
        || d.contains("message_id_invalid")
    {
        Some(EditRefusal::NotEditable)
    } else {
        None
    }
}

pub(crate) fn no_preview() -> LinkPreviewOptions {
    LinkPreviewOptions {
        is_disabled: true,
        url: None,
        prefer_small_media: false,
        prefer_large_media: false,
        show_above_text: false,
    }
}

/// Descriptions that mean the recipient cannot be reached again. They arrive under 400 and 403,
/// and teloxide turns some into `ApiError::Unknown`, so the text is what counts.
const GONE: [&str; 6] = [
    "bot was blocked by the user",
    "user is deactivated",
    "chat not found",
    "bot can't initiate conversation",
    "bot was kicked",
    "peer_id_invalid",
];

/// Reads a teloxide error into a `SendOutcome`; `token` is blotted out of any text, to be sure.
pub fn classify(err: RequestError, token: &SecretString) -> SendOutcome {
    match err {
        RequestError::RetryAfter(after) => SendOutcome::LaneThrottled {
            after: after.duration().max(Duration::from_secs(1)),
            reason: format!("429: Too Many Requests: retry after {}", after.seconds()),
        },
        RequestError::MigrateToChatId(to) => SendOutcome::Moved {
            address: to.0.to_string(),
        },
        RequestError::Api(api) => {
            let reason = api.to_string();
            let lower = reason.to_lowercase();
            if GONE.iter().any(|g| lower.contains(g)) {
                SendOutcome::RecipientGone(reason)
            } else if lower.contains("internal server error")
                || lower.contains("bad gateway")
                || lower.contains("gateway timeout")
            {
                SendOutcome::Transient(reason)
            } else {
                SendOutcome::Permanent(reason)
            }
        }
        RequestError::Network(e) => {
            // reqwest's own text carries the request URL, and with it the token: describe the
            // kind and the causes only.
            let kind = if e.is_timeout() {
                "time-out"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "network error"
            };
            let mut text = kind.to_string();
            let mut source = std::error::Error::source(&*e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            SendOutcome::Transient(redact(&text, token))
        }
        // A 5xx with an HTML page arrives here, after teloxide's own pause.
        RequestError::InvalidJson { source, .. } => {
            SendOutcome::Transient(format!("unreadable answer from the Bot API: {source}"))
        }
        RequestError::Io(e) => SendOutcome::Transient(redact(&e.to_string(), token)),
    }
}

fn redact(text: &str, token: &SecretString) -> String {
    let t = token.expose_secret();
    if t.is_empty() {
        text.to_string()
    } else {
        text.replace(t, "<token>")
    }
}

/// Escapes text for Telegram's HTML parse mode.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

/// A character's weight in the escaped text, counted as Telegram may count it (in UTF-16 code
/// units): what the 4096 of one message are measured in.
pub fn escaped_weight(c: char) -> usize {
    match c {
        '<' | '>' => 4,
        '&' => 5,
        c => utf16_weight(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape_html("a<b> & c"), "a&lt;b&gt; &amp; c");
    }

    #[test]
    fn escaping_counts_toward_the_limit() {
        let text = "&".repeat(1000); // escapes to 5000 characters
        let parts = crate::domain::text::split(&text, MESSAGE_MAX, escaped_weight);
        assert_eq!(parts.len(), 2);
        assert!(
            parts
                .iter()
                .all(|p| escape_html(p).chars().count() <= MESSAGE_MAX)
        );
        assert_eq!(parts.concat(), text);
    }
}
