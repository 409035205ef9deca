//! `[outbound_networking] block_networks` from the runtime config, applied
//! as Spin applies it: after a host name is resolved, every address in a
//! blocked network is dropped, and a connection with no address left is
//! refused. `"private"` means every address that is not globally routable;
//! the classification is vreg's own (`vreg_core::domain::network`), the
//! same one upstream URLs are judged by, so the two never disagree.

use std::net::IpAddr;

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone, PartialEq)]
struct Network {
    address: IpAddr,
    prefix: u32,
}

impl Network {
    fn parse(text: &str) -> Result<Network> {
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let address: IpAddr = address
            .parse()
            .with_context(|| format!("{text:?} is neither \"private\" nor an IP network"))?;
        let width = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u32>()
                .ok()
                .filter(|p| *p <= width)
                .with_context(|| format!("{text:?}: bad prefix length"))?,
            None => width,
        };
        Ok(Network { address, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| -> (u128, u32) {
            match ip {
                IpAddr::V4(v4) => (u32::from(v4) as u128, 32),
                IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        };
        let (net, width) = bits(self.address);
        let (candidate, candidate_width) = bits(ip);
        if width != candidate_width {
            return false;
        }
        let shift = width - self.prefix;
        shift >= width || (net >> shift) == (candidate >> shift)
    }
}

#[derive(Debug, Clone, Default)]
pub struct BlockedNetworks {
    private: bool,
    networks: Vec<Network>,
}

impl BlockedNetworks {
    pub fn parse(entries: &[String]) -> Result<BlockedNetworks> {
        let mut blocked = BlockedNetworks::default();
        for entry in entries {
            if entry == "private" {
                blocked.private = true;
            } else if entry.is_empty() {
                bail!("an empty entry");
            } else {
                blocked.networks.push(Network::parse(entry)?);
            }
        }
        Ok(blocked)
    }

    pub fn is_empty(&self) -> bool {
        !self.private && self.networks.is_empty()
    }

    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        if self.private && vreg_core::domain::network::is_non_public(ip) {
            return true;
        }
        if self.networks.iter().any(|n| n.contains(ip)) {
            return true;
        }
        // An IPv6 address that carries an IPv4 one is judged by it too.
        match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4()
                .is_some_and(|v4| self.is_blocked(IpAddr::V4(v4))),
            IpAddr::V4(_) => false,
        }
    }

    /// Resolves `host:port` and keeps the addresses that are not blocked;
    /// an error names the host when every address was blocked.
    /// Blocks the calling thread while the name resolves.
    pub fn resolve(&self, host: &str, port: u16) -> Result<Vec<std::net::SocketAddr>, Refused> {
        use std::net::ToSocketAddrs;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<_> = crate::guest::blocking(|| (host, port).to_socket_addrs())
            .map_err(|e| Refused::Unresolved(e.to_string()))?
            .collect();
        let allowed: Vec<_> = addresses
            .iter()
            .copied()
            .filter(|a| !self.is_blocked(a.ip()))
            .collect();
        if allowed.is_empty() && !addresses.is_empty() {
            return Err(Refused::Blocked(addresses));
        }
        Ok(allowed)
    }
}

#[derive(Debug)]
pub enum Refused {
    Unresolved(String),
    Blocked(Vec<std::net::SocketAddr>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(entries: &[&str]) -> BlockedNetworks {
        BlockedNetworks::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn private_blocks_every_non_global_address_in_every_form() {
        let b = blocked(&["private"]);
        for local in [
            "127.0.0.1",
            "127.0.1.1",
            "10.1.2.3",
            "100.64.0.1",
            "169.254.169.254",
            "192.168.1.1",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(b.is_blocked(ip(local)), "{local}");
        }
        for public in ["1.1.1.1", "93.184.216.34", "2606:4700::1111"] {
            assert!(!b.is_blocked(ip(public)), "{public}");
        }
    }

    #[test]
    fn networks_block_what_they_contain_and_nothing_else() {
        let b = blocked(&["123.123.0.0/16", "2001:db8::/32", "1.1.1.1"]);
        assert!(b.is_blocked(ip("123.123.45.6")));
        assert!(b.is_blocked(ip("::ffff:123.123.45.6")));
        assert!(!b.is_blocked(ip("123.124.0.1")));
        assert!(b.is_blocked(ip("2001:db8:1::1")));
        assert!(!b.is_blocked(ip("2001:db9::1")));
        assert!(b.is_blocked(ip("1.1.1.1")));
        assert!(!b.is_blocked(ip("1.1.1.2")));
        assert!(
            !b.is_blocked(ip("127.0.0.1")),
            "no \"private\": loopback is not blocked"
        );
        assert!(blocked(&["0.0.0.0/0"]).is_blocked(ip("8.8.8.8")));
        assert!(BlockedNetworks::default().is_empty());
    }

    #[test]
    fn bad_entries_are_refused() {
        for bad in ["privat", "1.2.3.4/33", "::/129", "", "example.com"] {
            assert!(BlockedNetworks::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
