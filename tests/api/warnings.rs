//! Official warnings: the feed against a simulated warning API that publishes, changes
//! versions, updates, cancels, serves expired and foreign warnings, the same warning twice,
//! times out, answers 5xx and comes back — on both stores.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use amtsbote::domain::area::{Coordinates, Place, Target};
use amtsbote::domain::{BroadcastKind, BroadcastStatus, ChannelKind, Priority, Role};
use amtsbote::i18n::Texts;
use amtsbote::simulator::warnings::{ApiFault, WarningApi};
use amtsbote::store::{Broadcast, Store};
use amtsbote::warnings::fetch::AllowedHost;
use amtsbote::warnings::mapping::{Ars, Severity};
use amtsbote::warnings::{WarningsFeed, WarningsSettings};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::areas::regensburg_settings;
use crate::helpers::{Captured, Service, TestDb, broadcasts_on, seed, wait_until};

const DUSSELDORF: &str = "051110000000";
const DUISBURG: &str = "051120000000";
const MOWAS: &str = include_str!("../fixtures/nina/warning_mowas.json");
const DWD: &str = include_str!("../fixtures/nina/warning_dwd_profile_ha_edited.json");

crate::helpers::on_both_stores!(
    a_warning_goes_out_once_and_its_update_and_all_clear_follow_it,
    expired_foreign_and_minor_warnings_are_not_sent_and_an_exercise_is_a_drill,
    the_same_warning_from_two_providers_or_districts_goes_out_once,
    a_feed_that_times_out_fails_or_breaks_off_is_counted_and_caught_up,
    in_approve_mode_the_staff_decide_and_a_newer_word_replaces_a_waiting_one,
    an_extreme_warning_nobody_approves_goes_out_by_itself,
    an_official_warning_reaches_every_subscriber_without_a_human,
    a_cap_feed_is_read_with_the_same_mapping_once,
    in_approve_mode_the_emergency_staff_are_asked_in_their_chat_and_release_it,
    a_cap_entry_is_fetched_only_from_the_feeds_host_or_a_listed_one_and_never_from_a_private_address_unless_listed,
    a_cap_entry_that_redirects_to_another_host_is_not_followed,
    a_document_over_the_limit_is_cut_counted_and_the_feed_runs_on,
    a_warning_whose_polygon_covers_three_districts_reaches_them_the_places_inside_and_those_without_an_area,
    a_warning_without_a_usable_geometry_or_covering_the_whole_city_reaches_everyone,
);

/// The MoWaS fixture as a fresh warning: `msg_type`, `severity`, for North Rhine-Westphalia
/// (the fixture names every Land), expiring in a day.
fn mowas(id: &str, msg_type: &str, severity: &str) -> Value {
    let mut doc: Value = serde_json::from_str(MOWAS).expect("fixture");
    doc["identifier"] = json!(id);
    doc["msgType"] = json!(msg_type);
    doc["info"][0]["severity"] = json!(severity);
    doc["info"][0]["headline"] = json!(format!("Großbrand {id}"));
    let tomorrow = chrono::Utc::now() + chrono::Duration::days(1);
    doc["info"][0]["expires"] = json!(tomorrow.to_rfc3339());
    doc
}

fn settings(api: &WarningApi, approve: bool) -> WarningsSettings {
    WarningsSettings {
        ars: vec![Ars::parse(DUSSELDORF).expect("ars")],
        base_url: api.url.clone(),
        poll: Duration::from_secs(1),
        min_severity: Severity::Moderate,
        approve,
        timeout: Duration::from_millis(300),
        // The simulated API runs on loopback, which a CAP entry may only reach when listed.
        cap_allowed_hosts: vec![AllowedHost::parse("127.0.0.1").expect("host")],
        ..WarningsSettings::default()
    }
}

/// A feed on `store` with the given settings (no queue: these cases look at decisions).
fn feed(store: &Arc<dyn Store>, settings: WarningsSettings) -> WarningsFeed {
    let approve = settings.approve;
    let broadcasts = Arc::new(
        Arc::into_inner(broadcasts_on(store.clone(), None, false))
            .expect("one owner")
            .with_feed_approval(approve),
    );
    WarningsFeed::new(
        settings,
        broadcasts,
        Arc::new(Texts::load().expect("texts")),
        None,
    )
    .expect("feed")
}

/// The whole service on `db`, polling `api` every second for Düsseldorf in `mode`; `extra`
/// adds or overrides settings.
async fn service_polling(
    db: &TestDb,
    api: &WarningApi,
    mode: &str,
    extra: &[(&str, &str)],
) -> Service {
    let settings = [
        ("AMTSBOTE_WARNINGS_ENABLED", "true"),
        ("AMTSBOTE_WARNINGS_ARS", DUSSELDORF),
        ("AMTSBOTE_WARNINGS_BASE_URL", api.url.as_str()),
        ("AMTSBOTE_WARNINGS_POLL_SECONDS", "1"),
        ("AMTSBOTE_WARNINGS_MODE", mode),
        ("AMTSBOTE_WARNINGS_TIMEOUT_MS", "300"),
    ];
    let all: Vec<(&str, &str)> = settings.iter().chain(extra).copied().collect();
    Service::start(db, false, &all).await
}

