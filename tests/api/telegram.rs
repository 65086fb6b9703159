//! Telegram end to end through teloxide against the simulated Bot API: real update JSON from
//! tests/fixtures comes in through getUpdates, the bot answers with sendMessage, edits and button
//! answers, and confirmed broadcasts reach exactly the right chats.

use std::sync::Arc;
use std::time::Duration;

use amtsbote::channels::telegram::{TelegramChannel, bot};
use amtsbote::channels::{Channel, Outgoing, SendOutcome, telegram_updates};
use amtsbote::domain::{BroadcastKind, ChannelKind, Priority, Role, SubscriberStatus};
use amtsbote::i18n::Texts;
use amtsbote::simulator::{Fault, Simulator};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, TestDb, message_to, new_broadcast, seed, spawn_app, test_lane, wait_until,
};

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/telegram/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// The recorded /start update, as if `user` had typed `text`.
pub(crate) fn message(user: i64, text: &str) -> Value {
    let mut u = fixture("update_message_start_command.json");
    u["message"]["from"]["id"] = json!(user);
    u["message"]["chat"]["id"] = json!(user);
    u["message"]["text"] = json!(text);
    u["message"]["entities"] = json!([]);
    u
}

/// The recorded button press, as if `user` had pressed a button carrying `data`.
pub(crate) fn press(user: i64, data: &str) -> Value {
    let mut u = fixture("update_callback_query.json");
    u["callback_query"]["from"]["id"] = json!(user);
    u["callback_query"]["message"]["chat"]["id"] = json!(user);
    u["callback_query"]["data"] = json!(data);
    u
}

/// Starts Telegram polling on the app's simulator; returns the conversation's settings.
fn start_polling(app: &TestApp, second_approval: bool) {
    let texts = Arc::new(Texts::load().unwrap());
    let conversation = Arc::new(crate::helpers::conversation_of(app, second_approval));
    let client = amtsbote::channels::http_client(Duration::from_secs(5), 2).unwrap();
    let bot = bot(
        client,
        &app.sim.telegram_url,
        &SecretString::from("42:test-token"),
    )
    .unwrap();
    tokio::spawn(telegram_updates::run(
        telegram_updates::UpdateHandling {
            bot,
            conversation,
            store: app.store.clone(),
            texts,
            intake: amtsbote::channels::intake::Intake::start_default(app.shutdown.clone()),
            pace: crate::helpers::paces_of(app).telegram,
        },
        app.shutdown.clone(),
    ));
}

/// Waits for the bot's message to `chat` containing `needle`; returns its text and markup.
async fn reply_to(sim: &Simulator, chat: i64, needle: &str) -> (String, Option<Value>) {
    let r = message_to(sim, &chat.to_string(), needle).await;
    (r.text.to_string(), r.markup.map(|m| (*m).clone()))
}

