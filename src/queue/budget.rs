//! A lane's rate budget shared by its broadcasts and the conversation's replies on the same
//! platform (the platform counts both against one bot or number). One waiter at a time holds the
//! turn and waits for the lane's token; when it is done the turn goes to the next waiter: staff
//! replies first, then citizens' replies and broadcasts, of which replies take at least their
//! reserved share while both wait. Either takes the whole rate while the other does not wait.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota};
use tokio::sync::oneshot;

use super::limiter::LaneLimiter;
use crate::channels::{Addressee, ReplyPace};

/// Who waits for the lane's next token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiter {
    /// A reply to a staff member: before everything else.
    Staff,
    /// A reply to a citizen who just wrote: their reserved share while broadcasts wait.
    Citizen,
    /// A message of a broadcast (the lane's claims).
    Broadcast,
}

/// Waiters in line, one queue per kind.
#[derive(Default)]
struct Line {
    /// Someone holds the turn (waits for the token or sends).
    taken: bool,
    staff: VecDeque<oneshot::Sender<Turn>>,
    citizens: VecDeque<oneshot::Sender<Turn>>,
    broadcasts: VecDeque<oneshot::Sender<Turn>>,
}

struct Shared {
    line: Mutex<Line>,
    /// Citizens' replies' reserved share: the turn goes to a citizen over a waiting broadcast
    /// whenever this bucket has a token.
    reserve: DefaultDirectRateLimiter,
}

impl Shared {
    fn line(&self) -> MutexGuard<'_, Line> {
        self.line.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands the turn to the next waiter, or frees it when nobody waits.
    fn pass_on(self: &Arc<Self>) {
        loop {
            let next = {
                let mut line = self.line();
                let both = !line.citizens.is_empty() && !line.broadcasts.is_empty();
                let next = if let Some(s) = line.staff.pop_front() {
                    Some(s)
                } else if both && self.reserve.check().is_ok() {
                    line.citizens.pop_front()
                } else if both {
                    line.broadcasts.pop_front()
                } else {
                    line.citizens
                        .pop_front()
                        .or_else(|| line.broadcasts.pop_front())
                };
                match next {
                    Some(next) => next,
                    None => {
                        line.taken = false;
                        return;
                    }
                }
            };
            match next.send(Turn {
                shared: Some(self.clone()),
            }) {
                Ok(()) => return,
                // That waiter gave up meanwhile: the next one.
                Err(mut unclaimed) => {
                    unclaimed.shared = None;
                }
            }
        }
    }
}

/// Holding the lane's turn; dropping it hands the turn on.
struct Turn {
    shared: Option<Arc<Shared>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.pass_on();
        }
    }
}

/// The rate budget of one lane: see the module's comment. Unlimited lanes let everyone through.
pub struct LaneBudget {
    limiter: Option<LaneLimiter>,
    shared: Arc<Shared>,
    reserved: u32,
}

impl LaneBudget {
    /// A lane of `rate` messages per second (0 = unlimited) of which replies to citizens keep
    /// `reply_share_percent` (at least one message per second) while broadcasts wait.
    pub fn new(rate: u32, reply_share_percent: u32) -> LaneBudget {
        let reserved = Self::reserved_for(rate, reply_share_percent);
        let per = Duration::from_secs_f64(1.0 / f64::from(reserved.max(1)));
        let quota = Quota::with_period(per)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        LaneBudget {
            limiter: LaneLimiter::new(rate),
            shared: Arc::new(Shared {
                line: Mutex::new(Line::default()),
                reserve: DefaultDirectRateLimiter::direct(quota),
            }),
            reserved,
        }
    }

    /// Messages per second kept for replies to citizens: `percent` of `rate`, at least one
    /// (0 for an unlimited lane, which needs no reserve).
    pub fn reserved_for(rate: u32, percent: u32) -> u32 {
        if rate == 0 {
            0
        } else {
            (u64::from(rate) * u64::from(percent.min(100)) / 100).clamp(1, u64::from(rate)) as u32
        }
    }

    /// The reserved share, in messages per second (0 when unlimited).
    pub fn reserved(&self) -> u32 {
        self.reserved
    }

    /// Whether the lane has a rate limit at all.
    pub fn is_limited(&self) -> bool {
        self.limiter.is_some()
    }

