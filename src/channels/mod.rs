//! The edge to the messenger platforms. A `Channel` sends one message to one address and says,
//! in the queue's terms, what became of it; everything platform-specific stays behind it.

pub mod intake;
pub mod telegram;
pub mod telegram_updates;
pub mod whatsapp;
pub mod whatsapp_webhook;

use std::time::Duration;

use async_trait::async_trait;

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
            reply_to: None,
            edit: None,
            notice: true,
        }
    }
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

#[async_trait]
pub trait Channel: Send + Sync {
    fn kind(&self) -> ChannelKind;
    /// The messages `message` goes out as at `now` (ms), in order: a text longer than one
    /// message in parts, each with its own text. Never empty. The lane sends them one by one,
    /// each through the rate limit, and remembers how many went out, so that a retry resumes
    /// at the first part not sent.
    fn parts(&self, message: &Outgoing, now: i64) -> Vec<Outgoing>;
    /// Sends `message` as one platform message.
    async fn send(&self, message: &Outgoing) -> SendOutcome;
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
