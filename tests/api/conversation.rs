//! The conversation, channel-independent: citizens subscribe and leave, staff preview and
//! confirm, and what they confirm reaches exactly the right people.

use std::time::Duration;

use amtsbote::conversation::{Conversation, Incoming, Input, Reply};
use amtsbote::domain::{ChannelKind, Role, SubscriberStatus};
use sqlx::{Column, Row};

use std::sync::Arc;

use amtsbote::domain::BroadcastStatus;

use crate::helpers::{
    TestApp, TestDb, ask_approvers, confirm_code, message_to, reply_text, says, spawn_app,
    test_lane,
};

fn conversation(app: &TestApp, second_approval: bool) -> Conversation {
    crate::helpers::conversation_of(app, second_approval)
}

fn presses(who: &str, data: &str) -> Incoming {
    Incoming {
        input: Input::Button {
            data: data.into(),
            callback_id: Some("cb1".into()),
            message_id: Some("77".into()),
        },
        ..says(who, "")
    }
}

/// The confirmation code in a preview ("/confirm CODE").
fn code_in(replies: &[Reply]) -> String {
    confirm_code(&texts_of(replies))
}

fn texts_of(replies: &[Reply]) -> String {
    reply_text(replies)
}

#[tokio::test]
async fn citizens_pick_topics_and_an_announcement_reaches_only_its_topic() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let talk = conversation(&app, false);
    for who in ["101", "102", "103"] {
        let r = talk.handle(&says(who, "/start")).await;
        assert!(texts_of(&r).contains("Welcome"), "{r:?}");
    }
    let toggled = talk.handle(&presses("101", "t:news")).await;
    assert!(matches!(&toggled[0], Reply::AnswerButton { .. }));
    assert!(
        matches!(&toggled[1], Reply::Edit { message_id, .. } if message_id == "77"),
        "updated in place"
    );
    let r = talk.handle(&says("102", "/subscribe Traffic")).await;
    assert!(texts_of(&r).contains("You now receive: Traffic"));
    let r = talk.handle(&says("103", "/subscribe weather")).await;
    assert!(texts_of(&r).contains(
        "Unknown topic “weather”. Topics: News (news), Traffic (traffic), Alerts (alerts)"
    ));
    let r = talk.handle(&says("103", "what is this?")).await;
    assert!(texts_of(&r).contains("/help"));

    db.store
        .set_staff(ChannelKind::Telegram, "900", Role::Press, None)
        .await
        .unwrap();
    let preview = talk
        .handle(&says("900", "/announce news Hauptstraße ab 9 Uhr gesperrt"))
        .await;
    let shown = texts_of(&preview);
    assert!(
        shown.contains("Hauptstraße ab 9 Uhr gesperrt")
            && shown.contains("Recipients: 1 (Telegram 1, WhatsApp 0)"),
        "{shown}"
    );
    let drafts = db.store.list_broadcasts(10).await.unwrap();
    assert_eq!(drafts.len(), 1, "the preview is a draft row");
    assert_eq!(drafts[0].status, amtsbote::domain::BroadcastStatus::Draft);
    assert_eq!(
        db.store
            .broadcast_stats(drafts[0].id)
            .await
            .unwrap()
            .total(amtsbote::domain::DeliveryStatus::Pending),
        0,
        "nothing is queued before confirmation"
    );
    let code = code_in(&preview);
    let confirmed = talk.handle(&presses("900", &format!("c:{code}"))).await;
    assert!(
        texts_of(&confirmed).contains("is released"),
        "{confirmed:?}"
    );
    let again = talk.handle(&says("900", &format!("/confirm {code}"))).await;
    assert!(
        texts_of(&again).contains("already used"),
        "a second click sends nothing"
    );

    let id = db.store.list_broadcasts(1).await.unwrap()[0].id;
    app.wait_done(id, Duration::from_secs(20)).await;
    let got = app.sim.received();
    let news: Vec<_> = got
        .iter()
        .filter(|r| &*r.text == "Hauptstraße ab 9 Uhr gesperrt")
        .collect();
    assert_eq!(news.len(), 1);
    assert_eq!(&*news[0].address, "101");
    let audit = db.store.audit_log(10).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "confirm" && e.actor == "telegram:900")
    );
}

