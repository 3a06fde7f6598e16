//! The HTTP router: `Host: <app>.<domain>`, or a custom domain of the app
//! (`domains:add`), goes to one of the app's web dynos, round robin. Unknown hosts get a plain 404, apps without a running
//! web dyno a 503, a request whose host is ambiguous or whose body is
//! malformed a 400 (`request_host`, `client_body`). Every request to an app
//! is logged to its stream in Heroku's router format.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, HOST, UPGRADE};
use hyper::server::conn::http1 as hyper_http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use super::connector::{ConnectTime, TimedConnector};
use crate::error::{Context, Result};
use crate::routes::Backend;
use crate::runtime::netns::DynoConnector;
use crate::state::{AppName, Root};
use rustls::sign::CertifiedKey;

mod client_body;
mod http1;
#[cfg(test)]
mod loopback_tests;
mod request_host;

use request_host::host_name;

/// How long a dyno that refused a connection is left out of the rotation.
const REFUSED_PAUSE: Duration = Duration::from_secs(5);

/// A dyno that closes a connection this soon without answering died with
/// the request: one that can go again goes to another dyno, once.
const DIED_WITH_REQUEST: Duration = Duration::from_secs(1);
/// Heroku's limit for the first byte of a response (H12 past it).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Heroku's rolling window once a response is under way: a body that moves
/// no byte for this long ends (H15 when the dyno sent none).
const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(55);

/// One app's backends, its round-robin position, and which backends refused
/// a connection lately.
pub struct AppRoutes {
    /// The app these routes serve (the table also has them under each of
    /// its custom domains).
    pub app: String,
    backends: Vec<Backend>,
    next: AtomicUsize,
    /// Per backend: milliseconds since `epoch` until which it is left out.
    left_out_until: Vec<AtomicU64>,
    epoch: Instant,
    /// In maintenance mode: the page every request gets instead.
    maintenance: Option<MaintenancePage>,
    /// The app's TLS certificate, served to clients naming its hosts.
    certificate: Option<Arc<CertifiedKey>>,
    certificate_names: Vec<String>,
    /// Whether plain HTTP requests are sent to HTTPS (with a certificate).
    https_redirect: bool,
    /// What having no backends means: the app sleeps (a request wakes it),
    /// its web dynos crashed (H10), or none are wanted (H14).
    idle: Idle,
    /// Unix seconds of the app's latest request (for autosleep), kept
    /// across reloads of its routes.
    pub last_request: Arc<AtomicI64>,
}

/// Why an app may have no web dyno to send a request to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Idle {
    /// Scaled to zero (or never deployed): H14.
    NoneWanted,
    /// Web dynos are wanted and none is up: H10.
    Crashed,
    /// Stopped by autosleep: the request waits while one starts.
    Asleep,
}

/// Wakes a sleeping app: starts its web dynos (once, however many requests
/// ask) and reloads its routes.
pub type Wake = Arc<dyn Fn(&str) + Send + Sync>;

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// How long a request waits for a sleeping app's dyno (Heroku's boot
/// timeout is 75 s; ours, R10's, is 60): past it, H20.
const WAKE_TIMEOUT: Duration = crate::converge::BOOT_TIMEOUT;

/// What the router answers an app in maintenance mode with.
pub enum MaintenancePage {
    /// Ours, in plain text.
    Plain,
    /// The app's own (`MAINTENANCE_PAGE_URL`), as fetched.
    Custom(Bytes),
}

impl AppRoutes {
    pub fn new(app: &str, backends: Vec<Backend>) -> AppRoutes {
        AppRoutes {
            app: app.to_string(),
            left_out_until: backends.iter().map(|_| AtomicU64::new(0)).collect(),
            backends,
            next: AtomicUsize::new(0),
            epoch: Instant::now(),
            maintenance: None,
            certificate: None,
            certificate_names: Vec::new(),
            https_redirect: false,
            idle: Idle::NoneWanted,
            last_request: Arc::default(),
        }
    }

    /// Carries the latest request's time over from the routes these replace.
    pub fn with_last_request(mut self, last_request: Arc<AtomicI64>) -> AppRoutes {
        self.last_request = last_request;
        self
    }

    fn touch(&self) {
        let now = unix_now();
        if self.last_request.load(Ordering::Relaxed) != now {
            self.last_request.store(now, Ordering::Relaxed);
        }
    }

    /// What an empty list of backends means for this app.
    pub fn when_idle(mut self, idle: Idle) -> AppRoutes {
        self.idle = idle;
        self
    }

    /// The app's certificate, the names it covers, and whether plain HTTP
    /// requests for those names are redirected to HTTPS.
    pub fn with_certificate(
        mut self,
        certificate: Arc<CertifiedKey>,
        names: Vec<String>,
        redirect: bool,
    ) -> AppRoutes {
        self.certificate = Some(certificate);
        self.certificate_names = names;
        self.https_redirect = redirect;
        self
    }

    /// Whether a plain HTTP request for `host` goes to HTTPS: asked for,
    /// and the certificate covers that host (else the client could not
    /// trust the page it is sent to).
    fn redirects_to_https(&self, host: &str) -> bool {
        self.https_redirect
            && self.certificate.is_some()
            && self
                .certificate_names
                .iter()
                .any(|name| crate::certs::covers(name, host))
    }

