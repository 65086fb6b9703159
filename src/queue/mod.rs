//! The durable priority queue at work: fan-out writes deliveries, one lane per channel claims
//! and sends them, housekeeping returns expired leases and closes finished broadcasts.
//! `Engine::start` runs all of it for `amtsbote run` and for the demo alike.

pub mod budget;
pub mod dispatcher;
pub mod fanout;
pub mod limiter;
pub mod media;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI16, AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::channels::Channel;
use crate::domain::{ChannelKind, InstanceRole, Priority, now_ms};
use crate::roles::Roles;
use crate::store::Store;

pub use budget::LaneBudget;
pub use dispatcher::Lane;

pub use crate::domain::RetryPolicy;

/// Percent of a lane's rate kept for the conversation's replies, unless configured.
pub const DEFAULT_REPLY_SHARE: u32 = 15;

/// How one lane works.
#[derive(Debug, Clone)]
pub struct LaneSettings {
    /// Messages per second; 0 = unlimited.
    pub rate: u32,
    pub concurrency: usize,
    pub batch_max: u32,
    pub send_timeout: Duration,
    pub lease: Duration,
    pub idle_poll: Duration,
    pub retry: RetryPolicy,
    /// Quiet hours, if the city has them: news silent or held, alerts always sound.
    pub quiet: Option<Arc<crate::domain::time::QuietHours>>,
    /// Percent of `rate` kept for replies to people who just wrote (at least one message per
    /// second), which broadcasts cannot take; replies take more while broadcasts do not wait.
    pub reply_share: u32,
    /// The check link under every message to citizens, when the archive is on.
    pub footer: Option<Arc<crate::services::check::Footer>>,
}

impl LaneSettings {
    /// About 100 ms of the lane's rate, so that an alert waits at most that long behind news.
    pub fn batch_size(&self) -> u32 {
        if self.rate == 0 {
            self.batch_max
        } else {
            (self.rate / 10).clamp(1, self.batch_max)
        }
    }
}

impl Default for LaneSettings {
    fn default() -> Self {
        LaneSettings {
            rate: 0,
            concurrency: 32,
            batch_max: 500,
            send_timeout: Duration::from_secs(10),
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_millis(500),
            retry: RetryPolicy::default(),
            quiet: None,
            reply_share: DEFAULT_REPLY_SHARE,
            footer: None,
        }
    }
}

/// A lane's wake-up: a notification plus the highest priority enqueued since its last claim,
/// which tells the lane whether to put back what it holds and claim again.
#[derive(Debug)]
pub struct Wake {
    notify: Notify,
    raised: AtomicI16,
    /// Whether a lane runs on this wake-up (fan-out waits only for lanes that do).
    running: AtomicBool,
    /// A signal after each claim the lane has finished.
    claimed: Notify,
    /// The priority of the most urgent fan-out this process is writing (-1: none) and when the
    /// latest of that priority began (ms): the lane holds what is less urgent meanwhile.
    fanning: AtomicI16,
    fanning_since: AtomicI64,
}

impl Default for Wake {
    fn default() -> Self {
        Wake {
            notify: Notify::new(),
            raised: AtomicI16::new(-1),
            running: AtomicBool::new(false),
            claimed: Notify::new(),
            fanning: AtomicI16::new(-1),
            fanning_since: AtomicI64::new(0),
        }
    }
}