#[tokio::test]
async fn people_who_are_not_staff_cannot_announce_or_alert() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let talk = conversation(&app, false);
    db.store
        .set_staff(ChannelKind::Telegram, "900", Role::Press, None)
        .await
        .unwrap();
    for (who, text, answer) in [
        ("555", "/announce news hi", "only city staff"),
        ("555", "/alert Feuer", "only city staff"),
        ("900", "/alert Feuer", "only the emergency team"),
        ("555", "/confirm ABCDEF", "only city staff"),
    ] {
        let r = talk.handle(&says(who, text)).await;
        assert!(texts_of(&r).contains(answer), "{who} {text}: {r:?}");
    }
    assert!(db.store.list_broadcasts(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn login_links_are_for_staff_and_only_when_the_dashboard_is_on() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    db.store
        .set_staff(ChannelKind::Telegram, "900", Role::Press, Some("Paula"))
        .await
        .unwrap();
    let off = conversation(&app, false);
    let r = off.handle(&says("900", "/login")).await;
    assert!(texts_of(&r).contains("not switched on"), "{r:?}");
    let on = Conversation {
        sign_in: Some(std::sync::Arc::new(amtsbote::services::SignIn::new(
            db.store.clone(),
            &url::Url::parse("https://amtsbote.example").unwrap(),
            std::sync::Arc::new(amtsbote::domain::time::SystemClock),
        ))),
        ..off
    };
    let r = on.handle(&says("555", "/login")).await;
    assert!(texts_of(&r).contains("only city staff"), "{r:?}");
    let r = on.handle(&says("900", "/dashboard")).await;
    assert!(
        texts_of(&r).contains("https://amtsbote.example/dashboard/login?token="),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_second_emergency_member_must_approve_an_alert_when_configured() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let talk = conversation(&app, true);
    talk.handle(&says("101", "/start")).await;
    db.store
        .set_staff(ChannelKind::Telegram, "901", Role::Emergency, None)
        .await
        .unwrap();
    db.store
        .set_staff(ChannelKind::Telegram, "902", Role::Emergency, None)
        .await
        .unwrap();
    db.store
        .set_staff(ChannelKind::Telegram, "903", Role::Press, None)
        .await
        .unwrap();

    let talk = Arc::new(talk);
    let preview = talk
        .handle(&says("901", "/alert Hochwasser am Neckar"))
        .await;
    assert!(texts_of(&preview).contains("another member of the emergency team must approve"));
    let code = code_in(&preview);
    // A press member cannot use the emergency preview's code, and the code stays valid.
    assert!(
        texts_of(&talk.handle(&says("903", &format!("/cancel {code}"))).await)
            .contains("may not do that with this code")
    );
    assert!(
        texts_of(&talk.handle(&says("903", &format!("/confirm {code}"))).await)
            .contains("may not do that with this code")
    );
    assert!(
        texts_of(&talk.handle(&says("901", &format!("/confirm {code}"))).await)
            .contains("awaits approval")
    );
    let alert = db.store.list_broadcasts(1).await.unwrap()[0].clone();
    assert_eq!(alert.status, BroadcastStatus::AwaitingApproval);
    assert_eq!(ask_approvers(&app, &talk).await, 1, "only 902 is asked");
    let request = message_to(&app.sim, "902", "Hochwasser am Neckar").await;
    let approve = confirm_code(&request.text);
    assert!(
        texts_of(
            &talk
                .handle(&says("901", &format!("/confirm {approve}")))
                .await
        )
        .contains("cannot approve your own")
    );
    assert!(
        texts_of(
            &talk
                .handle(&says("903", &format!("/confirm {approve}")))
                .await
        )
        .contains("may not do that with this code")
    );
    assert_eq!(
        db.store.broadcast(alert.id).await.unwrap().unwrap().status,
        BroadcastStatus::AwaitingApproval,
        "refusals leave it waiting"
    );
    assert!(
        texts_of(
            &talk
                .handle(&says("902", &format!("/confirm {approve}")))
                .await
        )
        .contains("is approved")
    );
    app.wait_done(alert.id, Duration::from_secs(20)).await;
    let audit = db.store.audit_log(1).await.unwrap();
    assert_eq!(audit[0].action, "approve");
    assert!(audit[0].actor.contains("telegram:902"), "{:?}", audit[0]);

    // The all-clear goes to the alert's recipients, with the same preview and approval.
    let preview = talk
        .handle(&says(
            "902",
            &format!("/allclear {} Entwarnung: Pegel sinkt", alert.id),
        ))
        .await;
    assert!(texts_of(&preview).contains("Recipients: 1"));
    talk.handle(&says("902", &format!("/confirm {}", code_in(&preview))))
        .await;
    ask_approvers(&app, &talk).await;
    let request = message_to(&app.sim, "901", "Entwarnung: Pegel sinkt").await;
    talk.handle(&says(
        "901",
        &format!("/confirm {}", confirm_code(&request.text)),
    ))
    .await;
    let all_clear = db.store.list_broadcasts(1).await.unwrap()[0].clone();
    assert_eq!(all_clear.kind, amtsbote::domain::BroadcastKind::Allclear);
    app.wait_done(all_clear.id, Duration::from_secs(20)).await;
    assert_eq!(
        app.sim.count_text("Entwarnung: Pegel sinkt")[&ChannelKind::Telegram],
        1
    );
}

#[tokio::test]
async fn stop_blocks_and_delete_leave_the_right_traces() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let talk = conversation(&app, false);
    talk.handle(&says("4242", "/start")).await;
    talk.handle(&says("4242", "/stop")).await;
    let s = db
        .store
        .subscriber(ChannelKind::Telegram, "4242")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.status, SubscriberStatus::Stopped);
    talk.handle(&says("4243", "/start")).await;
    talk.handle(&Incoming {
        input: Input::Blocked,
        ..says("4243", "")
    })
    .await;
    let s = db
        .store
        .subscriber(ChannelKind::Telegram, "4243")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.status, SubscriberStatus::Gone);

    // Erasure: a delivery, a topic, a pending code — then nothing with the chat id anywhere.
    talk.handle(&says("4242", "/start")).await;
    db.store
        .set_staff(ChannelKind::Telegram, "900", Role::Press, None)
        .await
        .unwrap();
    let preview = talk.handle(&says("900", "/announce alerts x")).await;
    assert!(texts_of(&preview).contains("only the emergency team"));
    let preview = talk.handle(&says("900", "/announce news x")).await;
    talk.handle(&says("4242", "/subscribe news")).await;
    talk.handle(&says("900", &format!("/confirm {}", code_in(&preview))))
        .await;
    let id = db.store.list_broadcasts(1).await.unwrap()[0].id;
    app.wait_done(id, Duration::from_secs(20)).await;
    let ask = talk.handle(&says("4242", "/delete")).await;
    let text = texts_of(&ask);
    let at = text.find("/delete ").unwrap();
    let code = &text[at + 8..at + 14];
    assert!(
        texts_of(&talk.handle(&says("4242", "/delete WRONG1")).await).contains("wrong or expired")
    );
    assert!(
        texts_of(&talk.handle(&says("4242", &format!("/delete {code}"))).await).contains("erased")
    );
    assert_eq!(rows_mentioning(&db, "4242").await, Vec::<String>::new());
    assert!(
        !rows_mentioning(&db, "4243").await.is_empty(),
        "others are untouched"
    );
}

/// Every (table, column) of the SQLite schema holding `needle` as its value.
async fn rows_mentioning(db: &TestDb, needle: &str) -> Vec<String> {
    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(tables.len() >= 8, "{tables:?}");
    let mut found = Vec::new();
    for (table,) in tables {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM \"{table}\"")))
            .fetch_all(&pool)
            .await
            .unwrap();
        for row in rows {
            for (i, col) in row.columns().iter().enumerate() {
                let text = row
                    .try_get::<Option<String>, _>(i)
                    .ok()
                    .flatten()
                    .or_else(|| {
                        row.try_get::<Option<i64>, _>(i)
                            .ok()
                            .flatten()
                            .map(|v| v.to_string())
                    });
                if text.is_some_and(|t| t.contains(needle)) {
                    found.push(format!("{table}.{}", col.name()));
                }
            }
        }
    }
    found
}
