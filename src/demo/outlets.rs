//! `amtsbote demo --outlets`: the same kind of alert to every subscriber three times in one run:
//! with no outlets, then with the simulated Mastodon, Bluesky, the city's Telegram channel and
//! its website's webhook, all in this process, then with none again (so that the pass with
//! outlets is bracketed, and a cold first pass does not flatter it). Each pass is timed at the simulated platforms:
//! the alert's first message after its release and the citizens' rate per lane. The outlets
//! must add nothing measurable, and each must get the alert once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use secrecy::SecretString;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{
    DemoOptions, Measure, database_kind, demo_config, open_store, peak_rss_mb, release, round,
    seed, setup_line, spawn, stop_service,
};
use crate::config::Config;
use crate::domain::outlet::{OutletKind, OutletPostStatus, OutletRoute};
use crate::domain::{BroadcastKind, BroadcastStatus, ChannelKind, Priority, Topic};
use crate::i18n::Texts;
use crate::outlets::{OutletSettings, OutletSpec};
use crate::service::Application;
use crate::simulator::Simulator;
use crate::simulator::outlets::{FakeBluesky, FakeMastodon, FakeWebsite};
use crate::store::Store;

/// The city's channel the simulated Telegram takes the channel outlet's posts for.
pub const CHANNEL: &str = "@stadt_demo";
const MASTODON_TOKEN: &str = "demo-mastodon-token";
const BLUESKY_HANDLE: &str = "stadt-demo.bsky.social";
const BLUESKY_PASSWORD: &str = "demo-demo-demo-demo";
const WEBHOOK_SECRET: &str = "demo-webhook-secret";

/// What the outlets benchmark measured, at the simulators.
#[derive(Debug, Clone, Serialize)]
pub struct OutletsReport {
    pub subscribers: u64,
    pub database: &'static str,
    pub telegram_rate_configured: u32,
    pub whatsapp_rate_configured: u32,
    /// From the alert's release (as the store recorded it) to its first message to a citizen,
    /// without outlets and with them.
    pub off_first_send_ms: f64,
    pub on_first_send_ms: f64,
    /// The third pass, without outlets again.
    pub off_again_first_send_ms: f64,
    /// With ÷ the mean of both passes without.
    pub first_send_ratio: f64,
    /// The citizens' messages per second on each lane over the alert's span.
    pub off_telegram_per_s: f64,
    pub off_whatsapp_per_s: f64,
    pub on_telegram_per_s: f64,
    pub on_whatsapp_per_s: f64,
    pub off_again_telegram_per_s: f64,
    pub off_again_whatsapp_per_s: f64,
    /// The citizens' messages per second, both lanes together: with ÷ the mean of both passes
    /// without.
    pub rate_ratio: f64,
    pub off_delivered: u64,
    pub on_delivered: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// What each outlet received of the second alert (one each).
    pub mastodon_posts: u64,
    pub bluesky_posts: u64,
    pub telegram_channel_posts: u64,
    pub webhook_posts: u64,
    /// Posts beyond one per outlet.
    pub outlet_duplicates: u64,
    /// Requests the simulated Mastodon and Bluesky refused as malformed (none expected).
    pub outlet_violations: u64,
    /// From the second alert's release to the last outlet's post.
    pub outlets_done_ms: f64,
    pub peak_rss_mb: f64,
    pub elapsed_s: f64,
}

/// One pass of the alert, at the simulators.
struct Pass {
    first_send_ms: f64,
    telegram_per_s: f64,
    whatsapp_per_s: f64,
    per_s: f64,
    delivered: u64,
    duplicates: u64,
    /// When it was released (ms since the epoch, as the store recorded it).
    released_at: i64,
    /// When the last outlet posted it (ms since the epoch; 0 without outlets).
    posted_at: i64,
}

/// The simulated outlets of the second pass.
struct Outlets {
    mastodon: FakeMastodon,
    bluesky: FakeBluesky,
    website: FakeWebsite,
}

impl Outlets {
    async fn start(shutdown: &CancellationToken) -> anyhow::Result<Outlets> {
        Ok(Outlets {
            mastodon: FakeMastodon::start(MASTODON_TOKEN, 500, shutdown.clone())
                .await
                .context("starting the simulated Mastodon")?,
            bluesky: FakeBluesky::start(BLUESKY_HANDLE, BLUESKY_PASSWORD, shutdown.clone())
                .await
                .context("starting the simulated Bluesky")?,
            website: FakeWebsite::start(WEBHOOK_SECRET, shutdown.clone())
                .await
                .context("starting the simulated website")?,
        })
    }

