//! The outlets' part of the store: one row per outlet and broadcast (its post, or a
//! correction or retraction of that post), claimed with a lease and acknowledged only while the
//! lease is held, like a citizen's delivery. Written once for both databases.

use async_trait::async_trait;
use serde::Serialize;

use super::{Broadcast, Fence, StoreError, StoreResult};
use crate::domain::outlet::{OutletAction, OutletPostStatus, OutletRoute};
use crate::domain::{BroadcastKind, Priority};

/// One outlet row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutletPost {
    pub id: i64,
    pub outlet: String,
    /// The broadcast that caused it: the post's own, or the correction or retraction.
    pub broadcast_id: i64,
    /// The broadcast whose post it is about.
    pub target_id: i64,
    pub action: OutletAction,
    pub priority: Priority,
    pub status: OutletPostStatus,
    /// Claims so far; with `leased_by` the fence of an acknowledgement.
    pub attempts: i64,
    pub version: Option<i64>,
    pub remote_id: Option<String>,
    pub remote_url: Option<String>,
    /// What else a follow-up needs of the post (Bluesky: its cid).
    pub remote_ref: Option<String>,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
    pub posted_by: Option<String>,
    #[serde(skip)]
    pub leased_by: Option<String>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct OutletPostRow {
    id: i64,
    outlet: String,
    broadcast_id: i64,
    target_id: i64,
    action: String,
    priority: i64,
    status: String,
    attempts: i64,
    version: Option<i64>,
    remote_id: Option<String>,
    remote_url: Option<String>,
    remote_ref: Option<String>,
    last_error: Option<String>,
    sent_at: Option<i64>,
    posted_by: Option<String>,
    leased_by: Option<String>,
}

impl TryFrom<OutletPostRow> for OutletPost {
    type Error = StoreError;

    fn try_from(r: OutletPostRow) -> StoreResult<OutletPost> {
        let corrupt = |what: &str, v: &str| {
            StoreError::Corrupt(format!("outlet post {}: {what} '{v}'", r.id))
        };
        Ok(OutletPost {
            id: r.id,
            action: OutletAction::parse(&r.action).ok_or_else(|| corrupt("action", &r.action))?,
            priority: i16::try_from(r.priority)
                .ok()
                .and_then(Priority::from_i16)
                .ok_or_else(|| corrupt("priority", &r.priority.to_string()))?,
            status: OutletPostStatus::parse(&r.status)
                .ok_or_else(|| corrupt("status", &r.status))?,
            outlet: r.outlet,
            broadcast_id: r.broadcast_id,
            target_id: r.target_id,
            attempts: r.attempts,
            version: r.version,
            remote_id: r.remote_id,
            remote_url: r.remote_url,
            remote_ref: r.remote_ref,
            last_error: r.last_error,
            sent_at: r.sent_at,
            posted_by: r.posted_by,
            leased_by: r.leased_by,
        })
    }
}

/// How a leased outlet row ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutletOutcome {
    Sent {
        version: Option<i64>,
        remote_id: Option<String>,
        remote_url: Option<String>,
        remote_ref: Option<String>,
        at: i64,
    },
    /// Back to the queue until `due_at`.
    Retry {
        due_at: i64,
        error: String,
    },
    Failed {
        error: String,
    },
    Skipped {
        why: String,
    },
}

