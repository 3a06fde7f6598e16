//! What both router paths do alike to a request they forward to a dyno:
//! the headers they take out (hop-by-hop) and set (`X-Forwarded-*`,
//! `X-Request-Id`, `Via`), and the time limits on the dyno's answer,
//! Heroku's where it has them.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A dyno that closes a connection this soon without answering died with
/// the request: one that can go again goes to another dyno, once.
pub(super) const DIED_WITH_REQUEST: Duration = Duration::from_secs(1);
/// Heroku's limit for the first byte of a response (H12 past it).
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Heroku's rolling window once a response is under way: a body that moves
/// no byte for this long ends (H15 when the dyno sent none).
pub(super) const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(55);

/// Headers that describe one connection, not the request: never forwarded.
pub(super) const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The headers the router sets on every request it forwards, replacing
/// any the client sent; `X-Forwarded-For` adds the client to the chain.
pub(super) const FORWARDING_HEADERS: [&str; 6] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-request-start",
    "x-request-id",
    "via",
];

/// Sets the forwarding headers through `set`, as each path writes headers
/// its own way.
pub(super) fn forwarding_headers(
    previous_forwarded_for: Option<&str>,
    peer: SocketAddr,
    secure: bool,
    port: u16,
    request_id: &str,
    mut set: impl FnMut(&'static str, &str),
) {
    use std::fmt::Write;
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut value = String::with_capacity(64);
    let _ = match previous_forwarded_for {
        Some(previous) => write!(value, "{previous}, {}", peer.ip()),
        None => write!(value, "{}", peer.ip()),
    };
    set("x-forwarded-for", &value);
    set("x-forwarded-proto", if secure { "https" } else { "http" });
    value.clear();
    let _ = write!(value, "{port}");
    set("x-forwarded-port", &value);
    value.clear();
    let _ = write!(value, "{millis}");
    set("x-request-start", &value);
    set("x-request-id", request_id);
    set("via", "1.1 paas");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forwarding_headers_are_those_replaced_in_the_clients() {
        let mut names = Vec::new();
        let peer = SocketAddr::from(([10, 1, 2, 3], 5000));
        forwarding_headers(Some("1.1.1.1"), peer, true, 443, "id", |name, value| {
            names.push(name);
            if name == "x-forwarded-for" {
                assert_eq!(value, "1.1.1.1, 10.1.2.3");
            }
        });
        assert_eq!(names, FORWARDING_HEADERS);
    }
}
