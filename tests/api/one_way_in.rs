//! One way in: every entry point (API over HTTP, chat through the simulated platforms, CLI as a
//! process) goes through the same broadcast service and policy, on the whole service as `run`
//! starts it. Each test is a refusal that was once let through.

use std::time::Duration;

use amtsbote::domain::{BroadcastStatus, ChannelKind, Role};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    EMERGENCY_TOKEN, PRESS_TOKEN, Service, TestDb, amtsbote, button, confirm_code, message_to, seed,
};
use crate::telegram::{message, press};

crate::helpers::on_both_stores!(
    an_alert_from_a_persons_token_is_that_persons_and_only_another_person_approves_it,
    a_token_bound_to_nobody_may_not_alert_under_the_two_person_rule,
);

/// Waits until `to` got `n` messages containing `needle`.
async fn wait_for_count(svc: &Service, to: &str, needle: &str, n: usize) {
    let (sim, to, needle) = (svc.sim.clone(), to.to_string(), needle.to_string());
    crate::helpers::wait_until(Duration::from_secs(20), "the replies", move || {
        let (sim, to, needle) = (sim.clone(), to.clone(), needle.clone());
        async move {
            sim.received()
                .iter()
                .filter(|r| *r.address == to && r.text.contains(&needle))
                .count()
                >= n
        }
    })
    .await;
}

async fn staff(db: &TestDb, channel: ChannelKind, address: &str, role: Role, person: Option<&str>) {
    db.store
        .set_staff(channel, address, role, person)
        .await
        .expect("staff added");
}

/// An alert from the emergency token, waiting for a second person; its id.
async fn alert_awaiting_approval(svc: &Service, text: &str) -> i64 {
    let (status, created) = svc
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            EMERGENCY_TOKEN,
            Some(json!({"topic": "alerts", "text": text})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "awaiting_approval");
    created["id"].as_i64().expect("an id")
}

/// An alert planned far ahead by the emergency token; its id.
async fn scheduled_alert(svc: &Service) -> i64 {
    let (status, alert) = svc
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            EMERGENCY_TOKEN,
            Some(json!({"topic": "alerts", "text": "Sirenenprobe", "scheduled_at": "2099-01-01T10:00:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    assert_eq!(alert["status"], "scheduled");
    alert["id"].as_i64().expect("an id")
}

#[tokio::test]
async fn a_press_token_cannot_cancel_an_emergency_alert_and_leaves_it_untouched() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 2, 0, &["alerts"]).await;
    let svc = Service::start(&db, false, &[]).await;
    let id = scheduled_alert(&svc).await;
    let cancel = format!("/api/v1/broadcasts/{id}/cancel");

    let (status, refused) = svc.api(Method::POST, &cancel, PRESS_TOKEN, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("emergency"))
    );
    let kept = db.store.broadcast(id).await.unwrap().unwrap();
    assert_eq!(kept.status, BroadcastStatus::Scheduled, "left untouched");

    let (status, cancelled) = svc.api(Method::POST, &cancel, EMERGENCY_TOKEN, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cancelled["status"], "cancelled");
    let audit = db.store.audit_log(1).await.unwrap();
    assert_eq!(
        (audit[0].actor.as_str(), audit[0].action.as_str()),
        ("api:emergency", "cancel")
    );
}

#[tokio::test]
async fn press_staff_cannot_stop_or_unschedule_an_alert_in_the_chat() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 2, 0, &["alerts"]).await;
    staff(&db, ChannelKind::Telegram, "903", Role::Press, None).await;
    let svc = Service::start(&db, false, &[]).await;
    let id = scheduled_alert(&svc).await;
    svc.sim
        .push_update(message(903, &format!("/stop_broadcast {id}")));
    message_to(&svc.sim, "903", "only the emergency team").await;
    svc.sim
        .push_update(message(903, &format!("/unschedule {id}")));
    wait_for_count(&svc, "903", "Nothing was changed", 2).await;
    assert_eq!(
        db.store.broadcast(id).await.unwrap().unwrap().status,
        BroadcastStatus::Scheduled
    );
}