#[async_trait]
pub trait OutletStore: Send + Sync {
    /// Writes the outlet rows a released broadcast causes: a post on each outlet of `routes`
    /// that takes it; for a correction or retraction, one row on each outlet that has (or will
    /// have) the post of its parent. A retraction also skips the parent's posts not made yet.
    /// Idempotent: fan-out may call it again after a restart.
    async fn enqueue_outlet_posts(
        &self,
        broadcast: &Broadcast,
        routes: &[OutletRoute],
        now: i64,
    ) -> StoreResult<u64>;
    /// Leases the most urgent due row of `outlet` (or one whose lease expired) to `holder`;
    /// refused with `RoleLost` unless `fence` (when given) still holds the outlets' role.
    async fn claim_outlet_post(
        &self,
        fence: Option<&Fence>,
        outlet: &str,
        holder: &str,
        now: i64,
        lease_ms: i64,
    ) -> StoreResult<Option<OutletPost>>;
    /// Ends a row leased by `holder` at `attempts`; false when the lease was lost meanwhile.
    /// Refused with `RoleLost` unless `fence` (when given) still holds the outlets' role.
    async fn finish_outlet_post(
        &self,
        fence: Option<&Fence>,
        id: i64,
        holder: &str,
        attempts: i64,
        outcome: &OutletOutcome,
    ) -> StoreResult<bool>;
    /// Returns every leased outlet row (the holder before, gone or cut off, leased it) to the
    /// queue, under `fence`: how many.
    async fn take_over_outlets(&self, fence: Option<&Fence>) -> StoreResult<u64>;
    /// Deletes every outlet row about a broadcast once none of them is queued or leased and
    /// the last was made or posted before `before` (ms): `corrections.keep_days` after its
    /// post, a correction or retraction no longer reaches the outlets. How many.
    async fn forget_outlet_posts(&self, before: i64) -> StoreResult<u64>;

    /// The post of `target` on `outlet`, if it has one.
    async fn outlet_post_of(&self, outlet: &str, target: i64) -> StoreResult<Option<OutletPost>>;
    /// Every outlet row about broadcast `id` (its post and what corrected or retracted it), or
    /// caused by it.
    async fn outlet_posts_about(&self, id: i64) -> StoreResult<Vec<OutletPost>>;
    /// Records that `who` posted row `id` by hand; false unless it waited for that.
    async fn posted_by_hand(&self, id: i64, who: &str, at: i64) -> StoreResult<bool>;
}

pub(crate) const OUTLET_POST_COLUMNS: &str = "id, outlet, broadcast_id, target_id, action, priority, status, attempts, \
     version, remote_id, remote_url, remote_ref, last_error, sent_at, posted_by, leased_by";

pub(crate) const INSERT_OUTLET_POST: &str = "INSERT INTO outlet_posts \
     (outlet, broadcast_id, target_id, action, priority, status, due_at, created_at) \
     VALUES ($1, $2, $3, 'post', $4, $5, $6, $6) ON CONFLICT (outlet, broadcast_id) DO NOTHING";

/// A correction's or retraction's rows: one per outlet with a post of the parent that was made
/// or may still be.
pub(crate) const INSERT_OUTLET_FOLLOW_UPS: &str = "INSERT INTO outlet_posts \
     (outlet, broadcast_id, target_id, action, priority, status, due_at, created_at) \
     SELECT outlet, $1, target_id, $2, $3, \
            CASE WHEN status = 'manual' THEN 'manual' ELSE 'pending' END, $4, $4 \
     FROM outlet_posts WHERE target_id = $5 AND action = 'post' AND status <> 'skipped' \
     ON CONFLICT (outlet, broadcast_id) DO NOTHING";

/// A retracted broadcast's posts not made yet are never made.
pub(crate) const SKIP_UNPOSTED: &str = "UPDATE outlet_posts SET status = 'skipped', \
     last_error = 'retracted before it was posted', lease_until = NULL \
     WHERE target_id = $1 AND action = 'post' AND status IN ('pending', 'manual')";

pub(crate) const CLAIM_OUTLET_POST: &str = "UPDATE outlet_posts SET status = 'leased', \
     lease_until = $3, leased_by = $4, attempts = attempts + 1 \
     WHERE id = (SELECT id FROM outlet_posts WHERE outlet = $1 \
                 AND ((status = 'pending' AND due_at <= $2) OR (status = 'leased' AND lease_until < $2)) \
                 ORDER BY priority DESC, due_at, id LIMIT 1) \
       AND ((status = 'pending' AND due_at <= $2) OR (status = 'leased' AND lease_until < $2)) \
     RETURNING id, outlet, broadcast_id, target_id, action, priority, status, attempts, \
     version, remote_id, remote_url, remote_ref, last_error, sent_at, posted_by, leased_by";

