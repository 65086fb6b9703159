//! A lane: claims small batches of one channel's deliveries in queue order, sends them through
//! the rate limit with bounded concurrency, and writes every outcome back under its lease.
//! Anything more urgent enqueued meanwhile makes the lane put back what it still holds and
//! claim again, so an alert never waits behind more than one send slot. A claim's lease is
//! extended while its deliveries wait, go out and have their outcomes written, and a delivery
//! it no longer holds is not sent: a slow platform never makes a message go twice.

use std::sync::atomic::{AtomicI16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::budget::{LaneBudget, Waiter};
use super::media::MediaSender;
use super::{LanePause, LaneSettings, Wake};
use crate::channels::{Channel, Outgoing, SendOutcome};
use crate::domain::{BroadcastKind, ChannelKind, DeliveryStatus, Priority, RetryPolicy, now_ms};
use crate::roles::Grant;
use crate::store::{Ack, AckOutcome, ClaimedDelivery, Fence, Store, StoreError, StoreResult};

pub struct Lane {
    channel: Arc<dyn Channel>,
    store: Arc<dyn Store>,
    settings: LaneSettings,
    wake: Arc<Wake>,
    pause: Arc<LanePause>,
    instance: String,
    next_up: Arc<NextUp>,
    /// The rate limit, shared with the conversation's replies on this platform.
    budget: Arc<LaneBudget>,
    /// This instance's hold on the lane's role: nothing goes out once it is lost.
    grant: Grant,
    /// Pictures and documents: uploaded once, then sent by the platform's id.
    media: Arc<MediaSender>,
}

/// The priority of the delivery the lane waits to send next. A send between the parts of a long
/// text gives way when this outranks it, so that an alert never waits for another text's parts.
#[derive(Debug, Default)]
struct NextUp(AtomicI16);

impl NextUp {
    fn set(&self, priority: Priority) {
        self.0.store(priority.as_i16(), Ordering::SeqCst);
    }

    fn raise_to(&self, priority: i16) {
        self.0.fetch_max(priority, Ordering::SeqCst);
    }

    fn outranks(&self, priority: Priority) -> bool {
        self.0.load(Ordering::SeqCst) > priority.as_i16()
    }
}

static LEASE_SEQ: AtomicU64 = AtomicU64::new(0);

impl Lane {
    pub fn new(
        channel: Arc<dyn Channel>,
        store: Arc<dyn Store>,
        settings: LaneSettings,
        wake: Arc<Wake>,
        pause: Arc<LanePause>,
        instance: String,
        budget: Arc<LaneBudget>,
    ) -> Self {
        let media = Arc::new(MediaSender::new(
            store.clone(),
            channel.clone(),
            &instance,
            settings.send_timeout.max(Duration::from_secs(10)) * 6,
        ));
        Lane {
            media,
            channel,
            store,
            settings,
            wake,
            pause,
            instance,
            next_up: Arc::default(),
            budget,
            grant: Grant::sole(),
        }
    }

    /// Works under `grant`: claims and outcomes carry its fence, and nothing is sent once it
    /// is lost.
    pub fn with_grant(mut self, grant: Grant) -> Self {
        self.grant = grant;
        self
    }

    fn fence(&self) -> Option<Fence> {
        self.grant.fence().cloned()
    }

    fn kind(&self) -> ChannelKind {
        self.channel.kind()
    }

    /// Something else should go first: shutdown, the lane's role lost, a lane pause, or a more
    /// urgent delivery.
    fn interrupted(&self, next: &ClaimedDelivery, shutdown: &CancellationToken) -> bool {
        shutdown.is_cancelled()
            || !self.grant.valid()
            || self.wake.outranks(next.priority)
            || self.pause.until_ms().is_some()
    }

    /// Waits for the rate limit and a free send slot for `next`; `None` when the lane should put
    /// back what it holds instead. Checked again after each wait: a send that finished meanwhile
    /// may have paused the lane, a claim made meanwhile may have found an alert, and while the
    /// deliveries of something more urgent are being written the lane waits for them.
    ///
    /// A token taken for a send that is then put back stays in hand (`token_in_hand`) for the
    /// next send: the alert that interrupted the news goes with it instead of waiting for
    /// another (at R = 30 that was up to 35 ms more).
    async fn next_slot(
        &self,
        next: &ClaimedDelivery,
        prefetched: Option<&Prefetch>,
        limiter: Option<&LaneBudget>,
        slots: &Arc<Semaphore>,
        token_in_hand: &mut bool,
        shutdown: &CancellationToken,
    ) -> Option<OwnedSemaphorePermit> {
        let overtaken = |lane: &Lane| {
            lane.interrupted(next, shutdown)
                || prefetched.is_some_and(|p| p.outranks(next.priority))
        };
        if overtaken(self) {
            return None;
        }
        self.next_up.set(next.priority);
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.ok()?,
            _ = shutdown.cancelled() => return None,
        };
        if let Some(limiter) = limiter
            && !std::mem::take(token_in_hand)
        {
            tokio::select! {
                _ = limiter.ready(Waiter::Broadcast) => {}
                _ = shutdown.cancelled() => return None,
            }
        }
        loop {
            if overtaken(self) {
                *token_in_hand = limiter.is_some();
                return None;
            }
            if !self.wake.holds_for_fan_out(next.priority) {
                return Some(slot);
            }
            // An alert's fan-out runs: its next chunk (or its end) wakes the lane.
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(25)) => {}
                _ = shutdown.cancelled() => {}
            }
        }
    }

    /// Readies a claim: whatever more urgent was enqueued until now stays ahead of the sends
    /// between parts while the claim runs (until the lane sets what it waits to send next),
    /// and the claim will see it. Returns the claim's lease and until when it holds.
    fn begin_claim(&self) -> (String, i64) {
        self.next_up
            .raise_to(self.wake.raised.load(Ordering::SeqCst));
        self.wake.reset();
        let lease = format!(
            "{}:{}:{}:{}",
            self.instance,
            self.kind(),
            self.grant.fence().map_or(0, |f| f.token),
            LEASE_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        (lease, now_ms() + self.settings.lease.as_millis() as i64)
    }

    /// Claims the next `batch` deliveries of the lane's channel in queue order.
    async fn claim(&self, batch: u32) -> Claim {
        let (lease, lease_until) = self.begin_claim();
        Claim::run(
            self.store.clone(),
            self.fence(),
            self.kind(),
            lease,
            lease_until,
            batch,
        )
        .await
    }

    /// Starts the next claim in the background.
    fn prefetch(&self, batch: u32) -> Prefetch {
        let (lease, lease_until) = self.begin_claim();
        let top = Arc::new(AtomicI16::new(-1));
        let seen = top.clone();
        let store = self.store.clone();
        let kind = self.kind();
        let fence = self.fence();
        let task = tokio::spawn(async move {
            let claim = Claim::run(store, fence, kind, lease, lease_until, batch).await;
            if let Ok(Some(first)) = claim.result.as_ref().map(|c| c.first()) {
                seen.store(first.priority.as_i16(), Ordering::SeqCst);
            }
            claim
        });
        Prefetch { task, top }
    }

    /// Runs until `shutdown`: then stops claiming, finishes the sends in flight, writes their
    /// outcomes and puts back what it had claimed but not sent.
    pub async fn run(self, shutdown: CancellationToken) {
        let kind = self.kind();
        tracing::info!(lane = %kind, rate = self.settings.rate, "lane started");
        self.wake.set_running(true);
        let limiter = Some(self.budget.clone()).filter(|b| b.is_limited());
        let concurrency = self.settings.concurrency.max(1);
        let slots = Arc::new(Semaphore::new(concurrency));
        let (acks, ack_rx) = mpsc::channel::<Outcome>(4096);
        let writer = tokio::spawn(write_acks(self.store.clone(), self.fence(), ack_rx, kind));
        // Keeps each claim's lease alive until its outcomes are written; ends with the lane.
        let mut heartbeats = JoinSet::new();
        let holding = CancellationToken::new();
        let batch = self.settings.batch_size();
        let mut failures = 0u32;
        // A token of the rate taken for a send that was put back (see `next_slot`).
        let mut token_in_hand = false;

        // The next claim, asked for while the current one's second half goes out, so that a
        // slow store (Postgres under load: 15-50 ms a claim) leaves no gap in the lane's rate.
        let mut prefetched: Option<Prefetch> = None;

        'claiming: while !shutdown.is_cancelled() {
            if let Some(until) = self.pause.until_ms() {
                if let Some(p) = prefetched.take() {
                    p.put_back(&self, &acks).await;
                }
                let wait = Duration::from_millis((until - now_ms()).max(0) as u64);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => continue,
                    _ = shutdown.cancelled() => break,
                }
            }
            while heartbeats.try_join_next().is_some() {}
            let claim = match prefetched.take() {
                Some(p) => p.taken().await,
                None => self.claim(batch).await,
            };
            self.wake.claim_done();
            let (lease, lease_until, claimed) = match claim {
                Claim {
                    lease,
                    lease_until,
                    result: Ok(c),
                } => {
                    failures = 0;
                    (lease, lease_until, c)
                }
                Claim { result: Err(e), .. } => {
                    failures += 1;
                    let wait = RetryPolicy::STORE_OUTAGE.delay(failures as i32);
                    tracing::warn!(lane = %kind, error = %e, retry_in_ms = wait.as_millis() as u64, "claim failed");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => continue,
                        _ = shutdown.cancelled() => break,
                    }
                }
            };
            if claimed.is_empty() {
                let now = now_ms();
                let wait = match self.store.next_due(kind).await {
                    Ok(Some(due)) => Duration::from_millis((due - now).max(1) as u64),
                    _ => self.settings.idle_poll,
                }
                .min(self.settings.idle_poll);
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.cancelled() => break,
                }
                continue;
            }

            let hold = Hold::new(
                lease,
                self.store.clone(),
                self.settings.lease,
                &claimed,
                lease_until,
            );
            heartbeats.spawn(hold.clone().keep_alive(holding.clone()));
            let half = claimed.len() / 2;
            let mut rest = claimed.into_iter();
            while let Some(delivery) = rest.next() {
                // Half of the claim left: ask for the next one now, unless something more
                // urgent waits (then this claim is put back first and the next sees it).
                if prefetched.is_none()
                    && rest.len() < half.max(1)
                    && !self.interrupted(&delivery, &shutdown)
                {
                    prefetched = Some(self.prefetch(batch));
                }
                // A prefetched claim that begins with something more urgent (enqueued while
                // it ran) goes first: what this claim still holds goes back.
                let priority = delivery.priority;
                let overtaken = prefetched.as_ref().is_some_and(|p| p.outranks(priority));
                let slot = if overtaken {
                    None
                } else {
                    self.next_slot(
                        &delivery,
                        prefetched.as_ref(),
                        limiter.as_deref(),
                        &slots,
                        &mut token_in_hand,
                        &shutdown,
                    )
                    .await
                };
                let Some(slot) = slot else {
                    put_back(&acks, &hold, std::iter::once(delivery).chain(rest)).await;
                    // A claim made meanwhile that begins with something more urgent is next;
                    // any other goes back too, so that the next claim sees what came.
                    let overtaken = prefetched.as_ref().is_some_and(|p| p.outranks(priority));
                    if !overtaken && let Some(p) = prefetched.take() {
                        p.put_back(&self, &acks).await;
                    }
                    continue 'claiming;
                };
                // It may have waited for its slot longer than the lease lasts (a slow
                // platform): what the lease no longer holds, another claim may own.
                match hold.keeps(delivery.id).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::debug!(lane = %kind, delivery = delivery.id, "no longer held (lease lost or cancelled); not sent");
                        // Ends the lease of one cancelled meanwhile (guarded: one another
                        // claim owns stays as it is); the writer settles it.
                        put_back(&acks, &hold, std::iter::once(delivery)).await;
                        token_in_hand = limiter.is_some();
                        continue;
                    }
                    Err(e) => {
                        token_in_hand = limiter.is_some();
                        tracing::warn!(lane = %kind, error = %e, "could not extend the lease; putting back what is not sent");
                        put_back(&acks, &hold, std::iter::once(delivery).chain(rest)).await;
                        continue 'claiming;
                    }
                }
                let send = Send {
                    channel: self.channel.clone(),
                    settings: self.settings.clone(),
                    pause: self.pause.clone(),
                    store: self.store.clone(),
                    acks: acks.clone(),
                    hold: hold.clone(),
                    limiter: limiter.clone(),
                    next_up: self.next_up.clone(),
                    wake: self.wake.clone(),
                    grant: self.grant.clone(),
                    media: self.media.clone(),
                };
                tokio::spawn(async move {
                    send.deliver(delivery).await;
                    drop(slot);
                });
            }
        }
        if let Some(p) = prefetched.take() {
            p.put_back(&self, &acks).await;
        }

        // Every slot back means every send in flight has queued its outcome.
        let _all = slots.acquire_many(concurrency as u32).await;
        drop(acks);
        if let Err(e) = writer.await {
            tracing::error!(lane = %kind, error = %e, "acknowledgement writer ended abnormally");
        }
        holding.cancel();
        while heartbeats.join_next().await.is_some() {}
        self.wake.set_running(false);
        tracing::info!(lane = %kind, "lane stopped");
    }
}