    pub fn in_maintenance(mut self, page: MaintenancePage) -> AppRoutes {
        self.maintenance = Some(page);
        self
    }

    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The next backend in turn, skipping those left out, unless all are.
    fn pick(&self) -> Option<(usize, &Backend)> {
        if self.backends.is_empty() {
            return None;
        }
        let now = self.now_ms();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.backends.len();
        // Dynos on standby (the previous release's) only when every other
        // is left out: a new dyno that crashed refuses, and its requests go
        // to them.
        let next_of = |standby: bool| {
            (0..count)
                .map(|offset| (start + offset) % count)
                .find(|&i| {
                    self.backends[i].standby == standby
                        && self.left_out_until[i].load(Ordering::Relaxed) <= now
                })
        };
        let index = next_of(false)
            .or_else(|| next_of(true))
            .unwrap_or(start % count);
        Some((index, &self.backends[index]))
    }

    /// Leaves a backend that refused a connection out for a few seconds.
    fn refused(&self, index: usize) {
        let until = self.now_ms() + REFUSED_PAUSE.as_millis() as u64;
        self.left_out_until[index].store(until, Ordering::Relaxed);
    }
}

/// The platform's domain (`domains:set-global` changes it while running).
pub type Domain = Arc<ArcSwap<String>>;

/// App name to routes, swapped whole on every reload so requests never lock.
pub type RouteTable = Arc<ArcSwap<HashMap<String, Arc<AppRoutes>>>>;

/// Requests under way per dyno container (until their response body is
/// sent), so a deploy stops the old dynos only once theirs are done.
#[derive(Default)]
/// A counter per dyno: one short lock to find it, then atomics.
pub struct InFlight(std::sync::Mutex<HashMap<String, Arc<AtomicUsize>>>);

impl InFlight {
    fn enter(self: &Arc<Self>, container: &str) -> InFlightGuard {
        let counter = {
            let mut counters = self.0.lock().expect("not poisoned");
            let counter = match counters.get(container) {
                Some(counter) => counter.clone(),
                None => {
                    // Counters of dynos long gone go when a new one comes.
                    counters.retain(|_, c| c.load(Ordering::Relaxed) > 0);
                    let counter = Arc::new(AtomicUsize::new(0));
                    counters.insert(container.to_string(), counter.clone());
                    counter
                }
            };
            // Counted under the lock, so no prune can drop a counter in use.
            counter.fetch_add(1, Ordering::SeqCst);
            counter
        };
        InFlightGuard(counter)
    }

    /// How many requests are under way to any of these dynos.
    pub fn count(&self, containers: &[&str]) -> usize {
        let counters = self.0.lock().expect("not poisoned");
        containers
            .iter()
            .filter_map(|a| counters.get(*a))
            .map(|c| c.load(Ordering::SeqCst))
            .sum()
    }

    /// Waits until none of these dynos has a request under way, or
    /// the request timeout passes.
    pub async fn drain(&self, containers: &[&str]) {
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        // Twice empty, a moment apart: a request that read the old routes
        // just before they changed has counted itself by then.
        let mut empty_before = false;
        while Instant::now() < deadline {
            let empty = self.count(containers) == 0;
            if empty && empty_before {
                return;
            }
            empty_before = empty;
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// One request's place in `InFlight`; dropped when it is done.
struct InFlightGuard(Arc<AtomicUsize>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = BoxBody<Bytes, BoxError>;

fn dyno_client(connector: &DynoConnector, table: &RouteTable) -> Client<TimedConnector, Body> {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(TimedConnector::new(connector.clone(), table.clone()))
}

/// One router per thread (see `serve_on_threads`): all share the routes,
/// the request log and the in-flight counts; each keeps its own pool of
/// connections to dynos.
pub struct Router {
    domain: Domain,
    /// The ports clients connect to, for `X-Forwarded-Port` and redirects.
    port: u16,
    https_port: Option<u16>,
    table: RouteTable,
    client: Client<TimedConnector, Body>,
    /// For the HTTP/1.1 path.
    dyno_pool: http1::DynoPool,
    /// Connects to dynos inside their network namespaces (`runtime::netns`).
    dyno_connector: DynoConnector,
    in_flight: Arc<InFlight>,
    log: RequestLog,
    request_ids: Arc<RequestIds>,
    wake: Wake,
    challenges: super::acme::Challenges,
}

/// What the router shares with the rest of the daemon.
pub struct RouterParts {
    pub table: RouteTable,
    pub in_flight: Arc<InFlight>,
    pub wake: Wake,
    pub challenges: super::acme::Challenges,
    /// The socket of the `runtime::netns` helper.
    pub connector_socket: std::path::PathBuf,
}

/// Headers that describe one connection, not the request: never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

impl Router {
    pub fn new(
        domain: Domain,
        port: u16,
        https_port: Option<u16>,
        parts: RouterParts,
        root: Root,
    ) -> Arc<Router> {
        let dyno_connector = DynoConnector::new(parts.connector_socket);
        Arc::new(Router {
            client: dyno_client(&dyno_connector, &parts.table),
            domain,
            port,
            https_port,
            table: parts.table,
            dyno_pool: http1::DynoPool::default(),
            dyno_connector,
            in_flight: parts.in_flight,
            log: RequestLog::start(root),
            request_ids: Arc::default(),
            wake: parts.wake,
            challenges: parts.challenges,
        })
    }

    /// A router for another thread: the same routes and log, its own pool.
    fn for_another_thread(&self) -> Arc<Router> {
        Arc::new(Router {
            domain: self.domain.clone(),
            port: self.port,
            https_port: self.https_port,
            table: self.table.clone(),
            client: dyno_client(&self.dyno_connector, &self.table),
            dyno_pool: http1::DynoPool::default(),
            dyno_connector: self.dyno_connector.clone(),
            in_flight: self.in_flight.clone(),
            log: self.log.clone(),
            request_ids: self.request_ids.clone(),
            wake: self.wake.clone(),
            challenges: self.challenges.clone(),
        })
    }

    /// Serves HTTP (and HTTPS) on one thread per CPU, each with its own
    /// single-threaded runtime taking connections from the same listeners,
    /// as nginx's workers do. A connection and its dyno connections stay on
    /// one thread: on a work-stealing runtime, the wake-ups between threads
    /// cost more than the routing (measured: 33k against 64k requests/s).
    pub fn serve_on_threads(
        self: Arc<Self>,
        http: TcpListener,
        https: Option<TcpListener>,
    ) -> Result<()> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let http = http
            .into_std()
            .context(|| "taking the router's HTTP listener".into())?;
        let https = https
            .map(|l| l.into_std())
            .transpose()
            .context(|| "taking the router's HTTPS listener".into())?;
        for index in 0..threads {
            let router = if index == 0 {
                self.clone()
            } else {
                self.for_another_thread()
            };
            let http = http
                .try_clone()
                .context(|| "sharing the router's HTTP listener".into())?;
            let https = https
                .as_ref()
                .map(|l| l.try_clone())
                .transpose()
                .context(|| "sharing the router's HTTPS listener".into())?;
            std::thread::Builder::new()
                .name(format!("paas-router-{index}"))
                .spawn(move || {
                    // Connections' panics stay in their tasks; one that stops
                    // a whole thread would leave part of the router gone
                    // unseen. The service manager starts the daemon afresh.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        router.serve_on_this_thread(http, https)
                    }));
                    eprintln!(
                        "paas daemon: router thread {index} stopped; exiting to be restarted"
                    );
                    std::process::exit(1);
                })
                .context(|| "starting a router thread".into())?;
        }
        Ok(())
    }