/// Waits until the simulated platforms got `n` messages containing `needle`.
async fn wait_for_messages(sim: &amtsbote::simulator::Simulator, needle: &str, n: usize) {
    let (sim, needle) = (sim.clone(), needle.to_string());
    wait_until(
        Duration::from_secs(30),
        &format!("{n} messages with “{needle}”"),
        || {
            let (sim, needle) = (sim.clone(), needle.clone());
            async move {
                sim.received()
                    .iter()
                    .filter(|r| r.text.contains(&needle))
                    .count()
                    >= n
            }
        },
    )
    .await;
}

async fn api() -> (WarningApi, CancellationToken) {
    let stop = CancellationToken::new();
    let api = WarningApi::start(stop.clone()).await.expect("warning API");
    (api, stop)
}

/// The one warning the poll handled: it was `decision` for warning `id`; its broadcast.
async fn the_one(
    db: &TestDb,
    report: &amtsbote::warnings::PollReport,
    id: &str,
    decision: &str,
) -> amtsbote::store::Broadcast {
    assert_eq!(decisions(report), [(id.to_string(), decision.to_string())]);
    let bid = report.handled[0].broadcast_id.expect("a broadcast");
    db.store.broadcast(bid).await.expect("db").expect("row")
}

fn decisions(report: &amtsbote::warnings::PollReport) -> Vec<(String, String)> {
    report
        .handled
        .iter()
        .map(|h| (h.identifier.clone(), h.decision.clone()))
        .collect()
}

async fn a_warning_goes_out_once_and_its_update_and_all_clear_follow_it(db: TestDb) {
    let (api, _stop) = api().await;
    let f = feed(&db.store, settings(&api, false));
    api.publish(DUSSELDORF, mowas("mow.fire-1", "Alert", "Severe"), 1);

    let alert = the_one(&db, &f.poll_once().await, "mow.fire-1", "sent").await;
    let alert_id = alert.id;
    assert_eq!(alert.kind, BroadcastKind::Alert);
    assert_eq!(alert.priority, Priority::Alert);
    assert_eq!(alert.topic, "alerts");
    assert_eq!(alert.status, BroadcastStatus::Released);
    assert!(
        alert
            .text
            .starts_with("Amtliche Warnung: Großbrand mow.fire-1")
    );
    assert!(alert.text.contains("Quelle: NINA / MoWaS"));

    // The same version again, and after a restart: nothing new.
    assert!(f.poll_once().await.handled.is_empty());
    let again = feed(&db.reopen().await, settings(&api, false));
    assert!(again.poll_once().await.handled.is_empty());

    // Version 2 updates it, to the same people.
    api.publish(DUSSELDORF, mowas("mow.fire-1", "Update", "Moderate"), 2);
    let update = the_one(&db, &f.poll_once().await, "mow.fire-1", "sent").await;
    assert_eq!(update.kind, BroadcastKind::Update);
    assert_eq!(update.parent_id, Some(alert_id));
    assert_eq!(
        update.priority,
        Priority::Alert,
        "never below the alert it follows"
    );
    assert!(update.text.starts_with("Aktualisierung: "));

    // A cancel under a new identifier that refers to it: the all-clear of the same alert.
    let mut cancel = mowas("mow.fire-1-end", "Cancel", "Minor");
    cancel["references"] = json!("DE-NW,mow.fire-1,2026-01-01T00:00:00+01:00");
    api.publish(DUSSELDORF, cancel, 1);
    let clear = the_one(&db, &f.poll_once().await, "mow.fire-1-end", "sent").await;
    assert_eq!(clear.kind, BroadcastKind::Allclear);
    assert_eq!(clear.parent_id, Some(alert_id));
    assert!(clear.text.starts_with("Entwarnung: "));

    let audit = db.store.audit_log(50).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.detail.contains("mow.fire-1 v1") && a.detail.contains("sent as broadcast")),
        "{audit:?}"
    );
    assert_eq!(db.store.warnings(10).await.expect("warnings").len(), 3);
}

async fn expired_foreign_and_minor_warnings_are_not_sent_and_an_exercise_is_a_drill(db: TestDb) {
    let (api, _stop) = api().await;
    let f = feed(&db.store, settings(&api, false));
    let mut expired = mowas("mow.old", "Alert", "Extreme");
    expired["info"][0]["expires"] = json!("2021-11-02T20:00:00+01:00");
    let mut foreign = mowas("mow.bavaria", "Alert", "Extreme");
    foreign["info"][0]["parameter"][1]["value"] = json!("090000000000");
    let minor = mowas("mow.minor", "Alert", "Minor");
    let mut exercise = mowas("mow.drill", "Alert", "Extreme");
    exercise["status"] = json!("Exercise");
    for doc in [expired, foreign, minor, exercise] {
        api.publish(DUSSELDORF, doc, 1);
    }
    let report = f.poll_once().await;
    let mut got = decisions(&report);
    got.sort();
    assert_eq!(
        got,
        [
            ("mow.bavaria".to_string(), "outside_area".to_string()),
            ("mow.drill".into(), "drill".into()),
            ("mow.minor".into(), "too_minor".into()),
            ("mow.old".into(), "expired".into()),
        ]
    );
    // Only the exercise became a broadcast: a drill, to the staff only, marked.
    let made: Vec<_> = db.store.list_broadcasts(10).await.expect("list");
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].topic, "drill");
    assert!(
        made[0]
            .text
            .starts_with("ÜBUNG / EXERCISE\n\nAmtliche Warnung: Großbrand mow.drill")
    );
    assert!(
        report
            .handled
            .iter()
            .filter(|h| h.identifier != "mow.drill")
            .all(|h| h.broadcast_id.is_none())
    );
    let audit = db.store.audit_log(50).await.expect("audit");
    for (id, why) in [
        ("mow.old", "expired"),
        ("mow.bavaria", "outside_area"),
        ("mow.minor", "too_minor"),
        ("mow.drill", "drill"),
    ] {
        assert!(
            audit
                .iter()
                .any(|a| a.action == "warning" && a.detail.contains(id) && a.detail.contains(why)),
            "{id} {why}: {audit:?}"
        );
    }
    // Decided once: the next poll fetches none of them again.
    let requests = api.requests();
    assert!(f.poll_once().await.handled.is_empty());
    assert_eq!(api.requests(), requests + 1, "only the dashboard");
}

