//! The city's vocabulary as checked types: channels, topics, priorities, kinds and statuses.
//! Everything that crosses a boundary (CLI, config, database, HTTP) is parsed into these once;
//! the rest of the code trusts them.

pub mod archive;
pub use archive::public_code;
pub mod area;
pub mod media;
pub mod outlet;
pub mod template;
pub mod text;
pub mod time;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What one instance does for all the instances that share a database; each role has one
/// holder at a time (see `roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InstanceRole {
    /// Claims and sends one channel's deliveries within its rate.
    Lane(ChannelKind),
    /// Long-polls Telegram for updates (Telegram allows one poller per bot).
    TelegramPoller,
    /// Fires cron schedules and releases scheduled broadcasts; reports drills.
    Scheduler,
    /// Polls the official warnings feed.
    Warnings,
    /// Returns expired leases, closes finished broadcasts, forgets old message ids.
    Housekeeping,
    /// Posts to the outlets (`[[outlets]]`), each at its own rate.
    Outlets,
}

impl InstanceRole {
    pub const ALL: [InstanceRole; 7] = [
        InstanceRole::Lane(ChannelKind::Telegram),
        InstanceRole::Lane(ChannelKind::Whatsapp),
        InstanceRole::TelegramPoller,
        InstanceRole::Scheduler,
        InstanceRole::Warnings,
        InstanceRole::Housekeeping,
        InstanceRole::Outlets,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InstanceRole::Lane(ChannelKind::Telegram) => "lane:telegram",
            InstanceRole::Lane(ChannelKind::Whatsapp) => "lane:whatsapp",
            InstanceRole::TelegramPoller => "telegram-poller",
            InstanceRole::Scheduler => "scheduler",
            InstanceRole::Warnings => "warnings",
            InstanceRole::Housekeeping => "housekeeping",
            InstanceRole::Outlets => "outlets",
        }
    }
}

impl std::fmt::Display for InstanceRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A messenger platform a subscriber is reached on. Each has its own lane in the dispatcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Telegram,
    Whatsapp,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 2] = [ChannelKind::Telegram, ChannelKind::Whatsapp];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Telegram => "telegram",
            ChannelKind::Whatsapp => "whatsapp",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChannelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "telegram" => Ok(ChannelKind::Telegram),
            "whatsapp" => Ok(ChannelKind::Whatsapp),
            other => Err(format!(
                "unknown channel '{other}', expected telegram or whatsapp"
            )),
        }
    }
}

/// How urgently a delivery is sent. Higher overtakes lower in every lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low = 0,
    Normal = 1,
    Urgent = 2,
    Alert = 3,
}

impl Priority {
    pub fn as_i16(self) -> i16 {
        self as i16
    }

    pub fn from_i16(v: i16) -> Option<Self> {
        Some(match v {
            0 => Priority::Low,
            1 => Priority::Normal,
            2 => Priority::Urgent,
            3 => Priority::Alert,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::Urgent => "urgent",
            Priority::Alert => "alert",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "alert" => Ok(Priority::Alert),
            "urgent" => Ok(Priority::Urgent),
            "normal" => Ok(Priority::Normal),
            "low" => Ok(Priority::Low),
            other => Err(format!(
                "unknown priority '{other}', expected alert, urgent, normal or low"
            )),
        }
    }
}

/// What a broadcast is: an ordinary announcement, or one of the three steps of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BroadcastKind {
    Announcement,
    Alert,
    Update,
    Allclear,
    /// A correction of a sent broadcast (its parent): edits it where the platform can and
    /// tells whoever received it; its `new_text` becomes the parent's text.
    Correction,
    /// The retraction of a sent broadcast (its parent): a notice to whoever received it.
    Retraction,
}

