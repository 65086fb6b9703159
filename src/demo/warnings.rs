//! `amtsbote demo --warnings`: an official MoWaS warning (the fixture, made current) appears
//! at the simulated warning API and reaches every subscriber without a human, then its update
//! and its cancel; measured from the document's first appearance to the simulated platforms.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::{
    DemoOptions, demo_config, open_store, peak_rss_mb, round, seed, setup_line, spawn, stop_service,
};
use crate::config::Config;
use crate::domain::{ChannelKind, Topic};
use crate::i18n::Texts;
use crate::service::Application;
use crate::simulator::warnings::WarningApi;
use crate::simulator::{Received, Simulator};
use crate::warnings::WarningsSettings;
use crate::warnings::mapping::{Ars, Severity};

/// Düsseldorf: the district the demo's city is in.
const DISTRICT: &str = "051110000000";
const MOWAS: &str = include_str!("../../tests/fixtures/nina/warning_mowas.json");

/// What the warnings demo measured, at the simulators.
#[derive(Debug, Clone, Serialize)]
pub struct WarningsDemoReport {
    pub subscribers: u64,
    pub database: &'static str,
    pub poll_seconds: u64,
    pub warning_expected: u64,
    pub warning_delivered: u64,
    pub update_delivered: u64,
    pub allclear_delivered: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// From the document's first appearance at the simulated API to the first message.
    pub warning_first_send_ms: f64,
    /// From the document's first appearance to the last subscriber's message.
    pub warning_complete_s: f64,
    /// 1.05 × the recipients on the slowest lane ÷ its rate (0 when unlimited).
    pub warning_complete_bound_s: f64,
    pub update_complete_s: f64,
    pub allclear_complete_s: f64,
    pub peak_rss_mb: f64,
    pub elapsed_s: f64,
}

/// The fixture's MoWaS document as a current warning for the demo's district.
fn document(id: &str, msg_type: &str, run: &str) -> Value {
    let mut doc: Value = serde_json::from_str(MOWAS).unwrap_or_else(|_| json!({"info": [{}]}));
    let now = chrono::Utc::now();
    doc["identifier"] = json!(id);
    doc["msgType"] = json!(msg_type);
    doc["status"] = json!("Actual");
    doc["sent"] = json!(now.to_rfc3339());
    let info = &mut doc["info"][0];
    info["severity"] = json!("Extreme");
    info["headline"] = json!(format!(
        "Demo {run}: Großbrand, Rauchentwicklung im Stadtgebiet"
    ));
    info["expires"] = json!((now + chrono::Duration::hours(6)).to_rfc3339());
    doc
}

