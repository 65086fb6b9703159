//! The broadcast service: submit (a draft with preview and recipient counts, or released at
//! once), confirm, approve, cancel, follow up, schedule, get and list. Validation, the policy,
//! idempotency, the audit entry and the wake-up of the queue happen here, once.

use std::sync::Arc;

use rand::Rng;
use tokio::sync::Notify;

use super::policy::{self, Action, Refusal, Subject};
use crate::domain::area::{Catalogue, Resolved, Target};
use crate::domain::time::{Clock, SystemClock};
use crate::domain::{
    Actor, BroadcastKind, BroadcastStatus, BroadcastText, DRILL_TOPIC, Priority, QuietPolicy,
    Topic, TopicConfig,
};
use crate::store::{
    Broadcast, Confirmation, NewBroadcast, RecipientCount, Schedule, Start, Store, StoreError,
    TargetCount,
};

mod drafts;
mod templates;
pub use drafts::{AuthorNotice, Proposed};

/// Notices a retraction writes before it tells the lanes (about 100 ms of a fast lane).
const RETRACTION_FIRST_CHUNK: u32 = 200;

/// How long a draft's code stays valid, and an approval request's.
const SEND_CODE_TTL_MS: i64 = 3_600_000;
const APPROVE_CODE_TTL_MS: i64 = 24 * 3_600_000;

/// Wakes the queue when a broadcast was released (the engine implements it).
pub trait QueueWake: Send + Sync {
    fn released(&self, broadcast: &Broadcast);
    /// A broadcast was retracted: lanes put back what they hold (its deliveries there are
    /// cancelled) and claim again, so that its notices go first.
    fn retracted(&self, notice: &Broadcast) {
        self.released(notice);
    }
}

/// When a submitted broadcast goes out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    Now,
    /// At this time (ms); it must lie ahead.
    At(i64),
    /// Again and again: a cron expression in city time (six fields).
    Every(String),
}

/// A broadcast as someone asked for it, before validation.
#[derive(Debug, Clone)]
pub struct Submission {
    /// A topic id.
    pub topic: String,
    /// Default: the topic's (alert on the alerts topic, else announcement).
    pub kind: Option<BroadcastKind>,
    /// Default: the topic's.
    pub priority: Option<Priority>,
    pub text: String,
    /// The text for subscribers who chose English, when there is one (official warnings).
    pub text_en: Option<String>,
    /// The alert an update or all-clear follows.
    pub parent_id: Option<i64>,
    pub when: When,
    /// Wait for the author's confirmation instead of going out (or to approval) at once.
    pub draft: bool,
    /// A retried request with the same key creates nothing new.
    pub idempotency_key: Option<String>,
    /// Where it goes (districts, a circle, a polygon); `None`: the whole city.
    pub target: Option<Target>,
    /// A picture or document uploaded before (`POST /api/v1/media`, the chat, the CLI, the
    /// dashboard), with a picture's alternative text.
    pub attachment: Option<Attachment>,
}

/// A picture or document a broadcast carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// `media.id` of the kept medium.
    pub media_id: i64,
    /// What the picture shows, for people who cannot see it (required for a picture).
    pub alt: Option<String>,
}

/// A correction of a sent broadcast, as staff asked for it.
#[derive(Debug, Clone)]
pub struct CorrectionRequest {
    /// The whole corrected text.
    pub text: String,
    /// Tell those who received it (a reply on Telegram, a quoting message on WhatsApp). A
    /// silent correction only edits, where the platform can; only news may be corrected so.
    pub notice: bool,
    /// Wait for the author's confirmation (the chat's preview).
    pub draft: bool,
    pub idempotency_key: Option<String>,
}

/// What a retraction would do, for a preview: the broadcast, its notice in the staff's
/// language, and who gets it.
#[derive(Debug, Clone)]
pub struct RetractionPreview {
    pub broadcast: Broadcast,
    pub notice: String,
    pub recipients: RecipientCount,
    /// The chat's code to confirm it.
    pub code: Option<String>,
}

/// What a submission became.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub broadcast: Broadcast,
    pub recipients: RecipientCount,
    /// False when the idempotency key found the one made earlier.
    pub created: bool,
    /// A draft's code for the author (`/confirm CODE`, `/cancel CODE`, the buttons).
    pub code: Option<String>,
    /// A recurring draft's first firing (ms).
    pub next_at: Option<i64>,
    /// A targeted broadcast: the districts it touches (names) and its recipients by group.
    pub targeting: Option<Targeting>,
}

/// What a target means for a preview: the districts it touches and who it reaches, by group.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Targeting {
    pub areas: Vec<String>,
    pub names: Vec<String>,
    pub count: TargetCount,
}

/// What a confirmation or approval did.
#[derive(Debug, Clone)]
pub enum Outcome {
    Released(Broadcast),
    Scheduled(Broadcast),
    /// Waits for a second person; the emergency staff are asked.
    AwaitingApproval(Broadcast),
    /// A recurring draft became schedule `schedule_id`, next firing at `next_at` (ms).
    Recurring {
        broadcast: Broadcast,
        schedule_id: i64,
        next_at: i64,
    },
    /// A sent broadcast was taken back; `notice` tells whoever received it.
    Retracted {
        broadcast: Broadcast,
        notice: Box<Broadcast>,
    },
}

impl Outcome {
    pub fn broadcast(&self) -> &Broadcast {
        match self {
            Outcome::Released(b)
            | Outcome::Scheduled(b)
            | Outcome::AwaitingApproval(b)
            | Outcome::Recurring { broadcast: b, .. }
            | Outcome::Retracted { broadcast: b, .. } => b,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("broadcast {0} does not exist")]
    NotFound(i64),
    #[error("schedule S{0} does not exist")]
    NoSchedule(i64),
    #[error("broadcast {id} is {status}: {wanted}", status = status.as_str())]
    WrongStatus {
        id: i64,
        status: BroadcastStatus,
        wanted: &'static str,
    },
    #[error("the code is unknown, expired or already used")]
    UnknownCode,
    #[error("the idempotency key was already used for a different request")]
    IdempotencyConflict,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::IdempotencyConflict => ServiceError::IdempotencyConflict,
            StoreError::UnknownBroadcast(id) => ServiceError::NotFound(id),
            other => ServiceError::Store(other),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

fn invalid(field: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::Invalid {
        field,
        message: message.into(),
    }
}

/// A medium's alternative text as kept: trimmed, `None` when blank; a picture must have one.
/// Every way in asks this (the CLI before it keeps the file, too).
pub fn checked_alt(
    kind: crate::domain::media::MediaKind,
    alt: Option<&str>,
) -> ServiceResult<Option<String>> {
    use crate::domain::media::{ALT_MAX, MediaKind};
    let alt = alt
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    if kind == MediaKind::Picture && alt.is_none() {
        return Err(invalid(
            "alt",
            "a picture needs an alternative text: say in a sentence what it shows (shown on the archive page and the dashboard)",
        ));
    }
    if alt.as_ref().is_some_and(|t| t.chars().count() > ALT_MAX) {
        return Err(invalid(
            "alt",
            format!("the alternative text is longer than {ALT_MAX} characters"),
        ));
    }
    Ok(alt)
}

/// A submission after validation.
struct Checked<'a> {
    topic: &'a TopicConfig,
    kind: BroadcastKind,
    priority: Priority,
    text: BroadcastText,
    text_en: Option<BroadcastText>,
    parent_id: Option<i64>,
    scheduled_at: Option<i64>,
    cron: Option<(String, i64)>,
    /// The target as given and as resolved; `None` also when it covers the whole city.
    target: Option<(Target, Resolved)>,
    /// The medium and a picture's alternative text.
    attachment: Option<(crate::store::MediaInfo, Option<String>)>,
}

/// What a WhatsApp template costs and how many people the number may start conversations with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateCosts {
    /// EUR per template message, per kind (`whatsapp.template_price`); a missing kind costs 0.
    pub price_eur: std::collections::HashMap<BroadcastKind, f64>,
    /// Unique recipients per 24 h the number may start conversations with
    /// (`whatsapp.messaging_limit`); `None`: unlimited.
    pub messaging_limit: Option<u64>,
}

