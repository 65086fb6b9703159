//! `amtsbote demo --retract`: an alert to every subscriber at the configured rates, retracted
//! by the emergency staff after a few seconds; measured at the simulated platforms: the time
//! from the retraction's confirmation to the first and the last notice, next to N/R (the
//! notices to send over the lane's rate) in the same run, and the alert's rate before it (what
//! recording each message's platform id leaves of the capped rate).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{
    DemoOptions, database_kind, demo_config, open_store, peak_rss_mb, release, round, seed,
    setup_line, spawn, stop_service,
};
use crate::config::Config;
use crate::domain::{Actor, BroadcastKind, BroadcastStatus, ChannelKind, Priority, Topic};
use crate::i18n::Texts;
use crate::service::Application;
use crate::simulator::Simulator;

/// How long the alert goes out before it is retracted.
const RETRACT_AFTER: Duration = Duration::from_secs(3);

/// What the retraction demo measured, at the simulators.
#[derive(Debug, Clone, Serialize)]
pub struct RetractDemoReport {
    pub subscribers: u64,
    pub database: &'static str,
    pub telegram_rate_configured: u32,
    pub whatsapp_rate_configured: u32,
    /// The alert's messages per second on each lane over the second before the retraction.
    pub telegram_rate_achieved: f64,
    pub whatsapp_rate_achieved: f64,
    /// Who had the alert when the retraction was confirmed (and in flight then).
    pub alerted: u64,
    /// Alert messages that arrived after the confirmation (sends in flight).
    pub alerts_after_confirmation: u64,
    pub notices: u64,
    /// Recipients of the alert without a notice, and notices beyond one per recipient.
    pub lost: u64,
    pub duplicates: u64,
    /// From the confirmation (the retraction committed) to the first notice.
    pub first_notice_ms: f64,
    /// From the confirmation to the last notice.
    pub last_notice_s: f64,
    /// N/R: the notices on the slower lane over its rate (0 when unlimited).
    pub notices_over_rate_s: f64,
    /// From the confirmation to the last edit of an original on Telegram.
    pub last_edit_s: f64,
    pub peak_rss_mb: f64,
    pub elapsed_s: f64,
}