    /// Waits for the turn in line as `who`; `None` when the lane is unlimited (no line).
    async fn turn(&self, who: Waiter) -> Option<Turn> {
        self.limiter.as_ref()?;
        let waiting = {
            let mut line = self.shared.line();
            if !line.taken {
                line.taken = true;
                None
            } else {
                let (tx, rx) = oneshot::channel();
                match who {
                    Waiter::Staff => line.staff.push_back(tx),
                    Waiter::Citizen => line.citizens.push_back(tx),
                    Waiter::Broadcast => line.broadcasts.push_back(tx),
                }
                Some(rx)
            }
        };
        match waiting {
            None => Some(Turn {
                shared: Some(self.shared.clone()),
            }),
            // A sender is only dropped by a turn handed on: then it carries the turn.
            Some(rx) => rx.await.ok(),
        }
    }

    /// Waits until one message of `who` may go out.
    pub async fn ready(&self, who: Waiter) {
        let turn = self.turn(who).await;
        if let Some(limiter) = &self.limiter {
            limiter.ready().await;
        }
        drop(turn);
    }

    /// Like `ready` for a broadcast, but gives up (false, no token taken) once `give_up` says
    /// so; asked again before each try for the token.
    pub async fn ready_unless(&self, give_up: impl Fn() -> bool) -> bool {
        if give_up() {
            return false;
        }
        let turn = self.turn(Waiter::Broadcast).await;
        let go = match &self.limiter {
            Some(limiter) => limiter.ready_unless(give_up).await,
            None => !give_up(),
        };
        drop(turn);
        go
    }
}

#[async_trait::async_trait]
impl ReplyPace for LaneBudget {
    async fn reply_turn(&self, to: Addressee) {
        let who = match to {
            Addressee::Staff => Waiter::Staff,
            Addressee::Citizen => Waiter::Citizen,
        };
        self.ready(who).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use super::*;

    #[test]
    fn the_reserve_is_a_share_of_the_rate_and_at_least_one() {
        assert_eq!(LaneBudget::reserved_for(0, 15), 0);
        assert_eq!(LaneBudget::reserved_for(30, 15), 4);
        assert_eq!(LaneBudget::reserved_for(5, 15), 1);
        assert_eq!(LaneBudget::reserved_for(1000, 15), 150);
        assert_eq!(LaneBudget::reserved_for(10, 500), 10);
    }

    #[tokio::test]
    async fn an_unlimited_lane_lets_everyone_through() {
        let budget = LaneBudget::new(0, 15);
        assert!(!budget.is_limited());
        for _ in 0..10_000 {
            budget.ready(Waiter::Citizen).await;
        }
        assert!(!budget.ready_unless(|| true).await);
    }

    /// Broadcasts and citizens' replies both wait all the time: the replies get about their
    /// share, the broadcasts the rest, and a staff reply goes next.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replies_keep_their_share_against_a_broadcast_at_the_cap_and_staff_go_first() {
        let budget = Arc::new(LaneBudget::new(100, 20));
        let (replies, broadcasts) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let stop = tokio_util::sync::CancellationToken::new();
        let mut tasks = Vec::new();
        for (who, count, waiters) in [
            (Waiter::Citizen, replies.clone(), 8),
            (Waiter::Broadcast, broadcasts.clone(), 2),
        ] {
            for _ in 0..waiters {
                let (budget, count, stop) = (budget.clone(), count.clone(), stop.clone());
                tasks.push(tokio::spawn(async move {
                    while !stop.is_cancelled() {
                        budget.ready(who).await;
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                }));
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let asked = Instant::now();
        budget.ready(Waiter::Staff).await;
        let staff_wait = asked.elapsed();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        stop.cancel();
        for t in tasks {
            let _ = t.await;
        }
        let (r, b) = (
            replies.load(Ordering::SeqCst) as f64,
            broadcasts.load(Ordering::SeqCst) as f64,
        );
        let share = r / (r + b);
        assert!(
            (0.15..=0.3).contains(&share),
            "replies {r}, broadcasts {b}: share {share}"
        );
        assert!(r + b <= 2.0 * 100.0 + 10.0, "over the rate: {}", r + b);
        assert!(
            staff_wait < Duration::from_millis(100),
            "staff waited {staff_wait:?}"
        );
    }

    /// Nobody else waits: citizens' replies take the whole rate.
    #[tokio::test]
    async fn replies_take_the_whole_rate_of_an_idle_lane() {
        let budget = LaneBudget::new(50, 10);
        let started = Instant::now();
        for _ in 0..40 {
            budget.ready(Waiter::Citizen).await;
        }
        assert!(
            started.elapsed() < Duration::from_millis(1200),
            "{:?} for 40 at 50/s",
            started.elapsed()
        );
    }
}