async fn the_same_warning_from_two_providers_or_districts_goes_out_once(db: TestDb) {
    let (api, _stop) = api().await;
    let mut s = settings(&api, false);
    s.ars.push(Ars::parse(DUISBURG).expect("ars"));
    let f = feed(&db.store, s);
    let doc = mowas("mow.flood", "Alert", "Severe");
    api.publish(DUSSELDORF, doc.clone(), 1);
    api.publish(DUISBURG, doc, 1);
    let report = f.poll_once().await;
    assert_eq!(decisions(&report), [("mow.flood".into(), "sent".into())]);

    // A DWD warning for the same district, served again under the same identifier by a second
    // feed instance (another provider's listing): recorded once, sent once.
    let mut dwd: Value = serde_json::from_str(DWD).expect("fixture");
    dwd["identifier"] = json!("dwd.gusts");
    let tomorrow = chrono::Utc::now() + chrono::Duration::days(1);
    dwd["info"][0]["expires"] = json!(tomorrow.to_rfc3339());
    api.publish(DUSSELDORF, dwd.clone(), 1);
    let second = feed(&db.store, settings(&api, false));
    let (a, b) = tokio::join!(f.poll_once(), second.poll_once());
    let sent: Vec<_> = a
        .handled
        .iter()
        .chain(&b.handled)
        .filter(|h| h.decision == "sent")
        .collect();
    assert_eq!(sent.len(), 1, "{a:?} {b:?}");
    let alerts: Vec<_> = db
        .store
        .list_broadcasts(10)
        .await
        .expect("list")
        .into_iter()
        .filter(|b| b.text.contains("Ausfall Notruf 112"))
        .collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].priority, Priority::Urgent, "Moderate");
}

