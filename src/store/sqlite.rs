//! The embedded default: one SQLite file in WAL mode. Writes that read first run under
//! `BEGIN IMMEDIATE`, so two writers never deadlock on a lock upgrade.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::common::impl_store;
use super::sql::{self, claim_update, claimed_rows};
use super::{Ack, NewSubscriber, StoreResult};
use crate::domain::now_ms;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (and creates, with `mode=rwc`) the database file `url` names.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // A large fan-out chunk holds the write lock for a while; waiting beats failing.
            .busy_timeout(Duration::from_secs(30))
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-16000");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Ok(SqliteStore { pool })
    }

    const CLAIM: &str = claim_update!("");
    const CLAIMED: &str = claimed_rows!("IN (SELECT value FROM json_each($1))");

    /// How the claimed ids are bound to `CLAIMED`.
    fn id_list(ids: Vec<i64>) -> String {
        serde_json::Value::from(ids).to_string()
    }

    async fn begin_write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn acknowledge_in(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        acks: &[Ack],
    ) -> StoreResult<u64> {
        let mut applied = 0;
        for ack in acks {
            applied += Self::apply_ack(tx, ack).await?;
        }
        Ok(applied)
    }
}

impl_store!(SqliteStore, Sqlite, {
    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn add_subscribers(&self, subscribers: &[NewSubscriber]) -> StoreResult<u64> {
        let now = now_ms();
        let mut added = 0;
        for chunk in subscribers.chunks(20_000) {
            let mut tx = self.begin_write().await?;
            for s in chunk {
                let id: Option<(i64,)> = sqlx::query_as(sql::INSERT_SUBSCRIBER)
                    .bind(s.channel.as_str())
                    .bind(s.address.as_str())
                    .bind(s.language.as_str())
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((id,)) = id else { continue };
                added += 1;
                for topic in &s.topics {
                    sqlx::query(sql::INSERT_SUBSCRIPTION)
                        .bind(topic.as_str())
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
        }
        Ok(added)
    }
});
