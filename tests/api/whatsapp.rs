//! WhatsApp end to end: the webhook (handshake, signatures, bad bodies), the conversation over
//! WhatsApp, free text inside the 24-hour window and templates outside it, status events, and
//! an alert confirmed over WhatsApp reaching both channels. Payloads come from tests/fixtures.

use std::sync::Arc;
use std::time::Duration;

use amtsbote::channels::whatsapp::WhatsappChannel;
use amtsbote::channels::whatsapp_webhook::{self, WebhookState};
use amtsbote::domain::{ChannelKind, DeliveryStatus, Priority, Role, now_ms};
use amtsbote::i18n::Texts;
use amtsbote::simulator::{Fault, Received};
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{
    TestApp, TestDb, new_broadcast, seed, spawn_app, test_lane, test_templates, wait_until,
};

pub(crate) const SECRET: &str = crate::helpers::WEBHOOK_SECRET;
const PERSON: &str = "491234567890";

fn raw(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/whatsapp/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn fixture(name: &str) -> Value {
    serde_json::from_slice(&raw(name)).unwrap()
}

pub(crate) fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The recorded incoming text message, from `from`, saying `text`, with a fresh message id.
pub(crate) fn says(from: &str, text: &str) -> Value {
    let mut v = fixture("webhook_message_text.json");
    let m = &mut v["entry"][0]["changes"][0]["value"]["messages"][0];
    m["from"] = json!(from);
    m["text"]["body"] = json!(text);
    m["id"] = json!(format!("wamid.test{}", rand::random::<u64>()));
    m["timestamp"] = json!((now_ms() / 1000).to_string());
    v
}

/// The recorded list reply (or button reply), from `from`, choosing `id`.
pub(crate) fn chooses(from: &str, id: &str, list: bool) -> Value {
    let name = if list {
        "webhook_interactive_list_reply.json"
    } else {
        "webhook_interactive_button_reply.json"
    };
    let mut v = fixture(name);
    let m = &mut v["entry"][0]["changes"][0]["value"]["messages"][0];
    m["from"] = json!(from);
    m["id"] = json!(format!("wamid.test{}", rand::random::<u64>()));
    m["timestamp"] = json!((now_ms() / 1000).to_string());
    let kind = if list { "list_reply" } else { "button_reply" };
    m["interactive"][kind]["id"] = json!(id);
    v
}

/// The recorded status event of `name` for message `wamid`.
fn status(name: &str, wamid: &str) -> Value {
    let mut v = fixture(name);
    v["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = json!(wamid);
    v
}

struct Webhook {
    url: String,
    client: reqwest::Client,
}

impl Webhook {
    async fn post_raw(&self, body: Vec<u8>, signature: Option<String>) -> reqwest::StatusCode {
        let mut req = self.client.post(&self.url).body(body);
        if let Some(s) = signature {
            req = req.header("X-Hub-Signature-256", s);
        }
        req.send().await.unwrap().status()
    }

    async fn post(&self, v: &Value) -> reqwest::StatusCode {
        let body = serde_json::to_vec(v).unwrap();
        let sig = sign(&body);
        self.post_raw(body, Some(sig)).await
    }
}

async fn start_webhook(app: &TestApp) -> Webhook {
    let texts = Arc::new(Texts::load().unwrap());
    let conversation = Arc::new(crate::helpers::conversation_of(app, false));
    let client = amtsbote::channels::http_client(Duration::from_secs(5), 4).unwrap();
    let channel = Arc::new(WhatsappChannel::new(
        client,
        &app.sim.whatsapp_url,
        "1234",
        SecretString::from("wa-token"),
        test_templates(),
    ));
    let router = whatsapp_webhook::router(Arc::new(WebhookState {
        app_secret: SecretString::from(SECRET),
        verify_token: SecretString::from("verify-me"),
        store: app.store.clone(),
        conversation,
        texts,
        channel,
        intake: amtsbote::channels::intake::Intake::start_default(app.shutdown.clone()),
        pace: crate::helpers::paces_of(app).whatsapp,
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = app.shutdown.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
    });
    Webhook {
        url: format!("http://{addr}/webhooks/whatsapp"),
        client: reqwest::Client::new(),
    }
}

async fn message_to(app: &TestApp, to: &str, needle: &str) -> Received {
    crate::helpers::message_to(&app.sim, to, needle).await
}

#[tokio::test]
async fn the_webhook_checks_the_handshake_signatures_and_bodies() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let hook = start_webhook(&app).await;
    let get = |q: &str| hook.client.get(format!("{}?{q}", hook.url)).send();
    let ok = get("hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444")
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(
        get("hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1")
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        get("hub.verify_token=verify-me&hub.challenge=1")
            .await
            .unwrap()
            .status(),
        403
    );

    // The recorded signed body, byte for byte, with the recorded signature.
    let body = raw("x_hub_signature_256_body.json");
    let vector = fixture("x_hub_signature_256_vector.json");
    let signature = vector["x_hub_signature_256"].as_str().unwrap().to_string();
    assert_eq!(
        hook.post_raw(body.clone(), Some(signature.clone())).await,
        200
    );
    let mut altered = body.clone();
    altered[200] ^= 1;
    assert_eq!(hook.post_raw(altered, Some(signature.clone())).await, 401);
    assert_eq!(hook.post_raw(body.clone(), None).await, 401);
    assert_eq!(
        hook.post_raw(body.clone(), Some("sha256=00".into())).await,
        401
    );
    assert_eq!(
        hook.post_raw(b"{not json".to_vec(), Some(sign(b"{not json")))
            .await,
        400
    );
    assert_eq!(
        hook.post(&json!({"entry": "something else"})).await,
        200,
        "a shape we do not handle is acknowledged"
    );
    let huge = vec![b' '; whatsapp_webhook::MAX_BODY + 1];
    let sig = sign(&huge);
    assert_eq!(hook.post_raw(huge, Some(sig)).await, 413);

    // The signed fixture was a stranger's first message: they learn how to subscribe.
    let from = serde_json::from_slice::<Value>(&body).unwrap()["entry"][0]["changes"][0]["value"]["messages"][0]["from"]
        .as_str()
        .unwrap()
        .to_string();
    message_to(&app, &from, "START").await;
    assert!(
        db.store
            .subscriber(ChannelKind::Whatsapp, &from)
            .await
            .unwrap()
            .is_none(),
        "nothing stored about a stranger"
    );
}

#[tokio::test]
async fn a_citizen_subscribes_by_whatsapp_and_gets_free_text_inside_the_window_and_templates_outside()
 {
    let db = TestDb::sqlite().await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let hook = start_webhook(&app).await;
    let start = says(PERSON, "Start");
    assert_eq!(hook.post(&start).await, 200);
    assert_eq!(
        hook.post(&start).await,
        200,
        "Meta's retry of the same message"
    );
    let list = message_to(&app, PERSON, "Themen").await;
    assert_eq!(
        list.markup.as_ref().unwrap()["type"],
        "list",
        "topics as an interactive list"
    );
    let welcomes = app
        .sim
        .received()
        .iter()
        .filter(|r| *r.address == *PERSON && r.text.contains("Welcome"))
        .count();
    assert_eq!(welcomes, 0, "German is the default language");
    assert_eq!(
        app.sim
            .received()
            .iter()
            .filter(|r| r.text.contains("Willkommen"))
            .count(),
        1,
        "handled once"
    );
    assert_eq!(hook.post(&chooses(PERSON, "t:news", true)).await, 200);
    let store = db.store.clone();
    wait_until(Duration::from_secs(10), "news chosen", || {
        let store = store.clone();
        async move {
            store
                .subscriber(ChannelKind::Whatsapp, PERSON)
                .await
                .unwrap()
                .is_some_and(|s| s.topics.contains(&"news".to_string()))
        }
    })
    .await;

    // Someone who last wrote 25 hours ago.
    let old = db
        .store
        .ensure_subscriber(ChannelKind::Whatsapp, "491700000001", "de")
        .await
        .unwrap();
    db.store
        .set_subscription(old.id, &crate::helpers::topic("news"), true)
        .await
        .unwrap();
    db.store
        .touch_inbound(
            ChannelKind::Whatsapp,
            "491700000001",
            now_ms() - 25 * 3600 * 1000,
        )
        .await
        .unwrap();

    let text = "Stadtfest am Samstag.\n\nDie Innenstadt ist von 10 bis 22 Uhr gesperrt.\tBusse fahren Umleitungen.";
    let id = app
        .release(new_broadcast("news", Priority::Normal, text))
        .await;
    app.wait_done(id, Duration::from_secs(20)).await;
    let fresh = message_to(&app, PERSON, "Stadtfest").await;
    assert_eq!(&*fresh.text, text, "free text inside the window");
    assert!(fresh.markup.is_none());
    let stale = message_to(&app, "491700000001", "Stadtfest").await;
    let template = stale.markup.as_ref().expect("a template");
    assert_eq!(template["name"], "stadt_announcement");
    assert!(
        !stale.text.contains('\n')
            && !stale.text.contains('\t')
            && stale.text.chars().count() <= 1024
    );
}

#[tokio::test]
async fn status_events_move_forward_only_and_131047_leads_to_one_template_resend() {
    let db = TestDb::sqlite().await;
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let hook = start_webhook(&app).await;
    hook.post(&says(PERSON, "start")).await;
    message_to(&app, PERSON, "Willkommen").await;
    hook.post(&says("491700000002", "start")).await;
    message_to(&app, "491700000002", "Willkommen").await;

    let id = app
        .release(new_broadcast("alerts", Priority::Alert, "Unwetter"))
        .await;
    app.wait_done(id, Duration::from_secs(20)).await;
    let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
    let wamid = |address: &'static str| {
        let pool = pool.clone();
        async move {
            let row: (String, Option<String>) = sqlx::query_as(
                "SELECT d.platform_id, d.platform_status FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE s.address = $1",
            )
            .bind(address)
            .fetch_one(&pool)
            .await
            .unwrap();
            row
        }
    };
    let (first, _) = wamid(PERSON).await;
    for name in [
        "webhook_status_read.json",
        "webhook_status_sent.json",
        "webhook_status_delivered.json",
        "webhook_status_read.json",
        "webhook_status_sent.json",
    ] {
        assert_eq!(hook.post(&status(name, &first)).await, 200);
    }
    assert_eq!(
        wamid(PERSON).await.1.as_deref(),
        Some("read"),
        "out of order and twice: the highest stays"
    );
    hook.post(&status("webhook_status_failed_131047.json", &first))
        .await;
    assert_eq!(
        wamid(PERSON).await.1.as_deref(),
        Some("read"),
        "failed does not replace read"
    );

    // The other person's free text is refused later (131047): it goes again, once, as template.
    let (second, _) = wamid("491700000002").await;
    hook.post(&status("webhook_status_sent.json", &second))
        .await;
    hook.post(&status("webhook_status_failed_131047.json", &second))
        .await;
    app.wait_done(id, Duration::from_secs(20)).await;
    let store = db.store.clone();
    wait_until(Duration::from_secs(20), "the template resend", || {
        let store = store.clone();
        async move {
            store
                .broadcast_stats(id)
                .await
                .unwrap()
                .total(DeliveryStatus::Sent)
                == 2
                && store.open_deliveries().await.unwrap() == 0
        }
    })
    .await;
    let to_second: Vec<_> = app
        .sim
        .received()
        .into_iter()
        .filter(|r| *r.address == *"491700000002" && &*r.text == "Unwetter")
        .collect();
    assert_eq!(to_second.len(), 2);
    assert_eq!(to_second[1].markup.as_ref().unwrap()["name"], "stadt_alert");
    let (resent, _) = wamid("491700000002").await;
    hook.post(&status("webhook_status_failed_131047.json", &resent))
        .await;
    let stats = db.store.broadcast_stats(id).await.unwrap();
    assert_eq!(
        stats.total(DeliveryStatus::Failed),
        1,
        "no second resend: it ends failed with its reason"
    );
    assert!(
        db.store.failure_reasons(id).await.unwrap()[0]
            .0
            .starts_with("131047")
    );
}

#[tokio::test]
async fn throttle_codes_pause_the_lane_and_an_alert_confirmed_over_whatsapp_reaches_both_channels()
{
    let db = TestDb::sqlite().await;
    seed(&*db.store, 3, 3, &["alerts"]).await;
    let staff = "4917012345678";
    db.store
        .set_staff(ChannelKind::Whatsapp, staff, Role::Emergency, None)
        .await
        .unwrap();
    let app = spawn_app(db.store.clone(), test_lane(0), test_lane(0)).await;
    let hook = start_webhook(&app).await;

    hook.post(&says(staff, "warnung Sturmwarnung für die ganze Stadt"))
        .await;
    let preview = message_to(&app, staff, "Sturmwarnung").await;
    let buttons = preview.markup.as_ref().expect("buttons");
    assert_eq!(buttons["type"], "button");
    let send = buttons["action"]["buttons"][0]["reply"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(send.starts_with("c:"));
    hook.post(&chooses(staff, &send, false)).await;
    message_to(&app, staff, "freigegeben").await;
    let alert = db.store.list_broadcasts(1).await.unwrap()[0].id;
    app.wait_done(alert, Duration::from_secs(30)).await;
    let count = app.sim.count_text("Sturmwarnung für die ganze Stadt");
    assert_eq!(
        (count[&ChannelKind::Telegram], count[&ChannelKind::Whatsapp]),
        (3, 3)
    );

    // A throttle code from the Graph API pauses the lane; everything still arrives.
    let mut throttle: Value =
        serde_json::from_slice(&raw("send_error_130429_rate_limit.json")).unwrap();
    throttle["error"]["code"] = json!(80007);
    app.sim.inject(
        ChannelKind::Whatsapp,
        Fault::Respond {
            status: 400,
            body: serde_json::to_vec(&throttle).unwrap(),
        },
        1,
    );
    let news = app
        .release(new_broadcast("alerts", Priority::Alert, "Zweite Warnung"))
        .await;
    app.wait_done(news, Duration::from_secs(30)).await;
    assert_eq!(
        app.sim.count_text("Zweite Warnung")[&ChannelKind::Whatsapp],
        3
    );
    let lanes = db.store.lane_states().await.unwrap();
    assert!(lanes.iter().any(|l| l.channel == ChannelKind::Whatsapp
        && l.pause_reason.as_deref().unwrap_or("").starts_with("80007")));
}