    /// The `[[outlets]]` a city would configure, pointed at the simulators.
    fn specs(&self) -> anyhow::Result<Vec<OutletSpec>> {
        let url = |u: &str| url::Url::parse(u).context("a simulator's URL");
        let spec = |name: &str, kind: OutletKind, settings: OutletSettings| OutletSpec {
            route: OutletRoute {
                name: name.into(),
                kind,
                topics: None,
                alerts: true,
            },
            rate_per_minute: 30,
            settings,
        };
        Ok(vec![
            spec(
                "mastodon",
                OutletKind::Mastodon,
                OutletSettings::Mastodon {
                    url: url(&self.mastodon.url)?,
                    token: SecretString::from(MASTODON_TOKEN),
                },
            ),
            spec(
                "bluesky",
                OutletKind::Bluesky,
                OutletSettings::Bluesky {
                    url: url(&self.bluesky.url)?,
                    handle: BLUESKY_HANDLE.into(),
                    password: SecretString::from(BLUESKY_PASSWORD),
                },
            ),
            spec(
                "kanal",
                OutletKind::TelegramChannel,
                OutletSettings::TelegramChannel {
                    chat: CHANNEL.into(),
                },
            ),
            spec(
                "website",
                OutletKind::Webhook,
                OutletSettings::Webhook {
                    url: url(&self.website.url)?,
                    secret: SecretString::from(WEBHOOK_SECRET),
                },
            ),
        ])
    }
}

pub async fn run(
    config: &Config,
    options: DemoOptions,
    texts: &Texts,
    lang: &str,
) -> anyhow::Result<OutletsReport> {
    let started = Instant::now();
    let shutdown = CancellationToken::new();
    let sim = Simulator::start_expecting(shutdown.clone(), (options.subscribers * 2) as usize)
        .await
        .context("starting the simulated platforms")?;
    let outlets = Outlets::start(&shutdown).await?;
    let (_tmp, url, store) = open_store(&options).await?;
    setup_line(&options, texts, lang);
    let alerts = Topic::parse("alerts").map_err(anyhow::Error::msg)?;
    seed(&*store, options.subscribers, std::slice::from_ref(&alerts)).await?;
    store.upkeep().await?;
    let expected = store.recipient_count(&alerts).await?.total();
    let run_id = format!("{:x}", chrono::Utc::now().timestamp_millis() % 0xFFFFFF);
    let text = |pass: &str| {
        let run = format!("{run_id}-{pass}");
        texts.get(lang, "demo-alert-text", &[("run", run.into())])
    };

    // Without outlets.
    let mut off = demo_config(config, &options, &sim, &url);
    off.outlets = Vec::new();
    off.engine.outlets = Arc::new([]);
    let off_text = text("ohne");
    let off_pass = pass(off, &store, &sim, &alerts, &off_text, &options, 0).await?;

    // With every kind of outlet that has an API.
    let mut on = demo_config(config, &options, &sim, &url);
    on.outlets = outlets.specs()?;
    on.engine.outlets = on.outlets.iter().map(|o| o.route.clone()).collect();
    let on_text = text("mit");
    let rows = on.outlets.len();
    let on_pass = pass(on, &store, &sim, &alerts, &on_text, &options, rows).await?;
    let to_channel = sim
        .received()
        .iter()
        .filter(|r| &*r.address == CHANNEL && r.text.contains(on_text.as_str()))
        .count() as u64;
    let posts = [
        outlets
            .mastodon
            .statuses()
            .iter()
            .filter(|s| s.text.contains(on_text.as_str()))
            .count() as u64,
        outlets
            .bluesky
            .posts()
            .iter()
            .filter(|p| p.text().contains(on_text.as_str()))
            .count() as u64,
        to_channel,
        outlets
            .website
            .hooks()
            .iter()
            .filter(|h| h.body["text"].as_str() == Some(on_text.as_str()))
            .count() as u64,
    ];
    // Without outlets again: the pass with them sits between two without.
    let mut again = demo_config(config, &options, &sim, &url);
    again.outlets = Vec::new();
    again.engine.outlets = Arc::new([]);
    let again_text = text("ohne-2");
    let again_pass = pass(again, &store, &sim, &alerts, &again_text, &options, 0).await?;
    let off_first_ms = (off_pass.first_send_ms + again_pass.first_send_ms) / 2.0;
    let off_per_s = (off_pass.per_s + again_pass.per_s) / 2.0;
    let report = OutletsReport {
        subscribers: options.subscribers,
        database: database_kind(&url),
        telegram_rate_configured: options.telegram_rate,
        whatsapp_rate_configured: options.whatsapp_rate,
        off_first_send_ms: round(off_pass.first_send_ms, 1),
        on_first_send_ms: round(on_pass.first_send_ms, 1),
        off_again_first_send_ms: round(again_pass.first_send_ms, 1),
        first_send_ratio: round(on_pass.first_send_ms / off_first_ms.max(0.001), 3),
        off_telegram_per_s: round(off_pass.telegram_per_s, 1),
        off_whatsapp_per_s: round(off_pass.whatsapp_per_s, 1),
        on_telegram_per_s: round(on_pass.telegram_per_s, 1),
        on_whatsapp_per_s: round(on_pass.whatsapp_per_s, 1),
        off_again_telegram_per_s: round(again_pass.telegram_per_s, 1),
        off_again_whatsapp_per_s: round(again_pass.whatsapp_per_s, 1),
        rate_ratio: round(on_pass.per_s / off_per_s.max(0.001), 3),
        off_delivered: off_pass.delivered,
        on_delivered: on_pass.delivered,
        lost: [&off_pass, &on_pass, &again_pass]
            .iter()
            .map(|p| expected.saturating_sub(p.delivered))
            .sum(),
        duplicates: off_pass.duplicates + on_pass.duplicates + again_pass.duplicates,
        mastodon_posts: posts[0],
        bluesky_posts: posts[1],
        telegram_channel_posts: posts[2],
        webhook_posts: posts[3],
        outlet_duplicates: posts.iter().map(|n| n.saturating_sub(1)).sum(),
        outlet_violations: (outlets.mastodon.violations().len()
            + outlets.bluesky.violations().len()) as u64,
        outlets_done_ms: (on_pass.posted_at - on_pass.released_at).max(0) as f64,
        peak_rss_mb: round(peak_rss_mb(), 1),
        elapsed_s: round(started.elapsed().as_secs_f64(), 1),
    };
    shutdown.cancel();
    Ok(report)
}