/// Who a broadcast reaches and what it costs: the numbers every preview shows (chat and
/// dashboard), from [`BroadcastService::reach`].
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Reach {
    pub recipients: RecipientCount,
    /// WhatsApp recipients outside their 24-hour window: they get the paid template.
    pub whatsapp_templates: u64,
    /// The templates' estimated cost in EUR.
    pub cost_eur: f64,
    /// The number's messaging limit, when the templates exceed it.
    pub over_limit: Option<u64>,
}

impl Reach {
    /// The cost as shown to people: two decimals.
    pub fn cost_text(&self) -> String {
        format!("{:.2}", self.cost_eur)
    }
}

pub struct BroadcastService {
    store: Arc<dyn Store>,
    costs: TemplateCosts,
    topics: Vec<TopicConfig>,
    /// The service's own topic for drills: staff only, not in the catalogue.
    drill: TopicConfig,
    second_approval: bool,
    /// `warnings.mode = approve`: what the feed submits waits for the emergency staff.
    feed_approval: bool,
    tz: chrono_tz::Tz,
    queue: Option<Arc<dyn QueueWake>>,
    /// Raised when a broadcast starts to await approval: whoever asks the staff looks at once.
    approvals: Notify,
    clock: Arc<dyn Clock>,
    /// The city's districts (`areas.file`); without them nothing can be targeted.
    areas: Option<Arc<Catalogue>>,
    /// The check link under every message, when the archive is on: counted in the length.
    footer: Option<Arc<super::check::Footer>>,
    /// Counts what this process changed that the public sees (a release, a correction, a
    /// retraction, a cancel): the archive renders its pages anew when it moved.
    public_changes: std::sync::atomic::AtomicU64,
    /// Tells the authors of departments' drafts what became of them.
    authors: std::sync::OnceLock<Arc<dyn AuthorNotice>>,
    /// The outlets and the archive their posts link to, for showing what each posts.
    outlets: Arc<[crate::domain::outlet::OutletRoute]>,
    archive: Option<url::Url>,
}

impl BroadcastService {
    pub fn new(
        store: Arc<dyn Store>,
        topics: Vec<TopicConfig>,
        second_approval: bool,
        tz: chrono_tz::Tz,
        queue: Option<Arc<dyn QueueWake>>,
    ) -> Self {
        BroadcastService {
            store,
            costs: TemplateCosts::default(),
            topics,
            drill: TopicConfig {
                id: Topic::parse(DRILL_TOPIC).unwrap_or_else(|e| unreachable!("{e}")),
                label_de: DRILL_TOPIC.into(),
                label_en: DRILL_TOPIC.into(),
                priority: Priority::Alert,
                quiet: QuietPolicy::Silent,
            },
            second_approval,
            feed_approval: true,
            tz,
            queue,
            approvals: Notify::new(),
            clock: Arc::new(SystemClock),
            areas: None,
            footer: None,
            public_changes: std::sync::atomic::AtomicU64::new(0),
            authors: std::sync::OnceLock::new(),
            outlets: Arc::new([]),
            archive: None,
        }
    }

