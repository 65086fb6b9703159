//! `amtsbote demo`: the newcomer's first command and our benchmark. It runs the production
//! queue and channel adapters against the simulated platforms on 127.0.0.1, releases a news
//! broadcast to every subscriber and, once a tenth of it has arrived, an alert; then it reports
//! what the simulators actually received. With `--signups N`, N people sign up at once while
//! the news drains, and a press officer asks for a preview meanwhile (see `signups`).

pub mod archive;
pub mod areas;
pub mod instances;
mod link;
pub mod outlets;
pub mod picture;
pub mod retract;
pub mod signups;

pub mod warnings;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use secrecy::SecretString;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::channels::whatsapp::{Template, Templates};
use crate::config::Config;
use crate::config::{TelegramConfig, WhatsappConfig};
use crate::conversation::command::ButtonData;
use crate::domain::{Actor, BroadcastKind, BroadcastStatus, ChannelKind, Priority, Role, Topic};
use crate::i18n::Texts;
use crate::service::Application;
use crate::services::{BroadcastService, Submission, When};
use crate::simulator::{Received, Simulator};
use crate::store::{self, NewSubscriber, Store};

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub subscribers: u64,
    pub telegram_rate: u32,
    pub whatsapp_rate: u32,
    pub database_url: Option<String>,
    /// People who send `/start` at once while the news drains (0: none).
    pub signups: u64,
    /// Keep the service (and its dashboard) running after the figures until Ctrl-C.
    pub keep_dashboard: bool,
    /// Where the emergency member sends the alert and presses Send.
    pub alert_from: ChannelKind,
    /// The round trip to the simulated Telegram's servers (0: same machine).
    pub telegram_latency: Duration,
    /// Regensburg's districts, the subscribers spread over them, and the targeted fan-outs
    /// timed against the same broadcast to everyone.
    pub areas: bool,
}

/// What the demo measured, all of it at the simulators.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub subscribers: u64,
    pub database: &'static str,
    pub news_expected: u64,
    pub news_delivered: u64,
    pub alert_expected: u64,
    pub alert_delivered: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub telegram_rate_configured: u32,
    pub telegram_rate_achieved: f64,
    pub telegram_max_1s: u64,
    pub whatsapp_rate_configured: u32,
    pub whatsapp_rate_achieved: f64,
    pub whatsapp_max_1s: u64,
    pub deliveries_per_s: f64,
    pub fanout_ms: i64,
    pub news_pending_at_alert: u64,
    /// From the release (as the store recorded it) to the alert's first message.
    pub alert_first_send_ms: f64,
    /// Where the emergency member pressed Send (`telegram` or `whatsapp`).
    pub alert_from: ChannelKind,
    /// From the emergency member's press of Send reaching the platform (Telegram: queued for
    /// `getUpdates`; WhatsApp: the webhook posted) to the alert's first message at a simulator.
    pub alert_confirm_to_first_ms: f64,
    pub alert_complete_s: f64,
    /// 1.05 × the alert's recipients on its slowest lane ÷ that lane's rate (0 when unlimited).
    pub alert_complete_bound_s: f64,
    pub peak_rss_mb: f64,
    pub elapsed_s: f64,
    /// Loopback JSON POSTs per second in this run (`ceiling`): the send path's ceiling.
    pub ceiling_http_per_s: f64,
    /// A bare `INSERT … SELECT` of the news fan-out's rows in this run: the fan-out's ceiling.
    pub ceiling_insert_ms: f64,
    /// `deliveries_per_s` ÷ `ceiling_http_per_s`.
    pub throughput_ratio: f64,
    /// `fanout_ms` ÷ `ceiling_insert_ms`.
    pub fanout_ratio: f64,
    /// The sign-up surge (`--signups`), all zero without it.
    #[serde(flatten)]
    pub surge: signups::SignupReport,
    /// The targeted fan-outs (`--areas`), all zero without it.
    #[serde(flatten)]
    pub areas: areas::AreasReport,
}