/// A claim's answer, with the lease it was made under.
struct Claim {
    lease: String,
    lease_until: i64,
    result: StoreResult<Vec<ClaimedDelivery>>,
}

impl Claim {
    async fn run(
        store: Arc<dyn Store>,
        fence: Option<Fence>,
        kind: ChannelKind,
        lease: String,
        lease_until: i64,
        batch: u32,
    ) -> Claim {
        let started = std::time::Instant::now();
        let result = store
            .claim_fenced(fence.as_ref(), kind, &lease, batch, now_ms(), lease_until)
            .await;
        if let Ok(c) = &result {
            tracing::debug!(lane = %kind, claimed = c.len(), top = c.first().map(|d| d.priority.as_str()), ms = started.elapsed().as_millis() as u64, "claim");
        }
        Claim {
            lease,
            lease_until,
            result,
        }
    }
}

/// A claim made in the background while the one before it still sends.
struct Prefetch {
    task: tokio::task::JoinHandle<Claim>,
    /// The priority of its first delivery once it has answered (-1 before).
    top: Arc<AtomicI16>,
}

impl Prefetch {
    /// True once it has answered with something more urgent than `priority`.
    fn outranks(&self, priority: Priority) -> bool {
        self.top.load(Ordering::SeqCst) > priority.as_i16()
    }

