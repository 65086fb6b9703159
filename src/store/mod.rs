//! The `Store` contract: everything Amtsbote keeps, behind one trait with a SQLite and a Postgres
//! implementation. The delivery queue lives here too: the database is the queue, so a crash loses
//! nothing that was accepted.

mod common;
pub mod outlets;
mod postgres;
pub mod schema;
mod sql;
mod sqlite;
pub mod testing;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::domain::area::{Place, Shape};
use crate::domain::{
    BroadcastKind, BroadcastStatus, BroadcastText, ChannelKind, DeliveryStatus, PlatformStatus,
    Priority, Role, SubscriberStatus, Topic,
};

pub use outlets::{OutletOutcome, OutletPost, OutletStore};
pub use postgres::PostgresStore;
pub use sqlite::{FileCheck, SqliteStore};

/// Errors of the store. Database errors keep their cause; the others are for the caller to show.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("broadcast {0} does not exist")]
    UnknownBroadcast(i64),
    #[error("broadcast {id} is {status}, {wanted}")]
    WrongStatus {
        id: i64,
        status: String,
        wanted: &'static str,
    },
    #[error("the idempotency key was already used for a different request")]
    IdempotencyConflict,
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A staff change that would give a person two roles or an address two people; nothing
    /// was changed. The message says why, for the caller to show.
    #[error("{0}")]
    StaffConflict(String),
    /// A claim or outcome made under a role this instance no longer holds (its lease ran out
    /// and another instance may hold it now); nothing was written.
    #[error("the role {0} is no longer held by this instance")]
    RoleLost(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// The database undid the transaction to break a deadlock (or a serialization failure,
    /// Postgres): nothing of it was written, and running it again may well succeed.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("40P01" | "40001")))
    }
}

/// How long a claim on an incoming message holds before another handler may take it over.
pub const INBOUND_CLAIM_MS: i64 = 60_000;

/// The key of the keyed hashes (HMAC-SHA256, hex) that stand for incoming message ids and their
/// senders without revealing them. Made at random once per database and kept in it.
#[derive(Clone)]
pub(crate) struct PseudonymKey(hmac::Hmac<sha2::Sha256>);

impl PseudonymKey {
    fn from_hex(stored: &str) -> StoreResult<Self> {
        use hmac::Mac;
        let bytes = hex::decode(stored.trim())
            .map_err(|e| StoreError::Corrupt(format!("the pseudonym key: {e}")))?;
        if bytes.len() < 32 {
            return Err(StoreError::Corrupt("the pseudonym key is too short".into()));
        }
        let mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&bytes)
            .map_err(|e| StoreError::Corrupt(format!("the pseudonym key: {e}")))?;
        Ok(PseudonymKey(mac))
    }

    fn fresh_hex() -> String {
        hex::encode(rand::random::<[u8; 32]>())
    }

    /// `kind` keeps message ids and senders apart.
    fn hash(&self, kind: &str, what: &str) -> String {
        use hmac::Mac;
        let mut mac = self.0.clone();
        mac.update(kind.as_bytes());
        mac.update(b"\0");
        mac.update(what.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn message(&self, message_id: &str) -> String {
        self.hash("message", message_id.trim())
    }

    fn sender(&self, channel: ChannelKind, address: &str) -> String {
        self.hash(
            "sender",
            &format!("{}:{}", channel.as_str(), address.trim()),
        )
    }
}

/// Opens the store that `url` names: `sqlite:…` or `postgres://…`.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    }
}

/// How a new broadcast starts its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Waits for its author's confirmation.
    Draft,
    /// Confirmed by its author; waits for a second person.
    AwaitingApproval,
    /// Released at once, or scheduled when it has a time.
    Release,
}

impl Start {
    fn as_str(self) -> &'static str {
        match self {
            Start::Draft => "draft",
            Start::AwaitingApproval => "awaiting_approval",
            Start::Release => "release",
        }
    }
}

/// A new broadcast as the press office or emergency staff composed it.
#[derive(Debug, Clone)]
pub struct NewBroadcast {
    pub topic: Topic,
    pub kind: BroadcastKind,
    pub priority: Priority,
    pub text: BroadcastText,
    /// The text for subscribers who chose English, when there is one.
    pub text_en: Option<BroadcastText>,
    pub idempotency_key: Option<String>,
    /// Who composed it, as shown (`channel:address`, `api:name`, `cli:user`).
    pub created_by: Option<String>,
    /// Who composed it, as the two-person rule compares people ([`crate::domain::Actor::identity`]).
    pub author: Option<String>,
    /// The alert an update or all-clear refers to: it goes to that alert's recipients.
    pub parent_id: Option<i64>,
    pub start: Start,
    /// Released at this time (ms) instead of at once.
    pub scheduled_at: Option<i64>,
    /// A recurring draft: the schedule's cron expression.
    pub cron: Option<String>,
    /// Where it goes, with the districts it touches; `None`: the whole city.
    pub target: Option<(crate::domain::area::Target, Vec<String>)>,
    /// Who to name in the audit log: the entry is written in the same transaction as the
    /// broadcast (one write less on an alert's way out).
    pub audit_actor: Option<String>,
    /// A correction: tell those who received the parent (false: a silent correction).
    pub notice: bool,
    /// A correction: the text its parent gets when it is released.
    pub new_text: Option<BroadcastText>,
    /// The picture or document it carries (`media.id`).
    pub media_id: Option<i64>,
    /// A picture's alternative text (shown on the archive page and the dashboard).
    pub alt: Option<String>,
}

impl NewBroadcast {
    /// A broadcast released at once, with nothing else set.
    pub fn released(
        topic: Topic,
        kind: BroadcastKind,
        priority: Priority,
        text: BroadcastText,
    ) -> Self {
        NewBroadcast {
            topic,
            kind,
            priority,
            text,
            text_en: None,
            idempotency_key: None,
            created_by: None,
            author: None,
            parent_id: None,
            start: Start::Release,
            scheduled_at: None,
            cron: None,
            target: None,
            audit_actor: None,
            notice: true,
            new_text: None,
            media_id: None,
            alt: None,
        }
    }

    /// A fingerprint of what was asked, so a retried request with the same key can be told from
    /// a different request that reuses the key.
    pub fn request_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [
            self.topic.as_str(),
            self.kind.as_str(),
            self.priority.as_str(),
            self.text.as_str(),
            self.start.as_str(),
            &self.parent_id.map(|p| p.to_string()).unwrap_or_default(),
            &self.scheduled_at.map(|p| p.to_string()).unwrap_or_default(),
            self.cron.as_deref().unwrap_or_default(),
        ] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        // Only when there is one, so the fingerprints of earlier requests stay as they were.
        if let Some(new_text) = &self.new_text {
            h.update(if self.notice { "new\0" } else { "new-silent\0" });
            h.update(new_text.as_str().as_bytes());
        }
        if let Some(en) = &self.text_en {
            h.update(b"en\0");
            h.update(en.as_str().as_bytes());
        }
        if let Some((target, _)) = &self.target {
            h.update(b"target\0");
            h.update(serde_json::to_string(target).unwrap_or_default().as_bytes());
        }
        if let Some(media) = self.media_id {
            h.update(b"media\0");
            h.update(media.to_string().as_bytes());
            h.update([0u8]);
            h.update(self.alt.as_deref().unwrap_or_default().as_bytes());
        }
        hex::encode(h.finalize())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Broadcast {
    pub id: i64,
    pub topic: String,
    pub kind: BroadcastKind,
    pub priority: Priority,
    pub text: String,
    pub status: BroadcastStatus,
    pub created_at: i64,
    pub released_at: Option<i64>,
    pub fanout_done_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub scheduled_at: Option<i64>,
    /// The staff member (`channel:address`), `cli:user`, `api:token-name` or `demo`.
    pub created_by: Option<String>,
    /// The alert an update or all-clear follows.
    pub parent_id: Option<i64>,
    /// Who composed it, as the two-person rule compares people.
    pub author: Option<String>,
    /// Who approved it under the two-person rule.
    pub approved_by: Option<String>,
    /// A recurring draft's cron expression.
    pub cron: Option<String>,
    /// Where it goes; `None`: the whole city.
    pub target: Option<crate::domain::area::Target>,
    /// Its text's version: 1 as first sent, one more for each correction. A correction's is
    /// the version of its parent it makes.
    pub version: i32,
    /// A correction: whether those who received the parent are told (false: a silent one,
    /// which only edits where the platform can).
    pub notice: bool,
    /// A correction: the text its parent gets.
    pub new_text: Option<String>,
    /// Its public code: the archive's page `/m/CODE` and the check link in its footer.
    pub public_code: Option<String>,
    /// The picture or document it carries.
    pub media_id: Option<i64>,
    /// A picture's alternative text.
    pub alt: Option<String>,
}

/// One text a corrected broadcast had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextVersion {
    pub version: i32,
    pub text: String,
    /// Who wrote this version (`Actor::identity`).
    pub changed_by: Option<String>,
    /// When it became the text (ms).
    pub changed_at: i64,
    /// The correction that made it; `None` for the first.
    pub correction_id: Option<i64>,
    /// Whether those who had received it were told.
    pub notice: bool,
}

