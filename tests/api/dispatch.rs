//! The queue at work against the simulated platforms: who gets what, in which order, and what
//! happens when the platform throttles, fails, hangs or says the recipient is gone.

use std::collections::HashMap;
use std::time::Duration;

use amtsbote::domain::{ChannelKind, DeliveryStatus, Priority};
use amtsbote::simulator::{Fault, Received};

use crate::helpers::{
    TestDb, new_broadcast, seed, spawn_app, spawn_app_with, test_lane, wait_until,
};

fn per_address(received: &[Received], text: &str) -> HashMap<(ChannelKind, String), usize> {
    let mut counts = HashMap::new();
    for r in received.iter().filter(|r| &*r.text == text) {
        *counts
            .entry((r.channel, r.address.to_string()))
            .or_insert(0) += 1;
    }
    counts
}

#[tokio::test]
async fn every_subscriber_of_the_topic_gets_the_broadcast_once_and_no_one_else() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 30, 30, &["news"]).await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    // Subscribers of another topic only.
    let others = amtsbote::store::NewSubscriber {
        channel: ChannelKind::Telegram,
        address: "777".into(),
        language: "en".into(),
        topics: vec![crate::helpers::topic("traffic")],
    };
    db.store.add_subscribers(&[others]).await.unwrap();

    let id = app
        .release(new_broadcast("news", Priority::Normal, "Rathaus geöffnet"))
        .await;
    app.wait_done(id, Duration::from_secs(20)).await;

    let got = per_address(&app.sim.received(), "Rathaus geöffnet");
    assert_eq!(got.len(), 60);
    assert!(got.values().all(|n| *n == 1), "duplicates: {got:?}");
    assert!(!got.contains_key(&(ChannelKind::Telegram, "777".to_string())));
    let stats = db.store.broadcast_stats(id).await.unwrap();
    assert_eq!(stats.count(ChannelKind::Telegram, DeliveryStatus::Sent), 30);
    assert_eq!(stats.count(ChannelKind::Whatsapp, DeliveryStatus::Sent), 30);
}

#[tokio::test]
async fn alerts_overtake_a_running_news_broadcast() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 3000, 0, &["news", "alerts"]).await;
    let app = spawn_app(db.store.clone(), test_lane(1000), test_lane(0)).await;
    let news = app
        .release(new_broadcast("news", Priority::Normal, "news"))
        .await;
    let sim = app.sim.clone();
    wait_until(Duration::from_secs(20), "300 news delivered", || {
        let sim = sim.clone();
        async move { sim.count_text("news").values().sum::<usize>() >= 300 }
    })
    .await;
    let alert = app
        .release(new_broadcast("alerts", Priority::Alert, "ALARM"))
        .await;
    // Released: it exists and fan-out knows of it (before, nothing could go ahead of the news).
    let alert_released = app.sim.elapsed();
    app.wait_done(alert, Duration::from_secs(30)).await;
    app.wait_done(news, Duration::from_secs(30)).await;

    let received = app.sim.received();
    let last_alert = received
        .iter()
        .filter(|r| &*r.text == "ALARM")
        .map(|r| r.at)
        .max()
        .unwrap();
    let news_meanwhile = received
        .iter()
        .filter(|r| &*r.text == "news" && r.at > alert_released && r.at < last_alert)
        .count();
    // Only sends already in flight or claimed in the same instant may slip in between: the lane's
    // 16 send slots and one claim of 100 ms (100 at 1000/s) at most.
    assert!(
        news_meanwhile <= 116,
        "{news_meanwhile} news messages went out while the alert was sending"
    );
    let news_pending = 3000
        - received
            .iter()
            .filter(|r| &*r.text == "news" && r.at <= alert_released)
            .count();
    assert!(news_pending > 2000, "the news broadcast was still running");
    let (news_got, alert_got) = (
        per_address(&received, "news"),
        per_address(&received, "ALARM"),
    );
    assert_eq!((news_got.len(), alert_got.len()), (3000, 3000));
    assert!(news_got.values().chain(alert_got.values()).all(|n| *n == 1));
}