    async fn taken(self) -> Claim {
        match self.task.await {
            Ok(claim) => claim,
            // Its rows stay leased until the lease runs out; then housekeeping returns them.
            Err(e) => Claim {
                lease: String::new(),
                lease_until: 0,
                result: Err(crate::store::StoreError::Corrupt(format!(
                    "the claim task ended abnormally: {e}"
                ))),
            },
        }
    }

    /// Returns what it claimed to the queue, unsent.
    async fn put_back(self, lane: &Lane, acks: &mpsc::Sender<Outcome>) {
        let claim = self.taken().await;
        if let Ok(claimed) = claim.result
            && !claimed.is_empty()
        {
            let hold = Hold::new(
                claim.lease,
                lane.store.clone(),
                lane.settings.lease,
                &claimed,
                claim.lease_until,
            );
            put_back(acks, &hold, claimed.into_iter()).await;
        }
    }
}

/// An outcome on its way to the store, with the claim it settles.
type Outcome = (Ack, Arc<Hold>);

/// One claim's lease, kept alive while its deliveries wait for a slot, go out and have their
/// outcomes written: every third of the lease the store extends it on the deliveries it still
/// holds (a guarded update, like the acknowledgements). A delivery it no longer holds — the
/// lease ran out while the store was slow, or the broadcast was cancelled — is not sent.
struct Hold {
    lease: String,
    store: Arc<dyn Store>,
    length: Duration,
    /// The ids the store last confirmed held (sorted), and until when (ms).
    held: Mutex<(Vec<i64>, i64)>,
    /// One renewal at a time.
    renewing: tokio::sync::Mutex<()>,
    /// Deliveries whose outcome is neither written nor dropped.
    open: AtomicUsize,
    settled: Notify,
}

