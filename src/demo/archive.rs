//! `amtsbote demo --archive`: the public archive under load. 10,000 broadcasts stored, the
//! archive served by the real HTTP server on a local port, and a small load generator that asks
//! for `/healthz` (the ceiling: the server doing nothing), the archive's first page and
//! broadcast pages for the same time each, with the same number of clients; then the check
//! answers forwarded texts (as sent, one word changed, foreign) and its latency is measured.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::Rng;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::config::{ArchiveSettings, Config};
use crate::domain::{BroadcastKind, BroadcastText, Priority, Topic};
use crate::i18n::Texts;
use crate::services::BroadcastService;
use crate::services::check::{CheckService, Question};
use crate::store::NewBroadcast;

/// Broadcasts stored before the load.
const STORED: usize = 10_000;
/// Clients asking at once.
const CLIENTS: usize = 32;
/// How long each address is asked.
const PHASE: Duration = Duration::from_secs(3);
/// Checks timed.
const CHECKS: usize = 1_000;

#[derive(Debug, Clone, Default, Serialize)]
pub struct ArchiveReport {
    pub archive_broadcasts: usize,
    pub archive_clients: usize,
    /// Answers per second of `/healthz`: the ceiling of the server and the load generator.
    pub archive_healthz_per_s: f64,
    pub archive_first_page_per_s: f64,
    pub archive_message_page_per_s: f64,
    /// Each page ÷ `/healthz` in the same run.
    pub archive_first_page_ratio: f64,
    pub archive_message_page_ratio: f64,
    /// Answers that were not 200 (should be none).
    pub archive_errors: u64,
    pub check_p50_ms: f64,
    pub check_p99_ms: f64,
    /// The check's verdicts were the expected ones (genuine, not ours with the real one, not
    /// ours without one), of `CHECKS`.
    pub check_correct: usize,
    pub checks: usize,
}

