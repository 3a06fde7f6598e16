//! Which addresses a URL that app developers give (a webhook, a log
//! drain, `MAINTENANCE_PAGE_URL`, a `pg:backups:restore` URL) may lead
//! to: not the server's own network. Without this, a webhook to
//! `http://127.0.0.1:5432/` or `http://169.254.169.254/` (a cloud's
//! metadata service, with the machine's credentials) would have the
//! daemon, inside the host's network, speak for whoever added it. The
//! server's own addresses count too: its public address reaches paas's
//! router, sshd and whatever else listens on all addresses.
//!
//! The check is on the addresses connected to (`Reach::refuses`, which
//! `stream::connect` runs on what it resolved), not only on the name as
//! it resolved when the URL was given: DNS may answer differently later.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

/// The install setting that lets URLs reach the server's own network, as
/// messages name it.
pub const ALLOW_PRIVATE: &str = "paas server install --allow-private-urls yes";

/// Where a connection may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Only to the internet: a URL an app's people gave, on an install
    /// that does not allow private ones (`Settings::url_reach`).
    Internet,
    /// Anywhere: what an admin named (the ACME directory), a dyno, or an
    /// install that allows private URLs.
    Anywhere,
}

/// A host refused: it is at `address`, which is `kind` (`private_kind`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub host: String,
    pub address: IpAddr,
    pub kind: &'static str,
}

impl fmt::Display for Refused {
    /// "`db.internal` resolves to 10.0.0.5, a private address", or, for a
    /// host given as an address, "127.0.0.1 is a loopback address".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let literal = self.host.trim_start_matches('[').trim_end_matches(']');
        if literal.parse::<IpAddr>().ok() == Some(self.address) {
            write!(f, "{} is {}", self.address, self.kind)
        } else {
            write!(
                f,
                "`{}` resolves to {}, {}",
                self.host, self.address, self.kind
            )
        }
    }
}

impl Refused {
    /// The error for a command given a URL that leads here, which paas
    /// would use to `purpose` ("sends webhooks"): what is wrong, and that
    /// an admin may allow it.
    pub fn command_error(&self, purpose: &str) -> crate::error::Error {
        crate::error::Error::new(format!("{self}: paas {purpose} only to the internet")).hint(
            format!(
                "give a URL out on the internet; an admin may let apps' URLs lead into \
                 the server's own network with `{ALLOW_PRIVATE}`"
            ),
        )
    }
}

impl Reach {
    /// Why `host`, found at `addresses`, may not be connected to: the
    /// first of them in the server's own network. Always `None` for
    /// `Anywhere`.
    pub fn refuses(self, host: &str, addresses: &[SocketAddr]) -> Option<Refused> {
        if self == Reach::Anywhere {
            return None;
        }
        let own = own_addresses();
        addresses.iter().find_map(|address| {
            Some(Refused {
                host: host.to_string(),
                address: address.ip(),
                kind: private_kind(address.ip(), &own)?,
            })
        })
    }

    /// Resolves `host` now and says why it may not be connected to, for a
    /// command that takes a URL to use later (`drains:add`,
    /// `webhooks:add`): the error comes at once, where the user is. A
    /// name that does not resolve passes: each connection checks again
    /// where it leads then.
    pub fn refuses_now(self, host: &str, port: u16) -> Option<Refused> {
        if self == Reach::Anywhere {
            return None;
        }
        let addresses: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map(|found| found.collect())
            .unwrap_or_default();
        self.refuses(host, &addresses)
    }
}

/// Why `ip` is in the server's own network, or `None` for an address
/// out on the internet. `own` is the server's interfaces' addresses
/// (`own_addresses`).
pub fn private_kind(ip: IpAddr, own: &[IpAddr]) -> Option<&'static str> {
    let kind = match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => v6_kind(v6, own),
    };
    kind.or(own
        .contains(&ip)
        .then_some("one of this server's own addresses"))
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b) {
        _ if ip.is_loopback() => "a loopback address",
        _ if ip.is_private() => "a private address",
        _ if ip.is_link_local() => "a link-local address",
        _ if ip.is_unspecified() || a == 0 => "an unspecified address",
        _ if ip.is_multicast() || ip.is_broadcast() || a >= 240 => "no unicast address",
        (100, 64..=127) => "a shared (carrier-grade NAT) address",
        (198, 18..=19) => "a benchmarking address",
        (192, 0) if c == 0 => "an IETF protocol address",
        _ => return None,
    })
}