async fn a_feed_that_times_out_fails_or_breaks_off_is_counted_and_caught_up(db: TestDb) {
    let (api, _stop) = api().await;
    let f = feed(&db.store, settings(&api, false));
    let health = f.health();
    api.publish(DUSSELDORF, mowas("mow.storm", "Alert", "Extreme"), 1);
    api.fail(ApiFault::Hang(Duration::from_secs(2)), 1);
    api.fail(ApiFault::ServerError, 1);
    for (expected, times) in [("timeout", 1), ("http_error", 2)] {
        let report = f.poll_once().await;
        assert_eq!(report.failure.as_ref().map(|e| e.outcome()), Some(expected));
        assert!(report.handled.is_empty());
        assert_eq!(health.failed_in_a_row(), times);
        assert_eq!(health.detail()["ok"], json!(true), "shown from the third");
    }
    // The dashboard answers, the document breaks off half-way: the third failure in a row.
    api.fail_documents(ApiFault::Truncated, 1);
    let report = f.poll_once().await;
    assert_eq!(
        report.failure.as_ref().map(|e| e.outcome()),
        Some("invalid")
    );
    assert!(report.handled.is_empty());
    let detail = health.detail();
    assert_eq!(detail["ok"], json!(false));
    assert_eq!(detail["failed_polls_in_a_row"], json!(3));
    assert!(
        detail["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("unreadable")),
        "{detail}"
    );
    assert!(db.store.warnings(10).await.expect("warnings").is_empty());

    // Back: it catches up on what it missed, once.
    let report = f.poll_once().await;
    assert!(report.failure.is_none());
    assert_eq!(decisions(&report), [("mow.storm".into(), "sent".into())]);
    assert_eq!(health.failed_in_a_row(), 0);
    assert_eq!(health.detail()["ok"], json!(true));
    assert!(f.poll_once().await.handled.is_empty());
}

async fn in_approve_mode_the_staff_decide_and_a_newer_word_replaces_a_waiting_one(db: TestDb) {
    let (api, _stop) = api().await;
    let f = feed(&db.store, settings(&api, true));
    api.publish(DUSSELDORF, mowas("mow.gas", "Alert", "Severe"), 1);
    let first = the_one(&db, &f.poll_once().await, "mow.gas", "awaiting_approval")
        .await
        .id;
    let waiting = db.store.approvals_to_request().await.expect("db");
    assert_eq!(waiting.iter().map(|b| b.id).collect::<Vec<_>>(), [first]);
    assert_eq!(waiting[0].author.as_deref(), Some("feed:warnings"));

    // An update before anyone approved: the waiting draft is withdrawn, the update waits.
    api.publish(DUSSELDORF, mowas("mow.gas", "Update", "Severe"), 2);
    let new = the_one(&db, &f.poll_once().await, "mow.gas", "awaiting_approval").await;
    let second = new.id;
    let old = db.store.broadcast(first).await.expect("db").expect("row");
    assert_eq!(old.status, BroadcastStatus::Cancelled);
    assert_eq!(new.kind, BroadcastKind::Alert, "nothing went out to update");

    // A person of the emergency team approves it, as in the chat.
    db.store
        .set_staff(ChannelKind::Telegram, "901", Role::Emergency, Some("Emil"))
        .await
        .expect("staff");
    let emil = amtsbote::services::staff_actor(db.store.as_ref(), ChannelKind::Telegram, "901")
        .await
        .expect("db")
        .expect("staff");
    let broadcasts = broadcasts_on(db.store.clone(), None, false);
    let outcome = broadcasts.approve(&emil, second).await.expect("approved");
    assert_eq!(outcome.broadcast().status, BroadcastStatus::Released);

    // The cancel after it: an all-clear that waits for approval too.
    api.publish(DUSSELDORF, mowas("mow.gas", "Cancel", "Minor"), 3);
    let clear = the_one(&db, &f.poll_once().await, "mow.gas", "awaiting_approval").await;
    assert_eq!(clear.kind, BroadcastKind::Allclear);
    assert_eq!(clear.parent_id, Some(second));

    // The feed may not approve anything, nor cancel what a person wrote.
    let feed_actor = amtsbote::domain::Actor::WarningsFeed;
    assert!(broadcasts.approve(&feed_actor, clear.id).await.is_err());
}

async fn an_extreme_warning_nobody_approves_goes_out_by_itself(db: TestDb) {
    let (api, _stop) = api().await;
    let mut s = settings(&api, true);
    s.auto_release = Some(Duration::from_millis(1));
    let f = feed(&db.store, s);
    api.publish(DUSSELDORF, mowas("mow.extreme", "Alert", "Extreme"), 1);
    api.publish(DUSSELDORF, mowas("mow.severe", "Alert", "Severe"), 1);
    let report = f.poll_once().await;
    assert!(
        report
            .handled
            .iter()
            .all(|h| h.decision == "awaiting_approval")
    );
    tokio::time::sleep(Duration::from_millis(5)).await; // the configured wait itself
    f.poll_once().await;
    let status = |id: &str| {
        let id = report
            .handled
            .iter()
            .find(|h| h.identifier == id)
            .and_then(|h| h.broadcast_id)
            .expect("broadcast");
        let store = db.store.clone();
        async move { store.broadcast(id).await.expect("db").expect("row").status }
    };
    assert_eq!(status("mow.extreme").await, BroadcastStatus::Released);
    assert_eq!(
        status("mow.severe").await,
        BroadcastStatus::AwaitingApproval
    );
    let audit = db.store.audit_log(50).await.expect("audit");
    assert!(
        audit.iter().any(|a| a.action == "auto-release"),
        "{audit:?}"
    );
}

async fn an_official_warning_reaches_every_subscriber_without_a_human(db: TestDb) {
    let (api, _stop) = api().await;
    seed(db.store.as_ref(), 20, 20, &["alerts"]).await;
    let english = db
        .store
        .ensure_subscriber(ChannelKind::Telegram, "777", "en")
        .await
        .expect("subscriber");
    db.store
        .set_subscription(english.id, &crate::helpers::topic("alerts"), true)
        .await
        .expect("subscribe");
    let mut svc = service_polling(&db, &api, "auto", &[]).await;
    let mut doc = mowas("mow.chem", "Alert", "Extreme");
    let mut en = doc["info"][0].clone();
    en["language"] = json!("en-GB");
    en["headline"] = json!("Chemical fire mow.chem");
    doc["info"].as_array_mut().expect("info").push(en);
    api.publish(DUSSELDORF, doc, 1);
    wait_for_messages(&svc.sim, "mow.chem", 41).await;
    let received = svc.sim.received();
    let to_english: Vec<_> = received.iter().filter(|r| &*r.address == "777").collect();
    assert_eq!(to_english.len(), 1);
    assert!(
        to_english[0]
            .text
            .starts_with("Official warning: Chemical fire")
    );
    assert!(
        received
            .iter()
            .filter(|r| r.text.starts_with("Amtliche Warnung: Großbrand mow.chem"))
            .count()
            >= 20,
        "German to the German subscribers (WhatsApp may carry it as a template)"
    );

    // The feed goes down: /readyz says so after three failed polls, and the service runs on.
    api.fail(ApiFault::ServerError, 1000);
    let admin = svc.admin.clone();
    wait_until(
        Duration::from_secs(15),
        "/readyz shows the feed down",
        || {
            let admin = admin.clone();
            async move {
                let r = reqwest::get(format!("{admin}/readyz")).await;
                match r {
                    Ok(r) if r.status().is_success() => r
                        .json::<Value>()
                        .await
                        .is_ok_and(|v| v["warnings"]["ok"] == json!(false)),
                    _ => false,
                }
            }
        },
    )
    .await;
    let metrics = metrics_text(&svc).await;
    assert!(
        metrics.contains("amtsbote_warnings_polls_total{outcome=\"http_error\"}"),
        "{metrics}"
    );
    svc.stop().await;
}

#[tokio::test]
async fn the_warnings_demo_carries_warning_update_and_all_clear_to_everyone() {
    let report = crate::helpers::demo_report(&["--warnings", "--subscribers", "40"]).await;
    for key in [
        "warning_delivered",
        "update_delivered",
        "allclear_delivered",
    ] {
        assert_eq!(report[key], json!(40), "{key}: {report}");
    }
    assert_eq!(report["lost"], json!(0));
    assert_eq!(report["duplicates"], json!(0));
    let first = report["warning_first_send_ms"].as_f64().expect("figure");
    assert!((0.0..5_000.0).contains(&first), "{report}");
    assert!(report["warning_complete_s"].as_f64().expect("figure") >= first / 1000.0);
}

async fn a_cap_feed_is_read_with_the_same_mapping_once(db: TestDb) {
    let (api, _stop) = api().await;
    let storm = include_str!("../fixtures/nina/cap12_oasis_example_a2_severe_thunderstorm.xml")
        .replace("2003-06-17T16:00:00-07:00", "2099-06-17T16:00:00-07:00");
    let feed_url = api.serve_cap("storm.xml", &storm);
    let broken = api.serve_cap("broken.xml", "<alert><identifier>x</ident");
    let mut s = settings(&api, false);
    s.ars.clear();
    s.ars.push(Ars::parse(DUSSELDORF).expect("ars"));
    s.cap_feeds = vec![feed_url, broken];
    let f = feed(&db.store, s);
    let report = f.poll_once().await;
    assert_eq!(
        report.failure.as_ref().map(|e| e.outcome()),
        Some("invalid"),
        "the broken document counts"
    );
    let alert = the_one(&db, &report, "KSTO1055887203", "sent").await;
    assert_eq!(alert.priority, Priority::Alert, "Severe");
    assert!(
        alert
            .text
            .starts_with("Amtliche Warnung: SEVERE THUNDERSTORM WARNING"),
        "{}",
        alert.text
    );
    assert!(
        alert.text.contains("Quelle: CAP, 17.06.2003 23:57"),
        "{}",
        alert.text
    );
    assert!(f.poll_once().await.handled.is_empty(), "once");

    // An Atom feed listing the same document and an update of an earthquake we never sent:
    // the first is known, the second below the minimum with nothing to follow.
    api.serve_cap(
        "quake.xml",
        include_str!("../fixtures/nina/cap12_oasis_example_a3_earthquake_update.xml"),
    );
    let atom = api.serve_cap(
        "feed.atom",
        r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
        <entry><id>1</id><link href="storm.xml"/></entry>
        <entry><id>2</id><link rel="alternate" href="quake.xml"/></entry></feed>"#,
    );
    let mut s = settings(&api, false);
    s.cap_feeds = vec![atom];
    let f = feed(&db.store, s);
    let report = f.poll_once().await;
    assert!(report.failure.is_none(), "{report:?}");
    assert_eq!(
        decisions(&report),
        [("TRI13970876.2".into(), "too_minor".into())]
    );
}

async fn in_approve_mode_the_emergency_staff_are_asked_in_their_chat_and_release_it(db: TestDb) {
    let (api, _stop) = api().await;
    seed(db.store.as_ref(), 10, 0, &["alerts"]).await;
    db.store
        .set_staff(ChannelKind::Telegram, "901", Role::Emergency, Some("Emil"))
        .await
        .expect("staff");
    let mut svc = service_polling(&db, &api, "approve", &[]).await;
    api.publish(DUSSELDORF, mowas("mow.ask", "Alert", "Severe"), 1);
    // Asked like for a chat alert: the preview with a code, in the chat.
    let request = crate::helpers::message_to(&svc.sim, "901", "/confirm ").await;
    assert!(
        request.text.contains("Großbrand mow.ask"),
        "{}",
        request.text
    );
    let citizens = |sim: &amtsbote::simulator::Simulator| {
        sim.received()
            .iter()
            .filter(|r| r.text.contains("mow.ask") && r.address.starts_with("100"))
            .count()
    };
    assert_eq!(citizens(&svc.sim), 0, "nothing before a person approves");
    let code = crate::helpers::confirm_code(&request.text);
    svc.sim
        .push_update(crate::telegram::message(901, &format!("/confirm {code}")));
    let sim = svc.sim.clone();
    wait_until(
        Duration::from_secs(10),
        "the warning at every citizen",
        || {
            let sim = sim.clone();
            async move { citizens(&sim) == 10 }
        },
    )
    .await;
    let audit = db.store.audit_log(50).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.action == "approve" && a.actor.contains("Emil")),
        "{audit:?}"
    );
    svc.stop().await;
}

