//! What the feed takes from outside and how: a CAP feed's entries only from the feed's own host
//! or a listed one, never from a loopback, private, link-local or unspecified address unless its
//! host is listed (checked on the addresses a name resolves to, at connection time), no redirect
//! to another host, and no document read past `warnings.max_document_bytes`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use super::nina::FetchError;

/// A rule refused a connection or a redirect inside reqwest; [`FetchError::Refused`] once the
/// error comes out.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// A host in `warnings.cap_allowed_hosts`: a name (compared without case) or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedHost {
    Name(String),
    Address(IpAddr),
}

impl AllowedHost {
    /// `warnung.example.org`, `127.0.0.1`, `::1` or `[::1]`; no scheme, port or path.
    pub fn parse(s: &str) -> Result<AllowedHost, String> {
        let s = s.trim();
        let bare = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(s);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(AllowedHost::Address(ip));
        }
        match url::Host::parse(s) {
            Ok(url::Host::Domain(d)) if !d.is_empty() && !d.contains(['/', ':', '@']) => Ok(
                AllowedHost::Name(d.trim_end_matches('.').to_ascii_lowercase()),
            ),
            Ok(url::Host::Ipv4(ip)) => Ok(AllowedHost::Address(ip.into())),
            _ => Err(format!(
                "'{s}' is not a host name like warnung.example.org or an address like 127.0.0.1"
            )),
        }
    }

    fn matches(&self, host: &url::Host<&str>) -> bool {
        match (self, host) {
            (AllowedHost::Name(n), url::Host::Domain(d)) => same_name(n, d),
            (AllowedHost::Address(a), url::Host::Ipv4(ip)) => *a == IpAddr::V4(*ip),
            (AllowedHost::Address(a), url::Host::Ipv6(ip)) => *a == IpAddr::V6(*ip),
            _ => false,
        }
    }

    /// A name as the resolver is asked for it.
    fn matches_name(&self, name: &str) -> bool {
        match self {
            AllowedHost::Name(n) => same_name(n, name),
            AllowedHost::Address(a) => name.parse::<IpAddr>().is_ok_and(|ip| ip == *a),
        }
    }
}

/// Host names compare without case and without the root's trailing dot.
fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

fn same_host(a: &url::Host<&str>, b: &url::Host<&str>) -> bool {
    match (a, b) {
        (url::Host::Domain(x), url::Host::Domain(y)) => same_name(x, y),
        _ => a == b,
    }
}

fn listed(hosts: &[AllowedHost], host: &url::Host<&str>) -> bool {
    hosts.iter().any(|h| h.matches(host))
}

/// Whether `ip` is an address on the internet: not loopback, private, link-local, unspecified,
/// shared (carrier-grade NAT), multicast or broadcast, in IPv4 or IPv6 (IPv4 inside IPv6, too).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [.., hi, lo] = s;
                return is_public_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || v6.is_unicast_link_local()
                || v6.is_unique_local()
                // Site-local (fec0::/10), deprecated but still routed inside some networks.
                || (s[0] & 0xffc0) == 0xfec0
                // IPv4-compatible (::a.b.c.d), deprecated.
                || (s[..6] == [0; 6] && v6 != Ipv6Addr::UNSPECIFIED))
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        // 0.0.0.0/8 ("this network") and 100.64.0.0/10 (shared, carrier-grade NAT).
        || a == 0
        || (a == 100 && (b & 0xc0) == 64))
}

/// May the feed at `feed` fetch its entry `entry`? The entry's host must be the feed's or a
/// listed one; an address written into the URL must be public unless listed (a name is checked
/// on what it resolves to, by [`GuardedResolver`]).
pub fn entry_allowed(
    entry: &url::Url,
    feed: &url::Url,
    hosts: &[AllowedHost],
) -> Result<(), String> {
    if !matches!(entry.scheme(), "http" | "https") {
        return Err(format!("scheme {} is not http or https", entry.scheme()));
    }
    let Some(host) = entry.host() else {
        return Err("no host".into());
    };
    let own = feed.host().is_some_and(|f| same_host(&f, &host));
    if !own && !listed(hosts, &host) {
        return Err(format!(
            "host {host} is neither the feed's nor in warnings.cap_allowed_hosts"
        ));
    }
    let address = match host {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    };
    match address {
        Some(ip) if !is_public(ip) && !listed(hosts, &host) => Err(format!(
            "{ip} is not a public address and not in warnings.cap_allowed_hosts"
        )),
        _ => Ok(()),
    }
}

