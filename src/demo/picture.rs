//! `amtsbote demo --picture`: the same broadcast to every subscriber twice in one run, first as
//! text, then with a picture (the camera photo of tests/fixtures/media, cleaned on the way in),
//! each timed from the first to the last message at the simulated platforms, with the
//! process's resident memory sampled during each. The picture must go at the text's rate: one
//! upload per platform, everyone else by the platform's id.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{DemoOptions, demo_config, open_store, seed, setup_line, spawn, stop_service};
use crate::domain::{Actor, BroadcastStatus, ChannelKind, Topic};
use crate::i18n::Texts;
use crate::service::Application;
use crate::services::broadcasts::Attachment;
use crate::services::{Submission, When};
use crate::simulator::Simulator;

/// The photo the demo sends (a real camera JPEG with GPS EXIF; see tests/fixtures/SOURCES.md).
pub const PHOTO: &[u8] =
    include_bytes!("../../tests/fixtures/media/gps_nikon_coolpix_p6000_DSCN0010.jpg");

/// What the picture benchmark measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PictureReport {
    pub subscribers: u64,
    pub telegram_rate_configured: u32,
    pub whatsapp_rate_configured: u32,
    pub text_delivered: u64,
    pub text_per_s: f64,
    pub picture_delivered: u64,
    pub picture_per_s: f64,
    /// Picture ÷ text (goal ≥ 0.95).
    pub picture_text_ratio: f64,
    /// The picture as kept (metadata removed) and sent.
    pub picture_bytes: u64,
    pub telegram_uploads: u64,
    pub whatsapp_uploads: u64,
    pub telegram_by_id: u64,
    pub whatsapp_by_id: u64,
    /// The most resident memory sampled while the text went out, and while the picture did.
    pub rss_text_peak_mb: f64,
    pub rss_picture_peak_mb: f64,
    /// Picture's peak less the text's (goal ≤ the picture's size + 20 MB).
    pub rss_picture_over_text_mb: f64,
    pub lost: u64,
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Samples the resident memory every 5 ms until stopped; the most it saw (kB).
fn sample_rss(stop: CancellationToken) -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let peak = Arc::new(AtomicU64::new(rss_kb()));
    let p = peak.clone();
    let task = tokio::spawn(async move {
        loop {
            p.fetch_max(rss_kb(), Ordering::Relaxed);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
        }
    });
    (peak, task)
}

