//! Personal data: after `/delete` no table of either store holds the person's address (the scan
//! reads the table list from the database), nor does any byte of SQLite's file and log, and
//! Postgres vacuums the dead tuples; the database files are the service user's alone;
//! incoming WhatsApp message ids are kept only as keyed hashes for Meta's retry window, and a
//! webhook that fails before its message is recorded as handled lets Meta's retry through.

use std::time::Duration;

use amtsbote::domain::{ChannelKind, now_ms};
use amtsbote::store::INBOUND_CLAIM_MS;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    EMERGENCY_TOKEN, Service, TestDb, amtsbote, free_port, message_to, spawn_app, test_lane,
    wait_until,
};

const WA_PERSON: &str = "491701234567";
const TG_PERSON: i64 = 918_273_645;

/// Standard base64, as WhatsApp writes message ids.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A message id as WhatsApp makes them (compare the fixtures): base64 of a record that holds
/// the sender's number and a random part.
fn wamid(number: &str) -> String {
    let mut raw = vec![0x1c, 0x18, number.len() as u8];
    raw.extend(number.as_bytes());
    raw.extend([0x15, 0x02, 0x00, 0x12, 0x18, 0x14]);
    raw.extend(format!("{:020X}", rand::random::<u64>()).as_bytes());
    raw.push(0);
    format!("wamid.{}", base64(&raw))
}

