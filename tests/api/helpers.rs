//! What every black-box test needs: a fresh database of either kind, simulated platforms, the
//! queue running against them with test-sized timings, and waiting on observable conditions.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use amtsbote::config::default_topics;
use amtsbote::conversation::Conversation;
use amtsbote::domain::{
    BroadcastKind, BroadcastStatus, BroadcastText, ChannelKind, Priority, Topic,
};
use amtsbote::i18n::Texts;
use amtsbote::queue::{Engine, EngineSettings, LaneSettings, RetryPolicy};
use amtsbote::service::{telegram_lane, whatsapp_lane};
use amtsbote::services::BroadcastService;
use amtsbote::simulator::Simulator;
use amtsbote::store::{self, NewBroadcast, NewSubscriber, Store};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

/// Log lines written while it is held, on this thread (the test's runtime runs every task
/// here).
#[derive(Clone, Default)]
pub struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

impl Captured {
    /// Captures every log line of this thread while the guard lives.
    pub fn start() -> (Captured, tracing::subscriber::DefaultGuard) {
        let logs = Captured::default();
        let guard = tracing::subscriber::set_default(
            tracing_subscriber::fmt()
                .with_writer(logs.clone())
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .finish(),
        );
        (logs, guard)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

/// Logs stay silent unless TEST_LOG is set.
pub fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,sqlx=warn")
            .with_test_writer()
            .try_init();
    }
}

/// A database for one test; the SQLite file or Postgres database goes away with it.
pub struct TestDb {
    pub url: String,
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    postgres_admin: Option<String>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let db = TestDb::sqlite_unmigrated().await;
        db.store.migrate().await.expect("migrate sqlite");
        db
    }

    async fn sqlite_unmigrated() -> TestDb {
        init_logs();
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        let store = store::connect(&url).await.expect("open sqlite");
        TestDb {
            url,
            store,
            _dir: Some(dir),
            postgres_admin: None,
        }
    }

    /// A fresh Postgres database, or None when AMTSBOTE_TEST_POSTGRES_URL is unset outside CI.
    /// In CI (CI=true) a missing variable or an unreachable server fails the test.
    pub async fn postgres() -> Option<TestDb> {
        init_logs();
        let admin = postgres_server()?;
        let db = TestDb::postgres_unmigrated(admin).await;
        db.store.migrate().await.expect("migrate postgres");
        Some(db)
    }

    async fn postgres_unmigrated(admin: String) -> TestDb {
        let url = store::testing::fresh_postgres_database(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!("cannot create a test database through AMTSBOTE_TEST_POSTGRES_URL: {e}")
            });
        let store = store::connect(&url).await.expect("open postgres");
        TestDb {
            url,
            store,
            _dir: None,
            postgres_admin: Some(admin),
        }
    }

    /// Another database of the same kind as an older Amtsbote left it: migrated up to
    /// `version`, then `statements` run. For seeing what the later migrations make of its rows.
    pub async fn another_as_left_at(&self, version: i64, statements: &[&'static str]) -> TestDb {
        let (db, dir) = match &self.postgres_admin {
            Some(admin) => (TestDb::postgres_unmigrated(admin.clone()).await, "postgres"),
            None => (TestDb::sqlite_unmigrated().await, "sqlite"),
        };
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dir);
        let migrator = sqlx::migrate::Migrator::new(dir)
            .await
            .expect("read migrations");
        // The same steps on either kind of pool.
        macro_rules! migrate_and_write {
            ($pool:ty) => {{
                let pool = <$pool>::connect(&db.url).await.expect("connect");
                migrator.run_to(version, &pool).await.expect("migrate");
                for statement in statements {
                    sqlx::query(*statement)
                        .execute(&pool)
                        .await
                        .expect(statement);
                }
                pool.close().await;
            }};
        }
        match db.postgres_admin {
            Some(_) => migrate_and_write!(sqlx::PgPool),
            None => migrate_and_write!(sqlx::SqlitePool),
        }
        db
    }

    /// Every value in every column of every table, as text, with its table and column: what
    /// a test scans for personal data. The tables come from the database itself
    /// (`sqlite_master`, `information_schema`), so a table added later is scanned too.
    pub async fn every_value(&self) -> Vec<(String, String, String)> {
        // The same steps on either kind of pool: list the columns, then read each as text.
        macro_rules! scan {
            ($pool:ty, $columns:literal, $as_text:literal) => {{
                use sqlx::Row;
                let pool = <$pool>::connect(&self.url).await.expect("connect");
                let columns: Vec<(String, String)> = sqlx::query_as($columns)
                    .fetch_all(&pool)
                    .await
                    .expect("columns");
                let mut values = Vec::new();
                for (table, column) in columns {
                    let sql = format!(concat!("SELECT ", $as_text, " FROM \"{}\""), column, table);
                    for row in sqlx::query(sqlx::AssertSqlSafe(sql))
                        .fetch_all(&pool)
                        .await
                        .expect("values")
                    {
                        let v: Option<String> = row.try_get(0).expect("text");
                        values.push((table.clone(), column.clone(), v.unwrap_or_default()));
                    }
                }
                pool.close().await;
                values
            }};
        }
        match &self.postgres_admin {
            // quote(): text as text, blobs as hex, numbers as digits.
            None => scan!(
                sqlx::SqlitePool,
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
                "quote(\"{}\")"
            ),
            Some(_) => scan!(
                sqlx::PgPool,
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
                "CAST(\"{}\" AS TEXT)"
            ),
        }
    }

    /// A second, independent connection to the same database (as after a restart).
    pub async fn reopen(&self) -> Arc<dyn Store> {
        store::connect(&self.url).await.expect("reopen")
    }
}