impl Hold {
    fn new(
        lease: String,
        store: Arc<dyn Store>,
        length: Duration,
        claimed: &[ClaimedDelivery],
        until: i64,
    ) -> Arc<Hold> {
        let mut ids: Vec<i64> = claimed.iter().map(|d| d.id).collect();
        ids.sort_unstable();
        Arc::new(Hold {
            lease,
            store,
            length,
            held: Mutex::new((ids, until)),
            renewing: tokio::sync::Mutex::new(()),
            open: AtomicUsize::new(claimed.len()),
            settled: Notify::new(),
        })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, (Vec<i64>, i64)> {
        // The data stays consistent even if a holder panicked: a plain replace.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn until(&self) -> i64 {
        self.held().1
    }

    /// Extends the lease on what it still holds, unless a renewal younger than `fresh` is
    /// held already.
    async fn renew(&self, fresh: Duration) -> StoreResult<()> {
        let _turn = self.renewing.lock().await;
        let length = self.length.as_millis() as i64;
        if self.until() - now_ms() > length - fresh.as_millis() as i64 {
            return Ok(());
        }
        let ids = self.held().0.clone();
        let until = now_ms() + length;
        let mut held = self.store.extend_lease(&self.lease, &ids, until).await?;
        held.sort_unstable();
        *self.held() = (held, until);
        Ok(())
    }

    /// True when `id` may go out now: still held, for at least half the lease (renewed first
    /// when less is left, as when the heartbeat is late behind a slow store).
    async fn keeps(&self, id: i64) -> StoreResult<bool> {
        if self.until() - now_ms() < self.length.as_millis() as i64 / 2 {
            self.renew(self.length / 2).await?;
        }
        let held = self.held();
        Ok(held.1 > now_ms() && held.0.binary_search(&id).is_ok())
    }

    /// One delivery's outcome is written, or it was dropped.
    fn settle(&self) {
        if self.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.settled.notify_one();
        }
    }

    /// Renews every third of the lease until every outcome is settled or the lane stops.
    async fn keep_alive(self: Arc<Self>, stop: CancellationToken) {
        let every = (self.length / 3).max(Duration::from_millis(10));
        while self.open.load(Ordering::Acquire) > 0 {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.settled.notified() => return,
                _ = stop.cancelled() => return,
            }
            if let Err(e) = self.renew(every).await {
                tracing::warn!(lease = %self.lease, error = %e, "could not extend a lease; will try again");
            }
        }
    }
}

async fn put_back(
    acks: &mpsc::Sender<Outcome>,
    hold: &Arc<Hold>,
    deliveries: impl Iterator<Item = ClaimedDelivery>,
) {
    for d in deliveries {
        let ack = Ack {
            delivery_id: d.id,
            lease: hold.lease.clone(),
            outcome: AckOutcome::Release,
        };
        if acks.send((ack, hold.clone())).await.is_err() {
            // The writer is gone; the lease will expire and return the row to the queue.
            return;
        }
    }
}

/// Everything one send task needs.
struct Send {
    channel: Arc<dyn Channel>,
    settings: LaneSettings,
    pause: Arc<LanePause>,
    store: Arc<dyn Store>,
    acks: mpsc::Sender<Outcome>,
    hold: Arc<Hold>,
    /// The lane's rate limit: each part of a long text after the first waits for its own token.
    limiter: Option<Arc<LaneBudget>>,
    next_up: Arc<NextUp>,
    wake: Arc<Wake>,
    grant: Grant,
    media: Arc<MediaSender>,
}

