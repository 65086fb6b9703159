//! A lane's rate limit: a GCRA token bucket (`governor`) whose burst is about 0.5 % of the rate
//! and whose steady rate leaves room for that burst and for arrival jitter, so that no one-second
//! window at the platform sees more than the configured rate.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};

/// How much later than planned a message may arrive at the platform (client and network
/// scheduling), as a fraction of a second: the steady rate is lowered by this fraction so that
/// bunching stays under the cap. At 0.005 the simulator counted 1,001-1,004 in one second at
/// R = 1,000 on a loaded two-core machine.
const ARRIVAL_JITTER: f64 = 0.012;

pub struct LaneLimiter {
    limiter: DefaultDirectRateLimiter,
    clock: DefaultClock,
}

impl LaneLimiter {
    /// `None` for 0, which means unlimited.
    pub fn new(rate_per_second: u32) -> Option<Self> {
        Some(LaneLimiter {
            limiter: DefaultDirectRateLimiter::direct(Self::quota_for(rate_per_second)?),
            clock: DefaultClock::default(),
        })
    }

    /// The bucket for a lane of `rate` messages per second; `None` for unlimited.
    pub fn quota_for(rate: u32) -> Option<Quota> {
        let rate = NonZeroU32::new(rate)?;
        let burst = Self::burst_for(rate.get());
        let steady = f64::from(rate.get() - burst + 1) / (1.0 + ARRIVAL_JITTER);
        Quota::with_period(Duration::from_secs_f64(1.0 / steady))
            .map(|q| q.allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN)))
    }

    /// About 0.5 % of the rate, at least two messages: with a burst of one, every millisecond a
    /// timer wakes late is lost for good, which cost slow lanes 8 % of their rate. More than
    /// that only adds to the one second after a pause, which the steady rate must leave room for.
    pub fn burst_for(rate: u32) -> u32 {
        (rate / 200).max(2).min(rate)
    }

    /// Waits until the next message may go out.
    pub async fn ready(&self) {
        while let Err(not_until) = self.limiter.check() {
            tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
        }
    }

    /// Like `ready`, but asks `give_up` before each try and returns false, with no token taken,
    /// once it says the message should not go after all.
    pub async fn ready_unless(&self, give_up: impl Fn() -> bool) -> bool {
        loop {
            if give_up() {
                return false;
            }
            match self.limiter.check() {
                Ok(()) => return true,
                Err(not_until) => {
                    tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_unlimited_and_bursts_stay_small() {
        assert!(LaneLimiter::new(0).is_none());
        assert_eq!(LaneLimiter::burst_for(30), 2);
        assert_eq!(LaneLimiter::burst_for(1), 1);
        assert_eq!(LaneLimiter::burst_for(1000), 5);
    }

    #[tokio::test]
    async fn a_wait_given_up_takes_no_token() {
        let lane = LaneLimiter::new(1).expect("a limited lane");
        assert!(!lane.ready_unless(|| true).await);
        assert!(
            lane.ready_unless(|| false).await,
            "the token is still there"
        );
        assert!(lane.limiter.check().is_err(), "and now it is taken");
    }

    #[test]
    fn no_one_second_window_sees_more_than_the_rate() {
        use governor::clock::FakeRelativeClock;
        for rate in [1u32, 30, 80, 1000] {
            // Ask every 50 µs for ten seconds on a fake clock and count what the bucket lets through.
            let clock = FakeRelativeClock::default();
            let quota = LaneLimiter::quota_for(rate).expect("a limited lane");
            let limiter = governor::RateLimiter::direct_with_clock(quota, clock.clone());
            let step = Duration::from_micros(50);
            let mut stamps = Vec::new();
            for i in 0..200_000u32 {
                if limiter.check().is_ok() {
                    stamps.push(step * i);
                }
                clock.advance(step);
            }
            let mut max_in_window = 0;
            let mut lo = 0;
            for hi in 0..stamps.len() {
                while stamps[hi] - stamps[lo] >= Duration::from_secs(1) {
                    lo += 1;
                }
                max_in_window = max_in_window.max(hi - lo + 1);
            }
            let achieved = stamps.len() as f64 / 10.0;
            assert!(
                max_in_window <= rate as usize,
                "rate {rate}: {max_in_window} in one second"
            );
            assert!(
                achieved >= 0.96 * f64::from(rate),
                "rate {rate}: only {achieved}/s"
            );
        }
    }
}