/// The callback data of the first button whose data starts with `prefix`.
fn button(markup: &Option<Value>, prefix: &str) -> String {
    let rows = markup
        .as_ref()
        .and_then(|m| m["inline_keyboard"].as_array())
        .expect("buttons");
    rows.iter()
        .flat_map(|r| r.as_array().unwrap().iter())
        .filter_map(|b| b["callback_data"].as_str())
        .find(|d| d.starts_with(prefix))
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_citizen_subscribes_and_a_confirmed_announcement_reaches_each_subscriber_once() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    start_polling(&app, false);
    db.store
        .set_staff(ChannelKind::Telegram, "900", Role::Press, None)
        .await
        .unwrap();

    app.sim.push_update(message(1443186301, "/start"));
    let (_, markup) = reply_to(&app.sim, 1443186301, "Your topics").await;
    assert_eq!(button(&markup, "t:news"), "t:news");
    app.sim.push_update(message(2000, "/start"));
    reply_to(&app.sim, 2000, "Your topics").await;
    app.sim.push_update(press(1443186301, "t:news"));
    let store = db.store.clone();
    wait_until(Duration::from_secs(20), "news switched on", || {
        let store = store.clone();
        async move {
            let s = store
                .subscriber(ChannelKind::Telegram, "1443186301")
                .await
                .unwrap();
            s.is_some_and(|s| s.topics.contains(&"news".to_string()))
        }
    })
    .await;
    // The keyboard's edit goes out after the change is stored: wait for it.
    let sim = app.sim.clone();
    wait_until(
        Duration::from_secs(20),
        "the keyboard updates in place",
        || {
            let sim = sim.clone();
            async move { sim.calls().iter().any(|c| c.method == "editmessagetext") }
        },
    )
    .await;
    let calls = app.sim.calls();
    assert!(calls.iter().any(|c| c.method == "answercallbackquery"));

    app.sim
        .push_update(message(900, "/announce news Laternenfest am Freitag"));
    let (preview, markup) = reply_to(&app.sim, 900, "Laternenfest am Freitag").await;
    assert!(
        preview.contains("Recipients: 1 (Telegram 1, WhatsApp 0)"),
        "{preview}"
    );
    app.sim.push_update(press(900, &button(&markup, "c:")));
    reply_to(&app.sim, 900, "is released").await;
    let id = db.store.list_broadcasts(1).await.unwrap()[0].id;
    app.wait_done(id, Duration::from_secs(20)).await;
    let got: Vec<_> = app
        .sim
        .received()
        .into_iter()
        .filter(|r| &*r.text == "Laternenfest am Freitag")
        .collect();
    assert_eq!(got.len(), 1);
    assert_eq!(&*got[0].address, "1443186301");

    // In a group the bot stays silent, even to staff.
    let mut in_group = message(900, "/announce news Gruppe");
    in_group["message"]["chat"] = json!({"id": -100123, "type": "supergroup", "title": "Rathaus"});
    app.sim.push_update(in_group);
    app.sim.push_update(message(2000, "/help"));
    reply_to(&app.sim, 2000, "/topics").await;
    assert!(!app.sim.received().iter().any(|r| &*r.address == "-100123"));
    assert_eq!(db.store.list_broadcasts(10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_command_menu_is_registered_in_german_and_english_and_blocking_marks_gone() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    start_polling(&app, false);
    app.sim.push_update(message(0, "/start"));
    reply_to(&app.sim, 0, "Welcome").await;
    app.sim
        .push_update(fixture("update_my_chat_member_kicked.json"));
    let store = db.store.clone();
    wait_until(
        Duration::from_secs(20),
        "the subscriber who blocked the bot is gone",
        || {
            let store = store.clone();
            async move {
                let s = store.subscriber(ChannelKind::Telegram, "0").await.unwrap();
                s.is_some_and(|s| s.status == SubscriberStatus::Gone)
            }
        },
    )
    .await;
    let menus: Vec<_> = app
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.method == "setmycommands")
        .collect();
    assert_eq!(menus.len(), 2);
    assert!(menus.iter().any(|m| m.body["language_code"] == "en"));
    assert!(menus.iter().any(|m| {
        m.body["commands"][0]["description"]
            .as_str()
            .unwrap()
            .contains("Abonnieren")
    }));
}

#[tokio::test]
async fn an_alert_confirmed_in_the_chat_overtakes_a_draining_news_broadcast() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 5000, 0, &["news", "alerts"]).await;
    db.store
        .set_staff(ChannelKind::Telegram, "901", Role::Emergency, None)
        .await
        .unwrap();
    let app = spawn_app(db.store.clone(), test_lane(1000), test_lane(0)).await;
    start_polling(&app, false);
    let news = app
        .release(new_broadcast("news", Priority::Normal, "news"))
        .await;
    let sim = app.sim.clone();
    wait_until(Duration::from_secs(20), "news under way", || {
        let sim = sim.clone();
        async move { sim.count_text("news")[&ChannelKind::Telegram] >= 300 }
    })
    .await;
    app.sim
        .push_update(message(901, "/alert Gasaustritt in der Altstadt"));
    let (_, markup) = reply_to(&app.sim, 901, "Gasaustritt").await;
    let confirmed_at = app.sim.elapsed();
    app.sim.push_update(press(901, &button(&markup, "c:")));
    reply_to(&app.sim, 901, "is released").await;
    let alert = db.store.list_broadcasts(1).await.unwrap()[0].clone();
    assert_eq!(alert.kind, BroadcastKind::Alert);
    app.wait_done(alert.id, Duration::from_secs(30)).await;
    app.wait_done(news, Duration::from_secs(30)).await;

    let received = app.sim.received();
    let text = "Gasaustritt in der Altstadt";
    let last_alert = received
        .iter()
        .filter(|r| &*r.text == text)
        .map(|r| r.at)
        .max()
        .unwrap();
    let news_before_confirm = received
        .iter()
        .filter(|r| &*r.text == "news" && r.at <= confirmed_at)
        .count();
    let news_meanwhile = received
        .iter()
        .filter(|r| &*r.text == "news" && r.at > confirmed_at && r.at < last_alert)
        .count();
    assert!(news_before_confirm < 4000, "the news was still draining");
    // Between the confirmation and the last alert only what was in flight, plus the news sent
    // while the button press travelled through polling (about 100 ms at 1000/s).
    assert!(
        news_meanwhile <= 400,
        "{news_meanwhile} news went out while the alert was sending"
    );
    let count = |t: &str| received.iter().filter(|r| &*r.text == t).count();
    assert_eq!((count("news"), count(text)), (5000, 5000));
}

