//! What strangers cost the city's own work (issue 29): the median time to create a broadcast
//! through the API, unloaded and while requests with made-up dashboard session cookies arrive
//! at 1,500 a second (SQLite, the whole service as `run` starts it, no channels). Before the
//! fix each such request took SQLite's one write lock. Run with
//! `cargo bench --bench unauthenticated`; it prints one JSON line.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use amtsbote::config::Config;
use amtsbote::service::Application;

const TOKEN: &str = "bench-press-token-0123456789";
const CREATES: usize = 400;
const FLOOD_PER_S: u64 = 1_500;

/// Median and 90th percentile of `CREATES` API creates, one after another, in ms.
async fn creates(client: &reqwest::Client, base: &str, round: &str) -> anyhow::Result<(f64, f64)> {
    let mut times = Vec::with_capacity(CREATES);
    for i in 0..CREATES {
        let started = Instant::now();
        let answer = client
            .post(format!("{base}/api/v1/broadcasts"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"topic": "news", "text": format!("Bench {round} {i}")}))
            .send()
            .await?;
        anyhow::ensure!(
            answer.status() == 201,
            "create answered {}",
            answer.status()
        );
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[CREATES / 2], times[CREATES * 9 / 10]))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let env: HashMap<String, String> = [
        ("AMTSBOTE_DATABASE_URL", url.as_str()),
        ("AMTSBOTE_HTTP_LISTEN", "127.0.0.1:0"),
        ("AMTSBOTE_API_TOKEN", TOKEN),
        ("AMTSBOTE_API_TOKEN_PERSON", "Bench"),
        ("AMTSBOTE_DASHBOARD_PUBLIC_URL", "http://127.0.0.1"),
        ("AMTSBOTE_HTTP_MAX_CONNECTIONS_PER_IP", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = Config::from_sources(None, &env).map_err(|e| anyhow::anyhow!("{e}"))?;
    let store = amtsbote::service::open_store(&config).await?;
    let app = Application::build_on(config, store).await?;
    let base = format!("http://{}", app.admin_addr());
    let stop = tokio_util::sync::CancellationToken::new();
    let until = stop.clone();
    let service = tokio::spawn(app.run_until_stopped(async move {
        until.cancelled().await;
        "bench"
    }));
    let client = reqwest::Client::new();
    // Warm-up, then the quiet figure.
    creates(&client, &base, "warm").await?;
    let (quiet, quiet_p90) = creates(&client, &base, "quiet").await?;

    // The flood: made-up session cookies at FLOOD_PER_S, at most 64 in flight.
    let sent = Arc::new(AtomicU64::new(0));
    let flooding = {
        let (stop, sent, base) = (stop.clone(), sent.clone(), base.clone());
        let flood = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()?;
        tokio::spawn(async move {
            let slots = Arc::new(tokio::sync::Semaphore::new(64));
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / FLOOD_PER_S as f64));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            while !stop.is_cancelled() {
                tick.tick().await;
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    continue;
                };
                let (flood, base, sent) = (flood.clone(), base.clone(), sent.clone());
                tokio::spawn(async move {
                    let cookie = format!("amtsbote_session={:032x}", rand::random::<u128>());
                    let _ = flood
                        .get(format!("{base}/dashboard/compose"))
                        .header("cookie", cookie)
                        .send()
                        .await;
                    sent.fetch_add(1, Ordering::Relaxed);
                    drop(slot);
                });
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let flood_started = Instant::now();
    let sent_before = sent.load(Ordering::Relaxed);
    let (flooded, flooded_p90) = creates(&client, &base, "flood").await?;
    let flood_rate =
        (sent.load(Ordering::Relaxed) - sent_before) as f64 / flood_started.elapsed().as_secs_f64();
    stop.cancel();
    let _ = flooding.await;
    let _ = service.await;
    println!(
        "{}",
        serde_json::json!({
            "bench": "unauthenticated",
            "creates": CREATES,
            "create_median_ms": (quiet * 100.0).round() / 100.0,
            "create_p90_ms": (quiet_p90 * 100.0).round() / 100.0,
            "flood_per_s_achieved": flood_rate.round(),
            "create_median_under_flood_ms": (flooded * 100.0).round() / 100.0,
            "create_p90_under_flood_ms": (flooded_p90 * 100.0).round() / 100.0,
            "ratio": (flooded / quiet * 100.0).round() / 100.0,
            "target_ratio": 1.5,
        })
    );
    Ok(())
}