impl Wake {
    pub fn raise(&self, priority: Priority) {
        self.raised.fetch_max(priority.as_i16(), Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// Something was stopped (a retraction): whatever the lane holds goes back and it claims
    /// again, so that a cancelled delivery it holds is not sent and the notices go first.
    pub fn interrupt(&self) {
        self.raised.store(i16::MAX, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// Called right before a claim: what was enqueued until now, the claim will see.
    fn reset(&self) {
        self.raised.store(-1, Ordering::SeqCst);
    }

    /// True when something more urgent than `priority` was enqueued since the last claim.
    fn outranks(&self, priority: Priority) -> bool {
        self.raised.load(Ordering::SeqCst) > priority.as_i16()
    }

    async fn notified(&self) {
        self.notify.notified().await;
    }

    /// A claim of the lane has answered.
    fn claim_done(&self) {
        self.claimed.notify_waiters();
    }

    /// Whether a lane runs on this wake-up.
    fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::SeqCst);
    }

    /// True while this process writes the deliveries of a broadcast more urgent than
    /// `priority`, for at most `FAN_OUT_HOLD` after the latest such fan-out began: a lane
    /// that has sent what was written so far of an alert then waits for the rest of it
    /// instead of going on with the news in between.
    fn holds_for_fan_out(&self, priority: Priority) -> bool {
        self.fanning.load(Ordering::SeqCst) > priority.as_i16()
            && now_ms() - self.fanning_since.load(Ordering::SeqCst)
                < FAN_OUT_HOLD.as_millis() as i64
    }
}

/// How long lanes hold less urgent deliveries for an urgent fan-out at most: a fan-out that
/// takes longer (a store in trouble) must not stop the news for good.
pub const FAN_OUT_HOLD: Duration = Duration::from_secs(10);

/// A lane pause the platform asked for ("retry after"), shared with stats and health.
#[derive(Debug, Default)]
pub struct LanePause {
    until_ms: AtomicI64,
}

impl LanePause {
    /// Pauses until `until_ms` unless a longer pause is already on.
    pub fn extend(&self, until_ms: i64) -> bool {
        self.until_ms.fetch_max(until_ms, Ordering::SeqCst) < until_ms
    }

    pub fn until_ms(&self) -> Option<i64> {
        let until = self.until_ms.load(Ordering::SeqCst);
        (until > now_ms()).then_some(until)
    }
}

/// Wake-ups shared by everything that enqueues: fan-out raises the lanes, a release raises
/// fan-out.
#[derive(Debug, Default)]
pub struct Signals {
    lanes: HashMap<ChannelKind, Arc<Wake>>,
    pauses: HashMap<ChannelKind, Arc<LanePause>>,
    fan_out: Notify,
    /// Broadcasts released in this process, handed to fan-out before it asks the store.
    fresh: std::sync::Mutex<Vec<crate::store::Broadcast>>,
    /// Urgent broadcasts whose deliveries this process is writing: id → (priority, began ms).
    fanning: std::sync::Mutex<HashMap<i64, (Priority, i64)>>,
}

impl Signals {
    pub fn new() -> Self {
        Signals {
            lanes: ChannelKind::ALL
                .iter()
                .map(|c| (*c, Arc::new(Wake::default())))
                .collect(),
            pauses: ChannelKind::ALL
                .iter()
                .map(|c| (*c, Arc::new(LanePause::default())))
                .collect(),
            fan_out: Notify::new(),
            fresh: std::sync::Mutex::new(Vec::new()),
            fanning: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The deliveries of an urgent broadcast are about to be written: until they are, the
    /// lanes hold what is less urgent (see `Wake::holds_for_fan_out`). Other broadcasts
    /// change nothing.
    pub fn fan_out_began(&self, id: i64, priority: Priority) {
        if priority < Priority::Urgent {
            return;
        }
        self.update_fanning(|fanning| {
            fanning.entry(id).or_insert((priority, now_ms()));
        });
    }

    /// The fan-out of `id` has ended (done, or stopped): the lanes go on.
    pub fn fan_out_ended(&self, id: i64) {
        self.update_fanning(|fanning| {
            fanning.remove(&id);
        });
        for wake in self.lanes.values() {
            wake.notify.notify_one();
        }
    }

    fn update_fanning(&self, change: impl FnOnce(&mut HashMap<i64, (Priority, i64)>)) {
        let mut fanning = self.fanning.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut fanning);
        // An entry whose fan-out never ran (its process stopped first) holds nothing anymore.
        let stale = now_ms() - FAN_OUT_HOLD.as_millis() as i64;
        fanning.retain(|_, (_, since)| *since > stale);
        let top = fanning.values().map(|(p, _)| *p).max();
        let since = fanning
            .values()
            .filter(|(p, _)| Some(*p) == top)
            .map(|(_, since)| *since)
            .max()
            .unwrap_or(0);
        for wake in self.lanes.values() {
            wake.fanning_since.store(since, Ordering::SeqCst);
            wake.fanning
                .store(top.map_or(-1, Priority::as_i16), Ordering::SeqCst);
        }
    }

    /// Deliveries of `priority` were enqueued: every lane looks at once.
    pub fn enqueued(&self, priority: Priority) {
        for wake in self.lanes.values() {
            wake.raise(priority);
        }
    }

    /// Resolves once every running lane has finished a claim begun after this call: fan-out
    /// lets the lanes take an urgent broadcast's first chunk before it writes the rest, since
    /// on SQLite a claim waits for a chunk's transaction.
    pub fn next_claims(&self) -> impl std::future::Future<Output = ()> + '_ {
        let mut waiting: Vec<_> = self
            .lanes
            .values()
            .filter(|w| w.running.load(Ordering::SeqCst))
            .map(|w| Box::pin(w.claimed.notified()))
            .collect();
        for claimed in &mut waiting {
            claimed.as_mut().enable();
        }
        async move {
            for claimed in waiting {
                claimed.await;
            }
        }
    }

    /// A broadcast was released: fan-out starts at once instead of at its next poll.
    pub fn released(&self) {
        self.fan_out.notify_one();
    }

    /// Like `released`, handing over the broadcast itself, so fan-out can start on it without
    /// first asking the store what was released (one round trip less for an alert).
    pub fn released_broadcast(&self, broadcast: &crate::store::Broadcast) {
        if broadcast.status == crate::domain::BroadcastStatus::Released
            && let Ok(mut fresh) = self.fresh.lock()
        {
            fresh.push(broadcast.clone());
            drop(fresh);
            self.fan_out_began(broadcast.id, broadcast.priority);
        }
        self.fan_out.notify_one();
    }

    fn take_fresh(&self) -> Vec<crate::store::Broadcast> {
        self.fresh
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default()
    }

    pub fn wake(&self, channel: ChannelKind) -> Arc<Wake> {
        self.lanes.get(&channel).cloned().unwrap_or_default()
    }

    pub fn pause(&self, channel: ChannelKind) -> Arc<LanePause> {
        self.pauses.get(&channel).cloned().unwrap_or_default()
    }
}

impl crate::services::QueueWake for Signals {
    fn released(&self, broadcast: &crate::store::Broadcast) {
        self.released_broadcast(broadcast);
    }

    fn retracted(&self, notice: &crate::store::Broadcast) {
        for wake in self.lanes.values() {
            wake.interrupt();
        }
        self.released_broadcast(notice);
    }
}

/// How fan-out and housekeeping work.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// This instance's name among those sharing the database (`instance.id`); stable across
    /// restarts, so roles and leases say who holds them.
    pub instance: String,
    pub fan_out_chunk: u32,
    pub poll: Duration,
    pub housekeeping: Duration,
    /// How long a sent message's platform id is kept (`corrections.keep_days`).
    pub keep_platform_ids: Duration,
    /// The city's districts: a targeted broadcast's districts are drawn from them.
    pub areas: Option<std::sync::Arc<crate::domain::area::Catalogue>>,
    /// How long housekeeping keeps a picture or document after its broadcasts ended
    /// (`media.keep_days`).
    pub media_keep: Duration,
    /// The outlets and what each takes: fan-out writes their rows (`[[outlets]]`).
    pub outlets: Arc<[crate::domain::outlet::OutletRoute]>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            instance: hostname(),
            fan_out_chunk: 25_000,
            poll: Duration::from_millis(250),
            housekeeping: Duration::from_millis(500),
            keep_platform_ids: Duration::from_secs(30 * 86_400),
            areas: None,
            media_keep: Duration::from_secs(30 * 86_400),
            outlets: Arc::new([]),
        }
    }
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "amtsbote".into())
}

