//! The store for cities that run several instances: Postgres, with `FOR UPDATE SKIP LOCKED`
//! claims so instances never wait on each other's rows, and array-bound bulk writes.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use super::common::{WriteTx, impl_store};
use super::sql::{
    claim_update, claimed_rows, close_orphans, early_statuses_for, extend_lease, fan_out_state,
    stats_of,
};
use super::{Ack, AckOutcome, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

const ACK_SENT_MANY: &str = "UPDATE deliveries d SET status = 'sent', sent_at = u.sent_at, \
    platform_id = u.platform_id, lease_until = NULL, last_error = NULL, platform_status = NULL, \
    platform_error = NULL \
    FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[]) AS u(id, lease, sent_at, platform_id) \
    WHERE d.id = u.id AND d.leased_by = u.lease AND d.status IN ('leased', 'cancelled')";

pub struct PostgresStore {
    pool: PgPool,
    /// Read from the database on first use.
    pseudonym_key: tokio::sync::OnceCell<super::PseudonymKey>,
}

impl PostgresStore {
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(PostgresStore {
            pool,
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
    const CLOSE_ORPHANS: &str = close_orphans!("= ANY($1)");
    const EXTEND_LEASE: &str = extend_lease!("= ANY($3)");
    const EARLY_STATUSES_FOR: &str = early_statuses_for!("= ANY($1)");
    /// A resend takes its broadcast's row first, as a cancel does: the cancel then sees the
    /// resent delivery, or the resend sees the cancel.
    const LOCK_BROADCAST_OF_DELIVERY: Option<&str> = Some(
        "SELECT id FROM broadcasts WHERE id = (SELECT broadcast_id FROM deliveries WHERE id = $1) FOR UPDATE",
    );

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

impl_store!(PostgresStore, Postgres, {
    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }
});