impl Send {
    async fn deliver(self, d: ClaimedDelivery) {
        // Quiet hours: alerts always sound; other topics go silently or wait for the morning.
        let quiet = self
            .settings
            .quiet
            .as_ref()
            .filter(|q| !d.kind.is_alert() && q.is_quiet(chrono::Utc::now()));
        if let Some(q) = quiet
            && q.holds(&d.topic)
        {
            let ack = Ack {
                delivery_id: d.id,
                lease: self.hold.lease.clone(),
                outcome: AckOutcome::Retry {
                    due_at: q.ends_after(chrono::Utc::now()).timestamp_millis(),
                    attempts: d.attempts,
                    error: "held for quiet hours".into(),
                },
            };
            if self.acks.send((ack, self.hold)).await.is_err() {
                tracing::error!(delivery = d.id, "outcome not recorded: writer gone");
            }
            return;
        }
        let (reply_to, edit) = match notice_step(&d, now_ms()) {
            NoticeStep::Plain => (None, None),
            NoticeStep::Send { original, edit } => (original, edit),
            NoticeStep::Wait { until } => {
                // The original is on its way: the notice waits for its outcome (no attempt
                // used up), and then knows whether and what it was.
                self.ack(
                    &d,
                    AckOutcome::Retry {
                        due_at: until,
                        attempts: d.attempts,
                        error: "waits for the message it is about".into(),
                    },
                )
                .await;
                return;
            }
            NoticeStep::Skip(reason) => {
                self.ack(
                    &d,
                    AckOutcome::Skipped {
                        reason: reason.into(),
                    },
                )
                .await;
                return;
            }
        };
        // The check link under the text (none for a drill: it is not in the archive).
        let text = match (&self.settings.footer, &d.public_code) {
            (Some(footer), Some(code)) if d.topic != crate::domain::DRILL_TOPIC => {
                footer.under(&d.text, &d.language, code)
            }
            _ => d.text.clone(),
        };
        let kind = self.channel.kind();
        let media = match d.media_id {
            Some(id) => match self.media.attached(id).await {
                Ok(media) => Some(media),
                Err(outcome) => {
                    self.record(&d, outcome).await;
                    return;
                }
            },
            None => None,
        };
        let message = Outgoing {
            address: d.address.clone(),
            text,
            kind: d.kind,
            priority: d.priority,
            silent: quiet.is_some(),
            language: d.language.clone(),
            last_inbound_at: d.last_inbound_at,
            force_template: d.force_template,
            reply_to,
            // An edited original keeps its check link.
            edit: edit.map(|t| match (&self.settings.footer, &d.parent_public_code) {
                (Some(footer), Some(code)) if d.topic != crate::domain::DRILL_TOPIC => {
                    footer.under(&t, &d.language, code)
                }
                _ => t,
            }),
            notice: d.notice,
            media,
        };
        let Some(outcome) = self.send_parts(&d, &message).await else {
            // Something more urgent waits for the lane: the rest of this text goes after it.
            let ack = Ack {
                delivery_id: d.id,
                lease: self.hold.lease.clone(),
                outcome: AckOutcome::Release,
            };
            if self.acks.send((ack, self.hold)).await.is_err() {
                tracing::error!(lane = %kind, delivery = d.id, "outcome not recorded: writer gone");
            }
            return;
        };
        self.record(&d, outcome).await;
    }

    /// Writes what became of `d` (pausing the lane when the platform throttles it).
    async fn record(&self, d: &ClaimedDelivery, outcome: SendOutcome) {
        let kind = self.channel.kind();
        if let SendOutcome::LaneThrottled { after, reason } = &outcome {
            metrics::counter!("amtsbote_lane_pauses_total", "channel" => kind.as_str())
                .increment(1);
            let until = now_ms() + after.as_millis() as i64;
            if self.pause.extend(until) {
                tracing::warn!(lane = %kind, pause_ms = after.as_millis() as u64, reason = %reason, "platform throttles the lane; pausing");
                if let Err(e) = self.store.set_lane_pause(kind, until, reason).await {
                    tracing::warn!(lane = %kind, error = %e, "could not record the lane pause");
                }
            }
        }
        let outcome = ack_outcome(d, outcome, &self.settings);
        let label = match &outcome {
            AckOutcome::Sent { .. } => "sent",
            AckOutcome::Retry { .. } => "retry",
            AckOutcome::Failed { .. } => "failed",
            AckOutcome::Gone { .. } => "gone",
            AckOutcome::Release => "released",
            AckOutcome::Moved { .. } => "moved",
            AckOutcome::PartSent { .. } => "part",
            AckOutcome::Skipped { .. } => "skipped",
        };
        metrics::counter!("amtsbote_deliveries_total", "channel" => kind.as_str(), "outcome" => label).increment(1);
        if let AckOutcome::Failed { error, .. } = &outcome {
            tracing::warn!(lane = %kind, delivery = d.id, broadcast = d.broadcast_id, error = %error, "delivery failed");
        }
        let ack = Ack {
            delivery_id: d.id,
            lease: self.hold.lease.clone(),
            outcome,
        };
        if self.acks.send((ack, self.hold.clone())).await.is_err() {
            tracing::error!(lane = %kind, delivery = d.id, "outcome not recorded: writer gone");
        }
    }
}