pub async fn run(
    config: &Config,
    options: DemoOptions,
    texts: &Texts,
    lang: &str,
) -> anyhow::Result<DemoReport> {
    let started = Instant::now();
    let shutdown = CancellationToken::new();
    let expected = options.subscribers * 2 + options.signups * 2;
    let sim = Simulator::start_expecting(shutdown.clone(), expected as usize)
        .await
        .context("starting the simulated platforms")?;
    sim.set_telegram_latency(options.telegram_latency);

    let (tmp, url, store) = open_store(&options).await?;

    setup_line(&options, texts, lang);
    let news_topic = Topic::parse("news").map_err(anyhow::Error::msg)?;
    let alerts_topic = Topic::parse("alerts").map_err(anyhow::Error::msg)?;
    seed(
        &*store,
        options.subscribers,
        &[news_topic.clone(), alerts_topic.clone()],
    )
    .await?;

    store
        .set_staff(
            ChannelKind::Telegram,
            &DEMO_EMERGENCY.to_string(),
            Role::Emergency,
            Some("Demo-Einsatzleitung"),
        )
        .await
        .context("adding the demo's emergency member")?;
    store
        .set_staff(
            ChannelKind::Whatsapp,
            DEMO_EMERGENCY_NUMBER,
            Role::Emergency,
            Some("Demo-Einsatzleitung"),
        )
        .await
        .context("adding the demo's emergency member")?;

    if options.signups > 0 {
        signups::prepare(&*store).await?;
    }
    // Districts first (the spread and the targeted fan-outs), before anything else runs.
    let areas_report = if options.areas {
        let catalogue = areas::regensburg()?;
        areas::spread(&*store, &catalogue)
            .await
            .context("spreading the subscribers over the districts")?;
        let report = areas::measure(&store, &catalogue, &news_topic, config.engine.fan_out_chunk)
            .await
            .context("timing the targeted fan-outs")?;
        // What the spread and the timed fan-outs wrote is checkpointed now, not while the
        // alert goes out.
        store.upkeep().await?;
        report
    } else {
        areas::AreasReport::default()
    };
    // The ceilings first, on a quiet machine: the figures are read as ratios to them.
    let (_, ceiling_insert_ms) = store
        .fan_out_ceiling(&news_topic)
        .await
        .context("measuring the fan-out's ceiling")?;
    let ceiling_http_per_s = crate::ceiling::http_posts_per_s(Duration::from_secs(2))
        .await
        .context("measuring the HTTP ceiling")?;

    // The whole service, as `amtsbote run` starts it, against the simulated platforms, with
    // its dashboard on a free local port and a demo administrator to sign in as.
    let mut demo = demo_config(config, &options, &sim, &url);
    if options.areas {
        let file = tmp.path().join("regensburg_stadtbezirke.geojson");
        std::fs::write(&file, areas::REGENSBURG).context("writing the districts")?;
        demo.areas = Some(crate::config::AreasSource {
            file,
            id_property: "sbz".into(),
            name_property: "name".into(),
        });
    }
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .context("finding a free port for the dashboard")?
        .port();
    demo.http_listen = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    if demo.dashboard_url.is_none() {
        demo.dashboard_url = url::Url::parse(&format!("http://127.0.0.1:{port}")).ok();
    }
    let app = Application::build_on(demo, store.clone())
        .await
        .context("starting the service")?;
    if let Some(sign_in) = &app.sign_in {
        store
            .set_staff(
                ChannelKind::Telegram,
                "1",
                crate::domain::Role::Admin,
                Some("Demo"),
            )
            .await?;
        if let Some(link) = sign_in.login_link(ChannelKind::Telegram, "1").await? {
            eprintln!(
                "{}",
                texts.get(
                    lang,
                    "demo-dashboard",
                    &[
                        ("url", sign_in.dashboard_url().into()),
                        ("link", link.into())
                    ]
                )
            );
        }
    }
    let broadcasts = app.broadcasts.clone();
    let base = format!("http://{}", app.local_addr());
    let (stop, service) = spawn(app);
    let run_id = format!("{:x}", chrono::Utc::now().timestamp_millis() % 0xFFFFFF);
    let news_text = texts.get(lang, "demo-news-text", &[("run", run_id.as_str().into())]);
    let alert_text = texts.get(lang, "demo-alert-text", &[("run", run_id.as_str().into())]);

    let news_expected = store.recipient_count(&news_topic).await?;
    let alert_expected = store.recipient_count(&alerts_topic).await?;
    let news = release(
        &broadcasts,
        &news_topic,
        BroadcastKind::Announcement,
        Priority::Normal,
        &news_text,
    )
    .await?;

    let bars = Bars::new(&news_expected.total(), &alert_expected.total());
    let surge = if options.signups > 0 {
        // The surge comes while the news drains (from its first message on).
        let first_news = Instant::now() + Duration::from_secs(60);
        while sim.count_text(&news_text).values().sum::<usize>() == 0
            && news_expected.total() > 0
            && Instant::now() < first_news
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let arrived = sim.count_text(&news_text).values().sum::<usize>() as u64;
        let slowest_reserve = [options.telegram_rate, options.whatsapp_rate]
            .into_iter()
            .filter(|r| *r > 0)
            .map(|r| {
                crate::queue::LaneBudget::reserved_for(
                    r,
                    config
                        .telegram_lane
                        .reply_share
                        .min(config.whatsapp_lane.reply_share),
                )
            })
            .min();
        // Each lane sends N answers (half the people, two each), at worst at its reserve.
        let within = Duration::from_secs(120)
            + slowest_reserve
                .map(|r| Duration::from_secs_f64(options.signups as f64 / f64::from(r.max(1))))
                .unwrap_or_default();
        signups::run(
            signups::Surge {
                sim: &sim,
                base: base.clone(),
                app_secret: DEMO_APP_SECRET.to_string(),
                signups: options.signups,
                staff_text: texts.get(lang, "demo-staff-text", &[("run", run_id.as_str().into())]),
                within,
                location: options.areas.then_some((ON_SITE.0, ON_SITE.1)),
            },
            news_expected.total().saturating_sub(arrived),
        )
        .await?
    } else {
        signups::SignupReport::default()
    };
    let tenth = (news_expected.total() / 10).max(1) as usize;
    loop {
        let arrived = sim.count_text(&news_text).values().sum::<usize>();
        bars.set(&sim, &news_text, &alert_text);
        if arrived >= tenth || news_expected.total() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let news_pending_at_alert = news_expected
        .total()
        .saturating_sub(sim.count_text(&news_text).values().sum::<usize>() as u64);
    // The people who signed up meanwhile are on `alerts` too.
    let alert_expected = if options.signups > 0 {
        store.recipient_count(&alerts_topic).await?
    } else {
        alert_expected
    };
    // The alert comes as it would on the day: an emergency member types it in Telegram and
    // presses Send under the preview; with districts, on site, for 1 km around where they stand.
    let on_site = (options.areas && options.alert_from == ChannelKind::Telegram).then_some(ON_SITE);
    let (alert, pressed_at) = alert_by_chat(
        &sim,
        &*store,
        &alert_text,
        options.alert_from,
        &base,
        // With districts, the alert goes to a circle chosen on site (on Telegram).
        on_site,
    )
    .await?;
    // A circle reaches those inside it and those without an area, not everyone on alerts.
    let alert_expected = match on_site {
        Some((lat, lon, radius_m)) => {
            let circle = crate::domain::area::Target::Circle(crate::domain::area::Circle {
                lat,
                lon,
                radius_m: f64::from(radius_m),
            });
            let resolved = areas::regensburg()?
                .resolve(&circle)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            store
                .target_recipient_count(&alerts_topic, &resolved.areas, &resolved.shape)
                .await?
                .total()
        }
        None => alert_expected,
    };
    bars.println(texts.get(
        lang,
        "demo-alert-released",
        &[(
            "news",
            (news_expected.total() - news_pending_at_alert).into(),
        )],
    ));

    // Wait until both broadcasts are done in the store, with a deadline far beyond the rates.
    let slowest = |rate: u32, n: u64| {
        if rate == 0 {
            0.0
        } else {
            n as f64 / f64::from(rate)
        }
    };
    let planned = slowest(
        options.telegram_rate,
        news_expected.telegram + alert_expected.telegram,
    )
    .max(slowest(
        options.whatsapp_rate,
        news_expected.whatsapp + alert_expected.whatsapp,
    ));
    let deadline = Instant::now()
        + Duration::from_secs_f64(planned * 2.0 + 60.0 + options.subscribers as f64 / 2000.0);
    loop {
        bars.set(&sim, &news_text, &alert_text);
        let done = |b: Option<crate::store::Broadcast>| {
            b.is_some_and(|b| b.status == BroadcastStatus::Done)
        };
        if done(store.broadcast(news).await?) && done(store.broadcast(alert).await?) {
            break;
        }
        if Instant::now() > deadline {
            tracing::error!(
                "demo deadline passed before every delivery ended; reporting what arrived"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bars.finish(&sim, &news_text, &alert_text);
    if options.keep_dashboard {
        eprintln!("{}", texts.get(lang, "demo-dashboard-open", &[]));
        let _ = tokio::signal::ctrl_c().await;
    }
    let fanout_ms = match store.broadcast(news).await? {
        Some(b) => b
            .fanout_done_at
            .zip(b.released_at)
            .map(|(d, r)| d - r)
            .unwrap_or(-1),
        None => -1,
    };
    // The release as the store recorded it, on the simulators' clock.
    let sim_started_ms = crate::domain::now_ms() - sim.elapsed().as_millis() as i64;
    let alert_released_at = match store.broadcast(alert).await? {
        Some(b) => b
            .released_at
            .map(|r| Duration::from_millis((r - sim_started_ms).max(0) as u64))
            .unwrap_or(pressed_at),
        None => pressed_at,
    };
    stop_service(stop, service).await;
    shutdown.cancel();

    let received = sim.take_received();
    let measure = Measure::new(&received);
    let (news_delivered, news_dupes) = measure.distinct(&news_text);
    let (alert_delivered, alert_dupes) = measure.distinct(&alert_text);
    let alert_times: Vec<Duration> = received
        .iter()
        .filter(|r| *r.text == *alert_text)
        .map(|r| r.at)
        .collect();
    let since = |from: Duration, d: Option<&Duration>| {
        d.map(|d| d.saturating_sub(from).as_secs_f64())
            .unwrap_or(-1.0)
    };
    let since_release = |d: Option<&Duration>| since(alert_released_at, d);
    let alert_bound = 1.05
        * slowest(options.telegram_rate, alert_expected.telegram)
            .max(slowest(options.whatsapp_rate, alert_expected.whatsapp));
    let (tg_rate, tg_max) = measure.lane(ChannelKind::Telegram);
    let (wa_rate, wa_max) = measure.lane(ChannelKind::Whatsapp);
    let total_span = measure.span(None);
    let deliveries_per_s = if total_span > 0.0 {
        received.len() as f64 / total_span
    } else {
        0.0
    };
    Ok(DemoReport {
        subscribers: options.subscribers,
        database: database_kind(&url),
        news_expected: news_expected.total(),
        news_delivered,
        alert_expected: alert_expected.total(),
        alert_delivered,
        lost: (news_expected.total() - news_delivered.min(news_expected.total()))
            + (alert_expected.total() - alert_delivered.min(alert_expected.total()))
            + (surge.signups - surge.signups_answered.min(surge.signups)),
        duplicates: news_dupes + alert_dupes,
        telegram_rate_configured: options.telegram_rate,
        telegram_rate_achieved: round(tg_rate, 1),
        telegram_max_1s: tg_max,
        whatsapp_rate_configured: options.whatsapp_rate,
        whatsapp_rate_achieved: round(wa_rate, 1),
        whatsapp_max_1s: wa_max,
        deliveries_per_s: round(deliveries_per_s, 1),
        fanout_ms,
        news_pending_at_alert,
        alert_first_send_ms: round(since_release(alert_times.iter().min()) * 1000.0, 1),
        alert_from: options.alert_from,
        alert_confirm_to_first_ms: round(since(pressed_at, alert_times.iter().min()) * 1000.0, 1),
        alert_complete_s: round(since_release(alert_times.iter().max()), 3),
        alert_complete_bound_s: round(alert_bound, 3),
        peak_rss_mb: round(peak_rss_mb(), 1),
        elapsed_s: round(started.elapsed().as_secs_f64(), 2),
        ceiling_http_per_s: round(ceiling_http_per_s, 1),
        ceiling_insert_ms: round(ceiling_insert_ms, 1),
        throughput_ratio: round(ratio(deliveries_per_s, ceiling_http_per_s), 3),
        fanout_ratio: round(ratio(fanout_ms as f64, ceiling_insert_ms), 3),
        surge: signups::SignupReport {
            signups_per_s: round(surge.signups_per_s, 1),
            signup_slowest_ms: round(surge.signup_slowest_ms, 1),
            staff_reply_ms: round(surge.staff_reply_ms, 1),
            locations_per_s: round(surge.locations_per_s, 1),
            location_slowest_ms: round(surge.location_slowest_ms, 1),
            locations_vs_signups: round(surge.locations_vs_signups, 3),
            ..surge
        },
        areas: areas_report,
    })
}

/// The demo's database: `--database-url`, or a SQLite file in a temporary directory (kept
/// until the returned guard drops), migrated, with no leases.
async fn open_store(
    options: &DemoOptions,
) -> anyhow::Result<(tempfile::TempDir, String, std::sync::Arc<dyn Store>)> {
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let url = match &options.database_url {
        Some(u) => u.clone(),
        None => format!("sqlite://{}?mode=rwc", tmp.path().join("demo.db").display()),
    };
    let store = migrated(&url).await?;
    Ok((tmp, url, store))
}

/// The database at `url`, opened and migrated.
pub(crate) async fn migrated(url: &str) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    let store = store::connect(url)
        .await
        .context("opening the demo database")?;
    store
        .migrate()
        .await
        .context("migrating the demo database")?;
    Ok(store)
}

type Running = tokio::task::JoinHandle<anyhow::Result<()>>;

/// Runs `app` until the returned token is cancelled.
fn spawn(app: Application) -> (CancellationToken, Running) {
    let stop = CancellationToken::new();
    let until = stop.clone();
    let service = tokio::spawn(app.run_until_stopped(async move {
        until.cancelled().await;
        "end of the demo"
    }));
    (stop, service)
}

/// Stops the service as SIGTERM would and waits for it.
async fn stop_service(stop: CancellationToken, service: Running) {
    stop.cancel();
    match service.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(
            error = format!("{e:#}"),
            "the service stopped with an error"
        ),
        Err(e) => tracing::error!(error = %e, "the service task failed"),
    }
}

/// Says on stderr what the demo runs with.
fn setup_line(options: &DemoOptions, texts: &Texts, lang: &str) {
    eprintln!(
        "{}",
        texts.get(
            lang,
            "demo-setup",
            &[
                ("subscribers", options.subscribers.into()),
                ("telegram_rate", options.telegram_rate.into()),
                ("whatsapp_rate", options.whatsapp_rate.into()),
            ]
        )
    );
}

/// The database's kind, as the reports name it.
fn database_kind(url: &str) -> &'static str {
    if url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    }
}