/// What `create_broadcast` did: made a new one, or found the one made earlier with the same key.
#[derive(Debug, Clone)]
pub struct Created {
    pub broadcast: Broadcast,
    pub created: bool,
}

/// How many active subscribers a topic reaches, per channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecipientCount {
    pub telegram: u64,
    pub whatsapp: u64,
}

impl RecipientCount {
    pub fn total(&self) -> u64 {
        self.telegram + self.whatsapp
    }

    pub fn add(&mut self, channel: ChannelKind, n: u64) {
        match channel {
            ChannelKind::Telegram => self.telegram += n,
            ChannelKind::Whatsapp => self.whatsapp += n,
        }
    }
}

/// A subscriber's areas: chosen districts (ids) and the kept place, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriberAreas {
    pub areas: Vec<String>,
    pub place: Option<Place>,
}

/// Who a target reaches, in its three groups, per channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TargetCount {
    /// Chose a district the target touches.
    pub by_district: RecipientCount,
    /// Kept a place inside the target (and chose none of those districts).
    pub by_place: RecipientCount,
    /// Chose no area: they get everything.
    pub without_area: RecipientCount,
}

impl TargetCount {
    pub fn total(&self) -> RecipientCount {
        RecipientCount {
            telegram: self.by_district.telegram
                + self.by_place.telegram
                + self.without_area.telegram,
            whatsapp: self.by_district.whatsapp
                + self.by_place.whatsapp
                + self.without_area.whatsapp,
        }
    }
}

/// One step of a resumable fan-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanOutStep {
    pub inserted: u64,
    pub done: bool,
}

/// A delivery a lane has leased: everything needed to send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub broadcast_id: i64,
    pub subscriber_id: i64,
    pub priority: Priority,
    pub kind: BroadcastKind,
    pub attempts: i32,
    pub address: String,
    pub language: String,
    pub text: String,
    /// The subscriber's last message to us (WhatsApp's 24-hour window), ms.
    pub last_inbound_at: Option<i64>,
    /// Send as a template even inside the window (after a 131047 failure).
    pub force_template: bool,
    pub topic: String,
    /// Parts of a long text an earlier attempt sent already: this one starts after them.
    pub parts_sent: i32,
    /// The version of its broadcast's text it was claimed with (a correction's: the version
    /// it makes).
    pub text_version: i32,
    /// A correction: tell the recipient (false: only edit, where the platform can).
    pub notice: bool,
    /// A correction's or retraction's: the delivery of the corrected broadcast to the same
    /// subscriber, when there is one.
    pub parent: Option<ParentDelivery>,
    /// A correction's or retraction's: the corrected broadcast's text now, in the
    /// subscriber's language.
    pub parent_text: Option<String>,
    /// The broadcast's public code, for the check link under the text.
    pub public_code: Option<String>,
    /// A correction's or retraction's: the public code of the broadcast it is about, for the
    /// check link under an edited original.
    pub parent_public_code: Option<String>,
    /// The broadcast's picture or document.
    pub media_id: Option<i64>,
    /// The platform's id of the last part sent, while more follow (a reply's anchor).
    pub last_part_id: Option<String>,
}

/// Where the delivery of a corrected or retracted broadcast is, as its notice is claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentDelivery {
    pub status: crate::domain::DeliveryStatus,
    /// The platform's id of the message it became (its last part's).
    pub platform_id: Option<String>,
    pub parts_sent: i32,
    /// The version of the text it went out with.
    pub text_version: Option<i32>,
    pub lease_until: Option<i64>,
}

/// What a platform's status report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusApplied {
    /// It moved the delivery forward; `resent` when a refused free-form message goes again as
    /// a template.
    Applied { delivery_id: i64, resent: bool },
    /// No send with this platform id is recorded (yet): it is kept and applied when it is.
    Kept,
    /// A duplicate, or behind a later status.
    Unchanged,
}

/// What became of a leased delivery. Each is applied only while the lease is still ours.
#[derive(Debug, Clone, PartialEq)]
pub enum AckOutcome {
    Sent {
        at: i64,
        platform_id: Option<String>,
    },
    /// Back to the queue at `due_at`; `attempts` is the new attempt count.
    Retry {
        due_at: i64,
        attempts: i32,
        error: String,
    },
    Failed {
        attempts: i32,
        error: String,
    },
    /// The recipient is gone (blocked the bot, deleted the account): the subscriber is marked
    /// and every delivery still open for them is closed.
    Gone {
        error: String,
    },
    /// Not sent, not tried: back to the queue as it was (shutdown, preemption).
    Release,
    /// The chat moved to `address`: the subscriber follows it and the delivery goes again.
    Moved {
        address: String,
    },
    /// The first `parts_sent` parts of a long text went out, the last as `platform_id`; the
    /// lease stays, and a later attempt starts after them.
    PartSent {
        parts_sent: i32,
        platform_id: Option<String>,
    },
    /// Nothing to send: a correction or retraction for someone who never received what it is
    /// about, or already has the corrected text. Closed as `cancelled` with the reason.
    Skipped {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ack {
    pub delivery_id: i64,
    pub lease: String,
    pub outcome: AckOutcome,
}

/// Per-broadcast progress: counts per channel and status.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BroadcastStats {
    pub counts: BTreeMap<ChannelKind, BTreeMap<DeliveryStatus, u64>>,
}

impl BroadcastStats {
    pub fn count(&self, channel: ChannelKind, status: DeliveryStatus) -> u64 {
        self.counts
            .get(&channel)
            .and_then(|m| m.get(&status))
            .copied()
            .unwrap_or(0)
    }

    pub fn total(&self, status: DeliveryStatus) -> u64 {
        ChannelKind::ALL
            .iter()
            .map(|c| self.count(*c, status))
            .sum()
    }
}

/// The proof that an instance holds a role: the role and the token it got when it took it.
/// A claim or acknowledgement made with a token older than the role's current one is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub role: String,
    pub token: i64,
}

/// Who holds a role, as the database sees it.
#[derive(Debug, Clone, Serialize)]
pub struct RoleHolder {
    pub role: String,
    pub holder: String,
    pub token: i64,
    /// Milliseconds until the lease runs out (the database's clock); negative once it has.
    pub expires_in_ms: i64,
}

/// A lane's last pause as the platform asked for it.
#[derive(Debug, Clone, Serialize)]
pub struct LaneState {
    pub channel: ChannelKind,
    pub paused_until: Option<i64>,
    pub pause_reason: Option<String>,
    pub updated_at: i64,
}

/// A subscriber to seed in bulk (the demo, tests, imports).
#[derive(Debug, Clone)]
pub struct NewSubscriber {
    pub channel: ChannelKind,
    pub address: String,
    pub language: String,
    pub topics: Vec<Topic>,
}

