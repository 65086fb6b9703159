//! Which instance does what. Instances that share a Postgres database hold each role (a
//! channel's lane, the Telegram poller, the scheduler, the warnings feed, housekeeping) one at a
//! time, by a lease on the database's clock with a fencing token; on SQLite the one instance
//! (`amtsbote run` locks the file) holds every role for good.
//!
//! A holder stops on its own before the database could give its role to anyone else: its
//! deadline is counted from the moment it *asked* for the last renewal, on this machine's
//! monotonic clock (which runs on while the process is frozen), minus a margin.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::domain::InstanceRole;
use crate::store::{Fence, Store};

/// How long a lease lasts without renewal (the database's clock).
pub const LEASE: Duration = Duration::from_secs(3);
/// How often a holder renews its lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How often an instance without a role tries to take it.
pub const TRY_EVERY: Duration = Duration::from_millis(500);
/// The holder stops this long before its lease could run out in the database.
const MARGIN: Duration = Duration::from_millis(250);

/// This instance's hold on one role. Cloned into everything that works under the role.
#[derive(Clone, Debug)]
pub struct Grant(Arc<GrantState>);

#[derive(Debug)]
struct GrantState {
    fence: Option<Fence>,
    base: Instant,
    /// Milliseconds after `base` at which the grant ends unless renewed; `u64::MAX`: never.
    deadline_ms: AtomicU64,
    lost: CancellationToken,
}

impl Grant {
    /// A grant that never ends: the one instance of a database nobody shares.
    pub fn sole() -> Grant {
        Grant(Arc::new(GrantState {
            fence: None,
            base: Instant::now(),
            deadline_ms: AtomicU64::new(u64::MAX),
            lost: CancellationToken::new(),
        }))
    }

    fn fenced(fence: Fence, asked: Instant) -> Grant {
        let grant = Grant(Arc::new(GrantState {
            fence: Some(fence),
            base: asked,
            deadline_ms: AtomicU64::new(0),
            lost: CancellationToken::new(),
        }));
        grant.renewed(asked);
        grant
    }

    /// What claims and acknowledgements under this grant carry.
    pub fn fence(&self) -> Option<&Fence> {
        self.0.fence.as_ref()
    }

    /// True while work under the role may go on: not lost, and the deadline not passed.
    pub fn valid(&self) -> bool {
        !self.0.lost.is_cancelled()
            && (self.0.base.elapsed().as_millis() as u64)
                < self.0.deadline_ms.load(Ordering::SeqCst)
    }

    /// Cancelled once the grant is lost.
    pub fn lost(&self) -> &CancellationToken {
        &self.0.lost
    }

    fn lose(&self) {
        self.0.lost.cancel();
    }

    /// A renewal asked for at `asked` succeeded.
    fn renewed(&self, asked: Instant) {
        let until = asked.saturating_duration_since(self.0.base) + LEASE - MARGIN;
        self.0
            .deadline_ms
            .fetch_max(until.as_millis() as u64, Ordering::SeqCst);
    }

    fn deadline(&self) -> Option<Instant> {
        match self.0.deadline_ms.load(Ordering::SeqCst) {
            u64::MAX => None,
            ms => Some(self.0.base + Duration::from_millis(ms)),
        }
    }
}

/// The roles of this instance: takes them when free, keeps them, gives them up on a clean stop.
pub struct Roles {
    store: Arc<dyn Store>,
    instance: String,
    held: Mutex<BTreeMap<&'static str, bool>>,
}

