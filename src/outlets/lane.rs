//! One outlet's lane: claims its most urgent due row (an alert before the news), turns it into
//! a job, publishes it through the outlet's rate limit, and acknowledges while the lease holds.
//! A 429 pauses this lane only; the citizens' lanes never wait for an outlet. Several
//! instances on one database run the outlets' lanes on one of them (the role `outlets`), so
//! each outlet's rate holds for them all; claims and outcomes carry the role's fence.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota};
use tokio_util::sync::CancellationToken;

use super::{Job, Outlet, OutletError, Remote, job_key};
use crate::domain::outlet::{OutletAction, OutletPostStatus};
use crate::domain::{RetryPolicy, now_ms};
use crate::queue::LanePause;
use crate::roles::Grant;
use crate::store::{OutletOutcome, OutletPost, Store, StoreError};

/// How an outlet lane works.
#[derive(Debug, Clone)]
pub struct OutletLaneSettings {
    pub rate_per_minute: u32,
    pub lease: Duration,
    pub poll: Duration,
    pub retry: RetryPolicy,
    /// `archive.public_url`: posts end with the check link `…/m/CODE`.
    pub archive: Option<url::Url>,
}

impl Default for OutletLaneSettings {
    fn default() -> Self {
        OutletLaneSettings {
            rate_per_minute: 0,
            lease: Duration::from_secs(60),
            poll: Duration::from_millis(250),
            retry: RetryPolicy::default(),
            archive: None,
        }
    }
}

pub use crate::domain::outlet::check_link;

pub struct OutletLane {
    pub outlet: Arc<dyn Outlet>,
    pub store: Arc<dyn Store>,
    pub settings: OutletLaneSettings,
    pub instance: String,
    /// The platform's pause, shown by the API.
    pub pause: Arc<LanePause>,
    /// This instance's hold on the role `outlets`: claims and outcomes carry its fence, and
    /// nothing is posted once it ran out.
    pub grant: Grant,
}