#[tokio::test]
async fn the_lane_waits_out_retry_after_and_then_delivers_everything() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 20, 0, &["news"]).await;
    let mut lane = test_lane(0);
    lane.concurrency = 1;
    let app = spawn_app(db.store.clone(), lane, test_lane(0)).await;
    app.sim.inject(
        ChannelKind::Telegram,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        1,
    );
    let id = app
        .release(new_broadcast("news", Priority::Normal, "n"))
        .await;
    app.wait_done(id, Duration::from_secs(20)).await;

    let throttled = app.sim.throttled_at();
    assert_eq!(throttled.len(), 1);
    let at = throttled[0].1;
    let received = app.sim.received();
    assert_eq!(per_address(&received, "n").len(), 20);
    let too_early: Vec<_> = received
        .iter()
        .filter(|r| r.at > at && r.at < at + Duration::from_millis(990))
        .collect();
    assert!(
        too_early.is_empty(),
        "sent inside the retry_after window: {too_early:?}"
    );
    let lanes = db.store.lane_states().await.unwrap();
    assert_eq!(lanes[0].channel, ChannelKind::Telegram);
    assert!(
        lanes[0]
            .pause_reason
            .as_deref()
            .unwrap_or_default()
            .contains("retry after 1")
    );
}

#[tokio::test]
async fn server_errors_and_hung_sends_are_retried_until_delivered() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 0, 10, &["news"]).await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    app.sim.inject(ChannelKind::Whatsapp, Fault::ServerError, 3);
    app.sim.inject(
        ChannelKind::Whatsapp,
        Fault::Hang(Duration::from_secs(3)),
        2,
    );
    let id = app
        .release(new_broadcast("news", Priority::Normal, "n"))
        .await;
    app.wait_done(id, Duration::from_secs(20)).await;

    let got = per_address(&app.sim.received(), "n");
    assert_eq!(got.len(), 10);
    assert!(got.values().all(|n| *n == 1));
    assert_eq!(app.sim.requests(), 15, "10 sends, 3 errors and 2 time-outs");
    assert_eq!(
        db.store
            .broadcast_stats(id)
            .await
            .unwrap()
            .total(DeliveryStatus::Sent),
        10
    );
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_ends_failed_with_its_last_error() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 0, 1, &["news"]).await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    app.sim
        .inject(ChannelKind::Whatsapp, Fault::ServerError, 100);
    let id = app
        .release(new_broadcast("news", Priority::Normal, "n"))
        .await;
    app.wait_done(id, Duration::from_secs(20)).await;

    assert_eq!(app.sim.requests(), 5, "max_attempts of the test lane");
    let stats = db.store.broadcast_stats(id).await.unwrap();
    assert_eq!(stats.total(DeliveryStatus::Failed), 1);
    let reasons = db.store.failure_reasons(id).await.unwrap();
    assert_eq!(
        reasons,
        vec![("gave up after 5 attempts: HTTP 502".to_string(), 1)]
    );
}

#[tokio::test]
async fn blocked_recipients_are_marked_gone_and_skipped_from_then_on() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 5, 5, &["news"]).await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    app.sim.block(ChannelKind::Telegram, "1000");
    app.sim.block(ChannelKind::Whatsapp, "4915100000000");
    let first = app
        .release(new_broadcast("news", Priority::Normal, "one"))
        .await;
    app.wait_done(first, Duration::from_secs(20)).await;
    let stats = db.store.broadcast_stats(first).await.unwrap();
    assert_eq!(stats.total(DeliveryStatus::Gone), 2);
    assert_eq!(stats.total(DeliveryStatus::Sent), 8);
    assert_eq!(app.sim.requests(), 10);

    let second = app
        .release(new_broadcast("news", Priority::Normal, "two"))
        .await;
    app.wait_done(second, Duration::from_secs(20)).await;
    assert_eq!(
        app.sim.requests(),
        18,
        "nobody asks the platform about gone recipients again"
    );
    assert_eq!(per_address(&app.sim.received(), "two").len(), 8);
}