#[tokio::test]
async fn recorded_telegram_errors_are_classified_through_teloxide() {
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sim = Simulator::start(shutdown.clone()).await.unwrap();
    let client = amtsbote::channels::http_client(Duration::from_secs(5), 2).unwrap();
    let channel = TelegramChannel::new(
        client,
        &sim.telegram_url,
        SecretString::from("42:secret-token"),
    )
    .unwrap();
    let out = Outgoing {
        address: "1000".into(),
        text: "Hallo <Welt> & Stadt".into(),
        kind: BroadcastKind::Announcement,
        priority: Priority::Normal,
        silent: true,
        language: "de".into(),
        last_inbound_at: None,
        force_template: false,
        reply_to: None,
        edit: None,
        notice: true,
        media: None,
    };
    let raw = |name: &str| {
        std::fs::read(format!(
            "{}/tests/fixtures/telegram/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    for (status, name) in [
        (403, "error_403_bot_blocked_by_user.json"),
        (403, "error_403_user_is_deactivated.json"),
        (400, "error_400_chat_not_found.json"),
    ] {
        sim.inject(
            ChannelKind::Telegram,
            Fault::Respond {
                status,
                body: raw(name),
            },
            1,
        );
        let outcome = channel.send(&out).await;
        assert!(
            matches!(outcome, SendOutcome::RecipientGone(_)),
            "{name}: {outcome:?}"
        );
    }
    sim.inject(
        ChannelKind::Telegram,
        Fault::Respond {
            status: 429,
            body: raw("error_429_too_many_requests.json"),
        },
        1,
    );
    assert!(
        matches!(channel.send(&out).await, SendOutcome::LaneThrottled { after, .. } if after == Duration::from_secs(2282))
    );
    sim.inject(
        ChannelKind::Telegram,
        Fault::Respond {
            status: 400,
            body: raw("error_400_group_chat_migrated.json"),
        },
        1,
    );
    assert_eq!(
        channel.send(&out).await,
        SendOutcome::Moved {
            address: "-123456789".into()
        }
    );

    assert!(matches!(
        channel.send(&out).await,
        SendOutcome::Sent {
            platform_id: Some(_)
        }
    ));
    let sent = sim.received().pop().unwrap();
    assert_eq!(
        &*sent.text, "Hallo &lt;Welt&gt; &amp; Stadt",
        "escaped for HTML parse mode"
    );
    assert!(sent.silent);

    // Nothing the adapter reports carries the token, whatever fails.
    sim.inject(
        ChannelKind::Telegram,
        Fault::Hang(Duration::from_secs(10)),
        1,
    );
    let slow = amtsbote::channels::http_client(Duration::from_millis(200), 2).unwrap();
    let impatient = TelegramChannel::new(
        slow,
        &sim.telegram_url,
        SecretString::from("42:secret-token"),
    )
    .unwrap();
    let outcome = impatient.send(&out).await;
    assert!(
        matches!(&outcome, SendOutcome::Transient(t) if !t.contains("secret-token")),
        "{outcome:?}"
    );
    shutdown.cancel();
}