impl BroadcastKind {
    pub const ALL: [BroadcastKind; 6] = [
        BroadcastKind::Announcement,
        BroadcastKind::Alert,
        BroadcastKind::Update,
        BroadcastKind::Allclear,
        BroadcastKind::Correction,
        BroadcastKind::Retraction,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BroadcastKind::Announcement => "announcement",
            BroadcastKind::Alert => "alert",
            BroadcastKind::Update => "update",
            BroadcastKind::Allclear => "allclear",
            BroadcastKind::Correction => "correction",
            BroadcastKind::Retraction => "retraction",
        }
    }

    /// Alerts, updates, all-clears and retractions always sound, whatever quiet hours say (a
    /// correction sounds as its priority says).
    pub fn is_alert(self) -> bool {
        !matches!(
            self,
            BroadcastKind::Announcement | BroadcastKind::Correction
        )
    }

    /// A notice about a sent broadcast (its parent), sent to whoever received that.
    pub fn is_notice(self) -> bool {
        matches!(self, BroadcastKind::Correction | BroadcastKind::Retraction)
    }
}

impl FromStr for BroadcastKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "announcement" => Ok(BroadcastKind::Announcement),
            "alert" => Ok(BroadcastKind::Alert),
            "update" => Ok(BroadcastKind::Update),
            "allclear" => Ok(BroadcastKind::Allclear),
            "correction" => Ok(BroadcastKind::Correction),
            "retraction" => Ok(BroadcastKind::Retraction),
            other => Err(format!(
                "unknown kind '{other}', expected announcement, alert, update or allclear"
            )),
        }
    }
}

/// A topic id: lower-case ASCII letters, digits, `-` and `_`, 1 to 32 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Topic(String);

