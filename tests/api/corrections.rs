//! Taking a word back: corrections and retractions of sent broadcasts, through the queue and the
//! simulated platforms, on both stores. Who got the old text is edited and told; who had it
//! still coming gets the new text only; a retraction stops the rest and overtakes everything.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use amtsbote::domain::{
    Actor, BroadcastKind, BroadcastStatus, ChannelKind, DeliveryStatus, Priority, Role, now_ms,
};
use amtsbote::services::{BroadcastService, CorrectionRequest};
use amtsbote::simulator::{Received, Simulator};

use crate::helpers::{
    TestApp, TestDb, broadcasts_on, new_broadcast, seed, spawn_app, test_lane, wait_until,
};

fn staff(person: &str, role: Role, address: &str) -> Actor {
    Actor::Staff {
        person: person.into(),
        role,
        channel: ChannelKind::Telegram,
        address: address.into(),
    }
}

fn press() -> Actor {
    staff("Paula", Role::Press, "900")
}

fn emergency() -> Actor {
    staff("Emil", Role::Emergency, "901")
}

fn correction(text: &str, notice: bool) -> CorrectionRequest {
    CorrectionRequest {
        text: text.into(),
        notice,
        draft: false,
        idempotency_key: None,
    }
}

/// The wamid the simulated WhatsApp gave message `id`.
fn wamid(id: i64) -> String {
    format!("wamid.SIM{id:020}")
}

/// Marks the WhatsApp subscribers `seed` made as having written just now: free text (which can
/// quote) is allowed.
async fn open_windows(db: &TestDb, whatsapp: u64) {
    for i in 0..whatsapp {
        let address = (4_915_100_000_000u64 + i).to_string();
        db.store
            .touch_inbound(ChannelKind::Whatsapp, &address, now_ms())
            .await
            .expect("touch inbound");
    }
}

/// What arrived, per recipient, in arrival order.
fn by_recipient(received: &[Received]) -> HashMap<(ChannelKind, String), Vec<Received>> {
    let mut per: HashMap<(ChannelKind, String), Vec<Received>> = HashMap::new();
    for r in received {
        per.entry((r.channel, r.address.to_string()))
            .or_default()
            .push(r.clone());
    }
    per
}

async fn wait_for_status(app: &TestApp, id: i64, status: BroadcastStatus, within: Duration) {
    let store = app.store.clone();
    wait_until(within, &format!("broadcast {id} {status:?}"), move || {
        let store = store.clone();
        async move { matches!(store.broadcast(id).await, Ok(Some(b)) if b.status == status) }
    })
    .await;
}

async fn received_at_least(sim: &Simulator, n: usize, what: &str) {
    let s = sim.clone();
    wait_until(Duration::from_secs(60), what, move || {
        let s = s.clone();
        async move { s.received_count() >= n }
    })
    .await;
}

const OLD: &str = "Die Wasserversorgung in der Altstadt ist ab 14 Uhr wieder da.";
const NEW: &str = "Die Wasserversorgung in der Altstadt ist ab 18 Uhr wieder da.";