/// A recurring broadcast.
#[derive(Debug, Clone, Serialize)]
pub struct Schedule {
    pub id: i64,
    pub topic: String,
    pub kind: BroadcastKind,
    pub priority: Priority,
    pub text: String,
    pub cron: String,
    pub next_at: i64,
    pub created_by: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewSchedule {
    pub topic: Topic,
    pub kind: BroadcastKind,
    pub priority: Priority,
    pub text: BroadcastText,
    pub cron: String,
    pub next_at: i64,
    pub created_by: Option<String>,
    /// Set for schedules from the config file, so a restart does not add them again.
    pub source: Option<String>,
}

/// A schedule as stored, read by column name.
#[derive(sqlx::FromRow)]
pub(crate) struct ScheduleRow {
    pub id: i64,
    pub topic: String,
    pub kind: String,
    pub priority: i64,
    pub text: String,
    pub cron: String,
    pub next_at: Option<i64>,
    pub created_by: Option<String>,
}

pub(crate) fn schedule_from_row(r: ScheduleRow) -> StoreResult<Schedule> {
    let ScheduleRow {
        id,
        topic,
        kind,
        priority,
        text,
        cron,
        next_at,
        created_by,
    } = r;
    Ok(Schedule {
        id,
        topic,
        kind: kind.parse().map_err(StoreError::Corrupt)?,
        priority: priority_from_db(priority)?,
        text,
        cron,
        next_at: next_at.unwrap_or_default(),
        created_by,
    })
}

/// One version of an official warning and what the bot did with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct WarningRecord {
    pub identifier: String,
    pub version: i64,
    /// `mowas`, `dwd`, …, or `cap` for a CAP feed.
    pub provider: String,
    /// `Alert`, `Update` or `Cancel`.
    pub msg_type: String,
    pub severity: String,
    pub headline: String,
    pub expires_at: Option<i64>,
    /// `sent`, `awaiting_approval`, `expired`, `too_minor`, `outside_area`, `exercise`, …
    pub decision: String,
    pub broadcast_id: Option<i64>,
    pub seen_at: i64,
}

/// A citizen as the conversation sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub id: i64,
    pub channel: ChannelKind,
    pub address: String,
    pub language: String,
    pub status: SubscriberStatus,
    pub topics: Vec<String>,
}

/// One address of a staff person. All addresses of a person have the person's one role.
#[derive(Debug, Clone, Serialize)]
pub struct StaffMember {
    pub person: String,
    pub channel: ChannelKind,
    pub address: String,
    pub role: Role,
    pub added_at: i64,
}

impl StaffMember {
    /// The person an address added without a person is: itself, as `channel:address`.
    pub fn own_person(channel: ChannelKind, address: &str) -> String {
        format!("{channel}:{address}")
    }

    /// `channel:address`.
    pub fn address_label(&self) -> String {
        Self::own_person(self.channel, &self.address)
    }

    /// True when this address is a person of its own (added without a person).
    pub fn is_own_person(&self) -> bool {
        self.person == self.address_label()
    }
}

/// The columns every staff query reads: the fields of [`StaffRow`].
macro_rules! staff_columns {
    () => {
        "person, channel, address, role, added_at"
    };
}
pub(crate) use staff_columns;

/// A staff address as stored, read by column name.
#[derive(sqlx::FromRow)]
pub(crate) struct StaffRow {
    pub person: String,
    pub channel: String,
    pub address: String,
    pub role: String,
    pub added_at: i64,
}

pub(crate) fn staff_from_row(r: StaffRow) -> StoreResult<StaffMember> {
    let StaffRow {
        person,
        channel,
        address,
        role,
        added_at,
    } = r;
    Ok(StaffMember {
        person,
        channel: channel.parse().map_err(StoreError::Corrupt)?,
        address,
        role: role.parse().map_err(StoreError::Corrupt)?,
        added_at,
    })
}

/// One version of a text template (Textbaustein).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TextTemplate {
    pub name: String,
    pub version: i64,
    /// The topic it is for: on `alerts` it is an alert template (the emergency staff's).
    pub topic: String,
    /// With `{placeholders}`.
    pub text: String,
    /// Who saved this version (the audit log's name).
    pub saved_by: String,
    pub saved_at: i64,
}