impl Roles {
    pub fn new(store: Arc<dyn Store>, instance: impl Into<String>) -> Arc<Roles> {
        Arc::new(Roles {
            store,
            instance: instance.into(),
            held: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Each role this instance runs, and whether it holds it now.
    pub fn held(&self) -> BTreeMap<&'static str, bool> {
        self.held.lock().map(|h| h.clone()).unwrap_or_default()
    }

    fn set_held(&self, role: InstanceRole, held: bool) {
        if let Ok(mut h) = self.held.lock() {
            h.insert(role.as_str(), held);
        }
        metrics::gauge!("amtsbote_role_held", "role" => role.as_str()).set(if held {
            1.0
        } else {
            0.0
        });
    }

    async fn acquire(&self, role: InstanceRole) -> Option<Grant> {
        if !self.store.shares_roles() {
            return Some(Grant::sole());
        }
        let asked = Instant::now();
        let taking =
            self.store
                .acquire_role(role.as_str(), &self.instance, LEASE.as_millis() as i64);
        match tokio::time::timeout(RENEW_EVERY, taking).await {
            Ok(Ok(Some(token))) => Some(Grant::fenced(
                Fence {
                    role: role.as_str().to_string(),
                    token,
                },
                asked,
            )),
            Ok(Ok(None)) => None,
            Ok(Err(e)) => {
                tracing::warn!(%role, error = %e, "could not ask for a role; will try again");
                None
            }
            Err(_) => {
                tracing::warn!(%role, "asking for a role timed out; will try again");
                None
            }
        }
    }

    /// Runs `work` whenever this instance holds `role`, until `shutdown`. `work` gets the grant
    /// and a token cancelled on shutdown or when the role is lost; it should stop promptly
    /// then. On shutdown the role is given up once `work` has finished.
    pub async fn run_as<F, Fut>(
        self: Arc<Self>,
        role: InstanceRole,
        shutdown: CancellationToken,
        work: F,
    ) where
        F: Fn(Grant, CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.set_held(role, false);
        while !shutdown.is_cancelled() {
            let Some(grant) = self.acquire(role).await else {
                tokio::select! {
                    _ = tokio::time::sleep(TRY_EVERY) => continue,
                    _ = shutdown.cancelled() => return,
                }
            };
            if let Some(fence) = grant.fence() {
                tracing::info!(%role, token = fence.token, instance = %self.instance, "took the role");
            }
            self.set_held(role, true);
            let stop = CancellationToken::new();
            let keeper = tokio::spawn(keep(
                self.store.clone(),
                role,
                self.instance.clone(),
                grant.clone(),
                stop.clone(),
            ));
            let work_stop = CancellationToken::new();
            let linked = {
                let (work_stop, shutdown, lost) =
                    (work_stop.clone(), shutdown.clone(), grant.lost().clone());
                tokio::spawn(async move {
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        _ = lost.cancelled() => {}
                    }
                    work_stop.cancel();
                })
            };
            work(grant.clone(), work_stop.clone()).await;
            stop.cancel();
            let _ = keeper.await;
            linked.abort();
            self.set_held(role, false);
            if !grant.valid() {
                tracing::warn!(%role, instance = %self.instance, "lost the role (lease ran out); stopped its work");
            } else if let Some(fence) = grant.fence() {
                // A clean stop (or the work ended by itself): a standby need not wait.
                if let Err(e) = self
                    .store
                    .release_role(role.as_str(), &self.instance, fence.token)
                    .await
                {
                    tracing::warn!(%role, error = %e, "could not give up the role; it runs out with its lease");
                }
            }
            if shutdown.is_cancelled() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(TRY_EVERY) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    }
}

/// Renews `grant` every `RENEW_EVERY` until `stop`; loses it when the database says it is gone
/// or when no renewal succeeded before its deadline.
async fn keep(
    store: Arc<dyn Store>,
    role: InstanceRole,
    instance: String,
    grant: Grant,
    stop: CancellationToken,
) {
    let (Some(fence), Some(_)) = (grant.fence().cloned(), grant.deadline()) else {
        return; // sole holder: nothing to renew
    };
    let mut next = Instant::now() + RENEW_EVERY;
    loop {
        let deadline = grant.deadline().unwrap_or(next);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(deadline.into()) => {
                grant.lose();
                return;
            }
            _ = tokio::time::sleep_until(next.into()) => {}
        }
        next = Instant::now() + RENEW_EVERY;
        let asked = Instant::now();
        let renewing = store.renew_role(
            role.as_str(),
            &instance,
            fence.token,
            LEASE.as_millis() as i64,
        );
        // A renewal that hangs (the database cut off) must not keep the grant past its end.
        let deadline = grant.deadline().unwrap_or(next);
        let answer = tokio::select! {
            answer = tokio::time::timeout(RENEW_EVERY, renewing) => answer,
            _ = tokio::time::sleep_until(deadline.into()) => {
                grant.lose();
                return;
            }
        };
        match answer {
            Ok(Ok(true)) => grant.renewed(asked),
            Ok(Ok(false)) => {
                grant.lose();
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(%role, error = %e, "could not renew the role; will try again")
            }
            Err(_) => tracing::warn!(%role, "renewing the role timed out; will try again"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_ends_at_its_deadline_counted_from_the_request() {
        let asked = Instant::now() - LEASE;
        let grant = Grant::fenced(
            Fence {
                role: "lane:telegram".into(),
                token: 1,
            },
            asked,
        );
        assert!(!grant.valid(), "asked a whole lease ago: over");
        grant.renewed(Instant::now());
        assert!(grant.valid(), "renewed just now");
        grant.lose();
        assert!(!grant.valid(), "lost is lost, whatever the deadline");
    }

    #[test]
    fn the_sole_grant_never_ends() {
        let grant = Grant::sole();
        assert!(grant.valid());
        assert!(grant.fence().is_none());
        assert!(grant.deadline().is_none());
    }
}
