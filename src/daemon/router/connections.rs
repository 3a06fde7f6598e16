//! What a client connection may hold of the router (issue #19, point 1:
//! one client's thousand idle connections took the router down for every
//! app): how many connections are open, per client address and in all,
//! with new ones past a limit shed at once and said so in the daemon's log
//! (once in a while, not once per connection); and how long a connection
//! may wait for a request's head (`HeadWait`), the same on both paths.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Connections one client address may hold open at once. A browser opens
/// up to 6 per host over HTTP/1.1 (one over HTTP/2): this lets a few
/// dozen people behind one NAT (an office, a carrier's CGNAT) in, and
/// keeps one address from holding more than a small share of the total.
const PER_CLIENT: usize = 256;
/// Open files kept out of the router's share of the open-file limit: the
/// request log, the app's log files and drains, the control socket, the
/// pipes of the podman commands the daemon runs, the dyno connector.
const RESERVE: u64 = 1024;
/// The most connections in all, whatever the open-file limit. Measured
/// here (daemon's RSS, 1000 connections): 8 KB each for new connections
/// that send nothing, 13 KB for kept-alive ones between requests, and two
/// 16 KiB buffers while a request is relayed: idle, the most are ~200 MB,
/// which a VPS of 1 or 2 GiB can spare; the open-file limit the systemd
/// unit sets (65536) would allow twice as many.
const MOST_IN_ALL: usize = 16_384;
/// Heroku's router closes a kept-alive connection that brings no request
/// for 55 s (its rolling window): a browser keeps one for a later click,
/// and the cost of one idle is a file and a few KiB.
const IDLE: Duration = Duration::from_secs(55);
/// A request's head must be whole within this long (of a new connection
/// being accepted, or of the first byte of a later request), however it
/// trickles in: nginx's `client_header_timeout` is 60 s, Heroku's 30 s to
/// a response takes the rest. A per-read timeout would let one byte every
/// few seconds hold a connection for ever.
const HEAD: Duration = Duration::from_secs(30);
/// A TLS handshake must end within this long of the accept (within `HEAD`
/// too); a browser's takes a few round trips.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// The shedding line is written at most this often, with a count of the
/// connections shed meanwhile.
const SHED_LOG_EVERY: Duration = Duration::from_secs(10);

/// The limits on client connections, the same on every router thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectionLimits {
    /// A kept-alive connection with no request under way and no byte of
    /// the next one closes after this long.
    pub(super) idle: Duration,
    /// A request's head must be whole within this long (`HeadWait`).
    pub(super) head: Duration,
    /// A TLS handshake must end within this long of the accept.
    pub(super) handshake: Duration,
    /// Connections one client address may hold open.
    pub(super) per_client: usize,
    /// Connections open in all.
    pub(super) in_all: usize,
}

impl ConnectionLimits {
    /// The limits for this process: connections in all from its open-file
    /// limit (`for_open_files`). Tests may shorten the time limits, to
    /// see them at work in seconds, through `PAAS_ROUTER_IDLE_SECS` and
    /// `PAAS_ROUTER_HEAD_SECS` (whole seconds; for tests only).
    pub fn for_this_process() -> ConnectionLimits {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit on a local struct.
        let open_files = match unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } {
            0 => limit.rlim_cur,
            _ => 1024,
        };
        let seconds = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|value| value.parse().ok())
                .filter(|&seconds| seconds > 0)
                .map(Duration::from_secs)
        };
        let mut limits = ConnectionLimits::for_open_files(open_files);
        if let Some(idle) = seconds("PAAS_ROUTER_IDLE_SECS") {
            limits.idle = idle;
        }
        if let Some(head) = seconds("PAAS_ROUTER_HEAD_SECS") {
            limits.head = head;
        }
        limits
    }

    /// A connection holds one open file, two while its request is relayed
    /// to a dyno (and the kept-alive dyno connections afterwards are as
    /// many at most): half of what the reserve leaves (the reserve at
    /// most half the limit), and never more than `MOST_IN_ALL`.
    pub(super) fn for_open_files(open_files: u64) -> ConnectionLimits {
        let reserve = RESERVE.min(open_files / 2);
        let in_all = usize::try_from((open_files - reserve) / 2)
            .unwrap_or(usize::MAX)
            .clamp(1, MOST_IN_ALL);
        ConnectionLimits {
            idle: IDLE,
            head: HEAD,
            handshake: HANDSHAKE,
            per_client: PER_CLIENT.min(in_all),
            in_all,
        }
    }
}

impl fmt::Display for ConnectionLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at most {} connections per client address and {} in all; \
             a request's head within {} s, a kept-alive connection idle for {} s at most",
            self.per_client,
            self.in_all,
            self.head.as_secs(),
            self.idle.as_secs()
        )
    }
}

