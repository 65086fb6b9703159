//! `amtsbote demo --signups N`: N people send `/start` at once, half as Telegram updates, half
//! as signed WhatsApp webhooks, while the news broadcast drains; right after them a press
//! officer asks for a preview on Telegram. Measured at the simulators: how many were answered
//! (welcome and topic choice) and how fast, the slowest answer, and the officer's wait. With
//! districts (`--areas`) the same people then share a location in the city, measured the same
//! way (answers: the district and the offer to keep the place), to compare with `/start`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::domain::{ChannelKind, Role};
use crate::simulator::Simulator;
use crate::store::Store;

/// The press officer's Telegram user (and private chat) id.
pub const STAFF_CHAT: i64 = 900_000_001;
/// Messages that answer one `/start`: the welcome and the topic choice.
const ANSWERS_PER_SIGNUP: u8 = 2;
/// Webhooks in flight at once, as Meta's servers would send them.
const WEBHOOKS_IN_FLIGHT: usize = 64;

/// What the sign-up surge measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SignupReport {
    pub signups: u64,
    /// People who got both answers to their `/start`.
    pub signups_answered: u64,
    /// Answered people per second, from the first `/start` to the last answer.
    pub signups_per_s: f64,
    /// The longest time from a person's `/start` to their last answer.
    pub signup_slowest_ms: f64,
    /// From the officer's `/announce` to the preview at the simulator.
    pub staff_reply_ms: f64,
    /// News messages not yet delivered when the surge began.
    pub news_pending_at_signups: u64,
    /// With districts (`--areas`): right after, the same people share a location in the city.
    /// People who got both answers (the district and the offer to keep the place).
    pub locations_answered: u64,
    /// Answered locations per second, as `signups_per_s`.
    pub locations_per_s: f64,
    /// The longest time from a shared location to its last answer.
    pub location_slowest_ms: f64,
    /// `locations_per_s ÷ signups_per_s` in the same run (1.0: as fast as `/start`).
    pub locations_vs_signups: f64,
}

/// Where the surge is sent.
pub struct Surge<'a> {
    pub sim: &'a Simulator,
    /// The service's webhook base (`http://127.0.0.1:port`).
    pub base: String,
    pub app_secret: String,
    pub signups: u64,
    /// The text the officer announces (unique to the run, to find the preview by).
    pub staff_text: String,
    /// How long to wait for every answer at most.
    pub within: Duration,
    /// With districts: where everyone shares their location after signing up.
    pub location: Option<(f64, f64)>,
}

/// What each person of a wave sends.
#[derive(Clone, Copy)]
enum Wave {
    Start,
    Location { lat: f64, lon: f64 },
}

impl Wave {
    fn telegram(self, user: i64) -> Value {
        match self {
            Wave::Start => telegram_update(user, "/start"),
            Wave::Location { lat, lon } => {
                let mut u = telegram_update(user, "");
                if let Some(m) = u["message"].as_object_mut() {
                    m.remove("text");
                    m.insert(
                        "location".into(),
                        json!({"latitude": lat, "longitude": lon}),
                    );
                }
                u
            }
        }
    }

    fn whatsapp(self, number: &str, id: u64) -> Vec<u8> {
        match self {
            Wave::Start => whatsapp_body(number, id, "START"),
            Wave::Location { lat, lon } => whatsapp_message(
                number,
                &format!("LOC{id:013}"),
                json!({"type": "location", "location": {"latitude": lat, "longitude": lon}}),
            ),
        }
    }
}

/// What one wave measured.
#[derive(Default)]
struct WaveReport {
    answered: u64,
    per_s: f64,
    slowest_ms: f64,
    staff_reply_ms: f64,
}

/// Makes the officer a press member, as `amtsbote staff add` does.
pub async fn prepare(store: &dyn Store) -> anyhow::Result<()> {
    store
        .set_staff(
            ChannelKind::Telegram,
            &STAFF_CHAT.to_string(),
            Role::Press,
            None,
        )
        .await
        .context("adding the demo's press officer")?;
    Ok(())
}

