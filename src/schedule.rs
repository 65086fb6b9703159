//! The scheduler: releases one-off broadcasts whose time has come and fires recurring ones, in
//! the city's time zone (see `domain::time` for how wall-clock times are placed). A schedule
//! that fell due while the service was down fires on start if it is at most the grace period
//! late, and is otherwise marked missed and reported to whoever planned it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;

use crate::domain::ChannelKind;
pub use crate::domain::time::{QuietHours, Recurrence, local_to_instant, parse_time};
use crate::services::{BroadcastService, ServiceError};
use crate::store::{Store, StoreError};

fn store_error(e: ServiceError) -> StoreError {
    match e {
        ServiceError::Store(e) => e,
        other => StoreError::Corrupt(other.to_string()),
    }
}

/// Tells the staff member who planned something that it was missed.
#[async_trait]
pub trait StaffNotice: Send + Sync {
    async fn tell(&self, channel: ChannelKind, address: &str, key: &str, id: i64);
}

#[derive(Clone)]
pub struct Scheduler {
    pub store: Arc<dyn Store>,
    /// Fires and releases through the broadcast service, as every way in does.
    pub broadcasts: Arc<BroadcastService>,
    pub tz: Tz,
    pub grace: Duration,
    pub notice: Option<Arc<dyn StaffNotice>>,
}

impl Scheduler {
    /// Fires what is due at `now` (ms); the clock is passed in so tests can choose it.
    pub async fn tick(&self, now: i64) -> Result<(), StoreError> {
        let grace = self.grace.as_millis() as i64;
        for b in self.store.due_scheduled(now).await? {
            let due = b.scheduled_at.unwrap_or(now);
            if now - due <= grace {
                if self
                    .broadcasts
                    .release_due(&b, now)
                    .await
                    .map_err(store_error)?
                {
                    tracing::info!(broadcast = b.id, "scheduled broadcast released");
                }
            } else if self.store.mark_missed(b.id).await? {
                tracing::warn!(
                    broadcast = b.id,
                    late_s = (now - due) / 1000,
                    "scheduled broadcast missed its time"
                );
                self.report(b.created_by.as_deref(), "schedule-missed", b.id)
                    .await;
            }
        }
        for s in self.store.due_schedules(now).await? {
            let recurrence = match Recurrence::parse(&s.cron) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(schedule = s.id, error = %e, "a stored schedule has a bad expression; stopped");
                    self.store.advance_schedule(s.id, None).await?;
                    continue;
                }
            };
            if now - s.next_at <= grace {
                // The firing has its own idempotency key: a restart in the middle of a tick
                // fires nothing twice.
                match self.broadcasts.fire(&s).await {
                    Ok(b) => tracing::info!(
                        schedule = s.id,
                        broadcast = b.id,
                        "recurring broadcast released"
                    ),
                    Err(ServiceError::Store(e)) => return Err(e),
                    Err(e) => {
                        tracing::error!(schedule = s.id, error = %e, "a stored schedule cannot fire any more; stopped");
                        self.store.advance_schedule(s.id, None).await?;
                        continue;
                    }
                }
            } else {
                tracing::warn!(
                    schedule = s.id,
                    late_s = (now - s.next_at) / 1000,
                    "recurring broadcast missed its time"
                );
                self.report(s.created_by.as_deref(), "schedule-missed-recurring", s.id)
                    .await;
            }
            let from =
                DateTime::<Utc>::from_timestamp_millis(now.max(s.next_at)).unwrap_or_else(Utc::now);
            let next = recurrence
                .next_after(self.tz, from)
                .map(|t| t.timestamp_millis());
            self.store.advance_schedule(s.id, next).await?;
        }
        Ok(())
    }

    async fn report(&self, created_by: Option<&str>, key: &str, id: i64) {
        let (Some(notice), Some(by)) = (&self.notice, created_by) else {
            return;
        };
        // Staff actors are written `channel:address`.
        if let Some((channel, address)) = by.split_once(':')
            && let Ok(channel) = channel.parse::<ChannelKind>()
        {
            notice.tell(channel, address, key, id).await;
        }
    }

    /// Ticks every second until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            if let Err(e) = self.tick(self.broadcasts.clock().now_ms()).await {
                tracing::warn!(error = %e, "schedules could not be checked; will retry");
            }
        }
    }
}
