//! The client's address behind proxies (`TESSERA_TRUSTED_PROXIES`): the setting and
//! the rule each connection applies to its requests (`server/conn.rs`).
//!
//! Only when the peer of the connection is a trusted proxy are the headers read: its
//! `x-envoy-external-address`, else the right-most hop of `x-forwarded-for` that is
//! not itself a trusted proxy (each proxy appends the address it saw, so the hops to
//! the right of the client's were written by proxies tessera trusts, and anything to
//! the left could have been written by the client). From any other peer, and when a
//! header does not parse, the headers are ignored and the peer's address is the
//! client's. The failed-login budgets, the logs and the audit trail all use it.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

/// The proxies whose forwarding headers are believed. Empty: none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of CIDR ranges (a bare address is one host).
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{s} is not a CIDR range such as 10.0.0.0/8"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// The client's address for a request from `peer` carrying `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        if let Some(external) = headers
            .get("x-envoy-external-address")
            .and_then(|v| v.to_str().ok())
            .and_then(hop)
        {
            return external;
        }
        let mut hops = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let Ok(text) = value.to_str() else {
                return peer;
            };
            for part in text.split(',') {
                match hop(part) {
                    Some(addr) => hops.push(addr),
                    None => return peer,
                }
            }
        }
        hops.iter()
            .rev()
            .find(|addr| !self.trusts(**addr))
            .or(hops.first())
            .copied()
            .unwrap_or(peer)
    }
}

/// One hop as proxies write it: an address, possibly with a port.
fn hop(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|addr| addr.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let none = TrustedProxies::default();
        let spoofed = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(none.client(ip("10.0.0.9"), &spoofed), ip("10.0.0.9"));
        let some = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(some.client(ip("192.0.2.1"), &spoofed), ip("192.0.2.1"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").unwrap();
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.1.2.3")]);
        assert_eq!(trusted.client(ip("127.0.0.1"), &chain), ip("203.0.113.7"));
        let split = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "203.0.113.7:4711, 10.1.2.3"),
        ]);
        assert_eq!(trusted.client(ip("10.9.9.9"), &split), ip("203.0.113.7"));
        let all_trusted = headers(&[("x-forwarded-for", "10.0.0.1, 10.0.0.2")]);
        assert_eq!(trusted.client(ip("10.9.9.9"), &all_trusted), ip("10.0.0.1"));
        let envoy = headers(&[
            ("x-envoy-external-address", "198.51.100.4"),
            ("x-forwarded-for", "203.0.113.7"),
        ]);
        assert_eq!(trusted.client(ip("10.9.9.9"), &envoy), ip("198.51.100.4"));
    }

    #[test]
    fn a_header_that_does_not_parse_leaves_the_peer() {
        let trusted = TrustedProxies::parse("127.0.0.0/8").unwrap();
        let junk = headers(&[("x-forwarded-for", "203.0.113.7, not-an-address")]);
        assert_eq!(trusted.client(ip("127.0.0.1"), &junk), ip("127.0.0.1"));
        assert_eq!(
            trusted.client(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("").unwrap() == TrustedProxies::default());
    }
}