/// A signed text message from `from` with message id `id`.
fn says_with_id(from: &str, text: &str, id: &str) -> Value {
    let mut v = crate::whatsapp::says(from, text);
    v["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = json!(id);
    v["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = json!(from);
    v
}

/// The six-letter code after `command` in `text`.
fn code_after(text: &str, command: &str) -> String {
    let at = text.find(command).expect("a code") + command.len();
    text[at..at + 6].to_string()
}

/// What a person on each channel left behind before asking to be erased: the ids of the
/// WhatsApp person's messages, a status report's message id, and the codes that confirm.
struct Traces {
    message_ids: Vec<String>,
    reply_id: String,
    wa_code: String,
    tg_code: String,
}

impl Traces {
    /// A message from the WhatsApp person, its id kept.
    fn wa_says(&mut self, text: &str) -> Value {
        let id = wamid(WA_PERSON);
        self.message_ids.push(id.clone());
        says_with_id(WA_PERSON, text, &id)
    }
}

/// A WhatsApp and a Telegram person subscribe, receive an alert and ask to be erased (a code
/// each); a status report for a message with no delivery is kept for the WhatsApp one. Rows in
/// every table that holds personal data.
async fn people_who_left_traces_everywhere(svc: &Service) -> Traces {
    let mut traces = Traces {
        message_ids: Vec::new(),
        reply_id: wamid(WA_PERSON),
        wa_code: String::new(),
        tg_code: String::new(),
    };
    assert_eq!(svc.webhook(&traces.wa_says("start")).await, StatusCode::OK);
    message_to(&svc.sim, WA_PERSON, "Willkommen").await;
    let tg = TG_PERSON.to_string();
    svc.sim
        .push_update(crate::telegram::message(TG_PERSON, "/start"));
    message_to(&svc.sim, &tg, "Welcome").await;

    // Deliveries in place: an alert reached both.
    let (status, alert) = svc
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            EMERGENCY_TOKEN,
            Some(json!({"topic": "alerts", "text": "Probealarm"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    svc.wait_done(alert["id"].as_i64().unwrap(), Duration::from_secs(20))
        .await;
    message_to(&svc.sim, WA_PERSON, "Probealarm").await;
    message_to(&svc.sim, &tg, "Probealarm").await;

    // Codes in place: both ask to be erased.
    assert_eq!(
        svc.webhook(&traces.wa_says("/loeschen")).await,
        StatusCode::OK
    );
    let ask = message_to(&svc.sim, WA_PERSON, "/loeschen ").await;
    traces.wa_code = code_after(&ask.text, "/loeschen ");
    svc.sim
        .push_update(crate::telegram::message(TG_PERSON, "/delete"));
    let ask = message_to(&svc.sim, &tg, "erases everything").await;
    traces.tg_code = code_after(&ask.text, "/delete ");

    // A status report for a message with no delivery (a reply's) is kept a while, holding the
    // message id: it goes with the person too.
    let mut report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!(
            "{}/tests/fixtures/whatsapp/webhook_status_delivered.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture"),
    )
    .expect("json");
    report["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = json!(traces.reply_id);
    report["entry"][0]["changes"][0]["value"]["statuses"][0]["recipient_id"] = json!(WA_PERSON);
    assert_eq!(svc.webhook(&report).await, StatusCode::OK);
    traces
}

/// Both confirm with their codes and are told they are erased.
async fn both_confirm_their_erasure(svc: &Service, traces: &mut Traces) {
    let confirm = traces.wa_says(&format!("/loeschen {}", traces.wa_code));
    assert_eq!(svc.webhook(&confirm).await, StatusCode::OK);
    message_to(&svc.sim, WA_PERSON, "gelöscht").await;
    svc.sim.push_update(crate::telegram::message(
        TG_PERSON,
        &format!("/delete {}", traces.tg_code),
    ));
    message_to(&svc.sim, &TG_PERSON.to_string(), "erased").await;
}

async fn delete_leaves_no_row_that_holds_the_address(db: TestDb) {
    let svc = Service::start(&db, false, &[]).await;
    let mut traces = people_who_left_traces_everywhere(&svc).await;
    let tg = TG_PERSON.to_string();

    let before = db.every_value().await;
    let scanned: std::collections::HashSet<&str> =
        before.iter().map(|(t, _, _)| t.as_str()).collect();
    for table in [
        "subscribers",
        "subscriptions",
        "deliveries",
        "confirmations",
        "inbound_messages",
        "early_statuses",
    ] {
        assert!(
            scanned.contains(table),
            "rows in {table} before: {scanned:?}"
        );
    }
    for needle in [WA_PERSON, tg.as_str()] {
        assert!(
            before.iter().any(|(_, _, v)| v.contains(needle)),
            "{needle} is in the database before /delete (else the scan proves nothing)"
        );
    }

    both_confirm_their_erasure(&svc, &mut traces).await;

    let after = db.every_value().await;
    let mut needles: Vec<String> = vec![WA_PERSON.into(), tg.clone()];
    let ids = traces
        .message_ids
        .iter()
        .chain(std::iter::once(&traces.reply_id));
    for id in ids {
        needles.push(id.clone());
        needles.push(id.trim_start_matches("wamid.").to_string());
    }
    for (table, column, value) in &after {
        for needle in &needles {
            assert!(
                !value.contains(needle.as_str()),
                "{table}.{column} still holds {needle} after /delete: {value}"
            );
        }
        if table == "inbound_messages" && column == "sender_key" {
            assert!(
                value.is_empty() || value == "NULL",
                "an incoming message is still linked to the erased person"
            );
        }
    }
}

#[tokio::test]
async fn delete_leaves_no_row_that_holds_the_address_on_sqlite() {
    delete_leaves_no_row_that_holds_the_address(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn delete_leaves_no_row_that_holds_the_address_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        delete_leaves_no_row_that_holds_the_address(db).await;
    }
}

/// The database file and its log as bytes, as anyone who can read them would.
fn raw_database(db: &TestDb) -> Vec<u8> {
    let file = db
        .url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let mut bytes = std::fs::read(&file).expect("the database file");
    // The log goes once it is checkpointed and closed; while the service runs it is there.
    bytes.extend(std::fs::read(format!("{file}-wal")).unwrap_or_default());
    bytes
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Deleted rows leave their bytes in freed space of the file and old page images in the log;
/// with `secure_delete` and the checkpoint after an erase neither keeps the chat id or the
/// number. Both are text in every column (`address`, `author_address`, ids' texts), never
/// integers, so their decimal text is what to look for.
#[tokio::test]
async fn after_delete_no_byte_of_the_chat_id_or_the_number_is_left_in_the_sqlite_files() {
    let db = TestDb::sqlite().await;
    let svc = Service::start(&db, false, &[]).await;
    let mut traces = people_who_left_traces_everywhere(&svc).await;
    let tg = TG_PERSON.to_string();

    let values = db.every_value().await;
    assert!(
        !values.iter().any(|(_, _, v)| v == &tg || v == WA_PERSON),
        "no column keeps the chat id or the number as an integer (quote() marks text with \
         quotes): else its integer encoding must be looked for too"
    );
    let needles: Vec<String> = vec![WA_PERSON.into(), tg, traces.reply_id.clone()];
    let before = raw_database(&db);
    for needle in &needles {
        assert!(
            holds(&before, needle.as_bytes()),
            "{needle} is in the files before /delete (else the search proves nothing)"
        );
    }

    both_confirm_their_erasure(&svc, &mut traces).await;

    let db = &db;
    let needles = &needles;
    wait_until(
        Duration::from_secs(15),
        "no byte of the chat id, the number or a message id left in the database or its log",
        || async move {
            let raw = raw_database(db);
            !needles.iter().any(|n| holds(&raw, n.as_bytes()))
        },
    )
    .await;
}

/// On Postgres a deleted row stays in its table as a dead tuple until a vacuum: housekeeping
/// vacuums what an erase deleted from at its next round, and not before there was one.
#[tokio::test]
async fn after_delete_housekeeping_vacuums_what_the_erase_deleted_from_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let svc = Service::start(&db, false, &[]).await;
    let mut traces = people_who_left_traces_everywhere(&svc).await;
    let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
    let vacuumed = |pool: sqlx::PgPool| async move {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT relname::text FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL \
             ORDER BY relname",
        )
        .fetch_all(&pool)
        .await
        .expect("statistics");
        rows.into_iter().map(|(t,)| t).collect::<Vec<String>>()
    };
    assert_eq!(
        vacuumed(pool.clone()).await,
        Vec::<String>::new(),
        "housekeeping ran, but nothing was erased yet: no vacuum"
    );

    both_confirm_their_erasure(&svc, &mut traces).await;

    let erased_from = [
        "confirmations",
        "deliveries",
        "early_statuses",
        "inbound_messages",
        "subscriber_areas",
        "subscriber_places",
        "subscribers",
        "subscriptions",
    ];
    wait_until(
        Duration::from_secs(20),
        "every table the erase deleted from vacuumed",
        || {
            let pool = pool.clone();
            async move { vacuumed(pool).await == erased_from }
        },
    )
    .await;
    pool.close().await;
}

/// The database and its -wal and -shm hold chat ids, numbers and the pseudonym key: the
/// binary makes them readable by its own user only, whatever umask it was started with.
#[tokio::test]
async fn the_database_files_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("amtsbote.db");
    let port = free_port();
    let mut cmd = amtsbote();
    cmd.env(
        "AMTSBOTE_DATABASE_URL",
        format!("sqlite://{}?mode=rwc", file.display()),
    )
    .env("AMTSBOTE_HTTP_LISTEN", format!("127.0.0.1:{port}"))
    .stderr(std::process::Stdio::null())
    .arg("run");
    // As a shell with the common umask starts it: files would be 0644.
    // SAFETY: umask is async-signal-safe and touches nothing of the parent.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("amtsbote run");
    crate::helpers::wait_ready(port).await;
    // While the service holds the database open, its log and shared memory are there too.
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", file.display());
        let mode = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{path} has mode {:o}", mode & 0o777);
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
}

async fn message_ids_are_keyed_hashes_claimed_once_and_forgotten_after_seven_days(db: TestDb) {
    let store = db.store.clone();
    let wa = ChannelKind::Whatsapp;
    let now = now_ms();
    let id = wamid(WA_PERSON);
    assert!(store.claim_inbound(wa, WA_PERSON, &id, now).await.unwrap());
    assert!(
        !store
            .claim_inbound(wa, WA_PERSON, &id, now + 1000)
            .await
            .unwrap(),
        "being handled: a second delivery of the webhook waits"
    );
    store
        .inbound_handled(wa, WA_PERSON, &id, now)
        .await
        .unwrap();
    assert!(
        !store
            .claim_inbound(wa, WA_PERSON, &id, now + 3 * 24 * 3600 * 1000)
            .await
            .unwrap(),
        "handled: Meta's retry days later is ignored"
    );

    let died = wamid(WA_PERSON);
    assert!(
        store
            .claim_inbound(wa, WA_PERSON, &died, now)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_inbound(wa, WA_PERSON, &died, now + INBOUND_CLAIM_MS + 1)
            .await
            .unwrap(),
        "a claim whose handler died goes stale"
    );
    let failed = wamid(WA_PERSON);
    assert!(
        store
            .claim_inbound(wa, WA_PERSON, &failed, now)
            .await
            .unwrap()
    );
    store.release_inbound(&failed).await.unwrap();
    assert!(
        store
            .claim_inbound(wa, WA_PERSON, &failed, now + 1)
            .await
            .unwrap(),
        "a failed handling lets the retry through"
    );

    for (table, column, value) in db.every_value().await {
        assert!(
            !value.contains(WA_PERSON) && !value.contains(id.trim_start_matches("wamid.")),
            "{table}.{column} holds the number or the message id: {value}"
        );
    }

    // Housekeeping forgets what came before Meta's retry window.
    let old = wamid(WA_PERSON);
    let eight_days_ago = now - 8 * 24 * 3600 * 1000;
    assert!(
        store
            .claim_inbound(wa, WA_PERSON, &old, eight_days_ago)
            .await
            .unwrap()
    );
    store
        .inbound_handled(wa, WA_PERSON, &old, eight_days_ago)
        .await
        .unwrap();
    assert!(!store.claim_inbound(wa, WA_PERSON, &old, now).await.unwrap());
    let _app = spawn_app(store.clone(), test_lane(0), test_lane(0)).await;
    let (s, o) = (store.clone(), old.clone());
    wait_until(
        Duration::from_secs(10),
        "the old message id forgotten",
        move || {
            let (s, o) = (s.clone(), o.clone());
            async move { s.claim_inbound(wa, WA_PERSON, &o, now_ms()).await.unwrap() }
        },
    )
    .await;
    assert!(
        !store
            .claim_inbound(wa, WA_PERSON, &id, now_ms())
            .await
            .unwrap(),
        "a message inside the window is still remembered"
    );
}

#[tokio::test]
async fn message_ids_are_keyed_hashes_claimed_once_and_forgotten_after_seven_days_on_sqlite() {
    message_ids_are_keyed_hashes_claimed_once_and_forgotten_after_seven_days(
        TestDb::sqlite().await,
    )
    .await;
}

#[tokio::test]
async fn message_ids_are_keyed_hashes_claimed_once_and_forgotten_after_seven_days_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        message_ids_are_keyed_hashes_claimed_once_and_forgotten_after_seven_days(db).await;
    }
}

#[tokio::test]
async fn a_webhook_that_fails_before_its_message_is_recorded_lets_metas_retry_through() {
    let db = TestDb::sqlite().await;
    let svc = Service::start(&db, false, &[]).await;
    // Opening the person's 24-hour window fails: the last write of handling a message.
    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER window_fails BEFORE UPDATE OF last_inbound_at ON subscribers \
         BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
    )
    .execute(&pool)
    .await
    .unwrap();
    let start = says_with_id(WA_PERSON, "start", &wamid(WA_PERSON));
    assert_eq!(
        svc.webhook(&start).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "not acknowledged: Meta will retry"
    );
    sqlx::query("DROP TRIGGER window_fails")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(svc.webhook(&start).await, StatusCode::OK, "Meta's retry");
    let welcome = message_to(&svc.sim, WA_PERSON, "Willkommen").await;
    assert!(welcome.text.contains("Warnungen"));
    let (window,): (Option<i64>,) =
        sqlx::query_as("SELECT last_inbound_at FROM subscribers WHERE address = $1")
            .bind(WA_PERSON)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(window.is_some(), "the window is open");
    assert_eq!(svc.webhook(&start).await, StatusCode::OK);
    assert_eq!(
        svc.sim
            .received()
            .iter()
            .filter(|r| &*r.address == WA_PERSON && r.text.contains("Willkommen"))
            .count(),
        1,
        "handled once it was recorded, and not again"
    );
}