/// The running queue: fan-out, one lane per channel, housekeeping. Each task yields its name
/// when it ends, so whoever waits on `tasks` can say which part stopped. Fan-out runs on every
/// instance; a lane and housekeeping run where their role is held (see `roles`).
pub struct Engine {
    pub signals: Arc<Signals>,
    /// The roles of this instance; the rest of the service runs its own parts under them too.
    pub roles: Arc<Roles>,
    pub tasks: JoinSet<String>,
    /// Each lane's rate budget, which the conversation's replies on its platform share.
    pub budgets: HashMap<ChannelKind, Arc<LaneBudget>>,
}

impl Engine {
    pub fn start(
        store: Arc<dyn Store>,
        lanes: Vec<(Arc<dyn Channel>, LaneSettings)>,
        settings: EngineSettings,
        shutdown: CancellationToken,
    ) -> Engine {
        let signals = Arc::new(Signals::new());
        let roles = Roles::new(store.clone(), settings.instance.clone());
        let mut tasks = JoinSet::new();
        {
            // Another instance's fan-out, or a release by another process (the CLI), wakes
            // this one's fan-out and lanes at once; the poll covers a notice missed while the
            // connection was down.
            let (heard, store, stop) = (signals.clone(), store.clone(), shutdown.clone());
            tasks.spawn(async move {
                store
                    .listen_enqueued(
                        Arc::new(move |p| {
                            heard.released();
                            heard.enqueued(p);
                        }),
                        stop.clone(),
                    )
                    .await;
                // Nobody else can tell (an in-memory database): nothing to listen for.
                stop.cancelled().await;
                "listening for other instances' deliveries".to_string()
            });
        }
        let fan_out = fanout::run(
            store.clone(),
            signals.clone(),
            settings.clone(),
            shutdown.clone(),
        );
        tasks.spawn(async move {
            fan_out.await;
            "fan-out".to_string()
        });
        let keeping = {
            let (store, every, keep, media_keep) = (
                store.clone(),
                settings.housekeeping,
                settings.keep_platform_ids,
                settings.media_keep,
            );
            roles.clone().run_as(
                InstanceRole::Housekeeping,
                shutdown.clone(),
                move |_, stop| housekeeping(store.clone(), every, keep, media_keep, stop),
            )
        };
        tasks.spawn(async move {
            keeping.await;
            "housekeeping".to_string()
        });
        let mut budgets = HashMap::new();
        for (channel, lane_settings) in lanes {
            let kind = channel.kind();
            let budget = Arc::new(LaneBudget::new(
                lane_settings.rate,
                lane_settings.reply_share,
            ));
            budgets.insert(kind, budget.clone());
            let (store, signals, instance) =
                (store.clone(), signals.clone(), settings.instance.clone());
            let work = move |grant: crate::roles::Grant, stop: CancellationToken| {
                let lane = Lane::new(
                    channel.clone(),
                    store.clone(),
                    lane_settings.clone(),
                    signals.wake(kind),
                    signals.pause(kind),
                    instance.clone(),
                    budget.clone(),
                )
                .with_grant(grant.clone());
                let store = store.clone();
                async move {
                    // What the holder before leased (a killed or cut-off instance, or this
                    // one's earlier life) goes back to the queue before the first claim.
                    match store.take_over_lane(kind, grant.fence()).await {
                        Ok(0) => {}
                        Ok(n) => {
                            tracing::warn!(lane = %kind, deliveries = n, "took over the lane: returned what the holder before had leased to the queue")
                        }
                        Err(e) => {
                            tracing::warn!(lane = %kind, error = %e, "could not take over the lane; will try again");
                            return;
                        }
                    }
                    lane.run(stop).await
                }
            };
            let running = roles
                .clone()
                .run_as(InstanceRole::Lane(kind), shutdown.clone(), work);
            tasks.spawn(async move {
                running.await;
                format!("{kind} lane")
            });
        }
        Engine {
            signals,
            roles,
            tasks,
            budgets,
        }
    }