/// Who the per-client limit counts: an IPv4 address, or an IPv6 /64 (one
/// subscriber's usual share, all of it one client's to pick from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Client {
    V4(std::net::Ipv4Addr),
    V6Prefix(u64),
}

impl Client {
    pub(super) fn of(address: IpAddr) -> Client {
        match address {
            IpAddr::V4(v4) => Client::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Client::V4(v4),
                None => Client::V6Prefix((v6.to_bits() >> 64) as u64),
            },
        }
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Client::V4(v4) => write!(f, "{v4}"),
            Client::V6Prefix(prefix) => {
                let address = std::net::Ipv6Addr::from_bits(u128::from(*prefix) << 64);
                write!(f, "{address}/64")
            }
        }
    }
}

/// Why a new connection was shed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Shed {
    /// Its client holds this many already, the limit per client.
    PerClient(usize),
    /// This many are open in all, the limit.
    InAll(usize),
}

/// The connections open, shared by every router thread.
pub(super) struct Connections {
    limits: ConnectionLimits,
    open: Mutex<Open>,
    shed_log: Mutex<Occasional>,
    accept_failures: Mutex<Occasional>,
}

#[derive(Default)]
struct Open {
    by_client: HashMap<Client, usize>,
    in_all: usize,
}

impl Connections {
    pub(super) fn new(limits: ConnectionLimits) -> Arc<Connections> {
        Arc::new(Connections {
            limits,
            open: Mutex::default(),
            shed_log: Mutex::default(),
            accept_failures: Mutex::default(),
        })
    }

    /// Counts a new connection in, or says why it must be shed.
    pub(super) fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<ConnectionSlot, Shed> {
        let client = Client::of(peer);
        let mut open = self.open.lock().expect("not poisoned");
        if open.in_all >= self.limits.in_all {
            return Err(Shed::InAll(open.in_all));
        }
        let of_client = open.by_client.entry(client).or_default();
        if *of_client >= self.limits.per_client {
            return Err(Shed::PerClient(*of_client));
        }
        *of_client += 1;
        open.in_all += 1;
        Ok(ConnectionSlot {
            connections: self.clone(),
            client,
            accepted: Instant::now(),
        })
    }

    /// The line to log for a connection just shed, if one is due: at most
    /// one every `SHED_LOG_EVERY`, saying how many went unsaid since.
    pub(super) fn shed_line(&self, peer: IpAddr, shed: Shed, now: Instant) -> Option<String> {
        let unsaid = self.shed_log.lock().expect("not poisoned").note(now)?;
        let why = match shed {
            Shed::PerClient(open) => format!("{open} open, the limit per client address"),
            Shed::InAll(open) => format!("{open} open in all, the router's limit"),
        };
        let since = match unsaid {
            Unsaid::First => format!(
                "new ones past the limit are closed at once; this line comes at most every {} s",
                SHED_LOG_EVERY.as_secs()
            ),
            Unsaid::Since { count, seconds } => {
                format!("{count} more shed in the {seconds} s since the last such line")
            }
        };
        Some(format!(
            "paas daemon: router: shedding connections from {} ({why}); {since}",
            Client::of(peer)
        ))
    }

    /// The line to log for a failed accept (too many open files), if one is
    /// due: as often as the shedding line, for the same reason.
    pub(super) fn accept_failure_line(
        &self,
        error: &std::io::Error,
        now: Instant,
    ) -> Option<String> {
        let unsaid = self
            .accept_failures
            .lock()
            .expect("not poisoned")
            .note(now)?;
        Some(match unsaid {
            Unsaid::First => format!("paas daemon: router: accept: {error}"),
            Unsaid::Since { count, seconds } => format!(
                "paas daemon: router: accept: {error}; {count} more failed in the {seconds} s since the last such line"
            ),
        })
    }

    /// The connections open, in all and of `client`.
    #[cfg(test)]
    fn open(&self, client: IpAddr) -> (usize, usize) {
        let open = self.open.lock().expect("not poisoned");
        let of_client = open
            .by_client
            .get(&Client::of(client))
            .copied()
            .unwrap_or(0);
        (open.in_all, of_client)
    }
}

/// One open client connection, counted until dropped (with the
/// connection, or with what it was upgraded to).
pub(super) struct ConnectionSlot {
    connections: Arc<Connections>,
    client: Client,
    /// When the router accepted the connection.
    pub(super) accepted: Instant,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.connections.open.lock().expect("not poisoned");
        open.in_all -= 1;
        if let Some(of_client) = open.by_client.get_mut(&self.client) {
            *of_client -= 1;
            if *of_client == 0 {
                open.by_client.remove(&self.client);
            }
        }
    }
}

