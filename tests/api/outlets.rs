//! Posting once, everywhere (issue 24): each broadcast goes to the configured outlets through
//! their own lanes of the durable queue — the simulated Mastodon and the city's website here —
//! with the archive's check link, corrections and retractions following their post, a 429
//! pausing only its outlet, and a kill between the platform's answer and the acknowledgement
//! posting nothing twice. On both stores.

use std::time::Duration;

use amtsbote::domain::outlet::{OutletAction, OutletPostStatus};
use amtsbote::domain::{BroadcastKind, ChannelKind, Priority};
use amtsbote::simulator::outlets::{FakeBluesky, FakeMastodon, FakeWebsite};
use amtsbote::store::{OutletPost, Store};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::helpers::{
    EMERGENCY_TOKEN, PRESS_TOKEN, Service, TestDb, amtsbote, new_broadcast, seed, wait_until,
};

crate::helpers::on_both_stores!(
    multi_thread:
    a_news_item_goes_once_to_each_outlet_with_the_check_link,
    a_correction_edits_the_post_and_a_retraction_edits_and_replies,
    a_429_pauses_only_its_outlet_and_an_alert_overtakes_the_news_there,
    drills_stay_home_and_the_webhook_is_retried_with_the_same_id,
    a_kill_between_the_answer_and_the_ack_posts_once_on_mastodon,
    every_outlet_posts_corrects_and_retracts_in_its_own_way,
    a_429_from_bluesky_pauses_only_the_bluesky_lane,
    a_whatsapp_channel_post_is_copied_and_recorded_as_posted_by_hand,
    the_api_previews_each_outlets_post_before_the_release,
    a_kill_between_the_channel_post_and_its_ack_posts_at_most_the_one_in_flight_again,
    outlet_posts_past_the_keep_time_are_forgotten_with_their_broadcast,
);

const MASTODON_TOKEN: &str = "mastodon-token-0123456789";
const WEBHOOK_SECRET: &str = "website-secret-0123456789";
const BLUESKY_HANDLE: &str = "stadt.bsky.social";
const BLUESKY_PASSWORD: &str = "abcd-efgh-ijkl-mnop";
const PUBLIC_URL: &str = "https://archiv.stadt.example";
const NEWS: &str = "Die Hauptstraße ist ab Montag zwischen Markt und Bahnhof gesperrt.";

/// The fake platforms of one test.
struct Platforms {
    mastodon: FakeMastodon,
    website: FakeWebsite,
    bluesky: FakeBluesky,
    _stop: tokio_util::sync::DropGuard,
}

impl Platforms {
    async fn start() -> Platforms {
        let stop = CancellationToken::new();
        Platforms {
            mastodon: FakeMastodon::start(MASTODON_TOKEN, 500, stop.clone())
                .await
                .expect("fake Mastodon"),
            website: FakeWebsite::start(WEBHOOK_SECRET, stop.clone())
                .await
                .expect("fake website"),
            bluesky: FakeBluesky::start(BLUESKY_HANDLE, BLUESKY_PASSWORD, stop.clone())
                .await
                .expect("fake Bluesky"),
            _stop: stop.drop_guard(),
        }
    }

    /// The config file's `[[outlets]]`: Mastodon (alerts too) and the website.
    fn file(&self) -> String {
        format!(
            "[[outlets]]\nkind = \"mastodon\"\nname = \"mastodon\"\nurl = \"{}\"\ntoken_env = \"STADT_MASTODON_TOKEN\"\nrate_per_minute = 0\n\n\
             [[outlets]]\nkind = \"webhook\"\nname = \"website\"\nurl = \"{}\"\nsecret_env = \"STADT_WEBHOOK_SECRET\"\nrate_per_minute = 0\n\n\
             [[outlets]]\nkind = \"whatsapp_channel\"\nname = \"whatsapp-kanal\"\nalerts = false\n",
            self.mastodon.url, self.website.url
        )
    }

    /// A `[[outlets]]` table for the fake Bluesky.
    fn bluesky_entry(&self) -> String {
        format!(
            "\n[[outlets]]\nkind = \"bluesky\"\nname = \"bluesky\"\nurl = \"{}\"\nhandle = \"{BLUESKY_HANDLE}\"\npassword_env = \"STADT_BLUESKY_PASSWORD\"\n",
            self.bluesky.url
        )
    }

    /// Mastodon, the website, Bluesky and the city's Telegram channel.
    fn file_all(&self) -> String {
        format!(
            "[[outlets]]\nkind = \"mastodon\"\nname = \"mastodon\"\nurl = \"{}\"\ntoken_env = \"STADT_MASTODON_TOKEN\"\nrate_per_minute = 0\n\n\
             [[outlets]]\nkind = \"webhook\"\nname = \"website\"\nurl = \"{}\"\nsecret_env = \"STADT_WEBHOOK_SECRET\"\nrate_per_minute = 0\n\n\
             [[outlets]]\nkind = \"bluesky\"\nname = \"bluesky\"\nurl = \"{}\"\nhandle = \"{BLUESKY_HANDLE}\"\npassword_env = \"STADT_BLUESKY_PASSWORD\"\nrate_per_minute = 0\n\n\
             [[outlets]]\nkind = \"telegram_channel\"\nname = \"kanal\"\nchat = \"@stadt\"\nrate_per_minute = 0\n",
            self.mastodon.url, self.website.url, self.bluesky.url
        )
    }

    fn env(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("STADT_BLUESKY_PASSWORD", BLUESKY_PASSWORD),
            ("STADT_MASTODON_TOKEN", MASTODON_TOKEN),
            ("STADT_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("AMTSBOTE_ARCHIVE_PUBLIC_URL", PUBLIC_URL),
        ]
    }

    async fn service(&self, db: &TestDb) -> Service {
        Service::start_with_file(db, false, &self.env(), Some(&self.file())).await
    }
}

