//! A surge of sign-ups: people's messages are handled at once and in order per chat, staff
//! overtake waiting citizens, replies keep their share of a lane a broadcast drains at the cap,
//! nothing is lost on either channel at a low rate, nor when the service is killed mid-surge.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use amtsbote::domain::{ChannelKind, Role, SubscriberStatus};
use amtsbote::simulator::Simulator;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::helpers::{
    PRESS_TOKEN, Service, TestDb, amtsbote, message_to, seed, signed_webhook, wait_until,
};
use crate::telegram::message;
use crate::whatsapp::says;

/// Messages received per address on `channel`, texts in arrival order.
fn texts_by_address(sim: &Simulator, channel: ChannelKind) -> HashMap<String, Vec<String>> {
    let mut by: HashMap<String, Vec<String>> = HashMap::new();
    for r in sim.received().into_iter().filter(|r| r.channel == channel) {
        by.entry(r.address.to_string())
            .or_default()
            .push(r.text.to_string());
    }
    by
}

/// Waits until every one of `addresses` on `channel` got at least `n` messages.
async fn each_got(
    sim: &Simulator,
    channel: ChannelKind,
    addresses: &[String],
    n: usize,
    within: Duration,
) {
    let (sim, addresses) = (sim.clone(), addresses.to_vec());
    wait_until(
        within,
        &format!("{n} messages to each of {}", addresses.len()),
        move || {
            let (sim, addresses) = (sim.clone(), addresses.clone());
            async move {
                let by = texts_by_address(&sim, channel);
                addresses
                    .iter()
                    .all(|a| by.get(a).is_some_and(|t| t.len() >= n))
            }
        },
    )
    .await;
}

/// What the simulator may see in one second of a lane of `rate`: replies and broadcasts share
/// one bucket; arrival jitter may bunch its burst into the window (holding the cap to the
/// message is the limiter's own test).
fn within_cap(rate: u32) -> usize {
    (rate + amtsbote::queue::limiter::LaneLimiter::burst_for(rate)) as usize
}

