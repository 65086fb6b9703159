//! The part of the `Store` contract that reads the same on both databases, written once and
//! expanded for each store type. Each store supplies `pool`, `begin_write()` and the methods
//! where the databases differ (connect, migrate, acknowledgements) and the statements that name
//! lists (`CLAIMED`, `STATS_OF`, `INSERT_SUBSCRIBERS`, `INSERT_SUBSCRIPTIONS`: a JSON array bound
//! as text) or lock (`LOCK_STAFF`).

/// A write transaction; on SQLite it also holds this process's turn to write, so writers queue
/// in order instead of meeting SQLite's sleeping busy handler.
pub(crate) struct WriteTx<DB: sqlx::Database> {
    pub tx: sqlx::Transaction<'static, DB>,
    pub _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<DB: sqlx::Database> WriteTx<DB> {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

/// Expands to the shared methods of `Store` for `$store` (over `sqlx::$db`), plus the
/// store-specific methods passed in `{ ... }`.
macro_rules! impl_store {
    ($store:ty, $db:ty, { $($specific:tt)* }) => {
        impl $store {
            /// The key of the keyed hashes for incoming message ids and senders: made at random
            /// by the first process that needs it, then read from the database.
            async fn pseudonym_key(&self) -> $crate::store::StoreResult<&$crate::store::PseudonymKey> {
                use $crate::store::{sql, PseudonymKey};
                self.pseudonym_key
                    .get_or_try_init(|| async {
                        let mut tx = self.begin_write().await?;
                        sqlx::query(sql::INIT_STATE)
                            .bind(sql::PSEUDONYM_KEY)
                            .bind(PseudonymKey::fresh_hex())
                            .execute(&mut *tx.tx)
                            .await?;
                        let (stored,): (String,) = sqlx::query_as(sql::GET_STATE)
                            .bind(sql::PSEUDONYM_KEY)
                            .fetch_one(&mut *tx.tx)
                            .await?;
                        tx.commit().await?;
                        PseudonymKey::from_hex(&stored)
                    })
                    .await
            }

            /// The mark an erase left for housekeeping (see `sql::ERASED_KEY`), if any.
            async fn erase_pending(&self) -> $crate::store::StoreResult<Option<String>> {
                let mark: Option<(String,)> = sqlx::query_as($crate::store::sql::GET_STATE)
                    .bind($crate::store::sql::ERASED_KEY)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(mark.map(|(m,)| m))
            }

            /// Removes the mark `mark` once what it asked for is done; a later erase's stays.
            async fn erase_settled(&self, mark: &str) -> $crate::store::StoreResult<()> {
                self.write_one(
                    sqlx::query($crate::store::sql::CLEAR_STATE)
                        .bind($crate::store::sql::ERASED_KEY)
                        .bind(mark.to_string()),
                )
                .await?;
                Ok(())
            }

            /// Runs one statement as its own write transaction; returns the rows it touched.
            async fn write_one(
                &self,
                query: sqlx::query::Query<'_, $db, <$db as sqlx::Database>::Arguments>,
            ) -> $crate::store::StoreResult<u64> {
                let mut tx = self.begin_write().await?;
                let n = query.execute(&mut *tx.tx).await?.rows_affected();
                tx.commit().await?;
                Ok(n)
            }

            /// Refuses the write in `tx` with `RoleLost` unless `fence` still holds its role.
            /// With `hold`, the role's row stays share-locked until `tx` ends (Postgres), so a
            /// takeover waits for this write and never misses what it leased. Outcomes need no
            /// hold: those that commit before a takeover are true, and after one they match no
            /// lease (the takeover returned the rows to the queue).
            async fn check_fence(
                tx: &mut $crate::store::common::WriteTx<$db>,
                fence: Option<&$crate::store::Fence>,
                hold: bool,
            ) -> $crate::store::StoreResult<()> {
                let check = if hold { Self::FENCE } else { Self::FENCE_READ };
                if let (Some(check), Some(fence)) = (check, fence) {
                    let held: Option<(i64,)> = sqlx::query_as(check)
                        .bind(fence.role.as_str())
                        .bind(fence.token)
                        .fetch_optional(&mut *tx.tx)
                        .await?;
                    if held.is_none() {
                        return Err($crate::store::StoreError::RoleLost(fence.role.clone()));
                    }
                }
                Ok(())
            }

            /// Applies one acknowledgement inside `tx`; 0 when the lease is no longer ours.
            async fn apply_ack(
                tx: &mut $crate::store::common::WriteTx<$db>,
                ack: &$crate::store::Ack,
            ) -> $crate::store::StoreResult<u64> {
                use $crate::store::{sql, AckOutcome};
                let id = ack.delivery_id;
                let lease = ack.lease.as_str();
                let done = match &ack.outcome {
                    AckOutcome::Sent { at, platform_id } => sqlx::query(sql::ACK_SENT)
                        .bind(id).bind(lease).bind(*at).bind(platform_id.as_deref())
                        .execute(&mut *tx.tx).await?.rows_affected(),
                    AckOutcome::Retry { due_at, attempts, error } => sqlx::query(sql::ACK_RETRY)
                        .bind(id).bind(lease).bind(*due_at).bind(*attempts).bind(error.as_str())
                        .execute(&mut *tx.tx).await?.rows_affected(),
                    AckOutcome::Failed { attempts, error } => sqlx::query(sql::ACK_FAILED)
                        .bind(id).bind(lease).bind(*attempts).bind(error.as_str())
                        .execute(&mut *tx.tx).await?.rows_affected(),
                    AckOutcome::PartSent { parts_sent, platform_id } => sqlx::query(sql::ACK_PART_SENT)
                        .bind(id).bind(lease).bind(*parts_sent).bind(platform_id.as_deref())
                        .execute(&mut *tx.tx).await?.rows_affected(),
                    AckOutcome::Skipped { reason } => sqlx::query(sql::ACK_SKIPPED)
                        .bind(id).bind(lease).bind(reason.as_str())
                        .execute(&mut *tx.tx).await?.rows_affected(),
                    AckOutcome::Release => sqlx::query(sql::ACK_RELEASE)
                        .bind(id).bind(lease)
                        .execute(&mut *tx.tx).await?.rows_affected(),
                    AckOutcome::Moved { address } => {
                        let moved = sqlx::query(sql::MOVE_SUBSCRIBER)
                            .bind(address.as_str()).bind(id).bind(lease)
                            .execute(&mut *tx.tx).await?.rows_affected();
                        if moved > 0 {
                            sqlx::query(sql::ACK_RELEASE).bind(id).bind(lease)
                                .execute(&mut *tx.tx).await?.rows_affected()
                        } else {
                            let error = format!("chat moved to {address}, which is subscribed already");
                            sqlx::query(sql::ACK_FAILED).bind(id).bind(lease).bind(1i32).bind(error)
                                .execute(&mut *tx.tx).await?.rows_affected()
                        }
                    }
                    AckOutcome::Gone { error } => {
                        let subscriber: Option<(i64,)> = sqlx::query_as(sql::ACK_GONE)
                            .bind(id).bind(lease).bind(error.as_str())
                            .fetch_optional(&mut *tx.tx).await?;
                        match subscriber {
                            Some((subscriber_id,)) => {
                                sqlx::query(sql::MARK_SUBSCRIBER_GONE).bind(subscriber_id)
                                    .execute(&mut *tx.tx).await?;
                                sqlx::query(sql::CLOSE_DELIVERIES_OF_GONE).bind(subscriber_id)
                                    .execute(&mut *tx.tx).await?;
                                1
                            }
                            None => 0,
                        }
                    }
                };
                Ok(done)
            }

            /// A released correction takes effect inside `tx`: its parent gets the new text and
            /// the next version (the first kept), and the correction that version's number.
            /// A parent retracted meanwhile takes no correction: it is dropped (false).
            async fn apply_correction_in(
                tx: &mut $crate::store::common::WriteTx<$db>,
                c: &$crate::store::BroadcastRow,
            ) -> $crate::store::StoreResult<bool> {
                use $crate::store::sql;
                let now = $crate::domain::now_ms();
                let (Some(parent), Some(text)) = (c.parent_id, c.new_text.as_deref()) else {
                    return Err($crate::store::StoreError::Corrupt(format!("correction {} has no parent or text", c.id)));
                };
                sqlx::query(sql::KEEP_FIRST_VERSION).bind(parent).execute(&mut *tx.tx).await?;
                let version: Option<(i32,)> = sqlx::query_as(sql::APPLY_CORRECTION)
                    .bind(parent)
                    .bind(text)
                    .fetch_optional(&mut *tx.tx)
                    .await?;
                let Some((version,)) = version else {
                    sqlx::query(sql::DROP_CORRECTION).bind(c.id).bind(now).execute(&mut *tx.tx).await?;
                    return Ok(false);
                };
                sqlx::query(sql::SET_CORRECTION_VERSION).bind(c.id).bind(version).execute(&mut *tx.tx).await?;
                sqlx::query(sql::INSERT_VERSION)
                    .bind(parent)
                    .bind(version)
                    .bind(text)
                    .bind(c.author.as_deref().or(c.created_by.as_deref()))
                    .bind(now)
                    .bind(c.id)
                    .bind(c.notice)
                    .execute(&mut *tx.tx)
                    .await?;
                Ok(true)
            }

            /// Applies a platform status to the delivery sent as `platform_id` inside `tx`;
            /// `None` when no delivery was sent as `platform_id` (yet).
            async fn apply_status_in(
                tx: &mut $crate::store::common::WriteTx<$db>,
                platform_id: &str,
                status: &$crate::domain::PlatformStatus,
            ) -> $crate::store::StoreResult<Option<$crate::store::StatusApplied>> {
                use $crate::domain::{LateFailure, PlatformStatus};
                use $crate::store::{sql, StatusApplied};
                let record = || {
                    sqlx::query_as::<_, (i64, i64, i64)>(sql::RECORD_PLATFORM_STATUS)
                        .bind(platform_id)
                        .bind(status.as_str())
                        .bind(status.error())
                };
                let mut row = record().fetch_optional(&mut *tx.tx).await?;
                if row.is_none() {
                    let sent: Option<(i64,)> = sqlx::query_as(sql::DELIVERY_SENT_AS)
                        .bind(platform_id)
                        .fetch_optional(&mut *tx.tx)
                        .await?;
                    if sent.is_none() {
                        return Ok(None);
                    }
                    // On Postgres each statement sees what was committed when it began: the
                    // outcome may have been written between the two. Once more, now that it is.
                    row = record().fetch_optional(&mut *tx.tx).await?;
                }
                let Some((delivery_id, subscriber_id, force_template)) = row else {
                    return Ok(Some(StatusApplied::Unchanged));
                };
                let PlatformStatus::Failed { failure, error } = status else {
                    return Ok(Some(StatusApplied::Applied { delivery_id, resent: false }));
                };
                if *failure == LateFailure::OutsideWindow && force_template == 0 {
                    if let Some(lock) = Self::LOCK_BROADCAST_OF_DELIVERY {
                        sqlx::query(lock).bind(delivery_id).execute(&mut *tx.tx).await?;
                    }
                    let resent = sqlx::query(sql::RESEND_AS_TEMPLATE)
                        .bind(delivery_id)
                        .bind($crate::domain::now_ms())
                        .execute(&mut *tx.tx)
                        .await?
                        .rows_affected()
                        > 0;
                    if resent {
                        return Ok(Some(StatusApplied::Applied { delivery_id, resent }));
                    }
                }
                sqlx::query(sql::FAIL_SENT_DELIVERY)
                    .bind(delivery_id)
                    .bind(error.as_str())
                    .execute(&mut *tx.tx)
                    .await?;
                if *failure == LateFailure::RecipientGone {
                    sqlx::query(sql::MARK_SUBSCRIBER_GONE).bind(subscriber_id).execute(&mut *tx.tx).await?;
                    sqlx::query(sql::CLOSE_DELIVERIES_OF_GONE).bind(subscriber_id).execute(&mut *tx.tx).await?;
                }
                Ok(Some(StatusApplied::Applied { delivery_id, resent: false }))
            }

            /// Applies the statuses kept for `platform_id`, in the order they came, once a
            /// delivery was sent as it; `None` when there were none to apply (yet).
            async fn apply_early_statuses(
                &self,
                platform_id: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::StatusApplied>> {
                use $crate::store::{sql, StatusApplied, StoreError};
                let mut tx = self.begin_write().await?;
                let mut kept: Vec<(i64, String, Option<String>, Option<String>)> =
                    sqlx::query_as(sql::TAKE_EARLY_STATUSES)
                        .bind(platform_id)
                        .fetch_all(&mut *tx.tx)
                        .await?;
                if kept.is_empty() {
                    tx.rollback().await?;
                    return Ok(None);
                }
                kept.sort_by_key(|k| k.0);
                let mut outcome = StatusApplied::Unchanged;
                for (_, status, error, failure) in kept {
                    let status = $crate::domain::PlatformStatus::from_parts(&status, error, failure.as_deref())
                        .map_err(StoreError::Corrupt)?;
                    let applied = Self::apply_status_in(&mut tx, platform_id, &status).await?;
                    // A resend is what the caller wants to hear of; a later status does not hide it.
                    if let Some(applied @ StatusApplied::Applied { .. }) = applied
                        && !matches!(outcome, StatusApplied::Applied { resent: true, .. })
                    {
                        outcome = applied;
                    }
                }
                tx.commit().await?;
                Ok(Some(outcome))
            }

            /// Applies the statuses kept for any of `written`, platform ids just written.
            async fn apply_early_statuses_of(
                &self,
                written: Vec<String>,
            ) -> $crate::store::StoreResult<()> {
                let early: Vec<(String,)> = sqlx::query_as(Self::EARLY_STATUSES_FOR)
                    .bind(Self::text_list(written))
                    .fetch_all(&self.pool)
                    .await?;
                for (platform_id,) in early {
                    self.apply_early_statuses(&platform_id).await?;
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn ping(&self) -> $crate::store::StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn recipient_count(
                &self,
                topic: &$crate::domain::Topic,
            ) -> $crate::store::StoreResult<$crate::store::RecipientCount> {
                let rows: Vec<(String, i64)> = sqlx::query_as($crate::store::sql::RECIPIENT_COUNT)
                    .bind(topic.as_str())
                    .fetch_all(&self.pool)
                    .await?;
                $crate::store::recipients_from_rows(rows)
            }

            async fn broadcast_by_idempotency_key(
                &self,
                key: &str,
            ) -> $crate::store::StoreResult<Option<i64>> {
                let row: Option<(i64, Option<String>)> =
                    sqlx::query_as($crate::store::sql::BROADCAST_HASH_BY_KEY)
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|(id, _)| id))
            }

            async fn create_broadcast(
                &self,
                new: &$crate::store::NewBroadcast,
            ) -> $crate::store::StoreResult<$crate::store::Created> {
                use $crate::store::{sql, StoreError};
                let now = $crate::domain::now_ms();
                let hash = new.request_hash();
                let status = match (new.start, new.scheduled_at) {
                    ($crate::store::Start::Draft, _) => "draft",
                    ($crate::store::Start::AwaitingApproval, _) => "awaiting_approval",
                    ($crate::store::Start::Release, Some(_)) => "scheduled",
                    ($crate::store::Start::Release, None) => "released",
                };
                let mut tx = self.begin_write().await?;
                let inserted: Option<$crate::store::BroadcastRow> = sqlx::query_as(sql::INSERT_BROADCAST)
                    .bind(new.topic.as_str())
                    .bind(new.kind.as_str())
                    .bind(i64::from(new.priority.as_i16()))
                    .bind(new.text.as_str())
                    .bind(status)
                    .bind(new.idempotency_key.as_deref())
                    .bind(hash.as_str())
                    .bind(new.created_by.as_deref())
                    .bind(now)
                    .bind((status == "released").then_some(now))
                    .bind(new.parent_id)
                    .bind(new.scheduled_at)
                    .bind(new.author.as_deref())
                    .bind(new.cron.as_deref())
                    .bind(new.text_en.as_ref().map(|t| t.as_str()))
                    .bind(new.target.as_ref().map(|(t, _)| serde_json::to_string(t).unwrap_or_default()))
                    .bind(i64::from(new.notice))
                    .bind(new.new_text.as_ref().map(|t| t.as_str()))
                    .bind($crate::domain::public_code())
                    .bind(new.media_id)
                    .bind(new.alt.as_deref())
                    .fetch_optional(&mut *tx.tx)
                    .await?;
                let mut reread = false;
                if let Some(row) = &inserted
                    && row.kind == "correction"
                    && row.status == "released"
                {
                    Self::apply_correction_in(&mut tx, row).await?;
                    reread = true;
                }
                if let (Some(row), Some((_, areas))) = (&inserted, &new.target) {
                    for area in areas {
                        sqlx::query(sql::INSERT_BROADCAST_AREA)
                            .bind(row.id)
                            .bind(area.as_str())
                            .execute(&mut *tx.tx)
                            .await?;
                    }
                }
                if let (Some(row), Some(actor)) = (&inserted, &new.audit_actor) {
                    let action = if status == "draft" { "draft" } else { "submit" };
                    let detail = format!(
                        "broadcast {}: {} on {}, {}",
                        row.id,
                        new.kind.as_str(),
                        new.topic,
                        status
                    );
                    sqlx::query(sql::INSERT_AUDIT)
                        .bind(now)
                        .bind(actor.as_str())
                        .bind(action)
                        .bind(detail)
                        .execute(&mut *tx.tx)
                        .await?;
                }
                tx.commit().await?;
                if reread && let Some(row) = &inserted {
                    let broadcast = self.broadcast(row.id).await?.ok_or(StoreError::UnknownBroadcast(row.id))?;
                    return Ok($crate::store::Created { broadcast, created: true });
                }
                // The new row comes back from the insert itself: one round trip less on the
                // way from an alert's release to its first send.
                if let Some(row) = inserted {
                    let broadcast = $crate::store::broadcast_from_row(row)?;
                    return Ok($crate::store::Created { broadcast, created: true });
                }
                let key = new.idempotency_key.as_deref().unwrap_or_default();
                let (id, earlier): (i64, Option<String>) = sqlx::query_as(sql::BROADCAST_HASH_BY_KEY)
                    .bind(key)
                    .fetch_one(&self.pool)
                    .await?;
                if earlier.as_deref() != Some(hash.as_str()) {
                    return Err(StoreError::IdempotencyConflict);
                }
                let broadcast = self.broadcast(id).await?.ok_or(StoreError::UnknownBroadcast(id))?;
                let created = false;
                Ok($crate::store::Created { broadcast, created })
            }

            async fn release_broadcast(
                &self,
                id: i64,
            ) -> $crate::store::StoreResult<$crate::store::Broadcast> {
                use $crate::domain::BroadcastStatus;
                use $crate::store::{sql, StoreError};
                let mut tx = self.begin_write().await?;
                sqlx::query(sql::RELEASE_BROADCAST)
                    .bind(id)
                    .bind($crate::domain::now_ms())
                    .execute(&mut *tx.tx)
                    .await?;
                tx.commit().await?;
                let b = self.broadcast(id).await?.ok_or(StoreError::UnknownBroadcast(id))?;
                match b.status {
                    BroadcastStatus::Released
                    | BroadcastStatus::Scheduled
                    | BroadcastStatus::Sending
                    | BroadcastStatus::Done => Ok(b),
                    other => Err(StoreError::WrongStatus {
                        id,
                        status: other.as_str().to_string(),
                        wanted: "only a draft can be released",
                    }),
                }
            }

            async fn release_from(
                &self,
                id: i64,
                from: $crate::domain::BroadcastStatus,
                approved_by: Option<&str>,
            ) -> $crate::store::StoreResult<Option<$crate::store::Broadcast>> {
                let mut tx = self.begin_write().await?;
                let row: Option<$crate::store::BroadcastRow> = sqlx::query_as($crate::store::sql::RELEASE_FROM)
                    .bind(id)
                    .bind($crate::domain::now_ms())
                    .bind(from.as_str())
                    .bind(approved_by)
                    .fetch_optional(&mut *tx.tx)
                    .await?;
                if let Some(r) = &row
                    && r.kind == "correction"
                    && r.status == "released"
                {
                    Self::apply_correction_in(&mut tx, r).await?;
                    tx.commit().await?;
                    return self.broadcast(id).await;
                }
                tx.commit().await?;
                row.map($crate::store::broadcast_from_row).transpose()
            }

            async fn await_approval(
                &self,
                id: i64,
            ) -> $crate::store::StoreResult<Option<$crate::store::Broadcast>> {
                let mut tx = self.begin_write().await?;
                let row: Option<$crate::store::BroadcastRow> = sqlx::query_as($crate::store::sql::AWAIT_APPROVAL)
                    .bind(id)
                    .fetch_optional(&mut *tx.tx)
                    .await?;
                tx.commit().await?;
                row.map($crate::store::broadcast_from_row).transpose()
            }

            async fn make_recurring(
                &self,
                id: i64,
                from: $crate::domain::BroadcastStatus,
                next_at: i64,
                approved_by: Option<&str>,
            ) -> $crate::store::StoreResult<Option<i64>> {
                use $crate::store::sql;
                let now = $crate::domain::now_ms();
                let mut tx = self.begin_write().await?;
                let row: Option<(String, String, i64, String, Option<String>, Option<String>)> =
                    sqlx::query_as(sql::MAKE_RECURRING)
                        .bind(id)
                        .bind(from.as_str())
                        .bind(approved_by)
                        .fetch_optional(&mut *tx.tx)
                        .await?;
                let Some((topic, kind, priority, text, cron, created_by)) = row else {
                    tx.rollback().await?;
                    return Ok(None);
                };
                let Some(cron) = cron else {
                    tx.rollback().await?;
                    return Err($crate::store::StoreError::Corrupt(format!("broadcast {id} has no cron expression")));
                };
                let (schedule_id,): (i64,) = sqlx::query_as(sql::INSERT_SCHEDULE)
                    .bind(topic)
                    .bind(kind)
                    .bind(priority)
                    .bind(text)
                    .bind(cron)
                    .bind(next_at)
                    .bind(created_by)
                    .bind(now)
                    .bind(None::<String>)
                    .fetch_one(&mut *tx.tx)
                    .await?;
                sqlx::query(sql::SET_SCHEDULE_OF).bind(id).bind(schedule_id).execute(&mut *tx.tx).await?;
                tx.commit().await?;
                Ok(Some(schedule_id))
            }

            async fn approvals_to_request(
                &self,
            ) -> $crate::store::StoreResult<Vec<$crate::store::Broadcast>> {
                let rows: Vec<$crate::store::BroadcastRow> =
                    sqlx::query_as($crate::store::sql::APPROVALS_TO_REQUEST)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map($crate::store::broadcast_from_row).collect()
            }

            async fn approval_requested(&self, id: i64, at: i64) -> $crate::store::StoreResult<bool> {
                Ok(self.write_one(sqlx::query($crate::store::sql::APPROVAL_REQUESTED).bind(id).bind(at)).await? > 0)
            }

            async fn schedule(&self, id: i64) -> $crate::store::StoreResult<Option<$crate::store::Schedule>> {
                let row: Option<$crate::store::ScheduleRow> = sqlx::query_as($crate::store::sql::SCHEDULE_BY_ID)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map($crate::store::schedule_from_row).transpose()
            }

            async fn broadcast(
                &self,
                id: i64,
            ) -> $crate::store::StoreResult<Option<$crate::store::Broadcast>> {
                let row: Option<$crate::store::BroadcastRow> =
                    sqlx::query_as($crate::store::sql::BROADCAST_BY_ID)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map($crate::store::broadcast_from_row).transpose()
            }

            async fn list_broadcasts(
                &self,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::Broadcast>> {
                let rows: Vec<$crate::store::BroadcastRow> =
                    sqlx::query_as($crate::store::sql::BROADCASTS_RECENT)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map($crate::store::broadcast_from_row).collect()
            }

            async fn cancel_broadcast(&self, id: i64) -> $crate::store::StoreResult<bool> {
                use $crate::store::{sql, StoreError};
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(sql::CANCEL_BROADCAST)
                    .bind(id)
                    .bind($crate::domain::now_ms())
                    .execute(&mut *tx.tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    tx.rollback().await?;
                    return match self.broadcast(id).await? {
                        Some(_) => Ok(false),
                        None => Err(StoreError::UnknownBroadcast(id)),
                    };
                }
                sqlx::query(sql::CANCEL_DELIVERIES).bind(id).execute(&mut *tx.tx).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn retract_broadcast(
                &self,
                id: i64,
                notice: &$crate::store::NewBroadcast,
            ) -> $crate::store::StoreResult<Option<$crate::store::Broadcast>> {
                use $crate::store::{sql, StoreError};
                let now = $crate::domain::now_ms();
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(sql::RETRACT_BROADCAST)
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx.tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    tx.rollback().await?;
                    return match self.broadcast(id).await? {
                        Some(_) => Ok(None),
                        None => Err(StoreError::UnknownBroadcast(id)),
                    };
                }
                if let Some(lock) = Self::LOCK_OPEN_DELIVERIES {
                    sqlx::query(lock).bind(id).execute(&mut *tx.tx).await?;
                }
                sqlx::query(sql::CANCEL_DELIVERIES).bind(id).execute(&mut *tx.tx).await?;
                sqlx::query(sql::CANCEL_FOLLOW_UP_DELIVERIES).bind(id).execute(&mut *tx.tx).await?;
                sqlx::query(sql::CANCEL_FOLLOW_UPS).bind(id).bind(now).execute(&mut *tx.tx).await?;
                sqlx::query(sql::RETRACT_WARNING).bind(id).execute(&mut *tx.tx).await?;
                // The notices at the notice's priority; then, behind them, the edits of the
                // originals on Telegram (a pass of their own, so that every notice goes first).
                let mut rows = Vec::new();
                for (priority, tell) in [
                    (notice.priority, true),
                    ($crate::domain::Priority::Urgent, false),
                ] {
                    let row: Option<$crate::store::BroadcastRow> = sqlx::query_as(sql::INSERT_BROADCAST)
                        .bind(notice.topic.as_str())
                        .bind(notice.kind.as_str())
                        .bind(i64::from(priority.as_i16()))
                        .bind(notice.text.as_str())
                        .bind("released")
                        .bind(if tell { notice.idempotency_key.as_deref() } else { None })
                        .bind(notice.request_hash())
                        .bind(notice.created_by.as_deref())
                        .bind(now)
                        .bind(Some(now))
                        .bind(Some(id))
                        .bind(None::<i64>)
                        .bind(notice.author.as_deref())
                        .bind(None::<String>)
                        .bind(notice.text_en.as_ref().map(|t| t.as_str()))
                        .bind(None::<String>)
                        .bind(i64::from(tell))
                        .bind(None::<String>)
                        .bind($crate::domain::public_code())
                        // A notice carries no picture.
                        .bind(None::<i64>)
                        .bind(None::<String>)
                        .fetch_optional(&mut *tx.tx)
                        .await?;
                    let Some(row) = row else {
                        tx.rollback().await?;
                        return Err(StoreError::IdempotencyConflict);
                    };
                    rows.push(row);
                }
                let row = rows.remove(0);
                if let Some(actor) = &notice.audit_actor {
                    sqlx::query(sql::INSERT_AUDIT)
                        .bind(now)
                        .bind(actor.as_str())
                        .bind("retract")
                        .bind(format!("broadcast {id}: retracted; notice {}", row.id))
                        .execute(&mut *tx.tx)
                        .await?;
                }
                // Other instances' lanes and fan-out hear of it when this commits (Postgres).
                if let Some(notify) = Self::NOTIFY_ENQUEUED {
                    sqlx::query(notify)
                        .bind(format!("{} {}", notice.priority.as_i16(), self.origin()))
                        .execute(&mut *tx.tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(Some($crate::store::broadcast_from_row(row)?))
            }

            async fn text_versions(&self, id: i64) -> $crate::store::StoreResult<Vec<$crate::store::TextVersion>> {
                let rows: Vec<(i32, String, Option<String>, i64, Option<i64>, i64)> =
                    sqlx::query_as($crate::store::sql::VERSIONS_OF)
                        .bind(id)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows
                    .into_iter()
                    .map(|(version, text, changed_by, changed_at, correction_id, notice)| $crate::store::TextVersion {
                        version, text, changed_by, changed_at, correction_id, notice: notice != 0,
                    })
                    .collect())
            }

            async fn notices_of(&self, id: i64) -> $crate::store::StoreResult<Vec<$crate::store::Broadcast>> {
                let rows: Vec<$crate::store::BroadcastRow> =
                    sqlx::query_as($crate::store::sql::NOTICES_OF)
                        .bind(id)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map($crate::store::broadcast_from_row).collect()
            }

            async fn forget_platform_ids(&self, before: i64) -> $crate::store::StoreResult<u64> {
                self.write_one(sqlx::query($crate::store::sql::FORGET_PLATFORM_IDS).bind(before)).await
            }

            async fn broadcast_stats(
                &self,
                id: i64,
            ) -> $crate::store::StoreResult<$crate::store::BroadcastStats> {
                let rows: Vec<(String, String, i64)> =
                    sqlx::query_as($crate::store::sql::BROADCAST_STATS)
                        .bind(id)
                        .fetch_all(&self.pool)
                        .await?;
                $crate::store::stats_from_rows(rows)
            }

            async fn failure_reasons(&self, id: i64) -> $crate::store::StoreResult<Vec<(String, u64)>> {
                let rows: Vec<(String, i64)> = sqlx::query_as($crate::store::sql::FAILURE_REASONS)
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(|(r, n)| (r, n as u64)).collect())
            }

            async fn broadcasts_to_fan_out(
                &self,
            ) -> $crate::store::StoreResult<Vec<$crate::store::Broadcast>> {
                let rows: Vec<$crate::store::BroadcastRow> =
                    sqlx::query_as($crate::store::sql::BROADCASTS_TO_FAN_OUT)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map($crate::store::broadcast_from_row).collect()
            }

            async fn fan_out_chunk(
                &self,
                id: i64,
                chunk: u32,
            ) -> $crate::store::StoreResult<$crate::store::FanOutStep> {
                use $crate::store::{sql, FanOutStep, StoreError};
                let now = $crate::domain::now_ms();
                let mut tx = self.begin_write().await?;
                let state: Option<(String, i64, String, i64, Option<i64>, bool, String, i64)> =
                    sqlx::query_as(Self::FAN_OUT_STATE)
                        .bind(id)
                        .fetch_optional(&mut *tx.tx)
                        .await?;
                let Some((topic, priority, status, cursor, parent, targeted, kind, notice)) = state else {
                    tx.rollback().await?;
                    return Err(StoreError::UnknownBroadcast(id));
                };
                if status != "released" {
                    // At once, not whenever the connection is used next: the row is locked.
                    tx.rollback().await?;
                    return Ok(FanOutStep { inserted: 0, done: true });
                }
                let is_notice = kind == "correction" || kind == "retraction";
                let next = match parent {
                    Some(p) if is_notice => sqlx::query_as(sql::NOTICE_NEXT_CHUNK).bind(p),
                    Some(p) => sqlx::query_as(sql::FOLLOW_UP_NEXT_CHUNK).bind(p),
                    None => sqlx::query_as(sql::FAN_OUT_NEXT_CHUNK).bind(topic.clone()),
                };
                let (last, count): (Option<i64>, i64) = next
                    .bind(cursor)
                    .bind(i64::from(chunk))
                    .fetch_one(&mut *tx.tx)
                    .await?;
                let mut inserted = 0;
                if let Some(last) = last {
                    let insert = match parent {
                        Some(p) if is_notice => sqlx::query(sql::NOTICE_INSERT).bind(id).bind(priority).bind(now).bind(p),
                        Some(p) => sqlx::query(sql::FOLLOW_UP_INSERT).bind(id).bind(priority).bind(now).bind(p),
                        None if targeted => sqlx::query(sql::FAN_OUT_INSERT_TARGETED).bind(id).bind(priority).bind(now).bind(topic.clone()),
                        None => sqlx::query(sql::FAN_OUT_INSERT).bind(id).bind(priority).bind(now).bind(topic.clone()),
                    };
                    let insert = insert.bind(cursor).bind(last);
                    let insert = if is_notice { insert.bind(notice) } else { insert };
                    inserted = insert
                        .execute(&mut *tx.tx)
                        .await?
                        .rows_affected();
                    sqlx::query(sql::FAN_OUT_ADVANCE).bind(id).bind(last).execute(&mut *tx.tx).await?;
                }
                let done = count < i64::from(chunk);
                if done {
                    sqlx::query(sql::FAN_OUT_COMPLETE).bind(id).bind(now).execute(&mut *tx.tx).await?;
                }
                // Other instances' lanes hear of it when this commits (Postgres).
                if inserted > 0 && let Some(notify) = Self::NOTIFY_ENQUEUED {
                    sqlx::query(notify)
                        .bind(format!("{priority} {}", self.origin()))
                        .execute(&mut *tx.tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(FanOutStep { inserted, done })
            }

            async fn finish_broadcasts(&self) -> $crate::store::StoreResult<Vec<i64>> {
                use $crate::store::sql;
                // Find candidates with a plain read, so the scan never holds up writers; then
                // close each one under the write lock, checking again.
                let candidates: Vec<(i64,)> = sqlx::query_as(sql::FINISHED_BROADCASTS)
                    .fetch_all(&self.pool)
                    .await?;
                let mut done = Vec::new();
                for (id,) in candidates {
                    let mut tx = self.begin_write().await?;
                    let n = sqlx::query(sql::FINISH_BROADCAST)
                        .bind(id)
                        .bind($crate::domain::now_ms())
                        .execute(&mut *tx.tx)
                        .await?
                        .rows_affected();
                    tx.commit().await?;
                    if n > 0 {
                        done.push(id);
                    }
                }
                Ok(done)
            }

            async fn acknowledge_fenced(
                &self,
                fence: Option<&$crate::store::Fence>,
                acks: &[$crate::store::Ack],
            ) -> $crate::store::StoreResult<u64> {
                if acks.is_empty() {
                    return Ok(0);
                }
                let mut tx = self.begin_write().await?;
                Self::check_fence(&mut tx, fence, false).await?;
                let applied = self.acknowledge_in(&mut tx, acks).await?;
                tx.commit().await?;
                // Only after the commit: a status kept before it is found here, one kept after
                // it finds the written platform id (`record_platform_status`).
                let written: Vec<String> = acks
                    .iter()
                    .filter_map(|a| match &a.outcome {
                        $crate::store::AckOutcome::Sent { platform_id: Some(p), .. } => Some(p.clone()),
                        _ => None,
                    })
                    .collect();
                if !written.is_empty()
                    && let Err(e) = self.apply_early_statuses_of(written).await
                {
                    // The outcomes are written; the kept statuses stay, and go with the next
                    // status for the same message.
                    tracing::warn!(error = %e, "could not apply platform statuses that came early");
                }
                Ok(applied)
            }

            async fn extend_lease(
                &self,
                lease: &str,
                ids: &[i64],
                lease_until: i64,
            ) -> $crate::store::StoreResult<Vec<i64>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.begin_write().await?;
                let held: Vec<(i64,)> = sqlx::query_as(Self::EXTEND_LEASE)
                    .bind(lease)
                    .bind(lease_until)
                    .bind(Self::id_list(ids.to_vec()))
                    .fetch_all(&mut *tx.tx)
                    .await?;
                tx.commit().await?;
                Ok(held.into_iter().map(|(id,)| id).collect())
            }

            async fn reclaim_expired(&self, now: i64) -> $crate::store::StoreResult<u64> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query($crate::store::sql::RECLAIM_EXPIRED)
                    .bind(now)
                    .execute(&mut *tx.tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n)
            }

            async fn take_over_lane(
                &self,
                channel: $crate::domain::ChannelKind,
                fence: Option<&$crate::store::Fence>,
            ) -> $crate::store::StoreResult<u64> {
                let mut tx = self.begin_write().await?;
                Self::check_fence(&mut tx, fence, true).await?;
                let n = sqlx::query($crate::store::sql::TAKE_OVER_LANE)
                    .bind(channel.as_str())
                    .execute(&mut *tx.tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n)
            }

            async fn next_due(
                &self,
                channel: $crate::domain::ChannelKind,
            ) -> $crate::store::StoreResult<Option<i64>> {
                let (due,): (Option<i64>,) = sqlx::query_as($crate::store::sql::NEXT_DUE)
                    .bind(channel.as_str())
                    .fetch_one(&self.pool)
                    .await?;
                Ok(due)
            }

            async fn open_deliveries(&self) -> $crate::store::StoreResult<u64> {
                let (n,): (i64,) = sqlx::query_as($crate::store::sql::OPEN_DELIVERIES)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n as u64)
            }

            async fn set_lane_pause(
                &self,
                channel: $crate::domain::ChannelKind,
                until: i64,
                reason: &str,
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query($crate::store::sql::SET_LANE_PAUSE)
                    .bind(channel.as_str())
                    .bind(until)
                    .bind(reason)
                    .bind($crate::domain::now_ms())
                    .execute(&mut *tx.tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn lane_states(
                &self,
            ) -> $crate::store::StoreResult<Vec<$crate::store::LaneState>> {
                let rows: Vec<(String, Option<i64>, Option<i64>, Option<String>)> =
                    sqlx::query_as($crate::store::sql::LANE_STATES)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map($crate::store::lane_from_row).collect()
            }

            async fn claim_fenced(
                &self,
                fence: Option<&$crate::store::Fence>,
                channel: $crate::domain::ChannelKind,
                lease: &str,
                limit: u32,
                now: i64,
                lease_until: i64,
            ) -> $crate::store::StoreResult<Vec<$crate::store::ClaimedDelivery>> {
                let mut tx = self.begin_write().await?;
                Self::check_fence(&mut tx, fence, true).await?;
                let ids: Vec<(i64,)> = sqlx::query_as(Self::CLAIM)
                    .bind(lease)
                    .bind(lease_until)
                    .bind(channel.as_str())
                    .bind(now)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *tx.tx)
                    .await?;
                if ids.is_empty() {
                    tx.rollback().await?;
                    return Ok(Vec::new());
                }
                let ids: Vec<i64> = ids.into_iter().map(|(id,)| id).collect();
                let rows: Vec<$crate::store::ClaimRow> = sqlx::query_as(Self::CLAIMED)
                    .bind(Self::id_list(ids.clone()))
                    .fetch_all(&mut *tx.tx)
                    .await?;
                if rows.len() < ids.len() {
                    // Claimed, but not read back: the subscriber row is gone.
                    let read: std::collections::HashSet<i64> = rows.iter().map(|r| r.id).collect();
                    let orphans: Vec<i64> = ids.into_iter().filter(|id| !read.contains(id)).collect();
                    sqlx::query(Self::CLOSE_ORPHANS)
                        .bind(Self::id_list(orphans))
                        .execute(&mut *tx.tx)
                        .await?;
                }
                tx.commit().await?;
                let mut claimed = rows
                    .into_iter()
                    .map($crate::store::claimed_from_row)
                    .collect::<$crate::store::StoreResult<Vec<_>>>()?;
                $crate::store::sort_claimed(&mut claimed);
                Ok(claimed)
            }

            async fn add_subscribers(
                &self,
                subscribers: &[$crate::store::NewSubscriber],
            ) -> $crate::store::StoreResult<u64> {
                let now = $crate::domain::now_ms();
                let mut added = 0;
                for chunk in subscribers.chunks(10_000) {
                    let people: Vec<serde_json::Value> = chunk
                        .iter()
                        .map(|s| serde_json::json!({"c": s.channel.as_str(), "a": s.address, "l": s.language}))
                        .collect();
                    let mut tx = self.begin_write().await?;
                    let rows: Vec<(i64, String, String)> = sqlx::query_as(Self::INSERT_SUBSCRIBERS)
                        .bind(serde_json::Value::from(people).to_string())
                        .bind(now)
                        .fetch_all(&mut *tx.tx)
                        .await?;
                    added += rows.len() as u64;
                    let by_key: std::collections::HashMap<(&str, &str), &$crate::store::NewSubscriber> = chunk
                        .iter()
                        .map(|s| ((s.channel.as_str(), s.address.as_str()), s))
                        .collect();
                    let mut pairs = Vec::new();
                    for (id, channel, address) in &rows {
                        if let Some(s) = by_key.get(&(channel.as_str(), address.as_str())) {
                            pairs.extend(s.topics.iter().map(|t| serde_json::json!([t.as_str(), id])));
                        }
                    }
                    sqlx::query(Self::INSERT_SUBSCRIPTIONS)
                        .bind(serde_json::Value::from(pairs).to_string())
                        .execute(&mut *tx.tx)
                        .await?;
                    tx.commit().await?;
                }
                Ok(added)
            }

            async fn subscriber(
                &self,
                channel: $crate::domain::ChannelKind,
                address: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::Subscriber>> {
                use $crate::store::sql;
                let row: Option<$crate::store::SubscriberRow> = sqlx::query_as(sql::SUBSCRIBER_BY_ADDRESS)
                    .bind(channel.as_str())
                    .bind(address)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                let topics: Vec<(String,)> = sqlx::query_as(sql::TOPICS_OF).bind(row.id).fetch_all(&self.pool).await?;
                $crate::store::subscriber_from_row(row, topics.into_iter().map(|(t,)| t).collect()).map(Some)
            }

            async fn ensure_subscriber(
                &self,
                channel: $crate::domain::ChannelKind,
                address: &str,
                language: &str,
            ) -> $crate::store::StoreResult<$crate::store::Subscriber> {
                use $crate::store::{sql, StoreError};
                self.write_one(
                    sqlx::query(sql::INSERT_SUBSCRIBER)
                        .bind(channel.as_str())
                        .bind(address.to_string())
                        .bind(language.to_string())
                        .bind($crate::domain::now_ms()),
                )
                .await?;
                self.subscriber(channel, address)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt(format!("subscriber {channel}:{address} vanished")))
            }

            async fn set_subscription(
                &self,
                subscriber_id: i64,
                topic: &$crate::domain::Topic,
                on: bool,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::sql;
                let sql = if on { sql::SUBSCRIBE } else { sql::UNSUBSCRIBE };
                self.write_one(sqlx::query(sql).bind(topic.as_str().to_string()).bind(subscriber_id)).await?;
                Ok(())
            }

            async fn set_language(&self, subscriber_id: i64, language: &str) -> $crate::store::StoreResult<()> {
                self.write_one(
                    sqlx::query($crate::store::sql::SET_LANGUAGE).bind(subscriber_id).bind(language.to_string()),
                )
                .await?;
                Ok(())
            }

            async fn set_subscriber_status(
                &self,
                subscriber_id: i64,
                status: $crate::domain::SubscriberStatus,
            ) -> $crate::store::StoreResult<()> {
                self.write_one(
                    sqlx::query($crate::store::sql::SET_SUBSCRIBER_STATUS).bind(subscriber_id).bind(status.as_str()),
                )
                .await?;
                Ok(())
            }

            async fn mark_gone(
                &self,
                channel: $crate::domain::ChannelKind,
                address: &str,
            ) -> $crate::store::StoreResult<bool> {
                let Some(s) = self.subscriber(channel, address).await? else { return Ok(false) };
                self.mark_subscriber_gone(s.id).await?;
                Ok(true)
            }

            async fn erase_subscriber(
                &self,
                channel: $crate::domain::ChannelKind,
                address: &str,
            ) -> $crate::store::StoreResult<bool> {
                use $crate::store::sql;
                let found = self.subscriber(channel, address).await?;
                let sender_key = self.pseudonym_key().await?.sender(channel, address);
                let mut tx = self.begin_write().await?;
                if let Some(s) = &found {
                    for q in [sql::ERASE_DELIVERIES, sql::ERASE_SUBSCRIPTIONS, sql::ERASE_AREAS, sql::ERASE_PLACE, sql::ERASE_SUBSCRIBER] {
                        sqlx::query(q).bind(s.id).execute(&mut *tx.tx).await?;
                    }
                }
                let confirmations = sqlx::query(sql::ERASE_CONFIRMATIONS)
                    .bind(channel.as_str())
                    .bind(address)
                    .execute(&mut *tx.tx)
                    .await?
                    .rows_affected();
                let messages = sqlx::query(sql::ERASE_INBOUND)
                    .bind(sender_key.clone())
                    .execute(&mut *tx.tx)
                    .await?
                    .rows_affected();
                let statuses = sqlx::query(sql::ERASE_EARLY_STATUSES)
                    .bind(sender_key)
                    .execute(&mut *tx.tx)
                    .await?
                    .rows_affected();
                if found.is_some() || confirmations > 0 || messages > 0 || statuses > 0 {
                    sqlx::query(sql::SET_STATE)
                        .bind(sql::ERASED_KEY)
                        .bind(format!("{:016x}", rand::random::<u64>()))
                        .execute(&mut *tx.tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(found.is_some() || confirmations > 0 || messages > 0)
            }

            async fn subscriber_areas(
                &self,
                subscriber_id: i64,
            ) -> $crate::store::StoreResult<$crate::store::SubscriberAreas> {
                use $crate::store::sql;
                let areas: Vec<(String,)> = sqlx::query_as(sql::SUBSCRIBER_AREAS)
                    .bind(subscriber_id)
                    .fetch_all(&self.pool)
                    .await?;
                let place: Option<(i32, i32)> = sqlx::query_as(sql::SUBSCRIBER_PLACE)
                    .bind(subscriber_id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok($crate::store::SubscriberAreas {
                    areas: areas.into_iter().map(|(a,)| a).collect(),
                    place: place.map(|(lat_e3, lon_e3)| $crate::domain::area::Place { lat_e3, lon_e3 }),
                })
            }

            async fn set_subscriber_area(
                &self,
                subscriber_id: i64,
                area_id: &str,
                on: bool,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::sql;
                let q = if on { sql::ADD_SUBSCRIBER_AREA } else { sql::REMOVE_SUBSCRIBER_AREA };
                let mut tx = self.begin_write().await?;
                sqlx::query(q).bind(subscriber_id).bind(area_id).execute(&mut *tx.tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn clear_subscriber_areas(&self, subscriber_id: i64) -> $crate::store::StoreResult<()> {
                use $crate::store::sql;
                let mut tx = self.begin_write().await?;
                for q in [sql::CLEAR_SUBSCRIBER_AREAS, sql::FORGET_PLACE] {
                    sqlx::query(q).bind(subscriber_id).execute(&mut *tx.tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn keep_place(
                &self,
                subscriber_id: i64,
                place: $crate::domain::area::Place,
                now: i64,
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query($crate::store::sql::KEEP_PLACE)
                    .bind(subscriber_id)
                    .bind(place.lat_e3)
                    .bind(place.lon_e3)
                    .bind(now)
                    .execute(&mut *tx.tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn forget_place(&self, subscriber_id: i64) -> $crate::store::StoreResult<bool> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query($crate::store::sql::FORGET_PLACE)
                    .bind(subscriber_id)
                    .execute(&mut *tx.tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n > 0)
            }

            async fn target_recipient_count(
                &self,
                topic: &$crate::domain::Topic,
                areas: &[String],
                shape: &$crate::domain::area::Shape,
            ) -> $crate::store::StoreResult<$crate::store::TargetCount> {
                use $crate::store::{recipients_from_rows, sql};
                let list = serde_json::to_string(areas).unwrap_or_else(|_| "[]".into());
                let without: Vec<(String, i64)> = sqlx::query_as(sql::RECIPIENTS_WITHOUT_AREA)
                    .bind(topic.as_str())
                    .fetch_all(&self.pool)
                    .await?;
                let by_district: Vec<(String, i64)> = sqlx::query_as(Self::RECIPIENTS_BY_DISTRICT)
                    .bind(topic.as_str())
                    .bind(list.clone())
                    .fetch_all(&self.pool)
                    .await?;
                let (lo, hi) = shape.place_box();
                let places: Vec<(String, i32, i32)> = sqlx::query_as(Self::PLACES_BEYOND_DISTRICTS)
                    .bind(topic.as_str())
                    .bind(list)
                    .bind(lo.lat_e3)
                    .bind(hi.lat_e3)
                    .bind(lo.lon_e3)
                    .bind(hi.lon_e3)
                    .fetch_all(&self.pool)
                    .await?;
                let mut by_place = $crate::store::RecipientCount::default();
                for (channel, lat_e3, lon_e3) in places {
                    let place = $crate::domain::area::Place { lat_e3, lon_e3 };
                    if shape.contains(place.coordinates()) {
                        let channel: $crate::domain::ChannelKind =
                            channel.parse().map_err($crate::store::StoreError::Corrupt)?;
                        by_place.add(channel, 1);
                    }
                }
                Ok($crate::store::TargetCount {
                    by_district: recipients_from_rows(by_district)?,
                    by_place,
                    without_area: recipients_from_rows(without)?,
                })
            }

            async fn prepare_target_cells(
                &self,
                id: i64,
                shape: &$crate::domain::area::Shape,
            ) -> $crate::store::StoreResult<u64> {
                use $crate::store::sql;
                let (written,): (i64,) = sqlx::query_as(sql::HAS_CELLS)
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await?;
                if written > 0 {
                    return Ok(0);
                }
                let (lo, hi) = shape.place_box();
                let cells: Vec<(i32, i32)> = sqlx::query_as(sql::PLACES_IN_BOX)
                    .bind(lo.lat_e3)
                    .bind(hi.lat_e3)
                    .bind(lo.lon_e3)
                    .bind(hi.lon_e3)
                    .fetch_all(&self.pool)
                    .await?;
                let inside: Vec<(i32, i32)> = cells
                    .into_iter()
                    .filter(|(lat_e3, lon_e3)| {
                        shape.contains($crate::domain::area::Place { lat_e3: *lat_e3, lon_e3: *lon_e3 }.coordinates())
                    })
                    .collect();
                let mut tx = self.begin_write().await?;
                for (lat_e3, lon_e3) in &inside {
                    sqlx::query(sql::INSERT_BROADCAST_CELL)
                        .bind(id)
                        .bind(*lat_e3)
                        .bind(*lon_e3)
                        .execute(&mut *tx.tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(inside.len() as u64)
            }

            async fn subscriber_ids(&self) -> $crate::store::StoreResult<Vec<i64>> {
                let rows: Vec<(i64,)> = sqlx::query_as("SELECT id FROM subscribers ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(|(id,)| id).collect())
            }

            async fn area_subscriber_counts(&self) -> $crate::store::StoreResult<Vec<(String, u64)>> {
                let rows: Vec<(String, i64)> = sqlx::query_as($crate::store::sql::AREA_SUBSCRIBERS)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(|(a, n)| (a, n as u64)).collect())
            }

            async fn follow_up_recipient_count(
                &self,
                parent_id: i64,
            ) -> $crate::store::StoreResult<$crate::store::RecipientCount> {
                let rows: Vec<(String, i64)> = sqlx::query_as($crate::store::sql::FOLLOW_UP_RECIPIENTS)
                    .bind(parent_id)
                    .fetch_all(&self.pool)
                    .await?;
                $crate::store::recipients_from_rows(rows)
            }

            async fn set_staff(
                &self,
                channel: $crate::domain::ChannelKind,
                address: &str,
                role: $crate::domain::Role,
                person: Option<&str>,
            ) -> $crate::store::StoreResult<$crate::store::StaffMember> {
                use $crate::store::{sql, StaffMember, StaffRow, StoreError};
                let person = person
                    .map(str::to_string)
                    .unwrap_or_else(|| StaffMember::own_person(channel, address));
                let mut tx = self.begin_write().await?;
                if let Some(lock) = Self::LOCK_STAFF {
                    sqlx::query(lock).execute(&mut *tx.tx).await?;
                }
                let current: Option<StaffRow> = sqlx::query_as(sql::STAFF_MEMBER)
                    .bind(channel.as_str())
                    .bind(address)
                    .fetch_optional(&mut *tx.tx)
                    .await?;
                let others: Vec<(String,)> = sqlx::query_as(sql::OTHER_ROLES_OF_PERSON)
                    .bind(person.as_str())
                    .bind(channel.as_str())
                    .bind(address)
                    .fetch_all(&mut *tx.tx)
                    .await?;
                let others = others
                    .into_iter()
                    .map(|(r,)| r.parse().map_err(StoreError::Corrupt))
                    .collect::<Result<Vec<_>, _>>()?;
                let owner = current.as_ref().map(|r| r.person.as_str());
                if let Err(refused) =
                    $crate::store::check_staff_change(channel, address, role, &person, owner, &others)
                {
                    tx.rollback().await?;
                    return Err(refused);
                }
                let row: StaffRow = sqlx::query_as(sql::SET_STAFF)
                    .bind(channel.as_str())
                    .bind(address)
                    .bind(role.as_str())
                    .bind($crate::domain::now_ms())
                    .bind(person.as_str())
                    .fetch_one(&mut *tx.tx)
                    .await?;
                tx.commit().await?;
                $crate::store::staff_from_row(row)
            }

            async fn staff_member(
                &self,
                channel: $crate::domain::ChannelKind,
                address: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::StaffMember>> {
                let row: Option<$crate::store::StaffRow> = sqlx::query_as($crate::store::sql::STAFF_MEMBER)
                    .bind(channel.as_str())
                    .bind(address)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map($crate::store::staff_from_row).transpose()
            }

            async fn remove_staff(
                &self,
                channel: $crate::domain::ChannelKind,
                address: &str,
            ) -> $crate::store::StoreResult<bool> {
                let n = self
                    .write_one(sqlx::query($crate::store::sql::REMOVE_STAFF).bind(channel.as_str()).bind(address.to_string()))
                    .await?;
                Ok(n > 0)
            }

            async fn remove_person(&self, person: &str) -> $crate::store::StoreResult<u64> {
                let n = self.write_one(sqlx::query($crate::store::sql::REMOVE_PERSON).bind(person.to_string())).await?;
                self.write_one(sqlx::query($crate::store::sql::REMOVE_DESK).bind(person.to_string())).await?;
                Ok(n)
            }

            async fn set_desk(
                &self,
                person: &str,
                desk: &$crate::domain::Desk,
            ) -> $crate::store::StoreResult<()> {
                self.write_one(
                    sqlx::query($crate::store::sql::SET_DESK)
                        .bind(person.to_string())
                        .bind(desk.department.clone())
                        .bind(desk.topics.join(",")),
                )
                .await?;
                Ok(())
            }

            async fn desk(
                &self,
                person: &str,
            ) -> $crate::store::StoreResult<Option<$crate::domain::Desk>> {
                let row: Option<(String, String, String)> = sqlx::query_as($crate::store::sql::DESK)
                    .bind(person)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(_, department, topics)| $crate::store::desk_from_row(department, &topics)))
            }

            async fn desks(
                &self,
            ) -> $crate::store::StoreResult<Vec<(String, $crate::domain::Desk)>> {
                let rows: Vec<(String, String, String)> = sqlx::query_as($crate::store::sql::DESKS)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|(person, department, topics)| (person, $crate::store::desk_from_row(department, &topics)))
                    .collect())
            }

            async fn revise_awaiting(
                &self,
                id: i64,
                text: &str,
                scheduled_at: Option<i64>,
            ) -> $crate::store::StoreResult<Option<$crate::store::Broadcast>> {
                let mut tx = self.begin_write().await?;
                let row: Option<$crate::store::BroadcastRow> =
                    sqlx::query_as($crate::store::sql::REVISE_AWAITING)
                        .bind(id)
                        .bind(text)
                        .bind(scheduled_at)
                        .fetch_optional(&mut *tx.tx)
                        .await?;
                tx.commit().await?;
                row.map($crate::store::broadcast_from_row).transpose()
            }

            async fn save_template(
                &self,
                name: &str,
                topic: &str,
                text: &str,
                saved_by: &str,
            ) -> $crate::store::StoreResult<$crate::store::TextTemplate> {
                let mut tx = self.begin_write().await?;
                let saved: $crate::store::TextTemplate =
                    sqlx::query_as($crate::store::sql::SAVE_TEMPLATE)
                        .bind(name)
                        .bind(topic)
                        .bind(text)
                        .bind(saved_by)
                        .bind($crate::domain::now_ms())
                        .fetch_one(&mut *tx.tx)
                        .await?;
                tx.commit().await?;
                Ok(saved)
            }

            async fn template(
                &self,
                name: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::TextTemplate>> {
                Ok(sqlx::query_as($crate::store::sql::TEMPLATE_LATEST)
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn templates(
                &self,
            ) -> $crate::store::StoreResult<Vec<$crate::store::TextTemplate>> {
                Ok(sqlx::query_as($crate::store::sql::TEMPLATES_LATEST)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn awaiting_since(
                &self,
                before: i64,
            ) -> $crate::store::StoreResult<Vec<$crate::store::Broadcast>> {
                let rows: Vec<$crate::store::BroadcastRow> =
                    sqlx::query_as($crate::store::sql::AWAITING_SINCE)
                        .bind(before)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map($crate::store::broadcast_from_row).collect()
            }

            async fn staff_role(
                &self,
                channel: $crate::domain::ChannelKind,
                address: &str,
            ) -> $crate::store::StoreResult<Option<$crate::domain::Role>> {
                Ok(self.staff_member(channel, address).await?.map(|m| m.role))
            }

            async fn list_staff(&self) -> $crate::store::StoreResult<Vec<$crate::store::StaffMember>> {
                let rows: Vec<$crate::store::StaffRow> =
                    sqlx::query_as($crate::store::sql::LIST_STAFF).fetch_all(&self.pool).await?;
                let mut staff = rows
                    .into_iter()
                    .map($crate::store::staff_from_row)
                    .collect::<$crate::store::StoreResult<Vec<_>>>()?;
                staff.sort_by(|a, b| {
                    (&a.person, a.channel, &a.address).cmp(&(&b.person, b.channel, &b.address))
                });
                Ok(staff)
            }

            async fn last_inbound(
                &self,
                channel: $crate::domain::ChannelKind,
                address: &str,
            ) -> $crate::store::StoreResult<Option<i64>> {
                let row: Option<(Option<i64>,)> = sqlx::query_as($crate::store::sql::LAST_INBOUND)
                    .bind(channel.as_str())
                    .bind(address)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.and_then(|(at,)| at))
            }

            async fn audit(&self, actor: &str, action: &str, detail: &str) -> $crate::store::StoreResult<()> {
                self.write_one(
                    sqlx::query($crate::store::sql::INSERT_AUDIT)
                        .bind($crate::domain::now_ms())
                        .bind(actor.to_string())
                        .bind(action.to_string())
                        .bind(detail.to_string()),
                )
                .await?;
                Ok(())
            }

            async fn audit_log(&self, limit: u32) -> $crate::store::StoreResult<Vec<$crate::store::AuditEntry>> {
                let rows: Vec<(i64, String, String, String)> = sqlx::query_as($crate::store::sql::AUDIT_LOG)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|(at, actor, action, detail)| $crate::store::AuditEntry { at, actor, action, detail })
                    .collect())
            }

            async fn put_confirmation(&self, c: &$crate::store::Confirmation) -> $crate::store::StoreResult<()> {
                self.write_one(
                    sqlx::query($crate::store::sql::PUT_CONFIRMATION)
                        .bind(c.code.clone())
                        .bind(c.action.clone())
                        .bind(c.payload.clone())
                        .bind(c.author_channel.as_str())
                        .bind(c.author_address.clone())
                        .bind(c.created_at)
                        .bind(c.expires_at)
                        .bind(c.broadcast_id),
                )
                .await?;
                Ok(())
            }

            async fn confirmation(
                &self,
                code: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::Confirmation>> {
                let row: Option<$crate::store::ConfirmationRow> = sqlx::query_as($crate::store::sql::CONFIRMATION)
                    .bind(code)
                    .bind($crate::domain::now_ms())
                    .fetch_optional(&self.pool)
                    .await?;
                row.map($crate::store::confirmation_from_row).transpose()
            }

            async fn take_confirmation(
                &self,
                code: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::Confirmation>> {
                let mut tx = self.begin_write().await?;
                let row: Option<$crate::store::ConfirmationRow> =
                    sqlx::query_as($crate::store::sql::TAKE_CONFIRMATION)
                        .bind(code)
                        .bind($crate::domain::now_ms())
                        .fetch_optional(&mut *tx.tx)
                        .await?;
                tx.commit().await?;
                row.map($crate::store::confirmation_from_row).transpose()
            }

            async fn latest_confirmation(
                &self,
                channel: $crate::domain::ChannelKind,
                author: &str,
                action: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::Confirmation>> {
                let row: Option<$crate::store::ConfirmationRow> =
                    sqlx::query_as($crate::store::sql::LATEST_CONFIRMATION)
                        .bind(channel.as_str())
                        .bind(author)
                        .bind(action)
                        .bind($crate::domain::now_ms())
                        .fetch_optional(&self.pool)
                        .await?;
                row.map($crate::store::confirmation_from_row).transpose()
            }

            async fn expire_confirmations(&self, now: i64) -> $crate::store::StoreResult<u64> {
                self.write_one(sqlx::query($crate::store::sql::EXPIRE_CONFIRMATIONS).bind(now)).await
            }

            async fn claim_inbound(
                &self,
                channel: $crate::domain::ChannelKind,
                sender: &str,
                message_id: &str,
                now: i64,
            ) -> $crate::store::StoreResult<bool> {
                let key = self.pseudonym_key().await?;
                let mut tx = self.begin_write().await?;
                let row: Option<(String,)> = sqlx::query_as($crate::store::sql::CLAIM_INBOUND)
                    .bind(key.message(message_id))
                    .bind(key.sender(channel, sender))
                    .bind(now)
                    .bind(now - $crate::store::INBOUND_CLAIM_MS)
                    .fetch_optional(&mut *tx.tx)
                    .await?;
                tx.commit().await?;
                Ok(row.is_some())
            }

            async fn inbound_handled(
                &self,
                channel: $crate::domain::ChannelKind,
                sender: &str,
                message_id: &str,
                window_at: i64,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::sql;
                let key = self.pseudonym_key().await?;
                let message = key.message(message_id);
                let now = $crate::domain::now_ms();
                let mut tx = self.begin_write().await?;
                sqlx::query(sql::TOUCH_INBOUND)
                    .bind(channel.as_str())
                    .bind(sender.to_string())
                    .bind(window_at)
                    .execute(&mut *tx.tx)
                    .await?;
                let marked = sqlx::query(sql::INBOUND_HANDLED)
                    .bind(message.as_str())
                    .bind(now)
                    .execute(&mut *tx.tx)
                    .await?
                    .rows_affected();
                if marked == 0 {
                    sqlx::query(sql::INBOUND_HANDLED_ANONYMOUS)
                        .bind(message.as_str())
                        .bind(now)
                        .execute(&mut *tx.tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn release_inbound(&self, message_id: &str) -> $crate::store::StoreResult<()> {
                let key = self.pseudonym_key().await?;
                self.write_one(
                    sqlx::query($crate::store::sql::RELEASE_INBOUND).bind(key.message(message_id)),
                )
                .await?;
                Ok(())
            }

            async fn forget_inbound(&self, before: i64) -> $crate::store::StoreResult<u64> {
                self.write_one(sqlx::query($crate::store::sql::FORGET_INBOUND).bind(before)).await
            }

            async fn touch_inbound(
                &self,
                channel: $crate::domain::ChannelKind,
                address: &str,
                at: i64,
            ) -> $crate::store::StoreResult<()> {
                self.write_one(
                    sqlx::query($crate::store::sql::TOUCH_INBOUND)
                        .bind(channel.as_str())
                        .bind(address.to_string())
                        .bind(at),
                )
                .await?;
                Ok(())
            }

            async fn record_platform_status_for(
                &self,
                platform_id: &str,
                status: &$crate::domain::PlatformStatus,
                recipient: Option<&str>,
            ) -> $crate::store::StoreResult<$crate::store::StatusApplied> {
                use $crate::store::{sql, StatusApplied};
                let recipient_key = match recipient {
                    Some(r) => Some(
                        self.pseudonym_key()
                            .await?
                            .sender($crate::domain::ChannelKind::Whatsapp, r),
                    ),
                    None => None,
                };
                let mut tx = self.begin_write().await?;
                if let Some(applied) = Self::apply_status_in(&mut tx, platform_id, status).await? {
                    tx.commit().await?;
                    return Ok(applied);
                }
                let now = $crate::domain::now_ms();
                sqlx::query(sql::FORGET_EARLY_STATUSES)
                    .bind(now - sql::EARLY_STATUS_KEPT_MS)
                    .execute(&mut *tx.tx)
                    .await?;
                sqlx::query(sql::KEEP_EARLY_STATUS)
                    .bind(platform_id)
                    .bind(status.as_str())
                    .bind(status.error())
                    .bind(status.failure().map(|f| f.as_str()))
                    .bind(now)
                    .bind(recipient_key)
                    .execute(&mut *tx.tx)
                    .await?;
                tx.commit().await?;
                // The send's outcome may have been written meanwhile, and looked for kept
                // statuses before this one was: look once more.
                Ok(self.apply_early_statuses(platform_id).await?.unwrap_or(StatusApplied::Kept))
            }

            async fn mark_subscriber_gone(&self, subscriber_id: i64) -> $crate::store::StoreResult<()> {
                use $crate::store::sql;
                let mut tx = self.begin_write().await?;
                sqlx::query(sql::MARK_SUBSCRIBER_GONE).bind(subscriber_id).execute(&mut *tx.tx).await?;
                sqlx::query(sql::CLOSE_DELIVERIES_OF_GONE).bind(subscriber_id).execute(&mut *tx.tx).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn due_scheduled(&self, now: i64) -> $crate::store::StoreResult<Vec<$crate::store::Broadcast>> {
                let rows: Vec<$crate::store::BroadcastRow> =
                    sqlx::query_as($crate::store::sql::DUE_SCHEDULED).bind(now).fetch_all(&self.pool).await?;
                rows.into_iter().map($crate::store::broadcast_from_row).collect()
            }

            async fn release_scheduled(&self, id: i64, now: i64) -> $crate::store::StoreResult<bool> {
                Ok(self.write_one(sqlx::query($crate::store::sql::RELEASE_SCHEDULED).bind(id).bind(now)).await? > 0)
            }

            async fn mark_missed(&self, id: i64) -> $crate::store::StoreResult<bool> {
                Ok(self.write_one(sqlx::query($crate::store::sql::MARK_MISSED).bind(id)).await? > 0)
            }

            async fn scheduled_broadcasts(&self) -> $crate::store::StoreResult<Vec<$crate::store::Broadcast>> {
                let rows: Vec<$crate::store::BroadcastRow> =
                    sqlx::query_as($crate::store::sql::SCHEDULED_BROADCASTS).fetch_all(&self.pool).await?;
                rows.into_iter().map($crate::store::broadcast_from_row).collect()
            }

            async fn create_schedule(&self, new: &$crate::store::NewSchedule) -> $crate::store::StoreResult<i64> {
                use $crate::store::{sql, StoreError};
                let mut tx = self.begin_write().await?;
                let id: Option<(i64,)> = sqlx::query_as(sql::INSERT_SCHEDULE)
                    .bind(new.topic.as_str())
                    .bind(new.kind.as_str())
                    .bind(i64::from(new.priority.as_i16()))
                    .bind(new.text.as_str())
                    .bind(new.cron.as_str())
                    .bind(new.next_at)
                    .bind(new.created_by.as_deref())
                    .bind($crate::domain::now_ms())
                    .bind(new.source.as_deref())
                    .fetch_optional(&mut *tx.tx)
                    .await?;
                tx.commit().await?;
                match id {
                    Some((id,)) => Ok(id),
                    None => {
                        let (id,): (i64,) = sqlx::query_as(sql::SCHEDULE_BY_SOURCE)
                            .bind(new.source.as_deref())
                            .fetch_optional(&self.pool)
                            .await?
                            .ok_or_else(|| StoreError::Corrupt("schedule source vanished".into()))?;
                        Ok(id)
                    }
                }
            }

            async fn due_schedules(&self, now: i64) -> $crate::store::StoreResult<Vec<$crate::store::Schedule>> {
                let rows: Vec<$crate::store::ScheduleRow> =
                    sqlx::query_as($crate::store::sql::DUE_SCHEDULES).bind(now).fetch_all(&self.pool).await?;
                rows.into_iter().map($crate::store::schedule_from_row).collect()
            }

            async fn advance_schedule(&self, id: i64, next_at: Option<i64>) -> $crate::store::StoreResult<()> {
                self.write_one(sqlx::query($crate::store::sql::ADVANCE_SCHEDULE).bind(id).bind(next_at)).await?;
                Ok(())
            }

            async fn schedules(&self) -> $crate::store::StoreResult<Vec<$crate::store::Schedule>> {
                let rows: Vec<$crate::store::ScheduleRow> =
                    sqlx::query_as($crate::store::sql::SCHEDULES).fetch_all(&self.pool).await?;
                rows.into_iter().map($crate::store::schedule_from_row).collect()
            }

            async fn delete_schedule(&self, id: i64) -> $crate::store::StoreResult<bool> {
                Ok(self.write_one(sqlx::query($crate::store::sql::DELETE_SCHEDULE).bind(id)).await? > 0)
            }

            async fn reschedule_broadcast(&self, id: i64, at: i64) -> $crate::store::StoreResult<bool> {
                Ok(self.write_one(sqlx::query($crate::store::sql::RESCHEDULE_BROADCAST).bind(id).bind(at)).await? > 0)
            }

            async fn set_calendar_link(
                &self,
                person: &str,
                secret_hash: &str,
                at: i64,
            ) -> $crate::store::StoreResult<()> {
                self.write_one(
                    sqlx::query($crate::store::sql::SET_CALENDAR_LINK)
                        .bind(person.to_string())
                        .bind(secret_hash.to_string())
                        .bind(at),
                )
                .await?;
                Ok(())
            }

            async fn calendar_link_person(
                &self,
                secret_hash: &str,
            ) -> $crate::store::StoreResult<Option<String>> {
                let row: Option<(String,)> = sqlx::query_as($crate::store::sql::CALENDAR_LINK_PERSON)
                    .bind(secret_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(p,)| p))
            }

            async fn queue_depth(&self) -> $crate::store::StoreResult<Vec<($crate::domain::Priority, u64)>> {
                let rows: Vec<(i64, i64)> = sqlx::query_as($crate::store::sql::QUEUE_DEPTH).fetch_all(&self.pool).await?;
                rows.into_iter()
                    .map(|(p, n)| Ok(($crate::store::priority_from_db(p)?, n as u64)))
                    .collect()
            }

            async fn subscriber_counts(
                &self,
            ) -> $crate::store::StoreResult<Vec<($crate::domain::ChannelKind, String, u64)>> {
                let rows: Vec<(String, String, i64)> =
                    sqlx::query_as($crate::store::sql::SUBSCRIBER_COUNTS).fetch_all(&self.pool).await?;
                rows.into_iter()
                    .map(|(c, t, n)| Ok((c.parse().map_err($crate::store::StoreError::Corrupt)?, t, n as u64)))
                    .collect()
            }

            async fn channel_state(&self, key: &str) -> $crate::store::StoreResult<Option<String>> {
                let row: Option<(String,)> = sqlx::query_as($crate::store::sql::GET_STATE)
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(v,)| v))
            }

            async fn set_channel_state(&self, key: &str, value: &str) -> $crate::store::StoreResult<()> {
                self.write_one(sqlx::query($crate::store::sql::SET_STATE).bind(key.to_string()).bind(value.to_string()))
                    .await?;
                Ok(())
            }

            async fn sent_span(&self, id: i64) -> $crate::store::StoreResult<(Option<i64>, Option<i64>)> {
                Ok(sqlx::query_as($crate::store::sql::SENT_SPAN)
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn warning_known(&self, identifier: &str, version: i64) -> $crate::store::StoreResult<bool> {
                let row: Option<(i32,)> = sqlx::query_as($crate::store::sql::WARNING_KNOWN)
                    .bind(identifier)
                    .bind(version)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.is_some())
            }

            async fn record_warning(&self, w: &$crate::store::WarningRecord) -> $crate::store::StoreResult<bool> {
                let n = self
                    .write_one(
                        sqlx::query($crate::store::sql::INSERT_WARNING)
                            .bind(w.identifier.as_str())
                            .bind(w.version)
                            .bind(w.provider.as_str())
                            .bind(w.msg_type.as_str())
                            .bind(w.severity.as_str())
                            .bind(w.headline.as_str())
                            .bind(w.expires_at)
                            .bind(w.decision.as_str())
                            .bind(w.broadcast_id)
                            .bind(w.seen_at),
                    )
                    .await?;
                Ok(n > 0)
            }

            async fn warning_broadcast(&self, identifier: &str) -> $crate::store::StoreResult<Option<i64>> {
                let row: Option<(Option<i64>,)> = sqlx::query_as($crate::store::sql::WARNING_BROADCAST)
                    .bind(identifier)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.and_then(|(id,)| id))
            }

            async fn warnings(&self, limit: u32) -> $crate::store::StoreResult<Vec<$crate::store::WarningRecord>> {
                Ok(sqlx::query_as($crate::store::sql::LIST_WARNINGS)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn list_broadcasts_page(
                &self,
                status: Option<$crate::domain::BroadcastStatus>,
                before: Option<i64>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::Broadcast>> {
                let rows: Vec<$crate::store::BroadcastRow> =
                    sqlx::query_as($crate::store::sql::BROADCASTS_PAGE)
                        .bind(status.map(|s| s.as_str()))
                        .bind(before.unwrap_or(i64::MAX))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map($crate::store::broadcast_from_row).collect()
            }

            async fn archive_page(
                &self,
                topic: Option<&str>,
                area: Option<&str>,
                before: Option<i64>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::Broadcast>> {
                let rows: Vec<$crate::store::BroadcastRow> =
                    sqlx::query_as($crate::store::sql::ARCHIVE_PAGE)
                        .bind(topic)
                        .bind(area)
                        .bind(before.unwrap_or(i64::MAX))
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map($crate::store::broadcast_from_row).collect()
            }

            async fn archived(
                &self,
                code: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::Broadcast>> {
                let row: Option<$crate::store::BroadcastRow> =
                    sqlx::query_as($crate::store::sql::ARCHIVED_BY_CODE)
                        .bind(code)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map($crate::store::broadcast_from_row).transpose()
            }

            async fn archived_follow_ups(
                &self,
                id: i64,
            ) -> $crate::store::StoreResult<Vec<$crate::store::Broadcast>> {
                let rows: Vec<$crate::store::BroadcastRow> =
                    sqlx::query_as($crate::store::sql::ARCHIVED_FOLLOW_UPS)
                        .bind(id)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map($crate::store::broadcast_from_row).collect()
            }

            async fn archived_texts(
                &self,
                from: i64,
                since: i64,
            ) -> $crate::store::StoreResult<Vec<(i64, i64, String, Option<String>)>> {
                Ok(sqlx::query_as($crate::store::sql::ARCHIVED_TEXTS)
                    .bind(from)
                    .bind(since)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn archived_versions(
                &self,
                from: i64,
                since: i64,
            ) -> $crate::store::StoreResult<Vec<(i64, i32, i64, String)>> {
                Ok(sqlx::query_as($crate::store::sql::ARCHIVED_VERSIONS)
                    .bind(from)
                    .bind(since)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn stats_of(
                &self,
                ids: &[i64],
            ) -> $crate::store::StoreResult<std::collections::HashMap<i64, $crate::store::BroadcastStats>> {
                let mut stats: std::collections::HashMap<i64, $crate::store::BroadcastStats> =
                    ids.iter().map(|id| (*id, Default::default())).collect();
                if ids.is_empty() {
                    return Ok(stats);
                }
                let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(Self::STATS_OF)
                    .bind(Self::id_list(ids.to_vec()))
                    .fetch_all(&self.pool)
                    .await?;
                let mut per_broadcast: std::collections::HashMap<i64, Vec<(String, String, i64)>> =
                    std::collections::HashMap::new();
                for (id, channel, status, n) in rows {
                    per_broadcast.entry(id).or_default().push((channel, status, n));
                }
                for (id, rows) in per_broadcast {
                    stats.insert(id, $crate::store::stats_from_rows(rows)?);
                }
                Ok(stats)
            }


            async fn fan_out_ceiling(
                &self,
                topic: &$crate::domain::Topic,
            ) -> $crate::store::StoreResult<(u64, f64)> {
                let mut tx = self.begin_write().await?;
                for &statement in Self::PROBE_TABLE {
                    sqlx::query(statement).execute(&mut *tx.tx).await?;
                }
                tx.commit().await?;
                // Timed like a fan-out chunk: one write transaction, its commit included.
                let mut tx = self.begin_write().await?;
                let started = std::time::Instant::now();
                let rows = sqlx::query($crate::store::sql::CEILING_INSERT)
                    .bind(topic.as_str())
                    .execute(&mut *tx.tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                let mut tx = self.begin_write().await?;
                sqlx::query("DROP TABLE probe_deliveries").execute(&mut *tx.tx).await?;
                tx.commit().await?;
                Ok((rows, ms))
            }

            async fn whatsapp_outside_window(
                &self,
                topic: &$crate::domain::Topic,
                parent_id: Option<i64>,
                window_start: i64,
            ) -> $crate::store::StoreResult<u64> {
                use $crate::store::sql;
                let (n,): (i64,) = match parent_id {
                    Some(parent) => sqlx::query_as(sql::WHATSAPP_OUTSIDE_WINDOW_FOLLOW_UP)
                        .bind(parent)
                        .bind(window_start)
                        .fetch_one(&self.pool)
                        .await?,
                    None => sqlx::query_as(sql::WHATSAPP_OUTSIDE_WINDOW)
                        .bind(topic.as_str())
                        .bind(window_start)
                        .fetch_one(&self.pool)
                        .await?,
                };
                Ok(n.max(0) as u64)
            }

            async fn sent_per_second(&self, id: i64) -> $crate::store::StoreResult<Vec<(i64, u64)>> {
                let rows: Vec<(i64, i64)> = sqlx::query_as($crate::store::sql::SENT_PER_SECOND)
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(|(s, n)| (s, n.max(0) as u64)).collect())
            }

            async fn record_subscriber_day(
                &self,
                day: &str,
                counts: &[($crate::domain::ChannelKind, String, u64)],
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.begin_write().await?;
                for (channel, topic, n) in counts {
                    sqlx::query($crate::store::sql::RECORD_SUBSCRIBER_DAY)
                        .bind(day)
                        .bind(topic.as_str())
                        .bind(channel.as_str())
                        .bind(i64::try_from(*n).unwrap_or(i64::MAX))
                        .execute(&mut *tx.tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn subscriber_days(
                &self,
                since: &str,
            ) -> $crate::store::StoreResult<Vec<(String, String, $crate::domain::ChannelKind, u64)>> {
                let rows: Vec<(String, String, String, i64)> = sqlx::query_as($crate::store::sql::SUBSCRIBER_DAYS)
                    .bind(since)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter()
                    .map(|(day, topic, channel, n)| {
                        Ok((day, topic, channel.parse().map_err($crate::store::StoreError::Corrupt)?, n.max(0) as u64))
                    })
                    .collect()
            }

            async fn put_login_link(&self, link: &$crate::store::LoginLink) -> $crate::store::StoreResult<()> {
                self.write_one(
                    sqlx::query($crate::store::sql::PUT_LOGIN_LINK)
                        .bind(link.token_hash.clone())
                        .bind(link.channel.as_str())
                        .bind(link.address.clone())
                        .bind(link.created_at)
                        .bind(link.expires_at),
                )
                .await?;
                Ok(())
            }

            async fn take_login_link(
                &self,
                token_hash: &str,
                now: i64,
            ) -> $crate::store::StoreResult<Option<($crate::domain::ChannelKind, String)>> {
                // Most refused links are made up: those are refused on a read.
                let usable: Option<(i32,)> = sqlx::query_as($crate::store::sql::LOGIN_LINK_USABLE)
                    .bind(token_hash)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?;
                if usable.is_none() {
                    return Ok(None);
                }
                let mut tx = self.begin_write().await?;
                let row: Option<(String, String)> = sqlx::query_as($crate::store::sql::TAKE_LOGIN_LINK)
                    .bind(token_hash)
                    .bind(now)
                    .fetch_optional(&mut *tx.tx)
                    .await?;
                tx.commit().await?;
                row.map(|(channel, address)| {
                    Ok((channel.parse().map_err($crate::store::StoreError::Corrupt)?, address))
                })
                .transpose()
            }

            async fn put_session(&self, s: &$crate::store::DashboardSession) -> $crate::store::StoreResult<()> {
                self.write_one(
                    sqlx::query($crate::store::sql::PUT_SESSION)
                        .bind(s.id_hash.clone())
                        .bind(s.channel.as_str())
                        .bind(s.address.clone())
                        .bind(s.csrf.clone())
                        .bind(s.created_at)
                        .bind(s.last_seen)
                        .bind(s.expires_at),
                )
                .await?;
                Ok(())
            }

            async fn session(
                &self,
                id_hash: &str,
                now: i64,
                idle_ms: i64,
            ) -> $crate::store::StoreResult<Option<$crate::store::DashboardSession>> {
                let row: Option<$crate::store::SessionRow> = sqlx::query_as($crate::store::sql::SESSION)
                    .bind(id_hash)
                    .bind(now)
                    .bind(now - idle_ms)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map($crate::store::session_from_row).transpose()
            }

            async fn mark_session_seen(&self, id_hash: &str, now: i64) -> $crate::store::StoreResult<()> {
                self.write_one(
                    sqlx::query($crate::store::sql::MARK_SESSION_SEEN).bind(id_hash.to_string()).bind(now),
                )
                .await?;
                Ok(())
            }

            async fn end_session(&self, id_hash: &str) -> $crate::store::StoreResult<bool> {
                let n = self
                    .write_one(sqlx::query($crate::store::sql::END_SESSION).bind(id_hash.to_string()))
                    .await?;
                Ok(n > 0)
            }

            async fn insert_media(
                &self,
                new: &$crate::store::NewMedia,
            ) -> $crate::store::StoreResult<$crate::store::MediaInfo> {
                let mut tx = self.begin_write().await?;
                let row: $crate::store::MediaRow = sqlx::query_as($crate::store::sql::INSERT_MEDIA)
                    .bind(new.kind.as_str())
                    .bind(new.mime.as_str())
                    .bind(new.file_name.as_str())
                    .bind(new.bytes.as_slice())
                    .bind(i64::try_from(new.bytes.len()).unwrap_or(i64::MAX))
                    .bind(new.width.map(i64::from))
                    .bind(new.height.map(i64::from))
                    .bind(new.sha256.as_str())
                    .bind($crate::domain::now_ms())
                    .bind(new.created_by.as_deref())
                    .fetch_one(&mut *tx.tx)
                    .await?;
                tx.commit().await?;
                $crate::store::media_from_row(row)
            }

            async fn media_info(
                &self,
                id: i64,
            ) -> $crate::store::StoreResult<Option<$crate::store::MediaInfo>> {
                let row: Option<$crate::store::MediaRow> = sqlx::query_as($crate::store::sql::MEDIA_INFO)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map($crate::store::media_from_row).transpose()
            }

            async fn media_bytes(&self, id: i64) -> $crate::store::StoreResult<Option<Vec<u8>>> {
                let row: Option<(Vec<u8>,)> = sqlx::query_as($crate::store::sql::MEDIA_BYTES)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|(b,)| b))
            }

            async fn claim_media_upload(
                &self,
                media_id: i64,
                channel: $crate::domain::ChannelKind,
                holder: &str,
                now: i64,
                until: i64,
                fresh_since: i64,
            ) -> $crate::store::StoreResult<$crate::store::UploadClaim> {
                use $crate::store::{sql, UploadClaim};
                let mut tx = self.begin_write().await?;
                let taken: Option<(i64,)> = sqlx::query_as(sql::CLAIM_MEDIA_UPLOAD)
                    .bind(media_id)
                    .bind(channel.as_str())
                    .bind(holder)
                    .bind(until)
                    .bind(fresh_since)
                    .bind(now)
                    .fetch_optional(&mut *tx.tx)
                    .await?;
                let state: Option<(Option<String>, Option<i64>, Option<i64>)> = if taken.is_some() {
                    None
                } else {
                    sqlx::query_as(sql::MEDIA_UPLOAD_STATE)
                        .bind(media_id)
                        .bind(channel.as_str())
                        .fetch_optional(&mut *tx.tx)
                        .await?
                };
                tx.commit().await?;
                if taken.is_some() {
                    return Ok(UploadClaim::Claimed);
                }
                Ok(match state {
                    Some((Some(platform_ref), Some(uploaded_at), _)) if uploaded_at >= fresh_since => {
                        UploadClaim::Ready { platform_ref, uploaded_at }
                    }
                    Some((_, _, Some(until))) => UploadClaim::Busy { until },
                    // Neither fresh nor claimed: the claim raced with a release; try again soon.
                    _ => UploadClaim::Busy { until: now },
                })
            }

            async fn media_uploaded(
                &self,
                media_id: i64,
                channel: $crate::domain::ChannelKind,
                platform_ref: &str,
                at: i64,
            ) -> $crate::store::StoreResult<()> {
                self.write_one(
                    sqlx::query($crate::store::sql::MEDIA_UPLOADED)
                        .bind(media_id)
                        .bind(channel.as_str())
                        .bind(platform_ref.to_string())
                        .bind(at),
                )
                .await?;
                Ok(())
            }

            async fn release_media_upload(
                &self,
                media_id: i64,
                channel: $crate::domain::ChannelKind,
                holder: &str,
            ) -> $crate::store::StoreResult<()> {
                self.write_one(
                    sqlx::query($crate::store::sql::RELEASE_MEDIA_UPLOAD)
                        .bind(media_id)
                        .bind(channel.as_str())
                        .bind(holder.to_string()),
                )
                .await?;
                Ok(())
            }

            async fn media_uploads(
                &self,
                media_id: i64,
            ) -> $crate::store::StoreResult<Vec<$crate::store::MediaUpload>> {
                let rows: Vec<(String, i64, Option<String>)> = sqlx::query_as($crate::store::sql::MEDIA_UPLOADS)
                    .bind(media_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter()
                    .map(|(channel, uploads, platform_ref)| {
                        Ok($crate::store::MediaUpload {
                            channel: channel.parse().map_err($crate::store::StoreError::Corrupt)?,
                            uploads: u64::try_from(uploads).unwrap_or_default(),
                            platform_ref,
                        })
                    })
                    .collect()
            }

            async fn forget_media(&self, before: i64) -> $crate::store::StoreResult<u64> {
                self.write_one(sqlx::query($crate::store::sql::FORGET_MEDIA).bind(before)).await
            }

            async fn forget_dashboard_sign_ins(&self, now: i64, idle_ms: i64) -> $crate::store::StoreResult<u64> {
                let sessions = self
                    .write_one(sqlx::query($crate::store::sql::FORGET_SESSIONS).bind(now).bind(now - idle_ms))
                    .await?;
                let links = self
                    .write_one(sqlx::query($crate::store::sql::FORGET_LOGIN_LINKS).bind(now))
                    .await?;
                Ok(sessions + links)
            }

            $($specific)*
        }
    };
}
pub(crate) use impl_store;