/// A private `/start` (or any text) from Telegram user `user`, as the Bot API sends it.
fn telegram_update(user: i64, text: &str) -> Value {
    json!({"message": {
        "message_id": 1,
        "date": chrono::Utc::now().timestamp(),
        "chat": {"id": user, "type": "private", "first_name": "Demo"},
        "from": {"id": user, "is_bot": false, "first_name": "Demo", "language_code": "de"},
        "text": text,
    }})
}

/// A WhatsApp webhook body with one text message from `number`.
pub(crate) fn whatsapp_body(number: &str, id: u64, text: &str) -> Vec<u8> {
    whatsapp_message(
        number,
        &format!("{id:016}"),
        json!({"type": "text", "text": {"body": text}}),
    )
}

/// A WhatsApp webhook body with one message from `number`: `content` gives its type and body.
fn whatsapp_message(number: &str, id: &str, content: Value) -> Vec<u8> {
    let mut message = json!({
        "from": number, "id": format!("wamid.DEMO{id}"),
        "timestamp": chrono::Utc::now().timestamp().to_string(),
    });
    if let (Some(m), Value::Object(c)) = (message.as_object_mut(), content) {
        m.extend(c);
    }
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "0", "changes": [{
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "4962210000", "phone_number_id": "100000000000001"},
            "contacts": [{"profile": {"name": "Demo"}, "wa_id": number}],
            "messages": [message],
        },
    }]}]});
    body.to_string().into_bytes()
}

/// A WhatsApp webhook body (the recorded button reply) in which `number` presses the reply
/// button `data`.
pub(crate) fn whatsapp_button_body(number: &str, id: u64, data: &str) -> anyhow::Result<Vec<u8>> {
    const PRESS: &str =
        include_str!("../../tests/fixtures/whatsapp/webhook_interactive_button_reply.json");
    let mut body: serde_json::Value =
        serde_json::from_str(PRESS).context("reading the recorded button reply")?;
    let value = body
        .pointer_mut("/entry/0/changes/0/value")
        .context("the recorded button reply has no value")?;
    value["contacts"][0]["wa_id"] = number.into();
    let message = &mut value["messages"][0];
    message["from"] = number.into();
    message["id"] = format!("wamid.DEMOPRESS{id:012}").into();
    message["timestamp"] = chrono::Utc::now().timestamp().to_string().into();
    message["interactive"]["button_reply"]["id"] = data.into();
    Ok(body.to_string().into_bytes())
}

/// `X-Hub-Signature-256` of `body`, as Meta signs it.
pub(crate) fn signature(secret: &str, body: &[u8]) -> anyhow::Result<String> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|e| anyhow::anyhow!("the app secret: {e}"))?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// One person of the surge.
#[derive(Default)]
struct Person {
    asked: Option<Duration>,
    answers: u8,
    last: Duration,
}

/// Sends the surge and the officer's request, and waits for every answer (or `within`); with
/// districts, then the wave of locations from the same people.
pub async fn run(surge: Surge<'_>, news_pending: u64) -> anyhow::Result<SignupReport> {
    let signed_up = wave(&surge, Wave::Start).await?;
    let located = match surge.location {
        Some((lat, lon)) => wave(&surge, Wave::Location { lat, lon }).await?,
        None => WaveReport::default(),
    };
    Ok(SignupReport {
        signups: surge.signups,
        signups_answered: signed_up.answered,
        signups_per_s: signed_up.per_s,
        signup_slowest_ms: signed_up.slowest_ms,
        staff_reply_ms: signed_up.staff_reply_ms,
        news_pending_at_signups: news_pending,
        locations_answered: located.answered,
        locations_per_s: located.per_s,
        location_slowest_ms: located.slowest_ms,
        locations_vs_signups: if signed_up.per_s > 0.0 {
            located.per_s / signed_up.per_s
        } else {
            0.0
        },
    })
}

