//! Fan-out: turns a released broadcast into one delivery per active subscriber of its topic, a
//! chunk per transaction, resumable from the cursor stored with each chunk. Every released
//! broadcast gets its own task, so an alert released during a large news fan-out starts at once
//! instead of after it; its first chunk is small so the first alerts go out while the rest is
//! written.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{EngineSettings, Signals};
use crate::domain::Priority;
use crate::domain::area::Catalogue;
use crate::domain::outlet::OutletRoute;
use crate::store::{Broadcast, Store};

/// The first chunk of every broadcast.
const FIRST_CHUNK: u32 = 200;

/// How long an urgent broadcast's fan-out waits for the lanes to claim its first chunk.
const LANES_FIRST: std::time::Duration = std::time::Duration::from_millis(50);

pub async fn run(
    store: Arc<dyn Store>,
    signals: Arc<Signals>,
    settings: EngineSettings,
    shutdown: CancellationToken,
) {
    let running: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let mut tasks = JoinSet::new();
    // Starts a fan-out task for a broadcast unless one runs already.
    let start = |broadcast: Broadcast, tasks: &mut JoinSet<()>| {
        let fresh = running
            .lock()
            .map(|mut r| r.insert(broadcast.id))
            .unwrap_or(false);
        if fresh {
            let job = fan_out(
                store.clone(),
                signals.clone(),
                broadcast,
                settings.fan_out_chunk,
                settings.areas.clone(),
                settings.outlets.clone(),
                shutdown.clone(),
            );
            let running = running.clone();
            tasks.spawn(async move {
                let id = job.await;
                if let Ok(mut r) = running.lock() {
                    r.remove(&id);
                }
            });
        }
    };
    let mut failures = 0u32;
    while !shutdown.is_cancelled() {
        // What this process released itself starts at once, before the store is asked.
        for broadcast in signals.take_fresh() {
            start(broadcast, &mut tasks);
        }
        match store.broadcasts_to_fan_out().await {
            Ok(released) => {
                failures = 0;
                for broadcast in released {
                    start(broadcast, &mut tasks);
                }
                tokio::select! {
                    _ = signals.fan_out.notified() => {}
                    _ = tokio::time::sleep(settings.poll) => {}
                    Some(_) = tasks.join_next() => {}
                    _ = shutdown.cancelled() => break,
                }
            }
            Err(e) => {
                failures += 1;
                let wait = crate::domain::RetryPolicy::STORE_OUTAGE.delay(failures as i32);
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "cannot list broadcasts to fan out; will retry");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
        }
    }
    // Each chunk is its own transaction: stopping between chunks leaves a consistent cursor.
    while tasks.join_next().await.is_some() {}
}

/// Writes one broadcast's deliveries chunk by chunk until done or shut down; returns its id.
async fn fan_out(
    store: Arc<dyn Store>,
    signals: Arc<Signals>,
    broadcast: Broadcast,
    chunk: u32,
    areas: Option<Arc<Catalogue>>,
    outlets: Arc<[OutletRoute]>,
    shutdown: CancellationToken,
) -> i64 {
    // Until its deliveries are written, the lanes hold what is less urgent.
    signals.fan_out_began(broadcast.id, broadcast.priority);
    let _fanning = Fanning {
        signals: signals.clone(),
        id: broadcast.id,
    };
    let mut size = chunk.min(FIRST_CHUNK);
    let mut first = true;
    let mut failures = 0u32;
    // A targeted broadcast: the kept places inside it, written before its first chunk (so
    // places kept after a draft was written count too).
    let mut shape = match &broadcast.target {
        Some(target) => match target.shape(areas.as_deref()) {
            Ok(shape) => Some(shape),
            Err(e) => {
                tracing::warn!(broadcast = broadcast.id, error = %e, "target has no shape: only its districts and those without an area get it");
                None
            }
        },
        None => None,
    };
    // The outlets' rows first, in their own small transaction: a fan-out that ended never
    // runs again, so they must be written before its last chunk (the first may be the last).
    let mut outlets_written = outlets.is_empty();
    while !shutdown.is_cancelled() {
        let started = std::time::Instant::now();
        if !outlets_written {
            match store
                .enqueue_outlet_posts(&broadcast, &outlets, crate::domain::now_ms())
                .await
            {
                Ok(n) => {
                    tracing::debug!(broadcast = broadcast.id, rows = n, "outlet posts queued");
                    outlets_written = true;
                }
                Err(e) => {
                    failures += 1;
                    let wait = crate::domain::RetryPolicy::STORE_OUTAGE.delay(failures as i32);
                    tracing::warn!(broadcast = broadcast.id, error = %e, retry_in_ms = wait.as_millis() as u64, "cannot queue the outlets' posts; will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.cancelled() => break,
                    }
                    continue;
                }
            }
        }
        if let Some(s) = &shape {
            match store.prepare_target_cells(broadcast.id, s).await {
                Ok(cells) => {
                    tracing::debug!(broadcast = broadcast.id, cells, "target's kept places");
                    shape = None;
                }
                Err(e) => {
                    failures += 1;
                    let wait = crate::domain::RetryPolicy::STORE_OUTAGE.delay(failures as i32);
                    tracing::warn!(broadcast = broadcast.id, error = %e, retry_in_ms = wait.as_millis() as u64, "cannot find the target's kept places; will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.cancelled() => break,
                    }
                    continue;
                }
            }
        }
        match store.fan_out_chunk(broadcast.id, size).await {
            Ok(step) => {
                tracing::debug!(
                    broadcast = broadcast.id,
                    inserted = step.inserted,
                    ms = started.elapsed().as_millis() as u64,
                    "fan-out chunk"
                );
                failures = 0;
                size = chunk;
                if step.inserted > 0
                    && first
                    && !step.done
                    && broadcast.priority >= Priority::Urgent
                {
                    // The lanes take the first chunk before the next one holds the writer.
                    let claims = signals.next_claims();
                    signals.enqueued(broadcast.priority);
                    let _ = tokio::time::timeout(LANES_FIRST, claims).await;
                } else if step.inserted > 0 {
                    signals.enqueued(broadcast.priority);
                }
                first = false;
                if step.done {
                    tracing::info!(broadcast = broadcast.id, "fan-out complete");
                    break;
                }
            }
            Err(e) => {
                failures += 1;
                let wait = crate::domain::RetryPolicy::STORE_OUTAGE.delay(failures as i32);
                tracing::warn!(broadcast = broadcast.id, error = %e, retry_in_ms = wait.as_millis() as u64, "fan-out failed; will resume from its cursor");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
        }
    }
    broadcast.id
}

/// Tells the lanes when a fan-out ends, however it ends.
struct Fanning {
    signals: Arc<Signals>,
    id: i64,
}

impl Drop for Fanning {
    fn drop(&mut self) {
        self.signals.fan_out_ended(self.id);
    }
}