impl Topic {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Topic(s.to_string()))
        } else {
            Err(format!(
                "invalid topic id '{s}': use 1-32 lower-case letters, digits, '-' or '_'"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Topic {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Topic::parse(&s)
    }
}

impl From<Topic> for String {
    fn from(t: Topic) -> String {
        t.0
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name that makes several staff addresses one person: 1 to 64 letters (umlauts and other
/// letters too), digits, spaces, `.`, `-` and `_`. It has no `:`, so it never collides with the
/// `channel:address` that names an address without a person.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

impl PersonName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let n = s.chars().count();
        let ok = (1..=Self::MAX_CHARS).contains(&n)
            && s.chars().all(|c| {
                c.is_alphabetic() || c.is_ascii_digit() || matches!(c, ' ' | '.' | '-' | '_')
            });
        if ok {
            Ok(PersonName(s.to_string()))
        } else {
            Err(format!(
                "invalid person name '{s}': use 1-{} letters, digits, spaces, '.', '-' or '_'",
                Self::MAX_CHARS
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The text of a broadcast: not blank, at most [`BroadcastText::MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastText(String);

impl BroadcastText {
    /// One message holds 4096 characters on either platform; longer texts go out in parts
    /// ([`text::split`]), up to this many characters in all.
    pub const MAX_CHARS: usize = 16_384;

    pub fn parse(s: &str) -> Result<Self, String> {
        let trimmed = s.trim();
        if trimmed.is_empty() {
            return Err("the text is empty".into());
        }
        let n = trimmed.chars().count();
        if n > Self::MAX_CHARS {
            return Err(format!(
                "the text has {n} characters, at most {} are allowed",
                Self::MAX_CHARS
            ));
        }
        Ok(BroadcastText(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a broadcast is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BroadcastStatus {
    /// Composed, waiting for its author's confirmation.
    Draft,
    /// Confirmed by its author; waits for a second person (the two-person rule).
    #[serde(rename = "awaiting_approval")]
    AwaitingApproval,
    /// Confirmed, waiting for its time.
    Scheduled,
    Released,
    Sending,
    Done,
    Cancelled,
    /// Its time passed while the service was down, longer ago than the grace period.
    Missed,
    /// A confirmed recurring draft: the schedule it became fires copies of it.
    Recurring,
    /// Sent, then taken back: what was not sent was cancelled, whoever received it was told.
    Retracted,
}

impl BroadcastStatus {
    pub const ALL: [BroadcastStatus; 10] = [
        BroadcastStatus::Draft,
        BroadcastStatus::AwaitingApproval,
        BroadcastStatus::Scheduled,
        BroadcastStatus::Released,
        BroadcastStatus::Sending,
        BroadcastStatus::Done,
        BroadcastStatus::Cancelled,
        BroadcastStatus::Missed,
        BroadcastStatus::Recurring,
        BroadcastStatus::Retracted,
    ];

    /// Not yet sent and not ended: what a cancel can still stop.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            BroadcastStatus::Draft
                | BroadcastStatus::AwaitingApproval
                | BroadcastStatus::Scheduled
                | BroadcastStatus::Released
                | BroadcastStatus::Sending
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BroadcastStatus::Draft => "draft",
            BroadcastStatus::AwaitingApproval => "awaiting_approval",
            BroadcastStatus::Recurring => "recurring",
            BroadcastStatus::Scheduled => "scheduled",
            BroadcastStatus::Missed => "missed",
            BroadcastStatus::Released => "released",
            BroadcastStatus::Sending => "sending",
            BroadcastStatus::Done => "done",
            BroadcastStatus::Cancelled => "cancelled",
            BroadcastStatus::Retracted => "retracted",
        }
    }
}

impl FromStr for BroadcastStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "draft" => BroadcastStatus::Draft,
            "awaiting_approval" => BroadcastStatus::AwaitingApproval,
            "recurring" => BroadcastStatus::Recurring,
            "scheduled" => BroadcastStatus::Scheduled,
            "missed" => BroadcastStatus::Missed,
            "released" => BroadcastStatus::Released,
            "sending" => BroadcastStatus::Sending,
            "done" => BroadcastStatus::Done,
            "cancelled" => BroadcastStatus::Cancelled,
            "retracted" => BroadcastStatus::Retracted,
            other => return Err(format!("unknown broadcast status '{other}'")),
        })
    }
}

/// Where one delivery (one message to one subscriber) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Leased,
    Sent,
    Failed,
    Gone,
    Cancelled,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 6] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Leased,
        DeliveryStatus::Sent,
        DeliveryStatus::Failed,
        DeliveryStatus::Gone,
        DeliveryStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Leased => "leased",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Gone => "gone",
            DeliveryStatus::Cancelled => "cancelled",
        }
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| format!("unknown delivery status '{s}'"))
    }
}

/// What a platform reported about a message it had accepted, read where the report arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformStatus {
    Sent,
    Delivered,
    Read,
    /// Accepted, then not delivered; `error` as the platform put it.
    Failed {
        failure: LateFailure,
        error: String,
    },
}

impl PlatformStatus {
    /// The status as the platform names it, and as it is kept.
    pub fn as_str(&self) -> &'static str {
        match self {
            PlatformStatus::Sent => "sent",
            PlatformStatus::Delivered => "delivered",
            PlatformStatus::Read => "read",
            PlatformStatus::Failed { .. } => "failed",
        }
    }

    pub fn error(&self) -> Option<&str> {
        match self {
            PlatformStatus::Failed { error, .. } => Some(error),
            _ => None,
        }
    }

    pub fn failure(&self) -> Option<LateFailure> {
        match self {
            PlatformStatus::Failed { failure, .. } => Some(*failure),
            _ => None,
        }
    }

    /// Reads a status back from its kept parts (`as_str`, `error`, `failure`).
    pub fn from_parts(
        status: &str,
        error: Option<String>,
        failure: Option<&str>,
    ) -> Result<Self, String> {
        match (status, failure) {
            ("sent", None) => Ok(PlatformStatus::Sent),
            ("delivered", None) => Ok(PlatformStatus::Delivered),
            ("read", None) => Ok(PlatformStatus::Read),
            ("failed", Some(f)) => Ok(PlatformStatus::Failed {
                failure: f.parse()?,
                error: error.unwrap_or_default(),
            }),
            _ => Err(format!("unknown platform status '{status}'")),
        }
    }
}

/// Why a message the platform had accepted was not delivered, as far as the queue cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LateFailure {
    /// Free-form text outside the 24-hour window: it goes again as a template, once.
    OutsideWindow,
    /// The recipient cannot be reached there: the delivery fails and the subscriber is gone.
    RecipientGone,
    /// Anything else: the delivery fails.
    Refused,
}

impl LateFailure {
    const ALL: [LateFailure; 3] = [
        LateFailure::OutsideWindow,
        LateFailure::RecipientGone,
        LateFailure::Refused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LateFailure::OutsideWindow => "outside_window",
            LateFailure::RecipientGone => "recipient_gone",
            LateFailure::Refused => "refused",
        }
    }
}

impl FromStr for LateFailure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LateFailure::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| format!("unknown late failure '{s}'"))
    }
}

/// What a staff member may do. `admin` may do everything press and emergency may; a
/// `contributor` (a department, Fachabteilung) only writes drafts for the press office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Press,
    Emergency,
    Admin,
    Contributor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Press => "press",
            Role::Emergency => "emergency",
            Role::Admin => "admin",
            Role::Contributor => "contributor",
        }
    }

    pub fn may_announce(self) -> bool {
        // Emergency staff may also send what the press office may; a department only drafts.
        self != Role::Contributor
    }

    pub fn may_alert(self) -> bool {
        matches!(self, Role::Emergency | Role::Admin)
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "press" => Ok(Role::Press),
            "emergency" => Ok(Role::Emergency),
            "admin" => Ok(Role::Admin),
            "contributor" => Ok(Role::Contributor),
            other => Err(format!(
                "unknown role '{other}', expected press, emergency, admin or contributor"
            )),
        }
    }
}

/// A contributor's department and the topics it may write drafts for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Desk {
    /// The department's name as people say it: "Tiefbauamt".
    pub department: String,
    /// Topic ids.
    pub topics: Vec<String>,
}

impl Desk {
    /// True when the department may draft for `topic`.
    pub fn covers(&self, topic: &str) -> bool {
        self.topics.iter().any(|t| t == topic)
    }
}

/// Whether a subscriber receives messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscriberStatus {
    Active,
    /// Said /stop: nothing until /start.
    Stopped,
    /// Blocked the bot or no longer exists.
    Gone,
}

impl SubscriberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriberStatus::Active => "active",
            SubscriberStatus::Stopped => "stopped",
            SubscriberStatus::Gone => "gone",
        }
    }
}

impl FromStr for SubscriberStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(SubscriberStatus::Active),
            "stopped" => Ok(SubscriberStatus::Stopped),
            "gone" => Ok(SubscriberStatus::Gone),
            other => Err(format!("unknown subscriber status '{other}'")),
        }
    }
}

/// The topic everyone gets on /start, and where alerts go.
pub const ALERTS_TOPIC: &str = "alerts";

/// Where drills go: a topic of the service's own that only staff are on (nobody can subscribe
/// to it: it is not in the catalogue).
pub const DRILL_TOPIC: &str = "drill";

/// Whether a broadcast is a matter for the emergency staff: an alert, update or all-clear, a
/// broadcast of alert priority, or anything on the alerts topic.
pub fn is_alert_class(kind: BroadcastKind, priority: Priority, topic: &str) -> bool {
    kind.is_alert() || priority == Priority::Alert || topic == ALERTS_TOPIC
}

/// A topic as the city configured it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    pub id: Topic,
    pub label_de: String,
    pub label_en: String,
    pub priority: Priority,
    /// During quiet hours: `silent` (default) or `hold` until they end. Alerts ignore both.
    #[serde(default)]
    pub quiet: QuietPolicy,
}

impl TopicConfig {
    /// Its name for people who read `lang` (English, or German otherwise).
    pub fn label(&self, lang: &str) -> &str {
        if lang == "en" {
            &self.label_en
        } else {
            &self.label_de
        }
    }

    /// What a broadcast on this topic is unless said otherwise.
    pub fn default_kind(&self) -> BroadcastKind {
        if self.id.as_str() == ALERTS_TOPIC {
            BroadcastKind::Alert
        } else {
            BroadcastKind::Announcement
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuietPolicy {
    #[default]
    Silent,
    Hold,
}

/// The default topics: news, traffic and alerts.
pub fn default_topics() -> Vec<TopicConfig> {
    let topic = |id: &str, de: &str, en: &str, priority| TopicConfig {
        id: Topic::parse(id).unwrap_or_else(|e| unreachable!("{e}")),
        label_de: de.into(),
        label_en: en.into(),
        priority,
        quiet: QuietPolicy::Silent,
    };
    vec![
        topic("news", "Nachrichten", "News", Priority::Normal),
        topic("traffic", "Verkehr", "Traffic", Priority::Urgent),
        topic("alerts", "Warnungen", "Alerts", Priority::Alert),
    ]
}

/// Who acts. The policy decides by this; the audit log and the two-person rule name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A staff person acting through one of their addresses.
    Staff {
        person: String,
        role: Role,
        channel: ChannelKind,
        address: String,
    },
    /// Someone through an API token (the city's CMS, the control room's system). A token is a
    /// person's key: bound to one with `person`, the two-person rule sees that person.
    Token {
        name: String,
        role: Role,
        person: Option<PersonName>,
    },
    /// The operator at the server's command line: the administrator.
    Operator { user: String },
    /// The scheduler, firing what someone planned (and was allowed to plan).
    Scheduler { planned_by: Option<String> },
    /// The official warnings feed (NINA, CAP), carrying what the authorities published.
    WarningsFeed,
}

impl Actor {
    /// The role the policy looks at; `None` for the scheduler, which only fires what was planned.
    pub fn role(&self) -> Option<Role> {
        match self {
            Actor::Staff { role, .. } | Actor::Token { role, .. } => Some(*role),
            Actor::Operator { .. } => Some(Role::Admin),
            Actor::Scheduler { .. } | Actor::WarningsFeed => None,
        }
    }

    /// The person behind a chat address or a token bound to one.
    pub fn person(&self) -> Option<&str> {
        match self {
            Actor::Staff { person, .. } => Some(person),
            Actor::Token {
                person: Some(person),
                ..
            } => Some(person.as_str()),
            _ => None,
        }
    }

    /// Who this is, as the two-person rule compares them: every address of a person gives the
    /// same answer.
    pub fn identity(&self) -> String {
        match self {
            Actor::Staff { person, .. } => format!("person:{person}"),
            Actor::Token {
                person: Some(person),
                ..
            } => format!("person:{person}"),
            Actor::Token { name, .. } => format!("token:{name}"),
            Actor::Operator { user } => format!("operator:{user}"),
            Actor::Scheduler { planned_by } => {
                format!("scheduler:{}", planned_by.as_deref().unwrap_or("config"))
            }
            Actor::WarningsFeed => "feed:warnings".into(),
        }
    }

    /// How the audit log and `created_by` name it: staff as `channel:address` (where missed
    /// schedules are reported), the others by kind and name.
    pub fn label(&self) -> String {
        match self {
            Actor::Staff {
                channel, address, ..
            } => format!("{channel}:{address}"),
            Actor::Token { name, .. } => format!("api:{name}"),
            Actor::Operator { user } => format!("cli:{user}"),
            Actor::Scheduler { planned_by } => {
                planned_by.clone().unwrap_or_else(|| "config".into())
            }
            Actor::WarningsFeed => "warnings-feed".into(),
        }
    }

    /// The audit log's actor: the person and the address or token used.
    pub fn audit_name(&self) -> String {
        match self {
            Actor::Staff { person, .. } => {
                let address = self.label();
                if *person == address {
                    address
                } else {
                    format!("{person} ({address})")
                }
            }
            Actor::Token {
                person: Some(person),
                ..
            } => format!("{person} ({})", self.label()),
            Actor::Scheduler { .. } => format!("scheduler for {}", self.label()),
            other => other.label(),
        }
    }
}

/// How retries back off: exponentially from `initial` to `max`, with ± `jitter` spread.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: i32,
    pub initial: std::time::Duration,
    pub max: std::time::Duration,
    pub factor: f64,
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            initial: std::time::Duration::from_secs(2),
            max: std::time::Duration::from_secs(600),
            factor: 2.0,
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// Waiting for a database that does not answer (lanes, fan-out): 100 ms doubling to 6.4 s.
    pub const STORE_OUTAGE: RetryPolicy = RetryPolicy::backoff(100, 6_400);
    /// Waiting for a platform that does not answer a poll: 1 s doubling to 32 s.
    pub const POLLING: RetryPolicy = RetryPolicy::backoff(1_000, 32_000);

    /// Doubling from `initial_ms` to `max_ms`, with a little jitter, never giving up.
    pub const fn backoff(initial_ms: u64, max_ms: u64) -> RetryPolicy {
        RetryPolicy {
            max_attempts: i32::MAX,
            initial: std::time::Duration::from_millis(initial_ms),
            max: std::time::Duration::from_millis(max_ms),
            factor: 2.0,
            jitter: 0.1,
        }
    }

    /// The wait before attempt number `attempt + 1`, given `attempt` failures so far (≥ 1).
    pub fn delay(&self, attempt: i32) -> std::time::Duration {
        let exp = self.factor.powi(attempt.saturating_sub(1).clamp(0, 30));
        let base = (self.initial.as_secs_f64() * exp).min(self.max.as_secs_f64());
        let spread = if self.jitter > 0.0 {
            rand::Rng::random_range(&mut rand::rng(), -self.jitter..=self.jitter)
        } else {
            0.0
        };
        std::time::Duration::from_secs_f64((base * (1.0 + spread)).max(0.0))
    }
}

/// WhatsApp's limit for one template parameter.
pub const TEMPLATE_PARAM_MAX: usize = 1024;
/// WhatsApp allows free text this long after a person's last message; later, only a template.
pub const WHATSAPP_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// Text as a template parameter: no newlines or tabs, no run of more than four spaces, at most
/// 1024 characters, cut after a sentence (else a word) with "…" when longer.
pub fn template_parameter(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= TEMPLATE_PARAM_MAX {
        return flat;
    }
    let budget = text::prefix_within(&flat, TEMPLATE_PARAM_MAX - 1);
    let cut = budget
        .match_indices(['.', '!', '?'])
        .map(|(i, _)| i + 1)
        .rfind(|i| budget[*i..].starts_with(' ') || *i == budget.len())
        .filter(|i| *i > TEMPLATE_PARAM_MAX / 2)
        .or_else(|| budget.rfind(' '))
        .unwrap_or(budget.len());
    format!("{}…", budget[..cut].trim_end())
}

/// Milliseconds since the Unix epoch: the one time unit in the database.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_order_alert_first() {
        assert!(Priority::Alert > Priority::Urgent);
        assert!(Priority::Urgent > Priority::Normal);
        assert!(Priority::Normal > Priority::Low);
        for p in [
            Priority::Low,
            Priority::Normal,
            Priority::Urgent,
            Priority::Alert,
        ] {
            assert_eq!(Priority::from_i16(p.as_i16()), Some(p));
            assert_eq!(p.as_str().parse::<Priority>(), Ok(p));
        }
    }

    #[test]
    fn topics_reject_what_is_not_an_id() {
        assert!(Topic::parse("news").is_ok());
        assert!(Topic::parse("road-works_2").is_ok());
        assert!(Topic::parse("").is_err());
        assert!(Topic::parse("News").is_err());
        assert!(Topic::parse("a b").is_err());
        assert!(Topic::parse(&"x".repeat(33)).is_err());
    }

    #[test]
    fn person_names_are_names_and_never_an_address() {
        assert_eq!(
            PersonName::parse(" Jürgen Weiß-Müller ").map(|p| p.0),
            Ok("Jürgen Weiß-Müller".to_string())
        );
        assert!(PersonName::parse("Dr. A_B 2").is_ok());
        assert!(PersonName::parse(&"ä".repeat(PersonName::MAX_CHARS)).is_ok());
        assert!(PersonName::parse(&"ä".repeat(PersonName::MAX_CHARS + 1)).is_err());
        assert!(PersonName::parse("   ").is_err());
        assert!(PersonName::parse("telegram:901").is_err());
        assert!(PersonName::parse("Anna\tB").is_err());
        assert!(PersonName::parse("Anna;DROP").is_err());
    }

    #[test]
    fn texts_must_not_be_blank_or_huge() {
        assert!(BroadcastText::parse("  ").is_err());
        assert_eq!(
            BroadcastText::parse(" hi ").map(|t| t.0),
            Ok("hi".to_string())
        );
        assert!(BroadcastText::parse(&"x".repeat(BroadcastText::MAX_CHARS + 1)).is_err());
    }
}