    /// Waits for every task; call after cancelling the shutdown token.
    pub async fn join(mut self) {
        while let Some(ended) = self.tasks.join_next().await {
            match ended {
                Ok(name) => tracing::debug!(task = %name, "stopped"),
                Err(e) => tracing::error!(error = %e, "a queue task ended abnormally"),
            }
        }
    }
}

/// Meta retries a webhook for up to seven days; an incoming message id is kept that long.
pub const INBOUND_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// Every so many housekeeping rounds, the slower chores: the gauges `/metrics` shows and
/// forgetting old incoming message ids.
const SLOW_EVERY: u32 = 10;

/// Returns expired leases to the queue and closes broadcasts with nothing left to send; every
/// `SLOW_EVERY` rounds also refreshes the gauges, forgets incoming message ids past Meta's
/// retry window, forgets platform ids and outlet posts past `corrections.keep_days` and
/// deletes media past `media.keep_days`.
async fn housekeeping(
    store: Arc<dyn Store>,
    every: Duration,
    keep_platform_ids: Duration,
    media_keep: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut gauges = Gauges::default();
    let mut round: u32 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        if let Err(e) = store.upkeep().await {
            tracing::warn!(error = %e, "database upkeep failed; will retry");
        }
        match store.reclaim_expired(now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(deliveries = n, "leases expired; returned to the queue"),
            Err(e) => tracing::warn!(error = %e, "could not return expired leases; will retry"),
        }
        if let Err(e) = store.expire_confirmations(now_ms()).await {
            tracing::warn!(error = %e, "could not delete expired confirmations; will retry");
        }
        match store.finish_broadcasts().await {
            Ok(done) => {
                for id in done {
                    tracing::info!(broadcast = id, "broadcast done");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not close finished broadcasts; will retry"),
        }
        // The first round too, so `/metrics` has its gauges from the start.
        if round.is_multiple_of(SLOW_EVERY) {
            gauges.refresh(&*store).await;
            match store.forget_inbound(now_ms() - INBOUND_RETENTION_MS).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(messages = n, "forgot old incoming message ids"),
                Err(e) => {
                    tracing::warn!(error = %e, "could not forget old incoming message ids; will retry")
                }
            }
            let keep_ms = i64::try_from(media_keep.as_millis()).unwrap_or(i64::MAX);
            match store.forget_media(now_ms().saturating_sub(keep_ms)).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    media = n,
                    "deleted pictures and documents past media.keep_days"
                ),
                Err(e) => tracing::warn!(error = %e, "could not delete old media; will retry"),
            }
        }
        // Once in a while (and at the start): a scan of the sent deliveries, no hurry.
        if round.is_multiple_of(SLOW_EVERY * 120) {
            let before = now_ms() - keep_platform_ids.as_millis() as i64;
            match store.forget_platform_ids(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deliveries = n, "forgot the platform ids of old messages"),
                Err(e) => {
                    tracing::warn!(error = %e, "could not forget old platform ids; will retry")
                }
            }
            match store.forget_outlet_posts(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "forgot the outlet posts of old broadcasts"),
                Err(e) => {
                    tracing::warn!(error = %e, "could not forget old outlet posts; will retry")
                }
            }
        }
        round = round.wrapping_add(1);
    }
}