/// One broadcast to everyone on `topic`, timed at the platforms: (delivered, per second,
/// peak RSS in MB).
async fn timed(
    app: &Arc<crate::services::BroadcastService>,
    sim: &Simulator,
    topic: &Topic,
    text: &str,
    attachment: Option<Attachment>,
    within: Duration,
) -> anyhow::Result<(u64, f64, f64)> {
    let first = sim.received_count();
    let stop = CancellationToken::new();
    let (peak, sampler) = sample_rss(stop.clone());
    let submitted = app
        .submit(
            &Actor::Operator {
                user: "demo".into(),
            },
            Submission {
                topic: topic.as_str().into(),
                kind: None,
                priority: None,
                text: text.into(),
                text_en: None,
                parent_id: None,
                when: When::Now,
                draft: false,
                idempotency_key: None,
                target: None,
                attachment,
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let id = submitted.broadcast.id;
    let deadline = Instant::now() + within;
    loop {
        let done = app
            .store()
            .broadcast(id)
            .await?
            .is_some_and(|b| b.status == BroadcastStatus::Done);
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    let _ = sampler.await;
    let arrived = sim.received_from(first);
    let delivered = arrived.iter().filter(|r| &*r.text == text).count() as u64;
    let (lo, hi) = arrived.iter().fold((None, None), |(lo, hi), r| {
        (
            Some(lo.map_or(r.at, |l: Duration| l.min(r.at))),
            Some(hi.map_or(r.at, |h: Duration| h.max(r.at))),
        )
    });
    let span = match (lo, hi) {
        (Some(lo), Some(hi)) => (hi - lo).as_secs_f64(),
        _ => 0.0,
    };
    let per_s = if span > 0.0 {
        delivered as f64 / span
    } else {
        0.0
    };
    Ok((
        delivered,
        per_s,
        peak.load(Ordering::Relaxed) as f64 / 1024.0,
    ))
}

pub async fn run(
    config: &crate::config::Config,
    options: DemoOptions,
    texts: &Texts,
    lang: &str,
) -> anyhow::Result<PictureReport> {
    let shutdown = CancellationToken::new();
    let sim = Simulator::start_expecting(shutdown.clone(), (options.subscribers * 2) as usize)
        .await
        .context("starting the simulated platforms")?;
    let (_tmp, url, store) = open_store(&options).await?;
    let news = Topic::parse("news").map_err(anyhow::Error::msg)?;
    seed(&*store, options.subscribers, std::slice::from_ref(&news)).await?;
    setup_line(&options, texts, lang);
    let app = Application::build_on(demo_config(config, &options, &sim, &url), store.clone())
        .await
        .context("starting the service")?;
    let broadcasts = app.broadcasts.clone();
    let (stop, service) = spawn(app);

    let media = crate::services::media::MediaService::new(store.clone());
    let info = media
        .accept(
            PHOTO.to_vec(),
            Some("DSCN0010.jpg".into()),
            Some("demo".into()),
        )
        .await
        .context("keeping the demo picture")?;
    let run_id = format!("{:x}", chrono::Utc::now().timestamp_millis() % 0xFFFFFF);
    let text = texts.get(lang, "demo-news-text", &[("run", run_id.as_str().into())]);
    let with_picture = format!("{text} 📷");
    let rate = |r: u32, n: u64| if r == 0 { 0.0 } else { n as f64 / f64::from(r) };
    let within = Duration::from_secs_f64(
        60.0 + 2.0
            * rate(options.telegram_rate, options.subscribers)
                .max(rate(options.whatsapp_rate, options.subscribers)),
    );
    let (text_delivered, text_per_s, rss_text) =
        timed(&broadcasts, &sim, &news, &text, None, within).await?;
    let attachment = Attachment {
        media_id: info.id,
        alt: Some("Demo: a street photo".into()),
    };
    let (picture_delivered, picture_per_s, rss_picture) = timed(
        &broadcasts,
        &sim,
        &news,
        &with_picture,
        Some(attachment),
        within,
    )
    .await?;
    stop_service(stop, service).await;
    let round = |v: f64, d: i32| (v * 10f64.powi(d)).round() / 10f64.powi(d);
    let expected = store.recipient_count(&news).await?.total();
    let report = PictureReport {
        subscribers: options.subscribers,
        telegram_rate_configured: options.telegram_rate,
        whatsapp_rate_configured: options.whatsapp_rate,
        text_delivered,
        text_per_s: round(text_per_s, 1),
        picture_delivered,
        picture_per_s: round(picture_per_s, 1),
        picture_text_ratio: round(picture_per_s / text_per_s.max(0.001), 3),
        picture_bytes: info.bytes,
        telegram_uploads: sim.uploads(ChannelKind::Telegram).len() as u64,
        whatsapp_uploads: sim.uploads(ChannelKind::Whatsapp).len() as u64,
        telegram_by_id: sim.media_sends_by_id(ChannelKind::Telegram),
        whatsapp_by_id: sim.media_sends_by_id(ChannelKind::Whatsapp),
        rss_text_peak_mb: round(rss_text, 1),
        rss_picture_peak_mb: round(rss_picture, 1),
        rss_picture_over_text_mb: round(rss_picture - rss_text, 1),
        lost: (expected - text_delivered.min(expected))
            + (expected - picture_delivered.min(expected)),
    };
    shutdown.cancel();
    Ok(report)
}

/// The figures as people read them.
pub fn summary(r: &PictureReport, texts: &Texts, lang: &str) -> String {
    texts.get(
        lang,
        "demo-picture-summary",
        &[
            ("text_per_s", r.text_per_s.into()),
            ("picture_per_s", r.picture_per_s.into()),
            ("ratio", r.picture_text_ratio.into()),
            ("uploads_tg", r.telegram_uploads.into()),
            ("uploads_wa", r.whatsapp_uploads.into()),
            ("rss_text", r.rss_text_peak_mb.into()),
            ("rss_picture", r.rss_picture_peak_mb.into()),
        ],
    )
}