#[tokio::test]
async fn a_press_members_cancel_voids_neither_an_emergency_code_nor_a_citizens_erase_code() {
    let db = TestDb::sqlite().await;
    staff(&db, ChannelKind::Telegram, "901", Role::Emergency, None).await;
    staff(&db, ChannelKind::Telegram, "903", Role::Press, None).await;
    let svc = Service::start(&db, false, &[]).await;
    svc.sim.push_update(message(7001, "/start"));
    message_to(&svc.sim, "7001", "Your topics").await;
    svc.sim.push_update(message(7001, "/delete"));
    let erase = message_to(&svc.sim, "7001", "erases everything").await;
    let erase_code = button(&erase.markup, "d:")
        .trim_start_matches("d:")
        .to_string();

    svc.sim
        .push_update(message(901, "/alert Gasaustritt Hauptstraße"));
    let preview = message_to(&svc.sim, "901", "Gasaustritt").await;
    let code = confirm_code(&preview.text);
    for c in [&code, &erase_code] {
        svc.sim.push_update(message(903, &format!("/cancel {c}")));
    }
    message_to(&svc.sim, "903", "stays valid").await;
    message_to(&svc.sim, "903", &erase_code).await;

    // Both codes still work for the people they belong to.
    svc.sim
        .push_update(press(901, &button(&preview.markup, "c:")));
    message_to(&svc.sim, "901", "on its way").await;
    svc.sim
        .push_update(message(7001, &format!("/delete {erase_code}")));
    message_to(&svc.sim, "7001", "erased").await;
    assert!(
        db.store
            .subscriber(ChannelKind::Telegram, "7001")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn the_two_person_rule_compares_people_not_addresses() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 3, 0, &["alerts"]).await;
    staff(
        &db,
        ChannelKind::Telegram,
        "901",
        Role::Emergency,
        Some("Anna"),
    )
    .await;
    staff(
        &db,
        ChannelKind::Whatsapp,
        "491700000901",
        Role::Emergency,
        Some("Anna"),
    )
    .await;
    staff(
        &db,
        ChannelKind::Telegram,
        "902",
        Role::Emergency,
        Some("Bert"),
    )
    .await;
    let svc = Service::start(&db, true, &[]).await;

    svc.sim
        .push_update(message(901, "/alert Hochwasser am Neckar"));
    let preview = message_to(&svc.sim, "901", "Hochwasser am Neckar").await;
    svc.sim
        .push_update(press(901, &button(&preview.markup, "c:")));
    message_to(&svc.sim, "901", "awaits approval").await;
    let request = message_to(&svc.sim, "902", "Hochwasser am Neckar").await;
    let approve = confirm_code(&request.text);
    let to_anna: Vec<_> = svc
        .sim
        .received()
        .into_iter()
        .filter(|r| &*r.address == "491700000901")
        .map(|r| r.text.to_string())
        .collect();
    assert!(
        to_anna.is_empty(),
        "Anna is not asked on her other address: {to_anna:?}"
    );
    let alert = db.store.list_broadcasts(1).await.unwrap()[0].clone();
    assert_eq!(alert.status, BroadcastStatus::AwaitingApproval);

    // Anna, from WhatsApp, with the approval code: still Anna.
    let status = svc
        .webhook(&crate::whatsapp::says(
            "491700000901",
            &format!("confirm {approve}"),
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    message_to(&svc.sim, "491700000901", "nicht selbst freigeben").await;
    assert_eq!(
        db.store.broadcast(alert.id).await.unwrap().unwrap().status,
        BroadcastStatus::AwaitingApproval
    );

    svc.sim
        .push_update(press(902, &button(&request.markup, "c:")));
    message_to(&svc.sim, "902", "approved and on its way").await;
    svc.wait_done(alert.id, Duration::from_secs(20)).await;
    assert_eq!(
        svc.sim.count_text("Hochwasser am Neckar")[&ChannelKind::Telegram],
        3,
        "each of the three citizens once"
    );
    let approved = db.store.broadcast(alert.id).await.unwrap().unwrap();
    assert_eq!(approved.approved_by.as_deref(), Some("person:Bert"));
    let mut svc = svc;
    svc.stop().await;
}

#[tokio::test]
async fn an_alert_from_the_api_waits_for_a_person_and_the_emergency_staff_are_asked() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 2, 1, &["alerts"]).await;
    staff(&db, ChannelKind::Telegram, "902", Role::Emergency, None).await;
    staff(&db, ChannelKind::Telegram, "903", Role::Press, None).await;
    // The token is Lea's, who has no chat address: everyone else may approve.
    let svc = Service::start(&db, true, &[("AMTSBOTE_API_EMERGENCY_TOKEN_PERSON", "Lea")]).await;
    let id = alert_awaiting_approval(&svc, "Stromausfall Weststadt").await;
    // The API cannot approve: an approval is a person's.
    let (status, _) = svc
        .api(
            Method::POST,
            &format!("/api/v1/broadcasts/{id}/confirm"),
            EMERGENCY_TOKEN,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let request = message_to(&svc.sim, "902", "Stromausfall Weststadt").await;
    assert!(
        !svc.sim.received().iter().any(|r| &*r.address == "903"),
        "press staff are not asked"
    );
    svc.sim
        .push_update(press(902, &button(&request.markup, "c:")));
    svc.wait_done(id, Duration::from_secs(20)).await;
    assert_eq!(
        svc.sim.count_text("Stromausfall Weststadt"),
        [(ChannelKind::Telegram, 2), (ChannelKind::Whatsapp, 1)].into(),
        "{:?}",
        svc.sim.received()
    );
}

#[tokio::test]
async fn follow_ups_need_a_released_alert_and_reach_only_those_who_were_due_it() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 2, 0, &["alerts", "news"]).await;
    let svc = Service::start(&db, false, &[]).await;
    let post = |body: serde_json::Value| {
        svc.api(
            Method::POST,
            "/api/v1/broadcasts",
            EMERGENCY_TOKEN,
            Some(body),
        )
    };
    let (status, e) =
        post(json!({"topic": "alerts", "kind": "update", "text": "Lage unverändert"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(e["field"], "parent_id");
    let (_, news) = post(json!({"topic": "news", "text": "Markt"})).await;
    let (status, e) = post(
        json!({"topic": "alerts", "kind": "allclear", "text": "Vorbei", "parent_id": news["id"]}),
    )
    .await;
    assert_eq!(
        (status, e["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("parent_id"))
    );
    let (_, draft) = post(json!({"topic": "alerts", "text": "Entwurf", "draft": true})).await;
    let (status, _) = post(
        json!({"topic": "alerts", "kind": "allclear", "text": "Vorbei", "parent_id": draft["id"]}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a draft was never released"
    );

    let (_, alert) = post(json!({"topic": "alerts", "text": "Bombenfund"})).await;
    let alert_id = alert["id"].as_i64().expect("an id");
    svc.wait_done(alert_id, Duration::from_secs(20)).await;
    let (status, clear) = post(
        json!({"topic": "alerts", "kind": "allclear", "text": "Entschärft", "parent_id": alert_id}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{clear}");
    assert_eq!(clear["recipients"]["total"], 2);
    // A press token may not follow up at all.
    let (status, _) = svc
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            PRESS_TOKEN,
            Some(json!({"topic": "alerts", "kind": "update", "text": "x", "parent_id": alert_id})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_cli_sends_alerts_to_approval_when_configured_and_refuses_with_exit_2() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 1, 0, &["alerts"]).await;
    let cli = |args: &[&str]| {
        amtsbote()
            .env("AMTSBOTE_DATABASE_URL", &db.url)
            .env("AMTSBOTE_ALERTS_REQUIRE_SECOND_APPROVAL", "true")
            .args(args)
            .output()
    };
    let out = cli(&[
        "broadcast",
        "--topic",
        "alerts",
        "--text",
        "Probealarm",
        "--yes",
        "--json",
    ])
    .await
    .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(answer["status"], "awaiting_approval");
    let id = answer["id"].as_i64().expect("an id");
    assert_eq!(
        db.store.broadcast(id).await.unwrap().unwrap().status,
        BroadcastStatus::AwaitingApproval
    );
    let out = cli(&[
        "broadcast",
        "--topic",
        "alerts",
        "--kind",
        "update",
        "--text",
        "x",
        "--yes",
    ])
    .await
    .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--parent-id"));
    let out = cli(&["cancel", "999"]).await.expect("runs");
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn the_service_reads_the_time_from_its_clock() {
    use amtsbote::domain::Actor;
    use amtsbote::domain::time::{FixedClock, parse_time};
    use amtsbote::services::{ServiceError, Submission, When};
    let db = TestDb::sqlite().await;
    let berlin = chrono_tz::Europe::Berlin;
    let clock = std::sync::Arc::new(FixedClock::at(
        parse_time("2020-01-01 08:00", berlin).unwrap(),
    ));
    let service =
        std::sync::Arc::try_unwrap(crate::helpers::broadcasts_on(db.store.clone(), None, false))
            .ok()
            .expect("the only handle")
            .with_clock(clock.clone());
    let at = |t: &str| When::At(parse_time(t, berlin).unwrap().timestamp_millis());
    let plan = |when: When| Submission {
        attachment: None,
        target: None,
        topic: "news".into(),
        kind: None,
        priority: None,
        text: "Neujahrsempfang".into(),
        text_en: None,
        parent_id: None,
        when,
        draft: false,
        idempotency_key: None,
    };
    let operator = Actor::Operator {
        user: "test".into(),
    };
    let planned = service
        .submit(&operator, plan(at("2020-01-02 10:00")))
        .await
        .unwrap();
    assert_eq!(planned.broadcast.status, BroadcastStatus::Scheduled);
    clock.set(parse_time("2020-01-03 08:00", berlin).unwrap());
    match service
        .submit(&operator, plan(at("2020-01-02 10:00")))
        .await
    {
        Err(ServiceError::Invalid { field, .. }) => assert_eq!(field, "scheduled_at"),
        other => panic!("a time in the clock's past is refused: {other:?}"),
    }
}

async fn an_alert_from_a_persons_token_is_that_persons_and_only_another_person_approves_it(
    db: TestDb,
) {
    seed(&*db.store, 2, 0, &["alerts"]).await;
    staff(
        &db,
        ChannelKind::Telegram,
        "901",
        Role::Emergency,
        Some("Anna"),
    )
    .await;
    staff(
        &db,
        ChannelKind::Telegram,
        "902",
        Role::Emergency,
        Some("Erika"),
    )
    .await;
    // The emergency token is Anna's key.
    let mut svc = Service::start(
        &db,
        true,
        &[("AMTSBOTE_API_EMERGENCY_TOKEN_PERSON", "Anna")],
    )
    .await;
    let id = alert_awaiting_approval(&svc, "Gasleck in der Bahnstadt").await;
    let alert = db.store.broadcast(id).await.unwrap().unwrap();
    assert_eq!(alert.author.as_deref(), Some("person:Anna"));
    let audit = db.store.audit_log(10).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "submit" && a.actor == "Anna (api:emergency)"),
        "the audit names the person behind the token: {audit:?}"
    );

    // Erika is asked; Anna is not: it is her own.
    let request = message_to(&svc.sim, "902", "Gasleck in der Bahnstadt").await;
    let code = confirm_code(&request.text);
    assert!(
        !svc.sim
            .received()
            .iter()
            .any(|r| &*r.address == "901" && r.text.contains("Gasleck")),
        "the author is not asked"
    );
    // Anna with the code in the chat: refused as her own.
    svc.sim
        .push_update(message(901, &format!("/confirm {code}")));
    message_to(&svc.sim, "901", "approve your own").await;
    // Through the API no token approves anything: an approval is a person's, in the chat.
    let (status, _) = svc
        .api(
            Method::POST,
            &format!("/api/v1/broadcasts/{id}/confirm"),
            EMERGENCY_TOKEN,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        db.store.broadcast(id).await.unwrap().unwrap().status,
        BroadcastStatus::AwaitingApproval
    );

    // Erika approves it.
    svc.sim
        .push_update(press(902, &button(&request.markup, "c:")));
    svc.wait_done(id, Duration::from_secs(20)).await;
    let approved = db.store.broadcast(id).await.unwrap().unwrap();
    assert_eq!(approved.approved_by.as_deref(), Some("person:Erika"));
    svc.stop().await;
}

async fn a_token_bound_to_nobody_may_not_alert_under_the_two_person_rule(db: TestDb) {
    seed(&*db.store, 2, 0, &["alerts", "news"]).await;
    staff(
        &db,
        ChannelKind::Telegram,
        "902",
        Role::Emergency,
        Some("Erika"),
    )
    .await;
    // Neither token is bound to a person.
    let mut svc = Service::start(&db, true, &[]).await;
    for (path, body) in [
        (
            "/api/v1/broadcasts",
            json!({"topic": "alerts", "text": "Gasleck"}),
        ),
        (
            "/api/v1/broadcasts",
            json!({"topic": "alerts", "text": "Gasleck", "draft": true}),
        ),
        ("/api/v1/drills", json!({"text": "Probealarm"})),
    ] {
        let (status, refused) = svc
            .api(Method::POST, path, EMERGENCY_TOKEN, Some(body))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {refused}");
        let why = refused["error"].as_str().unwrap_or_default();
        assert!(
            why.contains("two-person rule") && why.contains("bound to nobody"),
            "{why}"
        );
    }
    assert!(db.store.list_broadcasts(10).await.unwrap().is_empty());
    // What is not an alert needs no second person, and so no person.
    let (status, news) = svc
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            PRESS_TOKEN,
            Some(json!({"topic": "news", "text": "Wochenmarkt"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{news}");
    svc.stop().await;
}