fn ratio(figure: f64, ceiling: f64) -> f64 {
    if ceiling > 0.0 && figure >= 0.0 {
        figure / ceiling
    } else {
        0.0
    }
}

/// The human summary of a report.
pub fn summary(report: &DemoReport, texts: &Texts, lang: &str) -> String {
    let mut text = summary_of(report, texts, lang, "demo-summary");
    if report.surge.signups > 0 {
        text.push('\n');
        text.push_str(&signup_line(&report.surge, texts, lang));
    }
    text
}

/// Text `key` with every field of `report` as an argument.
fn summary_of(report: &impl Serialize, texts: &Texts, lang: &str, key: &str) -> String {
    let value = serde_json::to_value(report).unwrap_or_default();
    let mut args: Vec<(&str, fluent_bundle::FluentValue<'_>)> = Vec::new();
    if let Some(map) = value.as_object() {
        for (k, v) in map {
            let v: fluent_bundle::FluentValue<'_> = match v {
                serde_json::Value::Number(n) => n.as_f64().unwrap_or_default().into(),
                serde_json::Value::String(s) => s.clone().into(),
                other => other.to_string().into(),
            };
            args.push((k.as_str(), v));
        }
    }
    texts.get(lang, key, &args)
}

/// The sign-up surge in one line.
fn signup_line(report: &signups::SignupReport, texts: &Texts, lang: &str) -> String {
    let line = texts.get(
        lang,
        "demo-signups",
        &[
            ("signups", report.signups.into()),
            ("answered", report.signups_answered.into()),
            ("per_s", round(report.signups_per_s, 1).into()),
            ("slowest_ms", round(report.signup_slowest_ms, 1).into()),
            ("staff_ms", round(report.staff_reply_ms, 1).into()),
            ("news_pending", report.news_pending_at_signups.into()),
        ],
    );
    if report.locations_answered == 0 {
        return line;
    }
    let located = texts.get(
        lang,
        "demo-locations",
        &[
            ("answered", report.locations_answered.into()),
            ("per_s", round(report.locations_per_s, 1).into()),
            ("slowest_ms", round(report.location_slowest_ms, 1).into()),
            ("ratio", round(report.locations_vs_signups, 2).into()),
        ],
    );
    format!("{line}\n{located}")
}

fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

/// The demo's subscribers: even numbers on Telegram, odd on WhatsApp, all on `topics`.
async fn seed(store: &dyn Store, n: u64, topics: &[Topic]) -> anyhow::Result<()> {
    // In slices, so that a large demo never holds every subscriber in memory at once.
    for start in (0..n).step_by(10_000) {
        seed_slice(store, start..(start + 10_000).min(n), topics).await?;
    }
    Ok(())
}

async fn seed_slice(
    store: &dyn Store,
    range: std::ops::Range<u64>,
    topics: &[Topic],
) -> anyhow::Result<()> {
    let subscribers: Vec<NewSubscriber> = range
        .map(|i| {
            let (channel, address) = if i % 2 == 0 {
                (ChannelKind::Telegram, format!("{}", 100_000_000 + i))
            } else {
                (ChannelKind::Whatsapp, format!("49151{i:08}"))
            };
            NewSubscriber {
                channel,
                address,
                language: "de".into(),
                topics: topics.to_vec(),
            }
        })
        .collect();
    store
        .add_subscribers(&subscribers)
        .await
        .context("adding the demo subscribers")?;
    Ok(())
}

/// The demo's WhatsApp app secret: the surge's webhooks are signed with it. Made up, in the
/// shape Meta issues app secrets (32 hexadecimal characters), which the configuration checks.
const DEMO_APP_SECRET: &str = "1f449908fcbf473f1bf02a2dc83792bd";