/// AMTSBOTE_TEST_POSTGRES_URL, or None when it is unset outside CI. In CI (CI=true) a missing
/// variable fails the test.
pub fn postgres_server() -> Option<String> {
    match std::env::var("AMTSBOTE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!(
                "CI=true but AMTSBOTE_TEST_POSTGRES_URL is not set: the Postgres tests must run in CI"
            )
        }
        _ => {
            eprintln!("skipped: set AMTSBOTE_TEST_POSTGRES_URL to run the Postgres tests");
            None
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(admin) = self.postgres_admin.take() {
            let url = self.url.clone();
            // Dropping a database needs its own runtime: the test's may be shutting down.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    let _ = rt.block_on(store::testing::drop_postgres_database(&admin, &url));
                }
            })
            .join();
        }
    }
}

pub fn topic(id: &str) -> Topic {
    Topic::parse(id).expect("valid topic")
}

/// Subscribers on `topics`: Telegram chat ids from 1000, WhatsApp numbers from 4915100000000.
pub async fn seed(store: &dyn Store, telegram: u64, whatsapp: u64, topics: &[&str]) {
    let topics: Vec<Topic> = topics.iter().map(|t| topic(t)).collect();
    let mut people = Vec::new();
    for i in 0..telegram {
        people.push(NewSubscriber {
            channel: ChannelKind::Telegram,
            address: (1000 + i).to_string(),
            language: "de".into(),
            topics: topics.clone(),
        });
    }
    for i in 0..whatsapp {
        people.push(NewSubscriber {
            channel: ChannelKind::Whatsapp,
            address: (4_915_100_000_000u64 + i).to_string(),
            language: "de".into(),
            topics: topics.clone(),
        });
    }
    store
        .add_subscribers(&people)
        .await
        .expect("seed subscribers");
}

pub fn new_broadcast(topic_id: &str, priority: Priority, text: &str) -> NewBroadcast {
    let kind = if priority == Priority::Alert {
        BroadcastKind::Alert
    } else {
        BroadcastKind::Announcement
    };
    NewBroadcast {
        created_by: Some("test".into()),
        ..NewBroadcast::released(
            topic(topic_id),
            kind,
            priority,
            BroadcastText::parse(text).expect("valid text"),
        )
    }
}

/// The broadcast service on `store`, waking `app`'s queue when there is one.
pub fn broadcasts_on(
    store: Arc<dyn Store>,
    app: Option<&TestApp>,
    second_approval: bool,
) -> Arc<BroadcastService> {
    let queue = app
        .and_then(|a| a.engine.as_ref())
        .map(|e| e.signals.clone() as Arc<dyn amtsbote::services::QueueWake>);
    Arc::new(BroadcastService::new(
        store,
        default_topics(),
        second_approval,
        chrono_tz::Europe::Berlin,
        queue,
    ))
}

/// The conversation as `run` builds it, over `app`'s store and queue.
pub fn conversation_of(app: &TestApp, second_approval: bool) -> Conversation {
    Conversation {
        store: app.store.clone(),
        subscriptions: std::sync::Arc::new(
            amtsbote::services::subscriptions::SubscriptionService::new(
                app.store.clone(),
                amtsbote::domain::default_topics(),
                None,
            ),
        ),
        texts: Arc::new(Texts::load().expect("texts")),
        broadcasts: broadcasts_on(app.store.clone(), Some(app), second_approval),
        sign_in: None,
        archive: None,
        files: Default::default(),
    }
}