/// Resolves names as the system does and refuses a name with any non-public address, unless
/// the name is listed: the check happens on the addresses the connection then uses, so a name
/// cannot resolve to a public address for a check and to a private one for the request.
pub struct GuardedResolver {
    hosts: Arc<Vec<AllowedHost>>,
}

impl GuardedResolver {
    pub fn new(hosts: Vec<AllowedHost>) -> GuardedResolver {
        GuardedResolver {
            hosts: Arc::new(hosts),
        }
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let hosts = self.hosts.clone();
        let name = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            if !hosts.iter().any(|h| h.matches_name(&name))
                && let Some(a) = addrs.iter().find(|a| !is_public(a.ip()))
            {
                return Err(Box::new(Refused(format!(
                    "{name} resolves to {}, not a public address, and is not in warnings.cap_allowed_hosts",
                    a.ip()
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Redirects within the same host only, at most five.
pub fn same_host_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().and_then(|u| u.host());
        let same = match (first, attempt.url().host()) {
            (Some(a), Some(b)) => same_host(&a, &b),
            _ => false,
        };
        let to = attempt.url().host_str().unwrap_or("nowhere").to_string();
        if attempt.previous().len() > 5 {
            attempt.error(Refused("more than 5 redirects".into()))
        } else if !same {
            attempt.error(Refused(format!(
                "a redirect to another host ({to}) is not followed"
            )))
        } else {
            attempt.follow()
        }
    })
}

/// A URL as the log shows it: without user, password, query and fragment, where secrets go.
pub fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "(not a URL)".into(),
    }
}

/// Reads `response`'s body in chunks up to `limit` bytes; a larger one is cut there (logged and
/// counted), never read further.
pub async fn read_limited(
    mut response: reqwest::Response,
    url: &str,
    limit: u64,
    error: impl Fn(reqwest::Error) -> FetchError,
) -> Result<String, FetchError> {
    let cut = || {
        tracing::warn!(
            url = %shown(url),
            limit_bytes = limit,
            "a warning document is larger than warnings.max_document_bytes: cut, not read further"
        );
        metrics::counter!("amtsbote_warnings_documents_cut_total").increment(1);
        FetchError::TooLarge(limit)
    };
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(cut());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(&error)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(cut());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn only_internet_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!is_public(ip(private)), "{private}");
        }
        for public in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "193.99.144.80",
            "2a02:2e0:3fe:1001:302::",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip(public)), "{public}");
        }
    }

    #[test]
    fn an_entry_comes_from_the_feeds_host_or_a_listed_one_and_a_private_address_only_if_listed() {
        let feed = url::Url::parse("https://warnung.example.org/cap/feed.atom").expect("url");
        let url = |s: &str| url::Url::parse(s).expect("url");
        let none: Vec<AllowedHost> = Vec::new();
        assert!(entry_allowed(&url("https://warnung.example.org/a.xml"), &feed, &none).is_ok());
        assert!(entry_allowed(&url("https://WARNUNG.example.org./a.xml"), &feed, &none).is_ok());
        assert!(entry_allowed(&url("https://other.example/a.xml"), &feed, &none).is_err());
        assert!(entry_allowed(&url("file:///etc/passwd"), &feed, &none).is_err());
        let hosts = vec![
            AllowedHost::parse("Other.Example").expect("host"),
            AllowedHost::parse("127.0.0.1").expect("host"),
            AllowedHost::parse("[::1]").expect("host"),
        ];
        assert!(entry_allowed(&url("https://other.example/a.xml"), &feed, &hosts).is_ok());
        assert!(entry_allowed(&url("http://127.0.0.1:9/a.xml"), &feed, &hosts).is_ok());
        assert!(entry_allowed(&url("http://[::1]:9/a.xml"), &feed, &hosts).is_ok());
        assert!(entry_allowed(&url("http://127.0.0.2/a.xml"), &feed, &hosts).is_err());
        // The feed's own host at a private address: only when listed.
        let local = url::Url::parse("http://10.0.0.5/feed.atom").expect("url");
        let err = entry_allowed(&url("http://10.0.0.5/a.xml"), &local, &none).unwrap_err();
        assert!(err.contains("not a public address"), "{err}");
        let ten = vec![AllowedHost::parse("10.0.0.5").expect("host")];
        assert!(entry_allowed(&url("http://10.0.0.5/a.xml"), &local, &ten).is_ok());
        for bad in ["", "http://x.org", "x.org:80", "x.org/a", "a b"] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_logged_url_keeps_no_secrets() {
        assert_eq!(
            shown("https://user:pw@cap.example.org/feed.atom?token=s3cret#x"),
            "https://cap.example.org/feed.atom"
        );
    }
}