/// Starts the service with `config`, releases an alert with `text` to everyone on `topic`,
/// waits until it is done (and posted on its `outlets`) and stops the service: what arrived.
async fn pass(
    config: Config,
    store: &Arc<dyn Store>,
    sim: &Simulator,
    topic: &Topic,
    text: &str,
    options: &DemoOptions,
    outlets: usize,
) -> anyhow::Result<Pass> {
    let app = Application::build_on(config, store.clone())
        .await
        .context("starting the service")?;
    let broadcasts = app.broadcasts.clone();
    let (stop, service) = spawn(app);
    let alert = release(
        &broadcasts,
        topic,
        BroadcastKind::Alert,
        Priority::Alert,
        text,
    )
    .await?;
    let slowest = [options.telegram_rate, options.whatsapp_rate]
        .into_iter()
        .filter(|r| *r > 0)
        .min()
        .map_or(0.0, |r| options.subscribers as f64 / f64::from(r));
    let deadline = Instant::now() + Duration::from_secs_f64(60.0 + 2.0 * slowest);
    loop {
        let b = store.broadcast(alert).await?;
        if b.is_some_and(|b| b.status == BroadcastStatus::Done) {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the alert did not finish in time"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The release as the store recorded it, on the simulators' clock.
    let sim_started_ms = crate::domain::now_ms() - sim.elapsed().as_millis() as i64;
    let released_at = store
        .broadcast(alert)
        .await?
        .and_then(|b| b.released_at)
        .context("the alert has no release time")?;
    let released = Duration::from_millis((released_at - sim_started_ms).max(0) as u64);
    let received: Vec<_> = sim
        .received()
        .into_iter()
        .filter(|r| *r.text == *text && &*r.address != CHANNEL)
        .collect();
    let measure = Measure::new(&received);
    let (delivered, duplicates) = measure.distinct(text);
    let first = received.iter().map(|r| r.at).min().unwrap_or(released);
    let span = measure.span(None);
    // The outlets' lanes run until the service stops: their posts are awaited first.
    let posted_at = if outlets > 0 {
        outlets_settled(&**store, alert, outlets).await?
    } else {
        0
    };
    stop_service(stop, service).await;
    Ok(Pass {
        first_send_ms: first.saturating_sub(released).as_secs_f64() * 1000.0,
        telegram_per_s: measure.lane(ChannelKind::Telegram).0,
        whatsapp_per_s: measure.lane(ChannelKind::Whatsapp).0,
        per_s: if span > 0.0 {
            received.len() as f64 / span
        } else {
            0.0
        },
        delivered,
        duplicates,
        released_at,
        posted_at,
    })
}

/// Waits until `rows` outlet rows about `id` exist and none is still queued; when the last
/// one was posted (ms since the epoch).
async fn outlets_settled(store: &dyn Store, id: i64, rows: usize) -> anyhow::Result<i64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let posts = store.outlet_posts_about(id).await?;
        let open = posts.iter().any(|p| {
            matches!(
                p.status,
                OutletPostStatus::Pending | OutletPostStatus::Leased
            )
        });
        if posts.len() >= rows && !open {
            let mut by_status: HashMap<&str, usize> = HashMap::new();
            for p in &posts {
                *by_status.entry(p.status.as_str()).or_default() += 1;
            }
            tracing::info!(broadcast = id, ?by_status, "outlet posts settled");
            return Ok(posts.iter().filter_map(|p| p.sent_at).max().unwrap_or(0));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the outlets did not post within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn summary(report: &OutletsReport, texts: &Texts, lang: &str) -> String {
    super::summary_of(report, texts, lang, "demo-outlets-summary")
}
