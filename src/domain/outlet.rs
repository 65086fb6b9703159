//! Outlets: the city's public places (its Telegram channel, Mastodon, Bluesky, its website, a
//! WhatsApp channel) where a broadcast is posted once, beside the messages to citizens. Here
//! only what an outlet is and which broadcasts it takes; sending lives in `outlets/`.

pub mod text;

use serde::Serialize;

use super::{BroadcastKind, DRILL_TOPIC};

/// The kinds of outlet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutletKind {
    TelegramChannel,
    Mastodon,
    Bluesky,
    Webhook,
    /// No API: staff post by hand from the dashboard and record it.
    WhatsappChannel,
}

impl OutletKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutletKind::TelegramChannel => "telegram_channel",
            OutletKind::Mastodon => "mastodon",
            OutletKind::Bluesky => "bluesky",
            OutletKind::Webhook => "webhook",
            OutletKind::WhatsappChannel => "whatsapp_channel",
        }
    }

    /// Whether a lane posts there (false: by hand).
    pub fn has_api(self) -> bool {
        self != OutletKind::WhatsappChannel
    }
}

/// The archive's page of broadcast `code` under `archive` (`archive.public_url`): the check
/// link outlet posts end with.
pub fn check_link(archive: &url::Url, code: &str) -> String {
    format!("{}/m/{code}", archive.as_str().trim_end_matches('/'))
}

/// Which broadcasts an outlet takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutletRoute {
    pub name: String,
    pub kind: OutletKind,
    /// The topics it takes; `None`: all.
    pub topics: Option<Vec<String>>,
    /// Whether alerts (and their updates and all-clears) go there.
    pub alerts: bool,
}

impl OutletRoute {
    /// Whether a new broadcast of `topic` and `kind` is posted there. Drills never are;
    /// corrections and retractions follow the post they are about, not this rule.
    pub fn takes(&self, topic: &str, kind: BroadcastKind) -> bool {
        !kind.is_notice() && self.refusal(topic, kind).is_none()
    }

    /// Why a new broadcast of `topic` and `kind` is not posted there, if it is not.
    pub fn refusal(&self, topic: &str, kind: BroadcastKind) -> Option<NotPosted> {
        if topic == DRILL_TOPIC {
            return Some(NotPosted::Drill);
        }
        let alert = matches!(
            kind,
            BroadcastKind::Alert | BroadcastKind::Update | BroadcastKind::Allclear
        );
        if alert && !self.alerts {
            return Some(NotPosted::AlertsNotTaken);
        }
        let taken = self
            .topics
            .as_ref()
            .is_none_or(|t| t.iter().any(|t| t == topic));
        (!taken).then_some(NotPosted::TopicNotTaken)
    }
}

/// Why an outlet does not post a broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotPosted {
    /// Drills stay with the staff.
    Drill,
    /// The outlet takes other topics (`topics`).
    TopicNotTaken,
    /// The outlet takes no alerts, updates or all-clears (`alerts = false`).
    AlertsNotTaken,
}

impl NotPosted {
    pub fn as_str(self) -> &'static str {
        match self {
            NotPosted::Drill => "drill",
            NotPosted::TopicNotTaken => "topic_not_taken",
            NotPosted::AlertsNotTaken => "alerts_not_taken",
        }
    }
}

/// What one outlet will post of a broadcast before it is released: its text there (cut by
/// `text::for_outlet`, as posting cuts it), or why it posts nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutletPreview {
    pub outlet: String,
    pub kind: OutletKind,
    pub text: Option<String>,
    pub not_posted: Option<NotPosted>,
}

/// What an outlet row does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutletAction {
    /// The broadcast's post.
    Post,
    /// A correction of the post: an edit where the platform can, else a reply.
    Correct,
    /// A retraction: an edit and a reply, or a reply.
    Retract,
}

impl OutletAction {
    pub fn as_str(self) -> &'static str {
        match self {
            OutletAction::Post => "post",
            OutletAction::Correct => "correct",
            OutletAction::Retract => "retract",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "post" => Some(OutletAction::Post),
            "correct" => Some(OutletAction::Correct),
            "retract" => Some(OutletAction::Retract),
            _ => None,
        }
    }
}

/// Where an outlet row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutletPostStatus {
    Pending,
    Leased,
    Sent,
    Failed,
    /// Nothing to do (a retraction of a post never made; a correction its post already had).
    Skipped,
    /// Waits for a person to post it by hand (WhatsApp Channels).
    Manual,
}

impl OutletPostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutletPostStatus::Pending => "pending",
            OutletPostStatus::Leased => "leased",
            OutletPostStatus::Sent => "sent",
            OutletPostStatus::Failed => "failed",
            OutletPostStatus::Skipped => "skipped",
            OutletPostStatus::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            OutletPostStatus::Pending,
            OutletPostStatus::Leased,
            OutletPostStatus::Sent,
            OutletPostStatus::Failed,
            OutletPostStatus::Skipped,
            OutletPostStatus::Manual,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(topics: Option<&[&str]>, alerts: bool) -> OutletRoute {
        OutletRoute {
            name: "m".into(),
            kind: OutletKind::Mastodon,
            topics: topics.map(|t| t.iter().map(|s| s.to_string()).collect()),
            alerts,
        }
    }

    #[test]
    fn an_outlet_takes_its_topics_and_alerts_only_when_asked_and_never_drills() {
        assert!(route(None, false).takes("news", BroadcastKind::Announcement));
        assert!(!route(None, false).takes("alerts", BroadcastKind::Alert));
        assert!(route(None, true).takes("alerts", BroadcastKind::Alert));
        assert!(!route(Some(&["traffic"]), true).takes("news", BroadcastKind::Announcement));
        assert!(route(Some(&["traffic"]), true).takes("traffic", BroadcastKind::Announcement));
        assert!(!route(None, true).takes(DRILL_TOPIC, BroadcastKind::Alert));
        assert!(!route(None, true).takes("news", BroadcastKind::Correction));
    }

    #[test]
    fn an_outlet_says_why_it_does_not_take_a_broadcast() {
        assert_eq!(
            route(None, true).refusal(DRILL_TOPIC, BroadcastKind::Alert),
            Some(NotPosted::Drill)
        );
        assert_eq!(
            route(None, false).refusal("alerts", BroadcastKind::Allclear),
            Some(NotPosted::AlertsNotTaken)
        );
        assert_eq!(
            route(Some(&["traffic"]), true).refusal("news", BroadcastKind::Announcement),
            Some(NotPosted::TopicNotTaken)
        );
        assert_eq!(
            route(None, true).refusal("news", BroadcastKind::Announcement),
            None
        );
    }
}