impl Send {
    /// Hands an outcome of `d` to the writer.
    async fn ack(&self, d: &ClaimedDelivery, outcome: AckOutcome) {
        let ack = Ack {
            delivery_id: d.id,
            lease: self.hold.lease.clone(),
            outcome,
        };
        if self.acks.send((ack, self.hold.clone())).await.is_err() {
            tracing::error!(delivery = d.id, "outcome not recorded: writer gone");
        }
    }

    /// Sends the parts of `message` not sent before, each after a token of the rate limit (the
    /// first took its token when its slot was given), and records each part that went out
    /// while more follow, so that a retry starts after it. The outcome is the last part's, or
    /// that of the part that failed; `None` when the rest gives way to something more urgent
    /// (or to a lane pause) and goes back to the queue.
    async fn send_parts(&self, d: &ClaimedDelivery, message: &Outgoing) -> Option<SendOutcome> {
        let parts = self.channel.parts(message, now_ms());
        // A text splits the same way each time; should the way of sending have changed since
        // (a WhatsApp window closed: one template instead), the last part still goes.
        let first = usize::try_from(d.parts_sent)
            .unwrap_or(0)
            .min(parts.len().saturating_sub(1));
        let give_way = || {
            self.wake.outranks(d.priority)
                || self.wake.holds_for_fan_out(d.priority)
                || self.next_up.outranks(d.priority)
                || self.pause.until_ms().is_some()
        };
        let mut outcome = SendOutcome::Permanent("nothing to send".into());
        // The text after a picture whose caption it did not fit answers the message before.
        let follows_media = parts.first().is_some_and(|p| p.media.is_some());
        let mut previous = d.last_part_id.clone();
        for (i, part) in parts.iter().enumerate().skip(first) {
            if i > first {
                let go = match &self.limiter {
                    Some(limiter) => limiter.ready_unless(give_way).await,
                    None => !give_way(),
                };
                // A long text takes a while: each part goes only while the lease still holds.
                if !go || !self.hold.keeps(d.id).await.unwrap_or(false) {
                    return None;
                }
            }
            // The lane's role may have been lost while this part waited (a frozen process
            // wakes up past its lease): another instance sends it now.
            if !self.grant.valid() {
                return None;
            }
            outcome = if part.media.is_some() {
                self.send_media(part).await
            } else if follows_media && i > 0 {
                let reply = Outgoing {
                    reply_to: previous.clone(),
                    ..part.clone()
                };
                self.send_one(&reply).await
            } else {
                self.send_one(part).await
            };
            if let SendOutcome::Sent { platform_id } = &outcome {
                previous = platform_id.clone();
            }
            match &outcome {
                SendOutcome::Sent { platform_id } if i + 1 < parts.len() => {
                    let ack = Ack {
                        delivery_id: d.id,
                        lease: self.hold.lease.clone(),
                        outcome: AckOutcome::PartSent {
                            parts_sent: i32::try_from(i + 1).unwrap_or(i32::MAX),
                            platform_id: platform_id.clone(),
                        },
                    };
                    if self.acks.send((ack, self.hold.clone())).await.is_err() {
                        tracing::error!(delivery = d.id, "part not recorded: writer gone");
                    }
                }
                _ => break,
            }
        }
        Some(outcome)
    }

    /// A message with a medium: by the platform's id, or after its one upload (which may take
    /// longer than a message: the uploader's own time-out applies to it).
    async fn send_media(&self, message: &Outgoing) -> SendOutcome {
        let started = std::time::Instant::now();
        let outcome = self.media.send(message).await;
        metrics::histogram!("amtsbote_send_seconds", "channel" => self.channel.kind().as_str())
            .record(started.elapsed().as_secs_f64());
        outcome
    }

    /// One platform message, within the lane's time-out per send.
    async fn send_one(&self, message: &Outgoing) -> SendOutcome {
        let started = std::time::Instant::now();
        let outcome = match tokio::time::timeout(
            self.settings.send_timeout,
            self.channel.send(message),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) => SendOutcome::Transient(format!(
                "no answer within {} ms",
                self.settings.send_timeout.as_millis()
            )),
        };
        metrics::histogram!("amtsbote_send_seconds", "channel" => self.channel.kind().as_str())
            .record(started.elapsed().as_secs_f64());
        outcome
    }
}

/// What a delivery does about the message it is about (a correction's or retraction's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeStep {
    /// An ordinary message: nothing to look at.
    Plain,
    /// Send the notice about `original` (the platform's id, when known), editing it to `edit`
    /// first where the platform can.
    Send {
        original: Option<String>,
        edit: Option<String>,
    },
    /// The original is in flight (sent or not, its outcome is not written yet): look again at
    /// `until`.
    Wait { until: i64 },
    /// Nothing to tell: the recipient never got the original, or got the corrected text.
    Skip(&'static str),
}

/// How long a notice waits for the outcome of an original in flight, at most.
const NOTICE_WAIT_MS: i64 = 250;

