//! The edge to the messenger platforms. A `Channel` sends one message to one address and says,
//! in the queue's terms, what became of it; everything platform-specific stays behind it.

pub mod intake;
pub mod telegram;
pub mod telegram_updates;
pub mod whatsapp;
pub mod whatsapp_webhook;

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::media::MediaKind;
use crate::domain::{BroadcastKind, ChannelKind, Priority};

/// One message to one recipient, as the lane hands it to a channel.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub address: String,
    pub text: String,
    pub kind: BroadcastKind,
    pub priority: Priority,
    /// Deliver without sound (quiet hours). Alerts never set it.
    pub silent: bool,
    pub language: String,
    /// When the recipient last wrote to us (ms): WhatsApp's 24-hour window.
    pub last_inbound_at: Option<i64>,
    /// Send as a template even inside the window (the platform refused free text).
    pub force_template: bool,
    /// A correction or retraction: the platform's id of the message it is about (a reply to
    /// it on Telegram, a quote of it on WhatsApp).
    pub reply_to: Option<String>,
    /// Replace the text of `reply_to` with this, where the platform can (Telegram). As a part
    /// (see [`Channel::parts`]): this part is that edit.
    pub edit: Option<String>,
    /// Tell the recipient (a message of its own); false: a silent correction, only the edit.
    pub notice: bool,
    /// The picture or document this message carries (its text then is the caption).
    pub media: Option<Attached>,
}

impl Outgoing {
    /// A message of a broadcast of `kind` with `text` to `address`, nothing else set.
    pub fn plain(address: &str, text: &str, kind: BroadcastKind, priority: Priority) -> Self {
        Outgoing {
            address: address.to_string(),
            text: text.to_string(),
            kind,
            priority,
            silent: false,
            language: crate::i18n::DEFAULT_LANGUAGE.to_string(),
            last_inbound_at: None,
            force_template: false,
            media: None,
            reply_to: None,
            edit: None,
            notice: true,
        }
    }
}

/// A picture or document as a message carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    pub media_id: i64,
    pub kind: MediaKind,
    pub mime: String,
    pub file_name: String,
    /// The platform's id for it (Telegram's `file_id`, WhatsApp's media id); `None` until it
    /// was uploaded.
    pub platform_ref: Option<String>,
}

/// A medium's bytes, for its one upload.
#[derive(Debug, Clone)]
pub struct MediaFile {
    pub kind: MediaKind,
    pub mime: String,
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// What an upload did.
#[derive(Debug, Clone, PartialEq)]
pub struct Uploaded {
    /// The platform's id for the medium, when it took it.
    pub platform_ref: Option<String>,
    /// The outcome of the message, when the upload carried it (Telegram: the first send is
    /// the upload), or why the upload failed.
    pub sent: Option<SendOutcome>,
}

/// What became of one send, classified at the adapter edge.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    Sent {
        platform_id: Option<String>,
    },
    /// The platform throttles the whole lane: nothing goes out before `after` has passed.
    LaneThrottled {
        after: Duration,
        reason: String,
    },
    /// Only this recipient must wait (e.g. WhatsApp's pair rate limit).
    RecipientThrottled {
        after: Duration,
        reason: String,
    },
    /// Worth trying again later: 5xx, network errors, time-outs.
    Transient(String),
    /// Will never work as it is: kept as the delivery's failure reason.
    Permanent(String),
    /// The recipient blocked us or no longer exists: mark the subscriber gone.
    RecipientGone(String),
    /// The chat has a new address (a group became a supergroup): update it and send again.
    Moved {
        address: String,
    },
}

impl SendOutcome {
    /// What went wrong, in a sentence (the reasons never carry a token).
    pub fn reason(&self) -> String {
        match self {
            SendOutcome::Sent { .. } => "no error".into(),
            SendOutcome::LaneThrottled { reason, .. }
            | SendOutcome::RecipientThrottled { reason, .. }
            | SendOutcome::Transient(reason)
            | SendOutcome::Permanent(reason)
            | SendOutcome::RecipientGone(reason) => reason.clone(),
            SendOutcome::Moved { .. } => "the chat moved".into(),
        }
    }
}