async fn send(svc: &Service, token: &str, topic: &str, text: &str) -> i64 {
    let (status, b) = svc
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            token,
            Some(json!({"topic": topic, "text": text})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{b}");
    b["id"].as_i64().expect("id")
}

/// Waits until every outlet row about `id` with an API has ended (sent, failed or skipped).
async fn outlets_settled(
    store: &std::sync::Arc<dyn Store>,
    id: i64,
    rows: usize,
) -> Vec<OutletPost> {
    let s = store.clone();
    wait_until(
        Duration::from_secs(30),
        &format!("the outlet posts about {id} settled"),
        move || {
            let s = s.clone();
            async move {
                let posts = s.outlet_posts_about(id).await.unwrap_or_default();
                posts.len() >= rows
                    && posts.iter().all(|p| {
                        !matches!(
                            p.status,
                            OutletPostStatus::Pending | OutletPostStatus::Leased
                        )
                    })
            }
        },
    )
    .await;
    store.outlet_posts_about(id).await.expect("outlet posts")
}

fn of<'a>(posts: &'a [OutletPost], outlet: &str, action: OutletAction) -> &'a OutletPost {
    posts
        .iter()
        .find(|p| p.outlet == outlet && p.action == action)
        .unwrap_or_else(|| panic!("no {action:?} on {outlet}: {posts:?}"))
}