/// The OASIS thunderstorm example, not yet expired.
fn storm() -> String {
    include_str!("../fixtures/nina/cap12_oasis_example_a2_severe_thunderstorm.xml")
        .replace("2003-06-17T16:00:00-07:00", "2099-06-17T16:00:00-07:00")
}

/// An Atom feed listing `links`.
fn atom(links: &[&str]) -> String {
    let entries: String = links
        .iter()
        .enumerate()
        .map(|(i, l)| format!(r#"<entry><id>{i}</id><link href="{l}"/></entry>"#))
        .collect();
    format!(r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>{entries}</feed>"#)
}

/// The simulated API's port.
fn port(api: &WarningApi) -> u16 {
    url::Url::parse(&api.url)
        .ok()
        .and_then(|u| u.port())
        .expect("a port")
}

/// A feed of `cap_feeds` only (no district's dashboard), with `listed` as
/// `warnings.cap_allowed_hosts`.
fn cap_only(api: &WarningApi, cap_feeds: &[&str], listed: &[&str]) -> WarningsSettings {
    WarningsSettings {
        ars: Vec::new(),
        cap_feeds: cap_feeds.iter().map(|f| f.to_string()).collect(),
        cap_allowed_hosts: listed
            .iter()
            .map(|h| AllowedHost::parse(h).expect("host"))
            .collect(),
        ..settings(api, false)
    }
}

fn outcome(report: &amtsbote::warnings::PollReport) -> Option<&'static str> {
    report.failure.as_ref().map(|e| e.outcome())
}

async fn a_cap_entry_is_fetched_only_from_the_feeds_host_or_a_listed_one_and_never_from_a_private_address_unless_listed(
    db: TestDb,
) {
    let (logs, _guard) = Captured::start();
    let (api, _stop) = api().await;
    let port = port(&api);
    api.serve_cap("storm.xml", &storm());
    // The feed at 127.0.0.1 lists its own document and the metadata service of a cloud
    // machine, as an attacker who can write the feed would.
    let feed_url = api.serve_cap(
        "feed.atom",
        &atom(&[
            "storm.xml",
            &format!("http://localhost:{port}/internal/metadata"),
        ]),
    );

    // Nothing listed: 127.0.0.1 is the feed's own host but a loopback address, localhost
    // another host. Neither is fetched; the poll fails and says why.
    let f = feed(&db.store, cap_only(&api, &[&feed_url], &[]));
    let report = f.poll_once().await;
    assert_eq!(outcome(&report), Some("refused"), "{report:?}");
    assert!(report.handled.is_empty());
    assert_eq!(api.paths(), ["/cap/feed.atom"], "only the feed itself");
    let text = logs.text();
    assert!(
        text.lines().any(|l| l.contains("WARN")
            && l.contains("may not fetch")
            && l.contains(&format!("127.0.0.1:{port}/cap/storm.xml"))
            && l.contains("not a public address")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.contains("/internal/metadata")
            && l.contains("neither the feed's nor in warnings.cap_allowed_hosts")),
        "{text}"
    );

    // 127.0.0.1 listed: its document is fetched and sent; localhost is still another host.
    let f = feed(&db.store, cap_only(&api, &[&feed_url], &["127.0.0.1"]));
    let report = f.poll_once().await;
    assert_eq!(
        decisions(&report),
        [("KSTO1055887203".into(), "sent".into())]
    );
    assert!(api.paths().contains(&"/cap/storm.xml".to_string()));
    assert!(!api.paths().iter().any(|p| p.starts_with("/internal")));

    // A name that resolves to loopback is refused on its addresses, also as the feed's own
    // host, unless the name itself is listed.
    let by_name = format!("http://localhost:{port}/cap/by-name.atom");
    api.serve_cap("by-name.atom", &atom(&["storm.xml"]));
    let before = api.paths().len();
    let f = feed(&db.store, cap_only(&api, &[&by_name], &["127.0.0.1"]));
    let report = f.poll_once().await;
    assert_eq!(outcome(&report), Some("refused"), "{report:?}");
    assert_eq!(api.paths()[before..], ["/cap/by-name.atom"]);
    assert!(
        logs.text()
            .lines()
            .any(|l| l.contains("localhost resolves to 127.0.0.1")),
        "{}",
        logs.text()
    );
    let f = feed(
        &db.store,
        cap_only(&api, &[&by_name], &["127.0.0.1", "localhost"]),
    );
    let report = f.poll_once().await;
    assert_eq!(outcome(&report), None, "{report:?}");
    assert_eq!(
        api.paths()[before + 1..],
        ["/cap/by-name.atom", "/cap/storm.xml"],
        "fetched (and known: handled once)"
    );
    assert!(report.handled.is_empty());
}

async fn a_cap_entry_that_redirects_to_another_host_is_not_followed(db: TestDb) {
    let (logs, _guard) = Captured::start();
    let (api, _stop) = api().await;
    let port = port(&api);
    api.serve_cap("storm.xml", &storm());
    // Both names are listed: only the redirect rule stands in the way.
    let listed = ["127.0.0.1", "localhost"];
    api.redirect_cap(
        "moved.xml",
        &format!("http://localhost:{port}/cap/storm.xml"),
    );
    let feed_url = api.serve_cap("feed.atom", &atom(&["moved.xml"]));
    let f = feed(&db.store, cap_only(&api, &[&feed_url], &listed));
    let report = f.poll_once().await;
    assert_eq!(outcome(&report), Some("refused"), "{report:?}");
    assert_eq!(api.paths(), ["/cap/feed.atom", "/cap/moved.xml"]);
    assert!(
        logs.text()
            .contains("a redirect to another host (localhost) is not followed"),
        "{}",
        logs.text()
    );

    // A redirect within the host is followed.
    api.redirect_cap(
        "here.xml",
        &format!("http://127.0.0.1:{port}/cap/storm.xml"),
    );
    let feed_url = api.serve_cap("here.atom", &atom(&["here.xml"]));
    let f = feed(&db.store, cap_only(&api, &[&feed_url], &listed));
    let report = f.poll_once().await;
    assert_eq!(
        decisions(&report),
        [("KSTO1055887203".into(), "sent".into())]
    );
}

/// What `/metrics` shows.
async fn metrics_text(svc: &Service) -> String {
    reqwest::get(format!("{}/metrics", svc.admin))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// `amtsbote_warnings_documents_cut_total` as `/metrics` shows it (0 before the first cut).
async fn documents_cut(svc: &Service) -> u64 {
    metrics_text(svc)
        .await
        .lines()
        .find_map(|l| l.strip_prefix("amtsbote_warnings_documents_cut_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

async fn a_document_over_the_limit_is_cut_counted_and_the_feed_runs_on(db: TestDb) {
    let (logs, _guard) = Captured::start();
    let (api, _stop) = api().await;
    seed(db.store.as_ref(), 5, 0, &["alerts"]).await;
    let mut svc = service_polling(
        &db,
        &api,
        "auto",
        &[
            // Long enough that only the cut can end the endless document.
            ("AMTSBOTE_WARNINGS_TIMEOUT_MS", "20000"),
            ("AMTSBOTE_WARNINGS_MAX_DOCUMENT_BYTES", "1048576"),
        ],
    )
    .await;
    // Other tests in this process may cut documents too: count from here.
    let cut_before = documents_cut(&svc).await;
    // The warning's document is 3 MiB the first time and has no end the second.
    api.fail_documents(ApiFault::Oversized(3 * 1024 * 1024), 1);
    api.fail_documents(ApiFault::Endless, 1);
    api.publish(DUSSELDORF, mowas("mow.big", "Alert", "Severe"), 1);

    // The third poll reads it whole: the feed ran on, and the warning reaches everyone.
    wait_for_messages(&svc.sim, "mow.big", 5).await;
    let documents = api
        .paths()
        .iter()
        .filter(|p| p.as_str() == "/api31/warnings/mow.big.json")
        .count();
    assert_eq!(documents, 3, "cut twice, then read");
    assert!(documents_cut(&svc).await >= cut_before + 2);
    let metrics = metrics_text(&svc).await;
    assert!(
        metrics.contains("amtsbote_warnings_polls_total{outcome=\"too_large\"}"),
        "{metrics}"
    );
    let text = logs.text();
    let cuts: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("larger than warnings.max_document_bytes"))
        .collect();
    assert_eq!(cuts.len(), 2, "{text}");
    for line in cuts {
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains("limit_bytes=1048576"), "{line}");
        assert!(
            line.contains(&format!("{}/warnings/mow.big.json", api.url)),
            "{line}"
        );
    }
    let health = reqwest::get(format!("{}/healthz", svc.base))
        .await
        .expect("healthz");
    assert!(health.status().is_success());
    svc.stop().await;
}

const REGENSBURG: &str = "093620000000";

/// South of the old town: parts of Kumpfmühl (13), Galgenberg (12) and Kasernenviertel (11),
/// as a NINA `.geojson` answer (RFC 7946, longitude first).
fn south_of_the_old_town() -> Value {
    json!({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
    "geometry": {"type": "Polygon", "coordinates": [[
        [12.085, 48.997], [12.115, 48.997], [12.115, 49.005], [12.085, 49.005], [12.085, 48.997]
    ]]}}]})
}

/// Telegram 1000, 1001, 1002: districts 12, 13, 11 (the three the polygon covers); 1003:
/// district 01; 1004: district 18; 1005: a kept place at the university (inside); 1006: a kept
/// place by the cathedral (outside); 1007 and WhatsApp …001: nothing chosen; WhatsApp …000:
/// district 15. All on `alerts`.
async fn citizens_of_regensburg(db: &TestDb) {
    seed(db.store.as_ref(), 8, 2, &["alerts"]).await;
    let id = |channel, address: &'static str| {
        let store = db.store.clone();
        async move {
            store
                .subscriber(channel, address)
                .await
                .expect("store")
                .expect("subscriber")
                .id
        }
    };
    let tg = ChannelKind::Telegram;
    for (channel, address, area) in [
        (tg, "1000", "12"),
        (tg, "1001", "13"),
        (tg, "1002", "11"),
        (tg, "1003", "01"),
        (tg, "1004", "18"),
        (ChannelKind::Whatsapp, "4915100000000", "15"),
    ] {
        let s = id(channel, address).await;
        db.store
            .set_subscriber_area(s, area, true)
            .await
            .expect("area");
    }
    for (address, lat, lon) in [("1005", 48.9985, 12.0950), ("1006", 49.0195, 12.0975)] {
        let s = id(tg, address).await;
        let place = Place::rounded(Coordinates::new(lat, lon).expect("point"));
        db.store.keep_place(s, place, 0).await.expect("place");
    }
}

/// The feed polls the simulated API for Regensburg (and `extra`), with its districts, sending
/// by itself.
async fn regensburg_polling(db: &TestDb, api: &WarningApi, extra: &[(&str, &str)]) -> Service {
    let mut settings = regensburg_settings().to_vec();
    settings.push(("AMTSBOTE_WARNINGS_ARS", REGENSBURG));
    settings.extend(extra);
    service_polling(db, api, "auto", &settings).await
}

/// Publishes warning `id` for Regensburg and waits until its alert is done; the alert and who
/// got it. The feed asked for the warning's geometry.
async fn carried(svc: &Service, api: &WarningApi, id: &str) -> (Broadcast, BTreeSet<String>) {
    api.publish(REGENSBURG, mowas(id, "Alert", "Severe"), 1);
    let done = alert_done(svc, id, id).await;
    let asked = format!("/api31/warnings/{id}.geojson");
    assert!(api.paths().contains(&asked), "{:?}", api.paths());
    done
}

/// Waits until the alert for warning `identifier` is done; the alert and who got a message
/// containing `needle`.
async fn alert_done(
    svc: &Service,
    identifier: &str,
    needle: &str,
) -> (Broadcast, BTreeSet<String>) {
    let store = svc.store.clone();
    let owned = identifier.to_string();
    wait_until(
        Duration::from_secs(30),
        &format!("{identifier} carried"),
        || {
            let (store, id) = (store.clone(), owned.clone());
            async move { store.warning_broadcast(&id).await.ok().flatten().is_some() }
        },
    )
    .await;
    let bid = svc
        .store
        .warning_broadcast(identifier)
        .await
        .expect("db")
        .expect("broadcast");
    svc.wait_done(bid, Duration::from_secs(30)).await;
    let b = svc.store.broadcast(bid).await.expect("db").expect("row");
    let to = svc
        .sim
        .received()
        .iter()
        .filter(|r| r.text.contains(needle))
        .map(|r| r.address.to_string())
        .collect();
    (b, to)
}

fn addresses(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|a| a.to_string()).collect()
}