/// The gauges of `/metrics` that need the database (queue depth, subscribers): kept current
/// here, so a scrape costs the pool the lanes use nothing.
#[derive(Default)]
struct Gauges {
    /// Subscriber series set before: one that vanished from the counts is set to 0.
    subscribers: std::collections::HashSet<(ChannelKind, String)>,
}

impl Gauges {
    async fn refresh(&mut self, store: &dyn Store) {
        match store.queue_depth().await {
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
            Err(e) => tracing::warn!(error = %e, "metrics: queue depth unavailable; will retry"),
        }
        match store.subscriber_counts().await {
            Ok(counts) => {
                let mut seen = std::collections::HashSet::new();
                for (channel, topic, n) in counts {
                    metrics::gauge!("amtsbote_subscribers", "channel" => channel.as_str(), "topic" => topic.clone())
                        .set(n as f64);
                    seen.insert((channel, topic));
                }
                for (channel, topic) in self.subscribers.difference(&seen) {
                    metrics::gauge!("amtsbote_subscribers", "channel" => channel.as_str(), "topic" => topic.clone())
                        .set(0.0);
                }
                self.subscribers.extend(seen);
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: subscriber counts unavailable; will retry")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_hold_what_is_less_urgent_while_an_alert_is_written_and_go_on_after() {
        let signals = Signals::new();
        let wake = signals.wake(ChannelKind::Telegram);
        signals.fan_out_began(1, Priority::Normal);
        assert!(!wake.holds_for_fan_out(Priority::Low), "news holds nothing");
        signals.fan_out_began(2, Priority::Alert);
        assert!(wake.holds_for_fan_out(Priority::Normal));
        assert!(wake.holds_for_fan_out(Priority::Urgent));
        assert!(!wake.holds_for_fan_out(Priority::Alert), "alerts go on");
        signals.fan_out_began(3, Priority::Urgent);
        signals.fan_out_ended(2);
        assert!(
            wake.holds_for_fan_out(Priority::Normal),
            "an urgent one still runs"
        );
        assert!(!wake.holds_for_fan_out(Priority::Urgent));
        signals.fan_out_ended(3);
        assert!(!wake.holds_for_fan_out(Priority::Low));
    }

    #[test]
    fn a_fan_out_that_never_ends_holds_the_news_no_longer_than_the_bound() {
        let signals = Signals::new();
        let wake = signals.wake(ChannelKind::Whatsapp);
        signals.fan_out_began(7, Priority::Alert);
        let long_ago = now_ms() - FAN_OUT_HOLD.as_millis() as i64 - 1;
        wake.fanning_since.store(long_ago, Ordering::SeqCst);
        assert!(!wake.holds_for_fan_out(Priority::Normal));
    }
}
