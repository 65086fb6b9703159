//! Outlets: the city's public places a broadcast is posted to once — its Telegram channel,
//! Mastodon, Bluesky, its website (a signed webhook) and, by hand, a WhatsApp channel. Each
//! outlet is a lane of the durable queue (`lane.rs`) over its rows in `outlet_posts`; each
//! platform's adapter turns a job into its API's calls and classifies the answer.

pub mod bluesky;
pub mod lane;
pub mod mastodon;
pub mod telegram_channel;

pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

pub use crate::domain::outlet::text;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::domain::outlet::{OutletAction, OutletKind, OutletRoute};
use crate::domain::{BroadcastKind, Priority};

/// One configured outlet (`[[outlets]]`).
#[derive(Debug, Clone)]
pub struct OutletSpec {
    pub route: OutletRoute,
    /// Posts per minute at most; the platform's own limits are far above what a city posts.
    pub rate_per_minute: u32,
    pub settings: OutletSettings,
}

/// Each kind's own settings.
#[derive(Debug, Clone)]
pub enum OutletSettings {
    /// The city's channel (`@name` or its numeric id); the bot of `[telegram]` posts there.
    TelegramChannel {
        chat: String,
    },
    Mastodon {
        url: url::Url,
        token: SecretString,
    },
    Bluesky {
        url: url::Url,
        handle: String,
        password: SecretString,
    },
    Webhook {
        url: url::Url,
        secret: SecretString,
    },
    /// No API; `url` is the channel's page, shown beside the text to copy.
    WhatsappChannel {
        url: Option<url::Url>,
    },
}

impl OutletSettings {
    pub fn kind(&self) -> OutletKind {
        match self {
            OutletSettings::TelegramChannel { .. } => OutletKind::TelegramChannel,
            OutletSettings::Mastodon { .. } => OutletKind::Mastodon,
            OutletSettings::Bluesky { .. } => OutletKind::Bluesky,
            OutletSettings::Webhook { .. } => OutletKind::Webhook,
            OutletSettings::WhatsappChannel { .. } => OutletKind::WhatsappChannel,
        }
    }
}

/// The post of one broadcast, as an outlet's adapter needs it.
#[derive(Debug, Clone)]
pub struct Job {
    pub action: OutletAction,
    /// The broadcast the post is about.
    pub broadcast_id: i64,
    pub kind: BroadcastKind,
    pub priority: Priority,
    pub topic: String,
    /// The text it has now (a post, a correction) or the retraction's notice.
    pub text: String,
    /// The text version this job makes (a post: the broadcast's; a correction: the one it
    /// makes; a retraction: the notice's own 1).
    pub version: i64,
    /// The archive's check link (`https://stadt.de/m/CODE`), when the archive is on.
    pub link: Option<String>,
    /// The broadcast's public code (the citizens' footer names it).
    pub code: Option<String>,
    /// Same for every attempt of this job: the platform's idempotency key.
    pub key: String,
    /// The post it corrects or retracts, once made.
    pub post: Option<Remote>,
}

/// A post on the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// Status id, record URI, channel message id, or the webhook's delivery id.
    pub id: String,
    /// Where people see it, when the platform says.
    pub url: Option<String>,
    /// What a reply to it needs besides its id (Bluesky: the record's cid).
    pub reference: Option<String>,
}

/// An adapter's answer, classified at its edge.
#[derive(Debug, thiserror::Error)]
pub enum OutletError {
    /// The platform asked to wait: the lane pauses that long.
    #[error("rate limited for {0:?}")]
    RateLimited(Duration),
    /// Worth another try later (timeouts, 5xx).
    #[error("{0}")]
    Transient(String),
    /// Will not work by trying again (a bad token, a refused text).
    #[error("{0}")]
    Permanent(String),
}

/// One outlet's platform.
#[async_trait]
pub trait Outlet: Send + Sync {
    fn name(&self) -> &str;
    fn kind(&self) -> OutletKind;
    /// Whether it can change a post (false: a correction is a reply, and a silent one is
    /// skipped).
    fn can_edit(&self) -> bool {
        true
    }
    /// Posts, corrects or retracts; the post it made (or edited).
    async fn publish(&self, job: &Job) -> Result<Remote, OutletError>;
    /// Checks credentials and limits without posting: a line on what it found.
    async fn check(&self) -> Result<String, OutletError>;
}

/// The key of a job on a platform: the same for each attempt, another for each version.
pub fn job_key(outlet: &str, broadcast: i64, action: OutletAction, version: i64) -> String {
    format!(
        "amtsbote-{outlet}-{broadcast}-{}-v{version}",
        action.as_str()
    )
}