pub async fn run(
    config: &Config,
    options: DemoOptions,
    texts: &Texts,
    lang: &str,
) -> anyhow::Result<WarningsDemoReport> {
    let started = Instant::now();
    let shutdown = CancellationToken::new();
    let sim = Simulator::start_expecting(shutdown.clone(), (options.subscribers * 3) as usize)
        .await
        .context("starting the simulated platforms")?;
    let api = WarningApi::start(shutdown.clone())
        .await
        .context("starting the simulated warning API")?;
    // One clock for both: the API's times as the platform simulator's.
    let api_offset = sim.elapsed().saturating_sub(api.elapsed());

    let (_tmp, url, store) = open_store(&options).await?;
    let alerts = Topic::parse("alerts").map_err(anyhow::Error::msg)?;
    seed(&*store, options.subscribers, std::slice::from_ref(&alerts)).await?;
    let expected = store.recipient_count(&alerts).await?;
    setup_line(&options, texts, lang);

    let poll = Duration::from_secs(1);
    let mut demo = demo_config(config, &options, &sim, &url);
    demo.warnings = Some(WarningsSettings {
        ars: vec![Ars::parse(DISTRICT).map_err(anyhow::Error::msg)?],
        base_url: api.url.clone(),
        poll,
        min_severity: Severity::Moderate,
        approve: false,
        ..WarningsSettings::default()
    });
    let app = Application::build_on(demo, store.clone())
        .await
        .context("starting the service")?;
    let (stop, service) = spawn(app);

    let run_id = format!("{:x}", chrono::Utc::now().timestamp_millis() % 0xFFFFFF);
    let id = format!("mow.DE-NW-D-DEMO-{run_id}");
    let marker = format!("Demo {run_id}:");
    let slowest = |rate: u32, n: u64| {
        if rate == 0 {
            0.0
        } else {
            n as f64 / f64::from(rate)
        }
    };
    let planned = slowest(options.telegram_rate, expected.telegram)
        .max(slowest(options.whatsapp_rate, expected.whatsapp));
    let within = Duration::from_secs_f64(planned * 2.0 + 30.0);

    let mut phases = Vec::new();
    for (version, msg_type, kind_key) in [
        (1, "Alert", "warning-kind-alert"),
        (2, "Update", "warning-kind-update"),
        (3, "Cancel", "warning-kind-cancel"),
    ] {
        let prefix = format!("{}: {marker}", texts.get("de", kind_key, &[]));
        api.publish(DISTRICT, document(&id, msg_type, &run_id), version);
        let appeared = sim.elapsed();
        eprintln!(
            "{}",
            texts.get(
                lang,
                "demo-warning-published",
                &[("kind", msg_type.into()), ("id", id.as_str().into())]
            )
        );
        let deadline = Instant::now() + within;
        while reached(&sim.received(), &prefix).0 < expected.total() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        phases.push((prefix, appeared));
    }
    stop_service(stop, service).await;
    shutdown.cancel();

    let received = sim.take_received();
    let first_listed = api
        .first_listed(&id)
        .map(|t| t + api_offset)
        .unwrap_or_default();
    let mut report = WarningsDemoReport {
        subscribers: options.subscribers,
        database: super::database_kind(&url),
        poll_seconds: poll.as_secs(),
        warning_expected: expected.total(),
        warning_delivered: 0,
        update_delivered: 0,
        allclear_delivered: 0,
        lost: 0,
        duplicates: 0,
        warning_first_send_ms: -1.0,
        warning_complete_s: -1.0,
        warning_complete_bound_s: round(1.05 * planned, 3),
        update_complete_s: -1.0,
        allclear_complete_s: -1.0,
        peak_rss_mb: round(peak_rss_mb(), 1),
        elapsed_s: 0.0,
    };
    let since = |from: Duration, t: Option<Duration>| {
        t.map(|t| t.saturating_sub(from).as_secs_f64())
            .unwrap_or(-1.0)
    };
    for (i, (prefix, appeared)) in phases.iter().enumerate() {
        let (delivered, dupes, first, last) = reached(&received, prefix);
        report.lost += expected.total().saturating_sub(delivered);
        report.duplicates += dupes;
        match i {
            0 => {
                report.warning_delivered = delivered;
                report.warning_first_send_ms = round(since(first_listed, first) * 1000.0, 1);
                report.warning_complete_s = round(since(first_listed, last), 3);
            }
            1 => {
                report.update_delivered = delivered;
                report.update_complete_s = round(since(*appeared, last), 3);
            }
            _ => {
                report.allclear_delivered = delivered;
                report.allclear_complete_s = round(since(*appeared, last), 3);
            }
        }
    }
    report.elapsed_s = round(started.elapsed().as_secs_f64(), 2);
    Ok(report)
}

/// (recipients reached, extra copies, first and last arrival) of the messages starting with
/// `prefix`; a WhatsApp template carries the text flattened, which starts the same.
fn reached(received: &[Received], prefix: &str) -> (u64, u64, Option<Duration>, Option<Duration>) {
    let mut seen: HashSet<(ChannelKind, &str)> = HashSet::new();
    let (mut dupes, mut first, mut last) = (0, None::<Duration>, None::<Duration>);
    for r in received.iter().filter(|r| r.text.starts_with(prefix)) {
        if !seen.insert((r.channel, &r.address)) {
            dupes += 1;
        }
        first = Some(first.map_or(r.at, |f| f.min(r.at)));
        last = Some(last.map_or(r.at, |l| l.max(r.at)));
    }
    (seen.len() as u64, dupes, first, last)
}

/// The human summary of a report.
pub fn summary(report: &WarningsDemoReport, texts: &Texts, lang: &str) -> String {
    super::summary_of(report, texts, lang, "demo-warnings-summary")
}