    fn serve_on_this_thread(
        self: Arc<Self>,
        http: std::net::TcpListener,
        https: Option<std::net::TcpListener>,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for a router thread");
        runtime.block_on(async move {
            let http = TcpListener::from_std(http).expect("the HTTP listener");
            if let Some(https) = https {
                let https = TcpListener::from_std(https).expect("the HTTPS listener");
                let router = self.clone();
                tokio::spawn(async move {
                    if let Err(err) = router.serve_tls(https).await {
                        eprintln!("paas daemon: HTTPS: {}", err.report().trim_end());
                    }
                });
            }
            let router = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(http1::POOL_IDLE).await;
                    router.dyno_pool.prune();
                }
            });
            self.serve(http).await
        });
    }

    /// Accepts connections until the process stops.
    async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let (stream, peer) = accept(&listener).await;
            tokio::spawn(self.clone().serve_http1(stream, peer));
        }
    }

    /// Serves an HTTP/1 connection with hyper: what the router's own path
    /// does not take.
    async fn serve_with_hyper<I>(self: Arc<Self>, io: I, peer: SocketAddr)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let service = service_fn(move |request| {
            let router = self.clone();
            async move { Ok::<_, hyper::Error>(router.handle(request, peer, false).await) }
        });
        let _ = hyper_http1::Builder::new()
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades()
            .await;
    }

    /// Accepts TLS connections until the process stops: the certificate of
    /// the app the client names (SNI), then HTTP/2 or HTTP/1.1 (ALPN).
    async fn serve_tls(self: Arc<Self>, listener: TcpListener) -> Result<()> {
        let resolver = CertificateResolver {
            table: self.table.clone(),
            domain: self.domain.clone(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| crate::error::Error::unexpected(err.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        loop {
            let (stream, peer) = accept(&listener).await;
            let (router, acceptor) = (self.clone(), acceptor.clone());
            tokio::spawn(async move {
                // A client that never finishes its handshake holds nothing for long.
                let handshake =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                let Ok(Ok(stream)) = handshake.await else {
                    return;
                };
                let service = service_fn(move |request| {
                    let router = router.clone();
                    async move { Ok::<_, hyper::Error>(router.handle(request, peer, true).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    /// Where a request goes: answered by the router itself (ACME, unknown
    /// host, HTTPS redirect, maintenance, no dyno), or to which dyno, with
    /// its log entry begun. A sleeping app is woken first.
    async fn admit(&self, head: &RequestHead<'_>, peer: SocketAddr, secure: bool) -> Admission {
        let path_only = head.path.split('?').next().unwrap_or_default();
        if let Some(token) = path_only.strip_prefix("/.well-known/acme-challenge/") {
            let answer = self
                .challenges
                .lock()
                .expect("not poisoned")
                .get(token)
                .cloned();
            if let Some(key_authorization) = answer {
                return Admission::Answer(Answer::new(
                    StatusCode::OK,
                    Bytes::from(key_authorization),
                ));
            }
        }
        let name = host_name(head.host);
        let Some(mut routes) = routes_for_host(&self.table.load(), &self.domain.load(), name)
        else {
            return Admission::Answer(page(
                StatusCode::NOT_FOUND,
                "No such app",
                &format!("There is no app at {}.", head.host),
            ));
        };
        routes.touch();
        if let (false, true, Some(https_port)) =
            (secure, routes.redirects_to_https(name), self.https_port)
        {
            let port = if https_port == 443 {
                String::new()
            } else {
                format!(":{https_port}")
            };
            return Admission::Answer(redirect(&format!("https://{name}{port}{}", head.path)));
        }
        let app = routes.app.clone();
        let mut entry = RequestEntry {
            app: app.clone(),
            method: head.method.to_string(),
            path: head.path.to_string(),
            host: head.host.to_string(),
            request_id: self.request_ids.for_header(head.request_id),
            forwarded_for: peer.ip(),
            dyno: None,
            connect: None,
            status: 0,
            bytes: None,
            service: Duration::ZERO,
            error: None,
            cause: None,
        };
        if let Some(maintenance) = &routes.maintenance {
            entry.error = Some(("H80", "Maintenance mode"));
            entry.status = 503;
            self.log.send(entry);
            return Admission::Answer(match maintenance {
                MaintenancePage::Plain => page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Offline for maintenance",
                    &format!("{app} is undergoing maintenance right now. Please check back soon."),
                ),
                MaintenancePage::Custom(html) => {
                    Answer::new(StatusCode::SERVICE_UNAVAILABLE, html.clone())
                        .with("content-type", "text/html; charset=utf-8")
                        .with("retry-after", "60")
                }
            });
        }
        if routes.backends.is_empty() && routes.idle == Idle::Asleep {
            // Held while a dyno starts, then served as if it had been up.
            routes = self.woken(&app).await.unwrap_or(routes);
        }
        let Some((index, backend)) = routes.pick().map(|(i, b)| (i, b.clone())) else {
            entry.status = 503;
            let (error, text) = match routes.idle {
                Idle::NoneWanted => (
                    ("H14", "No web processes running"),
                    format!("{app} has no web dyno running. Its owner can start one with `paas ps:scale web=1`."),
                ),
                Idle::Crashed => (
                    ("H10", "App crashed"),
                    format!("{app} crashed. Its owner can check `paas logs` and `paas ps`."),
                ),
                Idle::Asleep => (
                    ("H20", "App boot timeout"),
                    format!("{app} was asleep and did not start within {} seconds. Its owner can check `paas logs`.", WAKE_TIMEOUT.as_secs()),
                ),
            };
            entry.error = Some(error);
            self.log.send(entry);
            return Admission::Answer(page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Application error",
                &text,
            ));
        };
        Admission::Forward(Forward {
            routes,
            index,
            backend,
            entry,
        })
    }

    /// After a dyno refused a connection: leaves it out for a while and, if
    /// the request can be sent again, the next dyno to try (by the latest
    /// routes: a deploy may have moved on since the request read them).
    fn after_refusal(
        &self,
        routes: &mut Arc<AppRoutes>,
        index: usize,
        app: &str,
        retryable: bool,
        attempts: usize,
    ) -> Option<(usize, Backend)> {
        routes.refused(index);
        if let Some(latest) = self.table.load().get(app) {
            if !Arc::ptr_eq(latest, routes) {
                *routes = latest.clone();
            }
        }
        if !retryable || attempts > routes.backends.len() {
            return None;
        }
        routes.pick().map(|(i, b)| (i, b.clone()))
    }

    /// A request from hyper: HTTP/2, HTTPS, and what the HTTP/1.1 path
    /// hands over.
    async fn handle(
        &self,
        mut request: Request<Incoming>,
        peer: SocketAddr,
        secure: bool,
    ) -> Response<Body> {
        let started = Instant::now();
        // HTTP/2 names the host in the request's authority, as HTTP/1.1
        // does in an absolute-form target.
        let authority = request.uri().authority().map(|a| a.as_str().to_string());
        let host = match request_host::request_host(
            authority.as_deref(),
            request.headers().get_all(HOST).iter().map(|v| v.as_bytes()),
            request.version() == hyper::Version::HTTP_11,
        ) {
            Ok(host) => host,
            Err(bad) => return bad_request(bad.explain()).into_response(),
        };
        let method = request.method().to_string();
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let request_id = request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok());
        let head = RequestHead {
            method: &method,
            path: &path,
            host: &host,
            request_id,
        };
        let Forward {
            mut routes,
            mut index,
            mut backend,
            mut entry,
        } = match self.admit(&head, peer, secure).await {
            Admission::Answer(answer) => return answer.into_response(),
            Admission::Forward(forward) => forward,
        };
        let app = entry.app.clone();
        let app = app.as_str();
        // A WebSocket (or other) upgrade: the two hop-by-hop headers that ask
        // for it go to the dyno too, and the connections are joined on 101.
        let upgrade = requested_upgrade(&request);
        let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut request));
        let port = if secure {
            self.https_port.unwrap_or(self.port)
        } else {
            self.port
        };
        // A request with no body may go to another dyno when the first
        // refuses the connection: nothing of it has been sent yet.
        let retryable =
            request.method().is_idempotent() && hyper::body::Body::is_end_stream(request.body());
        add_forwarding_headers(&mut request, peer, secure, port, &entry.request_id);
        if let Some(authority) = authority {
            // The app is told the host the request was routed by, in the
            // origin-form target sent below (RFC 9112, 3.2.2: a proxy
            // replaces `Host` with the target's authority).
            if let Ok(value) = HeaderValue::from_str(&authority) {
                request.headers_mut().insert(HOST, value);
            }
        }
        if request.version() == hyper::Version::HTTP_2 {
            join_cookies(request.headers_mut());
        }
        let (parts, body) = request.into_parts();
        let client_version = parts.version;
        let (body, client_fault) = client_body::watch(body);
        let mut body = Some(body.boxed());
        let mut attempts = 0;
        let mut guard;
        let response = loop {
            attempts += 1;
            guard = Some(self.in_flight.enter(&backend.container));
            entry.dyno = Some(backend.dyno.clone());
            let Ok(uri) =
                format!("http://{}{}", backend.container, entry.path).parse::<hyper::Uri>()
            else {
                return bad_request("The request path is not valid.").into_response();
            };
            let mut attempt = Request::new(match body.take() {
                Some(body) => body,
                None => empty_body(),
            });
            *attempt.method_mut() = parts.method.clone();
            *attempt.uri_mut() = uri;
            // Dynos speak HTTP/1.1, whatever the client speaks.
            *attempt.version_mut() = hyper::Version::HTTP_11;
            *attempt.headers_mut() = parts.headers.clone();
            if let Some(protocol) = &upgrade {
                let headers = attempt.headers_mut();
                headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
                headers.insert(UPGRADE, protocol.clone());
            }
            let sent = Instant::now();
            let result = tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(attempt)).await;
            if let Ok(Ok(response)) = &result {
                entry.connect = response
                    .extensions()
                    .get::<ConnectTime>()
                    .map(|time| time.for_request_sent(sent));
            }
            if let (Ok(Err(_)), Some(fault)) = (&result, client_fault.get()) {
                // The client broke its body on the way: not the dyno's doing.
                entry.cause = fault.cause();
                break Err(fault.error());
            }
            match result {
                // Refused, or closed without an answer (the dyno died with
                // the request): another dyno may take a request that can go
                // again, as nginx's `proxy_next_upstream error` does.
                Ok(Err(err))
                    if err.is_connect()
                        || (retryable
                            && attempts == 1
                            && sent.elapsed() < DIED_WITH_REQUEST
                            && closed_without_answer(&err)) =>
                {
                    if let Some(next) =
                        self.after_refusal(&mut routes, index, app, retryable, attempts)
                    {
                        (index, backend) = next;
                        continue;
                    }
                    break Err(if err.is_connect() {
                        ("H21", "Backend connection refused")
                    } else {
                        ("H13", "Connection closed without response")
                    });
                }
                Ok(Err(_)) => break Err(("H13", "Connection closed without response")),
                Err(_elapsed) => break Err(("H12", "Request timeout")),
                Ok(Ok(response)) => break Ok(response),
            }
        };
        entry.service = started.elapsed();
        match response {
            Ok(mut response) => {
                let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
                if let (true, Some(client_upgrade)) = (switching, client_upgrade) {
                    let backend_upgrade = hyper::upgrade::on(&mut response);
                    tokio::spawn(join_upgraded(client_upgrade, backend_upgrade));
                    // A joined connection lasts as long as the client keeps
                    // it; a deploy does not wait for it.
                    guard = None;
                }
                let (mut parts, body) = response.into_parts();
                // The client's HTTP version, not the dyno's: an HTTP/1.0
                // app must not cost a 1.1 client its kept-alive connection.
                parts.version = client_version;
                let kept = switching.then(|| {
                    (
                        parts.headers.get(CONNECTION).cloned(),
                        parts.headers.get(UPGRADE).cloned(),
                    )
                });
                for name in HOP_BY_HOP {
                    parts.headers.remove(*name);
                }
                if let Some((connection, protocol)) = kept {
                    // The client must see the switch it asked for.
                    for (name, value) in [(CONNECTION, connection), (UPGRADE, protocol)] {
                        if let Some(value) = value {
                            parts.headers.insert(name, value);
                        }
                    }
                }
                entry.status = parts.status.as_u16();
                entry.bytes = parts
                    .headers
                    .get(CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok());
                let body = LoggedBody {
                    body,
                    idle: None,
                    entry: Some(entry),
                    log: self.log.clone(),
                    _in_flight: guard,
                };
                Response::from_parts(parts, body.boxed())
            }
            Err(error) => {
                let answer = failure_answer(error.0);
                entry.status = match error.0 {
                    // Nobody to answer: nginx's 499, as on the HTTP/1.1 path.
                    "H27" => 499,
                    _ => answer.status.as_u16(),
                };
                entry.error = Some(error);
                self.log.send(entry);
                answer.into_response()
            }
        }
    }
}

/// A dyno's response body on its way to the client. The request's log
/// line is written when the body ends, with H18 if the dyno broke it off,
/// as on the router's own HTTP/1.1 path; until then the request counts as
/// under way, for deploys draining the dyno.
struct LoggedBody {
    body: Incoming,
    /// While the next frame is awaited: ends the body when the dyno sends
    /// nothing for `BODY_IDLE_TIMEOUT`. Made only when a frame is late.
    idle: Option<Pin<Box<tokio::time::Sleep>>>,
    entry: Option<RequestEntry>,
    log: RequestLog,
    _in_flight: Option<InFlightGuard>,
}

impl LoggedBody {
    fn finish(&mut self, error: Option<(&'static str, &'static str)>) {
        if let Some(mut entry) = self.entry.take() {
            entry.error = error;
            self.log.send(entry);
        }
    }
}

impl hyper::body::Body for LoggedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if polled.is_ready() {
            self.idle = None;
        }
        match polled {
            Poll::Ready(None) => {
                self.finish(None);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(err))) => {
                self.finish(Some(("H18", "Server Request Interrupted")));
                Poll::Ready(Some(Err(err.into())))
            }
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Pending => match self
                .idle
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(BODY_IDLE_TIMEOUT)))
                .as_mut()
                .poll(cx)
            {
                Poll::Ready(()) => {
                    self.finish(Some(("H15", "Idle connection")));
                    Poll::Ready(Some(Err("the dyno sent nothing for 55 seconds".into())))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A client that went away before the end: logged as the dyno answered.
impl Drop for LoggedBody {
    fn drop(&mut self) {
        self.finish(None);
    }
}

/// Whether the dyno closed the connection before any of its answer.
fn closed_without_answer(err: &hyper_util::client::legacy::Error) -> bool {
    std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<hyper::Error>())
        .is_some_and(hyper::Error::is_incomplete_message)
}

/// The page for a request no dyno answered: H12, H21, or H13; or one the
/// client broke on the way (H26, H27).
fn failure_answer(code: &str) -> Answer {
    let (status, text) = match code {
        "H26" => return bad_request("The request's chunked body is malformed."),
        "H27" => return bad_request("The request's body ended before it was whole."),
        "H12" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The app took more than 30 seconds to answer. Its owner can check `paas logs`.",
        ),
        "H21" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The app refused the connection. Its owner can check `paas logs`.",
        ),
        _ => (
            StatusCode::BAD_GATEWAY,
            "The app did not answer. Its owner can check `paas logs`.",
        ),
    };
    page(status, "Application error", text)
}

impl Router {
    /// Wakes a sleeping app and waits for its routes to have a backend.
    async fn woken(&self, app: &str) -> Option<Arc<AppRoutes>> {
        (self.wake)(app);
        let deadline = Instant::now() + WAKE_TIMEOUT;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Some(routes) = self.table.load().get(app) {
                // Up, or the wake is over without a dyno (crashed, scaled
                // to zero): answered now either way.
                if !routes.backends.is_empty() || routes.idle != Idle::Asleep {
                    return Some(routes.clone());
                }
            }
        }
        None
    }
}