/// Decides what the correction or retraction `d` does, from where the original's delivery to
/// the same subscriber stood when `d` was claimed (at `now`).
pub fn notice_step(d: &ClaimedDelivery, now: i64) -> NoticeStep {
    if !d.kind.is_notice() {
        return NoticeStep::Plain;
    }
    let Some(p) = &d.parent else {
        return NoticeStep::Skip("the recipient never got the message it is about");
    };
    let in_flight = match p.status {
        DeliveryStatus::Leased => true,
        // Cancelled by the retraction while it was being sent: its outcome comes yet.
        DeliveryStatus::Cancelled => p.lease_until.is_some_and(|l| l > now),
        _ => false,
    };
    if in_flight {
        let until = p
            .lease_until
            .unwrap_or(now)
            .clamp(now + 1, now + NOTICE_WAIT_MS);
        return NoticeStep::Wait { until };
    }
    let received = p.status == DeliveryStatus::Sent || p.parts_sent > 0;
    if !received {
        return NoticeStep::Skip("the recipient never got the message it is about");
    }
    // A silent correction, or a retraction's pass of edits (its notices go on their own,
    // first): only the edit.
    let silent = !d.notice;
    if d.kind == BroadcastKind::Correction
        && p.status == DeliveryStatus::Sent
        && p.text_version.unwrap_or(1) >= d.text_version
    {
        return NoticeStep::Skip("the recipient got the corrected text");
    }
    // Only a message of one part is edited: a longer one's other parts would keep the old text.
    let single = p.status == DeliveryStatus::Sent && p.parts_sent == 0;
    let edit = match (single, d.kind, &d.parent_text) {
        (true, BroadcastKind::Correction, Some(text)) => Some(text.clone()),
        // A retraction's notice leaves the edit to its pass of edits.
        (true, BroadcastKind::Retraction, Some(text)) if silent => {
            let line = d.text.lines().next().unwrap_or_default();
            Some(format!("{line}\n\n{text}"))
        }
        _ => None,
    };
    let edit = edit.filter(|_| p.platform_id.is_some());
    if silent && edit.is_none() {
        return NoticeStep::Skip(
            "a silent correction only edits, and this message cannot be edited",
        );
    }
    NoticeStep::Send {
        original: p.platform_id.clone(),
        edit,
    }
}

/// Turns what the platform said into what the queue records.
pub fn ack_outcome(
    d: &ClaimedDelivery,
    outcome: SendOutcome,
    settings: &LaneSettings,
) -> AckOutcome {
    let now = now_ms();
    let retry_at = |after: Duration| now + after.as_millis() as i64;
    match outcome {
        SendOutcome::Sent { platform_id } => AckOutcome::Sent {
            at: now,
            platform_id,
        },
        // The platform refused everyone, not this message: no attempt is used up.
        SendOutcome::LaneThrottled { after, reason } => AckOutcome::Retry {
            due_at: retry_at(after),
            attempts: d.attempts,
            error: reason,
        },
        SendOutcome::RecipientThrottled { after, reason } => {
            failed_or_retry(d.attempts + 1, retry_at(after), reason, settings)
        }
        SendOutcome::Transient(reason) => {
            let attempts = d.attempts + 1;
            failed_or_retry(
                attempts,
                retry_at(settings.retry.delay(attempts)),
                reason,
                settings,
            )
        }
        SendOutcome::Permanent(error) => AckOutcome::Failed {
            attempts: d.attempts + 1,
            error,
        },
        SendOutcome::RecipientGone(error) => AckOutcome::Gone { error },
        SendOutcome::Moved { address } => AckOutcome::Moved { address },
    }
}

fn failed_or_retry(
    attempts: i32,
    due_at: i64,
    error: String,
    settings: &LaneSettings,
) -> AckOutcome {
    if attempts >= settings.retry.max_attempts {
        AckOutcome::Failed {
            attempts,
            error: format!("gave up after {attempts} attempts: {error}"),
        }
    } else {
        AckOutcome::Retry {
            due_at,
            attempts,
            error,
        }
    }
}