/// A desk as stored: its topics comma-separated.
pub(crate) fn desk_from_row(department: String, topics: &str) -> crate::domain::Desk {
    crate::domain::Desk {
        department,
        topics: topics
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

/// Whether giving `channel:address` to `person` with `role` keeps every person at one role and
/// every address at one person. `owner` is who has the address now; `others` are the roles of
/// the person's other addresses.
pub(crate) fn check_staff_change(
    channel: ChannelKind,
    address: &str,
    role: Role,
    person: &str,
    owner: Option<&str>,
    others: &[Role],
) -> StoreResult<()> {
    if let Some(owner) = owner.filter(|o| *o != person) {
        let message = if person == StaffMember::own_person(channel, address) {
            // Asked without a person: the address would leave the person it belongs to.
            format!(
                "{channel}:{address} belongs to {owner} (give {owner} as its person, or remove it from {owner} first)"
            )
        } else {
            format!(
                "{channel}:{address} belongs to {owner}, not to {person} (remove it from {owner} first)"
            )
        };
        return Err(StoreError::StaffConflict(message));
    }
    if let Some(other) = others.iter().find(|r| **r != role) {
        return Err(StoreError::StaffConflict(format!(
            "{person} is {}, so an address of theirs cannot be {}: a person has one role \
             (to change it, remove {person} and add their addresses again)",
            other.as_str(),
            role.as_str()
        )));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// Something waiting for a second step: a broadcast preview or an erasure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    pub code: String,
    pub action: String,
    /// JSON, owned by the conversation.
    pub payload: String,
    pub author_channel: ChannelKind,
    pub author_address: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// The broadcast a code sends, approves or drops.
    pub broadcast_id: Option<i64>,
}

/// A dashboard login link: the hash of its secret and the staff address it signs in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLink {
    pub token_hash: String,
    pub channel: ChannelKind,
    pub address: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// A dashboard session: the hash of its cookie, the staff address it acts as, and its CSRF
/// token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardSession {
    pub id_hash: String,
    pub channel: ChannelKind,
    pub address: String,
    pub csrf: String,
    pub created_at: i64,
    pub last_seen: i64,
    pub expires_at: i64,
}

/// A dashboard session as stored, read by column name.
#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    pub id_hash: String,
    pub channel: String,
    pub address: String,
    pub csrf: String,
    pub created_at: i64,
    pub last_seen: i64,
    pub expires_at: i64,
}

pub(crate) fn session_from_row(r: SessionRow) -> StoreResult<DashboardSession> {
    let SessionRow {
        id_hash,
        channel,
        address,
        csrf,
        created_at,
        last_seen,
        expires_at,
    } = r;
    Ok(DashboardSession {
        id_hash,
        channel: channel.parse().map_err(StoreError::Corrupt)?,
        address,
        csrf,
        created_at,
        last_seen,
        expires_at,
    })
}

/// The contract both stores fulfil; `tests/store_contract.rs` runs one suite against both.
#[async_trait]
pub trait Store: outlets::OutletStore + Send + Sync {
    /// Applies the migrations that are not yet applied.
    async fn migrate(&self) -> StoreResult<()>;
    /// Housekeeping's turn for the database's own upkeep, off the writers' path (SQLite: a
    /// passive WAL checkpoint, so that no commit of a lane stops to copy the log). After an
    /// erase it also clears what the database keeps of the deleted rows outside its tables
    /// (SQLite: the log's old page images; Postgres: dead tuples, by `VACUUM`).
    async fn upkeep(&self) -> StoreResult<()> {
        Ok(())
    }
    /// A cheap round trip, for readiness.
    async fn ping(&self) -> StoreResult<()>;
    /// Which of this binary's migrations the database holds (nothing is migrated).
    async fn schema(&self) -> StoreResult<schema::SchemaState>;
    /// The database's clock, in Unix milliseconds (`doctor` compares it with the host's).
    async fn clock_ms(&self) -> StoreResult<i64>;

    /// Adds subscribers with their topics; existing (channel, address) pairs are left as they are.
    /// Returns how many were new.
    async fn add_subscribers(&self, subscribers: &[NewSubscriber]) -> StoreResult<u64>;
    async fn recipient_count(&self, topic: &Topic) -> StoreResult<RecipientCount>;

    /// The id of the broadcast made with this idempotency key, if any.
    async fn broadcast_by_idempotency_key(&self, key: &str) -> StoreResult<Option<i64>>;
    /// Creates a broadcast, or returns the one created earlier with the same idempotency key.
    async fn create_broadcast(&self, new: &NewBroadcast) -> StoreResult<Created>;
    /// draft → released; a no-op on a broadcast already released.
    async fn release_broadcast(&self, id: i64) -> StoreResult<Broadcast>;
    /// `from` → released (or scheduled, when it has a time), naming the approver if any.
    /// `None` when it was no longer `from` (someone else acted first).
    async fn release_from(
        &self,
        id: i64,
        from: BroadcastStatus,
        approved_by: Option<&str>,
    ) -> StoreResult<Option<Broadcast>>;
    /// draft → awaiting_approval; `None` when it was no longer a draft.
    async fn await_approval(&self, id: i64) -> StoreResult<Option<Broadcast>>;
    /// A confirmed recurring draft becomes its schedule, in one transaction: `from` → recurring,
    /// and the schedule's id. `None` when it was no longer `from`.
    async fn make_recurring(
        &self,
        id: i64,
        from: BroadcastStatus,
        next_at: i64,
        approved_by: Option<&str>,
    ) -> StoreResult<Option<i64>>;
    /// Broadcasts awaiting approval whose approvers have not been asked yet.
    async fn approvals_to_request(&self) -> StoreResult<Vec<Broadcast>>;
    /// The approvers of `id` were asked; false when someone else asked first.
    async fn approval_requested(&self, id: i64, at: i64) -> StoreResult<bool>;
    /// One recurring schedule.
    async fn schedule(&self, id: i64) -> StoreResult<Option<Schedule>>;
    async fn broadcast(&self, id: i64) -> StoreResult<Option<Broadcast>>;
    async fn list_broadcasts(&self, limit: u32) -> StoreResult<Vec<Broadcast>>;
    /// Cancels a broadcast and every delivery not yet sent. False when it had already ended.
    async fn cancel_broadcast(&self, id: i64) -> StoreResult<bool>;
    /// Retracts sent broadcast `id` in one transaction: its status becomes `retracted`, every
    /// delivery not yet sent and every open follow-up or correction of it is cancelled, a warning
    /// it carried is marked retracted, and `notice` (a retraction with `parent_id = id`) is
    /// released to go to whoever received it, with a second retraction behind it at urgent
    /// priority, without notice, that edits the originals where it can. Returns the notice;
    /// `None` when `id` is not sent or already ended that way.
    async fn retract_broadcast(
        &self,
        id: i64,
        notice: &NewBroadcast,
    ) -> StoreResult<Option<Broadcast>>;
    /// The texts a corrected broadcast had, oldest first; empty when it was never corrected.
    async fn text_versions(&self, id: i64) -> StoreResult<Vec<TextVersion>>;
    /// The corrections and retractions of broadcast `id`, oldest first.
    async fn notices_of(&self, id: i64) -> StoreResult<Vec<Broadcast>>;
    /// Forgets the platform message ids of deliveries sent before `before` (ms).
    async fn forget_platform_ids(&self, before: i64) -> StoreResult<u64>;
    async fn broadcast_stats(&self, id: i64) -> StoreResult<BroadcastStats>;
    /// Why deliveries of a broadcast failed: each reason with how often, most frequent first.
    async fn failure_reasons(&self, id: i64) -> StoreResult<Vec<(String, u64)>>;

    /// The released broadcasts whose fan-out is not complete, highest priority first.
    async fn broadcasts_to_fan_out(&self) -> StoreResult<Vec<Broadcast>>;
    /// Writes the next chunk of deliveries for a released broadcast in one transaction and moves
    /// its cursor. Running it twice never writes a delivery twice.
    async fn fan_out_chunk(&self, id: i64, chunk: u32) -> StoreResult<FanOutStep>;
    /// sending → done for every broadcast with no open delivery left. Returns their ids.
    async fn finish_broadcasts(&self) -> StoreResult<Vec<i64>>;

    /// Leases up to `limit` due deliveries of one channel, highest priority first.
    async fn claim(
        &self,
        channel: ChannelKind,
        lease: &str,
        limit: u32,
        now: i64,
        lease_until: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        self.claim_fenced(None, channel, lease, limit, now, lease_until)
            .await
    }
    /// `claim`, refused with `RoleLost` unless `fence` (when given) still holds its role.
    async fn claim_fenced(
        &self,
        fence: Option<&Fence>,
        channel: ChannelKind,
        lease: &str,
        limit: u32,
        now: i64,
        lease_until: i64,
    ) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Applies outcomes; each only while its lease is still held. Returns how many applied.
    /// Platform statuses that arrived before a send's outcome are applied with it.
    async fn acknowledge(&self, acks: &[Ack]) -> StoreResult<u64> {
        self.acknowledge_fenced(None, acks).await
    }
    /// `acknowledge`, refused with `RoleLost` unless `fence` (when given) still holds its role.
    async fn acknowledge_fenced(&self, fence: Option<&Fence>, acks: &[Ack]) -> StoreResult<u64>;
    /// A new holder of a channel's lane returns every delivery of that channel still leased (by
    /// the holder before it, which is gone or cut off) to the queue, under its own fence.
    async fn take_over_lane(&self, channel: ChannelKind, fence: Option<&Fence>)
    -> StoreResult<u64>;

    /// Whether several instances may share this database (Postgres): then roles are held
    /// through the database. Otherwise (SQLite) one instance holds every role for good.
    fn shares_roles(&self) -> bool {
        false
    }
    /// Takes `role` for `holder` for `lease_ms` (the database's clock) unless someone holds an
    /// unexpired lease on it; returns the new fencing token.
    async fn acquire_role(
        &self,
        _role: &str,
        _holder: &str,
        _lease_ms: i64,
    ) -> StoreResult<Option<i64>> {
        Ok(Some(0))
    }
    /// Extends `holder`'s lease on `role` while `token` is current and unexpired; false when
    /// the role is no longer held.
    async fn renew_role(
        &self,
        _role: &str,
        _holder: &str,
        _token: i64,
        _lease_ms: i64,
    ) -> StoreResult<bool> {
        Ok(true)
    }
    /// Gives `role` up at once (a clean stop), so a standby need not wait for the lease.
    async fn release_role(&self, _role: &str, _holder: &str, _token: i64) -> StoreResult<()> {
        Ok(())
    }
    /// Who holds which role.
    async fn role_holders(&self) -> StoreResult<Vec<RoleHolder>> {
        Ok(Vec::new())
    }
    /// Calls `on` with the priority of every chunk of deliveries another instance enqueues,
    /// and of every broadcast another process (the CLI) released (`announce_released`),
    /// until `stop`; returns at once where nobody else can tell (an in-memory database).
    async fn listen_enqueued(
        &self,
        _on: Arc<dyn Fn(Priority) + Send + Sync>,
        _stop: tokio_util::sync::CancellationToken,
    ) {
    }
    /// Tells the `amtsbote run` serving this database, from another process, that a broadcast
    /// of `priority` was released: its fan-out and lanes take it at once instead of at their
    /// next poll. Best effort: with nobody listening nothing happens, and the poll still
    /// finds it.
    async fn announce_released(&self, _priority: Priority) {}
    /// Extends `lease` to `lease_until` on those of `ids` it still holds (leased, neither
    /// acknowledged nor cancelled); returns their ids. What it no longer holds, another claim
    /// may own: the lane must not send it.
    async fn extend_lease(
        &self,
        lease: &str,
        ids: &[i64],
        lease_until: i64,
    ) -> StoreResult<Vec<i64>>;
    /// Returns leases that ran out to the queue.
    async fn reclaim_expired(&self, now: i64) -> StoreResult<u64>;
    /// When the earliest pending delivery of a channel falls due.
    async fn next_due(&self, channel: ChannelKind) -> StoreResult<Option<i64>>;
    /// Open deliveries (pending or leased) of all broadcasts.
    async fn open_deliveries(&self) -> StoreResult<u64>;

    /// The subscriber at (channel, address), if any.
    async fn subscriber(
        &self,
        channel: ChannelKind,
        address: &str,
    ) -> StoreResult<Option<Subscriber>>;
    /// Adds the subscriber if new (active, in `language`); returns them as they are now.
    async fn ensure_subscriber(
        &self,
        channel: ChannelKind,
        address: &str,
        language: &str,
    ) -> StoreResult<Subscriber>;
    async fn set_subscription(
        &self,
        subscriber_id: i64,
        topic: &Topic,
        on: bool,
    ) -> StoreResult<()>;
    async fn set_language(&self, subscriber_id: i64, language: &str) -> StoreResult<()>;
    async fn set_subscriber_status(
        &self,
        subscriber_id: i64,
        status: SubscriberStatus,
    ) -> StoreResult<()>;
    /// The recipient told the platform to stop (blocked the bot): marked gone, open deliveries closed.
    async fn mark_gone(&self, channel: ChannelKind, address: &str) -> StoreResult<bool>;
    /// Erases every row that holds this address: subscriber, subscriptions, deliveries,
    /// confirmations, and the incoming message ids remembered for them. True when there was
    /// anything.
    async fn erase_subscriber(&self, channel: ChannelKind, address: &str) -> StoreResult<bool>;
    /// Active recipients of an alert's follow-up: the alert's recipients, per channel.
    async fn follow_up_recipient_count(&self, parent_id: i64) -> StoreResult<RecipientCount>;

    /// The districts a subscriber chose and the place they let the city keep.
    async fn subscriber_areas(&self, subscriber_id: i64) -> StoreResult<SubscriberAreas>;
    /// Adds (`on`) or removes one chosen district.
    async fn set_subscriber_area(
        &self,
        subscriber_id: i64,
        area_id: &str,
        on: bool,
    ) -> StoreResult<()>;
    /// The whole city again: no district, no kept place.
    async fn clear_subscriber_areas(&self, subscriber_id: i64) -> StoreResult<()>;
    /// Keeps a place (already rounded), replacing an earlier one.
    async fn keep_place(&self, subscriber_id: i64, place: Place, now: i64) -> StoreResult<()>;
    async fn forget_place(&self, subscriber_id: i64) -> StoreResult<bool>;
    /// Active subscribers of `topic` a target reaches, in its three groups: by a district in
    /// `areas`, by a kept place inside `shape` (and no such district), and without any area.
    async fn target_recipient_count(
        &self,
        topic: &Topic,
        areas: &[String],
        shape: &Shape,
    ) -> StoreResult<TargetCount>;
    /// Writes the cells of the kept places inside a targeted broadcast's shape, once (when its
    /// fan-out starts); a second call finds them written and does nothing.
    async fn prepare_target_cells(&self, id: i64, shape: &Shape) -> StoreResult<u64>;
    /// Active subscribers per chosen district.
    async fn area_subscriber_counts(&self) -> StoreResult<Vec<(String, u64)>>;
    /// Every subscriber's id, in order (the demo spreads them over the districts).
    async fn subscriber_ids(&self) -> StoreResult<Vec<i64>>;

    /// Adds an address to a person (None: the address is a person of its own, named
    /// `channel:address`), or changes the role of a person who has only this address. Refused
    /// with [`StoreError::StaffConflict`] when the person already has another role, or the
    /// address belongs to another person; then nothing changes.
    async fn set_staff(
        &self,
        channel: ChannelKind,
        address: &str,
        role: Role,
        person: Option<&str>,
    ) -> StoreResult<StaffMember>;
    async fn staff_member(
        &self,
        channel: ChannelKind,
        address: &str,
    ) -> StoreResult<Option<StaffMember>>;
    /// Removes one address of a person; false when it was not staff.
    async fn remove_staff(&self, channel: ChannelKind, address: &str) -> StoreResult<bool>;
    /// Removes every address of a person; how many. Their department goes with them.
    async fn remove_person(&self, person: &str) -> StoreResult<u64>;
    /// Gives a contributor person their department and topics (replacing what they had).
    async fn set_desk(&self, person: &str, desk: &crate::domain::Desk) -> StoreResult<()>;
    /// A contributor person's department and topics.
    async fn desk(&self, person: &str) -> StoreResult<Option<crate::domain::Desk>>;
    /// Every contributor person's department, by person.
    async fn desks(&self) -> StoreResult<Vec<(String, crate::domain::Desk)>>;
    /// Changes the text and time (`None`: at once) of a broadcast awaiting approval; `None`
    /// when it no longer awaits approval.
    async fn revise_awaiting(
        &self,
        id: i64,
        text: &str,
        scheduled_at: Option<i64>,
    ) -> StoreResult<Option<Broadcast>>;
    /// Broadcasts awaiting approval created before `before` (ms), oldest first.
    async fn awaiting_since(&self, before: i64) -> StoreResult<Vec<Broadcast>>;
    /// Saves a new version of the text template `name` (the first is version 1).
    async fn save_template(
        &self,
        name: &str,
        topic: &str,
        text: &str,
        saved_by: &str,
    ) -> StoreResult<TextTemplate>;
    /// The newest version of the text template `name`.
    async fn template(&self, name: &str) -> StoreResult<Option<TextTemplate>>;
    /// The newest version of every text template, by name.
    async fn templates(&self) -> StoreResult<Vec<TextTemplate>>;
    /// The role of the person this address belongs to.
    async fn staff_role(&self, channel: ChannelKind, address: &str) -> StoreResult<Option<Role>>;
    /// Ordered by person, channel, address.
    async fn list_staff(&self) -> StoreResult<Vec<StaffMember>>;
    /// When this address last wrote to us (ms), as far as we know: the 24-hour window of
    /// WhatsApp is kept for subscribers only, so for anyone else it is `None`.
    async fn last_inbound(&self, channel: ChannelKind, address: &str) -> StoreResult<Option<i64>>;

    async fn audit(&self, actor: &str, action: &str, detail: &str) -> StoreResult<()>;
    async fn audit_log(&self, limit: u32) -> StoreResult<Vec<AuditEntry>>;

    async fn put_confirmation(&self, c: &Confirmation) -> StoreResult<()>;
    async fn confirmation(&self, code: &str) -> StoreResult<Option<Confirmation>>;
    /// Removes and returns it; None when already taken (a double click) or unknown.
    async fn take_confirmation(&self, code: &str) -> StoreResult<Option<Confirmation>>;
    /// The newest unexpired confirmation for `action` that `author` holds (the alert draft a
    /// location shared on site is for).
    async fn latest_confirmation(
        &self,
        channel: ChannelKind,
        author: &str,
        action: &str,
    ) -> StoreResult<Option<Confirmation>>;
    /// Deletes confirmations past their time (an erasure code holds an address).
    async fn expire_confirmations(&self, now: i64) -> StoreResult<u64>;

    /// Claims an incoming message for handling; false when it was handled before (a retried
    /// webhook) or is being handled now. Its id and its sender are kept only as keyed hashes
    /// (a WhatsApp message id carries the sender's number); a claim whose handler died goes
    /// stale after [`INBOUND_CLAIM_MS`] and can be claimed again.
    async fn claim_inbound(
        &self,
        channel: ChannelKind,
        sender: &str,
        message_id: &str,
        now: i64,
    ) -> StoreResult<bool>;
    /// The claimed message was handled: recorded in one transaction with its effect on the
    /// person's 24-hour window (opened at `window_at`, as [`Store::touch_inbound`]).
    async fn inbound_handled(
        &self,
        channel: ChannelKind,
        sender: &str,
        message_id: &str,
        window_at: i64,
    ) -> StoreResult<()>;
    /// Handling failed: the claim goes, so the platform's retry is handled.
    async fn release_inbound(&self, message_id: &str) -> StoreResult<()>;
    /// Forgets the incoming message ids received before `before` (ms); how many.
    async fn forget_inbound(&self, before: i64) -> StoreResult<u64>;
    /// The person wrote to us at `at` (ms): their WhatsApp window is open from then.
    async fn touch_inbound(&self, channel: ChannelKind, address: &str, at: i64) -> StoreResult<()>;
    /// Applies a platform's status report to the delivery sent as `platform_id`, in one
    /// transaction: `sent` < `delivered` < `read`, and `failed` only over `sent` or none. A
    /// failure sends a free-form message again as a template, once (never for a cancelled
    /// broadcast), or fails the delivery (and marks its recipient gone). A report for a send
    /// whose outcome is not written yet is kept and applied when it is.
    async fn record_platform_status(
        &self,
        platform_id: &str,
        status: &PlatformStatus,
    ) -> StoreResult<StatusApplied> {
        self.record_platform_status_for(platform_id, status, None)
            .await
    }
    /// The same, naming the recipient the report is about (a WhatsApp number): a kept report
    /// holds it only as a keyed hash, which `erase_subscriber` finds.
    async fn record_platform_status_for(
        &self,
        platform_id: &str,
        status: &PlatformStatus,
        recipient: Option<&str>,
    ) -> StoreResult<StatusApplied>;
    /// Marks a subscriber gone by id, closing their open deliveries.
    async fn mark_subscriber_gone(&self, subscriber_id: i64) -> StoreResult<()>;

    /// One-off broadcasts whose time has come.
    async fn due_scheduled(&self, now: i64) -> StoreResult<Vec<Broadcast>>;
    /// scheduled → released; false when it was no longer scheduled.
    async fn release_scheduled(&self, id: i64, now: i64) -> StoreResult<bool>;
    /// scheduled → missed.
    async fn mark_missed(&self, id: i64) -> StoreResult<bool>;
    async fn scheduled_broadcasts(&self) -> StoreResult<Vec<Broadcast>>;
    /// Adds a recurring schedule (once per `source`); returns its id.
    async fn create_schedule(&self, new: &NewSchedule) -> StoreResult<i64>;
    async fn due_schedules(&self, now: i64) -> StoreResult<Vec<Schedule>>;
    /// Moves a schedule to its next firing, or stops it (`None`).
    async fn advance_schedule(&self, id: i64, next_at: Option<i64>) -> StoreResult<()>;
    async fn schedules(&self) -> StoreResult<Vec<Schedule>>;
    async fn delete_schedule(&self, id: i64) -> StoreResult<bool>;
    /// Moves broadcast `id` to `at` (ms) while it waits for its time; false when it no longer does.
    async fn reschedule_broadcast(&self, id: i64, at: i64) -> StoreResult<bool>;
    /// Gives `person` the calendar link whose secret hashes to `secret_hash` (the old one stops).
    async fn set_calendar_link(&self, person: &str, secret_hash: &str, at: i64) -> StoreResult<()>;
    /// Whose calendar link has the secret hashing to `secret_hash`.
    async fn calendar_link_person(&self, secret_hash: &str) -> StoreResult<Option<String>>;

    /// Pending deliveries per priority.
    async fn queue_depth(&self) -> StoreResult<Vec<(Priority, u64)>>;
    /// Active subscribers per channel and topic.
    async fn subscriber_counts(&self) -> StoreResult<Vec<(ChannelKind, String, u64)>>;

    async fn channel_state(&self, key: &str) -> StoreResult<Option<String>>;
    async fn set_channel_state(&self, key: &str, value: &str) -> StoreResult<()>;

    /// When the first and the last delivery of broadcast `id` were sent (ms), if any was.
    async fn sent_span(&self, id: i64) -> StoreResult<(Option<i64>, Option<i64>)>;

    /// Whether this version of an official warning was handled already.
    async fn warning_known(&self, identifier: &str, version: i64) -> StoreResult<bool>;
    /// Records what the bot did with one version of a warning; false (and nothing changed)
    /// when that version was recorded before.
    async fn record_warning(&self, w: &WarningRecord) -> StoreResult<bool>;
    /// The broadcast that carried the latest version of warning `identifier` we sent, if any.
    async fn warning_broadcast(&self, identifier: &str) -> StoreResult<Option<i64>>;
    /// The warnings recorded, newest first, at most `limit`.
    async fn warnings(&self, limit: u32) -> StoreResult<Vec<WarningRecord>>;

    /// The ceiling the fan-out is compared with: a bare `INSERT … SELECT` of every active
    /// subscriber of `topic` into a scratch copy of the deliveries table (same indexes), then
    /// dropped. Returns the rows and the insert's own time in ms.
    async fn fan_out_ceiling(&self, topic: &Topic) -> StoreResult<(u64, f64)>;

    async fn set_lane_pause(
        &self,
        channel: ChannelKind,
        until: i64,
        reason: &str,
    ) -> StoreResult<()>;
    async fn lane_states(&self) -> StoreResult<Vec<LaneState>>;

    /// A page of broadcasts, newest first: those with `status` (any when None) and an id below
    /// `before` (any when None), at most `limit`.
    async fn list_broadcasts_page(
        &self,
        status: Option<BroadcastStatus>,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Broadcast>>;
    /// A page of the public archive, newest first (see `sql::ARCHIVE_PAGE`).
    async fn archive_page(
        &self,
        topic: Option<&str>,
        area: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<Broadcast>>;
    /// The public broadcast with `code`; `None` when there is none (or it is not public).
    async fn archived(&self, code: &str) -> StoreResult<Option<Broadcast>>;
    /// The public follow-ups of alert `id`, oldest first.
    async fn archived_follow_ups(&self, id: i64) -> StoreResult<Vec<Broadcast>>;
    /// `(id, released_at, text, text_en)` of public broadcasts released at or after `from` and
    /// created since `since` (ms), in the order of their release.
    async fn archived_texts(
        &self,
        from: i64,
        since: i64,
    ) -> StoreResult<Vec<(i64, i64, String, Option<String>)>>;
    /// `(id, version, changed_at, text)` of every text public broadcasts created since `since`
    /// had, that became their text at or after `from` (ms); the check knows old texts by them.
    async fn archived_versions(
        &self,
        from: i64,
        since: i64,
    ) -> StoreResult<Vec<(i64, i32, i64, String)>>;
    /// Delivery counts of several broadcasts in one query; every id asked for is in the answer,
    /// with empty counts when it has no deliveries (or does not exist).
    async fn stats_of(
        &self,
        ids: &[i64],
    ) -> StoreResult<std::collections::HashMap<i64, BroadcastStats>>;

    /// Active WhatsApp subscribers of `topic` (or, for a follow-up, of alert `parent_id`'s
    /// recipients) whose last message came at or before `window_start`: outside WhatsApp's
    /// 24-hour window, so they get the paid template.
    async fn whatsapp_outside_window(
        &self,
        topic: &Topic,
        parent_id: Option<i64>,
        window_start: i64,
    ) -> StoreResult<u64>;

    /// A broadcast's messages sent per second: (seconds since the epoch, messages), in order.
    async fn sent_per_second(&self, id: i64) -> StoreResult<Vec<(i64, u64)>>;

    /// Keeps the day's active subscribers per channel and topic (`day` as YYYY-MM-DD, city
    /// time); a later count of the same day replaces the earlier.
    async fn record_subscriber_day(
        &self,
        day: &str,
        counts: &[(ChannelKind, String, u64)],
    ) -> StoreResult<()>;
    /// The daily counts from `since` (YYYY-MM-DD) on: (day, topic, channel, count), by day.
    async fn subscriber_days(
        &self,
        since: &str,
    ) -> StoreResult<Vec<(String, String, ChannelKind, u64)>>;

    /// Keeps a dashboard login link (its hash).
    async fn put_login_link(&self, link: &LoginLink) -> StoreResult<()>;
    /// Uses the link with this hash once: the staff address it was made for, or `None` when it
    /// is unknown, expired or used already (then it writes nothing).
    async fn take_login_link(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<(ChannelKind, String)>>;
    async fn put_session(&self, session: &DashboardSession) -> StoreResult<()>;
    /// The session with this hash; `None` when it is unknown, past its absolute end, or was
    /// idle for `idle_ms` or longer. Reads only: a request with a made-up cookie writes nothing.
    async fn session(
        &self,
        id_hash: &str,
        now: i64,
        idle_ms: i64,
    ) -> StoreResult<Option<DashboardSession>>;
    /// Marks the session as seen at `now`, which moves its idle end on.
    async fn mark_session_seen(&self, id_hash: &str, now: i64) -> StoreResult<()>;
    /// Signs out: true when the session existed.
    async fn end_session(&self, id_hash: &str) -> StoreResult<bool>;
    /// Deletes sessions and login links that can no longer be used.
    async fn forget_dashboard_sign_ins(&self, now: i64, idle_ms: i64) -> StoreResult<u64>;

    /// Keeps a picture or document; the bytes are written as given.
    async fn insert_media(&self, new: &NewMedia) -> StoreResult<MediaInfo>;
    /// A kept medium without its bytes.
    async fn media_info(&self, id: i64) -> StoreResult<Option<MediaInfo>>;
    /// A kept medium's bytes (read only to upload it).
    async fn media_bytes(&self, id: i64) -> StoreResult<Option<Vec<u8>>>;
    /// Claims the one upload of medium `media_id` to `channel` for `holder` until `until`
    /// (ms), unless its platform id is stored and was uploaded at or after `fresh_since`, or
    /// another holder's claim runs past `now`. A taken claim counts as an upload.
    async fn claim_media_upload(
        &self,
        media_id: i64,
        channel: ChannelKind,
        holder: &str,
        now: i64,
        until: i64,
        fresh_since: i64,
    ) -> StoreResult<UploadClaim>;
    /// Stores the platform's id of an uploaded medium and ends the claim.
    async fn media_uploaded(
        &self,
        media_id: i64,
        channel: ChannelKind,
        platform_ref: &str,
        at: i64,
    ) -> StoreResult<()>;
    /// Ends `holder`'s claim without an id (the upload failed).
    async fn release_media_upload(
        &self,
        media_id: i64,
        channel: ChannelKind,
        holder: &str,
    ) -> StoreResult<()>;
    /// Each platform's record of a medium.
    async fn media_uploads(&self, media_id: i64) -> StoreResult<Vec<MediaUpload>>;
    /// Deletes media created before `before` that no open or recent broadcast names.
    async fn forget_media(&self, before: i64) -> StoreResult<u64>;
}

/// A picture or document to keep, its metadata already removed.
#[derive(Debug, Clone)]
pub struct NewMedia {
    pub kind: crate::domain::media::MediaKind,
    pub mime: String,
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Hex SHA-256 of `bytes`.
    pub sha256: String,
    /// Who uploaded it (as the audit log names people).
    pub created_by: Option<String>,
}

/// A kept medium without its bytes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MediaInfo {
    pub id: i64,
    pub kind: crate::domain::media::MediaKind,
    pub mime: String,
    pub file_name: String,
    /// Its size in bytes.
    pub bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub sha256: String,
    pub created_at: i64,
}

/// A medium as stored, read by column name.
#[derive(sqlx::FromRow)]
pub(crate) struct MediaRow {
    pub id: i64,
    pub kind: String,
    pub mime: String,
    pub file_name: String,
    pub size: i64,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub sha256: String,
    pub created_at: i64,
}

pub(crate) fn media_from_row(r: MediaRow) -> StoreResult<MediaInfo> {
    let dim = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok());
    Ok(MediaInfo {
        id: r.id,
        kind: r.kind.parse().map_err(StoreError::Corrupt)?,
        mime: r.mime,
        file_name: r.file_name,
        bytes: u64::try_from(r.size).unwrap_or_default(),
        width: dim(r.width),
        height: dim(r.height),
        sha256: r.sha256,
        created_at: r.created_at,
    })
}

/// What a claim on a medium's one upload to a platform found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadClaim {
    /// The platform's id is stored and fresh: send by it.
    Ready {
        platform_ref: String,
        uploaded_at: i64,
    },
    /// Ours: upload now, then `media_uploaded` (or `release_media_upload` when it failed).
    Claimed,
    /// Someone else uploads it, until `until` (ms) at the latest.
    Busy { until: i64 },
}

/// One platform's record of a medium: how often it was uploaded and the id it has there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MediaUpload {
    pub channel: ChannelKind,
    pub uploads: u64,
    pub platform_ref: Option<String>,
}