    /// How often this process changed what the public sees (see `public_changes`).
    pub fn public_generation(&self) -> u64 {
        self.public_changes
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Something the public sees changed (or may have: counted before and after the change).
    fn public_changed(&self) {
        self.public_changes
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// The same service with the check link under every message (the archive is on).
    pub fn with_footer(mut self, footer: Option<Arc<super::check::Footer>>) -> Self {
        self.footer = footer;
        self
    }

    /// The same service knowing the outlets (`[[outlets]]`) and the archive their posts link to.
    pub fn with_outlets(
        mut self,
        outlets: Arc<[crate::domain::outlet::OutletRoute]>,
        archive: Option<url::Url>,
    ) -> Self {
        self.outlets = outlets;
        self.archive = archive;
        self
    }

    /// What outlet row `post` posts (or posted) on its platform: the text cut to the platform's
    /// limit with the check link (Mastodon as if at the default 500; an instance may allow more).
    pub async fn outlet_text(&self, post: &crate::store::OutletPost) -> ServiceResult<String> {
        use crate::domain::outlet::OutletAction;
        let target = self.get(post.target_id).await?;
        let body = match post.action {
            OutletAction::Retract => self.get(post.broadcast_id).await?.text,
            _ => target.text.clone(),
        };
        let kind = self
            .outlets
            .iter()
            .find(|o| o.name == post.outlet)
            .map_or(crate::domain::outlet::OutletKind::Webhook, |o| o.kind);
        Ok(self.text_on_outlet(kind, &body, &target.topic, target.public_code.as_deref()))
    }

    /// What each configured outlet will post of a new broadcast of `kind` on `topic` with
    /// `text`, or why it posts nothing; `code` is its public code once it has one (before, a
    /// placeholder of the same length, so the cut is the same). Empty for a correction or
    /// retraction: those follow the post they are about.
    pub fn outlet_preview(
        &self,
        topic: &str,
        kind: BroadcastKind,
        text: &str,
        code: Option<&str>,
    ) -> Vec<crate::domain::outlet::OutletPreview> {
        if kind.is_notice() {
            return Vec::new();
        }
        let placeholder = "X".repeat(crate::domain::archive::CODE_LEN);
        let code = Some(code.unwrap_or(&placeholder));
        self.outlets
            .iter()
            .map(|o| {
                let not_posted = o.refusal(topic, kind);
                crate::domain::outlet::OutletPreview {
                    outlet: o.name.clone(),
                    kind: o.kind,
                    text: not_posted
                        .is_none()
                        .then(|| self.text_on_outlet(o.kind, text, topic, code)),
                    not_posted,
                }
            })
            .collect()
    }

    /// The message key of why an outlet posts nothing (`outlet-not-posted-…`), for the
    /// previews of the chat and the dashboard.
    pub fn not_posted_key(why: crate::domain::outlet::NotPosted) -> &'static str {
        use crate::domain::outlet::NotPosted;
        match why {
            NotPosted::Drill => "outlet-not-posted-drill",
            NotPosted::TopicNotTaken => "outlet-not-posted-topic",
            NotPosted::AlertsNotTaken => "outlet-not-posted-alerts",
        }
    }

    /// `text` as an outlet of `kind` posts it, with the check link or line of the public
    /// `code`: the function posting uses, with what the service knows of the archive.
    fn text_on_outlet(
        &self,
        kind: crate::domain::outlet::OutletKind,
        text: &str,
        topic: &str,
        code: Option<&str>,
    ) -> String {
        use crate::domain::outlet::{check_link, text as cut};
        let link = self
            .archive
            .as_ref()
            .zip(code)
            .map(|(a, c)| check_link(a, c));
        let line = self
            .footer
            .as_ref()
            .zip(code)
            .filter(|_| topic != DRILL_TOPIC)
            .map(|(f, c)| f.line("de", c));
        cut::for_outlet(
            kind,
            text,
            link.as_deref(),
            line.as_deref(),
            cut::MASTODON_DEFAULT_LIMIT,
        )
    }

    /// The check link as it will stand under broadcast `b`, for previews.
    pub fn footer_of(&self, b: &Broadcast, lang: &str) -> Option<String> {
        let footer = self.footer.as_ref()?;
        let code = b.public_code.as_deref()?;
        (b.topic != DRILL_TOPIC).then(|| footer.line(lang, code))
    }

    /// The same service with the city's districts: broadcasts may then have a target.
    pub fn with_areas(mut self, areas: Option<Arc<Catalogue>>) -> Self {
        self.areas = areas;
        self
    }

    /// The city's districts, when configured.
    pub fn areas(&self) -> Option<&Arc<Catalogue>> {
        self.areas.as_ref()
    }

    /// A target against the districts: `None` when it covers the whole city.
    pub fn resolve_target(&self, target: &Target) -> ServiceResult<Option<Resolved>> {
        let Some(catalogue) = &self.areas else {
            return Err(invalid(
                "target",
                "this city has no districts configured (areas.file): a broadcast goes to everyone",
            ));
        };
        let resolved = catalogue
            .resolve(target)
            .map_err(|e| ServiceError::Invalid {
                field: e.field,
                message: e.message,
            })?;
        Ok((!resolved.whole_city).then_some(resolved))
    }

    /// Who a target reaches on `topic`, by group.
    pub async fn targeting(&self, topic: &Topic, resolved: &Resolved) -> ServiceResult<Targeting> {
        Ok(Targeting {
            areas: resolved.areas.clone(),
            names: resolved.names.clone(),
            count: self
                .store
                .target_recipient_count(topic, &resolved.areas, &resolved.shape)
                .await?,
        })
    }

    /// The same service reading time from `clock` (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same service pricing WhatsApp templates with `costs`.
    pub fn with_template_costs(mut self, costs: TemplateCosts) -> Self {
        self.costs = costs;
        self
    }

    /// Who a broadcast of `kind` on `topic` (or following alert `parent`) reaches now, how many
    /// of them get the paid WhatsApp template, its cost, and whether that passes the number's
    /// messaging limit. The chat's and the dashboard's previews both show this.
    pub async fn reach(
        &self,
        kind: BroadcastKind,
        topic: &Topic,
        parent: Option<i64>,
        target: Option<&Target>,
    ) -> ServiceResult<Reach> {
        let resolved = match target {
            Some(t) => self.resolve_target(t)?,
            None => None,
        };
        let recipients = self.recipients(topic, parent, resolved.as_ref()).await?;
        let window_start = self.clock.now_ms() - crate::domain::WHATSAPP_WINDOW_MS;
        // A target's recipients outside the window are at most its WhatsApp recipients and
        // at most the topic's outside the window (an upper bound: the cost is never understated).
        let whatsapp_templates = if recipients.whatsapp == 0 {
            0
        } else {
            self.store
                .whatsapp_outside_window(topic, parent, window_start)
                .await?
                .min(recipients.whatsapp)
        };
        let price = self.costs.price_eur.get(&kind).copied().unwrap_or(0.0);
        let over_limit = self
            .costs
            .messaging_limit
            .filter(|limit| whatsapp_templates > *limit);
        Ok(Reach {
            recipients,
            whatsapp_templates,
            cost_eur: whatsapp_templates as f64 * price,
            over_limit,
        })
    }

    /// [`reach`](Self::reach) of a broadcast that exists.
    pub async fn reach_of(&self, b: &Broadcast) -> ServiceResult<Reach> {
        let topic = Topic::parse(&b.topic).map_err(|e| invalid("topic", e))?;
        self.reach(b.kind, &topic, b.parent_id, b.target.as_ref())
            .await
    }

    /// A time (ms) as people read it: city time with its zone.
    pub fn local_time(&self, ms: i64) -> String {
        chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
            .map(|t| {
                t.with_timezone(&self.tz)
                    .format("%Y-%m-%d %H:%M %Z")
                    .to_string()
            })
            .unwrap_or_default()
    }

    /// Whether what the warnings feed submits waits for the emergency staff (`approve`, the
    /// default) or goes at once (`auto`).
    pub fn with_feed_approval(mut self, approve: bool) -> Self {
        self.feed_approval = approve;
        self
    }

    fn approvals_rules(&self) -> policy::Approvals {
        policy::Approvals {
            second_person: self.second_approval,
            feed: self.feed_approval,
        }
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn topics(&self) -> &[TopicConfig] {
        &self.topics
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.tz
    }

    pub fn second_approval(&self) -> bool {
        self.second_approval
    }

    /// Resolves when a broadcast started to await approval in this process.
    pub async fn approvals_waiting(&self) {
        self.approvals.notified().await
    }

    /// A topic of the catalogue (what citizens may subscribe to).
    pub fn topic(&self, id: &str) -> Option<&TopicConfig> {
        self.topics.iter().find(|t| t.id.as_str() == id)
    }

    /// A topic a broadcast may go to: the catalogue's, or the drill topic.
    fn target(&self, id: &str) -> Option<&TopicConfig> {
        self.topic(id)
            .or_else(|| (id == DRILL_TOPIC).then_some(&self.drill))
    }

    /// Validates a submission; `retried` (its idempotency key made a broadcast before) lets a
    /// time pass that has passed since the first request.
    async fn checked(&self, s: &Submission, retried: bool) -> ServiceResult<Checked<'_>> {
        let topic = self.target(s.topic.trim()).ok_or_else(|| {
            let valid: Vec<&str> = self.topics.iter().map(|t| t.id.as_str()).collect();
            invalid(
                "topic",
                format!(
                    "unknown topic '{}'; valid topics: {}",
                    s.topic.trim(),
                    valid.join(", ")
                ),
            )
        })?;
        let drill = topic.id.as_str() == DRILL_TOPIC;
        let text =
            BroadcastText::parse(&drill_marked(drill, &s.text)).map_err(|e| invalid("text", e))?;
        let text_en = s
            .text_en
            .as_deref()
            .map(|t| BroadcastText::parse(&drill_marked(drill, t)))
            .transpose()
            .map_err(|e| invalid("text_en", e))?;
        // The check link goes under it: the whole must fit.
        let room = BroadcastText::MAX_CHARS
            - self
                .footer
                .as_ref()
                .filter(|_| !drill)
                .map_or(0, |f| f.max_chars());
        for (field, t) in [("text", Some(&text)), ("text_en", text_en.as_ref())] {
            let n = t.map_or(0, |t| t.as_str().chars().count());
            if n > room {
                return Err(invalid(
                    field,
                    format!(
                        "the text has {n} characters; with the check link under it at most {room} are allowed"
                    ),
                ));
            }
        }
        let kind = s.kind.unwrap_or_else(|| topic.default_kind());
        // Alerts, updates and all-clears go first unless said otherwise.
        let priority = s.priority.unwrap_or(match kind {
            BroadcastKind::Announcement => topic.priority,
            _ => Priority::Alert,
        });
        let now = self.clock.now();
        let (scheduled_at, cron) = match &s.when {
            When::Now => (None, None),
            When::At(at) => {
                if *at <= now.timestamp_millis() && !retried {
                    return Err(invalid("scheduled_at", "the time has passed"));
                }
                (Some(*at), None)
            }
            When::Every(expr) => {
                let r =
                    crate::domain::time::Recurrence::parse(expr).map_err(|e| invalid("cron", e))?;
                let next = r
                    .next_after(self.tz, now)
                    .ok_or_else(|| invalid("cron", format!("'{expr}' never fires")))?;
                (None, Some((r.expr, next.timestamp_millis())))
            }
        };
        let target = match &s.target {
            Some(_) if s.parent_id.is_some() => {
                return Err(invalid(
                    "target",
                    "an update or all-clear goes to its alert's recipients; it takes no target",
                ));
            }
            Some(t) => self.resolve_target(t)?.map(|r| (t.clone(), r)),
            None => None,
        };
        let attachment = match &s.attachment {
            Some(a) => Some(self.checked_attachment(a).await?),
            None => None,
        };
        Ok(Checked {
            topic,
            kind,
            priority,
            text,
            text_en,
            parent_id: s.parent_id,
            scheduled_at,
            cron,
            target,
            attachment,
        })
    }

    /// An attachment must name a kept medium, and a picture needs its alternative text.
    async fn checked_attachment(
        &self,
        a: &Attachment,
    ) -> ServiceResult<(crate::store::MediaInfo, Option<String>)> {
        let Some(info) = self.store.media_info(a.media_id).await? else {
            return Err(invalid(
                "media_id",
                format!(
                    "medium {} does not exist (upload it first; media are deleted after media.keep_days)",
                    a.media_id
                ),
            ));
        };
        let alt = checked_alt(info.kind, a.alt.as_deref())?;
        Ok((info, alt))
    }

    /// A follow-up's parent must be an alert that was released. Checked after the policy, so
    /// someone who may not follow up learns nothing about the parent.
    async fn check_parent(&self, c: &Checked<'_>) -> ServiceResult<()> {
        let (kind, parent) = (c.kind, c.parent_id);
        let parent = match (kind, parent) {
            (BroadcastKind::Correction | BroadcastKind::Retraction, _) => {
                return Err(invalid(
                    "kind",
                    "a correction or retraction is made on the broadcast it corrects (POST /api/v1/broadcasts/{id}/corrections or /retract)",
                ));
            }
            (BroadcastKind::Update | BroadcastKind::Allclear, None) => {
                return Err(invalid(
                    "parent_id",
                    "an update or all-clear needs the id of the alert it follows",
                ));
            }
            (BroadcastKind::Announcement | BroadcastKind::Alert, Some(_)) => {
                return Err(invalid(
                    "parent_id",
                    "only an update or all-clear follows an alert",
                ));
            }
            (_, None) => return Ok(()),
            (_, Some(parent)) => parent,
        };
        let released = match self.store.broadcast(parent).await? {
            Some(p) => {
                p.kind == BroadcastKind::Alert
                    && p.released_at.is_some()
                    && p.status != BroadcastStatus::Retracted
            }
            None => false,
        };
        if !released {
            return Err(invalid(
                "parent_id",
                format!("broadcast {parent} is not an alert that was released"),
            ));
        }
        if c.scheduled_at.is_some() || c.cron.is_some() {
            return Err(invalid(
                "scheduled_at",
                "an update or all-clear goes out now, not later",
            ));
        }
        Ok(())
    }

    /// A drill reaches the staff only: every staff address is put on the drill topic (as a
    /// subscriber of its own, on no other topic) before a drill is previewed or submitted.
    async fn enlist_staff_for_drill(&self, topic: &Topic) -> ServiceResult<()> {
        if topic.as_str() != DRILL_TOPIC {
            return Ok(());
        }
        for m in self.store.list_staff().await? {
            let s = self
                .store
                .ensure_subscriber(m.channel, &m.address, crate::i18n::DEFAULT_LANGUAGE)
                .await?;
            if !s.topics.iter().any(|t| t == DRILL_TOPIC) {
                self.store.set_subscription(s.id, topic, true).await?;
            }
        }
        Ok(())
    }

    /// Who a broadcast on `topic` (or following `parent`) reaches now.
    pub async fn recipients(
        &self,
        topic: &Topic,
        parent: Option<i64>,
        target: Option<&Resolved>,
    ) -> ServiceResult<RecipientCount> {
        Ok(match (parent, target) {
            (Some(p), _) => self.store.follow_up_recipient_count(p).await?,
            (None, Some(t)) => self
                .store
                .target_recipient_count(topic, &t.areas, &t.shape)
                .await?
                .total(),
            (None, None) => self.store.recipient_count(topic).await?,
        })
    }

    /// Validates and asks the policy without writing anything: what `submit` would send.
    pub async fn preview(
        &self,
        actor: &Actor,
        s: &Submission,
    ) -> ServiceResult<(BroadcastKind, Priority, RecipientCount)> {
        let c = self.checked(s, false).await?;
        let identity = actor.identity();
        policy::decide(
            actor,
            Action::Submit,
            &Subject::new(c.kind, c.priority, c.topic.id.as_str(), Some(&identity)),
            self.approvals_rules(),
        )?;
        self.check_parent(&c).await?;
        self.enlist_staff_for_drill(&c.topic.id).await?;
        let resolved = c.target.as_ref().map(|(_, r)| r);
        let recipients = self.recipients(&c.topic.id, c.parent_id, resolved).await?;
        Ok((c.kind, c.priority, recipients))
    }

    /// Creates a broadcast: a draft for its author to confirm, or released (scheduled, or
    /// awaiting a second person) at once.
    pub async fn submit(&self, actor: &Actor, s: Submission) -> ServiceResult<Submitted> {
        // The key first: a retry answers with what the first request made, even when its
        // `scheduled_at` has passed since (the store still compares the requests).
        let retried = match &s.idempotency_key {
            Some(key) => self
                .store
                .broadcast_by_idempotency_key(key)
                .await?
                .is_some(),
            None => false,
        };
        let c = self.checked(&s, retried).await?;
        let identity = actor.identity();
        let subject = Subject::new(c.kind, c.priority, c.topic.id.as_str(), Some(&identity));
        if let Err(refusal) =
            policy::decide(actor, Action::Submit, &subject, self.approvals_rules())
        {
            tracing::info!(actor = %actor.audit_name(), kind = c.kind.as_str(), topic = %c.topic.id, "submission refused: {refusal}");
            return Err(refusal.into());
        }
        self.check_parent(&c).await?;
        self.enlist_staff_for_drill(&c.topic.id).await?;
        let recurring = c.cron.is_some();
        let start = if s.draft || recurring {
            Start::Draft
        } else if policy::needs_second_approval(actor, &subject, self.approvals_rules()) {
            Start::AwaitingApproval
        } else {
            Start::Release
        };
        let new = NewBroadcast {
            topic: c.topic.id.clone(),
            kind: c.kind,
            priority: c.priority,
            text: c.text,
            text_en: c.text_en,
            idempotency_key: s.idempotency_key.clone(),
            created_by: Some(actor.label()),
            author: Some(identity.clone()),
            parent_id: c.parent_id,
            start,
            scheduled_at: c.scheduled_at,
            cron: c.cron.as_ref().map(|(expr, _)| expr.clone()),
            target: c.target.as_ref().map(|(t, r)| (t.clone(), r.areas.clone())),
            audit_actor: Some(actor.audit_name()),
            notice: true,
            new_text: None,
            media_id: c.attachment.as_ref().map(|(m, _)| m.id),
            alt: c.attachment.as_ref().and_then(|(_, alt)| alt.clone()),
        };
        let created = self.store.create_broadcast(&new).await?;
        self.public_changed();
        let mut broadcast = created.broadcast;
        // Counted after the queue was woken: an alert's first send does not wait for the count.
        if created.created && broadcast.status == BroadcastStatus::Released {
            self.wake_queue(&broadcast);
        }
        let targeting = match &c.target {
            Some((_, r)) => Some(self.targeting(&new.topic, r).await?),
            None => None,
        };
        let recipients = match &targeting {
            Some(t) => t.count.total(),
            None => self.recipients(&new.topic, new.parent_id, None).await?,
        };
        if !created.created {
            return Ok(Submitted {
                broadcast,
                recipients,
                created: false,
                code: None,
                next_at: None,
                targeting,
            });
        }
        let mut next_at = c.cron.as_ref().map(|(_, next)| *next);
        if broadcast.status == BroadcastStatus::AwaitingApproval {
            self.approvals.notify_one();
        }
        // A recurring broadcast that needs no confirmation becomes its schedule at once.
        if recurring && !s.draft {
            match self.confirm_checked(actor, &broadcast).await? {
                Outcome::Recurring {
                    next_at: n,
                    broadcast: b,
                    ..
                } => {
                    next_at = Some(n);
                    broadcast = b;
                }
                other => broadcast = other.broadcast().clone(),
            }
        }
        let code = if broadcast.status == BroadcastStatus::Draft {
            self.new_code(actor, "send", broadcast.id, SEND_CODE_TTL_MS)
                .await?
        } else {
            None
        };
        Ok(Submitted {
            broadcast,
            recipients,
            created: true,
            code,
            next_at,
            targeting,
        })
    }

    /// The alert draft `actor` wrote last in the chat and has neither sent nor dropped, with
    /// its code: a location they share on site is for it.
    pub async fn open_alert_draft(
        &self,
        actor: &Actor,
    ) -> ServiceResult<Option<(String, Broadcast)>> {
        let Actor::Staff {
            channel, address, ..
        } = actor
        else {
            return Ok(None);
        };
        let Some(c) = self
            .store
            .latest_confirmation(*channel, address, "send")
            .await?
        else {
            return Ok(None);
        };
        let Some(id) = c.broadcast_id else {
            return Ok(None);
        };
        let b = self.get(id).await?;
        let open = b.status == BroadcastStatus::Draft
            && b.kind == BroadcastKind::Alert
            && b.parent_id.is_none();
        Ok(open.then_some((c.code, b)))
    }

    /// Replaces the draft behind `code` with the same draft aimed at `target`: the old code
    /// stops working and the answer carries the new one (a new preview for a new target).
    pub async fn retarget(
        &self,
        actor: &Actor,
        code: &str,
        target: Target,
    ) -> ServiceResult<Submitted> {
        self.redraft(actor, code, "only a draft can get another target", |s| {
            s.target = Some(target)
        })
        .await
    }

    /// Replaces the draft behind `code` with the same draft carrying `attachment` (a picture
    /// or document sent as a reply to the draft's preview): a new preview with a new code.
    pub async fn attach_to_draft(
        &self,
        actor: &Actor,
        code: &str,
        attachment: Attachment,
    ) -> ServiceResult<Submitted> {
        self.redraft(actor, code, "only a draft can get a picture", |s| {
            s.attachment = Some(attachment)
        })
        .await
    }

    /// The draft behind `code` made anew with `change`; checked before the old draft goes, so
    /// a change that is refused leaves it as it was.
    async fn redraft(
        &self,
        actor: &Actor,
        code: &str,
        wanted: &'static str,
        change: impl FnOnce(&mut Submission),
    ) -> ServiceResult<Submitted> {
        let (_, _, b) = self.code_target(code).await?;
        if b.status != BroadcastStatus::Draft {
            return Err(ServiceError::WrongStatus {
                id: b.id,
                status: b.status,
                wanted,
            });
        }
        let mut submission = Submission {
            topic: b.topic.to_string(),
            kind: Some(b.kind),
            priority: Some(b.priority),
            text: b.text.clone(),
            text_en: None,
            parent_id: b.parent_id,
            when: When::Now,
            draft: true,
            idempotency_key: None,
            target: b.target.clone(),
            // The draft's picture goes with it.
            attachment: b.media_id.map(|media_id| Attachment {
                media_id,
                alt: b.alt.clone(),
            }),
        };
        change(&mut submission);
        self.checked(&submission, false).await?;
        self.drop_code(actor, code).await?;
        self.submit(actor, submission).await
    }

    /// A code for `actor` to act on broadcast `id` (only people in a chat get codes).
    async fn new_code(
        &self,
        actor: &Actor,
        action: &str,
        id: i64,
        ttl_ms: i64,
    ) -> ServiceResult<Option<String>> {
        let Actor::Staff {
            channel, address, ..
        } = actor
        else {
            return Ok(None);
        };
        Ok(Some(
            self.put_code(action, id, *channel, address, ttl_ms).await?,
        ))
    }

    async fn put_code(
        &self,
        action: &str,
        id: i64,
        channel: crate::domain::ChannelKind,
        address: &str,
        ttl_ms: i64,
    ) -> ServiceResult<String> {
        let code = new_code();
        let now = self.clock.now_ms();
        self.store
            .put_confirmation(&Confirmation {
                code: code.clone(),
                action: action.to_string(),
                payload: "{}".into(),
                author_channel: channel,
                author_address: address.to_string(),
                created_at: now,
                expires_at: now + ttl_ms,
                broadcast_id: Some(id),
            })
            .await?;
        Ok(code)
    }

    /// The code the emergency staff approve broadcast `id` with; `asked` is where the request
    /// goes first (the code is shared by every approver).
    pub async fn approval_code(
        &self,
        id: i64,
        channel: crate::domain::ChannelKind,
        address: &str,
    ) -> ServiceResult<String> {
        self.put_code("approve", id, channel, address, APPROVE_CODE_TTL_MS)
            .await
    }

    pub async fn get(&self, id: i64) -> ServiceResult<Broadcast> {
        self.store
            .broadcast(id)
            .await?
            .ok_or(ServiceError::NotFound(id))
    }

    /// The author (or anyone who may submit it) confirms a draft.
    pub async fn confirm(&self, actor: &Actor, id: i64) -> ServiceResult<Outcome> {
        let b = self.get(id).await?;
        self.check_confirm(actor, &b)?;
        self.confirm_checked(actor, &b).await
    }

    fn check_confirm(&self, actor: &Actor, b: &Broadcast) -> ServiceResult<()> {
        if b.status != BroadcastStatus::Draft {
            return Err(ServiceError::WrongStatus {
                id: b.id,
                status: b.status,
                wanted: "only a draft can be confirmed",
            });
        }
        self.may_send(actor, b, "confirmation")
    }

    /// Whether `actor` may send `b` (and so confirm, move or post it by hand), as the policy
    /// decides; a refusal is logged with `what` was refused.
    fn may_send(&self, actor: &Actor, b: &Broadcast, what: &str) -> ServiceResult<()> {
        if let Err(refusal) =
            policy::decide(actor, Action::Send, &Subject::of(b), self.approvals_rules())
        {
            tracing::info!(actor = %actor.audit_name(), broadcast = b.id, "{what} refused: {refusal}");
            return Err(refusal.into());
        }
        Ok(())
    }

    async fn confirm_checked(&self, actor: &Actor, b: &Broadcast) -> ServiceResult<Outcome> {
        if policy::needs_second_approval(actor, &Subject::of(b), self.approvals_rules()) {
            let Some(waiting) = self.store.await_approval(b.id).await? else {
                return Err(self.moved_on(b.id, "only a draft can be confirmed").await);
            };
            self.approvals.notify_one();
            self.audit(
                actor,
                "confirm",
                &format!("broadcast {}: awaits approval", b.id),
            )
            .await?;
            return Ok(Outcome::AwaitingApproval(waiting));
        }
        let outcome = self.release(b, BroadcastStatus::Draft, None).await?;
        self.audit(
            actor,
            "confirm",
            &format!(
                "broadcast {}: {} on {}, {}",
                b.id,
                b.kind.as_str(),
                b.topic,
                outcome.broadcast().status.as_str()
            ),
        )
        .await?;
        Ok(outcome)
    }

    async fn release(
        &self,
        b: &Broadcast,
        from: BroadcastStatus,
        approved_by: Option<&str>,
    ) -> ServiceResult<Outcome> {
        if let Some(expr) = &b.cron {
            let r = crate::domain::time::Recurrence::parse(expr).map_err(|e| invalid("cron", e))?;
            let next = r
                .next_after(self.tz, self.clock.now())
                .ok_or_else(|| invalid("cron", format!("'{expr}' never fires")))?
                .timestamp_millis();
            let Some(schedule_id) = self
                .store
                .make_recurring(b.id, from, next, approved_by)
                .await?
            else {
                return Err(self.moved_on(b.id, "it was handled meanwhile").await);
            };
            let broadcast = self.get(b.id).await?;
            return Ok(Outcome::Recurring {
                broadcast,
                schedule_id,
                next_at: next,
            });
        }
        let Some(released) = self.store.release_from(b.id, from, approved_by).await? else {
            return Err(self.moved_on(b.id, "it was handled meanwhile").await);
        };
        self.public_changed();
        if released.status == BroadcastStatus::Cancelled {
            // A correction whose broadcast was retracted before it could take effect.
            return Err(ServiceError::WrongStatus {
                id: b.id,
                status: released.status,
                wanted: "the broadcast it corrects was retracted meanwhile",
            });
        }
        if released.status == BroadcastStatus::Released {
            self.wake_queue(&released);
            Ok(Outcome::Released(released))
        } else {
            Ok(Outcome::Scheduled(released))
        }
    }

    /// The error for a broadcast whose status changed under us.
    async fn moved_on(&self, id: i64, wanted: &'static str) -> ServiceError {
        match self.store.broadcast(id).await {
            Ok(Some(b)) => ServiceError::WrongStatus {
                id,
                status: b.status,
                wanted,
            },
            Ok(None) => ServiceError::NotFound(id),
            Err(e) => e.into(),
        }
    }

    /// A second person approves a broadcast awaiting approval.
    pub async fn approve(&self, actor: &Actor, id: i64) -> ServiceResult<Outcome> {
        let b = self.get(id).await?;
        self.check_approve(actor, &b)?;
        self.approve_checked(actor, &b).await
    }

    fn check_approve(&self, actor: &Actor, b: &Broadcast) -> ServiceResult<()> {
        if b.status != BroadcastStatus::AwaitingApproval {
            return Err(ServiceError::WrongStatus {
                id: b.id,
                status: b.status,
                wanted: "only a broadcast awaiting approval can be approved",
            });
        }
        if let Err(refusal) = policy::decide(
            actor,
            Action::Approve,
            &Subject::of(b),
            self.approvals_rules(),
        ) {
            tracing::info!(actor = %actor.audit_name(), broadcast = b.id, "approval refused: {refusal}");
            return Err(refusal.into());
        }
        Ok(())
    }

    async fn approve_checked(&self, actor: &Actor, b: &Broadcast) -> ServiceResult<Outcome> {
        let identity = actor.identity();
        let outcome = self
            .release(b, BroadcastStatus::AwaitingApproval, Some(&identity))
            .await?;
        self.audit(
            actor,
            "approve",
            &format!(
                "broadcast {}: {} on {} (author {}), {}",
                b.id,
                b.kind.as_str(),
                b.topic,
                b.created_by.as_deref().unwrap_or("?"),
                outcome.broadcast().status.as_str()
            ),
        )
        .await?;
        self.tell_approved(actor, outcome.broadcast()).await;
        Ok(outcome)
    }

    /// Releases a broadcast that waited for approval in vain: the warnings feed's own, when
    /// the warning is grave and nobody acted in time (the feed judges both).
    pub async fn release_unattended(&self, actor: &Actor, id: i64) -> ServiceResult<Outcome> {
        let b = self.get(id).await?;
        if b.status != BroadcastStatus::AwaitingApproval {
            return Err(ServiceError::WrongStatus {
                id,
                status: b.status,
                wanted: "only a broadcast awaiting approval can be released unattended",
            });
        }
        if let Err(refusal) = policy::may_release_unattended(actor, &Subject::of(&b)) {
            tracing::info!(actor = %actor.audit_name(), broadcast = id, "unattended release refused: {refusal}");
            return Err(refusal.into());
        }
        let outcome = self
            .release(&b, BroadcastStatus::AwaitingApproval, None)
            .await?;
        self.audit(
            actor,
            "auto-release",
            &format!(
                "broadcast {id}: {} on {}, nobody acted in time",
                b.kind.as_str(),
                b.topic
            ),
        )
        .await?;
        Ok(outcome)
    }

    /// Writes an audit entry for a decision made outside the service (the warnings feed's
    /// skipped warnings).
    pub async fn note(&self, actor: &Actor, action: &str, detail: &str) -> ServiceResult<()> {
        self.audit(actor, action, detail).await
    }

    /// `/confirm CODE` or a Send/Approve button: sends the author's draft, or approves. The
    /// policy is asked before the code is taken, so a refused attempt leaves it valid.
    pub async fn use_code(&self, actor: &Actor, code: &str) -> ServiceResult<Outcome> {
        let (code, action, b) = self.code_target(code).await?;
        match action.as_str() {
            "send" => {
                self.check_confirm(actor, &b)?;
                self.take(&code).await?;
                self.confirm_checked(actor, &b).await
            }
            "approve" => {
                self.check_approve(actor, &b)?;
                self.take(&code).await?;
                self.approve_checked(actor, &b).await
            }
            "retract" => {
                self.check_retract(actor, &b)?;
                let text = self
                    .store
                    .confirmation(&code)
                    .await?
                    .and_then(|c| serde_json::from_str::<serde_json::Value>(&c.payload).ok())
                    .and_then(|p| p["text"].as_str().map(str::to_string));
                self.take(&code).await?;
                let (broadcast, notice) = self.retract_checked(actor, &b, text.as_deref()).await?;
                Ok(Outcome::Retracted {
                    broadcast,
                    notice: Box::new(notice),
                })
            }
            _ => Err(ServiceError::UnknownCode),
        }
    }

    /// A code as typed, what it is for, and the broadcast it points at.
    async fn code_target(&self, code: &str) -> ServiceResult<(String, String, Broadcast)> {
        let code = code.trim().to_ascii_uppercase();
        let c = self
            .store
            .confirmation(&code)
            .await?
            .ok_or(ServiceError::UnknownCode)?;
        let id = c.broadcast_id.ok_or(ServiceError::UnknownCode)?;
        Ok((code, c.action, self.get(id).await?))
    }

    async fn take(&self, code: &str) -> ServiceResult<()> {
        match self.store.take_confirmation(code).await? {
            Some(_) => Ok(()),
            None => Err(ServiceError::UnknownCode),
        }
    }

    /// `/cancel CODE` or a Drop button: drops the draft or the request for approval (or a
    /// retraction's code: nothing happens to the broadcast).
    pub async fn drop_code(&self, actor: &Actor, code: &str) -> ServiceResult<Broadcast> {
        let (code, action, b) = self.code_target(code).await?;
        if action == "retract" {
            self.check_retract(actor, &b)?;
            self.take(&code).await?;
            return Ok(b);
        }
        self.check_cancel(actor, &b)?;
        let id = b.id;
        if !matches!(
            b.status,
            BroadcastStatus::Draft | BroadcastStatus::AwaitingApproval
        ) {
            return Err(ServiceError::WrongStatus {
                id,
                status: b.status,
                wanted: "only a draft or a broadcast awaiting approval can be dropped",
            });
        }
        self.take(&code).await?;
        self.cancel_checked(actor, &b, "drop").await
    }

    /// Cancels a broadcast: whatever was not sent yet never will be.
    pub async fn cancel(&self, actor: &Actor, id: i64) -> ServiceResult<Broadcast> {
        let b = self.get(id).await?;
        self.check_cancel(actor, &b)?;
        self.cancel_checked(actor, &b, "cancel").await
    }

    fn check_cancel(&self, actor: &Actor, b: &Broadcast) -> ServiceResult<()> {
        if let Err(refusal) = policy::decide(
            actor,
            Action::Cancel,
            &Subject::of(b),
            self.approvals_rules(),
        ) {
            tracing::info!(actor = %actor.audit_name(), broadcast = b.id, "cancel refused: {refusal}");
            return Err(refusal.into());
        }
        Ok(())
    }

    async fn cancel_checked(
        &self,
        actor: &Actor,
        b: &Broadcast,
        what: &str,
    ) -> ServiceResult<Broadcast> {
        if !self.store.cancel_broadcast(b.id).await? {
            return Err(self.moved_on(b.id, "it has already ended").await);
        }
        self.public_changed();
        self.audit(
            actor,
            what,
            &format!("broadcast {}: {} on {}", b.id, b.kind.as_str(), b.topic),
        )
        .await?;
        self.get(b.id).await
    }

    /// May `actor` take back `b`? Only what went out can be retracted (the rest is cancelled);
    /// press staff retract news, only the emergency staff an alert; nobody else is asked.
    fn check_retract(&self, actor: &Actor, b: &Broadcast) -> ServiceResult<()> {
        if let Err(refusal) = policy::decide(
            actor,
            Action::Retract,
            &Subject::of(b),
            self.approvals_rules(),
        ) {
            tracing::info!(actor = %actor.audit_name(), broadcast = b.id, "retraction refused: {refusal}");
            return Err(refusal.into());
        }
        if b.kind.is_notice() {
            return Err(invalid(
                "id",
                format!(
                    "broadcast {} is a correction or retraction; retract the broadcast it is about",
                    b.id
                ),
            ));
        }
        if !matches!(
            b.status,
            BroadcastStatus::Released | BroadcastStatus::Sending | BroadcastStatus::Done
        ) {
            return Err(ServiceError::WrongStatus {
                id: b.id,
                status: b.status,
                wanted: "only a broadcast that was sent can be retracted (cancel one that was not)",
            });
        }
        Ok(())
    }

    /// The retraction notice of `b` in `lang`, with the staff's `text` when given.
    pub fn retraction_text(&self, b: &Broadcast, lang: &str, text: Option<&str>) -> String {
        let when = self.local_time(b.released_at.unwrap_or(b.created_at));
        let line = crate::i18n::text(lang, "retraction-line", &[("time", when.into())]);
        match text.map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) => crate::i18n::text(
                lang,
                "retraction-notice",
                &[("line", line.into()), ("text", t.to_string().into())],
            ),
            None => line,
        }
    }

    /// What retracting `id` would do (the chat's preview), with a code for `actor` to confirm
    /// it by; nothing changes yet.
    pub async fn preview_retraction(
        &self,
        actor: &Actor,
        id: i64,
        text: Option<&str>,
        lang: &str,
    ) -> ServiceResult<RetractionPreview> {
        let b = self.get(id).await?;
        self.check_retract(actor, &b)?;
        let notice = self.retraction_text(&b, lang, text);
        BroadcastText::parse(&notice).map_err(|e| invalid("text", e))?;
        let recipients = self.store.follow_up_recipient_count(id).await?;
        let code = match actor {
            Actor::Staff {
                channel, address, ..
            } => {
                let code = new_code();
                let now = self.clock.now_ms();
                self.store
                    .put_confirmation(&Confirmation {
                        code: code.clone(),
                        action: "retract".into(),
                        payload: serde_json::json!({ "text": text }).to_string(),
                        author_channel: *channel,
                        author_address: address.clone(),
                        created_at: now,
                        expires_at: now + SEND_CODE_TTL_MS,
                        broadcast_id: Some(id),
                    })
                    .await?;
                Some(code)
            }
            _ => None,
        };
        Ok(RetractionPreview {
            broadcast: b,
            notice,
            recipients,
            code,
        })
    }

    /// Takes back sent broadcast `id` at once, with one confirmation and no second person:
    /// what was not sent is cancelled, its follow-ups stop, and whoever received it gets a
    /// notice at alert priority (with `text` when given); on Telegram the original is edited
    /// to begin with the retraction line. Returns the broadcast and the notice.
    pub async fn retract(
        &self,
        actor: &Actor,
        id: i64,
        text: Option<&str>,
    ) -> ServiceResult<(Broadcast, Broadcast)> {
        let b = self.get(id).await?;
        self.check_retract(actor, &b)?;
        self.retract_checked(actor, &b, text).await
    }

    async fn retract_checked(
        &self,
        actor: &Actor,
        b: &Broadcast,
        text: Option<&str>,
    ) -> ServiceResult<(Broadcast, Broadcast)> {
        let de = BroadcastText::parse(&self.retraction_text(b, "de", text))
            .map_err(|e| invalid("text", e))?;
        let en = BroadcastText::parse(&self.retraction_text(b, "en", text))
            .map_err(|e| invalid("text", e))?;
        let topic = Topic::parse(&b.topic).map_err(|e| invalid("topic", e))?;
        let notice = NewBroadcast {
            text_en: Some(en),
            created_by: Some(actor.label()),
            author: Some(actor.identity()),
            parent_id: Some(b.id),
            audit_actor: Some(actor.audit_name()),
            ..NewBroadcast::released(topic, BroadcastKind::Retraction, Priority::Alert, de)
        };
        // Its cancel takes the rows of every open delivery, which the lanes' outcomes and
        // lease extensions take too, in their own order: Postgres may undo it to break a
        // deadlock, and then it runs again (nothing of it was written).
        let mut attempt = 0;
        let retracted = loop {
            attempt += 1;
            match self.store.retract_broadcast(b.id, &notice).await {
                Err(e) if e.is_conflict() && attempt < 5 => {
                    tracing::warn!(
                        broadcast = b.id,
                        attempt,
                        "retraction undone by a deadlock; again"
                    );
                }
                other => break other?,
            }
        };
        self.public_changed();
        let Some(notice) = retracted else {
            return Err(self
                .moved_on(
                    b.id,
                    "only a broadcast that was sent can be retracted (cancel one that was not)",
                )
                .await);
        };
        // The first notices are written before the lanes are told: their next claim takes
        // them, not the news behind (fan-out writes the rest, resuming after this chunk).
        if let Err(e) = self
            .store
            .fan_out_chunk(notice.id, RETRACTION_FIRST_CHUNK)
            .await
        {
            tracing::warn!(notice = notice.id, error = %e, "first chunk of the retraction not written; fan-out writes it");
        }
        if let Some(q) = &self.queue {
            q.retracted(&notice);
        }
        tracing::info!(actor = %actor.audit_name(), broadcast = b.id, notice = notice.id, "retracted");
        Ok((self.get(b.id).await?, notice))
    }

    /// Corrects sent broadcast `id`: a correction (a broadcast of its own, kind `correction`)
    /// with the same preview, confirmation and policy as a new broadcast of that kind; under
    /// the two-person rule a corrected alert waits for a second person. Once released, the
    /// broadcast has the new text (what is not sent yet goes out with it) and the correction
    /// edits and tells whoever received the old one.
    pub async fn correct(
        &self,
        actor: &Actor,
        id: i64,
        req: CorrectionRequest,
    ) -> ServiceResult<Submitted> {
        let b = self.get(id).await?;
        let identity = actor.identity();
        if let Err(refusal) = policy::decide(
            actor,
            Action::Submit,
            &Subject::of(&b),
            self.approvals_rules(),
        ) {
            tracing::info!(actor = %actor.audit_name(), broadcast = id, "correction refused: {refusal}");
            return Err(refusal.into());
        }
        if b.kind.is_notice() {
            return Err(invalid(
                "id",
                format!(
                    "broadcast {id} is a correction or retraction; correct the broadcast it is about"
                ),
            ));
        }
        if !matches!(
            b.status,
            BroadcastStatus::Released | BroadcastStatus::Sending | BroadcastStatus::Done
        ) {
            return Err(ServiceError::WrongStatus {
                id,
                status: b.status,
                wanted: "only a broadcast that was sent can be corrected (cancel one that was not)",
            });
        }
        let text = BroadcastText::parse(&req.text).map_err(|e| invalid("text", e))?;
        if text.as_str() == b.text {
            return Err(invalid("text", "the text is the one it has"));
        }
        let subject = Subject::new(
            BroadcastKind::Correction,
            b.priority,
            &b.topic,
            Some(&identity),
        );
        if !req.notice && Subject::of(&b).alert {
            return Err(invalid(
                "notice",
                "an alert is never corrected silently: whoever received it is told",
            ));
        }
        let notice_de =
            crate::i18n::text("de", "correction-notice", &[("text", text.as_str().into())]);
        let notice_en =
            crate::i18n::text("en", "correction-notice", &[("text", text.as_str().into())]);
        let notice_de = BroadcastText::parse(&notice_de).map_err(|e| invalid("text", e))?;
        let notice_en = BroadcastText::parse(&notice_en).map_err(|e| invalid("text", e))?;
        let start = if req.draft {
            Start::Draft
        } else if policy::needs_second_approval(actor, &subject, self.approvals_rules()) {
            Start::AwaitingApproval
        } else {
            Start::Release
        };
        let topic = Topic::parse(&b.topic).map_err(|e| invalid("topic", e))?;
        let new = NewBroadcast {
            text_en: Some(notice_en),
            idempotency_key: req.idempotency_key.clone(),
            created_by: Some(actor.label()),
            author: Some(identity),
            parent_id: Some(id),
            start,
            audit_actor: Some(actor.audit_name()),
            notice: req.notice,
            new_text: Some(text),
            ..NewBroadcast::released(topic, BroadcastKind::Correction, b.priority, notice_de)
        };
        let created = self.store.create_broadcast(&new).await?;
        self.public_changed();
        let broadcast = created.broadcast;
        if created.created {
            match broadcast.status {
                BroadcastStatus::Released => self.wake_queue(&broadcast),
                BroadcastStatus::AwaitingApproval => self.approvals.notify_one(),
                BroadcastStatus::Cancelled => {
                    return Err(ServiceError::WrongStatus {
                        id,
                        status: BroadcastStatus::Retracted,
                        wanted: "only a broadcast that was sent can be corrected",
                    });
                }
                _ => {}
            }
        }
        let recipients = self.store.follow_up_recipient_count(id).await?;
        let code = if created.created && broadcast.status == BroadcastStatus::Draft {
            self.new_code(actor, "send", broadcast.id, SEND_CODE_TTL_MS)
                .await?
        } else {
            None
        };
        Ok(Submitted {
            broadcast,
            recipients,
            created: created.created,
            code,
            next_at: None,
            targeting: None,
        })
    }

    /// The texts broadcast `id` had (oldest first; empty when never corrected) and its
    /// corrections and retraction.
    pub async fn history(
        &self,
        id: i64,
    ) -> ServiceResult<(Vec<crate::store::TextVersion>, Vec<Broadcast>)> {
        Ok((
            self.store.text_versions(id).await?,
            self.store.notices_of(id).await?,
        ))
    }

    /// What went to the outlets about broadcast `id`: its posts, and their corrections and
    /// retractions, each with its state and remote link.
    pub async fn outlet_posts(&self, id: i64) -> ServiceResult<Vec<crate::store::OutletPost>> {
        Ok(self.store.outlet_posts_about(id).await?)
    }

    /// Records that `actor` posted outlet row `post` by hand (WhatsApp Channels); false when it
    /// was not waiting for that.
    pub async fn posted_by_hand(&self, actor: &Actor, id: i64, post: i64) -> ServiceResult<bool> {
        // Posting in the city's channel speaks for the city as sending does: the same rule.
        let b = self.get(id).await?;
        self.may_send(actor, &b, "posted by hand")?;
        if !self
            .store
            .outlet_posts_about(id)
            .await?
            .iter()
            .any(|p| p.id == post)
        {
            return Err(ServiceError::NotFound(post));
        }
        let done = self
            .store
            .posted_by_hand(post, &actor.audit_name(), crate::domain::now_ms())
            .await?;
        if done {
            self.store
                .audit(
                    &actor.audit_name(),
                    "outlet_posted_by_hand",
                    &post.to_string(),
                )
                .await?;
        }
        Ok(done)
    }

    /// Turns down a broadcast that awaits a second person's approval: it is never sent.
    pub async fn reject(&self, actor: &Actor, id: i64) -> ServiceResult<Broadcast> {
        self.cancel_from(
            actor,
            id,
            BroadcastStatus::AwaitingApproval,
            "only a broadcast awaiting approval can be rejected",
            "reject",
        )
        .await
    }

    /// Cancels a one-off broadcast that waits for its time (and nothing else).
    pub async fn unschedule(&self, actor: &Actor, id: i64) -> ServiceResult<Broadcast> {
        self.cancel_from(
            actor,
            id,
            BroadcastStatus::Scheduled,
            "only a scheduled broadcast can be unscheduled",
            "unschedule",
        )
        .await
    }

    /// Moves a one-off broadcast that waits for its time to `at` (ms, ahead): whoever may send
    /// it may move it, as the policy decides.
    pub async fn reschedule(&self, actor: &Actor, id: i64, at: i64) -> ServiceResult<Broadcast> {
        let b = self.get(id).await?;
        self.may_send(actor, &b, "reschedule")?;
        if b.status != BroadcastStatus::Scheduled {
            return Err(ServiceError::WrongStatus {
                id,
                status: b.status,
                wanted: "only a scheduled broadcast can be moved",
            });
        }
        if at <= self.clock.now().timestamp_millis() {
            return Err(invalid("scheduled_at", "the new time must lie ahead"));
        }
        if !self.store.reschedule_broadcast(id, at).await? {
            return Err(self.moved_on(id, "it is no longer scheduled").await);
        }
        let from = b.scheduled_at.unwrap_or_default();
        self.audit(actor, "reschedule", &format!("#{id}: {from} -> {at}"))
            .await?;
        self.public_changed();
        self.get(id).await
    }

    /// Cancels broadcast `id` only while it is `from` (audited as `what`).
    async fn cancel_from(
        &self,
        actor: &Actor,
        id: i64,
        from: BroadcastStatus,
        wanted: &'static str,
        what: &str,
    ) -> ServiceResult<Broadcast> {
        let b = self.get(id).await?;
        self.check_cancel(actor, &b)?;
        if b.status != from {
            return Err(ServiceError::WrongStatus {
                id,
                status: b.status,
                wanted,
            });
        }
        self.cancel_checked(actor, &b, what).await
    }

    /// Stops a recurring schedule.
    pub async fn remove_schedule(&self, actor: &Actor, id: i64) -> ServiceResult<Schedule> {
        let s = self
            .store
            .schedule(id)
            .await?
            .ok_or(ServiceError::NoSchedule(id))?;
        if let Err(refusal) = policy::decide(
            actor,
            Action::Cancel,
            &Subject::new(s.kind, s.priority, &s.topic, None),
            self.approvals_rules(),
        ) {
            tracing::info!(actor = %actor.audit_name(), schedule = id, "unschedule refused: {refusal}");
            return Err(refusal.into());
        }
        if !self.store.delete_schedule(id).await? {
            return Err(ServiceError::NoSchedule(id));
        }
        self.audit(
            actor,
            "unschedule",
            &format!("S{id}: {} on {}", s.kind.as_str(), s.topic),
        )
        .await?;
        Ok(s)
    }

    /// Adds a recurring schedule from the config file, once per `source`.
    pub async fn plan_from_config(
        &self,
        topic: &Topic,
        text: &str,
        priority: Option<Priority>,
        cron: &str,
        source: &str,
    ) -> ServiceResult<i64> {
        let t = self
            .topic(topic.as_str())
            .ok_or_else(|| invalid("topic", format!("unknown topic '{topic}' in [[schedules]]")))?;
        let r = crate::domain::time::Recurrence::parse(cron).map_err(|e| invalid("cron", e))?;
        let next = r
            .next_after(self.tz, self.clock.now())
            .ok_or_else(|| invalid("cron", format!("'{cron}' never fires")))?;
        let text = BroadcastText::parse(text).map_err(|e| invalid("text", e))?;
        Ok(self
            .store
            .create_schedule(&crate::store::NewSchedule {
                topic: t.id.clone(),
                kind: t.default_kind(),
                priority: priority.unwrap_or(t.priority),
                text,
                cron: r.expr,
                next_at: next.timestamp_millis(),
                created_by: Some("config".into()),
                source: Some(source.to_string()),
            })
            .await?)
    }

    /// The scheduler fires one firing of a recurring schedule (idempotent per firing).
    pub async fn fire(&self, s: &Schedule) -> ServiceResult<Broadcast> {
        let actor = Actor::Scheduler {
            planned_by: s.created_by.clone(),
        };
        let submitted = self
            .submit(
                &actor,
                Submission {
                    attachment: None,
                    target: None,
                    topic: s.topic.clone(),
                    kind: Some(s.kind),
                    priority: Some(s.priority),
                    text: s.text.clone(),
                    text_en: None,
                    parent_id: None,
                    when: When::Now,
                    draft: false,
                    idempotency_key: Some(format!("schedule:{}:{}", s.id, s.next_at)),
                },
            )
            .await?;
        Ok(submitted.broadcast)
    }

    /// A one-off broadcast's time has come.
    pub async fn release_due(&self, b: &Broadcast, now: i64) -> ServiceResult<bool> {
        let released = self.store.release_scheduled(b.id, now).await?;
        self.public_changed();
        if released && let Some(b) = self.store.broadcast(b.id).await? {
            self.wake_queue(&b);
        }
        Ok(released)
    }

    fn wake_queue(&self, b: &Broadcast) {
        if let Some(q) = &self.queue {
            q.released(b);
        }
    }

    async fn audit(&self, actor: &Actor, action: &str, detail: &str) -> ServiceResult<()> {
        self.store
            .audit(&actor.audit_name(), action, detail)
            .await?;
        Ok(())
    }
}

/// A drill's text starts with the drill mark (once).
fn drill_marked(drill: bool, text: &str) -> String {
    let mark = crate::i18n::drill_marker();
    if drill && !text.trim_start().starts_with(mark) {
        format!("{mark}\n\n{}", text.trim())
    } else {
        text.to_string()
    }
}

/// A six-character code for typed confirmations (no 0/O or 1/I to misread).
pub fn new_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..6)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