/// Stores the broadcasts, serves the archive, measures.
pub async fn run(config: &Config, texts: Arc<Texts>) -> anyhow::Result<ArchiveReport> {
    let tmp = tempfile::tempdir().context("creating a temporary directory")?;
    let url = format!(
        "sqlite://{}?mode=rwc",
        tmp.path().join("archive.db").display()
    );
    let store = super::migrated(&url).await?;
    let topic = Topic::parse("news").map_err(anyhow::Error::msg)?;
    let mut rng = rand::rng();
    let mut texts_sent = Vec::with_capacity(STORED);
    for i in 0..STORED {
        let street = STREETS[rng.random_range(0..STREETS.len())];
        let text = format!(
            "Meldung {i}: Ab {} ist die {street} zwischen Hausnummer {} und {} gesperrt. Die Umleitung ist ausgeschildert; die Busse der Linie {} fahren über die Ausweichhaltestellen.",
            DAYS[i % DAYS.len()],
            rng.random_range(1..40),
            rng.random_range(40..120),
            rng.random_range(1..30),
        );
        let new = NewBroadcast::released(
            topic.clone(),
            BroadcastKind::Announcement,
            Priority::Normal,
            BroadcastText::parse(&text).map_err(anyhow::Error::msg)?,
        );
        let created = store.create_broadcast(&new).await?.broadcast;
        texts_sent.push((created.public_code.unwrap_or_default(), text));
    }
    store.upkeep().await.ok();

    let broadcasts = Arc::new(BroadcastService::new(
        store.clone(),
        config.topics.clone(),
        false,
        config.tz,
        None,
    ));
    let check = Arc::new(CheckService::new(store.clone()));
    let settings = ArchiveSettings {
        public_url: url::Url::parse("https://stadt.example").context("the demo's address")?,
        embed_origins: Vec::new(),
        footer: true,
    };
    let state =
        crate::archive::ArchiveState::new(broadcasts, check.clone(), texts, settings, Vec::new())
            .map_err(anyhow::Error::msg)?;
    let router = crate::http::health().merge(crate::archive::router(Arc::new(state)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let stop = CancellationToken::new();
    let limits = crate::http::Limits {
        max_connections_per_ip: 0,
        ..crate::http::Limits::default()
    };
    let server = tokio::spawn(crate::http::serve_on(
        listener,
        router,
        limits,
        stop.clone(),
    ));

    let codes: Arc<Vec<String>> = Arc::new(texts_sent.iter().map(|(c, _)| c.clone()).collect());
    let (healthz, e1) = load(&base, |_| "/healthz".to_string()).await;
    let (first, e2) = load(&base, |_| "/archiv".to_string()).await;
    let pages = codes.clone();
    let (message, e3) = load(&base, move |i| format!("/m/{}", pages[i % pages.len()])).await;

    // The check: as sent, one word changed, foreign; the first builds its index.
    let _ = check.check(Question::Text("warm-up")).await?;
    let mut times = Vec::with_capacity(CHECKS);
    let mut correct = 0;
    for i in 0..CHECKS {
        let (code, text) = &texts_sent[rng.random_range(0..texts_sent.len())];
        let (asked, want) = match i % 3 {
            0 => (text.clone(), Some(code.as_str())),
            1 => (
                text.replacen("gesperrt", "geöffnet", 1),
                Some(code.as_str()),
            ),
            _ => (
                "Heute bleibt das Rathaus wegen eines Stromausfalls geschlossen.".to_string(),
                None,
            ),
        };
        let started = Instant::now();
        let verdict = check.check(Question::Text(&asked)).await?;
        times.push(started.elapsed());
        let got = verdict.broadcast().and_then(|b| b.public_code.as_deref());
        let genuine = matches!(verdict, crate::services::check::Verdict::Genuine(_));
        if got == want && genuine == (i % 3 == 0) {
            correct += 1;
        }
    }
    times.sort();
    let at = |q: f64| {
        times
            .get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    stop.cancel();
    let _ = server.await;
    let round = |v: f64, digits: i32| {
        let f = 10f64.powi(digits);
        (v * f).round() / f
    };
    Ok(ArchiveReport {
        archive_broadcasts: STORED,
        archive_clients: CLIENTS,
        archive_healthz_per_s: round(healthz, 0),
        archive_first_page_per_s: round(first, 0),
        archive_message_page_per_s: round(message, 0),
        archive_first_page_ratio: round(first / healthz.max(1.0), 3),
        archive_message_page_ratio: round(message / healthz.max(1.0), 3),
        archive_errors: e1 + e2 + e3,
        check_p50_ms: round(at(0.50), 3),
        check_p99_ms: round(at(0.99), 3),
        check_correct: correct,
        checks: CHECKS,
    })
}

/// `CLIENTS` clients ask for `path(i)` for `PHASE`: answers per second, and answers that were
/// not 200.
async fn load(base: &str, path: impl Fn(usize) -> String + Send + Sync + 'static) -> (f64, u64) {
    let path = Arc::new(path);
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let (client, base, path) = (client.clone(), base.to_string(), path.clone());
        tasks.spawn(async move {
            let (mut ok, mut bad) = (0u64, 0u64);
            let mut i = c;
            while started.elapsed() < PHASE {
                match client.get(format!("{base}{}", path(i))).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        ok += 1;
                    }
                    _ => bad += 1,
                }
                i += CLIENTS;
            }
            (ok, bad)
        });
    }
    let (mut ok, mut bad) = (0, 0);
    while let Some(Ok((o, b))) = tasks.join_next().await {
        ok += o;
        bad += b;
    }
    (ok as f64 / started.elapsed().as_secs_f64(), bad)
}

const STREETS: [&str; 8] = [
    "Hauptstraße",
    "Bahnhofstraße",
    "Domplatz",
    "Ringstraße",
    "Lindenallee",
    "Schillerstraße",
    "Am Markt",
    "Gartenweg",
];
const DAYS: [&str; 5] = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag"];

/// The figures in words.
pub fn summary(r: &ArchiveReport) -> String {
    format!(
        "Archive with {} broadcasts, {} clients: /healthz {}/s, first page {}/s ({}×), a broadcast's page {}/s ({}×), {} errors. Check: p50 {} ms, p99 {} ms, {} of {} verdicts as expected.",
        r.archive_broadcasts,
        r.archive_clients,
        r.archive_healthz_per_s,
        r.archive_first_page_per_s,
        r.archive_first_page_ratio,
        r.archive_message_page_per_s,
        r.archive_message_page_ratio,
        r.archive_errors,
        r.check_p50_ms,
        r.check_p99_ms,
        r.check_correct,
        r.checks
    )
}