async fn a_news_item_goes_once_to_each_outlet_with_the_check_link(db: TestDb) {
    seed(&*db.store, 20, 10, &["news"]).await;
    let p = Platforms::start().await;
    let svc = p.service(&db).await;
    let id = send(&svc, PRESS_TOKEN, "news", NEWS).await;
    svc.wait_done(id, Duration::from_secs(20)).await;
    let posts = outlets_settled(&svc.store, id, 3).await;
    let code = svc
        .store
        .broadcast(id)
        .await
        .unwrap()
        .and_then(|b| b.public_code)
        .expect("a public code");
    let link = format!("{PUBLIC_URL}/m/{code}");

    let statuses = p.mastodon.statuses();
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert_eq!(statuses[0].text, format!("{NEWS}\n\n{link}"));
    assert_eq!(p.mastodon.violations(), Vec::<String>::new());
    let mastodon = of(&posts, "mastodon", OutletAction::Post);
    assert_eq!(mastodon.status, OutletPostStatus::Sent);
    assert_eq!(mastodon.remote_id.as_deref(), Some(statuses[0].id.as_str()));
    assert!(
        mastodon
            .remote_url
            .as_deref()
            .is_some_and(|u| u.ends_with(&statuses[0].id)),
        "{mastodon:?}"
    );

    let hooks = p.website.hooks();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert!(hooks[0].signed, "signed with HMAC-SHA256 over the raw body");
    assert_eq!(hooks[0].body["event"], "broadcast");
    assert_eq!(hooks[0].body["text"], NEWS);
    assert_eq!(hooks[0].body["link"], link.as_str());
    assert_eq!(hooks[0].body["id"], hooks[0].delivery.as_str());

    // WhatsApp Channels: waits for a person, then records who and when.
    let by_hand = of(&posts, "whatsapp-kanal", OutletAction::Post);
    assert_eq!(by_hand.status, OutletPostStatus::Manual);

    // The API shows each outlet's state and link.
    let (status, view) = svc
        .api(
            Method::GET,
            &format!("/api/v1/broadcasts/{id}"),
            PRESS_TOKEN,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let outlets = view["outlets"].as_array().expect("outlets in the view");
    assert_eq!(outlets.len(), 3, "{view}");
    assert!(
        outlets.iter().any(|o| o["outlet"] == "mastodon"
            && o["status"] == "sent"
            && o["remote_url"]
                .as_str()
                .is_some_and(|u| u.contains(&statuses[0].id))
            && o["text"] == statuses[0].text.as_str()),
        "{view}"
    );

    // The citizens had it as ever.
    let stats = svc.store.broadcast_stats(id).await.unwrap();
    assert_eq!(
        stats.count(
            ChannelKind::Telegram,
            amtsbote::domain::DeliveryStatus::Sent
        ),
        20
    );
}

async fn a_correction_edits_the_post_and_a_retraction_edits_and_replies(db: TestDb) {
    let p = Platforms::start().await;
    let svc = p.service(&db).await;
    let id = send(&svc, PRESS_TOKEN, "news", NEWS).await;
    outlets_settled(&svc.store, id, 3).await;
    let corrected = "Die Hauptstraße ist ab Dienstag zwischen Markt und Bahnhof gesperrt.";
    let (status, body) = svc
        .api(
            Method::POST,
            &format!("/api/v1/broadcasts/{id}/corrections"),
            PRESS_TOKEN,
            Some(json!({"text": corrected})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let correction = body["correction"]["id"].as_i64().expect("correction id");
    let posts = outlets_settled(&svc.store, correction, 2).await;
    let statuses = p.mastodon.statuses();
    assert_eq!(statuses.len(), 1, "edited, not posted again: {statuses:?}");
    assert!(statuses[0].text.starts_with(corrected), "{statuses:?}");
    assert_eq!(statuses[0].edits.len(), 1);
    assert_eq!(
        of(&posts, "mastodon", OutletAction::Correct).status,
        OutletPostStatus::Sent
    );
    let hooks = p.website.hooks();
    assert_eq!(hooks.len(), 2);
    assert_eq!(hooks[1].body["event"], "correction");
    assert_eq!(hooks[1].body["version"], 2);
    assert_eq!(hooks[1].body["text"], corrected);
    assert_ne!(
        hooks[0].delivery, hooks[1].delivery,
        "another id per version"
    );

    let (status, body) = svc
        .api(
            Method::POST,
            &format!("/api/v1/broadcasts/{id}/retract"),
            PRESS_TOKEN,
            Some(json!({"text": "Die Sperrung entfällt."})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let notices = svc.store.notices_of(id).await.unwrap();
    let retraction = notices
        .iter()
        .find(|n| n.kind == BroadcastKind::Retraction && n.notice)
        .expect("a retraction");
    assert_eq!(retraction.priority, Priority::Alert, "at alert priority");
    let posts = outlets_settled(&svc.store, retraction.id, 2).await;
    let retracted = of(&posts, "mastodon", OutletAction::Retract);
    assert_eq!(retracted.status, OutletPostStatus::Sent);
    let statuses = p.mastodon.statuses();
    assert_eq!(statuses.len(), 2, "the post and its reply: {statuses:?}");
    assert_eq!(
        statuses[1].in_reply_to_id.as_deref(),
        Some(statuses[0].id.as_str())
    );
    assert!(
        statuses[0].text.contains("Die Sperrung entfällt."),
        "edited: {statuses:?}"
    );
    assert!(statuses[1].text.contains("Die Sperrung entfällt."));
    let hooks = p.website.hooks();
    assert_eq!(hooks.last().unwrap().body["event"], "retraction");
    assert_eq!(p.mastodon.violations(), Vec::<String>::new());
}

/// Mastodon answers 429: its lane pauses until the reset it names, the website and the
/// citizens go on, and the alert released meanwhile goes out there before the news.
async fn a_429_pauses_only_its_outlet_and_an_alert_overtakes_the_news_there(db: TestDb) {
    seed(&*db.store, 20, 0, &["news", "alerts"]).await;
    let p = Platforms::start().await;
    p.mastodon.throttle(Duration::from_secs(3), 1);
    let svc = p.service(&db).await;
    let news = send(&svc, PRESS_TOKEN, "news", NEWS).await;
    let store = svc.store.clone();
    wait_until(Duration::from_secs(20), "Mastodon refused the news", || {
        let store = store.clone();
        async move {
            store
                .outlet_post_of("mastodon", news)
                .await
                .ok()
                .flatten()
                .is_some_and(|p| p.attempts == 1 && p.status == OutletPostStatus::Pending)
        }
    })
    .await;
    let alert_text = "Warnung: Großbrand im Hafen, Fenster und Türen schließen.";
    let alert = send(&svc, EMERGENCY_TOKEN, "alerts", alert_text).await;
    // While Mastodon pauses, the website and the citizens have both.
    svc.wait_done(alert, Duration::from_secs(20)).await;
    svc.wait_done(news, Duration::from_secs(20)).await;
    let w = p.website.clone();
    wait_until(Duration::from_secs(20), "the website has both", move || {
        let w = w.clone();
        async move { w.hooks().len() == 2 }
    })
    .await;
    assert!(
        p.mastodon.statuses().is_empty(),
        "Mastodon still pauses: {:?}",
        p.mastodon.statuses()
    );
    outlets_settled(&svc.store, news, 3).await;
    outlets_settled(&svc.store, alert, 2).await;
    let statuses = p.mastodon.statuses();
    assert_eq!(statuses.len(), 2, "{statuses:?}");
    assert!(
        statuses[0].text.starts_with("Warnung"),
        "the alert first: {statuses:?}"
    );
    assert!(statuses[1].text.starts_with(NEWS));
}

/// Drills never go to outlets; a failed webhook is retried with the same delivery id.
async fn drills_stay_home_and_the_webhook_is_retried_with_the_same_id(db: TestDb) {
    let p = Platforms::start().await;
    p.website.fail(2);
    let svc = p.service(&db).await;
    let created = db
        .store
        .create_broadcast(&new_broadcast(
            amtsbote::domain::DRILL_TOPIC,
            Priority::Alert,
            "Probealarm",
        ))
        .await
        .expect("a drill");
    let news = send(&svc, PRESS_TOKEN, "news", NEWS).await;
    let posts = outlets_settled(&svc.store, news, 3).await;
    let website = of(&posts, "website", OutletAction::Post);
    assert_eq!(website.status, OutletPostStatus::Sent);
    assert_eq!(website.attempts, 3, "two 503s, then taken");
    assert_eq!(p.website.hooks().len(), 1);
    assert_eq!(
        website.remote_id.as_deref(),
        Some(p.website.hooks()[0].delivery.as_str())
    );
    assert!(
        svc.store
            .outlet_posts_about(created.broadcast.id)
            .await
            .unwrap()
            .is_empty(),
        "no outlet takes a drill"
    );
}

/// `amtsbote run` on `db` with the config file `file` and the settings `env`, quick to poll
/// and with short leases, its output discarded: a process a test may kill.
fn run(db: &TestDb, file: &std::path::Path, env: Vec<(&str, &str)>) -> tokio::process::Child {
    amtsbote()
        .env("AMTSBOTE_DATABASE_URL", &db.url)
        .env("AMTSBOTE_QUEUE_POLL_MS", "50")
        .env("AMTSBOTE_QUEUE_LEASE_SECS", "2")
        .envs(env)
        .arg("--config")
        .arg(file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .arg("run")
        .spawn()
        .expect("amtsbote run")
}

/// `amtsbote broadcast --topic news --text NEWS --yes` on `db`: the broadcast's id.
async fn news_by_cli(db: &TestDb) -> i64 {
    let out = amtsbote()
        .env("AMTSBOTE_DATABASE_URL", &db.url)
        .args([
            "broadcast",
            "--topic",
            "news",
            "--text",
            NEWS,
            "--yes",
            "--json",
        ])
        .output()
        .await
        .expect("amtsbote broadcast");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    answer["id"].as_i64().expect("id")
}

/// `amtsbote run` killed with SIGKILL after Mastodon made the status and Bluesky the record,
/// before either answer was acknowledged, then started again: the retry carries the same
/// Idempotency-Key and Mastodon answers with the status it made — one status, not two; Bluesky
/// (no such key) gets the one in flight again, at most once, counted.
async fn a_kill_between_the_answer_and_the_ack_posts_once_on_mastodon(db: TestDb) {
    let p = Platforms::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("amtsbote.toml");
    let bluesky = p.bluesky_entry();
    std::fs::write(&file, p.file() + &bluesky).expect("config file");
    let service = || run(&db, &file, p.env());
    p.mastodon.stall_after_create(true);
    p.bluesky.stall_after_create(true);
    let mut first = service();
    let id = news_by_cli(&db).await;
    let m = p.mastodon.clone();
    wait_until(
        Duration::from_secs(30),
        "Mastodon made the status",
        move || {
            let m = m.clone();
            async move { m.statuses().len() == 1 }
        },
    )
    .await;
    let b = p.bluesky.clone();
    wait_until(
        Duration::from_secs(30),
        "Bluesky made the record",
        move || {
            let b = b.clone();
            async move { b.posts().len() == 1 }
        },
    )
    .await;
    first.kill().await.expect("SIGKILL"); // between the answer and the ack
    let in_flight = db
        .store
        .outlet_post_of("bluesky", id)
        .await
        .unwrap()
        .expect("the row");
    assert_eq!(in_flight.status, OutletPostStatus::Leased, "{in_flight:?}");
    let leased = db
        .store
        .outlet_post_of("mastodon", id)
        .await
        .unwrap()
        .expect("the row");
    assert_eq!(
        leased.status,
        OutletPostStatus::Leased,
        "not acknowledged: {leased:?}"
    );
    p.mastodon.stall_after_create(false);
    p.bluesky.stall_after_create(false);

    let mut second = service();
    let posts = outlets_settled(&db.store, id, 4).await;
    second.kill().await.expect("SIGKILL");
    // Bluesky has no idempotency key: the record in flight at the kill is made again, once.
    let duplicates = p.bluesky.posts().len() - 1;
    assert!(
        duplicates <= 1,
        "{duplicates} duplicates, 1 in flight at the kill"
    );
    assert_eq!(of(&posts, "bluesky", OutletAction::Post).attempts, 2);
    assert_eq!(p.bluesky.sessions(), 2, "one login per process");
    let post = of(&posts, "mastodon", OutletAction::Post);
    assert_eq!(post.status, OutletPostStatus::Sent);
    assert_eq!(post.attempts, 2, "tried again after the restart");
    assert_eq!(p.mastodon.posts(), 2, "two requests");
    assert_eq!(
        p.mastodon.statuses().len(),
        1,
        "0 duplicates: {:?}",
        p.mastodon.statuses()
    );
    assert_eq!(
        post.remote_id.as_deref(),
        Some(p.mastodon.statuses()[0].id.as_str())
    );
    assert_eq!(p.website.arrivals().len(), 1);
}

/// `amtsbote run` killed with SIGKILL after the simulated Telegram took the channel's post and
/// before its answer came back, then started again: the channel has no idempotency key, so the
/// post in flight at the kill is made again — at most once, and counted in the row's attempts.
async fn a_kill_between_the_channel_post_and_its_ack_posts_at_most_the_one_in_flight_again(
    db: TestDb,
) {
    let sim_stop = CancellationToken::new();
    let sim = amtsbote::simulator::Simulator::start(sim_stop.clone())
        .await
        .expect("simulators");
    let _sim = sim_stop.drop_guard();
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("amtsbote.toml");
    std::fs::write(
        &file,
        "[[outlets]]\nkind = \"telegram_channel\"\nname = \"kanal\"\nchat = \"@stadt\"\nrate_per_minute = 0\n",
    )
    .expect("config file");
    let service = || {
        let telegram = vec![
            ("AMTSBOTE_TELEGRAM_TOKEN", "42:test-token"),
            ("AMTSBOTE_TELEGRAM_API_URL", sim.telegram_url.as_str()),
            ("AMTSBOTE_TELEGRAM_RATE", "0"),
            ("AMTSBOTE_ARCHIVE_PUBLIC_URL", PUBLIC_URL),
        ];
        run(&db, &file, telegram)
    };
    let to_channel = |sim: &amtsbote::simulator::Simulator| {
        sim.received()
            .iter()
            .filter(|r| &*r.address == "@stadt")
            .count()
    };
    // Every message is taken and recorded, its answer held back: the kill comes in between.
    sim.hold_sends(&[]);
    let mut first = service();
    let id = news_by_cli(&db).await;
    let s = sim.clone();
    wait_until(
        Duration::from_secs(30),
        "the channel's post reached Telegram",
        move || {
            let n = to_channel(&s);
            async move { n == 1 }
        },
    )
    .await;
    first.kill().await.expect("SIGKILL"); // between Telegram's taking it and the ack
    let in_flight = db
        .store
        .outlet_post_of("kanal", id)
        .await
        .unwrap()
        .expect("the row");
    assert_eq!(in_flight.status, OutletPostStatus::Leased, "{in_flight:?}");
    sim.release_sends();

    let mut second = service();
    let posts = outlets_settled(&db.store, id, 1).await;
    second.kill().await.expect("SIGKILL");
    let post = of(&posts, "kanal", OutletAction::Post);
    assert_eq!(post.status, OutletPostStatus::Sent, "{post:?}");
    assert_eq!(post.attempts, 2, "tried again after the restart");
    let duplicates = to_channel(&sim) - 1;
    assert!(
        duplicates <= 1,
        "{duplicates} duplicates, 1 in flight at the kill"
    );
}

/// Longer than 300 graphemes, with umlauts and emoji (a ZWJ family counts one grapheme and
/// 25 bytes).
fn long_text() -> String {
    "Überschwemmung 🌊 in Köln‑Mülheim: Straßen gesperrt, Grüße an alle Helfer 👩‍👩‍👧‍👦! ".repeat(8)
}

/// The Telegram channel, Bluesky, Mastodon and the website: a long text is cut for each with
/// the check link; a correction edits on Mastodon and the channel and replies on Bluesky
/// (after a refresh of the expired session, no new login); a retraction edits and replies.
async fn every_outlet_posts_corrects_and_retracts_in_its_own_way(db: TestDb) {
    let p = Platforms::start().await;
    let svc = Service::start_with_file(&db, false, &p.env(), Some(&p.file_all())).await;
    let text = long_text();
    let id = send(&svc, PRESS_TOKEN, "news", &text).await;
    let posts = outlets_settled(&svc.store, id, 4).await;
    for p in &posts {
        assert_eq!(p.status, OutletPostStatus::Sent, "{p:?}");
    }
    let code = svc
        .store
        .broadcast(id)
        .await
        .unwrap()
        .and_then(|b| b.public_code)
        .expect("code");
    let link = format!("{PUBLIC_URL}/m/{code}");

    // Bluesky: ≤ 300 graphemes, cut at a word, the facet's bytes exactly the link.
    let bsky = p.bluesky.posts();
    assert_eq!(bsky.len(), 1);
    let record = &bsky[0].record;
    let posted = bsky[0].text();
    use unicode_segmentation::UnicodeSegmentation;
    assert!(posted.graphemes(true).count() <= 300, "{posted}");
    assert!(posted.ends_with(&format!("…\n\n{link}")), "{posted}");
    let facet = &record["facets"][0];
    let (start, end) = (
        facet["index"]["byteStart"].as_u64().unwrap() as usize,
        facet["index"]["byteEnd"].as_u64().unwrap() as usize,
    );
    assert_eq!(&posted.as_bytes()[start..end], link.as_bytes());
    assert_eq!(facet["features"][0]["uri"], link.as_str());
    assert_eq!(p.bluesky.violations(), Vec::<String>::new());
    let bsky_row = of(&posts, "bluesky", OutletAction::Post);
    assert_eq!(bsky_row.remote_id.as_deref(), Some(bsky[0].uri.as_str()));
    assert!(
        bsky_row
            .remote_url
            .as_deref()
            .unwrap()
            .starts_with("https://bsky.app/profile/stadt.bsky.social/post/")
    );

    // Mastodon: ≤ 500 with the URL as 23.
    let statuses = p.mastodon.statuses();
    assert_eq!(statuses.len(), 1);
    assert!(amtsbote::outlets::text::mastodon_length(&statuses[0].text) <= 500);
    assert!(statuses[0].text.ends_with(&format!("…\n\n{link}")));

    // The channel: the citizens' formatting, footer included.
    let channel: Vec<_> = svc
        .sim
        .received()
        .into_iter()
        .filter(|r| &*r.address == "@stadt")
        .collect();
    assert_eq!(channel.len(), 1, "{channel:?}");
    assert!(channel[0].text.starts_with("Überschwemmung"));
    assert!(
        channel[0]
            .text
            .ends_with(&format!("archiv.stadt.example/m/{code}")),
        "{}",
        channel[0].text
    );
    let kanal = of(&posts, "kanal", OutletAction::Post);
    assert_eq!(
        kanal.remote_id.as_deref(),
        Some(channel[0].message_id.to_string().as_str())
    );
    assert_eq!(
        kanal.remote_url.as_deref(),
        Some(format!("https://t.me/stadt/{}", channel[0].message_id).as_str())
    );

    // A correction, after the Bluesky session expired.
    p.bluesky.expire_access_tokens();
    let corrected = "Überschwemmung in Köln-Mülheim: nur die Uferstraße ist gesperrt.";
    let (status, body) = svc
        .api(
            Method::POST,
            &format!("/api/v1/broadcasts/{id}/corrections"),
            PRESS_TOKEN,
            Some(json!({"text": corrected})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let correction = body["correction"]["id"].as_i64().expect("id");
    let posts = outlets_settled(&svc.store, correction, 4).await;
    for p in posts.iter().filter(|p| p.action == OutletAction::Correct) {
        assert_eq!(p.status, OutletPostStatus::Sent, "{p:?}");
    }
    let bsky = p.bluesky.posts();
    assert_eq!(bsky.len(), 2, "a reply: {bsky:?}");
    assert_eq!(bsky[1].reply_to(), Some(bsky[0].uri.as_str()));
    assert!(bsky[1].text().starts_with(corrected));
    assert_eq!(p.bluesky.sessions(), 1, "one login");
    assert_eq!(p.bluesky.refreshes(), 1, "the session refreshed");
    assert_eq!(p.mastodon.statuses().len(), 1, "edited in place");
    assert!(p.mastodon.statuses()[0].text.starts_with(corrected));
    let edits = svc.sim.edits();
    assert!(
        edits
            .iter()
            .any(|e| e.message_id == channel[0].message_id && e.text.starts_with(corrected)),
        "the channel's post edited: {edits:?}"
    );

    // A retraction.
    let (status, body) = svc
        .api(
            Method::POST,
            &format!("/api/v1/broadcasts/{id}/retract"),
            PRESS_TOKEN,
            Some(json!({"text": "Entwarnung: keine Sperrungen."})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let notice = body["notice"].as_i64().expect("notice id");
    let posts = outlets_settled(&svc.store, notice, 4).await;
    for p in &posts {
        assert_eq!(p.status, OutletPostStatus::Sent, "{p:?}");
    }
    let bsky = p.bluesky.posts();
    assert_eq!(bsky.len(), 3);
    assert_eq!(bsky[2].reply_to(), Some(bsky[0].uri.as_str()));
    assert!(bsky[2].text().contains("keine Sperrungen"));
    let replies: Vec<_> = svc
        .sim
        .received()
        .into_iter()
        .filter(|r| &*r.address == "@stadt" && r.text.contains("keine Sperrungen"))
        .collect();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(
        replies[0].reply_to.as_deref(),
        Some(channel[0].message_id.to_string().as_str())
    );
    assert!(
        svc.sim
            .edits()
            .iter()
            .any(|e| e.message_id == channel[0].message_id && e.text.contains("keine Sperrungen")),
        "the channel's post says it was retracted"
    );
}

/// Bluesky answers 429 with its RateLimit headers: only its lane pauses; the other outlets and
/// the citizens have the news meanwhile, and Bluesky gets it after the reset.
async fn a_429_from_bluesky_pauses_only_the_bluesky_lane(db: TestDb) {
    seed(&*db.store, 30, 0, &["news"]).await;
    let p = Platforms::start().await;
    p.bluesky.throttle(Duration::from_secs(5), 1);
    let svc = Service::start_with_file(&db, false, &p.env(), Some(&p.file_all())).await;
    let id = send(&svc, PRESS_TOKEN, "news", NEWS).await;
    svc.wait_done(id, Duration::from_secs(20)).await;
    let store = svc.store.clone();
    wait_until(
        Duration::from_secs(20),
        "the other outlets posted",
        move || {
            let store = store.clone();
            async move {
                let posts = store.outlet_posts_about(id).await.unwrap_or_default();
                posts
                    .iter()
                    .filter(|p| p.outlet != "bluesky" && p.status == OutletPostStatus::Sent)
                    .count()
                    == 3
            }
        },
    )
    .await;
    let bsky = svc
        .store
        .outlet_post_of("bluesky", id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bsky.status, OutletPostStatus::Pending, "paused: {bsky:?}");
    assert_eq!(
        bsky.last_error.as_deref(),
        Some("rate limited by the platform")
    );
    assert!(p.bluesky.posts().is_empty());
    let posts = outlets_settled(&svc.store, id, 4).await;
    assert_eq!(
        of(&posts, "bluesky", OutletAction::Post).status,
        OutletPostStatus::Sent
    );
    assert_eq!(p.bluesky.posts().len(), 1);
}

/// Paula of the press office, signed in to the dashboard of `svc`: a client and her cookie.
async fn paula_signed_in(db: &TestDb, svc: &Service) -> (reqwest::Client, String) {
    db.store
        .set_staff(
            ChannelKind::Telegram,
            "900",
            amtsbote::domain::Role::Press,
            Some("Paula"),
        )
        .await
        .expect("staff");
    (
        crate::dashboard::client_from([127, 0, 0, 1], Duration::from_secs(30)),
        crate::dashboard::session_of(db, svc, "900").await,
    )
}

/// WhatsApp Channels have no API: the broadcast's page shows the text to copy, check line
/// included, and "posted by hand" records who and when.
async fn a_whatsapp_channel_post_is_copied_and_recorded_as_posted_by_hand(db: TestDb) {
    use crate::dashboard::csrf_in;
    let file = "[[outlets]]\nkind = \"whatsapp_channel\"\nname = \"whatsapp-kanal\"\n";
    let svc = Service::start_with_file(
        &db,
        false,
        &[
            ("AMTSBOTE_DASHBOARD_PUBLIC_URL", "http://dashboard.example"),
            ("AMTSBOTE_ARCHIVE_PUBLIC_URL", PUBLIC_URL),
        ],
        Some(file),
    )
    .await;
    let id = send(&svc, PRESS_TOKEN, "news", NEWS).await;
    let store = svc.store.clone();
    wait_until(
        Duration::from_secs(20),
        "the row waits for a person",
        move || {
            let store = store.clone();
            async move {
                store
                    .outlet_post_of("whatsapp-kanal", id)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|p| p.status == OutletPostStatus::Manual)
            }
        },
    )
    .await;
    let row = svc
        .store
        .outlet_post_of("whatsapp-kanal", id)
        .await
        .unwrap()
        .unwrap();
    let code = svc
        .store
        .broadcast(id)
        .await
        .unwrap()
        .and_then(|b| b.public_code)
        .unwrap();
    let (client, paula) = paula_signed_in(&db, &svc).await;
    let page = || {
        let (client, paula) = (client.clone(), paula.clone());
        let url = format!("{}/dashboard/broadcasts/{id}", svc.admin);
        async move {
            client
                .get(url)
                .header("cookie", paula)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let shown = page().await;
    assert!(
        shown.contains(&format!("id=\"copy-{}\"", row.id))
            // minijinja escapes the slashes; a browser shows them as they are.
            && shown.contains(&format!("Echt? archiv.stadt.example&#x2f;m&#x2f;{code}")),
        "{shown}"
    );
    let status = client
        .post(format!("{}/dashboard/broadcasts/{id}/posted", svc.admin))
        .header("cookie", paula.clone())
        .form(&[("csrf", csrf_in(&shown)), ("post", row.id.to_string())])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::SEE_OTHER);
    let row = svc
        .store
        .outlet_post_of("whatsapp-kanal", id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, OutletPostStatus::Sent);
    assert!(
        row.posted_by
            .as_deref()
            .is_some_and(|p| p.contains("Paula")),
        "{row:?}"
    );
    assert!(row.sent_at.is_some());
    let shown = page().await;
    assert!(shown.contains("von Hand gepostet von"), "{shown}");
    assert!(!shown.contains(&format!("id=\"copy-{}\"", row.id)));
}

/// `amtsbote outlets check` signs in and reads the limits without posting; a wrong token is
/// named as the platform says it, never printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlets_check_verifies_credentials_and_limits_without_posting() {
    let p = Platforms::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("amtsbote.toml");
    let bluesky = p.bluesky_entry();
    std::fs::write(&file, p.file() + &bluesky).expect("config file");
    let check = |token: &'static str| {
        let mut cmd = amtsbote();
        cmd.envs(p.env())
            .env("STADT_MASTODON_TOKEN", token)
            .arg("--config")
            .arg(&file)
            .args(["outlets", "check"]);
        cmd
    };
    let out = check(MASTODON_TOKEN).output().await.expect("runs");
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("mastodon (mastodon): ok — signed in as @Gargron; 500 characters"),
        "{said}"
    );
    assert!(
        said.contains("bluesky (bluesky): ok — signed in as stadt.bsky.social"),
        "{said}"
    );
    assert!(
        said.contains("whatsapp-kanal (whatsapp_channel): posted by hand"),
        "{said}"
    );
    assert!(
        p.mastodon.statuses().is_empty() && p.bluesky.posts().is_empty(),
        "nothing posted"
    );

    let wrong = "wrong-token-0123456789";
    let out = check(wrong).output().await.expect("runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success());
    assert!(
        said.contains(
            "mastodon (mastodon): FAILED — HTTP 401 Unauthorized: The access token is invalid"
        ),
        "{said}"
    );
    assert!(!said.contains(wrong), "the token is never shown: {said}");
}

/// `amtsbote demo --outlets --json` with tiny numbers: the same alert without, with and again
/// without the outlets, every pass reported, every citizen reached in each, and each outlet
/// given the alert of the pass with outlets exactly once. (Its timings are the release build's figures, not checked here.)
#[tokio::test]
async fn outlets_demo_reports_both_passes_and_one_post_per_outlet() {
    let report = crate::helpers::demo_report(&["--outlets", "--subscribers", "40"]).await;
    let figure = |name: &str| {
        report[name]
            .as_f64()
            .unwrap_or_else(|| panic!("no {name} in {report}"))
    };
    for field in [
        "off_first_send_ms",
        "on_first_send_ms",
        "first_send_ratio",
        "off_telegram_per_s",
        "off_whatsapp_per_s",
        "on_telegram_per_s",
        "on_whatsapp_per_s",
        "off_again_first_send_ms",
        "off_again_telegram_per_s",
        "off_again_whatsapp_per_s",
        "rate_ratio",
        "outlets_done_ms",
    ] {
        assert!(figure(field) >= 0.0, "{field}: {report}");
    }
    assert_eq!(figure("off_delivered"), 40.0, "{report}");
    assert_eq!(figure("on_delivered"), 40.0, "{report}");
    assert_eq!(figure("lost"), 0.0, "{report}");
    assert_eq!(figure("duplicates"), 0.0, "{report}");
    for outlet in [
        "mastodon_posts",
        "bluesky_posts",
        "telegram_channel_posts",
        "webhook_posts",
    ] {
        assert_eq!(figure(outlet), 1.0, "{outlet}: {report}");
    }
    assert_eq!(figure("outlet_duplicates"), 0.0, "{report}");
    assert_eq!(figure("outlet_violations"), 0.0, "{report}");
}

/// Two instances on one Postgres: only the holder of the role `outlets` posts, so Mastodon gets
/// the outlet's rate summed over both instances (not twice it), and each broadcast once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlets_two_instances_post_within_one_rate_on_postgres() {
    const RATE_PER_MINUTE: usize = 600; // one post every 100 ms
    const BROADCASTS: usize = 24;
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let p = Platforms::start().await;
    let file = format!(
        "[[outlets]]\nkind = \"mastodon\"\nname = \"mastodon\"\nurl = \"{}\"\ntoken_env = \"STADT_MASTODON_TOKEN\"\nrate_per_minute = {RATE_PER_MINUTE}\n",
        p.mastodon.url
    );
    let env = |id: &'static str| {
        let mut env = p.env();
        env.push(("AMTSBOTE_INSTANCE_ID", id));
        env
    };
    let a = Service::start_with_file(&db, false, &env("a"), Some(&file)).await;
    let b = Service::start_with_file(&db, false, &env("b"), Some(&file)).await;
    for i in 0..BROADCASTS {
        let svc = if i % 2 == 0 { &a } else { &b };
        send(svc, PRESS_TOKEN, "news", &format!("{NEWS} ({i})")).await;
    }
    let m = p.mastodon.clone();
    wait_until(
        Duration::from_secs(30),
        "every broadcast posted on Mastodon",
        move || {
            let m = m.clone();
            async move { m.statuses().len() >= BROADCASTS }
        },
    )
    .await;
    let holders: Vec<String> = db
        .store
        .role_holders()
        .await
        .expect("roles")
        .into_iter()
        .filter(|h| h.role == "outlets")
        .map(|h| h.holder)
        .collect();
    assert_eq!(holders.len(), 1, "one holder of the outlets: {holders:?}");
    let start = p.mastodon.made_at()[0];
    let times: Vec<Duration> = p
        .mastodon
        .made_at()
        .iter()
        .map(|t| t.duration_since(start))
        .collect();
    let busiest = amtsbote::simulator::busiest_second(times);
    // One a second more than the rate: the burst of one the limiter starts with.
    assert!(
        busiest <= RATE_PER_MINUTE / 60 + 1,
        "{busiest} posts in the busiest second; the outlet's rate is {RATE_PER_MINUTE} a minute"
    );
    let mut texts: Vec<String> = p.mastodon.statuses().into_iter().map(|s| s.text).collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), BROADCASTS, "each broadcast posted once");
}

/// Past `corrections.keep_days` housekeeping forgets a broadcast's outlet rows, all of them at
/// once; a broadcast with a post still queued keeps every row (its corrections need the post's
/// remote id), and a correction after the keep time reaches the citizens but no outlet.
async fn outlet_posts_past_the_keep_time_are_forgotten_with_their_broadcast(db: TestDb) {
    seed(&*db.store, 2, 0, &["news"]).await;
    let p = Platforms::start().await;
    let svc = p.service(&db).await;
    let old = send(&svc, PRESS_TOKEN, "news", NEWS).await;
    outlets_settled(&svc.store, old, 3).await;
    // The website refuses the next broadcast for now: its row waits for another try.
    p.website.fail(1000);
    let queued = send(
        &svc,
        PRESS_TOKEN,
        "news",
        "Der Wochenmarkt zieht auf den Domplatz.",
    )
    .await;
    let s = svc.store.clone();
    wait_until(
        Duration::from_secs(20),
        "the website's post tried and queued again",
        move || {
            let s = s.clone();
            async move {
                s.outlet_post_of("website", queued)
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|p| p.attempts >= 1 && p.status == OutletPostStatus::Pending)
            }
        },
    )
    .await;
    let now = amtsbote::domain::now_ms();
    assert_eq!(
        svc.store.forget_outlet_posts(now - 60_000).await.unwrap(),
        0,
        "nothing is old yet"
    );
    assert_eq!(
        svc.store.forget_outlet_posts(now + 60_000).await.unwrap(),
        3,
        "the old broadcast's rows: Mastodon, the website and the WhatsApp channel"
    );
    assert!(svc.store.outlet_posts_about(old).await.unwrap().is_empty());
    assert_eq!(
        svc.store.outlet_posts_about(queued).await.unwrap().len(),
        3,
        "a broadcast with a post still queued keeps its rows"
    );

    let (status, body) = svc
        .api(
            Method::POST,
            &format!("/api/v1/broadcasts/{old}/corrections"),
            PRESS_TOKEN,
            Some(json!({"text": "Die Hauptstraße ist ab Dienstag gesperrt."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let correction = body["correction"]["id"].as_i64().expect("correction id");
    svc.wait_done(correction, Duration::from_secs(20)).await;
    assert!(
        svc.store
            .outlet_posts_about(correction)
            .await
            .unwrap()
            .is_empty(),
        "no outlet row for a correction of a forgotten post"
    );
    let statuses = p.mastodon.statuses();
    assert!(statuses[0].edits.is_empty(), "{statuses:?}");
    let told = svc
        .sim
        .received()
        .iter()
        .filter(|r| r.text.starts_with("Korrektur:"))
        .count();
    assert_eq!(told, 2, "the citizens are told");
}

/// The outlets of the preview tests: Mastodon and Bluesky take everything, the website only
/// traffic, the WhatsApp channel no alerts.
fn preview_file(p: &Platforms) -> String {
    format!(
        "[[outlets]]\nkind = \"mastodon\"\nname = \"mastodon\"\nurl = \"{}\"\ntoken_env = \"STADT_MASTODON_TOKEN\"\nrate_per_minute = 0\n\n\
         [[outlets]]\nkind = \"bluesky\"\nname = \"bluesky\"\nurl = \"{}\"\nhandle = \"{BLUESKY_HANDLE}\"\npassword_env = \"STADT_BLUESKY_PASSWORD\"\nrate_per_minute = 0\n\n\
         [[outlets]]\nkind = \"webhook\"\nname = \"website\"\nurl = \"{}\"\nsecret_env = \"STADT_WEBHOOK_SECRET\"\ntopics = [\"traffic\"]\n\n\
         [[outlets]]\nkind = \"whatsapp_channel\"\nname = \"whatsapp-kanal\"\nalerts = false\n",
        p.mastodon.url, p.bluesky.url, p.website.url
    )
}

/// The preview entry of `outlet` in an API answer.
fn previewed<'a>(answer: &'a serde_json::Value, outlet: &str) -> &'a serde_json::Value {
    answer["outlet_preview"]
        .as_array()
        .and_then(|all| all.iter().find(|o| o["outlet"] == outlet))
        .unwrap_or_else(|| panic!("no preview of {outlet} in {answer}"))
}

/// Before its release the API shows per outlet what will be posted — the text cut as posting
/// cuts it, with the check link — or why nothing (topic, alerts, drill); the confirmed draft
/// then posts exactly the text its preview showed.
async fn the_api_previews_each_outlets_post_before_the_release(db: TestDb) {
    let p = Platforms::start().await;
    let svc = Service::start_with_file(&db, false, &p.env(), Some(&preview_file(&p))).await;
    let text = long_text();
    let (status, draft) = svc
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            PRESS_TOKEN,
            Some(json!({"topic": "news", "text": text, "draft": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let id = draft["id"].as_i64().expect("id");
    let code = svc
        .store
        .broadcast(id)
        .await
        .unwrap()
        .and_then(|b| b.public_code)
        .expect("a public code");
    let link = format!("{PUBLIC_URL}/m/{code}");
    let mastodon = previewed(&draft, "mastodon")["text"]
        .as_str()
        .expect("Mastodon posts it")
        .to_string();
    assert!(
        mastodon.ends_with(&format!("…\n\n{link}")),
        "cut, with the link: {mastodon}"
    );
    let bluesky = previewed(&draft, "bluesky")["text"]
        .as_str()
        .expect("Bluesky posts it")
        .to_string();
    assert!(bluesky.ends_with(&link), "{bluesky}");
    assert_eq!(
        previewed(&draft, "website")["not_posted"],
        "topic_not_taken"
    );
    assert!(previewed(&draft, "website")["text"].is_null());
    assert!(previewed(&draft, "whatsapp-kanal")["text"].is_string());
    let (status, shown) = svc
        .api(
            Method::GET,
            &format!("/api/v1/broadcasts/{id}"),
            PRESS_TOKEN,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(previewed(&shown, "mastodon")["text"], mastodon.as_str());

    let (status, confirmed) = svc
        .api(
            Method::POST,
            &format!("/api/v1/broadcasts/{id}/confirm"),
            PRESS_TOKEN,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    outlets_settled(&svc.store, id, 3).await;
    assert_eq!(p.mastodon.statuses()[0].text, mastodon, "as previewed");
    assert_eq!(p.bluesky.posts()[0].text(), bluesky, "as previewed");
    assert!(p.website.hooks().is_empty());

    let (status, alert) = svc
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            EMERGENCY_TOKEN,
            Some(json!({"topic": "alerts", "text": "Hochwasser am Domplatz.", "draft": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{alert}");
    assert_eq!(
        previewed(&alert, "whatsapp-kanal")["not_posted"],
        "alerts_not_taken"
    );
    assert!(previewed(&alert, "mastodon")["text"].is_string());

    let (status, drill) = svc
        .api(
            Method::POST,
            "/api/v1/drills",
            EMERGENCY_TOKEN,
            Some(json!({"text": "Probealarm."})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{drill}");
    for outlet in ["mastodon", "bluesky", "website", "whatsapp-kanal"] {
        assert_eq!(previewed(&drill, outlet)["not_posted"], "drill", "{drill}");
    }
}

/// The dashboard's preview shows per outlet what will be posted, or why not, from the same
/// function as the API; so do a draft's page until its release and the chat's preview.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outlets_the_dashboard_and_the_chat_preview_each_outlets_post() {
    use crate::dashboard::csrf_in;
    let db = TestDb::sqlite().await;
    let p = Platforms::start().await;
    let mut env = p.env();
    env.push(("AMTSBOTE_DASHBOARD_PUBLIC_URL", "http://dashboard.example"));
    let svc = Service::start_with_file(&db, false, &env, Some(&preview_file(&p))).await;
    let (client, paula) = paula_signed_in(&db, &svc).await;
    let url = |path: &str| format!("{}{path}", svc.admin);
    let get = |path: String| {
        let request = client.get(url(&path)).header("cookie", &paula);
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let compose = get("/dashboard/compose".into()).await;
    let text = long_text();
    let preview = client
        .post(url("/dashboard/compose"))
        .header("cookie", &paula)
        .form(&[
            ("csrf", csrf_in(&compose).as_str()),
            ("topic", "news"),
            ("text", text.as_str()),
            ("when", "now"),
            ("action", "preview"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(preview.contains("id=\"outlet-preview\""), "{preview}");
    let item = |page: &str, outlet: &str| {
        let at = page
            .find(&format!("id=\"outlet-preview-{outlet}\""))
            .unwrap_or_else(|| panic!("no preview of {outlet}: {page}"));
        page[at..]
            .split("</li>")
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let mastodon = item(&preview, "mastodon");
    assert!(
        mastodon.contains("…") && mastodon.contains("archiv.stadt.example&#x2f;m&#x2f;XXXXXXXX"),
        "cut, with the link: {mastodon}"
    );
    assert!(
        item(&preview, "website").contains("dieses Thema wird dort nicht übernommen"),
        "{preview}"
    );

    let (status, draft) = svc
        .api(
            Method::POST,
            "/api/v1/broadcasts",
            EMERGENCY_TOKEN,
            Some(json!({"topic": "alerts", "text": "Hochwasser am Domplatz.", "draft": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let page = get(format!("/dashboard/broadcasts/{}", draft["id"])).await;
    assert!(
        item(&page, "whatsapp-kanal").contains("Warnungen werden dort nicht übernommen"),
        "{page}"
    );
    assert!(
        item(&page, "bluesky").contains("Hochwasser am Domplatz."),
        "{page}"
    );

    // The chat's preview says the same, from the same function.
    svc.sim.push_update(crate::telegram::message(
        900,
        &format!("/announce news {text}"),
    ));
    let chat = crate::helpers::message_to(&svc.sim, "900", "Outlets:").await;
    assert!(
        chat.text
            .contains("website: not posted – this topic is not taken there")
            && chat.text.contains("whatsapp-kanal: as above")
            && chat.text.contains("mastodon: Überschwemmung")
            && chat.text.contains("bluesky: Überschwemmung"),
        "{}",
        chat.text
    );
}