pub async fn run(
    config: &Config,
    options: DemoOptions,
    texts: &Texts,
    lang: &str,
) -> anyhow::Result<RetractDemoReport> {
    let started = Instant::now();
    let shutdown = CancellationToken::new();
    let sim = Simulator::start_expecting(shutdown.clone(), (options.subscribers * 2) as usize)
        .await
        .context("starting the simulated platforms")?;
    let (_tmp, url, store) = open_store(&options).await?;
    setup_line(&options, texts, lang);
    let alerts = Topic::parse("alerts").map_err(anyhow::Error::msg)?;
    seed(&*store, options.subscribers, std::slice::from_ref(&alerts)).await?;
    store.upkeep().await?;

    let demo = demo_config(config, &options, &sim, &url);
    let app = Application::build_on(demo, store.clone())
        .await
        .context("starting the service")?;
    let broadcasts = app.broadcasts.clone();
    let (stop, service) = spawn(app);
    let run_id = format!("{:x}", chrono::Utc::now().timestamp_millis() % 0xFFFFFF);
    let alert_text = texts.get(lang, "demo-alert-text", &[("run", run_id.as_str().into())]);
    let alert = release(
        &broadcasts,
        &alerts,
        BroadcastKind::Alert,
        Priority::Alert,
        &alert_text,
    )
    .await?;
    // The alert goes out for a while; its rate over the last second of it is the capped rate.
    let first_deadline = Instant::now() + Duration::from_secs(60);
    while sim.count_text(&alert_text).values().sum::<usize>() == 0 {
        anyhow::ensure!(Instant::now() < first_deadline, "the alert did not start");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(RETRACT_AFTER - Duration::from_secs(1)).await;
    let before = sim.count_text(&alert_text);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = sim.count_text(&alert_text);
    let rate = |c: ChannelKind| {
        after.get(&c).copied().unwrap_or(0) as f64 - before.get(&c).copied().unwrap_or(0) as f64
    };
    let operator = Actor::Operator {
        user: "demo".into(),
    };
    let (_, notice) = broadcasts
        .retract(
            &operator,
            alert,
            Some(&texts.get(lang, "demo-retract-text", &[])),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let confirmed_at = sim.elapsed();
    let passes = store.notices_of(alert).await?;
    let deadline = Instant::now()
        + Duration::from_secs(120)
        + Duration::from_secs_f64(options.subscribers as f64 / 1000.0);
    for pass in &passes {
        loop {
            let b = store.broadcast(pass.id).await?;
            if b.is_some_and(|b| b.status == BroadcastStatus::Done) {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the retraction did not finish in time"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    stop_service(stop, service).await;

    let received = sim.received();
    let notice_text = |t: &str| t.ends_with(&texts.get(lang, "demo-retract-text", &[]));
    let mut alerted: HashMap<(ChannelKind, &str), u64> = HashMap::new();
    let mut told: HashMap<(ChannelKind, &str), u64> = HashMap::new();
    let (mut alerts_after, mut first, mut last) = (0u64, None, Duration::ZERO);
    let mut per_lane: HashMap<ChannelKind, u64> = HashMap::new();
    for r in &received {
        if *r.text == *alert_text {
            *alerted.entry((r.channel, &r.address)).or_default() += 1;
            if r.at > confirmed_at {
                alerts_after += 1;
            }
        } else if notice_text(&r.text) {
            *told.entry((r.channel, &r.address)).or_default() += 1;
            *per_lane.entry(r.channel).or_default() += 1;
            let since = r.at.saturating_sub(confirmed_at);
            first = Some(first.map_or(since, |f: Duration| f.min(since)));
            last = last.max(since);
        }
    }
    let lost = alerted.keys().filter(|k| !told.contains_key(*k)).count() as u64;
    let duplicates = told.values().map(|n| n - 1).sum::<u64>();
    let over_rate = |c: ChannelKind, r: u32| {
        if r == 0 {
            0.0
        } else {
            per_lane.get(&c).copied().unwrap_or(0) as f64 / f64::from(r)
        }
    };
    let last_edit = sim
        .edits()
        .iter()
        .map(|e| e.at.saturating_sub(confirmed_at))
        .max()
        .unwrap_or_default();
    let report = RetractDemoReport {
        subscribers: options.subscribers,
        database: database_kind(&url),
        telegram_rate_configured: options.telegram_rate,
        whatsapp_rate_configured: options.whatsapp_rate,
        telegram_rate_achieved: rate(ChannelKind::Telegram),
        whatsapp_rate_achieved: rate(ChannelKind::Whatsapp),
        alerted: alerted.len() as u64,
        alerts_after_confirmation: alerts_after,
        notices: told.values().sum(),
        lost,
        duplicates,
        first_notice_ms: round(first.unwrap_or_default().as_secs_f64() * 1000.0, 1),
        last_notice_s: round(last.as_secs_f64(), 3),
        notices_over_rate_s: round(
            over_rate(ChannelKind::Telegram, options.telegram_rate)
                .max(over_rate(ChannelKind::Whatsapp, options.whatsapp_rate)),
            3,
        ),
        last_edit_s: round(last_edit.as_secs_f64(), 3),
        peak_rss_mb: peak_rss_mb(),
        elapsed_s: round(started.elapsed().as_secs_f64(), 1),
    };
    tracing::info!(notice = notice.id, "retraction demo done");
    shutdown.cancel();
    Ok(report)
}

pub fn summary(report: &RetractDemoReport, texts: &Texts, lang: &str) -> String {
    super::summary_of(report, texts, lang, "demo-retract-summary")
}
