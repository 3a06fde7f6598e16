//! The router's hyper path: HTTPS (HTTP/2 or HTTP/1.1, by ALPN) and the
//! plain-HTTP connections the HTTP/1.1 path hands over (HTTP/1.0, chunked
//! uploads, upgrades, what it does not parse). `Router::handle` admits a
//! request, sends it to a dyno through hyper's client (one per router
//! thread), and passes the response back, its log line written when its
//! body ends (`LoggedBody`); a WebSocket upgrade joins the two connections.
//! `client_body` watches the client's body on its way to the dyno.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{HeaderName, HeaderValue, CONNECTION, HOST, UPGRADE};
use hyper::server::conn::http1 as hyper_http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::admission::{Admission, Forward, RequestHead};
use super::client_body;
use super::connection_clock::{serve_watched, Clock, UnderWayBody, Watched};
use super::connections::{ConnectionSlot, HeadWait};
use super::forwarding::{
    forwarding_headers, BODY_IDLE_TIMEOUT, DIED_WITH_REQUEST, HOP_BY_HOP, REQUEST_TIMEOUT,
};
use super::in_flight::InFlightGuard;
use super::pages::{bad_request, failure_answer};
use super::request_host;
use super::request_log::{RequestEntry, RequestLog};
use super::table::RouteTable;
use super::Router;
use crate::daemon::connector::{ConnectTime, TimedConnector};
use crate::runtime::netns::DynoConnector;

/// The error of a body on this path (`client_body` makes its own).
pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A body on this path, to the dyno or to the client (`pages` makes them too).
pub(super) type Body = BoxBody<Bytes, BoxError>;

/// hyper's client to dynos, one per router thread (its pool of
/// connections with it).
pub(super) fn dyno_client(
    connector: &DynoConnector,
    table: &RouteTable,
) -> Client<TimedConnector, Body> {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(TimedConnector::new(connector.clone(), table.clone()))
}

impl Router {
    /// Serves an HTTP/1 connection with hyper: what the router's own path
    /// does not take, from where it left it (`wait`: how long the head
    /// it read part of has left).
    pub(super) async fn serve_with_hyper<I>(
        self: Arc<Self>,
        io: I,
        peer: SocketAddr,
        slot: ConnectionSlot,
        wait: HeadWait,
    ) where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let clock = Clock::new(self.limits, wait, true);
        let io = Watched::new(io, clock.clone(), slot);
        let service = {
            let clock = clock.clone();
            service_fn(move |request| {
                let router = self.clone();
                let under_way = clock.request_started();
                async move {
                    let response = router.handle(request, peer, false).await;
                    Ok::<_, hyper::Error>(response.map(|body| UnderWayBody::new(body, under_way)))
                }
            })
        };
        let connection = hyper_http1::Builder::new()
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        serve_watched(connection, &clock, |connection| {
            connection.graceful_shutdown()
        })
        .await;
    }

    /// A request from hyper: HTTP/2, HTTPS, and what the HTTP/1.1 path
    /// hands over.
    pub(super) async fn handle(
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
        if self.is_dashboard(&host) {
            let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
            if let Some(answer) = self.dashboard_admission(&host, path, secure) {
                return answer.into_response();
            }
            return self.dashboard.clone().serve(request, secure).await;
        }
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
                let body = LoggedBody {
                    body,
                    idle: None,
                    entry: Some(entry),
                    sent: 0,
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
    /// The body's data sent so far: the bytes logged (what went out, not
    /// what a length said would).
    sent: u64,
    log: RequestLog,
    _in_flight: Option<InFlightGuard>,
}

impl LoggedBody {
    fn finish(&mut self, error: Option<(&'static str, &'static str)>) {
        if let Some(mut entry) = self.entry.take() {
            entry.error = error;
            entry.bytes = Some(self.sent);
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
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.sent += data.len() as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
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