fn is_polygon(target: &Option<Target>) -> bool {
    matches!(target, Some(Target::Polygon(_)))
}

async fn a_warning_whose_polygon_covers_three_districts_reaches_them_the_places_inside_and_those_without_an_area(
    db: TestDb,
) {
    citizens_of_regensburg(&db).await;
    let (api, _stop) = api().await;
    // The same area in a CAP document: `lat,lon` pairs, latitude first.
    let cap = storm()
        .replace(
            "38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14",
            "48.997,12.085 48.997,12.115 49.005,12.115 49.005,12.085 48.997,12.085",
        )
        .replace("SEVERE THUNDERSTORM WARNING", "GEWITTER IM SUEDEN");
    let feed = api.serve_cap("storm.xml", &cap);
    let mut svc =
        regensburg_polling(&db, &api, &[("AMTSBOTE_WARNINGS_CAP_FEEDS", feed.as_str())]).await;
    let those = addresses(&["1000", "1001", "1002", "1005", "1007", "4915100000001"]);

    api.publish_geometry("mow.south", south_of_the_old_town());
    let (alert, to) = carried(&svc, &api, "mow.south").await;
    assert_eq!(alert.kind, BroadcastKind::Alert);
    assert!(is_polygon(&alert.target), "{:?}", alert.target);
    assert_eq!(to, those);

    let (alert, to) = alert_done(&svc, "KSTO1055887203", "GEWITTER IM SUEDEN").await;
    assert!(is_polygon(&alert.target), "{:?}", alert.target);
    assert_eq!(to, those);
    svc.stop().await;
}