/// The most messages of `channel` that arrived within any one second.
fn most_in_one_second(sim: &Simulator, channel: ChannelKind) -> usize {
    amtsbote::simulator::busiest_second(
        sim.received()
            .into_iter()
            .filter(|r| r.channel == channel)
            .map(|r| r.at)
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_chat_is_answered_in_the_order_it_wrote_while_chats_are_handled_at_once() {
    let db = TestDb::sqlite().await;
    let svc = Service::start(&db, false, &[]).await;
    let chats: Vec<i64> = (5000..5030).collect();
    for round in ["/start", "/stop", "/start", "/stop"] {
        for chat in &chats {
            svc.sim.push_update(message(*chat, round));
        }
    }
    let addresses: Vec<String> = chats.iter().map(i64::to_string).collect();
    each_got(
        &svc.sim,
        ChannelKind::Telegram,
        &addresses,
        6,
        Duration::from_secs(30),
    )
    .await;
    let by = texts_by_address(&svc.sim, ChannelKind::Telegram);
    for chat in &addresses {
        let kinds: Vec<&str> = by[chat]
            .iter()
            .map(|t| {
                if t.starts_with("Welcome") {
                    "welcome"
                } else if t.starts_with("Your topics") {
                    "topics"
                } else {
                    "other"
                }
            })
            .collect();
        assert_eq!(
            kinds,
            ["welcome", "topics", "other", "welcome", "topics", "other"],
            "chat {chat}: {:?}",
            by[chat]
        );
        let s = db
            .store
            .subscriber(ChannelKind::Telegram, chat)
            .await
            .unwrap()
            .expect("subscribed");
        assert_eq!(
            s.status,
            SubscriberStatus::Stopped,
            "chat {chat} ends stopped"
        );
    }
}

/// A news broadcast drains the Telegram lane at its cap of 20/s while citizens sign up and a
/// press officer asks for a preview: the officer's preview comes at once, the citizens'
/// answers keep their share (15 %: 3/s) of the lane, and no second sees more than the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_first_and_replies_keep_their_share_of_a_lane_a_broadcast_drains_at_the_cap() {
    let db = TestDb::sqlite().await;
    seed(&*db.store, 600, 0, &["news"]).await;
    db.store
        .set_staff(ChannelKind::Telegram, "900", Role::Press, None)
        .await
        .unwrap();
    let svc = Service::start(&db, false, &[("AMTSBOTE_TELEGRAM_RATE", "20")]).await;
    let (status, created) = svc
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            PRESS_TOKEN,
            Some(json!({"topic": "news", "text": "Stadtfest am Samstag"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let news = created["id"].as_i64().unwrap();
    message_to(&svc.sim, "1000", "Stadtfest").await;

    // Sixty citizens write at once: 120 answers, far more than their share gives in the test.
    let citizens: Vec<String> = (7000..7060).map(|c: i64| c.to_string()).collect();
    for c in &citizens {
        svc.sim.push_update(message(c.parse().unwrap(), "/start"));
    }
    let sim = svc.sim.clone();
    wait_until(
        Duration::from_secs(10),
        "the first citizens answered",
        move || {
            let sim = sim.clone();
            async move {
                sim.received()
                    .iter()
                    .any(|r| r.address.starts_with("70") && r.text.starts_with("Welcome"))
            }
        },
    )
    .await;
    let asked = Instant::now();
    svc.sim
        .push_update(message(900, "/announce news Brücke gesperrt"));
    message_to(&svc.sim, "900", "/confirm").await;
    let staff_wait = asked.elapsed();
    let answered = |sim: &Simulator| {
        sim.received()
            .iter()
            .filter(|r| citizens.iter().any(|c| **c == *r.address))
            .count()
    };
    // Behind the citizens it would take 40 s (120 answers at their 3/s); the demo measures
    // the 1 s of the target on a release build, this debug build shares the cores with the
    // other tests.
    assert!(
        staff_wait < Duration::from_secs(3),
        "the preview took {staff_wait:?}"
    );
    assert!(
        answered(&svc.sim) < 2 * citizens.len(),
        "citizens were still waiting when the preview came"
    );

    // Four seconds of the lane later: the replies had their share, the broadcast the rest.
    let before = (answered(&svc.sim), Instant::now());
    tokio::time::sleep(Duration::from_secs(4)).await;
    let replies = answered(&svc.sim) - before.0;
    let seconds = before.1.elapsed().as_secs_f64();
    let news_pending = db
        .store
        .broadcast(news)
        .await
        .unwrap()
        .is_some_and(|b| b.status != amtsbote::domain::BroadcastStatus::Done);
    assert!(news_pending, "the broadcast still drains");
    assert!(
        replies as f64 >= 2.0 * seconds,
        "{replies} replies in {seconds:.1} s while the broadcast drained"
    );
    let most = most_in_one_second(&svc.sim, ChannelKind::Telegram);
    assert!(
        most <= within_cap(20),
        "{most} messages in one second on a lane of 20/s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_surge_on_both_channels_at_a_low_rate_loses_nothing() {
    let db = TestDb::sqlite().await;
    let svc = Service::start(
        &db,
        false,
        &[
            ("AMTSBOTE_TELEGRAM_RATE", "40"),
            ("AMTSBOTE_WHATSAPP_RATE", "40"),
            // Meta sends from many addresses; here all 80 come from one.
            ("AMTSBOTE_HTTP_MAX_CONNECTIONS_PER_IP", "0"),
        ],
    )
    .await;
    let telegram: Vec<String> = (8000..8080).map(|c: i64| c.to_string()).collect();
    let whatsapp: Vec<String> = (0..80).map(|i| format!("4917100{i:05}")).collect();
    for c in &telegram {
        svc.sim.push_update(message(c.parse().unwrap(), "/start"));
    }
    // All at once, as Meta sends them: each webhook waits for its message to be handled.
    let mut posts = tokio::task::JoinSet::new();
    for n in &whatsapp {
        posts.spawn(signed_webhook(svc.base.clone(), says(n, "START")));
    }
    while let Some(status) = posts.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::OK);
    }
    each_got(
        &svc.sim,
        ChannelKind::Telegram,
        &telegram,
        2,
        Duration::from_secs(30),
    )
    .await;
    each_got(
        &svc.sim,
        ChannelKind::Whatsapp,
        &whatsapp,
        2,
        Duration::from_secs(30),
    )
    .await;
    for (channel, addresses) in [
        (ChannelKind::Telegram, &telegram),
        (ChannelKind::Whatsapp, &whatsapp),
    ] {
        let by = texts_by_address(&svc.sim, channel);
        for a in addresses {
            assert_eq!(by[a].len(), 2, "{channel} {a}: {:?}", by[a]);
            let s = db.store.subscriber(channel, a).await.unwrap();
            assert!(s.is_some_and(|s| s.status == SubscriberStatus::Active));
        }
        let most = most_in_one_second(&svc.sim, channel);
        assert!(
            most <= within_cap(40),
            "{most} messages in one second on {channel}"
        );
    }
}

/// Killed with SIGKILL while citizens' answers wait for the lane: what they did is stored (the
/// offset never passes an update the conversation has not handled, see `Progress`), the
/// restart reads on from there, and whoever writes again is answered. Answers not yet sent at
/// the kill are not sent again (they are not kept in the database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_surge_every_sign_up_is_kept_and_the_restart_reads_on() {
    let db = TestDb::sqlite().await;
    let shutdown = CancellationToken::new();
    let sim = Simulator::start(shutdown.clone()).await.unwrap();
    let chats: Vec<String> = (9000..9030).map(|c: i64| c.to_string()).collect();
    for c in &chats {
        sim.push_update(message(c.parse().unwrap(), "/start"));
    }
    let service = |rate: &str| {
        let mut cmd = amtsbote();
        cmd.env("AMTSBOTE_DATABASE_URL", &db.url)
            .env("AMTSBOTE_TELEGRAM_TOKEN", "42:surge-test")
            .env("AMTSBOTE_TELEGRAM_API_URL", &sim.telegram_url)
            .env("AMTSBOTE_TELEGRAM_RATE", rate)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd.arg("run").spawn().unwrap()
    };
    let mut first = service("5");
    let s = sim.clone();
    wait_until(Duration::from_secs(30), "the first answers", || {
        let s = s.clone();
        async move { s.received_count() >= 6 }
    })
    .await;
    first.kill().await.unwrap(); // SIGKILL: no shutdown, no flush
    let answered_at_kill = texts_by_address(&sim, ChannelKind::Telegram)
        .values()
        .filter(|t| t.len() >= 2)
        .count();
    assert!(answered_at_kill < chats.len(), "the kill came mid-surge");

    let _second = service("0");
    sim.push_update(message(9100, "/start"));
    message_to(&sim, "9100", "").await;
    for c in &chats {
        let s = db.store.subscriber(ChannelKind::Telegram, c).await.unwrap();
        assert!(
            s.is_some_and(|s| s.status == SubscriberStatus::Active),
            "{c} signed up"
        );
    }
    shutdown.cancel();
}
