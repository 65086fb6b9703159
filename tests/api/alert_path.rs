//! The path emergency staff use for an alert: `/alert …` typed in the chat, Send pressed under
//! the preview, on Telegram (through `getUpdates`) and on WhatsApp (through webhooks). Whatever
//! news a lane is in the middle of, the alert is the next message on every lane once the press
//! is handled, and all of it goes before the news goes on. An order, not a timing: the
//! simulators hold every citizen's message at the door while the staff act, so each lane waits
//! at its one send in flight, and what it sends next is what it chose meanwhile.

use std::time::Duration;

use amtsbote::demo::confirm_button;
use amtsbote::domain::{BroadcastStatus, ChannelKind, Role};
use amtsbote::simulator::Simulator;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PRESS_TOKEN, Service, TestDb, seed, wait_until};
use crate::telegram::{message, press};
use crate::whatsapp::{chooses, says};

const TELEGRAM_STAFF: i64 = 770_001;
const WHATSAPP_STAFF: &str = "4917000770001";
const NEWS: &str = "Neue Öffnungszeiten im Bürgeramt ab Montag.";
const ALERT: &str = "Warnung: Gasaustritt in der Hauptstraße. Fenster und Türen schließen.";
/// Subscribers on each lane: the news takes seconds at the lanes' rate.
const PER_LANE: u64 = 40;

/// What each lane sent to citizens from the `from`th message on, in arrival order.
fn citizens_lane(sim: &Simulator, from: usize, lane: ChannelKind) -> Vec<String> {
    sim.received_from(from)
        .into_iter()
        .filter(|r| r.channel == lane)
        .filter(|r| *r.address != *TELEGRAM_STAFF.to_string() && *r.address != *WHATSAPP_STAFF)
        .map(|r| r.text.to_string())
        .collect()
}

async fn the_alert_is_next_on_every_lane(db: TestDb, from: ChannelKind) {
    seed(&*db.store, PER_LANE, PER_LANE, &["news", "alerts"]).await;
    for (channel, address) in [
        (ChannelKind::Telegram, TELEGRAM_STAFF.to_string()),
        (ChannelKind::Whatsapp, WHATSAPP_STAFF.to_string()),
    ] {
        db.store
            .set_staff(channel, &address, Role::Emergency, Some("Einsatzleitung"))
            .await
            .unwrap();
    }
    let mut svc = Service::start(
        &db,
        false,
        &[
            ("AMTSBOTE_TELEGRAM_RATE", "10"),
            ("AMTSBOTE_WHATSAPP_RATE", "10"),
            ("AMTSBOTE_TELEGRAM_CONCURRENCY", "1"),
            ("AMTSBOTE_WHATSAPP_CONCURRENCY", "1"),
        ],
    )
    .await;
    let sim = svc.sim.clone();

    let (status, news) = svc
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            PRESS_TOKEN,
            Some(json!({"topic": "news", "text": NEWS})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{news}");
    let news_id = news["id"].as_i64().unwrap();
    let sim2 = sim.clone();
    wait_until(
        Duration::from_secs(20),
        "news under way on both lanes",
        move || {
            let sim = sim2.clone();
            async move { sim.count_text(NEWS).values().all(|n| *n >= 2) }
        },
    )
    .await;

    // From here on each lane waits at its send in flight.
    sim.hold_sends(&[&TELEGRAM_STAFF.to_string(), WHATSAPP_STAFF]);
    let held_from = sim.received_count();

    match from {
        ChannelKind::Telegram => {
            let pressed = sim.press_on_arrival(|arrived| {
                if *arrived.address != *TELEGRAM_STAFF.to_string() {
                    return None;
                }
                let data = confirm_button(arrived.markup.as_deref()?)?;
                Some(press(TELEGRAM_STAFF, &data))
            });
            sim.push_update(message(TELEGRAM_STAFF, &format!("/alert {ALERT}")));
            tokio::time::timeout(Duration::from_secs(20), pressed)
                .await
                .expect("a preview with a Send button")
                .expect("pressed");
        }
        ChannelKind::Whatsapp => {
            assert_eq!(
                svc.webhook(&says(WHATSAPP_STAFF, &format!("/alert {ALERT}")))
                    .await,
                StatusCode::OK
            );
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            let data = loop {
                let offered = sim
                    .received()
                    .iter()
                    .filter(|r| *r.address == *WHATSAPP_STAFF)
                    .find_map(|r| confirm_button(r.markup.as_deref()?));
                if let Some(data) = offered {
                    break data;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "a preview with a Send button"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            };
            assert_eq!(
                svc.webhook(&chooses(WHATSAPP_STAFF, &data, false)).await,
                StatusCode::OK
            );
        }
    }

    // The press is handled: the alert is released and its deliveries are in the queue.
    let store = db.store.clone();
    wait_until(
        Duration::from_secs(20),
        "the alert released and fanned out",
        move || {
            let store = store.clone();
            async move {
                store
                    .list_broadcasts_page(None, None, 5)
                    .await
                    .unwrap_or_default()
                    .iter()
                    .any(|b| b.text == ALERT && b.fanout_done_at.is_some())
            }
        },
    )
    .await;
    sim.release_sends();

    let alert = db
        .store
        .list_broadcasts_page(None, None, 5)
        .await
        .unwrap()
        .into_iter()
        .find(|b| b.text == ALERT)
        .unwrap();
    svc.wait_done(alert.id, Duration::from_secs(30)).await;
    svc.wait_done(news_id, Duration::from_secs(30)).await;
    assert_eq!(
        db.store.broadcast(alert.id).await.unwrap().unwrap().status,
        BroadcastStatus::Done
    );

    for lane in ChannelKind::ALL {
        let sent = citizens_lane(&sim, held_from, lane);
        // At most the one news message that was in flight when the door closed, then the
        // whole alert, then the rest of the news.
        let in_flight = sent.iter().take_while(|t| t.as_str() == NEWS).count();
        assert!(
            in_flight <= 1,
            "{lane}: {in_flight} news messages went before the alert: {sent:?}"
        );
        let alerts = sent
            .iter()
            .skip(in_flight)
            .take_while(|t| t.contains("Gasaustritt"))
            .count();
        assert_eq!(
            alerts as u64, PER_LANE,
            "{lane}: the alert goes whole before the news goes on: {sent:?}"
        );
        assert!(
            sent.iter()
                .skip(in_flight + alerts)
                .all(|t| t.as_str() == NEWS),
            "{lane}: {sent:?}"
        );
    }
    assert_eq!(
        sim.count_text(NEWS).values().sum::<usize>() as u64,
        2 * PER_LANE,
        "every news message went too"
    );
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_confirmed_with_the_telegram_button_is_next_on_every_lane_sqlite() {
    the_alert_is_next_on_every_lane(TestDb::sqlite().await, ChannelKind::Telegram).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_confirmed_with_the_whatsapp_button_is_next_on_every_lane_sqlite() {
    the_alert_is_next_on_every_lane(TestDb::sqlite().await, ChannelKind::Whatsapp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_confirmed_with_the_telegram_button_is_next_on_every_lane_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    the_alert_is_next_on_every_lane(db, ChannelKind::Telegram).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_confirmed_with_the_whatsapp_button_is_next_on_every_lane_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    the_alert_is_next_on_every_lane(db, ChannelKind::Whatsapp).await;
}