fn v6_kind(ip: Ipv6Addr, own: &[IpAddr]) -> Option<&'static str> {
    let segments = ip.segments();
    // IPv4 inside IPv6 (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`,
    // 6to4 `2002:AABB:CCDD::`) reaches that IPv4 address.
    let octets = ip.octets();
    let embedded = if let Some(v4) = ip.to_ipv4_mapped() {
        Some(v4)
    } else if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        Some(Ipv4Addr::new(
            octets[12], octets[13], octets[14], octets[15],
        ))
    } else if segments[0] == 0x2002 {
        Some(Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5]))
    } else {
        None
    };
    if let Some(v4) = embedded {
        return private_kind(IpAddr::V4(v4), own);
    }
    Some(match segments[0] {
        _ if ip.is_loopback() => "a loopback address",
        _ if ip.is_unspecified() => "an unspecified address",
        _ if ip.is_multicast() => "no unicast address",
        s if s & 0xfe00 == 0xfc00 => "a private (unique local) address",
        s if s & 0xffc0 == 0xfe80 => "a link-local address",
        // Old IPv4-compatible addresses (`::a.b.c.d`).
        0 if segments[1..6] == [0; 5] => "an IPv4-compatible address",
        _ => return None,
    })
}

/// The addresses of this machine's interfaces (empty if the kernel will
/// not say).
pub fn own_addresses() -> Vec<IpAddr> {
    let mut found = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a list freed below; each entry's
    // address, when not null, points at a sockaddr of its family's size.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return found;
        }
        let mut entry = list;
        while !entry.is_null() {
            let address = (*entry).ifa_addr;
            if !address.is_null() {
                match i32::from((*address).sa_family) {
                    libc::AF_INET => {
                        let v4 = &*(address as *const libc::sockaddr_in);
                        found.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr))));
                    }
                    libc::AF_INET6 => {
                        let v6 = &*(address as *const libc::sockaddr_in6);
                        found.push(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.s6_addr)));
                    }
                    _ => {}
                }
            }
            entry = (*entry).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> Option<&'static str> {
        private_kind(text.parse().unwrap(), &["203.0.113.7".parse().unwrap()])
    }

    #[test]
    fn the_servers_network_is_told_from_the_internet() {
        for (address, said) in [
            ("127.0.0.2", "a loopback address"),
            ("10.90.3.4", "a private address"),
            ("172.16.0.1", "a private address"),
            ("192.168.1.1", "a private address"),
            ("169.254.169.254", "a link-local address"),
            ("0.0.0.0", "an unspecified address"),
            ("100.100.0.1", "a shared (carrier-grade NAT) address"),
            ("255.255.255.255", "no unicast address"),
            ("203.0.113.7", "one of this server's own addresses"),
            ("::1", "a loopback address"),
            ("::", "an unspecified address"),
            ("fd00::1", "a private (unique local) address"),
            ("fe80::1", "a link-local address"),
            ("::ffff:127.0.0.1", "a loopback address"),
            ("64:ff9b::a9fe:a9fe", "a link-local address"),
            ("2002:c0a8:0101::1", "a private address"),
            ("::ffff:203.0.113.7", "one of this server's own addresses"),
        ] {
            assert_eq!(kind(address), Some(said), "{address}");
        }
        for public in [
            "93.184.215.14",
            "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
            "8.8.8.8",
        ] {
            assert_eq!(kind(public), None, "{public}");
        }
    }

    #[test]
    fn only_internet_reach_refuses_and_says_where_the_host_led() {
        let loopback: Vec<SocketAddr> = vec!["127.0.0.1:80".parse().unwrap()];
        assert_eq!(Reach::Anywhere.refuses("localhost", &loopback), None);
        let refused = Reach::Internet.refuses("localhost", &loopback).unwrap();
        assert_eq!(
            refused.to_string(),
            "`localhost` resolves to 127.0.0.1, a loopback address"
        );
        let refused = Reach::Internet.refuses("127.0.0.1", &loopback).unwrap();
        assert_eq!(refused.to_string(), "127.0.0.1 is a loopback address");
        let v6: Vec<SocketAddr> = vec!["[::1]:80".parse().unwrap()];
        let refused = Reach::Internet.refuses("[::1]", &v6).unwrap();
        assert_eq!(refused.to_string(), "::1 is a loopback address");
        // Any address of the name counts, not only the first.
        let mixed: Vec<SocketAddr> = vec![
            "93.184.215.14:80".parse().unwrap(),
            "10.0.0.5:80".parse().unwrap(),
        ];
        assert_eq!(
            Reach::Internet
                .refuses("two.example", &mixed)
                .unwrap()
                .to_string(),
            "`two.example` resolves to 10.0.0.5, a private address"
        );
        let public: Vec<SocketAddr> = vec!["93.184.215.14:80".parse().unwrap()];
        assert_eq!(Reach::Internet.refuses("example.com", &public), None);
        let error = Reach::Internet.refuses_now("localhost", 80).unwrap();
        let report = error.command_error("sends logs").report();
        assert!(
            report.contains("a loopback address: paas sends logs only to the internet"),
            "{report}"
        );
        assert!(
            report.contains("`paas server install --allow-private-urls yes`"),
            "{report}"
        );
        assert_eq!(Reach::Anywhere.refuses_now("localhost", 80), None);
        assert_eq!(
            Reach::Internet.refuses_now("no-such-host.invalid", 80),
            None
        );
    }

    #[test]
    fn this_machines_addresses_include_loopback() {
        let own = own_addresses();
        assert!(own.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)), "{own:?}");
    }
}