/// A line written at most every `SHED_LOG_EVERY`: when it was last
/// written, and how many times it was due since.
#[derive(Default)]
struct Occasional {
    last_line: Option<Instant>,
    unsaid: u64,
}

#[derive(Debug, PartialEq)]
enum Unsaid {
    /// The first line (or the first for a long while).
    First,
    Since {
        count: u64,
        seconds: u64,
    },
}

impl Occasional {
    /// Notes an event: what the line due now says of those before it, or
    /// nothing when one was written too recently.
    fn note(&mut self, now: Instant) -> Option<Unsaid> {
        match self.last_line {
            Some(at) if now.duration_since(at) < SHED_LOG_EVERY => {
                self.unsaid += 1;
                None
            }
            last => {
                let unsaid = match last {
                    Some(at) if self.unsaid > 0 => Unsaid::Since {
                        count: self.unsaid,
                        seconds: now.duration_since(at).as_secs(),
                    },
                    _ => Unsaid::First,
                };
                self.last_line = Some(now);
                self.unsaid = 0;
                Some(unsaid)
            }
        }
    }
}

/// How long a connection waits for a request's head, the same on both
/// paths: a new connection's first head must be whole within `head` of
/// the accept (a TLS handshake included); after a response, the next
/// request's first byte must come within `idle`, and its head be whole
/// within `head` of that byte.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct HeadWait {
    /// The accept, or the end of the last response.
    since: Instant,
    first_request: bool,
    first_byte: Option<Instant>,
}

impl HeadWait {
    /// For a connection's first request.
    pub(super) fn first_request(accepted: Instant) -> HeadWait {
        HeadWait {
            since: accepted,
            first_request: true,
            first_byte: None,
        }
    }

    /// For the next request on a kept-alive connection, after a response.
    pub(super) fn next_request(now: Instant) -> HeadWait {
        HeadWait {
            since: now,
            first_request: false,
            first_byte: None,
        }
    }

    /// Notes that bytes of the head arrived (only the first counts).
    pub(super) fn bytes_arrived(&mut self, now: Instant) {
        self.first_byte.get_or_insert(now);
    }

    /// Whether no byte of the request came yet: closing at the deadline
    /// then loses nothing (a kept-alive connection gone idle).
    pub(super) fn idle(&self) -> bool {
        self.first_byte.is_none()
    }