#[tokio::test]
async fn stopping_mid_broadcast_puts_back_what_was_not_sent_and_a_restart_finishes_it() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 400, 0, &["news"]).await;
    let mut app = spawn_app(db.store.clone(), test_lane(200), test_lane(0)).await;
    let id = app
        .release(new_broadcast("news", Priority::Normal, "n"))
        .await;
    let sim = app.sim.clone();
    wait_until(Duration::from_secs(20), "50 delivered", || {
        let sim = sim.clone();
        async move { sim.received_count() >= 50 }
    })
    .await;
    app.stop().await;

    let stats = db.store.broadcast_stats(id).await.unwrap();
    assert_eq!(
        stats.total(DeliveryStatus::Leased),
        0,
        "every claim was finished or put back"
    );
    let sent = stats.total(DeliveryStatus::Sent);
    assert_eq!(
        sent as usize,
        app.sim.received_count(),
        "every send that arrived is recorded"
    );
    assert!(stats.total(DeliveryStatus::Pending) > 0);

    let restarted = spawn_app_with(
        db.reopen().await,
        app.sim.clone(),
        tokio_util::sync::CancellationToken::new(),
        test_lane(0),
        test_lane(0),
    );
    restarted.wait_done(id, Duration::from_secs(20)).await;
    let got = per_address(&restarted.sim.received(), "n");
    assert_eq!(got.len(), 400);
    assert!(
        got.values().all(|n| *n == 1),
        "a graceful stop sends nothing twice"
    );
}

#[tokio::test]
async fn quiet_hours_send_news_silently_hold_what_waits_and_let_alerts_sound() {
    use amtsbote::schedule::QuietHours;
    use chrono::Timelike;
    let db = TestDb::sqlite().await;
    seed(&*db.store, 3, 0, &["news", "traffic", "alerts"]).await;
    // A window around now, whatever the time of the test run.
    let tz = chrono_tz::Europe::Berlin;
    let now = chrono::Utc::now().with_timezone(&tz);
    let hm = |h: i64| {
        let t = now + chrono::Duration::hours(h);
        chrono::NaiveTime::from_hms_opt(t.hour(), t.minute(), 0).unwrap()
    };
    let quiet = std::sync::Arc::new(QuietHours {
        start: hm(-1),
        end: hm(1),
        tz,
        hold: ["traffic".to_string()].into(),
    });
    let mut lane = test_lane(0);
    lane.quiet = Some(quiet.clone());
    let app = spawn_app(db.store.clone(), lane.clone(), lane).await;

    let news = app
        .release(new_broadcast("news", Priority::Normal, "leise"))
        .await;
    let traffic = app
        .release(new_broadcast("traffic", Priority::Urgent, "morgen früh"))
        .await;
    let alert = app
        .release(new_broadcast("alerts", Priority::Alert, "laut"))
        .await;
    app.wait_done(news, Duration::from_secs(20)).await;
    app.wait_done(alert, Duration::from_secs(20)).await;
    let received = app.sim.received();
    assert!(
        received
            .iter()
            .filter(|r| &*r.text == "leise")
            .all(|r| r.silent)
    );
    assert_eq!(received.iter().filter(|r| &*r.text == "leise").count(), 3);
    assert!(
        received
            .iter()
            .filter(|r| &*r.text == "laut")
            .all(|r| !r.silent),
        "alerts always sound"
    );
    assert_eq!(received.iter().filter(|r| &*r.text == "laut").count(), 3);

    // Held, not lost: pending until the window ends.
    let store = db.store.clone();
    wait_until(Duration::from_secs(20), "traffic held", || {
        let store = store.clone();
        async move {
            store
                .broadcast_stats(traffic)
                .await
                .unwrap()
                .total(DeliveryStatus::Pending)
                == 3
        }
    })
    .await;
    assert!(!received.iter().any(|r| &*r.text == "morgen früh"));
    let due = db
        .store
        .next_due(ChannelKind::Telegram)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(due, quiet.ends_after(chrono::Utc::now()).timestamp_millis());
}

