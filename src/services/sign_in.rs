//! Signing in to the dashboard without passwords: a staff person asks for a one-time login link
//! in the chat (or the operator prints one), the link opens a session, and every request of
//! the session is checked here. Secrets are random 256-bit values; the store keeps only their
//! SHA-256, so a copy of the database signs nobody in. The role is read from the staff table on
//! every request: removing a person ends their access at once.

use std::sync::Arc;

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::domain::time::Clock;
use crate::domain::{Actor, ChannelKind};
use crate::store::{DashboardSession, LoginLink, Store, StoreError};

/// A login link is valid this long, once.
pub const LINK_TTL_MS: i64 = 10 * 60_000;
/// A session ends this long after sign-in, however busy.
pub const SESSION_ABSOLUTE_MS: i64 = 8 * 3_600_000;
/// A session ends after this long without a request.
pub const SESSION_IDLE_MS: i64 = 30 * 60_000;
/// A session's last request is written down at most this often: every request of a session
/// would otherwise be a write, and SQLite has one writer. The idle end is that much less exact.
pub const SEEN_EVERY_MS: i64 = 60_000;

/// A session just opened: the cookie's secret and the CSRF token its forms carry.
#[derive(Debug, Clone)]
pub struct Opened {
    pub secret: String,
    pub actor: Actor,
}

/// A request's session: who acts, and the token its state-changing requests must carry.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub actor: Actor,
    pub csrf: String,
    pub id_hash: String,
}

pub struct SignIn {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// Where staff reach the dashboard, without a trailing slash.
    public_url: String,
}

impl SignIn {
    pub fn new(store: Arc<dyn Store>, public_url: &url::Url, clock: Arc<dyn Clock>) -> Self {
        SignIn {
            store,
            clock,
            public_url: public_url.as_str().trim_end_matches('/').to_string(),
        }
    }

    /// Cookies must be `Secure` when the dashboard is served over https.
    pub fn secure(&self) -> bool {
        self.public_url.starts_with("https:")
    }

    /// The dashboard's address as staff open it.
    pub fn dashboard_url(&self) -> String {
        format!("{}/dashboard/", self.public_url)
    }

    /// Where a broadcast awaiting approval is edited, approved or rejected on the dashboard.
    pub fn approval_url(&self, id: i64) -> String {
        format!("{}/dashboard/approvals#approval-{id}", self.public_url)
    }

    /// A one-time link for the staff address `channel:address`; `None` when it is not staff.
    pub async fn login_link(
        &self,
        channel: ChannelKind,
        address: &str,
    ) -> Result<Option<String>, StoreError> {
        let Some(member) = self.store.staff_member(channel, address).await? else {
            return Ok(None);
        };
        let token = secret();
        let now = self.clock.now_ms();
        self.store
            .put_login_link(&LoginLink {
                token_hash: hash(&token),
                channel,
                address: address.to_string(),
                created_at: now,
                expires_at: now + LINK_TTL_MS,
            })
            .await?;
        tracing::info!(person = %member.person, "dashboard login link issued");
        Ok(Some(format!(
            "{}/dashboard/login?token={token}",
            self.public_url
        )))
    }

    /// A one-time link for `person` (their first address); `None` when there is no such person.
    pub async fn login_link_for_person(&self, person: &str) -> Result<Option<String>, StoreError> {
        let staff = self.store.list_staff().await?;
        let Some(m) = staff.iter().find(|m| m.person == person) else {
            return Ok(None);
        };
        self.login_link(m.channel, &m.address).await
    }

    /// Uses a login link's token: a new session, or `None` when the link is unknown, expired,
    /// used already, or its address is no longer staff.
    pub async fn redeem(&self, token: &str) -> Result<Option<Opened>, StoreError> {
        let now = self.clock.now_ms();
        let Some((channel, address)) = self.store.take_login_link(&hash(token), now).await? else {
            tracing::info!("a dashboard login link was refused: unknown, expired or used");
            return Ok(None);
        };
        let Some(actor) = crate::services::staff_actor(&*self.store, channel, &address).await?
        else {
            return Ok(None);
        };
        let secret = secret();
        self.store
            .put_session(&DashboardSession {
                id_hash: hash(&secret),
                channel,
                address,
                csrf: self::secret(),
                created_at: now,
                last_seen: now,
                expires_at: now + SESSION_ABSOLUTE_MS,
            })
            .await?;
        self.store
            .audit(&actor.audit_name(), "sign-in", "dashboard")
            .await?;
        Ok(Some(Opened { secret, actor }))
    }

    /// The session of a cookie's secret, if it is still open (and marks it as seen, at most
    /// once a minute). An unknown secret costs reads only.
    pub async fn session(&self, secret: &str) -> Result<Option<SignedIn>, StoreError> {
        let now = self.clock.now_ms();
        let Some((signed_in, last_seen)) = self.open_session(&hash(secret), now).await? else {
            return Ok(None);
        };
        if now - last_seen >= SEEN_EVERY_MS {
            self.store
                .mark_session_seen(&signed_in.id_hash, now)
                .await?;
        }
        Ok(Some(signed_in))
    }

    /// Whether `session` is still open and its person still staff; reads only (the live page
    /// asks this every few seconds while it streams).
    pub async fn still_open(&self, session: &SignedIn) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        Ok(self.open_session(&session.id_hash, now).await?.is_some())
    }

    /// The open session with this hash, as whom it acts, and when it was last marked as seen.
    async fn open_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<(SignedIn, i64)>, StoreError> {
        let Some(s) = self.store.session(id_hash, now, SESSION_IDLE_MS).await? else {
            return Ok(None);
        };
        let actor = crate::services::staff_actor(&*self.store, s.channel, &s.address).await?;
        Ok(actor.map(|actor| {
            (
                SignedIn {
                    actor,
                    csrf: s.csrf,
                    id_hash: s.id_hash,
                },
                s.last_seen,
            )
        }))
    }

    /// Signs out: the session ends in the database.
    pub async fn sign_out(&self, session: &SignedIn) -> Result<(), StoreError> {
        self.store.end_session(&session.id_hash).await?;
        self.store
            .audit(&session.actor.audit_name(), "sign-out", "dashboard")
            .await?;
        Ok(())
    }

    /// Deletes what can no longer sign anyone in (housekeeping).
    pub async fn forget_expired(&self) -> Result<u64, StoreError> {
        self.store
            .forget_dashboard_sign_ins(self.clock.now_ms(), SESSION_IDLE_MS)
            .await
    }
}

/// Whether `given` is the session's CSRF token, compared in constant time.
pub fn csrf_matches(session: &SignedIn, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    !given.is_empty() && bool::from(session.csrf.as_bytes().ct_eq(given.as_bytes()))
}

/// 256 random bits as hex.
fn secret() -> String {
    hex::encode(rand::rng().random::<[u8; 32]>())
}

/// What the store keeps of a secret.
fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