/// One wave: everyone sends `what` at once (the officer's request with the first), and every
/// answer is awaited (or `within`).
async fn wave(surge: &Surge<'_>, what: Wave) -> anyhow::Result<WaveReport> {
    let sim = surge.sim;
    let with_staff = matches!(what, Wave::Start);
    let telegram = surge.signups.div_ceil(2);
    let whatsapp = surge.signups / 2;
    let mut people: HashMap<(ChannelKind, String), Person> =
        HashMap::with_capacity(surge.signups as usize);
    let numbers: Vec<String> = (0..whatsapp).map(|i| format!("49160{i:08}")).collect();
    for n in &numbers {
        people.insert((ChannelKind::Whatsapp, n.clone()), Person::default());
    }
    let mut cursor = sim.received_count();
    let began = sim.elapsed();
    for i in 0..telegram {
        let user = 200_000_000 + i as i64;
        people.insert(
            (ChannelKind::Telegram, user.to_string()),
            Person {
                asked: Some(sim.elapsed()),
                ..Person::default()
            },
        );
        sim.push_update(what.telegram(user));
    }
    // Meta's webhooks, many at once; each is answered once its message is handled.
    let posting = {
        let client = reqwest::Client::new();
        let url = format!("{}/webhooks/whatsapp", surge.base);
        let slots = Arc::new(Semaphore::new(WEBHOOKS_IN_FLIGHT));
        let mut posts = tokio::task::JoinSet::new();
        for (i, number) in numbers.iter().enumerate() {
            let body = what.whatsapp(number, i as u64);
            let sig = signature(&surge.app_secret, &body)?;
            let (client, url, slots, sim) =
                (client.clone(), url.clone(), slots.clone(), sim.clone());
            let number = number.clone();
            posts.spawn(async move {
                let _slot = slots.acquire_owned().await.ok();
                let asked = sim.elapsed();
                let sent = client
                    .post(&url)
                    .header("X-Hub-Signature-256", sig)
                    .body(body)
                    .send()
                    .await;
                let ok = sent.is_ok_and(|r| r.status().is_success());
                (number, asked, ok)
            });
        }
        posts
    };
    // The officer asks while the citizens wait.
    let staff_asked = sim.elapsed();
    if with_staff {
        sim.push_update(telegram_update(
            STAFF_CHAT,
            &format!("/announce news {}", surge.staff_text),
        ));
    }
    let staff = STAFF_CHAT.to_string();
    let mut staff_at: Option<Duration> = None;
    let mut answered = 0u64;
    let deadline = Instant::now() + surge.within;
    while (answered < surge.signups || (with_staff && staff_at.is_none()))
        && Instant::now() < deadline
    {
        let new = sim.received_from(cursor);
        cursor += new.len();
        for r in new {
            if *r.address == *staff && r.text.contains(&surge.staff_text) {
                staff_at.get_or_insert(r.at);
            } else if let Some(p) = people.get_mut(&(r.channel, r.address.to_string())) {
                p.answers += 1;
                p.last = r.at;
                if p.answers == ANSWERS_PER_SIGNUP {
                    answered += 1;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut refused = 0u64;
    let mut posts = posting;
    while let Some(done) = posts.join_next().await {
        match done {
            Ok((number, asked, ok)) => {
                refused += u64::from(!ok);
                if let Some(p) = people.get_mut(&(ChannelKind::Whatsapp, number)) {
                    p.asked = Some(asked);
                }
            }
            Err(e) => tracing::error!(error = %e, "a demo webhook task failed"),
        }
    }
    if refused > 0 {
        tracing::error!(webhooks = refused, "webhooks not acknowledged with 200");
    }
    let done: Vec<&Person> = people
        .values()
        .filter(|p| p.answers >= ANSWERS_PER_SIGNUP)
        .collect();
    let slowest = done
        .iter()
        .filter_map(|p| p.asked.map(|a| p.last.saturating_sub(a)))
        .max()
        .unwrap_or_default();
    let span = done
        .iter()
        .map(|p| p.last)
        .max()
        .unwrap_or_default()
        .saturating_sub(began)
        .as_secs_f64();
    Ok(WaveReport {
        answered: done.len() as u64,
        per_s: if span > 0.0 {
            done.len() as f64 / span
        } else {
            0.0
        },
        slowest_ms: slowest.as_secs_f64() * 1000.0,
        staff_reply_ms: staff_at
            .map(|t| t.saturating_sub(staff_asked).as_secs_f64() * 1000.0)
            .unwrap_or(-1.0),
    })
}
