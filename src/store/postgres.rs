//! The store for cities that run several instances: Postgres, with `FOR UPDATE SKIP LOCKED`
//! claims so instances never wait on each other's rows, and array-bound bulk writes.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use super::common::{WriteTx, impl_store};
use super::sql::{
    claim_update, claimed_rows, close_orphans, early_statuses_for, extend_lease, fan_out_state,
    places_beyond_districts, recipients_by_district, stats_of,
};
use super::{Ack, AckOutcome, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

const ACK_SENT_MANY: &str = "UPDATE deliveries d SET status = 'sent', sent_at = u.sent_at, \
    platform_id = COALESCE(u.platform_id, d.platform_id), lease_until = NULL, last_error = NULL, platform_status = NULL, \
    platform_error = NULL \
    FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[]) AS u(id, lease, sent_at, platform_id) \
    WHERE d.id = u.id AND d.leased_by = u.lease AND d.status IN ('leased', 'cancelled')";

/// Roles are renewed on connections of their own, so that a renewal never queues behind the
/// lanes' claims for a connection of the main pool.
const ROLE_CONNECTIONS: u32 = 2;
/// See `PostgresStore::connect`: below `roles::LEASE` (3 s).
const IDLE_IN_TRANSACTION_MS: &str = "2000";
/// The tables `erase_subscriber` deletes from (see `upkeep`).
const VACUUM_ERASED: &str = "VACUUM subscribers, subscriptions, subscriber_areas, \
    subscriber_places, deliveries, confirmations, inbound_messages, early_statuses";
/// The channel fan-out announces enqueued deliveries on (payload: their priority).
const ENQUEUED_CHANNEL: &str = "amtsbote_enqueued";

const ACQUIRE_ROLE: &str = "INSERT INTO instance_roles (role, holder, token, since, expires_at) \
    VALUES ($1, $2, 1, clock_timestamp(), clock_timestamp() + make_interval(secs => $3::float8 / 1000)) \
    ON CONFLICT (role) DO UPDATE SET holder = EXCLUDED.holder, token = instance_roles.token + 1, \
    since = EXCLUDED.since, expires_at = EXCLUDED.expires_at \
    WHERE instance_roles.expires_at <= clock_timestamp() RETURNING token";
const RENEW_ROLE: &str = "UPDATE instance_roles \
    SET expires_at = clock_timestamp() + make_interval(secs => $4::float8 / 1000) \
    WHERE role = $1 AND holder = $2 AND token = $3 AND expires_at > clock_timestamp() RETURNING token";
const RELEASE_ROLE: &str = "UPDATE instance_roles SET expires_at = clock_timestamp() \
    WHERE role = $1 AND holder = $2 AND token = $3";
const ROLE_HOLDERS: &str = "SELECT role, holder, token, \
    (extract(epoch FROM (expires_at - clock_timestamp())) * 1000)::bigint FROM instance_roles ORDER BY role";

pub struct PostgresStore {
    pool: PgPool,
    /// For roles only (see `ROLE_CONNECTIONS`).
    roles: PgPool,
    /// This process's mark on its enqueue notifications: its own lanes were woken already,
    /// and a late second wake-up would make them put back and claim again for nothing.
    origin: String,
    /// Read from the database on first use.
    pseudonym_key: tokio::sync::OnceCell<super::PseudonymKey>,
}

impl PostgresStore {
    pub async fn connect(url: &str) -> StoreResult<Self> {
        // A transaction left open by a frozen or cut-off instance holds its row locks (the
        // role's row a claim share-locks, the deliveries it leased) until the server ends the
        // session: it does after this much idle time, below the roles' lease, so a standby's
        // takeover never waits for a process that will not come back in time. Nothing here
        // keeps a transaction open between statements for longer.
        let options: PgConnectOptions = url.parse::<PgConnectOptions>()?.options([(
            "idle_in_transaction_session_timeout",
            IDLE_IN_TRANSACTION_MS,
        )]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        // Lazily: a process that never takes a role (the CLI) opens none.
        let roles = PgPoolOptions::new()
            .max_connections(ROLE_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(2))
            .connect_lazy_with(options);
        Ok(PostgresStore {
            pool,
            roles,
            origin: format!("{:016x}", rand::random::<u64>()),
            pseudonym_key: tokio::sync::OnceCell::new(),
        })
    }

    /// The fan-out ceiling's scratch copy of `deliveries`, with the same indexes.
    const PROBE_TABLE: &[&str] = &[
        "DROP TABLE IF EXISTS probe_deliveries",
        "CREATE TABLE probe_deliveries (LIKE deliveries INCLUDING ALL)",
    ];

    const CLAIM: &str = claim_update!("= ANY(ARRAY(", " FOR UPDATE SKIP LOCKED))");
    const CLAIMED: &str = claimed_rows!("= ANY($1)");
    const STATS_OF: &str = stats_of!("= ANY($1)");

    const FAN_OUT_STATE: &str = fan_out_state!(" FOR UPDATE");
    const RECIPIENTS_BY_DISTRICT: &str =
        recipients_by_district!("(SELECT jsonb_array_elements_text($2::jsonb))");
    const PLACES_BEYOND_DISTRICTS: &str =
        places_beyond_districts!("(SELECT jsonb_array_elements_text($2::jsonb))");
    const CLOSE_ORPHANS: &str = close_orphans!("= ANY($1)");
    const EXTEND_LEASE: &str = extend_lease!("= ANY($3)");
    const EARLY_STATUSES_FOR: &str = early_statuses_for!("= ANY($1)");
    /// The role's row is share-locked: a takeover (which updates it) waits for this write.
    const FENCE: Option<&str> = Some(
        "SELECT token FROM instance_roles WHERE role = $1 AND token = $2 \
         AND expires_at > clock_timestamp() FOR SHARE",
    );
    /// The same check without the lock, for outcomes (see `check_fence`).
    const FENCE_READ: Option<&str> = Some(
        "SELECT token FROM instance_roles WHERE role = $1 AND token = $2 \
         AND expires_at > clock_timestamp()",
    );
    /// Delivered to every listening instance when the fan-out chunk commits.
    const NOTIFY_ENQUEUED: Option<&str> = Some("SELECT pg_notify('amtsbote_enqueued', $1)");

    /// A resend takes its broadcast's row first, as a cancel does: the cancel then sees the
    /// resent delivery, or the resend sees the cancel.
    /// A retraction takes the rows of the deliveries it cancels in the order of their ids
    /// first, as the batched outcomes do (see `acknowledge_in`).
    const LOCK_OPEN_DELIVERIES: Option<&str> = Some(
        "SELECT id FROM deliveries WHERE broadcast_id = $1 AND status IN ('pending', 'leased') ORDER BY id FOR UPDATE",
    );
    const LOCK_BROADCAST_OF_DELIVERY: Option<&str> = Some(
        "SELECT id FROM broadcasts WHERE id = (SELECT broadcast_id FROM deliveries WHERE id = $1) FOR UPDATE",
    );

    fn origin(&self) -> &str {
        &self.origin
    }

    /// How the claimed ids are bound to `CLAIMED`.
    fn id_list(ids: Vec<i64>) -> Vec<i64> {
        ids
    }

    /// How a list of texts is bound, as `id_list`.
    fn text_list(texts: Vec<String>) -> Vec<String> {
        texts
    }

    const INSERT_SUBSCRIBERS: &str = "INSERT INTO subscribers (channel, address, language, status, created_at) \
        SELECT e ->> 'c', e ->> 'a', e ->> 'l', 'active', $2 FROM jsonb_array_elements($1::jsonb) AS e \
        ON CONFLICT (channel, address) DO NOTHING RETURNING id, channel, address";
    const INSERT_SUBSCRIPTIONS: &str = "INSERT INTO subscriptions (topic, subscriber_id) \
        SELECT e ->> 0, (e ->> 1)::bigint FROM jsonb_array_elements($1::jsonb) AS e ON CONFLICT DO NOTHING";

    /// A staff change reads before it writes, and the rows it must see may not exist yet:
    /// the table lock (which only writers wait for) keeps two changes from passing the same check.
    const LOCK_STAFF: Option<&str> = Some("LOCK TABLE staff IN SHARE ROW EXCLUSIVE MODE");

    async fn begin_write(&self) -> StoreResult<WriteTx<Postgres>> {
        Ok(WriteTx {
            tx: self.pool.begin().await?,
            _turn: None,
        })
    }

    /// Sent acknowledgements, by far the most, go in one statement; the rest one by one.
    async fn acknowledge_in(&self, tx: &mut WriteTx<Postgres>, acks: &[Ack]) -> StoreResult<u64> {
        let (mut ids, mut leases, mut at, mut platform_ids) = (vec![], vec![], vec![], vec![]);
        let mut applied = 0;
        // In the order of their ids, as a cancel or retraction takes its rows: two writers
        // that take rows in one order never wait for each other in a circle.
        let mut acks: Vec<&Ack> = acks.iter().collect();
        acks.sort_by_key(|a| a.delivery_id);
        for ack in acks {
            if let AckOutcome::Sent { at: t, platform_id } = &ack.outcome {
                ids.push(ack.delivery_id);
                leases.push(ack.lease.clone());
                at.push(*t);
                platform_ids.push(platform_id.clone());
            } else {
                applied += Self::apply_ack(tx, ack).await?;
            }
        }
        if !ids.is_empty() {
            applied += sqlx::query(ACK_SENT_MANY)
                .bind(ids)
                .bind(leases)
                .bind(at)
                .bind(platform_ids)
                .execute(&mut *tx.tx)
                .await?
                .rows_affected();
        }
        Ok(applied)
    }
}

super::outlets::impl_outlet_store!(PostgresStore);

impl_store!(PostgresStore, Postgres, {
    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn schema(&self) -> StoreResult<super::schema::SchemaState> {
        let (exists,): (bool,) =
            sqlx::query_as("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                .fetch_one(&self.pool)
                .await?;
        let rows = if exists {
            Some(
                sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations")
                    .fetch_all(&self.pool)
                    .await?,
            )
        } else {
            None
        };
        Ok(super::schema::SchemaState::of(&MIGRATOR, rows))
    }

    async fn clock_ms(&self) -> StoreResult<i64> {
        let (now,): (i64,) =
            sqlx::query_as("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint")
                .fetch_one(&self.pool)
                .await?;
        Ok(now)
    }

    async fn upkeep(&self) -> StoreResult<()> {
        // A deleted row stays in its table as a dead tuple until a vacuum removes it, and
        // autovacuum comes only once a fifth of a table is dead: after an erase, vacuum what it
        // deleted from now. VACUUM cannot run in a transaction, nor as a prepared statement.
        if let Some(mark) = self.erase_pending().await? {
            sqlx::raw_sql(VACUUM_ERASED).execute(&self.pool).await?;
            self.erase_settled(&mark).await?;
        }
        Ok(())
    }

    fn shares_roles(&self) -> bool {
        true
    }

    async fn acquire_role(
        &self,
        role: &str,
        holder: &str,
        lease_ms: i64,
    ) -> StoreResult<Option<i64>> {
        let token: Option<(i64,)> = sqlx::query_as(ACQUIRE_ROLE)
            .bind(role)
            .bind(holder)
            .bind(lease_ms as f64)
            .fetch_optional(&self.roles)
            .await?;
        Ok(token.map(|(t,)| t))
    }

    async fn renew_role(
        &self,
        role: &str,
        holder: &str,
        token: i64,
        lease_ms: i64,
    ) -> StoreResult<bool> {
        let renewed: Option<(i64,)> = sqlx::query_as(RENEW_ROLE)
            .bind(role)
            .bind(holder)
            .bind(token)
            .bind(lease_ms as f64)
            .fetch_optional(&self.roles)
            .await?;
        Ok(renewed.is_some())
    }

    async fn release_role(&self, role: &str, holder: &str, token: i64) -> StoreResult<()> {
        sqlx::query(RELEASE_ROLE)
            .bind(role)
            .bind(holder)
            .bind(token)
            .execute(&self.roles)
            .await?;
        Ok(())
    }

    async fn role_holders(&self) -> StoreResult<Vec<super::RoleHolder>> {
        let rows: Vec<(String, String, i64, i64)> =
            sqlx::query_as(ROLE_HOLDERS).fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|(role, holder, token, expires_in_ms)| super::RoleHolder {
                role,
                holder,
                token,
                expires_in_ms,
            })
            .collect())
    }

    async fn announce_released(&self, priority: crate::domain::Priority) {
        let announced = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(ENQUEUED_CHANNEL)
            .bind(format!("{} {}", priority.as_i16(), self.origin))
            .execute(&self.pool)
            .await;
        if let Err(e) = announced {
            tracing::warn!(error = %e, "cannot tell the running service of the release; it finds it at its next poll");
        }
    }

    async fn listen_enqueued(
        &self,
        on: std::sync::Arc<dyn Fn(crate::domain::Priority) + Send + Sync>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        let mut failures = 0;
        while !stop.is_cancelled() {
            let listening = async {
                let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
                listener.listen(ENQUEUED_CHANNEL).await?;
                Ok::<_, sqlx::Error>(listener)
            };
            let mut listener = match listening.await {
                Ok(l) => l,
                Err(e) => {
                    failures += 1;
                    let wait = crate::domain::RetryPolicy::STORE_OUTAGE.delay(failures);
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "cannot listen for other instances' deliveries; the lanes poll meanwhile");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => continue,
                        _ = stop.cancelled() => return,
                    }
                }
            };
            failures = 0;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    heard = listener.recv() => match heard {
                        Ok(n) => {
                            let (priority, origin) = n.payload().split_once(' ').unwrap_or((n.payload(), ""));
                            if origin == self.origin {
                                continue;
                            }
                            match priority.parse::<i64>().map_err(|e| e.to_string())
                                .and_then(|p| super::priority_from_db(p).map_err(|e| e.to_string()))
                            {
                                Ok(priority) => on(priority),
                                Err(e) => tracing::warn!(error = %e, "ignoring a malformed enqueue notification"),
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "lost the notification connection; listening again");
                            break;
                        }
                    }
                }
            }
        }
    }
});