/// Reads `response`'s body, refused once it grows past `max` bytes (a file fetched from a
/// platform: never more in memory than the limit).
pub(crate) async fn body_within(
    mut response: reqwest::Response,
    max: u64,
) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(describe_reqwest_error)? {
        if (out.len() + chunk.len()) as u64 > max {
            return Err(format!(
                "the file is larger than {}",
                crate::domain::media::human_size(max)
            ));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[async_trait]
pub trait Channel: Send + Sync {
    fn kind(&self) -> ChannelKind;
    /// The messages `message` goes out as at `now` (ms), in order: a text longer than one
    /// message in parts, each with its own text. Never empty. The lane sends them one by one,
    /// each through the rate limit, and remembers how many went out, so that a retry resumes
    /// at the first part not sent.
    fn parts(&self, message: &Outgoing, now: i64) -> Vec<Outgoing>;
    /// Sends `message` as one platform message. A message with a medium carries its
    /// `platform_ref`.
    async fn send(&self, message: &Outgoing) -> SendOutcome;
    /// Uploads a medium once, for `message` (which carries it). Telegram has no upload of its
    /// own: the first send carries the file, and its outcome comes back in `sent`; WhatsApp
    /// posts it to `/{phone-number-id}/media`, and the message goes by id after it.
    async fn upload(&self, file: MediaFile, message: &Outgoing) -> Uploaded {
        let _ = (file, message);
        Uploaded {
            platform_ref: None,
            sent: Some(SendOutcome::Permanent(
                "this channel cannot send pictures or documents".into(),
            )),
        }
    }
}

/// `message` in parts, for a channel whose messages hold `max` of `weight`: with a medium, one
/// message when the text fits its caption, else the medium alone first and the text after it
/// (as replies: see `Outgoing::reply_to`).
pub(crate) fn parts_with_media(
    message: &Outgoing,
    max: usize,
    weight: impl Fn(char) -> usize,
) -> Vec<Outgoing> {
    if message.media.is_none() {
        return split_outgoing(message, max, weight);
    }
    if crate::domain::media::fits_caption(&message.text) {
        return vec![message.clone()];
    }
    let first = Outgoing {
        text: String::new(),
        ..message.clone()
    };
    let text_only = Outgoing {
        media: None,
        ..message.clone()
    };
    std::iter::once(first)
        .chain(split_outgoing(&text_only, max, weight))
        .collect()
}

/// `message` in parts of `text::split`: one `Outgoing` per part, the rest unchanged.
pub(crate) fn split_outgoing(
    message: &Outgoing,
    max: usize,
    weight: impl Fn(char) -> usize,
) -> Vec<Outgoing> {
    crate::domain::text::split(&message.text, max, weight)
        .into_iter()
        .enumerate()
        .map(|(i, text)| Outgoing {
            text,
            address: message.address.clone(),
            language: message.language.clone(),
            // Only the first part quotes or answers the original.
            reply_to: if i == 0 {
                message.reply_to.clone()
            } else {
                None
            },
            edit: None,
            media: message.media.clone(),
            ..*message
        })
        .collect()
}

/// Whom the conversation answers, for the lane's budget: staff go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressee {
    Staff,
    Citizen,
}

/// What the conversation's replies draw on: the budget of the lane of their platform (the
/// platform counts replies and broadcasts against one bot or number).
#[async_trait]
pub trait ReplyPace: Send + Sync {
    /// Waits until one reply message to `to` may go out.
    async fn reply_turn(&self, to: Addressee);
}

/// No budget: replies go at once (a platform without a lane, or an unlimited one).
pub struct Unpaced;

#[async_trait]
impl ReplyPace for Unpaced {
    async fn reply_turn(&self, _to: Addressee) {}
}

/// The HTTP client every adapter uses: our own time-outs, keep-alive, a pool large enough for
/// the lane's concurrency.
pub fn http_client(timeout: Duration, pool: usize) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .pool_max_idle_per_host(pool)
        .tcp_nodelay(true)
        .build()
}

/// A network error as text without the URL: Telegram's URL carries the bot token.
pub(crate) fn describe_reqwest_error(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