/// The protocol a request asks to switch to (`Upgrade: websocket` with
/// `Connection: upgrade`), if any.
fn requested_upgrade<B>(request: &Request<B>) -> Option<HeaderValue> {
    let asks = request
        .headers()
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| request.headers().get(UPGRADE).cloned())
        .flatten()
}

/// Copies both ways between the client and the dyno once both switched,
/// until either side closes.
async fn join_upgraded(client: hyper::upgrade::OnUpgrade, backend: hyper::upgrade::OnUpgrade) {
    let (Ok(client), Ok(backend)) = tokio::join!(client, backend) else {
        return;
    };
    let (mut client, mut backend) = (TokioIo::new(client), TokioIo::new(backend));
    let _ = tokio::io::copy_bidirectional(&mut client, &mut backend).await;
}

fn empty_body() -> Body {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed()
}

fn add_forwarding_headers(
    request: &mut Request<Incoming>,
    peer: SocketAddr,
    secure: bool,
    port: u16,
    request_id: &str,
) {
    let headers = request.headers_mut();
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    let previous = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    forwarding_headers(
        previous.as_deref(),
        peer,
        secure,
        port,
        request_id,
        |name, value| {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        },
    );
}

/// The headers the router sets on every request it forwards, replacing
/// any the client sent; `X-Forwarded-For` adds the client to the chain.
const FORWARDING_HEADERS: [&str; 6] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-request-start",
    "x-request-id",
    "via",
];