async fn a_news_item_corrected_mid_send(db: TestDb) {
    const TELEGRAM: u64 = 200;
    const WHATSAPP: u64 = 100;
    seed(&*db.store, TELEGRAM, WHATSAPP, &["news"]).await;
    open_windows(&db, WHATSAPP).await;
    let app = spawn_app(db.store.clone(), test_lane(100), test_lane(50)).await;
    let service = broadcasts_on(db.store.clone(), Some(&app), false);
    let id = app
        .release(new_broadcast("news", Priority::Normal, OLD))
        .await;
    // Mid-send: some have it on each platform, most do not yet.
    let s = app.sim.clone();
    wait_until(
        Duration::from_secs(60),
        "a part of the news sent on both",
        move || {
            let s = s.clone();
            async move {
                let got = s.received();
                let tg = got
                    .iter()
                    .filter(|r| r.channel == ChannelKind::Telegram)
                    .count();
                let wa = got
                    .iter()
                    .filter(|r| r.channel == ChannelKind::Whatsapp)
                    .count();
                tg >= 40 && wa >= 20
            }
        },
    )
    .await;
    let confirmed_at = app.sim.elapsed();
    let made = service
        .correct(&press(), id, correction(NEW, true))
        .await
        .expect("the press office corrects its news");
    assert_eq!(made.broadcast.status, BroadcastStatus::Released);
    assert_eq!(made.broadcast.version, 2);
    let notice_id = made.broadcast.id;
    app.wait_done(id, Duration::from_secs(60)).await;
    app.wait_done(notice_id, Duration::from_secs(60)).await;

    let received = app.sim.received();
    let edits = app.sim.edits();
    let notice_de = format!("Korrektur: {NEW}");
    let (mut corrected, mut fresh, mut old_after) = (0, 0, 0);
    for ((channel, address), got) in by_recipient(&received) {
        let old: Vec<&Received> = got.iter().filter(|r| &*r.text == OLD).collect();
        let new: Vec<&Received> = got.iter().filter(|r| &*r.text == NEW).collect();
        let notices: Vec<&Received> = got.iter().filter(|r| *r.text == *notice_de).collect();
        old_after += old.iter().filter(|r| r.at > confirmed_at).count();
        assert_eq!(
            got.len(),
            old.len() + new.len() + notices.len(),
            "{channel} {address}: nothing else"
        );
        assert!(
            notices.len() <= 1,
            "{channel} {address}: one correction at most"
        );
        match (old.as_slice(), new.as_slice()) {
            ([original], []) => {
                // Got the old text: told, in reply to (quoting) it.
                corrected += 1;
                let [notice] = notices.as_slice() else {
                    panic!("{channel} {address} got the old text and no correction");
                };
                let original_id = match channel {
                    ChannelKind::Telegram => original.id.to_string(),
                    ChannelKind::Whatsapp => wamid(original.id),
                };
                assert_eq!(notice.reply_to.as_deref(), Some(original_id.as_str()));
                if channel == ChannelKind::Telegram {
                    assert!(
                        edits
                            .iter()
                            .any(|e| e.message_id == original.id && e.text == NEW),
                        "Telegram {address}: the original is edited"
                    );
                    assert_eq!(app.sim.telegram_text(original.id).as_deref(), Some(NEW));
                }
            }
            ([], [_]) => {
                fresh += 1;
                assert!(
                    notices.is_empty(),
                    "{channel} {address}: no notice with the new text"
                );
            }
            _ => panic!("{channel} {address}: {} old, {} new", old.len(), new.len()),
        }
    }
    assert_eq!(
        corrected + fresh,
        (TELEGRAM + WHATSAPP) as usize,
        "everyone once"
    );
    assert!(
        corrected > 0 && fresh > 0,
        "{corrected} corrected, {fresh} fresh: mid-send"
    );
    // Only what was in flight at the confirmation (claims of 100 ms and 16 sends per lane).
    assert!(
        old_after <= 60,
        "{old_after} old texts after the confirmation"
    );
    // Every edit is of a Telegram message with the old text, once.
    assert_eq!(
        edits.len(),
        received
            .iter()
            .filter(|r| r.channel == ChannelKind::Telegram && &*r.text == OLD)
            .count()
    );
    let (versions, notices) = service.history(id).await.unwrap();
    let texts: Vec<&str> = versions.iter().map(|v| v.text.as_str()).collect();
    assert_eq!(texts, [OLD, NEW]);
    assert_eq!(versions[1].changed_by.as_deref(), Some("person:Paula"));
    assert_eq!(versions[1].correction_id, Some(notice_id));
    assert_eq!(notices.len(), 1);
    assert_eq!(
        db.store.broadcast(id).await.unwrap().unwrap().text,
        NEW,
        "the broadcast has the new text"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_news_item_corrected_mid_send_on_sqlite() {
    a_news_item_corrected_mid_send(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_news_item_corrected_mid_send_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        a_news_item_corrected_mid_send(db).await;
    }
}

async fn a_silent_correction_only_edits_and_a_second_one_edits_again(db: TestDb) {
    seed(&*db.store, 4, 2, &["news"]).await;
    open_windows(&db, 2).await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let service = broadcasts_on(db.store.clone(), Some(&app), false);
    let id = app
        .release(new_broadcast("news", Priority::Normal, OLD))
        .await;
    app.wait_done(id, Duration::from_secs(20)).await;
    let originals: HashMap<String, i64> = app
        .sim
        .received()
        .iter()
        .map(|r| (r.address.to_string(), r.id))
        .collect();
    let sent_before = app.sim.received_count();

    // Silent: edited on Telegram, nothing sent anywhere.
    let fixed = "Die Wasserversorgung in der Altstadt ist ab 14 Uhr wieder da (Hinweis: Leitungswasser abkochen).";
    let silent = service
        .correct(&press(), id, correction(fixed, false))
        .await
        .unwrap();
    app.wait_done(silent.broadcast.id, Duration::from_secs(20))
        .await;
    assert_eq!(
        app.sim.received_count(),
        sent_before,
        "a silent correction sends nothing"
    );
    let edits = app.sim.edits();
    assert_eq!(edits.len(), 4, "{edits:?}");
    for e in &edits {
        assert_eq!(e.text, fixed);
        assert_eq!(originals.get(&e.chat), Some(&e.message_id));
    }
    let stats = db.store.broadcast_stats(silent.broadcast.id).await.unwrap();
    assert_eq!(stats.total(DeliveryStatus::Sent), 4, "Telegram only");
    assert_eq!(stats.count(ChannelKind::Whatsapp, DeliveryStatus::Sent), 0);

    // One citizen deleted the message, another's can no longer be edited: the second
    // correction edits the rest again and tells everyone.
    app.sim.delete_message(originals["1000"]);
    app.sim.make_uneditable("1001");
    let second = service
        .correct(&press(), id, correction(NEW, true))
        .await
        .unwrap();
    assert_eq!(second.broadcast.version, 3);
    app.wait_done(second.broadcast.id, Duration::from_secs(20))
        .await;
    let edits = app.sim.edits();
    let again: Vec<_> = edits.iter().skip(4).collect();
    let mut chats: Vec<&str> = again.iter().map(|e| e.chat.as_str()).collect();
    chats.sort();
    assert_eq!(chats, ["1002", "1003"], "edited again where it can be");
    assert!(again.iter().all(|e| e.text == NEW));
    let notices: Vec<Received> = app.sim.received().into_iter().skip(sent_before).collect();
    assert_eq!(notices.len(), 6, "a notice to every one of them, once");
    for n in &notices {
        assert_eq!(&*n.text, format!("Korrektur: {NEW}"));
        let original = originals[&*n.address];
        let quoted = match n.channel {
            ChannelKind::Telegram => original.to_string(),
            ChannelKind::Whatsapp => wamid(original),
        };
        assert_eq!(n.reply_to.as_deref(), Some(quoted.as_str()), "{n:?}");
    }
    let stats = db.store.broadcast_stats(second.broadcast.id).await.unwrap();
    assert_eq!(stats.total(DeliveryStatus::Sent), 6);
    let (versions, _) = service.history(id).await.unwrap();
    assert_eq!(versions.len(), 3);
    assert!(!versions[1].notice, "the silent one is marked");
}

#[tokio::test]
async fn a_silent_correction_only_edits_and_a_second_one_edits_again_on_sqlite() {
    a_silent_correction_only_edits_and_a_second_one_edits_again(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn a_silent_correction_only_edits_and_a_second_one_edits_again_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        a_silent_correction_only_edits_and_a_second_one_edits_again(db).await;
    }
}

const ALERT: &str = "Warnung: Großbrand im Hafen, Fenster und Türen schließen.";

/// The retraction's main case: an alert to 10,000 at R = 100 behind 80,000 pending news,
/// retracted after about 2 s.
async fn an_alert_retracted_mid_send_stops_and_is_taken_back_first(db: TestDb) {
    const ALERTED: u64 = 10_000;
    const NEWS_ONLY: u64 = 80_000;
    const IN_FLIGHT: usize = 16 + 10 + 10;
    // Chats 1000.. are on both topics; the rest only on news.
    seed(&*db.store, ALERTED, 0, &["alerts", "news"]).await;
    let people: Vec<amtsbote::store::NewSubscriber> = (0..NEWS_ONLY)
        .map(|i| amtsbote::store::NewSubscriber {
            channel: ChannelKind::Telegram,
            address: (2_000_000 + i).to_string(),
            language: "de".into(),
            topics: vec![crate::helpers::topic("news")],
        })
        .collect();
    db.store.add_subscribers(&people).await.unwrap();
    let app = spawn_app(db.store.clone(), test_lane(100), test_lane(0)).await;
    let service: Arc<BroadcastService> = broadcasts_on(db.store.clone(), Some(&app), false);
    let news = app
        .release(new_broadcast(
            "news",
            Priority::Normal,
            "Wochenmarkt heute bis 14 Uhr.",
        ))
        .await;
    let alert = app
        .release(new_broadcast("alerts", Priority::Alert, ALERT))
        .await;
    // About two seconds of the alert at R = 100.
    received_at_least(&app.sim, 200, "the alert under way").await;
    let (b, notice) = service
        .retract(&emergency(), alert, Some("Es gibt keinen Brand."))
        .await
        .expect("the emergency staff retract at once, no second person");
    let confirmed_at = app.sim.elapsed();
    assert_eq!(b.status, BroadcastStatus::Retracted);
    assert_eq!(notice.kind, BroadcastKind::Retraction);
    assert_eq!(notice.priority, Priority::Alert);
    wait_for_status(
        &app,
        notice.id,
        BroadcastStatus::Done,
        Duration::from_secs(120),
    )
    .await;
    // Behind the notices, a pass of edits at urgent priority.
    let passes = db.store.notices_of(alert).await.unwrap();
    assert_eq!(passes.len(), 2);
    assert_eq!(passes[1].priority, Priority::Urgent);
    assert!(!passes[1].notice);
    wait_for_status(
        &app,
        passes[1].id,
        BroadcastStatus::Done,
        Duration::from_secs(120),
    )
    .await;

    let received = app.sim.received();
    let is_alert = |r: &Received| &*r.text == ALERT;
    let is_notice = |r: &Received| r.text.starts_with("WIDERRUF: Die Meldung vom");
    let after: Vec<&Received> = received.iter().filter(|r| r.at > confirmed_at).collect();
    let alerts_after = after.iter().filter(|r| is_alert(r)).count();
    assert!(
        alerts_after <= IN_FLIGHT,
        "{alerts_after} alerts after the confirmation"
    );
    // The notices first: after the confirmation, nothing but what was in flight comes before
    // the last notice.
    let last_notice = after.iter().rposition(|r| is_notice(r)).expect("notices");
    let first_notice = after.iter().position(|r| is_notice(r)).expect("notices");
    let others_before_last = after[..last_notice]
        .iter()
        .filter(|r| !is_notice(r))
        .count();
    assert!(
        others_before_last <= IN_FLIGHT,
        "{others_before_last} other messages before the last notice"
    );
    assert!(
        first_notice <= IN_FLIGHT,
        "the first notice was #{first_notice} after the confirmation"
    );
    // Everyone who got the alert gets exactly one notice, in reply to it; nobody else does.
    let mut alerted: HashMap<&str, i64> = HashMap::new();
    for r in received.iter().filter(|r| is_alert(r)) {
        assert!(alerted.insert(&r.address, r.id).is_none(), "one alert each");
    }
    let mut told: HashMap<&str, usize> = HashMap::new();
    for r in received.iter().filter(|r| is_notice(r)) {
        *told.entry(&r.address).or_default() += 1;
        assert_eq!(
            r.reply_to.as_deref(),
            alerted.get(&*r.address).map(|id| id.to_string()).as_deref(),
            "a reply to the alert"
        );
        assert!(r.text.ends_with("Es gibt keinen Brand."));
    }
    assert_eq!(told.len(), alerted.len(), "everyone who got the alert");
    assert!(told.values().all(|n| *n == 1), "once each");
    assert!(alerted.len() < ALERTED as usize, "retracted mid-send");
    // On Telegram the alert itself now begins with the retraction line.
    let edits = app.sim.edits();
    assert_eq!(edits.len(), alerted.len());
    for e in &edits {
        assert!(
            e.text.starts_with("WIDERRUF:") && e.text.ends_with(ALERT),
            "{e:?}"
        );
    }
    let stats = db.store.broadcast_stats(alert).await.unwrap();
    assert_eq!(stats.total(DeliveryStatus::Sent) as usize, alerted.len());
    assert_eq!(
        stats.total(DeliveryStatus::Pending) + stats.total(DeliveryStatus::Leased),
        0
    );
    eprintln!(
        "retraction: {} alerted, first notice {:?} and last {:?} after the confirmation",
        alerted.len(),
        after.get(first_notice).map(|r| r.at - confirmed_at),
        after.get(last_notice).map(|r| r.at - confirmed_at),
    );
    // The news go on afterwards.
    let s = app.sim.clone();
    wait_until(
        Duration::from_secs(30),
        "news after the notices",
        move || {
            let s = s.clone();
            async move {
                s.received()
                    .iter()
                    .any(|r| r.text.starts_with("Wochenmarkt"))
            }
        },
    )
    .await;
    assert!(
        db.store.broadcast(news).await.unwrap().is_some(),
        "the news broadcast is untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_retracted_mid_send_stops_and_is_taken_back_first_on_sqlite() {
    an_alert_retracted_mid_send_stops_and_is_taken_back_first(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_retracted_mid_send_stops_and_is_taken_back_first_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        an_alert_retracted_mid_send_stops_and_is_taken_back_first(db).await;
    }
}

/// Through the chat: `/widerruf` shows what it does and takes one confirmation; `/korrektur`
/// previews like a new broadcast; a press member is turned away from an alert.
async fn staff_correct_and_retract_in_the_chat(db: TestDb) {
    seed(&*db.store, 3, 0, &["alerts", "news"]).await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    for (address, role, person) in [
        ("900", Role::Press, "Paula"),
        ("901", Role::Emergency, "Emil"),
    ] {
        db.store
            .set_staff(ChannelKind::Telegram, address, role, Some(person))
            .await
            .unwrap();
    }
    let talk = crate::helpers::conversation_of(&app, false);
    let say = |who: &str, text: &str| {
        let incoming = crate::helpers::says(who, text);
        let talk = &talk;
        async move { crate::helpers::reply_text(&talk.handle(&incoming).await) }
    };
    let news = app
        .release(new_broadcast("news", Priority::Normal, OLD))
        .await;
    let alert = app
        .release(new_broadcast("alerts", Priority::Alert, ALERT))
        .await;
    app.wait_done(news, Duration::from_secs(20)).await;
    app.wait_done(alert, Duration::from_secs(20)).await;

    let refused = say("900", &format!("/retract {alert}")).await;
    assert!(refused.contains("only the emergency team"), "{refused}");
    let refused = say("900", &format!("/correct {alert} Kein Brand")).await;
    assert!(refused.contains("only the emergency team"), "{refused}");
    assert_eq!(
        db.store.broadcast(alert).await.unwrap().unwrap().status,
        BroadcastStatus::Done,
        "nothing changed"
    );

    let preview = say("900", &format!("/korrektur {news} {NEW}")).await;
    assert!(preview.contains(&format!("Korrektur: {NEW}")), "{preview}");
    assert!(preview.contains("Recipients: 3"), "{preview}");
    let code = crate::helpers::confirm_code(&preview);
    let done = say("900", &format!("/confirm {code}")).await;
    assert!(done.contains("is released"), "{done}");
    assert_eq!(db.store.broadcast(news).await.unwrap().unwrap().text, NEW);

    let preview = say("901", &format!("/widerruf {alert} Übung der Leitstelle")).await;
    assert!(
        preview.contains("RETRACTED: The message of")
            && preview.contains("Übung der Leitstelle")
            && preview.contains("3 recipients"),
        "{preview}"
    );
    assert_eq!(
        db.store.broadcast(alert).await.unwrap().unwrap().status,
        BroadcastStatus::Done,
        "a preview changes nothing"
    );
    let code = crate::helpers::confirm_code(&preview);
    let done = say("901", &format!("/confirm {code}")).await;
    assert!(done.contains("is retracted"), "{done}");
    assert_eq!(
        db.store.broadcast(alert).await.unwrap().unwrap().status,
        BroadcastStatus::Retracted
    );
    let again = say("901", &format!("/retract {alert}")).await;
    assert!(again.contains("is retracted"), "{again}");
    let s = app.sim.clone();
    wait_until(
        Duration::from_secs(20),
        "three retraction notices",
        move || {
            let s = s.clone();
            async move {
                s.received()
                    .iter()
                    .filter(|r| r.text.ends_with("Übung der Leitstelle"))
                    .count()
                    == 3
            }
        },
    )
    .await;
    let audit = db.store.audit_log(20).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "retract" && a.actor.contains("Emil")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn staff_correct_and_retract_in_the_chat_on_sqlite() {
    staff_correct_and_retract_in_the_chat(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn staff_correct_and_retract_in_the_chat_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        staff_correct_and_retract_in_the_chat(db).await;
    }
}

/// Through the API under the two-person rule: a press token may neither retract nor correct
/// an alert; the emergency staff retract without a second person, but a corrected alert waits
/// for one.
async fn the_api_guards_alerts_and_a_corrected_alert_waits_for_a_second_person(db: TestDb) {
    use crate::helpers::{EMERGENCY_TOKEN, PRESS_TOKEN, Service};
    use reqwest::{Method, StatusCode};
    seed(&*db.store, 3, 0, &["alerts", "news"]).await;
    let app = Service::start(
        &db,
        true,
        &[
            ("AMTSBOTE_API_EMERGENCY_TOKEN_PERSON", "Emil"),
            (
                "AMTSBOTE_ARCHIVE_PUBLIC_URL",
                "https://archiv.stadt.example",
            ),
        ],
    )
    .await;
    let send = |token: &'static str, body: serde_json::Value| {
        let app = &app;
        async move {
            app.api(Method::POST, "/api/v1/broadcasts", token, Some(body))
                .await
        }
    };
    let (status, news) = send(
        PRESS_TOKEN,
        serde_json::json!({"topic": "news", "text": OLD}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{news}");
    let news = news["id"].as_i64().unwrap();
    app.wait_done(news, Duration::from_secs(20)).await;
    // An alert under the two-person rule: Emil submits, Anna approves.
    let (status, alert) = send(
        EMERGENCY_TOKEN,
        serde_json::json!({"topic": "alerts", "text": ALERT}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    let alert = alert["id"].as_i64().unwrap();
    let service = broadcasts_on(db.store.clone(), None, true);
    let anna = staff("Anna", Role::Emergency, "902");
    service.approve(&anna, alert).await.expect("Anna approves");
    app.wait_done(alert, Duration::from_secs(20)).await;

    let path = |id: i64, what: &str| format!("/api/v1/broadcasts/{id}/{what}");
    let (status, body) = app
        .api(
            Method::POST,
            &path(alert, "retract"),
            PRESS_TOKEN,
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app
        .api(
            Method::POST,
            &path(alert, "corrections"),
            PRESS_TOKEN,
            Some(serde_json::json!({"text": "Kein Großbrand"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app
        .api(
            Method::POST,
            &path(alert, "corrections"),
            EMERGENCY_TOKEN,
            Some(serde_json::json!({"text": ALERT, "notice": true})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unchanged text: {body}"
    );
    let (status, body) = app
        .api(
            Method::POST,
            &path(alert, "corrections"),
            EMERGENCY_TOKEN,
            Some(serde_json::json!({"text": "Warnung: Großbrand im Hafen, Fenster schließen.", "notice": false})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an alert is never silent: {body}"
    );

    // The corrected alert waits for a second person; until then it keeps its text.
    let corrected = "Warnung: Großbrand im Hafen (Halle 3), Fenster und Türen schließen.";
    let (status, body) = app
        .api(
            Method::POST,
            &path(alert, "corrections"),
            EMERGENCY_TOKEN,
            Some(serde_json::json!({"text": corrected})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["correction"]["status"], "awaiting_approval", "{body}");
    assert_eq!(body["broadcast"]["version"], 1, "{body}");
    let correction_id = body["correction"]["id"].as_i64().unwrap();
    let emil = staff("Emil", Role::Emergency, "901");
    assert!(
        service.approve(&emil, correction_id).await.is_err(),
        "not by its author"
    );
    service
        .approve(&anna, correction_id)
        .await
        .expect("Anna approves the correction");
    app.wait_done(correction_id, Duration::from_secs(20)).await;
    let (status, view) = app
        .api(
            Method::GET,
            &format!("/api/v1/broadcasts/{alert}"),
            PRESS_TOKEN,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["version"], 2, "{view}");
    assert_eq!(view["versions"][0]["text"], ALERT, "{view}");
    assert_eq!(view["versions"][1]["text"], corrected, "{view}");
    assert_eq!(view["versions"][1]["changed_by"], "person:Emil", "{view}");
    assert_eq!(
        view["corrections"][0]["approved_by"], "person:Anna",
        "{view}"
    );
    let notices = app
        .sim
        .received()
        .iter()
        .filter(|r| {
            r.text
                .starts_with("Korrektur: Warnung: Großbrand im Hafen (Halle 3)")
        })
        .count();
    assert_eq!(notices, 3);
    // The edited alert keeps its check link (the alert's own public code).
    let code = db
        .store
        .broadcast(alert)
        .await
        .unwrap()
        .unwrap()
        .public_code
        .expect("a public code");
    let edits = app.sim.edits();
    assert_eq!(edits.len(), 3);
    assert!(
        edits
            .iter()
            .all(|e| e.text.starts_with(corrected) && e.text.contains(&code)),
        "{edits:?}"
    );

    // A retraction needs nobody else; the press office retracts its own news.
    let (status, body) = app
        .api(
            Method::POST,
            &path(alert, "retract"),
            EMERGENCY_TOKEN,
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["broadcast"]["status"], "retracted", "{body}");
    let (status, body) = app
        .api(
            Method::POST,
            &path(news, "retract"),
            PRESS_TOKEN,
            Some(serde_json::json!({"text": "Bitte entschuldigen Sie."})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .api(
            Method::POST,
            &path(news, "retract"),
            PRESS_TOKEN,
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "once: {body}");
    let (status, body) = app
        .api(
            Method::POST,
            &path(news, "corrections"),
            PRESS_TOKEN,
            Some(serde_json::json!({"text": NEW})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a retracted broadcast is not corrected: {body}"
    );
    // A follow-up of a retracted alert is refused.
    let (status, body) = send(
        EMERGENCY_TOKEN,
        serde_json::json!({"topic": "alerts", "kind": "update", "parent_id": alert, "text": "Update"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let s = app.sim.clone();
    wait_until(
        Duration::from_secs(20),
        "six retraction notices",
        move || {
            let s = s.clone();
            async move {
                s.received()
                    .iter()
                    .filter(|r| r.text.starts_with("WIDERRUF: Die Meldung vom"))
                    .count()
                    == 6
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_guards_alerts_and_a_corrected_alert_waits_for_a_second_person_on_sqlite() {
    the_api_guards_alerts_and_a_corrected_alert_waits_for_a_second_person(TestDb::sqlite().await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_guards_alerts_and_a_corrected_alert_waits_for_a_second_person_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        the_api_guards_alerts_and_a_corrected_alert_waits_for_a_second_person(db).await;
    }
}

/// `amtsbote run` killed with SIGKILL while a retraction's notices go out, then started again:
/// every citizen who got the alert is told, and no alert goes out after the retraction.
async fn a_kill_during_a_retraction_loses_no_notice(db: TestDb) {
    use crate::helpers::amtsbote;
    const SUBSCRIBERS: u64 = 1500;
    seed(&*db.store, SUBSCRIBERS, 0, &["alerts"]).await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let sim = Simulator::start(shutdown.clone()).await.unwrap();
    let service = |rate: &str| {
        let mut cmd = amtsbote();
        cmd.env("AMTSBOTE_DATABASE_URL", &db.url)
            .env("AMTSBOTE_TELEGRAM_TOKEN", "42:kill-test")
            .env("AMTSBOTE_TELEGRAM_API_URL", &sim.telegram_url)
            .env("AMTSBOTE_TELEGRAM_RATE", rate)
            .env("AMTSBOTE_QUEUE_POLL_MS", "50")
            .env("AMTSBOTE_QUEUE_LEASE_SECS", "5")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd.args(["run"]).spawn().unwrap()
    };
    let cli = |args: &[&str]| {
        let mut cmd = amtsbote();
        cmd.env("AMTSBOTE_DATABASE_URL", &db.url).args(args);
        cmd
    };
    let mut first = service("100");
    let out = cli(&[
        "broadcast",
        "--topic",
        "alerts",
        "--text",
        ALERT,
        "--yes",
        "--json",
    ])
    .output()
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let alert = answer["id"].as_i64().unwrap();
    received_at_least(&sim, 300, "the alert under way").await;
    let out = cli(&["retract", &alert.to_string(), "--text", "Fehlalarm."])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alerts_at_retraction = sim.count_text(ALERT);
    let is_notice = |r: &Received| r.text.ends_with("Fehlalarm.");
    let s = sim.clone();
    wait_until(Duration::from_secs(60), "notices going out", move || {
        let s = s.clone();
        async move { s.received().iter().filter(|r| is_notice(r)).count() >= 50 }
    })
    .await;
    first.kill().await.unwrap(); // SIGKILL: no shutdown, no flush
    let alerts_at_kill: usize = sim.received().iter().filter(|r| &*r.text == ALERT).count();
    let notices = db.store.notices_of(alert).await.unwrap();
    let notice = notices[0].id;
    let stats = db.store.broadcast_stats(notice).await.unwrap();
    let unacknowledged = stats.total(DeliveryStatus::Leased) as usize;
    assert!(
        stats.total(DeliveryStatus::Pending) > 0,
        "the kill came mid-retraction: {stats:?}"
    );

    let mut second = service("0");
    let store = db.store.clone();
    wait_until(Duration::from_secs(60), "the retraction done after the restart", move || {
        let store = store.clone();
        async move { matches!(store.broadcast(notice).await, Ok(Some(b)) if b.status == BroadcastStatus::Done) }
    })
    .await;
    second.kill().await.unwrap();

    let received = sim.received();
    let alerted: Vec<&str> = received
        .iter()
        .filter(|r| &*r.text == ALERT)
        .map(|r| &*r.address)
        .collect();
    assert_eq!(alerted.len(), alerts_at_kill, "no alert after the kill");
    let in_flight = alerts_at_kill - alerts_at_retraction.values().sum::<usize>();
    assert!(in_flight <= 40, "{in_flight} alerts after the retraction");
    let mut told: HashMap<&str, usize> = HashMap::new();
    for r in received.iter().filter(|r| is_notice(r)) {
        *told.entry(&r.address).or_default() += 1;
    }
    for a in &alerted {
        assert!(told.contains_key(a), "{a} got the alert and no retraction");
    }
    assert_eq!(told.len(), alerted.len(), "nobody else is told");
    let duplicates: usize = told.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= unacknowledged,
        "{duplicates} duplicate notices, {unacknowledged} unacknowledged at the kill"
    );
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_during_a_retraction_loses_no_notice_on_sqlite() {
    a_kill_during_a_retraction_loses_no_notice(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_during_a_retraction_loses_no_notice_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        a_kill_during_a_retraction_loses_no_notice(db).await;
    }
}

/// A retracted warning from the feed: its identifier and version are marked, and the feed
/// (which never sends a known warning again) may not follow it up either.
async fn a_retracted_warning_is_marked_and_not_followed_up(db: TestDb) {
    seed(&*db.store, 2, 0, &["alerts"]).await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let alert = app
        .release(new_broadcast("alerts", Priority::Alert, ALERT))
        .await;
    app.wait_done(alert, Duration::from_secs(20)).await;
    let record = amtsbote::store::WarningRecord {
        identifier: "mow.DE-NW-D-SE001-20261207-001".into(),
        version: 3,
        provider: "mowas".into(),
        msg_type: "Alert".into(),
        severity: "Extreme".into(),
        headline: "Großbrand".into(),
        expires_at: None,
        decision: "sent".into(),
        broadcast_id: Some(alert),
        seen_at: now_ms(),
    };
    assert!(db.store.record_warning(&record).await.unwrap());
    let service = broadcasts_on(db.store.clone(), Some(&app), false);
    service.retract(&emergency(), alert, None).await.unwrap();
    let kept = db.store.warnings(10).await.unwrap();
    assert_eq!(kept[0].decision, "retracted");
    assert!(
        db.store
            .warning_known(&record.identifier, record.version)
            .await
            .unwrap(),
        "never sent again"
    );
    let update = service
        .submit(
            &amtsbote::domain::Actor::WarningsFeed,
            amtsbote::services::Submission {
                target: None,
                topic: "alerts".into(),
                kind: Some(BroadcastKind::Update),
                priority: None,
                text: "Update".into(),
                text_en: None,
                parent_id: Some(alert),
                when: amtsbote::services::When::Now,
                draft: false,
                idempotency_key: None,
                attachment: None,
            },
        )
        .await;
    assert!(update.is_err(), "no follow-up of a retracted alert");
    // Only the retraction line: no staff text.
    let s = app.sim.clone();
    wait_until(Duration::from_secs(20), "two notices", move || {
        let s = s.clone();
        async move {
            s.received()
                .iter()
                .filter(|r| {
                    r.text.starts_with("WIDERRUF:") && r.text.ends_with("ist gegenstandslos.")
                })
                .count()
                == 2
        }
    })
    .await;
}

#[tokio::test]
async fn a_retracted_warning_is_marked_and_not_followed_up_on_sqlite() {
    a_retracted_warning_is_marked_and_not_followed_up(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn a_retracted_warning_is_marked_and_not_followed_up_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        a_retracted_warning_is_marked_and_not_followed_up(db).await;
    }
}

/// Past `corrections.keep_days` the platform's ids are forgotten: a correction can neither
/// edit nor quote the message any more, and its recipients still get the notice.
async fn ids_past_the_keep_time_are_forgotten_and_the_notice_still_goes(db: TestDb) {
    seed(&*db.store, 2, 1, &["news"]).await;
    open_windows(&db, 1).await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let id = app
        .release(new_broadcast("news", Priority::Normal, OLD))
        .await;
    app.wait_done(id, Duration::from_secs(20)).await;
    assert_eq!(
        db.store
            .forget_platform_ids(now_ms() - 60_000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(db.store.forget_platform_ids(now_ms() + 1).await.unwrap(), 3);
    let service = broadcasts_on(db.store.clone(), Some(&app), false);
    let c = service
        .correct(&press(), id, correction(NEW, true))
        .await
        .unwrap();
    app.wait_done(c.broadcast.id, Duration::from_secs(20)).await;
    let notices: Vec<Received> = app
        .sim
        .received()
        .into_iter()
        .filter(|r| r.text.starts_with("Korrektur:"))
        .collect();
    assert_eq!(notices.len(), 3);
    assert!(notices.iter().all(|n| n.reply_to.is_none()));
    assert!(app.sim.edits().is_empty());
}

#[tokio::test]
async fn ids_past_the_keep_time_are_forgotten_and_the_notice_still_goes_on_sqlite() {
    ids_past_the_keep_time_are_forgotten_and_the_notice_still_goes(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn ids_past_the_keep_time_are_forgotten_and_the_notice_still_goes_on_postgres() {
    if let Some(db) = TestDb::postgres().await {
        ids_past_the_keep_time_are_forgotten_and_the_notice_still_goes(db).await;
    }
}
