//! The ceilings the demo's figures are compared with, measured in the same run on the same
//! machine (machines here differ by 2-3x from day to day; ratios travel, absolute figures do
//! not): loopback JSON POSTs (reqwest to axum in this process, 64 in flight), the most the
//! send path could do; and a bare `INSERT … SELECT` of the fan-out's rows (see
//! `Store::fan_out_ceiling`), the most the fan-out could do.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Json;
use axum::routing::post;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Requests in flight, as many as a lane's default concurrency times two.
pub const IN_FLIGHT: usize = 64;

/// Loopback JSON POSTs per second for `duration`: a message-sized body, a Bot-API-sized answer.
pub async fn http_posts_per_s(duration: Duration) -> anyhow::Result<f64> {
    let app = axum::Router::new().route(
        "/probe",
        post(|Json(body): Json<Value>| async move {
            Json(json!({"ok": true, "result": {"message_id": 1, "chat": body["chat_id"], "date": 0}}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the probe's listener")?;
    let url = format!("http://{}/probe", listener.local_addr()?);
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stopped.cancelled().await })
            .await
    });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(IN_FLIGHT)
        .build()
        .context("building the probe's client")?;
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..IN_FLIGHT {
        let (client, url, done) = (client.clone(), url.clone(), done.clone());
        workers.spawn(async move {
            let body = json!({"chat_id": worker, "text": "Probe: Hauptstraße ab 9 Uhr gesperrt, bitte weiträumig umfahren."});
            while Instant::now() < deadline {
                if let Ok(r) = client.post(&url).json(&body).send().await
                    && r.status().is_success()
                    && r.bytes().await.is_ok()
                {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let per_s = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    stop.cancel();
    let _ = server.await;
    Ok(per_s)
}