fn forwarding_headers(
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

/// The next connection (a failed accept, such as too many open files, is
/// logged and waited out), with Nagle off: responses go out as written.
async fn accept(listener: &TcpListener) -> (tokio::net::TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                return (stream, peer);
            }
            Err(err) => {
                eprintln!("paas daemon: accept: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The routes a host name (no port) leads to: a custom domain, else
/// `<app>.<domain>`.
fn routes_for_host(
    table: &HashMap<String, Arc<AppRoutes>>,
    domain: &str,
    name: &str,
) -> Option<Arc<AppRoutes>> {
    if let Some(routes) = table.get(name).filter(|_| name.contains('.')) {
        return Some(routes.clone());
    }
    let app = name.strip_suffix(domain)?.strip_suffix('.')?;
    if app.is_empty() || app.contains('.') {
        return None;
    }
    table.get(app).cloned()
}

/// Picks the certificate of the app a TLS client names.
struct CertificateResolver {
    table: RouteTable,
    domain: Domain,
}

impl std::fmt::Debug for CertificateResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CertificateResolver(*.{})", self.domain.load())
    }
}

impl rustls::server::ResolvesServerCert for CertificateResolver {
    fn resolve(&self, hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name()?.to_ascii_lowercase();
        routes_for_host(&self.table.load(), &self.domain.load(), host_name(&name))?
            .certificate
            .clone()
    }
}

/// One `Cookie` line, as an HTTP/1.1 dyno expects, from an HTTP/2
/// request's (HTTP/2 may split it; RFC 9113, section 8.2.3). Its `Host` is
/// set from the authority, as for an absolute-form HTTP/1.1 target.
fn join_cookies(headers: &mut hyper::HeaderMap) {
    let cookies: Vec<String> = headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    if cookies.len() > 1 {
        if let Ok(joined) = HeaderValue::from_str(&cookies.join("; ")) {
            headers.insert(hyper::header::COOKIE, joined);
        }
    }
}

fn redirect(location: &str) -> Answer {
    Answer::new(StatusCode::PERMANENT_REDIRECT, Bytes::new()).with("location", location)
}

fn page(status: StatusCode, title: &str, text: &str) -> Answer {
    Answer::new(status, Bytes::from(format!("{title}\n\n{text}\n")))
        .with("content-type", "text/plain; charset=utf-8")
}

/// A request the router will not take, as sent: the connection ends after
/// the answer, as nginx's does (what follows a malformed request cannot be
/// trusted to start where the client meant the next one to). hyper drops
/// the header from an HTTP/2 answer, where the stream ends instead.
fn bad_request(text: &str) -> Answer {
    page(StatusCode::BAD_REQUEST, "Bad request", text).with("connection", "close")
}

/// What the router needs of a request to decide where it goes.
struct RequestHead<'a> {
    method: &'a str,
    /// With the query.
    path: &'a str,
    /// The `Host` header, lowercase, with its port if any.
    host: &'a str,
    /// The client's `X-Request-Id`, if it sent one.
    request_id: Option<&'a str>,
}