/// The columns every broadcast query reads: the fields of [`BroadcastRow`].
macro_rules! broadcast_columns {
    () => {
        "id, topic, kind, priority, text, status, created_at, released_at, fanout_done_at, finished_at, \
         scheduled_at, created_by, parent_id, author, approved_by, cron, target, version, notice, new_text, public_code, \
         media_id, alt"
    };
}
pub(crate) use broadcast_columns;

/// A broadcast as stored, read by column name.
#[derive(sqlx::FromRow)]
pub(crate) struct BroadcastRow {
    pub id: i64,
    pub topic: String,
    pub kind: String,
    pub priority: i64,
    pub text: String,
    pub status: String,
    pub created_at: i64,
    pub released_at: Option<i64>,
    pub fanout_done_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub scheduled_at: Option<i64>,
    pub created_by: Option<String>,
    pub parent_id: Option<i64>,
    pub author: Option<String>,
    pub approved_by: Option<String>,
    pub cron: Option<String>,
    pub target: Option<String>,
    pub version: i32,
    pub notice: i64,
    pub new_text: Option<String>,
    pub public_code: Option<String>,
    pub media_id: Option<i64>,
    pub alt: Option<String>,
}

pub(crate) fn broadcast_from_row(r: BroadcastRow) -> StoreResult<Broadcast> {
    let BroadcastRow {
        id,
        topic,
        kind,
        priority,
        text,
        status,
        created_at,
        released_at,
        fanout_done_at,
        finished_at,
        scheduled_at,
        created_by,
        parent_id,
        author,
        approved_by,
        cron,
        target,
        version,
        notice,
        new_text,
        public_code,
        media_id,
        alt,
    } = r;
    let target = target
        .map(|t| {
            serde_json::from_str(&t)
                .map_err(|e| StoreError::Corrupt(format!("broadcast {id}: target {t}: {e}")))
        })
        .transpose()?;
    Ok(Broadcast {
        id,
        topic,
        kind: kind.parse().map_err(StoreError::Corrupt)?,
        priority: priority_from_db(priority)?,
        text,
        status: status.parse().map_err(StoreError::Corrupt)?,
        created_at,
        released_at,
        fanout_done_at,
        finished_at,
        scheduled_at,
        created_by,
        parent_id,
        author,
        approved_by,
        cron,
        target,
        version,
        notice: notice != 0,
        new_text,
        public_code,
        media_id,
        alt,
    })
}