/// An alert to `recipients` Telegram subscribers through a platform that takes `per_send` for
/// each message, on a lane with `lane`'s lease; returns (messages received, people reached).
async fn alert_through_a_slow_platform(
    db: TestDb,
    recipients: u64,
    per_send: Duration,
    lane: amtsbote::queue::LaneSettings,
) -> (usize, usize) {
    seed(&*db.store, recipients, 0, &["alerts"]).await;
    let app = spawn_app(db.store.clone(), lane, test_lane(0)).await;
    app.sim.inject(
        ChannelKind::Telegram,
        Fault::Slow(per_send),
        3 * recipients as usize,
    );
    let id = app
        .release(new_broadcast("alerts", Priority::Alert, "Sirenen"))
        .await;
    app.wait_done(id, Duration::from_secs(120)).await;
    let got = per_address(&app.sim.received(), "Sirenen");
    let stats = db.store.broadcast_stats(id).await.unwrap();
    assert_eq!(stats.total(DeliveryStatus::Sent), recipients);
    (got.values().sum(), got.len())
}

/// Sends that outlast the lease: the lane extends its lease while its deliveries wait for a
/// slot and go out, so housekeeping never hands them to the next claim. The same shape as the
/// measured case below, small enough to run with every test.
async fn sends_outlasting_the_lease_arrive_once(db: TestDb) {
    let lane = amtsbote::queue::LaneSettings {
        concurrency: 4,
        lease: Duration::from_millis(600),
        send_timeout: Duration::from_secs(3),
        ..test_lane(0)
    };
    let (received, reached) =
        alert_through_a_slow_platform(db, 40, Duration::from_millis(300), lane).await;
    assert_eq!(reached, 40);
    assert_eq!(received, 40, "{} duplicates", received - reached);
}

#[tokio::test]
async fn sends_outlasting_the_lease_arrive_once_sqlite() {
    sends_outlasting_the_lease_arrive_once(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn sends_outlasting_the_lease_arrive_once_postgres() {
    if let Some(db) = TestDb::postgres().await {
        sends_outlasting_the_lease_arrive_once(db).await;
    }
}

/// The case measured from outside (issue 11), through the whole service as `amtsbote run`
/// builds it: an alert to 300 people, 2.5 s per send, `queue.lease_secs` = 5, the default
/// concurrency; 116 duplicates were measured before leases were extended.
/// About 25 s: `cargo test --test api measured_slow_platform -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn measured_slow_platform_sends_nothing_twice() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 300, 0, &["alerts"]).await;
    let svc =
        crate::helpers::Service::start(&db, false, &[("AMTSBOTE_QUEUE_LEASE_SECS", "5")]).await;
    svc.sim.inject(
        ChannelKind::Telegram,
        Fault::Slow(Duration::from_millis(2500)),
        3000,
    );
    let (status, answer) = svc
        .api(
            reqwest::Method::POST,
            "/api/v1/broadcasts",
            crate::helpers::EMERGENCY_TOKEN,
            Some(serde_json::json!({"topic": "alerts", "text": "Sirenen", "priority": "alert", "kind": "alert"})),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let id = answer["id"].as_i64().unwrap();
    svc.wait_done(id, Duration::from_secs(180)).await;
    let got = per_address(&svc.sim.received(), "Sirenen");
    let (received, reached): (usize, usize) = (got.values().sum(), got.len());
    eprintln!("received {received}, reached {reached}");
    assert_eq!(reached, 300);
    assert_eq!(received, 300, "{} duplicates", received - reached);
}