/// Wait asked for by `Retry-After` (seconds or an HTTP date) or a reset time in epoch seconds
/// (`X-RateLimit-Reset`, `RateLimit-Reset`), else `fallback`.
pub fn wait_from_headers(headers: &reqwest::header::HeaderMap, fallback: Duration) -> Duration {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(secs) = text("retry-after").and_then(|v| v.trim().parse::<u64>().ok()) {
        return Duration::from_secs(secs);
    }
    let now = chrono::Utc::now();
    for name in ["ratelimit-reset", "x-ratelimit-reset"] {
        let Some(v) = text(name) else { continue };
        if let Ok(epoch) = v.trim().parse::<i64>() {
            // Bluesky sends epoch seconds; a small number is seconds from now.
            let secs = if epoch > 1_000_000_000 {
                epoch - now.timestamp()
            } else {
                epoch
            };
            return Duration::from_secs(secs.clamp(1, 3600) as u64);
        }
        // Mastodon sends an ISO 8601 time.
        if let Ok(at) = chrono::DateTime::parse_from_rfc3339(v.trim()) {
            let ms = (at.with_timezone(&chrono::Utc) - now)
                .num_milliseconds()
                .clamp(1000, 3_600_000);
            return Duration::from_millis(ms as u64);
        }
    }
    fallback
}

/// Sorts an HTTP answer's status into an `OutletError` (never quoting secrets: only the
/// platform's own error text, cut short).
pub fn classify(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &str,
) -> OutletError {
    let said: String = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("error")
                .or_else(|| v.get("message"))
                .and_then(|e| e.as_str().map(str::to_string))
        })
        .unwrap_or_else(|| body.chars().take(200).collect());
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        OutletError::RateLimited(wait_from_headers(headers, Duration::from_secs(60)))
    } else if status.is_server_error() || status == reqwest::StatusCode::REQUEST_TIMEOUT {
        OutletError::Transient(format!("HTTP {status}: {said}"))
    } else {
        OutletError::Permanent(format!("HTTP {status}: {said}"))
    }
}

/// The body of a successful answer to `request`, or its error classified.
pub async fn answer_of(request: reqwest::RequestBuilder) -> Result<String, OutletError> {
    let r = request.send().await.map_err(transport)?;
    let (status, headers) = (r.status(), r.headers().clone());
    let body = r.text().await.map_err(transport)?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(classify(status, &headers, &body))
    }
}

/// A transport error as an `OutletError`: the URL is left out (it may carry a token).
pub fn transport(e: reqwest::Error) -> OutletError {
    OutletError::Transient(format!("cannot reach the platform: {}", e.without_url()))
}

/// The built outlets of a service, each with its configuration.
pub type Built = Vec<(Arc<dyn Outlet>, OutletSpec)>;

/// The Telegram bot a channel outlet posts with (`[telegram]`).
pub struct TelegramBot<'a> {
    pub api_url: &'a str,
    pub token: SecretString,
}

/// Builds each configured outlet that has an API on `client`; WhatsApp channels have none
/// (staff post there by hand). `footer` is the citizens' check line, which the Telegram
/// channel's posts carry as theirs do.
pub fn build(
    specs: &[OutletSpec],
    client: &reqwest::Client,
    telegram: Option<TelegramBot<'_>>,
    footer: Option<Arc<crate::services::check::Footer>>,
) -> Result<Built, String> {
    let mut built: Built = Vec::new();
    for spec in specs {
        let name = spec.route.name.as_str();
        let outlet: Arc<dyn Outlet> = match &spec.settings {
            OutletSettings::Mastodon { url, token } => Arc::new(mastodon::Mastodon::new(
                name,
                client.clone(),
                url.clone(),
                token.clone(),
            )),
            OutletSettings::Webhook { url, secret } => Arc::new(webhook::Webhook::new(
                name,
                client.clone(),
                url.clone(),
                secret.clone(),
            )),
            OutletSettings::TelegramChannel { chat } => {
                let Some(bot) = &telegram else {
                    return Err(format!(
                        "outlet '{name}' posts with the Telegram bot, but Telegram is off (AMTSBOTE_TELEGRAM_TOKEN)"
                    ));
                };
                let channel = crate::channels::telegram::TelegramChannel::new(
                    client.clone(),
                    bot.api_url,
                    bot.token.clone(),
                )
                .map_err(|e| format!("the Telegram API URL: {e}"))?;
                Arc::new(telegram_channel::TelegramChannelOutlet::new(
                    name,
                    channel,
                    chat,
                    footer.clone(),
                ))
            }
            OutletSettings::Bluesky {
                url,
                handle,
                password,
            } => Arc::new(bluesky::Bluesky::new(
                name,
                client.clone(),
                url.clone(),
                handle,
                password.clone(),
            )),
            OutletSettings::WhatsappChannel { .. } => continue,
        };
        built.push((outlet, spec.clone()));
    }
    Ok(built)
}
