//! The chat side does not fall over: an update teloxide cannot read is skipped for good (the
//! service as a process, across a restart), a reply refused with 429 is sent again, a reply the
//! Bot API does not answer holds the chat up for a bounded time, and a WhatsApp approver outside
//! the 24-hour window is asked on another address or with the approval template.

use std::time::{Duration, Instant};

use amtsbote::domain::{BroadcastStatus, ChannelKind, Role};
use amtsbote::simulator::{Fault, Simulator};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::helpers::{
    Captured, EMERGENCY_TOKEN, Service, TestDb, amtsbote, confirm_code, message_to, wait_until,
};
use crate::telegram::message;
use crate::whatsapp::says;

/// Messages the simulators received for `to`.
fn messages_to(sim: &Simulator, to: &str) -> Vec<amtsbote::simulator::Received> {
    sim.received()
        .into_iter()
        .filter(|r| &*r.address == to)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_teloxide_cannot_read_is_skipped_and_not_met_again_after_a_restart() {
    let db = TestDb::sqlite().await;
    let logs = tempfile::tempdir().unwrap();
    let shutdown = CancellationToken::new();
    let sim = Simulator::start(shutdown.clone()).await.unwrap();
    // A reaction by neither a user nor a chat: teloxide-core 0.13 panics reading it.
    let reaction = sim.push_update(json!({"message_reaction": {
        "chat": {"id": 4711, "type": "private", "first_name": "Eva"},
        "message_id": 3, "date": 1_700_000_000,
        "old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": "👍"}]
    }}));
    // A message without a sender, and one whose chat is not a chat at all.
    let no_sender = sim.push_update(json!({"message": {
        "message_id": 4, "date": 1_700_000_000,
        "chat": {"id": 4711, "type": "private", "first_name": "Eva"}, "text": "/start"
    }}));
    let unreadable = sim.push_update(json!({"message": {
        "message_id": 5, "date": 1_700_000_000, "chat": "Geheimnis 0151 2345678", "text": "/start"
    }}));
    let start = sim.push_update(message(4712, "/start"));

    let service = |log: &str| {
        let log = std::fs::File::create(logs.path().join(log)).unwrap();
        let mut cmd = amtsbote();
        cmd.env("AMTSBOTE_DATABASE_URL", &db.url)
            .env("AMTSBOTE_TELEGRAM_TOKEN", "42:chat-test")
            .env("AMTSBOTE_TELEGRAM_API_URL", &sim.telegram_url)
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(log);
        cmd.arg("run").spawn().unwrap()
    };
    let stop = |child: &tokio::process::Child| {
        let pid = child.id().unwrap().to_string();
        async move {
            let term = tokio::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .await;
            assert!(term.unwrap().success());
        }
    };

    let mut first = service("first.log");
    message_to(&sim, "4712", "").await;
    assert!(
        first.try_wait().unwrap().is_none(),
        "the service still runs after the updates it cannot read"
    );
    let store = db.store.clone();
    wait_until(
        Duration::from_secs(10),
        "the offset stored past /start",
        || {
            let store = store.clone();
            async move {
                store
                    .channel_state("telegram.offset")
                    .await
                    .ok()
                    .flatten()
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|o| o > start)
            }
        },
    )
    .await;
    stop(&first).await;
    assert!(
        first.wait().await.unwrap().success(),
        "SIGTERM ends it cleanly"
    );
    assert!(
        messages_to(&sim, "4711").is_empty(),
        "a message without a sender gets no answer"
    );
    let log = std::fs::read_to_string(logs.path().join("first.log")).unwrap();
    assert!(
        log.contains("an update that cannot be read; skipped"),
        "{log}"
    );
    assert!(!log.contains("Geheimnis") && !log.contains("0151"), "{log}");

    // Telegram hands out an update in hand again until it is handled (the offset asked for
    // stays at it); after the restart none is handed out again.
    let first_run: Vec<usize> = [reaction, no_sender, unreadable, start]
        .iter()
        .map(|id| sim.handed_out(*id))
        .collect();
    let mut second = service("second.log");
    sim.push_update(message(4713, "/start"));
    message_to(&sim, "4713", "").await;
    assert!(second.try_wait().unwrap().is_none(), "the restart runs");
    for (id, before) in [reaction, no_sender, unreadable, start]
        .iter()
        .zip(first_run)
    {
        assert_eq!(
            sim.handed_out(*id),
            before,
            "update {id} not handed out again after the restart"
        );
    }
    for id in [reaction, no_sender, unreadable] {
        assert_eq!(sim.handed_out(id), 1, "update {id} skipped at once");
    }
    stop(&second).await;
    assert!(second.wait().await.unwrap().success());
    assert_eq!(
        messages_to(&sim, "4712").len(),
        2,
        "welcome and topics, once"
    );
    shutdown.cancel();
}

#[tokio::test]
async fn a_reply_refused_with_429_is_sent_again_after_retry_after() {
    let db = TestDb::sqlite().await;
    let mut svc = Service::start(&db, false, &[]).await;
    svc.sim.inject(
        ChannelKind::Telegram,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        1,
    );
    svc.sim.push_update(message(4801, "/help"));
    message_to(&svc.sim, "4801", "/start").await;
    assert_eq!(svc.sim.throttled_at().len(), 1, "the first try was refused");
    assert_eq!(messages_to(&svc.sim, "4801").len(), 1);
    svc.stop().await;
}