/// Writes outcomes in batches: whatever has arrived while the last batch was written. A batch
/// that cannot be written is retried until it is; the lane waits meanwhile (back-pressure).
async fn write_acks(
    store: Arc<dyn Store>,
    fence: Option<Fence>,
    mut rx: mpsc::Receiver<Outcome>,
    kind: ChannelKind,
) {
    let mut received = Vec::with_capacity(512);
    while rx.recv_many(&mut received, 512).await > 0 {
        let (batch, holds): (Vec<Ack>, Vec<Arc<Hold>>) = received.drain(..).unzip();
        let mut failures = 0u32;
        loop {
            match store.acknowledge_fenced(fence.as_ref(), &batch).await {
                Ok(applied) => {
                    let lost = batch.len() as u64 - applied;
                    if lost > 0 {
                        tracing::warn!(lane = %kind, deliveries = lost, "lease lost before the outcome was written; another claim owns them now");
                    }
                    // A part of a long text settles nothing: its delivery is still going out.
                    for (ack, hold) in batch.iter().zip(&holds) {
                        if !matches!(ack.outcome, AckOutcome::PartSent { .. }) {
                            hold.settle();
                        }
                    }
                    break;
                }
                Err(StoreError::RoleLost(role)) => {
                    // The new holder has returned these deliveries to the queue; what went
                    // out of them goes again (at most what was in flight).
                    tracing::warn!(lane = %kind, %role, outcomes = batch.len(), "role lost: outcomes not written; the new holder sends these");
                    for (ack, hold) in batch.iter().zip(&holds) {
                        if !matches!(ack.outcome, AckOutcome::PartSent { .. }) {
                            hold.settle();
                        }
                    }
                    break;
                }
                Err(e) => {
                    failures += 1;
                    let wait = RetryPolicy::STORE_OUTAGE.delay(failures as i32);
                    tracing::warn!(lane = %kind, error = %e, outcomes = batch.len(), retry_in_ms = wait.as_millis() as u64, "could not write outcomes; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ParentDelivery;

    fn notice(
        kind: BroadcastKind,
        version: i32,
        notice: bool,
        parent: Option<ParentDelivery>,
    ) -> ClaimedDelivery {
        ClaimedDelivery {
            id: 2,
            broadcast_id: 20,
            subscriber_id: 7,
            priority: Priority::Alert,
            kind,
            attempts: 0,
            address: "1000".into(),
            language: "de".into(),
            text: "WIDERRUF: Die Meldung vom 1. ist gegenstandslos.\n\nFehlalarm.".into(),
            last_inbound_at: None,
            force_template: false,
            topic: "alerts".into(),
            parts_sent: 0,
            text_version: version,
            notice,
            parent,
            parent_text: Some("Großbrand im Hafen".into()),
            public_code: None,
            parent_public_code: None,
            media_id: None,
            last_part_id: None,
        }
    }

    fn parent(status: DeliveryStatus, version: i32, lease_until: Option<i64>) -> ParentDelivery {
        ParentDelivery {
            status,
            platform_id: Some("41".into()),
            parts_sent: 0,
            text_version: Some(version),
            lease_until,
        }
    }

    #[test]
    fn a_notice_goes_only_to_whoever_got_what_it_is_about() {
        let now = 1_000_000;
        let sent = parent(DeliveryStatus::Sent, 1, None);
        // A retraction's notice replies without editing; its pass of edits only edits.
        assert_eq!(
            notice_step(
                &notice(BroadcastKind::Retraction, 1, true, Some(sent.clone())),
                now
            ),
            NoticeStep::Send {
                original: Some("41".into()),
                edit: None
            }
        );
        assert_eq!(
            notice_step(
                &notice(BroadcastKind::Retraction, 1, false, Some(sent.clone())),
                now
            ),
            NoticeStep::Send {
                original: Some("41".into()),
                edit: Some(
                    "WIDERRUF: Die Meldung vom 1. ist gegenstandslos.\n\nGroßbrand im Hafen".into()
                )
            }
        );
        // A correction edits and tells; not those who got its text already.
        assert!(matches!(
            notice_step(
                &notice(BroadcastKind::Correction, 2, true, Some(sent.clone())),
                now
            ),
            NoticeStep::Send { edit: Some(_), .. }
        ));
        assert!(matches!(
            notice_step(
                &notice(
                    BroadcastKind::Correction,
                    2,
                    true,
                    Some(parent(DeliveryStatus::Sent, 2, None))
                ),
                now
            ),
            NoticeStep::Skip(_)
        ));
        // In flight: wait for its outcome, a little at a time.
        assert_eq!(
            notice_step(
                &notice(
                    BroadcastKind::Retraction,
                    1,
                    true,
                    Some(parent(DeliveryStatus::Leased, 1, Some(now + 30_000)))
                ),
                now
            ),
            NoticeStep::Wait {
                until: now + NOTICE_WAIT_MS
            }
        );
        assert!(matches!(
            notice_step(
                &notice(
                    BroadcastKind::Retraction,
                    1,
                    true,
                    Some(parent(DeliveryStatus::Cancelled, 1, Some(now + 100)))
                ),
                now
            ),
            NoticeStep::Wait { .. }
        ));
        // Never received: nothing.
        for p in [
            None,
            Some(parent(DeliveryStatus::Cancelled, 1, None)),
            Some(parent(DeliveryStatus::Failed, 1, None)),
            Some(parent(DeliveryStatus::Pending, 1, None)),
        ] {
            assert!(matches!(
                notice_step(&notice(BroadcastKind::Retraction, 1, true, p), now),
                NoticeStep::Skip(_)
            ));
        }
        // A silent correction of a message in parts cannot edit it: nothing is sent.
        let parts = ParentDelivery {
            parts_sent: 2,
            ..sent
        };
        assert!(matches!(
            notice_step(
                &notice(BroadcastKind::Correction, 2, false, Some(parts)),
                now
            ),
            NoticeStep::Skip(_)
        ));
        assert_eq!(
            notice_step(&notice(BroadcastKind::Alert, 1, true, None), now),
            NoticeStep::Plain
        );
    }
}
