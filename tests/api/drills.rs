//! Drills: the whole alert path (preview, approval, alert priority), to the staff only, every
//! message marked "ÜBUNG / EXERCISE", the report to the author and in `amtsbote stats`.

use std::time::Duration;

use amtsbote::domain::{ChannelKind, Role};
use amtsbote::services::DrillReport;
use serde_json::json;

use crate::helpers::{
    EMERGENCY_TOKEN, PRESS_TOKEN, Service, TestDb, confirm_code, message_to, seed, wait_until,
};
use crate::telegram::message;

crate::helpers::on_both_stores!(a_drill_reaches_the_staff_only_marked_and_reports_to_its_author);

const MARK: &str = "ÜBUNG / EXERCISE";

async fn a_drill_reaches_the_staff_only_marked_and_reports_to_its_author(db: TestDb) {
    seed(db.store.as_ref(), 5, 0, &["alerts"]).await;
    db.store
        .set_staff(ChannelKind::Telegram, "901", Role::Emergency, Some("Emil"))
        .await
        .expect("staff");
    db.store
        .set_staff(ChannelKind::Telegram, "902", Role::Press, Some("Paul"))
        .await
        .expect("staff");
    let mut svc = Service::start(&db, false, &[]).await;

    // A press person may not run a drill: it is an alert.
    svc.sim.push_update(message(902, "/uebung Probealarm"));
    let refused = message_to(&svc.sim, "902", "").await;
    assert!(!refused.text.contains(MARK), "{}", refused.text);

    svc.sim
        .push_update(message(901, "/drill Probealarm der Leitstelle"));
    let preview = message_to(&svc.sim, "901", "/confirm ").await;
    assert!(preview.text.contains(MARK), "{}", preview.text);
    let code = confirm_code(&preview.text);
    svc.sim
        .push_update(message(901, &format!("/confirm {code}")));

    let text = format!("{MARK}\n\nProbealarm der Leitstelle");
    let sim = svc.sim.clone();
    let wanted = text.clone();
    wait_until(Duration::from_secs(10), "the drill at both staff", || {
        let (sim, wanted) = (sim.clone(), wanted.clone());
        async move {
            let to: Vec<String> = sim
                .received()
                .iter()
                .filter(|r| *r.text == *wanted)
                .map(|r| r.address.to_string())
                .collect();
            to.contains(&"901".to_string()) && to.contains(&"902".to_string())
        }
    })
    .await;
    let drill = db
        .store
        .list_broadcasts(5)
        .await
        .expect("db")
        .into_iter()
        .find(|b| b.text == text)
        .expect("the drill");
    assert_eq!(drill.topic, "drill");
    assert_eq!(drill.priority, amtsbote::domain::Priority::Alert);
    svc.wait_done(drill.id, Duration::from_secs(10)).await;
    let citizens: Vec<_> = svc
        .sim
        .received()
        .into_iter()
        .filter(|r| *r.text == *text && r.address.starts_with("100"))
        .collect();
    assert!(citizens.is_empty(), "citizens got the drill: {citizens:?}");

    // The report reaches its author, and stays computable for `amtsbote stats`.
    let sim = svc.sim.clone();
    let id = format!("#{} ", drill.id);
    wait_until(Duration::from_secs(10), "the report at its author", || {
        let (sim, id) = (sim.clone(), id.clone());
        async move {
            sim.received().iter().any(|r| {
                &*r.address == "901"
                    && r.text.contains(&id)
                    && (r.text.contains("2 Empfänger, davon 2 erreicht")
                        || r.text.contains("2 recipients, 2 reached"))
            })
        }
    })
    .await;
    let kept = DrillReport::of(db.store.as_ref(), &drill)
        .await
        .expect("db")
        .expect("a drill");
    assert_eq!((kept.recipients, kept.sent), (2, 2));
    assert!(kept.first_ms.is_some_and(|ms| ms >= 0));

    // The API: emergency tokens may, press tokens may not.
    let (status, _) = svc
        .api(
            reqwest::Method::POST,
            "/api/v1/drills",
            PRESS_TOKEN,
            Some(json!({"text": "Probe"})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::FORBIDDEN);
    let (status, body) = svc
        .api(
            reqwest::Method::POST,
            "/api/v1/drills",
            EMERGENCY_TOKEN,
            Some(json!({"text": "Probe über die API"})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
    assert_eq!(body["topic"], "drill");
    assert_eq!(body["recipients"]["total"], 2);
    let (status, _) = svc
        .api(
            reqwest::Method::POST,
            "/api/v1/drills",
            EMERGENCY_TOKEN,
            Some(json!({"text": ""})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    svc.stop().await;
}