#[tokio::test]
async fn a_reply_the_bot_api_does_not_answer_holds_up_the_chat_for_five_seconds_at_most() {
    let db = TestDb::sqlite().await;
    let mut svc = Service::start(&db, false, &[]).await;
    svc.sim.inject(
        ChannelKind::Telegram,
        Fault::Hang(Duration::from_secs(60)),
        1,
    );
    svc.sim.push_update(message(4901, "/help"));
    let sim = svc.sim.clone();
    wait_until(Duration::from_secs(10), "the reply that hangs", move || {
        let sim = sim.clone();
        async move { sim.requests() >= 1 }
    })
    .await;
    let asked = Instant::now();
    svc.sim.push_update(message(4901, "/start"));
    svc.sim.push_update(message(4902, "/help"));
    // Another chat does not wait for it at all: chats are handled at once.
    message_to(&svc.sim, "4902", "/start").await;
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "another person waited {:?}",
        asked.elapsed()
    );
    // The same chat waits (its messages keep their order), but not for the polling client's
    // time-out (35 s).
    message_to(&svc.sim, "4901", "").await;
    assert!(
        asked.elapsed() < Duration::from_secs(12),
        "the next message of the chat waited {:?}",
        asked.elapsed()
    );
    assert!(
        asked.elapsed() >= Duration::from_secs(4),
        "it waited for the hung reply first: {:?}",
        asked.elapsed()
    );
    assert!(
        !messages_to(&svc.sim, "4901")
            .iter()
            .any(|m| m.text.contains("/delete")),
        "the hung reply (the help) is given up"
    );
    svc.stop().await;
}

async fn approvers_outside_the_window_are_asked_elsewhere_or_by_template(db: TestDb) {
    let staff = [
        (ChannelKind::Telegram, "911", "Eva"),
        (ChannelKind::Whatsapp, "4917000911", "Eva"),
        (ChannelKind::Whatsapp, "4917000912", "Jan"),
        (ChannelKind::Whatsapp, "4917000913", "Ole"),
    ];
    for (channel, address, person) in staff {
        db.store
            .set_staff(channel, address, Role::Emergency, Some(person))
            .await
            .unwrap();
    }
    let mut svc = Service::start(
        &db,
        true,
        &[
            ("AMTSBOTE_WHATSAPP_TEMPLATE_APPROVAL", "stadt_freigabe:de"),
            // The token is Lea's, who has no chat address: everyone else may approve.
            ("AMTSBOTE_API_EMERGENCY_TOKEN_PERSON", "Lea"),
        ],
    )
    .await;
    // Ole subscribed a moment ago: his window is open. Eva and Jan never wrote on WhatsApp.
    assert_eq!(
        svc.webhook(&says("4917000913", "START")).await,
        StatusCode::OK
    );
    let (status, created) = svc
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            EMERGENCY_TOKEN,
            Some(json!({"topic": "alerts", "text": "Deichbruch bei Ladenburg.\nBitte meiden."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();

    let eva = message_to(&svc.sim, "911", "Deichbruch").await;
    let code = confirm_code(&eva.text);
    let jan = message_to(&svc.sim, "4917000912", "Deichbruch").await;
    let template = jan.markup.clone().expect("a template");
    let template: &serde_json::Value = &template;
    assert_eq!(template["name"], "stadt_freigabe");
    assert_eq!(template["language"]["code"], "de");
    let parameters = &template["components"][0]["parameters"];
    assert_eq!(
        parameters[0]["text"], "Deichbruch bei Ladenburg. Bitte meiden.",
        "the text, made a valid parameter"
    );
    assert_eq!(parameters[1]["text"], code.as_str());
    let ole = message_to(&svc.sim, "4917000913", "Deichbruch").await;
    assert_eq!(
        ole.markup.expect("buttons")["type"],
        "button",
        "inside the window: free text with buttons"
    );
    assert!(
        messages_to(&svc.sim, "4917000911").is_empty(),
        "Eva is asked on Telegram only"
    );

    // Jan answers the template with the code; his message opens his window.
    assert_eq!(
        svc.webhook(&says("4917000912", &format!("/confirm {code}")))
            .await,
        StatusCode::OK
    );
    message_to(&svc.sim, "4917000912", "freigegeben").await;
    svc.wait_done(id, Duration::from_secs(20)).await;
    let approved = db.store.broadcast(id).await.unwrap().unwrap();
    assert_eq!(approved.status, BroadcastStatus::Done);
    assert_eq!(approved.approved_by.as_deref(), Some("person:Jan"));
    svc.stop().await;
}

#[tokio::test]
async fn whatsapp_approvers_outside_the_window_are_asked_elsewhere_or_by_template_sqlite() {
    approvers_outside_the_window_are_asked_elsewhere_or_by_template(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn whatsapp_approvers_outside_the_window_are_asked_elsewhere_or_by_template_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    approvers_outside_the_window_are_asked_elsewhere_or_by_template(db).await;
}

#[tokio::test]
async fn an_approver_outside_the_window_with_no_other_way_is_named_in_a_warning() {
    let (logs, _guard) = Captured::start();
    let db = TestDb::sqlite().await;
    db.store
        .set_staff(ChannelKind::Whatsapp, "4917000914", Role::Emergency, None)
        .await
        .unwrap();
    let mut svc =
        Service::start(&db, true, &[("AMTSBOTE_API_EMERGENCY_TOKEN_PERSON", "Lea")]).await;
    let (status, _) = svc
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            EMERGENCY_TOKEN,
            Some(json!({"topic": "alerts", "text": "Gasaustritt"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // Free text is still tried: the window of staff who are no subscribers is not known.
    message_to(&svc.sim, "4917000914", "Gasaustritt").await;
    let text = logs.text();
    let warning = text
        .lines()
        .find(|l| l.contains("AMTSBOTE_WHATSAPP_TEMPLATE_APPROVAL"))
        .unwrap_or_else(|| panic!("a warning naming the setting: {text}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        !warning.contains("4917000914"),
        "no number in the log: {warning}"
    );
    svc.stop().await;
}