/// The columns a claim reads: the fields of [`ClaimRow`]; `d`, `s`, `b` are the aliases of
/// deliveries, subscribers and broadcasts.
macro_rules! claim_columns {
    () => {
        "d.id, d.broadcast_id, d.subscriber_id, d.priority, b.kind, d.attempts, s.address, s.language, \
         CASE WHEN s.language = 'en' AND b.text_en IS NOT NULL THEN b.text_en ELSE b.text END AS text, \
         s.last_inbound_at, d.force_template, b.topic, d.parts_sent, d.text_version, b.notice, \
         p.status AS parent_status, p.platform_id AS parent_platform_id, p.parts_sent AS parent_parts_sent, \
         p.text_version AS parent_text_version, p.lease_until AS parent_lease_until, \
         CASE WHEN s.language = 'en' AND pb.text_en IS NOT NULL THEN pb.text_en ELSE pb.text END AS parent_text, b.public_code, pb.public_code AS parent_public_code, b.media_id, d.platform_id AS last_part_id"
    };
}
pub(crate) use claim_columns;

/// A claimed delivery with what sending it needs, read by column name.
#[derive(sqlx::FromRow)]
pub(crate) struct ClaimRow {
    pub id: i64,
    pub broadcast_id: i64,
    pub subscriber_id: i64,
    pub priority: i64,
    pub kind: String,
    pub attempts: i32,
    pub address: String,
    pub language: String,
    pub text: String,
    pub last_inbound_at: Option<i64>,
    pub force_template: i64,
    pub topic: String,
    pub parts_sent: i32,
    pub text_version: Option<i32>,
    pub notice: i64,
    pub parent_status: Option<String>,
    pub parent_platform_id: Option<String>,
    pub parent_parts_sent: Option<i32>,
    pub parent_text_version: Option<i32>,
    pub parent_lease_until: Option<i64>,
    pub parent_text: Option<String>,
    pub public_code: Option<String>,
    pub parent_public_code: Option<String>,
    pub media_id: Option<i64>,
    pub last_part_id: Option<String>,
}