/// The budgets of `app`'s lanes, as the conversation's replies draw on them.
pub fn paces_of(app: &TestApp) -> amtsbote::service::Paces {
    app.engine
        .as_ref()
        .map(|e| amtsbote::service::Paces::of(&e.budgets))
        .unwrap_or_default()
}

/// Lane timings for tests: fast retries and polls, short time-outs.
pub fn test_lane(rate: u32) -> LaneSettings {
    LaneSettings {
        rate,
        concurrency: 16,
        batch_max: 100,
        send_timeout: Duration::from_millis(500),
        lease: Duration::from_secs(30),
        idle_poll: Duration::from_millis(50),
        quiet: None,
        reply_share: amtsbote::queue::DEFAULT_REPLY_SHARE,
        retry: RetryPolicy {
            max_attempts: 5,
            initial: Duration::from_millis(50),
            max: Duration::from_millis(400),
            factor: 2.0,
            jitter: 0.1,
        },
        footer: None,
    }
}

/// One approved template per kind, as a city would configure them.
pub fn test_templates()
-> std::collections::HashMap<BroadcastKind, amtsbote::channels::whatsapp::Template> {
    [
        BroadcastKind::Announcement,
        BroadcastKind::Alert,
        BroadcastKind::Update,
        BroadcastKind::Allclear,
    ]
    .into_iter()
    .map(|k| {
        (
            k,
            amtsbote::channels::whatsapp::Template {
                name: format!("stadt_{}", k.as_str()),
                language: "de".into(),
            },
        )
    })
    .collect()
}

/// The queue at work against simulated platforms.
pub struct TestApp {
    pub store: Arc<dyn Store>,
    pub sim: Simulator,
    pub engine: Option<Engine>,
    pub shutdown: CancellationToken,
    sim_shutdown: CancellationToken,
}

impl TestApp {
    /// Releases a broadcast and wakes fan-out; returns its id.
    pub async fn release(&self, new: NewBroadcast) -> i64 {
        let created = self
            .store
            .create_broadcast(&new)
            .await
            .expect("create broadcast");
        if let Some(e) = &self.engine {
            // As the service does: fan-out starts on it at once, and the lanes know an urgent
            // one is being written.
            e.signals.released_broadcast(&created.broadcast);
        }
        created.broadcast.id
    }

    /// Waits until the broadcast is done (every delivery ended).
    pub async fn wait_done(&self, id: i64, within: Duration) {
        let store = self.store.clone();
        wait_until(within, &format!("broadcast {id} done"), move || {
            let store = store.clone();
            async move {
                matches!(store.broadcast(id).await, Ok(Some(b)) if b.status == BroadcastStatus::Done)
            }
        })
        .await;
    }

    /// Stops the queue the way SIGTERM does and waits for it.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(engine) = self.engine.take() {
            engine.join().await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.sim_shutdown.cancel();
    }
}

/// Starts the queue with a Telegram and a WhatsApp lane against fresh simulators.
pub async fn spawn_app(
    store: Arc<dyn Store>,
    telegram: LaneSettings,
    whatsapp: LaneSettings,
) -> TestApp {
    let sim_shutdown = CancellationToken::new();
    let sim = Simulator::start(sim_shutdown.clone())
        .await
        .expect("simulators");
    spawn_app_with(store, sim, sim_shutdown, telegram, whatsapp)
}

pub fn spawn_app_with(
    store: Arc<dyn Store>,
    sim: Simulator,
    sim_shutdown: CancellationToken,
    telegram: LaneSettings,
    whatsapp: LaneSettings,
) -> TestApp {
    let shutdown = CancellationToken::new();
    let lanes = vec![
        telegram_lane(
            &sim.telegram_url,
            SecretString::from("42:test-token"),
            telegram,
        )
        .expect("telegram lane"),
        {
            let (channel, lane) = whatsapp_lane(
                &sim.whatsapp_url,
                "1234",
                SecretString::from("wa-token"),
                test_templates(),
                whatsapp,
            )
            .expect("whatsapp lane");
            (channel as Arc<dyn amtsbote::channels::Channel>, lane)
        },
    ];
    let settings = EngineSettings {
        fan_out_chunk: 500,
        poll: Duration::from_millis(50),
        housekeeping: Duration::from_millis(50),
        ..EngineSettings::default()
    };
    let engine = Engine::start(store.clone(), lanes, settings, shutdown.clone());
    TestApp {
        store,
        sim,
        engine: Some(engine),
        shutdown,
        sim_shutdown,
    }
}

