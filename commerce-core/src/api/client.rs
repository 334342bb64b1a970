//! Which address a request came from, trusting `X-Forwarded-For` only as far as the operator
//! says reverse proxies stand in front of the shop.
//!
//! Each proxy appends the address it received the request from to `X-Forwarded-For` and
//! connects to the next hop itself, so the chain of addresses reads: whatever the client sent,
//! then one entry per proxy, then the peer of our own socket. Only the entries our own proxies
//! wrote can be believed; anything to their left is the client's to invent. With
//! `TRUSTED_PROXY_HOPS` = n, the client is the address n places left of the peer: on Elastic
//! Beanstalk, the load balancer and nginx (n = 2) leave `client, load balancer` in the header
//! and nginx as the peer.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};

use poem::Request;

/// The client's address: the peer's with no proxy trusted, else the one the farthest trusted
/// proxy saw; `None` when that entry is no address (`unknown`, a Unix socket).
pub(crate) fn client_address(request: &Request, trusted_proxy_hops: u8) -> Option<IpAddr> {
    let peer = request
        .remote_addr()
        .as_socket_addr()
        .map(|address| address.ip());
    let forwarded = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .map(|value| value.as_bytes());
    resolve(peer, forwarded, trusted_proxy_hops)
}

/// The address `trusted_proxy_hops` places left of `peer` in the chain the
/// `X-Forwarded-For` values (in the order received) end in. A chain shorter than the proxies
/// configured (a request that did not pass through all of them) yields its leftmost entry.
fn resolve<'a>(
    peer: Option<IpAddr>,
    forwarded: impl Iterator<Item = &'a [u8]>,
    trusted_proxy_hops: u8,
) -> Option<IpAddr> {
    let hops = usize::from(trusted_proxy_hops);
    if hops == 0 {
        return peer;
    }
    // With the peer last in the chain, the client is among the header's last `hops` entries:
    // only those are kept, and only one is parsed, however long a header a client sends.
    // Split as bytes: an entry that is not text keeps its place, so those right of it keep
    // theirs.
    let mut last = VecDeque::with_capacity(hops);
    for entry in forwarded.flat_map(|value| value.split(|&byte| byte == b',')) {
        if last.len() == hops {
            last.pop_front();
        }
        last.push_back(entry);
    }
    let Some(entry) = last.front() else {
        return peer;
    };
    let client = std::str::from_utf8(entry).ok().and_then(parse_entry);
    if client.is_none() {
        // Written by a proxy the setting trusts, so either that proxy writes no address
        // (`unknown`) or the setting counts more proxies than there are. Such clients share
        // one login-limit bucket per account.
        tracing::warn!(
            "the X-Forwarded-For entry TRUSTED_PROXY_HOPS points at is not an address; check the setting"
        );
    }
    client
}

/// One `X-Forwarded-For` entry: an address, with a port as some proxies write it.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|address| address.ip()))
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::resolve;

    fn client(peer: &str, forwarded: &[&str], hops: u8) -> Option<IpAddr> {
        resolve(
            Some(peer.parse().unwrap()),
            forwarded.iter().map(|value| value.as_bytes()),
            hops,
        )
    }

    fn address(value: &str) -> Option<IpAddr> {
        Some(value.parse().unwrap())
    }

    #[test]
    fn with_no_proxy_trusted_the_peer_is_the_client_whatever_the_header_says() {
        assert_eq!(
            client("203.0.113.7", &["198.51.100.1"], 0),
            address("203.0.113.7")
        );
    }

    #[test]
    fn each_trusted_proxy_moves_the_client_one_entry_left_of_the_peer() {
        // A forged entry, the client as the load balancer saw it, the load balancer as nginx
        // saw it, nginx as the peer; the header in two lines.
        let forwarded = ["6.6.6.6, 203.0.113.7", "10.0.0.5"];
        assert_eq!(client("127.0.0.1", &forwarded, 1), address("10.0.0.5"));
        assert_eq!(client("127.0.0.1", &forwarded, 2), address("203.0.113.7"));
        assert_eq!(client("127.0.0.1", &forwarded, 3), address("6.6.6.6"));
    }

    #[test]
    fn a_long_forged_prefix_changes_nothing() {
        let forged = format!("{}203.0.113.7", "10.0.0.1, ".repeat(10_000));
        assert_eq!(client("127.0.0.1", &[&forged], 1), address("203.0.113.7"));
    }

    #[test]
    fn a_chain_shorter_than_the_proxies_yields_its_leftmost_entry() {
        assert_eq!(
            client("127.0.0.1", &["203.0.113.7"], 5),
            address("203.0.113.7")
        );
        assert_eq!(client("127.0.0.1", &[], 2), address("127.0.0.1"));
    }

    #[test]
    fn entries_may_carry_ports_and_unreadable_ones_are_no_address() {
        let forwarded = ["[2001:db8::1]:443, 203.0.113.7:8080, unknown"];
        assert_eq!(client("127.0.0.1", &forwarded, 1), None);
        assert_eq!(client("127.0.0.1", &forwarded, 2), address("203.0.113.7"));
        assert_eq!(client("127.0.0.1", &forwarded, 3), address("2001:db8::1"));
    }

    #[test]
    fn an_entry_that_is_not_text_keeps_its_place() {
        let forwarded: [&[u8]; 1] = [b"1.2.3.4, \xff\xfe, 203.0.113.7"];
        let resolved = |hops| resolve(address("127.0.0.1"), forwarded.into_iter(), hops);
        assert_eq!(resolved(1), address("203.0.113.7"));
        assert_eq!(resolved(2), None);
        assert_eq!(resolved(3), address("1.2.3.4"));
    }
}
