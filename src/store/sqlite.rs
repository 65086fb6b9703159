//! The embedded default: one SQLite file in WAL mode. Writes that read first run under
//! `BEGIN IMMEDIATE`, so two writers never deadlock on a lock upgrade.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};
use tokio::sync::Mutex;

use super::common::{WriteTx, impl_store};
use super::sql::{
    claim_update, claimed_rows, close_orphans, early_statuses_for, extend_lease, fan_out_state,
    places_beyond_districts, recipients_by_district, stats_of,
};
use super::{Ack, StoreResult};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
    /// One writer at a time inside this process (see `WriteTx`).
    write_turn: Arc<Mutex<()>>,
    /// Read from the database on first use.
    pseudonym_key: tokio::sync::OnceCell<super::PseudonymKey>,
    /// The socket beside the database file on which the running service hears of releases
    /// from other processes (the CLI): SQLite has no notifications of its own. None for an
    /// in-memory database.
    wake_path: Option<std::path::PathBuf>,
}

/// The migrations a SQLite database holds (see [`super::schema::SchemaState`]).
async fn schema_of(pool: &SqlitePool) -> StoreResult<super::schema::SchemaState> {
    let (exists,): (bool,) = sqlx::query_as(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_one(pool)
    .await?;
    let rows = if exists {
        Some(
            sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations")
                .fetch_all(pool)
                .await?,
        )
    } else {
        None
    };
    Ok(super::schema::SchemaState::of(&MIGRATOR, rows))
}

/// What a SQLite file offered as a backup holds: whether SQLite finds it intact, and its schema.
#[derive(Debug, Clone)]
pub struct FileCheck {
    /// `PRAGMA quick_check`'s first answer: "ok" when intact.
    pub integrity: String,
    pub schema: super::schema::SchemaState,
}

impl SqliteStore {
    /// A consistent copy of the whole database in `target`, which must not exist or be empty,
    /// while the service keeps writing (`VACUUM INTO` reads one snapshot; WAL lets writers on).
    pub async fn backup_into(&self, target: &std::path::Path) -> StoreResult<()> {
        let target = target.to_str().ok_or_else(|| {
            super::StoreError::Corrupt(format!("{} is not UTF-8", target.display()))
        })?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Opens `file` read-only, as it is (no log, no lock, nothing written), and reads whether
    /// it is intact and which migrations it holds. A file that is not SQLite is an error.
    pub async fn check_file(file: &std::path::Path) -> StoreResult<FileCheck> {
        let options = SqliteConnectOptions::new()
            .filename(file)
            .read_only(true)
            .immutable(true)
            .create_if_missing(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        let (integrity,): (String,) = sqlx::query_as("PRAGMA quick_check(1)")
            .fetch_one(&pool)
            .await?;
        let schema = schema_of(&pool).await?;
        pool.close().await;
        Ok(FileCheck { integrity, schema })
    }

    /// Opens (and creates, with `mode=rwc`) the database file `url` names.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // A large fan-out chunk holds the write lock for a while; waiting beats failing.
            .busy_timeout(Duration::from_secs(30))
            // 2 MiB of page cache per connection and temporary tables on disk: with 8 MiB and
            // temp_store = memory the 100k demo peaked at 124-136 MiB, with these at 93-98 MiB,
            // at the same throughput (alternating runs, one binary).
            .pragma("cache_size", "-2000")
            // Housekeeping checkpoints the log (`upkeep`), passively and off the writers'
            // path: a commit that checkpoints itself held the lanes' claims up to 250 ms. The
            // limit stays for processes without housekeeping (the CLI).
            .pragma("wal_autocheckpoint", "20000")
            // What is deleted is overwritten with zeros (cells, freed pages), so that an erased
            // person's chat id or number is not left in the file's free space; the log's old
            // page images go at the checkpoint after an erase (`upkeep`).
            .pragma("secure_delete", "ON")
            // The checkpoint runs beside the writers and may take seconds under load: only
            // what holds up a caller that long is worth a warning.
            .log_slow_statements(log::LevelFilter::Warn, Duration::from_secs(5));
        let file = options.get_filename();
        let wake_path = (!file.as_os_str().is_empty() && file != std::path::Path::new(":memory:"))
            .then(|| {
                let mut name = file.as_os_str().to_owned();
                name.push(".wake");
                std::path::PathBuf::from(name)
            });
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Ok(SqliteStore {
            pool,
            write_turn: Arc::new(Mutex::new(())),
            pseudonym_key: tokio::sync::OnceCell::new(),
            wake_path,
        })
    }

    /// The fan-out ceiling's scratch copy of `deliveries`, with the same indexes.
    const PROBE_TABLE: &[&str] = &[
        "DROP TABLE IF EXISTS probe_deliveries",
        "CREATE TABLE probe_deliveries (id INTEGER PRIMARY KEY, broadcast_id INTEGER NOT NULL, \
            subscriber_id INTEGER NOT NULL, channel TEXT NOT NULL, priority INTEGER NOT NULL, \
            status TEXT NOT NULL DEFAULT 'pending', due_at INTEGER NOT NULL, \
            attempts INTEGER NOT NULL DEFAULT 0, lease_until INTEGER, leased_by TEXT, \
            last_error TEXT, sent_at INTEGER, platform_id TEXT, \
            force_template INTEGER NOT NULL DEFAULT 0, platform_status TEXT, platform_error TEXT, \
            UNIQUE (broadcast_id, subscriber_id))",
        "CREATE INDEX probe_claim ON probe_deliveries (channel, priority DESC, due_at, id) \
            WHERE status = 'pending'",
        "CREATE INDEX probe_by_subscriber ON probe_deliveries (subscriber_id)",
    ];

    const CLAIM: &str = claim_update!("IN (", ")");
    const CLAIMED: &str = claimed_rows!("IN (SELECT value FROM json_each($1))");
    const STATS_OF: &str = stats_of!("IN (SELECT value FROM json_each($1))");

    const FAN_OUT_STATE: &str = fan_out_state!("");
    const RECIPIENTS_BY_DISTRICT: &str =
        recipients_by_district!("(SELECT value FROM json_each($2))");
    const PLACES_BEYOND_DISTRICTS: &str =
        places_beyond_districts!("(SELECT value FROM json_each($2))");
    const CLOSE_ORPHANS: &str = close_orphans!("IN (SELECT value FROM json_each($1))");
    const EXTEND_LEASE: &str = extend_lease!("IN (SELECT value FROM json_each($3))");
    const EARLY_STATUSES_FOR: &str = early_statuses_for!("IN (SELECT value FROM json_each($1))");
    /// One instance per file (`amtsbote run` holds a lock on it): nothing to fence, and no one
    /// else to tell about new deliveries.
    const FENCE: Option<&str> = None;
    const FENCE_READ: Option<&str> = None;
    const NOTIFY_ENQUEUED: Option<&str> = None;

    /// Nothing to take: one writer at a time.
    const LOCK_OPEN_DELIVERIES: Option<&str> = None;
    /// Nothing to take: the one write lock keeps a resend and a cancel apart.
    const LOCK_BROADCAST_OF_DELIVERY: Option<&str> = None;

    /// Who enqueued, in a notification: nobody else listens here.
    fn origin(&self) -> &str {
        ""
    }

    /// How the claimed ids are bound to `CLAIMED`.
    fn id_list(ids: Vec<i64>) -> String {
        serde_json::Value::from(ids).to_string()
    }

    /// How a list of texts is bound, as `id_list`.
    fn text_list(texts: Vec<String>) -> String {
        serde_json::Value::from(texts).to_string()
    }

    const INSERT_SUBSCRIBERS: &str = "INSERT INTO subscribers (channel, address, language, status, created_at) \
        SELECT value ->> 'c', value ->> 'a', value ->> 'l', 'active', $2 FROM json_each($1) WHERE true \
        ON CONFLICT (channel, address) DO NOTHING RETURNING id, channel, address";
    const INSERT_SUBSCRIPTIONS: &str = "INSERT INTO subscriptions (topic, subscriber_id) \
        SELECT value ->> 0, value ->> 1 FROM json_each($1) WHERE true ON CONFLICT DO NOTHING";

    /// Nothing to take: `BEGIN IMMEDIATE` already holds the database's one write lock, so a
    /// staff check and the write after it see no other writer in between.
    const LOCK_STAFF: Option<&str> = None;

    async fn begin_write(&self) -> StoreResult<WriteTx<Sqlite>> {
        let turn = self.write_turn.clone().lock_owned().await;
        Ok(WriteTx {
            tx: self.pool.begin_with("BEGIN IMMEDIATE").await?,
            _turn: Some(turn),
        })
    }

    async fn acknowledge_in(&self, tx: &mut WriteTx<Sqlite>, acks: &[Ack]) -> StoreResult<u64> {
        let mut applied = 0;
        for ack in acks {
            applied += Self::apply_ack(tx, ack).await?;
        }
        Ok(applied)
    }
}

super::outlets::impl_outlet_store!(SqliteStore);

impl_store!(SqliteStore, Sqlite, {
    async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn schema(&self) -> StoreResult<super::schema::SchemaState> {
        schema_of(&self.pool).await
    }

    async fn clock_ms(&self) -> StoreResult<i64> {
        let (now,): (i64,) =
            sqlx::query_as("SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)")
                .fetch_one(&self.pool)
                .await?;
        Ok(now)
    }

    async fn announce_released(&self, priority: crate::domain::Priority) {
        let Some(path) = &self.wake_path else {
            return;
        };
        let notice = priority.as_i16().to_be_bytes();
        let sent = match tokio::net::UnixDatagram::unbound() {
            Ok(socket) => socket.send_to(&notice, path).await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(_) => {}
            // No service runs on this database: it finds the release when it starts.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot tell the running service of the release; it finds it at its next poll");
            }
        }
    }

    async fn listen_enqueued(
        &self,
        on: Arc<dyn Fn(crate::domain::Priority) + Send + Sync>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        let Some(path) = &self.wake_path else {
            return;
        };
        // Left behind by a process that was killed; `run` holds the database's lock, so no
        // other service listens on it.
        let _ = std::fs::remove_file(path);
        let socket = match tokio::net::UnixDatagram::bind(path) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "cannot listen for releases from the CLI; it is found at the next poll");
                return;
            }
        };
        let mut buf = [0u8; 16];
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                heard = socket.recv(&mut buf) => match heard {
                    Ok(2) => match super::priority_from_db(i64::from(i16::from_be_bytes([buf[0], buf[1]]))) {
                        Ok(priority) => on(priority),
                        Err(e) => tracing::warn!(error = %e, "ignoring a malformed release notice"),
                    },
                    Ok(n) => tracing::warn!(bytes = n, "ignoring a malformed release notice"),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read release notices; they are found at the next poll");
                        break;
                    }
                },
            }
        }
        let _ = std::fs::remove_file(path);
    }

    async fn upkeep(&self) -> StoreResult<()> {
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&self.pool)
            .await?;
        // After an erase the log still holds the pages as they were before it (a passive
        // checkpoint copies them but leaves the file): copy everything and empty the log. This
        // waits for readers and holds up writers meanwhile, so only then.
        if let Some(mark) = self.erase_pending().await? {
            let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&self.pool)
                .await?;
            if busy == 0 {
                self.erase_settled(&mark).await?;
            }
        }
        Ok(())
    }
});