async fn a_warning_without_a_usable_geometry_or_covering_the_whole_city_reaches_everyone(
    db: TestDb,
) {
    citizens_of_regensburg(&db).await;
    let (api, _stop) = api().await;
    let mut svc = regensburg_polling(&db, &api, &[]).await;
    let everyone = addresses(&[
        "1000",
        "1001",
        "1002",
        "1003",
        "1004",
        "1005",
        "1006",
        "1007",
        "4915100000000",
        "4915100000001",
    ]);
    // No geometry: the API answers 404.
    let (alert, to) = carried(&svc, &api, "mow.none").await;
    assert_eq!((alert.target, to), (None, everyone.clone()));
    // The geometry cannot be fetched: the warning is not lost.
    api.fail_geometries(ApiFault::ServerError, 1);
    api.publish_geometry("mow.broken", south_of_the_old_town());
    let (alert, to) = carried(&svc, &api, "mow.broken").await;
    assert_eq!((alert.target, to), (None, everyone.clone()));
    let square = |lat: f64, lon: f64, d: f64| {
        json!({"type": "Polygon", "coordinates": [[
            [lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]
        ]]})
    };
    // About 30 km around the town hall: every district.
    api.publish_geometry("mow.city", square(49.02, 12.1, 0.3));
    let (alert, to) = carried(&svc, &api, "mow.city").await;
    assert_eq!((alert.target, to), (None, everyone.clone()));
    // Near Munich: the authorities listed it for Regensburg, so it is not withheld.
    api.publish_geometry("mow.munich", square(48.14, 11.58, 0.02));
    let (alert, to) = carried(&svc, &api, "mow.munich").await;
    assert_eq!((alert.target, to), (None, everyone));
    svc.stop().await;
}