impl OutletLane {
    pub async fn run(self, stop: CancellationToken) {
        let name = self.outlet.name().to_string();
        let limiter: Option<DefaultDirectRateLimiter> =
            NonZeroU32::new(self.settings.rate_per_minute)
                // A burst of one: the rate holds over every minute, not twice it in the first.
                .map(|n| {
                    governor::RateLimiter::direct(Quota::per_minute(n).allow_burst(NonZeroU32::MIN))
                });
        let lease_ms = i64::try_from(self.settings.lease.as_millis()).unwrap_or(60_000);
        let mut store_failures = 0;
        while !stop.is_cancelled() {
            if let Some(until) = self.pause.until_ms() {
                let wait = Duration::from_millis((until - now_ms()).max(1) as u64);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.cancelled() => return,
                }
                continue;
            }
            let fence = self.grant.fence();
            let claimed = self
                .store
                .claim_outlet_post(fence, &name, &self.instance, now_ms(), lease_ms)
                .await;
            let row = match claimed {
                Ok(Some(row)) => {
                    store_failures = 0;
                    row
                }
                Ok(None) => {
                    store_failures = 0;
                    tokio::select! {
                        _ = tokio::time::sleep(self.settings.poll) => {}
                        _ = stop.cancelled() => return,
                    }
                    continue;
                }
                Err(StoreError::RoleLost(role)) => {
                    tracing::warn!(outlet = %name, %role, "the role is held elsewhere now: this outlet's lane stops here");
                    return;
                }
                Err(e) => {
                    store_failures += 1;
                    let wait = RetryPolicy::STORE_OUTAGE.delay(store_failures);
                    tracing::warn!(outlet = %name, error = %e, "cannot claim an outlet post; will retry");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.cancelled() => return,
                    }
                    continue;
                }
            };
            if let Some(limiter) = &limiter {
                tokio::select! {
                    _ = limiter.until_ready() => {}
                    // The lease runs out and the row goes back by itself.
                    _ = stop.cancelled() => return,
                }
            }
            // A holder that could not renew stops before another can have taken over: the
            // row goes back with its lease.
            if !self.grant.valid() {
                return;
            }
            let outcome = self.work(&row).await;
            match &outcome {
                OutletOutcome::Sent { remote_id, .. } => {
                    tracing::info!(outlet = %name, broadcast = row.target_id, action = row.action.as_str(), remote = remote_id.as_deref().unwrap_or(""), attempt = row.attempts, "outlet post made")
                }
                OutletOutcome::Retry { error, .. } => {
                    tracing::warn!(outlet = %name, broadcast = row.target_id, attempt = row.attempts, error = %error, "outlet post failed; will retry")
                }
                OutletOutcome::Failed { error } => {
                    tracing::error!(outlet = %name, broadcast = row.target_id, error = %error, "outlet post failed for good")
                }
                OutletOutcome::Skipped { why } => {
                    tracing::info!(outlet = %name, broadcast = row.target_id, why = %why, "outlet post skipped")
                }
            }
            // The outcome is written while the lease holds; a store that fails now leaves the
            // row leased, and it returns when the lease runs out.
            for attempt in 1..=5 {
                match self
                    .store
                    .finish_outlet_post(
                        self.grant.fence(),
                        row.id,
                        &self.instance,
                        row.attempts,
                        &outcome,
                    )
                    .await
                {
                    Ok(true) => break,
                    Ok(false) | Err(StoreError::RoleLost(_)) => {
                        tracing::warn!(outlet = %name, post = row.id, "lease lost before the outcome was written");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(outlet = %name, error = %e, "cannot write an outlet post's outcome; will retry");
                        tokio::time::sleep(RetryPolicy::STORE_OUTAGE.delay(attempt)).await;
                    }
                }
            }
        }
    }

    /// What became of one claimed row.
    async fn work(&self, row: &OutletPost) -> OutletOutcome {
        match self.job(row).await {
            Ok(Ok(job)) => {
                let version = job.version;
                match self.outlet.publish(&job).await {
                    Ok(Remote { id, url, reference }) => OutletOutcome::Sent {
                        version: Some(version),
                        remote_id: Some(id),
                        remote_url: url,
                        remote_ref: reference,
                        at: now_ms(),
                    },
                    Err(e) => self.failed(row, e),
                }
            }
            Ok(Err(outcome)) => outcome,
            Err(e) => OutletOutcome::Retry {
                due_at: now_ms() + RetryPolicy::STORE_OUTAGE.delay(1).as_millis() as i64,
                error: format!("store: {e}"),
            },
        }
    }

    fn failed(&self, row: &OutletPost, e: OutletError) -> OutletOutcome {
        match e {
            OutletError::RateLimited(wait) => {
                let until = now_ms() + wait.as_millis() as i64;
                self.pause.extend(until);
                tracing::warn!(outlet = %self.outlet.name(), pause_ms = wait.as_millis() as u64, "the platform asked to wait: this outlet pauses");
                OutletOutcome::Retry {
                    due_at: until,
                    error: "rate limited by the platform".into(),
                }
            }
            OutletError::Transient(error)
                if (row.attempts as i32) < self.settings.retry.max_attempts =>
            {
                OutletOutcome::Retry {
                    due_at: now_ms()
                        + self.settings.retry.delay(row.attempts as i32).as_millis() as i64,
                    error,
                }
            }
            OutletError::Transient(error) | OutletError::Permanent(error) => {
                OutletOutcome::Failed { error }
            }
        }
    }

    /// The job of a row, or the outcome it has without one (nothing to do, or wait for the
    /// post it follows up).
    async fn job(&self, row: &OutletPost) -> crate::store::StoreResult<Result<Job, OutletOutcome>> {
        let skip = |why: &str| Ok(Err(OutletOutcome::Skipped { why: why.into() }));
        let Some(target) = self.store.broadcast(row.target_id).await? else {
            return skip("the broadcast is gone");
        };
        let link = match (&self.settings.archive, &target.public_code) {
            (Some(archive), Some(code)) => Some(check_link(archive, code)),
            _ => None,
        };
        let mut job = Job {
            action: row.action,
            broadcast_id: target.id,
            kind: target.kind,
            priority: row.priority,
            topic: target.topic.clone(),
            text: target.text.clone(),
            version: i64::from(target.version),
            link,
            code: target.public_code.clone(),
            // The same for every attempt, so the platform recognises a retry.
            key: String::new(),
            post: None,
        };
        if row.action == OutletAction::Post {
            // A post always goes with the text as it is now; its key stays that of its first
            // version, so a retry after a crash finds what the first attempt made.
            job.key = job_key(&row.outlet, target.id, OutletAction::Post, 1);
            return Ok(Ok(job));
        }
        let Some(post) = self
            .store
            .outlet_post_of(&row.outlet, row.target_id)
            .await?
        else {
            return skip("the broadcast was not posted here");
        };
        match post.status {
            OutletPostStatus::Sent => {}
            // The post is under way: it goes with the text as it is now; see again soon.
            OutletPostStatus::Pending | OutletPostStatus::Leased => {
                if row.action == OutletAction::Correct && post.status == OutletPostStatus::Pending {
                    return skip("the post is not made yet and will have the corrected text");
                }
                return Ok(Err(OutletOutcome::Retry {
                    due_at: now_ms() + 1000,
                    error: "waiting for the post it follows up".into(),
                }));
            }
            _ => return skip("the broadcast was not posted here"),
        }
        let Some(cause) = self.store.broadcast(row.broadcast_id).await? else {
            return skip("the correction or retraction is gone");
        };
        if row.action == OutletAction::Correct {
            if post.version.unwrap_or(1) >= i64::from(cause.version) {
                return skip("the post has this text already");
            }
            if !cause.notice && !self.outlet.can_edit() {
                return skip("a silent correction, and this platform cannot edit");
            }
        } else {
            job.text = cause.text.clone();
            job.kind = cause.kind;
            job.version = i64::from(cause.version);
        }
        job.key = job_key(&row.outlet, row.broadcast_id, row.action, job.version);
        job.post = post.remote_id.map(|id| Remote {
            id,
            url: post.remote_url,
            reference: post.remote_ref,
        });
        Ok(Ok(job))
    }
}