/// Polls `condition` until it holds, failing the test with `what` after `within`.
pub async fn wait_until<F, Fut>(within: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if condition().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the `amtsbote run` listening on `port` answers `/readyz` with 200.
pub async fn wait_ready(port: u16) {
    let client = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{port}/readyz");
    wait_until(Duration::from_secs(20), "/readyz answers 200", || {
        let (client, ready) = (client.clone(), ready.clone());
        async move { matches!(client.get(&ready).send().await, Ok(r) if r.status() == 200) }
    })
    .await;
}

/// The built `amtsbote` binary with a clean environment of its own.
pub fn amtsbote() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_amtsbote"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AMTSBOTE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AMTSBOTE_HTTP_LISTEN", "127.0.0.1:0")
        .kill_on_drop(true);
    cmd
}

/// Runs `amtsbote demo ARGS --json` with unlimited lanes to its end, within four minutes: the
/// one JSON line it printed. Fails the test with its stderr when it failed or printed none.
pub async fn demo_report(args: &[&str]) -> serde_json::Value {
    let run = amtsbote()
        .arg("demo")
        .args(args)
        .args(["--telegram-rate", "0", "--whatsapp-rate", "0", "--json"])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("the demo ends within 240 s")
        .expect("the demo runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the demo failed:\n{stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("the demo printed no JSON ({e}):\n{stderr}"))
}

/// A TCP proxy the test owns: `cut` drops every connection and refuses new ones until
/// `restore`, so a test can take the database away without touching the shared server.
pub struct TcpProxy {
    pub addr: std::net::SocketAddr,
    up: Arc<std::sync::atomic::AtomicBool>,
    generation: tokio::sync::watch::Sender<u64>,
}

impl TcpProxy {
    pub async fn start(upstream: String) -> TcpProxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("proxy bind");
        let addr = listener.local_addr().expect("proxy addr");
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (generation, _) = tokio::sync::watch::channel(0u64);
        let (up2, gen2) = (up.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: connection refused in effect
                }
                let mut cut = gen2.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        TcpProxy {
            addr,
            up,
            generation,
        }
    }

    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A private Telegram message from `who` (an English speaker) to the conversation.
pub fn says(who: &str, text: &str) -> amtsbote::conversation::Incoming {
    amtsbote::conversation::Incoming {
        channel: ChannelKind::Telegram,
        chat: who.into(),
        sender: who.into(),
        private: true,
        language_hint: Some("en".into()),
        input: amtsbote::conversation::Input::Text(text.into()),
    }
}

/// The texts of the messages among `replies` (sent or edited), one per line.
pub fn reply_text(replies: &[amtsbote::conversation::Reply]) -> String {
    use amtsbote::conversation::Reply;
    replies
        .iter()
        .filter_map(|r| match r {
            Reply::Send { text, .. }
            | Reply::Edit { text, .. }
            | Reply::AskLocation { text, .. } => Some(text.as_str()),
            Reply::AnswerButton { .. } | Reply::Picture { .. } => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The code of a preview's "/confirm CODE".
pub fn confirm_code(text: &str) -> String {
    let at = text.find("/confirm ").expect("a preview with a code");
    text[at + 9..at + 15].to_string()
}

/// Waits for the latest message the simulators received for `to` containing `needle`.
pub async fn message_to(sim: &Simulator, to: &str, needle: &str) -> amtsbote::simulator::Received {
    let found = Arc::new(std::sync::Mutex::new(None));
    let (s, f, to2, n) = (
        sim.clone(),
        found.clone(),
        to.to_string(),
        needle.to_string(),
    );
    wait_until(
        Duration::from_secs(20),
        &format!("a message to {to} with “{needle}”"),
        move || {
            let (s, f, to, n) = (s.clone(), f.clone(), to2.clone(), n.clone());
            async move {
                let hit = s
                    .received()
                    .into_iter()
                    .rfind(|r| *r.address == to && r.text.contains(&n));
                let got = hit.is_some();
                *f.lock().unwrap_or_else(|p| p.into_inner()) = hit;
                got
            }
        },
    )
    .await;
    let hit = found.lock().unwrap_or_else(|p| p.into_inner()).take();
    hit.expect("found")
}

/// Asks the emergency staff for every approval due, through the simulated platforms, as the
/// running service does.
pub async fn ask_approvers(app: &TestApp, conversation: &Arc<Conversation>) -> usize {
    let client = amtsbote::channels::http_client(Duration::from_secs(5), 2).expect("client");
    let bot = amtsbote::channels::telegram::bot(
        client,
        &app.sim.telegram_url,
        &SecretString::from("42:test-token"),
    )
    .expect("bot");
    let courier = amtsbote::service::ApprovalCourier {
        broadcasts: conversation.broadcasts.clone(),
        conversation: conversation.clone(),
        notices: Arc::new(amtsbote::service::StaffNotices {
            texts: conversation.texts.clone(),
            store: app.store.clone(),
            telegram: Some(bot),
            whatsapp: None,
            whatsapp_approval_template: None,
            paces: paces_of(app),
        }),
    };
    courier.deliver().await.expect("approval requests")
}

/// The whole service as `amtsbote run` starts it (`Application`), against fresh simulators,
/// with HTTP on a free port.
pub struct Service {
    pub sim: Simulator,
    pub store: Arc<dyn Store>,
    /// Where the webhook and `/healthz` are served.
    pub base: String,
    /// Where the API, `/metrics` and `/readyz` are served (`base` unless the admin listener
    /// is set apart with `AMTSBOTE_HTTP_ADMIN_LISTEN`).
    pub admin: String,
    stop: CancellationToken,
    sim_shutdown: CancellationToken,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub const PRESS_TOKEN: &str = "press-token-0123456789";
pub const EMERGENCY_TOKEN: &str = "emergency-token-0123456789";
/// Made up, in the shape Meta issues app secrets (32 hexadecimal characters); the signature
/// fixture is signed with it.
pub const WEBHOOK_SECRET: &str = "ff27a6934c41d005c02c3a94dbef570d";
pub const VERIFY_TOKEN: &str = "verify-me-0123456789";

impl Service {
    /// Starts it on `db` with `alerts.require_second_approval` as given; `extra` adds settings
    /// (`AMTSBOTE_…` names).
    pub async fn start(db: &TestDb, second_approval: bool, extra: &[(&str, &str)]) -> Service {
        Service::start_with_file(db, second_approval, extra, None).await
    }

    /// As [`Service::start`], with a configuration file's text too (`[[api.tokens]]`, which
    /// only a file can give).
    pub async fn start_with_file(
        db: &TestDb,
        second_approval: bool,
        extra: &[(&str, &str)],
        file: Option<&str>,
    ) -> Service {
        let sim_shutdown = CancellationToken::new();
        let sim = Simulator::start(sim_shutdown.clone())
            .await
            .expect("simulators");
        // As Meta approved them: the media templates with their header, the others without.
        for kind in ["announcement", "alert", "update", "allclear"] {
            sim.approve_template(&format!("stadt_{kind}"), None);
        }
        sim.approve_template("stadt_bild", Some("image"));
        sim.approve_template("stadt_dokument", Some("document"));
        let mut env: std::collections::HashMap<String, String> = [
            ("AMTSBOTE_DATABASE_URL", db.url.as_str()),
            ("AMTSBOTE_HTTP_LISTEN", "127.0.0.1:0"),
            ("AMTSBOTE_TELEGRAM_TOKEN", "42:test-token"),
            ("AMTSBOTE_TELEGRAM_API_URL", sim.telegram_url.as_str()),
            ("AMTSBOTE_TELEGRAM_RATE", "0"),
            ("AMTSBOTE_WHATSAPP_API_URL", sim.whatsapp_url.as_str()),
            ("AMTSBOTE_WHATSAPP_PHONE_NUMBER_ID", "1234"),
            ("AMTSBOTE_WHATSAPP_ACCESS_TOKEN", "wa-token"),
            ("AMTSBOTE_WHATSAPP_APP_SECRET", WEBHOOK_SECRET),
            ("AMTSBOTE_WHATSAPP_VERIFY_TOKEN", VERIFY_TOKEN),
            ("AMTSBOTE_WHATSAPP_RATE", "0"),
            (
                "AMTSBOTE_WHATSAPP_TEMPLATE_ANNOUNCEMENT",
                "stadt_announcement:de",
            ),
            ("AMTSBOTE_WHATSAPP_TEMPLATE_ALERT", "stadt_alert:de"),
            ("AMTSBOTE_WHATSAPP_TEMPLATE_UPDATE", "stadt_update:de"),
            ("AMTSBOTE_WHATSAPP_TEMPLATE_ALLCLEAR", "stadt_allclear:de"),
            ("AMTSBOTE_WHATSAPP_TEMPLATE_PICTURE", "stadt_bild:de"),
            ("AMTSBOTE_WHATSAPP_TEMPLATE_DOCUMENT", "stadt_dokument:de"),
            ("AMTSBOTE_QUEUE_POLL_MS", "50"),
            ("AMTSBOTE_API_TOKEN", PRESS_TOKEN),
            ("AMTSBOTE_API_EMERGENCY_TOKEN", EMERGENCY_TOKEN),
            (
                "AMTSBOTE_ALERTS_REQUIRE_SECOND_APPROVAL",
                if second_approval { "true" } else { "false" },
            ),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        env.retain(|_, v| !v.is_empty());
        let config = amtsbote::config::Config::from_sources(file.map(|f| ("test.toml", f)), &env)
            .expect("config");
        let app = amtsbote::service::Application::build_on(config, db.store.clone())
            .await
            .expect("the service starts");
        let base = format!("http://{}", app.local_addr());
        let admin = format!("http://{}", app.admin_addr());
        let stop = CancellationToken::new();
        let until = stop.clone();
        let running = tokio::spawn(app.run_until_stopped(async move {
            until.cancelled().await;
            "test"
        }));
        Service {
            sim,
            store: db.store.clone(),
            base,
            admin,
            stop,
            sim_shutdown,
            running: Some(running),
        }
    }

    /// Waits until broadcast `id` is done (everything sent or ended).
    pub async fn wait_done(&self, id: i64, within: Duration) {
        let store = self.store.clone();
        wait_until(within, &format!("broadcast {id} done"), move || {
            let store = store.clone();
            async move {
                store
                    .broadcast(id)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|b| b.status == BroadcastStatus::Done)
            }
        })
        .await;
    }

    /// Posts to the API with a bearer token; the status and the JSON answer.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let mut req = reqwest::Client::new()
            .request(method, format!("{}{path}", self.admin))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("API answers");
        (
            r.status(),
            r.json().await.unwrap_or(serde_json::Value::Null),
        )
    }

    /// Posts a WhatsApp webhook body, signed as Meta signs it.
    pub async fn webhook(&self, body: &serde_json::Value) -> reqwest::StatusCode {
        signed_webhook(self.base.clone(), body.clone()).await
    }

    /// Stops it as SIGTERM does and waits until it has.
    pub async fn stop(&mut self) {
        self.stop.cancel();
        if let Some(r) = self.running.take() {
            let _ = r.await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.cancel();
        self.sim_shutdown.cancel();
    }
}

/// Posts a WhatsApp webhook body to the service at `base`, signed as Meta signs it.
pub async fn signed_webhook(base: String, body: serde_json::Value) -> reqwest::StatusCode {
    use hmac::{Hmac, Mac};
    let raw = serde_json::to_vec(&body).expect("json");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("key");
    mac.update(&raw);
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    reqwest::Client::new()
        .post(format!("{base}/webhooks/whatsapp"))
        .header("X-Hub-Signature-256", sig)
        .body(raw)
        .send()
        .await
        .expect("webhook answers")
        .status()
}

/// A port nobody listens on now, for a process that binds it itself.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Generates `sqlite::case` and `postgres::case` for every case: each runs against SQLite and,
/// when a server is named, Postgres.
macro_rules! on_both_stores {
    // Cases that run the service and the fakes beside the test: two worker threads.
    (multi_thread: $($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(crate::helpers::TestDb::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if let Some(db) = crate::helpers::TestDb::postgres().await {
                        super::$case(db).await;
                    }
                }
            )*
        }
    };
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(crate::helpers::TestDb::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    if let Some(db) = crate::helpers::TestDb::postgres().await {
                        super::$case(db).await;
                    }
                }
            )*
        }
    };
}
pub(crate) use on_both_stores;

/// The callback data of the first button whose data starts with `prefix`.
pub fn button(markup: &Option<std::sync::Arc<serde_json::Value>>, prefix: &str) -> String {
    markup
        .as_ref()
        .and_then(|m| m["inline_keyboard"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .flat_map(|r| r.as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["callback_data"].as_str().map(str::to_string))
        .find(|d| d.starts_with(prefix))
        .expect("a button")
}

/// Runs one SQL statement on the test's database, as another process would.
pub async fn run_sql(db: &TestDb, statement: &str) {
    let statement = sqlx::AssertSqlSafe(statement.to_string());
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        sqlx::query(statement).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query(statement).execute(&pool).await.unwrap();
        pool.close().await;
    }
}