pub(crate) fn claimed_from_row(r: ClaimRow) -> StoreResult<ClaimedDelivery> {
    let ClaimRow {
        id,
        broadcast_id,
        subscriber_id,
        priority,
        kind,
        attempts,
        address,
        language,
        text,
        last_inbound_at,
        force_template,
        topic,
        parts_sent,
        text_version,
        notice,
        parent_status,
        parent_platform_id,
        parent_parts_sent,
        parent_text_version,
        parent_lease_until,
        parent_text,
        public_code,
        parent_public_code,
        media_id,
        last_part_id,
    } = r;
    let parent = match parent_status {
        Some(status) => Some(ParentDelivery {
            status: status.parse().map_err(StoreError::Corrupt)?,
            platform_id: parent_platform_id,
            parts_sent: parent_parts_sent.unwrap_or(0),
            text_version: parent_text_version,
            lease_until: parent_lease_until,
        }),
        None => None,
    };
    Ok(ClaimedDelivery {
        id,
        broadcast_id,
        subscriber_id,
        priority: priority_from_db(priority)?,
        kind: kind.parse().map_err(StoreError::Corrupt)?,
        attempts,
        address,
        language,
        text,
        last_inbound_at,
        force_template: force_template != 0,
        topic,
        parts_sent,
        text_version: text_version.unwrap_or(1),
        notice: notice != 0,
        parent,
        parent_text,
        public_code,
        parent_public_code,
        media_id,
        last_part_id,
    })
}