pub(crate) const TAKE_OVER_OUTLETS: &str = "UPDATE outlet_posts SET status = 'pending', \
     lease_until = NULL WHERE status = 'leased'";

/// Whole broadcasts at once: a correction still queued needs the row of its post.
pub(crate) const FORGET_OUTLET_POSTS: &str = "DELETE FROM outlet_posts WHERE target_id IN \
     (SELECT target_id FROM outlet_posts GROUP BY target_id \
      HAVING MAX(COALESCE(sent_at, created_at)) < $1 \
         AND SUM(CASE WHEN status IN ('pending', 'leased') THEN 1 ELSE 0 END) = 0)";

const LEASE_HELD: &str = "WHERE id = $1 AND status = 'leased' AND leased_by = $2 AND attempts = $3";

pub(crate) fn finish_sql(outcome: &OutletOutcome) -> String {
    let set = match outcome {
        OutletOutcome::Sent { .. } => {
            "status = 'sent', version = $4, remote_id = $5, remote_url = $6, sent_at = $7, remote_ref = $8, \
             last_error = NULL, lease_until = NULL"
        }
        OutletOutcome::Retry { .. } => {
            "status = 'pending', due_at = $4, last_error = $5, lease_until = NULL"
        }
        OutletOutcome::Failed { .. } => "status = 'failed', last_error = $4, lease_until = NULL",
        OutletOutcome::Skipped { .. } => "status = 'skipped', last_error = $4, lease_until = NULL",
    };
    format!("UPDATE outlet_posts SET {set} {LEASE_HELD}")
}

pub(crate) fn follow_up_action(kind: BroadcastKind) -> Option<OutletAction> {
    match kind {
        BroadcastKind::Correction => Some(OutletAction::Correct),
        BroadcastKind::Retraction => Some(OutletAction::Retract),
        _ => None,
    }
}

