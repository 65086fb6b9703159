//! What keeps one client from wearing the dashboard down: sign-in attempts per client address
//! (a keyed `governor` limiter; a made-up login token is cheap to send, and guessing needs
//! many), and the live page's open streams per session.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use governor::{DefaultKeyedRateLimiter, Quota};

/// Sign-in attempts (POSTs of a login link's token) per client address and minute, all at
/// once at most; then one every six seconds.
pub const SIGN_INS_PER_MINUTE: u32 = 10;
/// Live pages (server-sent event streams) one session may have open at once.
pub const STREAMS_PER_SESSION: usize = 4;

/// Sign-in attempts per client address.
pub struct SignInLimit {
    attempts: DefaultKeyedRateLimiter<IpAddr>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`http.trusted_proxies`).
    trusted_proxies: Vec<IpAddr>,
    /// When addresses not seen for a minute were last forgotten, and when a refusal was last
    /// logged (a flood would fill the log).
    chores: Mutex<Chores>,
}

struct Chores {
    forgotten_at: Instant,
    logged_at: Option<Instant>,
    refused_since_log: u64,
}

impl SignInLimit {
    pub fn new(trusted_proxies: Vec<IpAddr>) -> SignInLimit {
        let per_minute = NonZeroU32::new(SIGN_INS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        SignInLimit {
            attempts: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute)),
            trusted_proxies,
            chores: Mutex::new(Chores {
                forgotten_at: Instant::now(),
                logged_at: None,
                refused_since_log: 0,
            }),
        }
    }

    /// The client a request came from (see [`crate::http::client_address`]).
    pub fn client(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> IpAddr {
        crate::http::client_address(&self.trusted_proxies, peer, headers)
    }

    /// Whether `client` may try a sign-in now; else how long until it may.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.forget_quiet_clients();
        match self.attempts.check_key(&client) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                let wait =
                    not_until.wait_time_from(governor::clock::Clock::now(self.attempts.clock()));
                self.log_refusal(client);
                Err(wait)
            }
        }
    }

    /// Addresses whose attempts are a minute old take no memory: a flood from many addresses
    /// leaves nothing behind.
    fn forget_quiet_clients(&self) {
        let mut chores = self.chores.lock().unwrap_or_else(|p| p.into_inner());
        if chores.forgotten_at.elapsed() >= Duration::from_secs(60) {
            chores.forgotten_at = Instant::now();
            self.attempts.retain_recent();
            self.attempts.shrink_to_fit();
        }
    }

    /// Logs a refused attempt (never its token), once a minute at most.
    fn log_refusal(&self, client: IpAddr) {
        let mut chores = self.chores.lock().unwrap_or_else(|p| p.into_inner());
        chores.refused_since_log += 1;
        if chores
            .logged_at
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
        {
            tracing::warn!(
                client = %client,
                refused = chores.refused_since_log,
                "dashboard sign-in attempts over the limit refused (429)"
            );
            chores.logged_at = Some(Instant::now());
            chores.refused_since_log = 0;
        }
    }
}

/// The live streams open per session.
#[derive(Default)]
pub struct Streams {
    open: Mutex<HashMap<String, usize>>,
}

/// One open stream of a session; it counts until dropped (the client went, or the stream
/// ended).
pub struct StreamSlot {
    streams: Arc<Streams>,
    session: String,
}

impl Streams {
    /// A slot for a new stream of `session`, or `None` when it has its fill open.
    pub fn open(self: &Arc<Self>, session: &str) -> Option<StreamSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(session.to_string()).or_default();
        if *n >= STREAMS_PER_SESSION {
            return None;
        }
        *n += 1;
        Some(StreamSlot {
            streams: self.clone(),
            session: session.to_string(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.session) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.session);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", value.parse().expect("header"));
        h
    }

    #[test]
    fn the_client_is_the_connection_unless_it_comes_through_a_trusted_proxy() {
        let proxy: SocketAddr = "10.0.0.1:40000".parse().expect("addr");
        let direct = SignInLimit::new(vec![]);
        assert_eq!(
            direct.client(Some(proxy), &forwarded("203.0.113.7")),
            IpAddr::from([10, 0, 0, 1]),
            "nobody's X-Forwarded-For is believed without a trusted proxy"
        );
        let behind = SignInLimit::new(vec![IpAddr::from([10, 0, 0, 1])]);
        assert_eq!(
            behind.client(Some(proxy), &forwarded("198.51.100.1, 203.0.113.7")),
            IpAddr::from([203, 0, 113, 7]),
            "the address the proxy saw, not the one the client wrote before it"
        );
        assert_eq!(
            behind.client(Some(proxy), &HeaderMap::new()),
            IpAddr::from([10, 0, 0, 1])
        );
        let v6: SocketAddr = "[2001:db8:1:2:3:4:5:6]:443".parse().expect("addr");
        assert_eq!(
            direct.client(Some(v6), &HeaderMap::new()),
            "2001:db8:1:2::".parse::<IpAddr>().expect("ip"),
            "an IPv6 client counts by its /64"
        );
    }

    #[test]
    fn a_session_has_four_streams_open_at_most_and_a_closed_one_makes_room() {
        let streams = Arc::new(Streams::default());
        let slots: Vec<StreamSlot> = (0..STREAMS_PER_SESSION)
            .map(|_| streams.open("a").expect("a slot"))
            .collect();
        assert!(streams.open("a").is_none());
        assert!(streams.open("b").is_some(), "another session's count");
        drop(slots);
        assert!(streams.open("a").is_some());
    }
}