/// Claims come back in whatever order the database returned them; lanes send in queue order.
pub(crate) fn sort_claimed(rows: &mut [ClaimedDelivery]) {
    rows.sort_by_key(|d| (std::cmp::Reverse(d.priority), d.id));
}

pub(crate) fn priority_from_db(v: i64) -> StoreResult<Priority> {
    i16::try_from(v)
        .ok()
        .and_then(Priority::from_i16)
        .ok_or_else(|| StoreError::Corrupt(format!("priority {v}")))
}

pub(crate) fn stats_from_rows(rows: Vec<(String, String, i64)>) -> StoreResult<BroadcastStats> {
    let mut stats = BroadcastStats::default();
    for (channel, status, n) in rows {
        let channel: ChannelKind = channel.parse().map_err(StoreError::Corrupt)?;
        let status: DeliveryStatus = status.parse().map_err(StoreError::Corrupt)?;
        *stats
            .counts
            .entry(channel)
            .or_default()
            .entry(status)
            .or_default() += n as u64;
    }
    Ok(stats)
}

pub(crate) fn recipients_from_rows(rows: Vec<(String, i64)>) -> StoreResult<RecipientCount> {
    let mut count = RecipientCount::default();
    for (channel, n) in rows {
        let channel: ChannelKind = channel.parse().map_err(StoreError::Corrupt)?;
        count.add(channel, n as u64);
    }
    Ok(count)
}

/// A subscriber as stored, read by column name.
#[derive(sqlx::FromRow)]
pub(crate) struct SubscriberRow {
    pub id: i64,
    pub channel: String,
    pub address: String,
    pub language: String,
    pub status: String,
}

pub(crate) fn subscriber_from_row(
    r: SubscriberRow,
    topics: Vec<String>,
) -> StoreResult<Subscriber> {
    let SubscriberRow {
        id,
        channel,
        address,
        language,
        status,
    } = r;
    Ok(Subscriber {
        id,
        channel: channel.parse().map_err(StoreError::Corrupt)?,
        address,
        language,
        status: status.parse().map_err(StoreError::Corrupt)?,
        topics,
    })
}

/// A typed confirmation as stored, read by column name.
#[derive(sqlx::FromRow)]
pub(crate) struct ConfirmationRow {
    pub code: String,
    pub action: String,
    pub payload: String,
    pub author_channel: String,
    pub author_address: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub broadcast_id: Option<i64>,
}

pub(crate) fn confirmation_from_row(r: ConfirmationRow) -> StoreResult<Confirmation> {
    let ConfirmationRow {
        code,
        action,
        payload,
        author_channel,
        author_address,
        created_at,
        expires_at,
        broadcast_id,
    } = r;
    Ok(Confirmation {
        code,
        action,
        payload,
        author_channel: author_channel.parse().map_err(StoreError::Corrupt)?,
        author_address,
        created_at,
        expires_at,
        broadcast_id,
    })
}

pub(crate) fn lane_from_row(
    r: (String, Option<i64>, Option<i64>, Option<String>),
) -> StoreResult<LaneState> {
    let (channel, paused_until, updated_at, pause_reason) = r;
    Ok(LaneState {
        channel: channel.parse().map_err(StoreError::Corrupt)?,
        paused_until,
        pause_reason,
        updated_at: updated_at.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows are read by column name: a query that lists two columns of one type in another
    /// order (the times of a broadcast) still gives each field its own value.
    #[tokio::test]
    async fn a_row_is_read_by_column_name_not_by_position() {
        let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect("sqlite::memory:")
            .await
            .expect("an in-memory database");
        let row: BroadcastRow = sqlx::query_as(
            "SELECT 'the street' AS alt, 5 AS media_id, 'K7Q2XH3M' AS public_code, 2 AS version, 0 AS notice, NULL AS new_text, NULL AS target, 'cron' AS cron, 'approver' AS approved_by, 'author' AS author, 9 AS parent_id, \
             'press' AS created_by, NULL AS scheduled_at, 4 AS finished_at, 3 AS fanout_done_at, \
             2 AS released_at, 1 AS created_at, 'done' AS status, 'Text' AS text, 3 AS priority, \
             'alert' AS kind, 'alerts' AS topic, 7 AS id",
        )
        .fetch_one(&mut db)
        .await
        .expect("one row");
        let b = broadcast_from_row(row).expect("a broadcast");
        assert_eq!(
            (
                b.id,
                b.created_at,
                b.released_at,
                b.fanout_done_at,
                b.finished_at
            ),
            (7, 1, Some(2), Some(3), Some(4))
        );
        assert_eq!((b.parent_id, b.scheduled_at), (Some(9), None));
        assert_eq!(b.approved_by.as_deref(), Some("approver"));
        assert_eq!(b.kind, BroadcastKind::Alert);
        assert_eq!(
            (b.media_id, b.alt.as_deref()),
            (Some(5), Some("the street"))
        );
    }
}