    /// When the connection closes if the head is not whole by then.
    pub(super) fn deadline(&self, limits: &ConnectionLimits) -> Instant {
        match (self.first_request, self.first_byte) {
            (true, _) => self.since + limits.head,
            (false, Some(first_byte)) => first_byte + limits.head,
            (false, None) => self.since + limits.idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_client: usize, in_all: usize) -> ConnectionLimits {
        ConnectionLimits {
            per_client,
            in_all,
            ..ConnectionLimits::for_open_files(65536)
        }
    }

    #[test]
    fn the_limit_in_all_is_half_the_open_files_left_past_the_reserve() {
        // What the systemd unit sets: capped.
        let unit = ConnectionLimits::for_open_files(65536);
        assert_eq!((unit.per_client, unit.in_all), (256, 16_384));
        assert_eq!(ConnectionLimits::for_open_files(20_000).in_all, 9488);
        // The soft limit of a service that did not raise it.
        let soft = ConnectionLimits::for_open_files(1024);
        assert_eq!((soft.per_client, soft.in_all), (256, 256));
        let tiny = ConnectionLimits::for_open_files(64);
        assert_eq!((tiny.per_client, tiny.in_all), (16, 16));
        assert_eq!(ConnectionLimits::for_open_files(0).in_all, 1);
        assert_eq!(unit.idle, Duration::from_secs(55));
        assert_eq!(unit.head, Duration::from_secs(30));
    }

    #[test]
    fn a_client_past_its_limit_is_shed_and_others_are_not() {
        let connections = Connections::new(limits(2, 10));
        let (one, two): (IpAddr, IpAddr) =
            ("127.0.0.2".parse().unwrap(), "127.0.0.1".parse().unwrap());
        let first = connections.admit(one).unwrap();
        let _second = connections.admit(one).unwrap();
        assert_eq!(connections.admit(one).err(), Some(Shed::PerClient(2)));
        let _other = connections.admit(two).unwrap();
        assert_eq!(connections.open(one), (3, 2));
        // A connection that ends makes room for the next.
        drop(first);
        assert_eq!(connections.open(one), (2, 1));
        let _third = connections.admit(one).unwrap();
        assert_eq!(connections.admit(one).err(), Some(Shed::PerClient(2)));
    }

    #[test]
    fn past_the_limit_in_all_every_client_is_shed_until_one_ends() {
        let connections = Connections::new(limits(2, 3));
        let slots: Vec<_> = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
            .iter()
            .map(|a| connections.admit(a.parse().unwrap()).unwrap())
            .collect();
        let newcomer: IpAddr = "10.0.0.4".parse().unwrap();
        assert_eq!(connections.admit(newcomer).err(), Some(Shed::InAll(3)));
        drop(slots);
        assert_eq!(connections.open(newcomer), (0, 0));
        assert!(connections.admit(newcomer).is_ok());
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        let connections = Connections::new(limits(1, 10));
        let _held = connections
            .admit("2001:db8:1:2::1".parse().unwrap())
            .unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(connections.admit(same_64).err(), Some(Shed::PerClient(1)));
        assert!(connections
            .admit("2001:db8:1:3::1".parse().unwrap())
            .is_ok());
        let _v4 = connections.admit("192.0.2.7".parse().unwrap()).unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(connections.admit(mapped).err(), Some(Shed::PerClient(1)));
        assert_eq!(Client::of(same_64).to_string(), "2001:db8:1:2::/64");
        assert_eq!(Client::of(mapped).to_string(), "192.0.2.7");
    }

    #[test]
    fn the_shedding_line_comes_once_per_interval_with_a_count_of_the_rest() {
        let connections = Connections::new(limits(256, 1000));
        let peer: IpAddr = "1.2.3.4".parse().unwrap();
        let start = Instant::now();
        let first = connections.shed_line(peer, Shed::PerClient(256), start);
        assert_eq!(
            first.as_deref(),
            Some(
                "paas daemon: router: shedding connections from 1.2.3.4 (256 open, the limit \
                 per client address); new ones past the limit are closed at once; this line \
                 comes at most every 10 s"
            )
        );
        // The rest of the burst: counted, not said.
        for millis in 1..=743 {
            let at = start + Duration::from_millis(millis);
            assert_eq!(connections.shed_line(peer, Shed::PerClient(256), at), None);
        }
        let later = start + Duration::from_secs(12);
        assert_eq!(
            connections
                .shed_line(peer, Shed::InAll(1000), later)
                .as_deref(),
            Some(
                "paas daemon: router: shedding connections from 1.2.3.4 (1000 open in all, \
                 the router's limit); 743 more shed in the 12 s since the last such line"
            )
        );
        // A new burst long after one that said everything starts afresh.
        let next_burst = later + Duration::from_secs(60);
        let line = connections.shed_line(peer, Shed::PerClient(256), next_burst);
        assert!(line
            .unwrap()
            .ends_with("this line comes at most every 10 s"));
    }

    #[test]
    fn failed_accepts_are_logged_as_seldom() {
        let connections = Connections::new(limits(256, 1000));
        let error = std::io::Error::from_raw_os_error(libc::EMFILE);
        let start = Instant::now();
        assert_eq!(
            connections.accept_failure_line(&error, start).as_deref(),
            Some("paas daemon: router: accept: Too many open files (os error 24)")
        );
        for millis in [50, 100, 150] {
            let at = start + Duration::from_millis(millis);
            assert_eq!(connections.accept_failure_line(&error, at), None);
        }
        let later = start + Duration::from_secs(10);
        assert_eq!(
            connections.accept_failure_line(&error, later).as_deref(),
            Some(
                "paas daemon: router: accept: Too many open files (os error 24); 3 more failed \
                 in the 10 s since the last such line"
            )
        );
    }

    #[test]
    fn a_heads_deadline_runs_from_the_accept_then_from_its_first_byte() {
        let limits = limits(256, 1000);
        let accepted = Instant::now();
        let mut first = HeadWait::first_request(accepted);
        assert_eq!(first.deadline(&limits), accepted + limits.head);
        // Bytes trickling in move nothing.
        first.bytes_arrived(accepted + Duration::from_secs(5));
        first.bytes_arrived(accepted + Duration::from_secs(10));
        assert_eq!(first.deadline(&limits), accepted + limits.head);
        assert!(!first.idle());

        let answered = accepted + Duration::from_secs(1);
        let mut next = HeadWait::next_request(answered);
        assert!(next.idle());
        assert_eq!(next.deadline(&limits), answered + limits.idle);
        let byte = answered + Duration::from_secs(40);
        next.bytes_arrived(byte);
        next.bytes_arrived(byte + Duration::from_secs(5));
        assert_eq!(next.deadline(&limits), byte + limits.head);
        assert!(!next.idle());
    }

    #[test]
    fn the_limits_say_themselves() {
        assert_eq!(
            ConnectionLimits::for_open_files(65536).to_string(),
            "at most 256 connections per client address and 16384 in all; \
             a request's head within 30 s, a kept-alive connection idle for 55 s at most"
        );
    }
}