/// The city's configuration pointed at the simulated platforms, with the demo's rates. Its
/// scripted staff approve at once (the two-person rule is off): it measures the queue.
fn demo_config(config: &Config, options: &DemoOptions, sim: &Simulator, url: &str) -> Config {
    let mut demo = config.clone();
    demo.database_url = url.to_string();
    demo.http_listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    demo.telegram = Some(TelegramConfig {
        token: SecretString::from("123456:demo-token"),
        api_url: sim.telegram_url.clone(),
    });
    // The demo's subscribers never wrote to the city: outside the 24-hour window every
    // WhatsApp message goes as a template, as it would for real.
    let templates = [
        BroadcastKind::Announcement,
        BroadcastKind::Alert,
        BroadcastKind::Update,
        BroadcastKind::Allclear,
    ]
    .into_iter()
    .map(|k| {
        (
            k,
            Template {
                name: format!("amtsbote_demo_{}", k.as_str()),
                language: "de".into(),
            },
        )
    })
    .collect();
    let template = |name: &str| {
        Some(Template {
            name: name.into(),
            language: "de".into(),
        })
    };
    let templates = Templates {
        by_kind: templates,
        picture: template("amtsbote_demo_bild"),
        document: template("amtsbote_demo_dokument"),
    };
    demo.whatsapp = Some(WhatsappConfig {
        api_url: sim.whatsapp_url.clone(),
        phone_number_id: "100000000000001".into(),
        access_token: SecretString::from("demo-access-token"),
        app_secret: SecretString::from(DEMO_APP_SECRET),
        verify_token: SecretString::from("demo-verify-token"),
        templates,
        approval_template: None,
    });
    demo.telegram_lane.rate = options.telegram_rate;
    demo.whatsapp_lane.rate = options.whatsapp_rate;
    // The simulated Meta and every simulated person send from 127.0.0.1; the real ones come
    // from many addresses.
    demo.http_limits.max_connections_per_ip = 0;
    demo.second_approval = false;
    demo.schedules = Vec::new();
    demo.api_tokens = Vec::new();
    demo
}

