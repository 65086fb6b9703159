//! Fan-out: turns a released broadcast into one delivery per active subscriber of its topic, a
//! chunk per transaction, highest priority first, so an alert released during a large news
//! fan-out gets its first chunk written next.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{EngineSettings, Signals};
use crate::store::Store;

/// The first chunk of every broadcast.
const FIRST_CHUNK: u32 = 1_000;

pub async fn run(
    store: Arc<dyn Store>,
    signals: Arc<Signals>,
    settings: EngineSettings,
    shutdown: CancellationToken,
) {
    let mut failures = 0u32;
    // Broadcasts this worker has started: their first chunk is small, so the first sends
    // (above all an alert's) can start while the rest is written.
    let mut started: HashSet<i64> = HashSet::new();
    while !shutdown.is_cancelled() {
        let step = async {
            let pending = store.broadcasts_to_fan_out().await?;
            let Some(next) = pending.first() else {
                return Ok(false);
            };
            let chunk = if started.insert(next.id) {
                settings.fan_out_chunk.min(FIRST_CHUNK)
            } else {
                settings.fan_out_chunk
            };
            let step = store.fan_out_chunk(next.id, chunk).await?;
            if step.inserted > 0 {
                signals.enqueued(next.priority);
            }
            if step.done {
                started.remove(&next.id);
                tracing::info!(broadcast = next.id, "fan-out complete");
            }
            Ok::<_, crate::store::StoreError>(true)
        };
        match step.await {
            Ok(true) => failures = 0,
            Ok(false) => {
                failures = 0;
                tokio::select! {
                    _ = signals.fan_out.notified() => {}
                    _ = tokio::time::sleep(settings.poll) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
            Err(e) => {
                failures += 1;
                let wait = Duration::from_millis(100 * 2u64.pow(failures.min(6)));
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "fan-out failed; will resume from its cursor");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
        }
    }
}