// Made once per request and taken apart at once: no box needed.
#[allow(clippy::large_enum_variant)]
enum Admission {
    /// The router answers the request itself.
    Answer(Answer),
    Forward(Forward),
}

/// To this dyno of the app; the log entry so far.
struct Forward {
    routes: Arc<AppRoutes>,
    index: usize,
    backend: Backend,
    entry: RequestEntry,
}

/// A response the router makes itself: error pages, redirects, the
/// maintenance page, ACME answers.
struct Answer {
    status: StatusCode,
    headers: Vec<(&'static str, HeaderValue)>,
    body: Bytes,
}

impl Answer {
    fn new(status: StatusCode, body: Bytes) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body,
        }
    }

    fn with(mut self, name: &'static str, value: &str) -> Answer {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }

    fn into_response(self) -> Response<Body> {
        let mut response =
            Response::new(Full::new(self.body).map_err(|never| match never {}).boxed());
        *response.status_mut() = self.status;
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }

    /// As HTTP/1.1 bytes; `close` says the connection ends after it. The
    /// answer to a HEAD request has no body, only its length.
    fn to_http1(&self, close: bool, head_only: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        out.extend_from_slice(
            format!(
                "HTTP/1.1 {} {}\r\n",
                self.status.as_u16(),
                self.status.canonical_reason().unwrap_or("")
            )
            .as_bytes(),
        );
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(
            format!(
                "date: {}\r\ncontent-length: {}\r\n",
                http_date(SystemTime::now()),
                self.body.len()
            )
            .as_bytes(),
        );
        if close {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// A `Date` header's value (RFC 9110's IMF-fixdate), as hyper sets on the
/// answers it sends.
fn http_date(at: SystemTime) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::from(at)
        .format(&format)
        .unwrap_or_default()
}

/// Request ids: the client's when it sends a sane one, else a fresh one.
#[derive(Default)]
struct RequestIds {
    counter: AtomicU64,
    seed: RandomState,
}

impl RequestIds {
    fn for_header(&self, client_id: Option<&str>) -> String {
        if let Some(id) = client_id.filter(|id| is_sane_request_id(id)) {
            return id.to_string();
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let half = |salt: u64| {
            let mut hasher = self.seed.build_hasher();
            hasher.write_u64(n);
            hasher.write_u64(salt);
            hasher.finish()
        };
        format!("{:016x}{:016x}", half(1), half(2))
    }
}

/// 20 to 200 characters of letters, digits and `-_+=/`, as Heroku accepts.
fn is_sane_request_id(id: &str) -> bool {
    (20..=200).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_+=/".contains(c))
}

/// What one request did, for the router's log line.
struct RequestEntry {
    app: String,
    method: String,
    path: String,
    host: String,
    request_id: String,
    forwarded_for: std::net::IpAddr,
    dyno: Option<String>,
    /// How long connecting to the dyno took (zero on a kept-alive connection).
    connect: Option<Duration>,
    status: u16,
    bytes: Option<u64>,
    service: Duration,
    error: Option<(&'static str, &'static str)>,
    /// What exactly went wrong, for the codes that say (H26).
    cause: Option<&'static str>,
}

impl RequestEntry {
    /// `at=info method=GET path="/" host=… request_id=… fwd="…" dyno=web.1 connect=1ms service=14ms status=200 bytes=255 protocol=http`
    fn write_line(&self, line: &mut String) {
        use std::fmt::Write;
        let _ = match self.error {
            // Maintenance is the owner's choice, not a failure.
            Some((code @ "H80", desc)) => write!(line, "at=info code={code} desc=\"{desc}\""),
            Some((code, desc)) => write!(line, "at=error code={code} desc=\"{desc}\""),
            None => write!(line, "at=info"),
        };
        if let Some(cause) = self.cause {
            let _ = write!(line, " cause=\"{cause}\"");
        }
        let _ = write!(line, " method={} path=\"", self.method);
        for (index, part) in self.path.split('"').enumerate() {
            if index > 0 {
                line.push_str("%22");
            }
            line.push_str(part);
        }
        let _ = write!(
            line,
            "\" host={} request_id={} fwd=\"{}\" dyno={} ",
            self.host,
            self.request_id,
            self.forwarded_for,
            self.dyno.as_deref().unwrap_or(""),
        );
        if let Some(took) = self.connect {
            let _ = write!(line, "connect={}ms ", took.as_millis());
        }
        let _ = write!(
            line,
            "service={}ms status={}",
            self.service.as_millis(),
            self.status
        );
        if let Some(bytes) = self.bytes {
            let _ = write!(line, " bytes={bytes}");
        }
        line.push_str(" protocol=http");
    }

    #[cfg(test)]
    fn line(&self) -> String {
        let mut line = String::new();
        self.write_line(&mut line);
        line
    }
}

/// Router lines go to a writer thread through a bounded queue: a slow disk
/// drops log lines, never slows requests. The writer wakes on a tick, not
/// per line: waking a thread for every request cost more than routing it.
#[derive(Clone)]
struct RequestLog {
    sender: Sender<(i128, RequestEntry)>,
    /// Lines sent and not yet taken by the writer. The bound is kept here,
    /// not by a `sync_channel`, which allocates and touches room for every
    /// line up front (4.5 MiB of the daemon's memory, always).
    queued: Arc<AtomicUsize>,
}

impl RequestLog {
    fn start(root: Root) -> RequestLog {
        let (sender, receiver) = mpsc::channel();
        let queued: Arc<AtomicUsize> = Arc::default();
        let taken = queued.clone();
        std::thread::spawn(move || write_request_lines(&root, receiver, &taken));
        RequestLog { sender, queued }
    }

    /// Queues a line, or drops it when the writer is that far behind.
    fn send(&self, entry: RequestEntry) {
        if self.queued.fetch_add(1, Ordering::Relaxed) >= REQUEST_LOG_QUEUE {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        let _ = self.sender.send((now, entry));
    }
}

/// Lines waiting for the writer: at its tick, room for over 200,000
/// requests a second.
const REQUEST_LOG_QUEUE: usize = 16_384;
const REQUEST_LOG_TICK: Duration = Duration::from_millis(50);

fn write_request_lines(
    root: &Root,
    receiver: Receiver<(i128, RequestEntry)>,
    queued: &AtomicUsize,
) {
    let mut line = String::new();
    while let Ok(first) = receiver.recv() {
        // Batch what is waiting: one write per app, not per request.
        let mut by_app: HashMap<String, String> = HashMap::new();
        for (at, entry) in std::iter::once(first).chain(receiver.try_iter().take(REQUEST_LOG_QUEUE))
        {
            queued.fetch_sub(1, Ordering::Relaxed);
            line.clear();
            entry.write_line(&mut line);
            let text = match by_app.get_mut(&entry.app) {
                Some(text) => text,
                None => by_app.entry(entry.app).or_default(),
            };
            crate::logs::push_platform_line(text, at, "router", &line);
        }
        for (app, text) in by_app {
            if let Ok(name) = AppName::parse(&app) {
                crate::logs::append_platform_text(&root.app(&name), &text);
            }
        }
        std::thread::sleep(REQUEST_LOG_TICK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_the_app() {
        let myapp = Arc::new(AppRoutes::new("myapp", vec![]));
        let table: HashMap<String, Arc<AppRoutes>> = [
            ("myapp".to_string(), myapp.clone()),
            ("www.example.com".to_string(), myapp),
        ]
        .into();
        let app_of = |host: &str| {
            routes_for_host(&table, "localhost", host_name(host)).map(|r| r.app.clone())
        };
        assert_eq!(app_of("myapp.localhost:8080").as_deref(), Some("myapp"));
        assert_eq!(app_of("myapp.localhost").as_deref(), Some("myapp"));
        assert_eq!(app_of("myapp.localhost.").as_deref(), Some("myapp"));
        assert_eq!(app_of("myapp.localhost.:8080").as_deref(), Some("myapp"));
        assert_eq!(app_of("www.example.com.").as_deref(), Some("myapp"));
        assert_eq!(app_of("www.example.com:443").as_deref(), Some("myapp"));
        assert_eq!(app_of("localhost:8080"), None);
        assert_eq!(app_of("a.b.localhost"), None);
        assert_eq!(app_of("myapp.example.com"), None);
        assert_eq!(app_of("myapp"), None, "an app's name alone is not a host");
    }

    #[test]
    fn round_robin_visits_every_backend() {
        let backend = |dyno: &str| Backend {
            container: format!("paas-test-{dyno}"),
            dyno: dyno.into(),
            netns: None,
            standby: false,
        };
        let routes = AppRoutes::new("app", vec![backend("web.1"), backend("web.2")]);
        let picks: Vec<_> = (0..4)
            .map(|_| routes.pick().unwrap().1.dyno.clone())
            .collect();
        assert_eq!(picks, ["web.1", "web.2", "web.1", "web.2"]);
        assert!(AppRoutes::new("app", vec![]).pick().is_none());

        // A dyno that refused a connection sits out; with all out, turns resume.
        routes.refused(0);
        let picks: Vec<_> = (0..3)
            .map(|_| routes.pick().unwrap().1.dyno.clone())
            .collect();
        assert_eq!(picks, ["web.2", "web.2", "web.2"]);
        routes.refused(1);
        assert!(routes.pick().is_some());

        // The previous release's dyno on standby takes requests only while
        // the new one is left out (it refused: it crashed).
        let standby = Backend {
            standby: true,
            ..backend("web.1-old")
        };
        let routes = AppRoutes::new("app", vec![backend("web.1"), standby]);
        let picks: Vec<_> = (0..3)
            .map(|_| routes.pick().unwrap().1.dyno.clone())
            .collect();
        assert_eq!(picks, ["web.1", "web.1", "web.1"]);
        routes.refused(0);
        assert_eq!(routes.pick().unwrap().1.dyno, "web.1-old");
    }

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

    #[test]
    fn dates_are_in_http_form() {
        let at = UNIX_EPOCH + Duration::from_secs(784111777);
        assert_eq!(http_date(at), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn request_ids_keep_sane_ones_and_make_the_rest() {
        let ids = RequestIds::default();
        let sane = "f9ed4675f1c53513c61a3b3b4e25b4c0";
        assert_eq!(ids.for_header(Some(sane)), sane);
        let made = ids.for_header(Some("short"));
        assert_eq!(made.len(), 32);
        assert_ne!(made, ids.for_header(None), "each request gets its own");
        assert!(!is_sane_request_id("has spaces in it, twenty+"));
    }

    #[test]
    fn router_lines_in_heroku_format() {
        let entry = RequestEntry {
            app: "myapp".into(),
            method: "GET".into(),
            path: "/a?b=\"c\"".into(),
            host: "myapp.localhost".into(),
            request_id: "abc".into(),
            forwarded_for: [127, 0, 0, 1].into(),
            dyno: Some("web.1".into()),
            connect: Some(Duration::from_millis(1)),
            status: 200,
            bytes: Some(255),
            service: Duration::from_millis(14),
            error: None,
            cause: None,
        };
        assert_eq!(
            entry.line(),
            "at=info method=GET path=\"/a?b=%22c%22\" host=myapp.localhost request_id=abc fwd=\"127.0.0.1\" dyno=web.1 connect=1ms service=14ms status=200 bytes=255 protocol=http"
        );
        let failed = RequestEntry {
            error: Some(("H14", "No web processes running")),
            dyno: None,
            connect: None,
            status: 503,
            bytes: None,
            ..entry
        };
        assert!(failed
            .line()
            .starts_with("at=error code=H14 desc=\"No web processes running\" method=GET"));
        // The client's fault, as Heroku logs it (#19, point 5).
        let bad_chunk = RequestEntry {
            error: Some(("H26", "Request Error")),
            cause: Some("bad chunk"),
            status: 400,
            ..failed
        };
        assert!(bad_chunk.line().starts_with(
            "at=error code=H26 desc=\"Request Error\" cause=\"bad chunk\" method=GET"
        ));
    }
}
