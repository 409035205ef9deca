//! Where an upstream may point: only at the public internet, unless the
//! operator allows local upstreams. Addresses are judged after the URL
//! parser has read the host the way browsers and HTTP clients do (decimal,
//! octal and hex IPv4 spellings, `0`, trailing dots), and IPv6 addresses
//! that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are judged
//! by that address. Components cannot resolve names: a name is refused
//! only when it is a well-known local one; the host's `block_networks`
//! refuses the rest after resolution (see the README).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Names that always mean this machine.
const LOCAL_NAMES: [&str; 4] = [
    "localhost",
    "ip6-localhost",
    "ip6-loopback",
    "localhost.localdomain",
];

fn v4_in(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

/// Not a public unicast IPv4 address.
fn non_public_v4(ip: Ipv4Addr) -> bool {
    const RANGES: [([u8; 4], u32); 16] = [
        ([0, 0, 0, 0], 8),       // "this network", 0.0.0.0
        ([10, 0, 0, 0], 8),      // private
        ([100, 64, 0, 0], 10),   // carrier-grade NAT
        ([127, 0, 0, 0], 8),     // loopback
        ([169, 254, 0, 0], 16),  // link-local, cloud metadata
        ([172, 16, 0, 0], 12),   // private
        ([192, 0, 0, 0], 24),    // IETF protocol assignments
        ([192, 0, 2, 0], 24),    // documentation
        ([192, 88, 99, 0], 24),  // 6to4 relay anycast
        ([192, 168, 0, 0], 16),  // private
        ([198, 18, 0, 0], 15),   // benchmarking
        ([198, 51, 100, 0], 24), // documentation
        ([203, 0, 113, 0], 24),  // documentation
        ([224, 0, 0, 0], 4),     // multicast
        ([240, 0, 0, 0], 4),     // reserved, broadcast
        ([255, 255, 255, 255], 32),
    ];
    RANGES.iter().any(|(net, bits)| v4_in(ip, *net, *bits))
}

/// The IPv4 address an IPv6 address carries, if it is one of the forms
/// that reach an IPv4 host.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated)
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(tail),
        // 64:ff9b::a.b.c.d (NAT64) and 64:ff9b:1::/48 (local-use NAT64)
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 1, ..] => Some(tail),
        // 2002:aabb:ccdd::/48 (6to4)
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

/// Not a public unicast IPv6 address.
fn non_public_v6(ip: Ipv6Addr) -> bool {
    if ip.is_unspecified() || ip.is_loopback() {
        return true;
    }
    if let Some(v4) = embedded_v4(ip) {
        // NAT64 and 6to4 to a public address are public; anything local is not.
        return non_public_v4(v4) || v4.is_unspecified();
    }
    let first = ip.segments()[0];
    (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (first & 0xff00) == 0xff00 // multicast
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x2001 && ip.segments()[1] < 0x0200) // IETF protocol assignments (Teredo, benchmarking…)
        || first == 0x0100 // discard-only
}

pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

/// Whether a URL points at the local network (or at something that is not
/// a public address at all). Unparseable URLs count as local.
pub fn is_local_url(raw: &str) -> bool {
    let Ok(parsed) = url::Url::parse(raw) else {
        return true;
    };
    match parsed.host() {
        None => true,
        Some(url::Host::Ipv4(ip)) => non_public_v4(ip),
        Some(url::Host::Ipv6(ip)) => non_public_v6(ip),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name.is_empty()
                || LOCAL_NAMES.contains(&name.as_str())
                || name.ends_with(".localhost")
                || name.parse::<IpAddr>().is_ok_and(is_non_public)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_local_range_in_every_spelling_is_local() {
        for local in [
            "http://localhost/",
            "http://LOCALHOST./",
            "http://a.localhost/",
            "http://ip6-localhost/",
            "http://127.0.0.1/",
            "http://127.9.9.9:8080/",
            "http://127.0.0.1./",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://0x7f.0.0.1/",
            "http://0x7f000001/",
            "http://0/",
            "http://0.0.0.0/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/",
            "http://100.64.0.1/",
            "http://100.127.255.254/",
            "http://198.18.0.1/",
            "http://192.0.2.1/",
            "http://198.51.100.7/",
            "http://203.0.113.9/",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://240.0.0.1/",
            "http://[::1]/",
            "http://[::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[64:ff9b:1::a00:1]/",
            "http://[2002:7f00:1::]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[fec0::1]/",
            "http://[ff02::1]/",
            "http://[2001:db8::1]/",
            "http://[2001::1]/",
        ] {
            assert!(is_local_url(local), "{local}");
        }
        for public in [
            "https://repo.maven.apache.org/maven2",
            "http://example.com:8080/",
            "http://8.8.8.8/",
            "http://172.32.0.1/",
            "http://100.128.0.1/",
            "http://[2606:4700::1111]/",
            "http://[64:ff9b::808:808]/",
            "http://[::ffff:8.8.8.8]/",
        ] {
            assert!(!is_local_url(public), "{public}");
        }
    }
}