/// Expands to `OutletStore` for `$store` over `$db`; the store supplies `pool` and
/// `begin_write()`.
macro_rules! impl_outlet_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::outlets::OutletStore for $store {
            async fn enqueue_outlet_posts(
                &self,
                broadcast: &$crate::store::Broadcast,
                routes: &[$crate::domain::outlet::OutletRoute],
                now: i64,
            ) -> $crate::store::StoreResult<u64> {
                use $crate::store::outlets as o;
                let mut tx = self.begin_write().await?;
                let mut n = 0;
                match (o::follow_up_action(broadcast.kind), broadcast.parent_id) {
                    // A retraction's second broadcast only edits the citizens' messages.
                    (Some($crate::domain::outlet::OutletAction::Retract), Some(_)) if !broadcast.notice => {}
                    (Some(action), Some(parent)) => {
                        if action == $crate::domain::outlet::OutletAction::Retract {
                            sqlx::query(o::SKIP_UNPOSTED).bind(parent).execute(&mut *tx.tx).await?;
                        }
                        n += sqlx::query(o::INSERT_OUTLET_FOLLOW_UPS)
                            .bind(broadcast.id)
                            .bind(action.as_str())
                            .bind(i64::from(broadcast.priority.as_i16()))
                            .bind(now)
                            .bind(parent)
                            .execute(&mut *tx.tx)
                            .await?
                            .rows_affected();
                    }
                    _ => {
                        for route in routes.iter().filter(|r| r.takes(&broadcast.topic, broadcast.kind)) {
                            let status = if route.kind.has_api() { "pending" } else { "manual" };
                            n += sqlx::query(o::INSERT_OUTLET_POST)
                                .bind(route.name.as_str())
                                .bind(broadcast.id)
                                .bind(broadcast.id)
                                .bind(i64::from(broadcast.priority.as_i16()))
                                .bind(status)
                                .bind(now)
                                .execute(&mut *tx.tx)
                                .await?
                                .rows_affected();
                        }
                    }
                }
                tx.commit().await?;
                Ok(n)
            }

            async fn claim_outlet_post(
                &self,
                fence: Option<&$crate::store::Fence>,
                outlet: &str,
                holder: &str,
                now: i64,
                lease_ms: i64,
            ) -> $crate::store::StoreResult<Option<$crate::store::outlets::OutletPost>> {
                use $crate::store::outlets as o;
                let mut tx = self.begin_write().await?;
                Self::check_fence(&mut tx, fence, true).await?;
                let row: Option<o::OutletPostRow> = sqlx::query_as(o::CLAIM_OUTLET_POST)
                    .bind(outlet)
                    .bind(now)
                    .bind(now + lease_ms)
                    .bind(holder)
                    .fetch_optional(&mut *tx.tx)
                    .await?;
                tx.commit().await?;
                row.map(o::OutletPost::try_from).transpose()
            }

            async fn finish_outlet_post(
                &self,
                fence: Option<&$crate::store::Fence>,
                id: i64,
                holder: &str,
                attempts: i64,
                outcome: &$crate::store::outlets::OutletOutcome,
            ) -> $crate::store::StoreResult<bool> {
                use $crate::store::outlets::{self as o, OutletOutcome};
                let sql = o::finish_sql(outcome);
                let q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(holder).bind(attempts);
                let q = match outcome {
                    OutletOutcome::Sent { version, remote_id, remote_url, remote_ref, at } => q
                        .bind(*version)
                        .bind(remote_id.clone())
                        .bind(remote_url.clone())
                        .bind(*at)
                        .bind(remote_ref.clone()),
                    OutletOutcome::Retry { due_at, error } => q.bind(*due_at).bind(error.clone()),
                    OutletOutcome::Failed { error } => q.bind(error.clone()),
                    OutletOutcome::Skipped { why } => q.bind(why.clone()),
                };
                let mut tx = self.begin_write().await?;
                Self::check_fence(&mut tx, fence, false).await?;
                let n = q.execute(&mut *tx.tx).await?.rows_affected();
                tx.commit().await?;
                Ok(n == 1)
            }

            async fn take_over_outlets(
                &self,
                fence: Option<&$crate::store::Fence>,
            ) -> $crate::store::StoreResult<u64> {
                let mut tx = self.begin_write().await?;
                Self::check_fence(&mut tx, fence, true).await?;
                let n = sqlx::query($crate::store::outlets::TAKE_OVER_OUTLETS)
                    .execute(&mut *tx.tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n)
            }

            async fn forget_outlet_posts(&self, before: i64) -> $crate::store::StoreResult<u64> {
                self.write_one(sqlx::query($crate::store::outlets::FORGET_OUTLET_POSTS).bind(before))
                    .await
            }

            async fn outlet_post_of(
                &self,
                outlet: &str,
                target: i64,
            ) -> $crate::store::StoreResult<Option<$crate::store::outlets::OutletPost>> {
                use $crate::store::outlets as o;
                let sql = format!(
                    "SELECT {} FROM outlet_posts WHERE outlet = $1 AND target_id = $2 AND action = 'post'",
                    o::OUTLET_POST_COLUMNS
                );
                let row: Option<o::OutletPostRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(outlet)
                    .bind(target)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(o::OutletPost::try_from).transpose()
            }

            async fn outlet_posts_about(
                &self,
                id: i64,
            ) -> $crate::store::StoreResult<Vec<$crate::store::outlets::OutletPost>> {
                use $crate::store::outlets as o;
                let sql = format!(
                    "SELECT {} FROM outlet_posts WHERE target_id = $1 OR broadcast_id = $1 ORDER BY outlet, id",
                    o::OUTLET_POST_COLUMNS
                );
                let rows: Vec<o::OutletPostRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(o::OutletPost::try_from).collect()
            }

            async fn posted_by_hand(&self, id: i64, who: &str, at: i64) -> $crate::store::StoreResult<bool> {
                let q = sqlx::query(
                    "UPDATE outlet_posts SET status = 'sent', posted_by = $2, sent_at = $3 \
                     WHERE id = $1 AND status = 'manual'",
                )
                .bind(id)
                .bind(who.to_string())
                .bind(at);
                Ok(self.write_one(q).await? == 1)
            }
        }
    };
}
pub(crate) use impl_outlet_store;