/// Releases a broadcast the way the CLI does: through the broadcast service, as the operator.
async fn release(
    broadcasts: &BroadcastService,
    topic: &Topic,
    kind: BroadcastKind,
    priority: Priority,
    text: &str,
) -> anyhow::Result<i64> {
    let operator = Actor::Operator {
        user: "demo".into(),
    };
    let submitted = broadcasts
        .submit(
            &operator,
            Submission {
                attachment: None,
                target: None,
                topic: topic.to_string(),
                kind: Some(kind),
                priority: Some(priority),
                text: text.to_string(),
                text_en: None,
                parent_id: None,
                when: When::Now,
                draft: false,
                idempotency_key: None,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(submitted.broadcast.id)
}

/// The Telegram user id of the demo's emergency member.
const DEMO_EMERGENCY: i64 = 990_000_001;
/// The same emergency member's WhatsApp number, for `--alert-from whatsapp`.
const DEMO_EMERGENCY_NUMBER: &str = "4915199000001";

/// A Telegram update as the Bot API serves it (the recorded fixtures), from the demo's
/// emergency member.
fn staff_update(
    mut update: serde_json::Value,
    field: &str,
    value: serde_json::Value,
) -> serde_json::Value {
    let (object, from_chat) = if update.get("message").is_some() {
        ("message", "/message/chat/id")
    } else {
        ("callback_query", "/callback_query/message/chat/id")
    };
    update[object]["from"]["id"] = DEMO_EMERGENCY.into();
    if let Some(chat) = update.pointer_mut(from_chat) {
        *chat = DEMO_EMERGENCY.into();
    }
    update[object][field] = value;
    if object == "message" {
        update[object]["entities"] = serde_json::json!([]);
    }
    update
}

/// The first button of `markup` (Telegram's `inline_keyboard` or WhatsApp's interactive
/// `buttons`) that confirms a preview: its data.
pub fn confirm_button(markup: &serde_json::Value) -> Option<String> {
    button_where(markup, |b| matches!(b, ButtonData::Confirm(_)))
}

/// The data of the first button of `markup` (Telegram's `inline_keyboard` or WhatsApp's
/// interactive `buttons`) whose data satisfies `wanted`.
fn button_where(
    markup: &serde_json::Value,
    wanted: impl Fn(&ButtonData) -> bool,
) -> Option<String> {
    let telegram = markup
        .get("inline_keyboard")
        .and_then(|rows| rows.as_array())
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .filter_map(|b| b.get("callback_data")?.as_str().map(str::to_string));
    let whatsapp = markup
        .pointer("/action/buttons")
        .and_then(|b| b.as_array())
        .into_iter()
        .flatten()
        .filter_map(|b| b.pointer("/reply/id")?.as_str().map(str::to_string));
    telegram
        .chain(whatsapp)
        .find(|d| ButtonData::parse(d).is_some_and(|b| wanted(&b)))
}

/// Waits until a message to the emergency member arrives (from the `seen`th on) with a button
/// whose data satisfies `wanted`: its data.
async fn staff_button(
    sim: &Simulator,
    seen: &mut usize,
    wanted: impl Fn(&ButtonData) -> bool,
    what: &str,
) -> anyhow::Result<String> {
    let until = Instant::now() + Duration::from_secs(30);
    let staff = DEMO_EMERGENCY.to_string();
    loop {
        let arrived = sim.received_from(*seen);
        *seen += arrived.len();
        let offered = arrived
            .iter()
            .filter(|r| *r.address == *staff)
            .find_map(|r| button_where(r.markup.as_deref()?, &wanted));
        if let Some(data) = offered {
            return Ok(data);
        }
        anyhow::ensure!(Instant::now() < until, "the bot did not answer with {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Where the demo's alert goes with `--areas`: 1 km around the cathedral, chosen on site (the
/// emergency member's location, then the radius button).
pub const ON_SITE: (f64, f64, u32) = (49.0195, 12.0975, 1000);

/// The emergency member sends `/alert TEXT` on `from` and presses Send under the preview the
/// moment it arrives. Returns the alert's id and when the press reached the platform (on the
/// simulators' clock): on Telegram when the `callback_query` was queued for the bot's next
/// `getUpdates`, on WhatsApp when the signed webhook of the button reply was posted. What is
/// measured from there is the path staff use: the platform's intake, the conversation, the
/// release and the lanes.
async fn alert_by_chat(
    sim: &Simulator,
    store: &dyn Store,
    text: &str,
    from: ChannelKind,
    base: &str,
    on_site: Option<(f64, f64, u32)>,
) -> anyhow::Result<(i64, Duration)> {
    let deadline = Duration::from_secs(30);
    let pressed_at = match from {
        ChannelKind::Telegram => {
            const MESSAGE: &str =
                include_str!("../tests/fixtures/telegram/update_message_start_command.json");
            const PRESS: &str =
                include_str!("../tests/fixtures/telegram/update_callback_query.json");
            let staff = DEMO_EMERGENCY.to_string();
            let press = serde_json::from_str::<serde_json::Value>(PRESS)
                .context("reading a recorded Telegram update")?;
            let (sim, press_for_site) = (sim.clone(), press.clone());
            // On site, the first preview is replaced: only the one after the radius is pressed.
            let mut previews = 0;
            let to_skip = usize::from(on_site.is_some());
            let pressed = sim.press_on_arrival(move |arrived| {
                if *arrived.address != *staff {
                    return None;
                }
                let data = confirm_button(arrived.markup.as_deref()?)?;
                previews += 1;
                if previews <= to_skip {
                    return None;
                }
                Some(staff_update(press.clone(), "data", data.into()))
            });
            let message = serde_json::from_str::<serde_json::Value>(MESSAGE)
                .context("reading a recorded Telegram update")?;
            let mut seen = sim.received_count();
            sim.push_update(staff_update(
                message.clone(),
                "text",
                format!("/alert {text}").into(),
            ));
            if let Some((lat, lon, radius)) = on_site {
                // The first preview (to everyone) is not pressed: the member shares where they
                // stand and picks the radius; the preview for the circle is.
                staff_button(
                    &sim,
                    &mut seen,
                    |b| matches!(b, ButtonData::Confirm(_)),
                    "a preview",
                )
                .await?;
                let mut at = message;
                if let Some(m) = at["message"].as_object_mut() {
                    m.remove("text");
                }
                sim.push_update(staff_update(
                    at,
                    "location",
                    serde_json::json!({"latitude": lat, "longitude": lon}),
                ));
                let data = staff_button(
                    &sim,
                    &mut seen,
                    |b| matches!(b, ButtonData::Radius(o) if o.radius_m == radius),
                    "the radius buttons",
                )
                .await?;
                sim.push_update(staff_update(press_for_site, "data", data.into()));
            }
            tokio::time::timeout(deadline, pressed)
                .await
                .ok()
                .and_then(Result::ok)
                .context("the bot did not answer the emergency member's /alert with a preview")?
                .at
        }
        ChannelKind::Whatsapp => {
            let post = |body: Vec<u8>| async move {
                let answer = reqwest::Client::new()
                    .post(format!("{base}/webhooks/whatsapp"))
                    .header("content-type", "application/json")
                    .header(
                        "x-hub-signature-256",
                        signups::signature(DEMO_APP_SECRET, &body)?,
                    )
                    .body(body)
                    .send()
                    .await
                    .context("posting the emergency member's webhook")?;
                anyhow::ensure!(
                    answer.status().is_success(),
                    "the service refused the emergency member's webhook: {}",
                    answer.status()
                );
                anyhow::Ok(())
            };
            let mut seen = sim.received_count();
            post(signups::whatsapp_body(
                DEMO_EMERGENCY_NUMBER,
                1,
                &format!("/alert {text}"),
            ))
            .await?;
            let until = Instant::now() + deadline;
            let data = loop {
                let arrived = sim.received_from(seen);
                seen += arrived.len();
                let offered = arrived
                    .iter()
                    .filter(|r| *r.address == *DEMO_EMERGENCY_NUMBER)
                    .find_map(|r| confirm_button(r.markup.as_deref()?));
                if let Some(data) = offered {
                    break data;
                }
                anyhow::ensure!(
                    Instant::now() < until,
                    "the bot did not answer the emergency member's /alert with a preview"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            };
            let pressed_at = sim.elapsed();
            post(signups::whatsapp_button_body(
                DEMO_EMERGENCY_NUMBER,
                2,
                &data,
            )?)
            .await?;
            pressed_at
        }
    };
    // The alert: the newest broadcast with its text.
    let until = Instant::now() + deadline;
    loop {
        let newest = store.list_broadcasts_page(None, None, 5).await?;
        if let Some(b) = newest.into_iter().find(|b| b.text == text) {
            return Ok((b.id, pressed_at));
        }
        anyhow::ensure!(Instant::now() < until, "the alert is not in the store");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Counts over what the simulators received.
struct Measure<'a> {
    received: &'a [Received],
}

impl<'a> Measure<'a> {
    fn new(received: &'a [Received]) -> Self {
        Measure { received }
    }

    /// (recipients reached, extra copies) for one text.
    fn distinct(&self, text: &str) -> (u64, u64) {
        let mut per: HashMap<(ChannelKind, &str), u64> = HashMap::new();
        for r in self.received.iter().filter(|r| &*r.text == text) {
            *per.entry((r.channel, &*r.address)).or_default() += 1;
        }
        let dupes = per.values().map(|n| n - 1).sum();
        (per.len() as u64, dupes)
    }

    fn times(&self, channel: Option<ChannelKind>) -> Vec<Duration> {
        let mut t: Vec<Duration> = self
            .received
            .iter()
            .filter(|r| channel.is_none_or(|c| r.channel == c))
            .map(|r| r.at)
            .collect();
        t.sort();
        t
    }

    fn span(&self, channel: Option<ChannelKind>) -> f64 {
        let t = self.times(channel);
        match (t.first(), t.last()) {
            (Some(a), Some(b)) => (*b - *a).as_secs_f64(),
            _ => 0.0,
        }
    }

    /// (messages per second over the lane's active span, most messages in any one second).
    fn lane(&self, channel: ChannelKind) -> (f64, u64) {
        let t = self.times(Some(channel));
        let span = self.span(Some(channel));
        let rate = if span > 0.0 {
            t.len() as f64 / span
        } else {
            0.0
        };
        (rate, crate::simulator::busiest_second(t) as u64)
    }
}

/// Peak resident memory of this process (VmHWM), in MiB.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// One progress bar per lane on stderr (hidden when stderr is not a terminal).
struct Bars {
    multi: MultiProgress,
    lanes: Vec<(ChannelKind, ProgressBar)>,
}

impl Bars {
    fn new(news: &u64, alert: &u64) -> Bars {
        let multi = MultiProgress::new();
        let style = ProgressStyle::with_template("{prefix:>9} [{bar:40}] {pos}/{len} {per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let lanes = ChannelKind::ALL
            .iter()
            .map(|c| {
                let bar = multi.add(ProgressBar::new((news + alert) / 2));
                bar.set_style(style.clone());
                bar.set_prefix(c.as_str());
                (*c, bar)
            })
            .collect();
        Bars { multi, lanes }
    }

    fn set(&self, sim: &Simulator, news: &str, alert: &str) {
        let (n, a) = (sim.count_text(news), sim.count_text(alert));
        for (c, bar) in &self.lanes {
            bar.set_position(
                (n.get(c).copied().unwrap_or(0) + a.get(c).copied().unwrap_or(0)) as u64,
            );
        }
    }

    fn println(&self, line: String) {
        if self.multi.println(&line).is_err()
            || self.lanes.first().is_some_and(|(_, b)| b.is_hidden())
        {
            eprintln!("{line}");
        }
    }

    fn finish(&self, sim: &Simulator, news: &str, alert: &str) {
        self.set(sim, news, alert);
        for (_, bar) in &self.lanes {
            bar.finish();
        }
    }
}
