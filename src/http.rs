//! The HTTP side for the operator: health, readiness and Prometheus metrics. The WhatsApp
//! webhook and the API join this router in `service`.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::domain::Priority;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// True while every part of the queue runs.
    pub queue_running: Arc<AtomicBool>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// The process's Prometheus recorder, installed on first use.
pub fn metrics_handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("amtsbote_send_seconds".into()),
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ],
                )
                .ok()?;
            match builder.install_recorder() {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics are off: no recorder could be installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Prometheus text: counters from the lanes, and gauges read from the store at each scrape.
/// Labels are channels, topics, priorities and outcomes only: never an address or a token.
async fn metrics(State(state): State<AppState>) -> (StatusCode, String) {
    let Some(handle) = metrics_handle() else {
        return (StatusCode::SERVICE_UNAVAILABLE, String::new());
    };
    match state.store.queue_depth().await {
        Ok(depth) => {
            for p in [
                Priority::Alert,
                Priority::Urgent,
                Priority::Normal,
                Priority::Low,
            ] {
                let n = depth
                    .iter()
                    .find(|(q, _)| *q == p)
                    .map(|(_, n)| *n)
                    .unwrap_or(0);
                metrics::gauge!("amtsbote_queue_depth", "priority" => p.as_str()).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: queue depth unavailable"),
    }
    match state.store.subscriber_counts().await {
        Ok(counts) => {
            for (channel, topic, n) in counts {
                metrics::gauge!("amtsbote_subscribers", "channel" => channel.as_str(), "topic" => topic).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: subscriber counts unavailable"),
    }
    (StatusCode::OK, handle.render())
}

async fn ready(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let database = state.store.ping().await;
    let queue = state.queue_running.load(Ordering::SeqCst);
    let ok = database.is_ok() && queue;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if let Err(e) = &database {
        tracing::warn!(error = %e, "readiness: database unreachable");
    }
    (
        status,
        Json(json!({"database": database.is_ok(), "queue": queue})),
    )
}

/// Serves `router` on `addr` until `shutdown`.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
