//! The router's own HTTP/1.1 path, for plain-HTTP connections (the bulk of
//! its traffic). A request head is parsed in place, the router's headers
//! are added, and it goes to a kept-alive connection to the dyno; the
//! response is passed back as it comes, its framing followed only to know
//! where it ends. None of the per-request tasks, channels and header maps of
//! a general HTTP client: on this machine that took the router from fewer
//! requests a second than nginx to more (see `scripts/bench-router`).
//!
//! What this path does not take (HTTP/1.0, an upload in chunks or with
//! `Expect`, a WebSocket upgrade, an absolute URL, an oversized or broken
//! head, a missing, doubled or invalid `Host`) hands the connection, with
//! what was read of it, to hyper, which serves the rest of it as it serves
//! HTTPS: the rules for those live in one place, on that path.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use hyper::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::routes::Backend;

use super::request_host::host_value;
use super::{
    failure_answer, forwarding_headers, Admission, Forward, RequestHead, Router, BODY_IDLE_TIMEOUT,
    DIED_WITH_REQUEST, FORWARDING_HEADERS, HOP_BY_HOP, REQUEST_TIMEOUT,
};

/// Longer heads go to hyper, which answers them.
const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;
/// How long a kept-alive client connection may wait for its next request
/// (Heroku's router: 90 seconds).
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(90);
const READ_SIZE: usize = 16 * 1024;
/// A request body the router reads and drops (to answer without a dyno and
/// keep the connection); a longer one closes the connection instead.
const DISCARD_LIMIT: u64 = 1024 * 1024;
/// How long a closing connection reads what the client still sends: in
/// all, and at most between two reads (nginx's `lingering_time` and
/// `lingering_timeout`).
const LINGER_TIME: Duration = Duration::from_secs(30);
const LINGER_READ: Duration = Duration::from_secs(5);

impl Router {
    /// Serves a plain-HTTP connection until it closes.
    pub(super) async fn serve_http1(self: Arc<Self>, mut client: TcpStream, peer: SocketAddr) {
        let mut input = BytesMut::with_capacity(READ_SIZE);
        let mut from_dyno = BytesMut::with_capacity(READ_SIZE);
        loop {
            let request = match next_request(&mut client, &mut input).await {
                Next::Request(request) => request,
                Next::Closed => return,
                Next::NotOurs => {
                    let rest = Rewind {
                        prefix: input.freeze(),
                        inner: client,
                    };
                    return self.serve_with_hyper(rest, peer).await;
                }
            };
            let buffers = Buffers {
                input: &mut input,
                from_dyno: &mut from_dyno,
            };
            match self
                .serve_request(&mut client, buffers, request, peer)
                .await
            {
                Ok(true) => {}
                Ok(false) | Err(_) => return close_lingering(client, input).await,
            }
        }
    }

    /// Serves one request; true when the connection can take another.
    async fn serve_request(
        &self,
        client: &mut TcpStream,
        buffers: Buffers<'_>,
        request: ClientRequest,
        peer: SocketAddr,
    ) -> io::Result<bool> {
        let Buffers { input, from_dyno } = buffers;
        let started = Instant::now();
        let head = RequestHead {
            method: &request.method,
            path: &request.path,
            host: &request.host,
            request_id: request.request_id.as_deref(),
        };
        let admission = self.admit(&head, peer, false).await;
        input.advance(request.head_len);
        let Forward {
            mut routes,
            mut index,
            mut backend,
            mut entry,
        } = match admission {
            Admission::Answer(answer) => {
                let close =
                    request.close || !discard_body(client, input, request.content_length).await;
                client
                    .write_all(&answer.to_http1(close, request.method == "HEAD"))
                    .await?;
                return Ok(!close);
            }
            Admission::Forward(forward) => forward,
        };
        let mut head = Vec::with_capacity(request.headers.len() + 512);
        for part in [request.method.as_bytes(), b" ", request.path.as_bytes()] {
            head.extend_from_slice(part);
        }
        head.extend_from_slice(b" HTTP/1.1\r\n");
        head.extend_from_slice(&request.headers);
        forwarding_headers(
            request.forwarded_for.as_deref(),
            peer,
            false,
            self.port,
            &entry.request_id,
            |name, value| push_header(&mut head, name.as_bytes(), value.as_bytes()),
        );
        head.extend_from_slice(b"\r\n");
        let to_send = Outgoing {
            head: &head,
            body_length: request.content_length,
            // Nothing of it is lost if it goes to another dyno.
            retryable: request.content_length == 0
                && hyper::Method::from_bytes(request.method.as_bytes())
                    .is_ok_and(|m| m.is_idempotent()),
            head_only: request.method == "HEAD",
        };
        let mut attempts = 0;
        let outcome = loop {
            attempts += 1;
            let guard = self.in_flight.enter(&backend.container);
            entry.dyno = Some(backend.dyno.clone());
            let exchange = self.exchange(&backend, &to_send, client, input, from_dyno);
            let sent = Instant::now();
            match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
                Ok(Ok(response)) => break Ok((response, guard)),
                // A dyno that closed the connection at once without
                // answering (it died with the request) is passed over like
                // one that refused, once, when the request can go again:
                // nginx's `proxy_next_upstream error` for requests without
                // a body, kept within the first dyno's time.
                Ok(Err(failure @ (Failure::Refused | Failure::NoResponse))) => {
                    let died_with_it =
                        to_send.retryable && attempts == 1 && sent.elapsed() < DIED_WITH_REQUEST;
                    if failure == Failure::Refused || died_with_it {
                        if let Some(next) = self.after_refusal(
                            &mut routes,
                            index,
                            &entry.app,
                            to_send.retryable,
                            attempts,
                        ) {
                            (index, backend) = next;
                            continue;
                        }
                    }
                    break Err(match failure {
                        Failure::Refused => ("H21", "Backend connection refused"),
                        _ => ("H13", "Connection closed without response"),
                    });
                }
                Ok(Err(Failure::ClientGone)) => break Err(("H27", "Client Request Interrupted")),
                Err(_elapsed) => break Err(("H12", "Request timeout")),
            }
        };
        entry.service = started.elapsed();
        let (response, _in_flight) = match outcome {
            Ok(answered) => answered,
            Err(error @ ("H27", _)) => {
                // Nobody to answer: nginx's 499.
                entry.status = 499;
                entry.error = Some(error);
                self.log.send(entry);
                return Ok(false);
            }
            Err(error) => {
                let answer = failure_answer(error.0);
                entry.status = answer.status.as_u16();
                entry.error = Some(error);
                self.log.send(entry);
                // Part of a body may be left unread: the connection ends.
                let close = request.close || request.content_length > 0;
                client
                    .write_all(&answer.to_http1(close, request.method == "HEAD"))
                    .await?;
                return Ok(!close);
            }
        };
        entry.connect = Some(response.connect);
        entry.status = response.head.status;
        entry.bytes = response.head.content_length;
        // A body still being sent as the answer starts may not be sent
        // whole; the rest of it would be left on the client's connection,
        // and the dyno's waiting for it: then neither can go on.
        let close = request.close
            || response.head.framing == Framing::UntilClose
            || !response.unsent.all_sent();
        let DynoResponse {
            mut dyno,
            head: response_head,
            mut unsent,
            ..
        } = response;
        let mut out = response_head.client_head;
        if close {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        let framing = response_head.framing;
        let relayed = if unsent.can_send && unsent.bytes > 0 {
            relay_sending(
                client,
                &mut dyno,
                out,
                from_dyno,
                framing,
                input,
                &mut unsent,
            )
            .await
        } else {
            relay_body(client, &mut dyno, out, from_dyno, framing).await
        };
        let body_sent = unsent.all_sent();
        let cut_by_dyno = match relayed {
            Err(Interrupted::Dyno) => Some(("H18", "Server Request Interrupted")),
            Err(Interrupted::DynoIdle) => Some(("H15", "Idle connection")),
            _ => None,
        };
        if cut_by_dyno.is_some() {
            entry.error = cut_by_dyno;
            // A reset, not a close: a body that ends at the close (no
            // length) would look whole.
            let _ = client.set_zero_linger();
        }
        self.log.send(entry);
        match relayed {
            Ok(ended_clean) => {
                if ended_clean && response_head.keep_alive && body_sent {
                    self.dyno_pool.put(&backend.container, dyno);
                }
                Ok(!close)
            }
            // The client has part of a response: only closing tells it so.
            Err(_) => Ok(false),
        }
    }

    /// Sends the request to the dyno (on a kept-alive connection if there
    /// is one) and reads the response's head. A kept-alive connection the
    /// dyno had closed is replaced when that loses nothing.
    async fn exchange(
        &self,
        backend: &Backend,
        request: &Outgoing<'_>,
        client: &mut TcpStream,
        input: &mut BytesMut,
        from_dyno: &mut BytesMut,
    ) -> Result<DynoResponse, Failure> {
        loop {
            let (mut dyno, connect) = match self.dyno_pool.take(&backend.container) {
                Some(dyno) => (dyno, None),
                None => {
                    let started = Instant::now();
                    let dyno = self
                        .dyno_connector
                        .connect_dyno(backend.netns)
                        .await
                        .map_err(|_| Failure::Refused)?;
                    (dyno, Some(started.elapsed()))
                }
            };
            let (unsent, head) = send_and_read_head(&mut dyno, request, client, input, from_dyno)
                .await
                .map_err(|ClientGone| Failure::ClientGone)?;
            match head {
                Ok(Some(head)) => {
                    return Ok(DynoResponse {
                        dyno,
                        head,
                        unsent,
                        connect: connect.unwrap_or(Duration::ZERO),
                    })
                }
                Ok(None) if connect.is_none() && request.retryable => continue,
                _ => return Err(Failure::NoResponse),
            }
        }
    }
}

/// What the router sends a dyno.
struct Outgoing<'a> {
    head: &'a [u8],
    /// Bytes of body, taken from the client as they come.
    body_length: u64,
    retryable: bool,
    /// A HEAD request, whose response has no body whatever it says.
    head_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Failure {
    /// The dyno refused the connection (H21, or another dyno).
    Refused,
    /// The dyno closed the connection or sent no valid response (H13).
    NoResponse,
    /// The client went away in the middle of its request's body (H27).
    ClientGone,
}

/// A client connection's buffers, kept from one request to the next.
struct Buffers<'a> {
    /// What the client sent that is not yet handled.
    input: &'a mut BytesMut,
    /// The dyno's response past its head: the start of the body.
    from_dyno: &'a mut BytesMut,
}

struct DynoResponse {
    dyno: TcpStream,
    head: ResponseHead,
    /// What is left to send of the request's body (a dyno may answer
    /// before it has read it all).
    unsent: Unsent,
    /// How long connecting took; zero on a kept-alive connection.
    connect: Duration,
}

enum Next {
    Request(ClientRequest),
    /// Not for this path: hyper serves the connection from here.
    NotOurs,
    Closed,
}

/// Closes a client connection after its last response. What the client
/// is still sending (the rest of an upload a dyno refused) is read and
/// dropped for a while first: closing with it unread would reset the
/// connection, and the client could lose the response (nginx's
/// `lingering_close`).
async fn close_lingering(mut client: TcpStream, mut input: BytesMut) {
    if client.shutdown().await.is_err() {
        return;
    }
    let until = tokio::time::Instant::now() + LINGER_TIME;
    loop {
        input.clear();
        input.reserve(READ_SIZE);
        let deadline = until.min(tokio::time::Instant::now() + LINGER_READ);
        let read = tokio::time::timeout_at(deadline, client.read_buf(&mut input)).await;
        if !matches!(read, Ok(Ok(read)) if read > 0) {
            return;
        }
    }
}

/// Reads until a whole request head is in `input`.
async fn next_request(client: &mut TcpStream, input: &mut BytesMut) -> Next {
    loop {
        if !input.is_empty() {
            match parse_request(input) {
                Parsed::Complete(request) => return Next::Request(request),
                Parsed::Invalid => return Next::NotOurs,
                Parsed::Partial if input.len() >= MAX_HEAD => return Next::NotOurs,
                Parsed::Partial => {}
            }
        }
        input.reserve(READ_SIZE);
        let wait = if input.is_empty() {
            KEEP_ALIVE_TIMEOUT
        } else {
            REQUEST_TIMEOUT
        };
        match tokio::time::timeout(wait, client.read_buf(input)).await {
            Ok(Ok(read)) if read > 0 => {}
            _ => return Next::Closed,
        }
    }
}

enum Parsed<T> {
    Complete(T),
    Partial,
    /// Not valid, or not for this path.
    Invalid,
}

/// A client's request head, as this path needs it.
#[derive(Debug)]
struct ClientRequest {
    head_len: usize,
    method: String,
    path: String,
    /// Lowercase, with its port if any.
    host: String,
    request_id: Option<String>,
    forwarded_for: Option<String>,
    content_length: u64,
    /// The client asked to close the connection after this request.
    close: bool,
    /// The headers that go on to the dyno, as `name: value\r\n` lines:
    /// all but the hop-by-hop ones and those the router sets.
    headers: Vec<u8>,
}

fn parse_request(input: &[u8]) -> Parsed<ClientRequest> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(input) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Invalid,
    };
    let (Some(method), Some(path), Some(1)) = (parsed.method, parsed.path, parsed.version) else {
        return Parsed::Invalid;
    };
    if !path.starts_with('/') || method == "CONNECT" {
        return Parsed::Invalid;
    }
    let mut request = ClientRequest {
        head_len,
        method: method.to_string(),
        path: path.to_string(),
        host: String::new(),
        request_id: None,
        forwarded_for: None,
        content_length: 0,
        close: false,
        headers: Vec::with_capacity(head_len),
    };
    let (mut host, mut content_length) = (None, None);
    for header in parsed.headers.iter() {
        let name = header.name;
        let is = |other: &str| name.eq_ignore_ascii_case(other);
        if is("host") {
            // hyper's path answers these 400 (`request_host`).
            let Some(value) = host_value(header.value) else {
                return Parsed::Invalid;
            };
            if host.replace(value.to_ascii_lowercase()).is_some() {
                return Parsed::Invalid;
            }
        } else if is("content-length") {
            let length = std::str::from_utf8(header.value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok());
            match (length, content_length) {
                (Some(length), None) => content_length = Some(length),
                _ => return Parsed::Invalid,
            }
        } else if is("transfer-encoding") || is("expect") || is("upgrade") {
            return Parsed::Invalid;
        } else if is("connection") {
            for token in String::from_utf8_lossy(header.value).split(',') {
                let token = token.trim();
                if token.eq_ignore_ascii_case("upgrade") {
                    return Parsed::Invalid;
                }
                request.close |= token.eq_ignore_ascii_case("close");
            }
        } else if is("x-request-id") {
            request.request_id = std::str::from_utf8(header.value).ok().map(str::to_string);
        } else if is("x-forwarded-for") && request.forwarded_for.is_none() {
            request.forwarded_for = std::str::from_utf8(header.value).ok().map(str::to_string);
        }
        if HOP_BY_HOP.iter().chain(&FORWARDING_HEADERS).any(|h| is(h)) {
            continue;
        }
        push_header(&mut request.headers, name.as_bytes(), header.value);
    }
    let Some(host) = host else {
        return Parsed::Invalid;
    };
    request.host = host;
    request.content_length = content_length.unwrap_or(0);
    Parsed::Complete(request)
}

/// How a response's body ends (RFC 9112, section 6.3).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Framing {
    /// No body: a response to HEAD, or 1xx, 204, 304.
    Empty,
    Length(u64),
    Chunked,
    /// Read until the dyno closes; the client's connection closes after.
    UntilClose,
}

/// A dyno's response head, as this path needs it.
#[derive(Debug)]
struct ResponseHead {
    head_len: usize,
    status: u16,
    /// The status line and headers for the client, without the blank line
    /// that ends them: the dyno's headers less the hop-by-hop ones.
    client_head: Vec<u8>,
    framing: Framing,
    content_length: Option<u64>,
    /// The dyno keeps the connection open after this response.
    keep_alive: bool,
}

fn parse_response(buffer: &[u8], head_only: bool) -> Parsed<ResponseHead> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Invalid,
    };
    let (Some(status), Some(version)) = (parsed.code, parsed.version) else {
        return Parsed::Invalid;
    };
    let reason = match parsed.reason {
        Some(reason) if !reason.is_empty() => reason,
        _ => StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or(""),
    };
    let mut client_head = Vec::with_capacity(head_len + 64);
    client_head.extend_from_slice(format!("HTTP/1.1 {status} {reason}\r\n").as_bytes());
    let mut content_length = None;
    let mut transfer_encoding: Option<&[u8]> = None;
    let mut keep_alive = version == 1;
    for header in parsed.headers.iter() {
        let name = header.name;
        let is = |other: &str| name.eq_ignore_ascii_case(other);
        if is("content-length") {
            let length = std::str::from_utf8(header.value)
                .ok()
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok());
            match (length, content_length) {
                (Some(length), None) => content_length = Some(length),
                (Some(length), Some(earlier)) if length == earlier => continue,
                _ => return Parsed::Invalid,
            }
            // Passed on below, unless a transfer coding overrides it.
            continue;
        } else if is("transfer-encoding") {
            transfer_encoding = Some(header.value);
        } else if is("connection") {
            for token in String::from_utf8_lossy(header.value).split(',') {
                let token = token.trim();
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") && version == 0 {
                    keep_alive = true;
                }
            }
        }
        if HOP_BY_HOP.iter().any(|h| is(h)) {
            continue;
        }
        push_header(&mut client_head, name.as_bytes(), header.value);
    }
    let chunked = transfer_encoding.is_some_and(|value| {
        String::from_utf8_lossy(value)
            .rsplit(',')
            .next()
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
    });
    if transfer_encoding.is_some() {
        // The length does not count when the body is transfer-coded.
        content_length = None;
    }
    let framing = if head_only || status < 200 || status == 204 || status == 304 {
        Framing::Empty
    } else if chunked {
        Framing::Chunked
    } else if transfer_encoding.is_some() {
        Framing::UntilClose
    } else if let Some(length) = content_length {
        Framing::Length(length)
    } else {
        Framing::UntilClose
    };
    if let Some(value) = transfer_encoding {
        // Passed on as it came: the body is relayed as it is coded.
        push_header(&mut client_head, b"transfer-encoding", value);
    } else if let Some(length) = content_length {
        push_header(
            &mut client_head,
            b"content-length",
            length.to_string().as_bytes(),
        );
    }
    Parsed::Complete(ResponseHead {
        head_len,
        status,
        client_head,
        framing,
        content_length,
        keep_alive: keep_alive && framing != Framing::UntilClose,
    })
}

fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Sends the request and reads the response's head. A dyno may answer
/// before it has read the body: to refuse it (413), or to stream its answer
/// while it reads on. So the body goes on to the dyno while the head is
/// awaited; what is left of it when the head comes is sent while the
/// response is relayed (`relay_sending`).
async fn send_and_read_head(
    dyno: &mut TcpStream,
    request: &Outgoing<'_>,
    client: &mut TcpStream,
    input: &mut BytesMut,
    from_dyno: &mut BytesMut,
) -> Result<(Unsent, io::Result<Option<ResponseHead>>), ClientGone> {
    let mut unsent = match send_head(dyno, request, input).await {
        Ok(bytes) => Unsent {
            head_sent: true,
            bytes,
            can_send: true,
        },
        // A dyno may answer without reading all of the body.
        Err(SendFailed::Dyno) => Unsent {
            head_sent: false,
            bytes: request.body_length,
            can_send: false,
        },
        Err(SendFailed::Client) => return Err(ClientGone),
    };
    if !unsent.can_send || unsent.bytes == 0 {
        let head = read_response_head(dyno, client, from_dyno, request.head_only).await;
        return Ok((unsent, head));
    }
    let (mut dyno_in, mut dyno_out) = dyno.split();
    let (mut client_in, mut client_out) = client.split();
    let receive = read_response_head(&mut dyno_in, &mut client_out, from_dyno, request.head_only);
    tokio::pin!(receive);
    loop {
        tokio::select! {
            head = &mut receive => return Ok((unsent, head)),
            sent = send_body(&mut dyno_out, &mut client_in, input, &mut unsent.bytes),
                if unsent.can_send && unsent.bytes > 0 =>
            {
                match sent {
                    Ok(()) => {}
                    // The dyno waits for the rest of a body that will not come.
                    Err(SendFailed::Client) => return Err(ClientGone),
                    Err(SendFailed::Dyno) => unsent.can_send = false,
                }
            }
        }
    }
}

/// How much of a request's body is still to go to the dyno, and whether it
/// still can (the dyno has not stopped taking it).
struct Unsent {
    /// The head went out whole (else nothing says what the dyno got).
    head_sent: bool,
    bytes: u64,
    can_send: bool,
}

impl Unsent {
    fn all_sent(&self) -> bool {
        self.head_sent && self.bytes == 0
    }
}

/// The client closed its connection before it sent all of its request.
struct ClientGone;

/// Which connection broke off sending a request.
enum SendFailed {
    Client,
    Dyno,
}

/// Writes the request's head, with as much of its body as the client sent
/// with it; returns how many bytes of the body are still to come.
async fn send_head(
    dyno: &mut TcpStream,
    request: &Outgoing<'_>,
    input: &mut BytesMut,
) -> Result<u64, SendFailed> {
    let buffered = request.body_length.min(input.len() as u64) as usize;
    if buffered == 0 {
        dyno.write_all(request.head)
            .await
            .map_err(|_| SendFailed::Dyno)?;
    } else {
        let mut first = Vec::with_capacity(request.head.len() + buffered);
        first.extend_from_slice(request.head);
        first.extend_from_slice(&input[..buffered]);
        input.advance(buffered);
        dyno.write_all(&first).await.map_err(|_| SendFailed::Dyno)?;
    }
    Ok(request.body_length - buffered as u64)
}

/// Sends the next `unsent` bytes of the body as they come from the client.
/// Safe to drop at any await (each one is, and the count is the caller's):
/// sending stops when the dyno answers, and goes on from there.
async fn send_body(
    dyno: &mut (impl AsyncWrite + Unpin),
    client: &mut (impl AsyncRead + Unpin),
    input: &mut BytesMut,
    unsent: &mut u64,
) -> Result<(), SendFailed> {
    while *unsent > 0 {
        if input.is_empty() {
            input.reserve(READ_SIZE);
            if !matches!(client.read_buf(input).await, Ok(read) if read > 0) {
                return Err(SendFailed::Client);
            }
        }
        let take = (*unsent).min(input.len() as u64) as usize;
        match dyno.write(&input[..take]).await {
            Ok(written) if written > 0 => {
                input.advance(written);
                *unsent -= written as u64;
            }
            _ => return Err(SendFailed::Dyno),
        }
    }
    Ok(())
}

/// Relays the response's body while sending the rest of the request's
/// body, for a dyno that answers as it reads; true as `relay_body`.
async fn relay_sending(
    client: &mut TcpStream,
    dyno: &mut TcpStream,
    out: Vec<u8>,
    from_dyno: &mut BytesMut,
    framing: Framing,
    input: &mut BytesMut,
    unsent: &mut Unsent,
) -> Result<bool, Interrupted> {
    let (mut dyno_in, mut dyno_out) = dyno.split();
    let (mut client_in, mut client_out) = client.split();
    let relay = relay_body(&mut client_out, &mut dyno_in, out, from_dyno, framing);
    tokio::pin!(relay);
    loop {
        tokio::select! {
            relayed = &mut relay => return relayed,
            sent = send_body(&mut dyno_out, &mut client_in, input, &mut unsent.bytes),
                if unsent.can_send && unsent.bytes > 0 =>
            {
                match sent {
                    Ok(()) => {}
                    // A dyno answering as it reads would wait for the rest
                    // for ever: both connections end.
                    Err(SendFailed::Client) => return Err(Interrupted::Client),
                    // The dyno stopped reading: its response goes on alone.
                    Err(SendFailed::Dyno) => unsent.can_send = false,
                }
            }
        }
    }
}

/// Reads the dyno's response head, passing interim (1xx) responses on to
/// the client; what follows the head stays in `buffer`. `None`: the dyno
/// closed the connection without sending a byte.
async fn read_response_head(
    dyno: &mut (impl AsyncRead + Unpin),
    client: &mut (impl AsyncWrite + Unpin),
    buffer: &mut BytesMut,
    head_only: bool,
) -> io::Result<Option<ResponseHead>> {
    buffer.clear();
    let mut received = false;
    loop {
        buffer.reserve(READ_SIZE);
        // A reset before any byte is a closed connection too.
        let read = match dyno.read_buf(buffer).await {
            Ok(read) => read,
            Err(_) if !received => 0,
            Err(err) => return Err(err),
        };
        if read == 0 {
            return match received {
                false => Ok(None),
                true => Err(io::ErrorKind::UnexpectedEof.into()),
            };
        }
        received = true;
        loop {
            match parse_response(buffer, head_only) {
                Parsed::Complete(head) if head.status == 101 => {
                    // Only hyper's path asks for upgrades.
                    return Err(io::ErrorKind::InvalidData.into());
                }
                Parsed::Complete(head) if head.status < 200 => {
                    client.write_all(&buffer[..head.head_len]).await?;
                    buffer.advance(head.head_len);
                }
                Parsed::Complete(head) => {
                    buffer.advance(head.head_len);
                    return Ok(Some(head));
                }
                Parsed::Partial if buffer.len() < MAX_HEAD => break,
                Parsed::Partial | Parsed::Invalid => return Err(io::ErrorKind::InvalidData.into()),
            }
        }
    }
}

/// Which side broke off a response's body.
enum Interrupted {
    /// The dyno closed or sent a broken body (H18).
    Dyno,
    /// The dyno sent nothing for `BODY_IDLE_TIMEOUT` (H15).
    DynoIdle,
    /// The client went away, or took nothing for `BODY_IDLE_TIMEOUT`.
    Client,
}

/// Writes the response head and relays the body to the client as it
/// comes. True when the body ended where its framing said, with nothing
/// after it, so the dyno's connection can serve another request.
async fn relay_body(
    client: &mut (impl AsyncWrite + Unpin),
    dyno: &mut (impl AsyncRead + Unpin),
    mut out: Vec<u8>,
    rest: &mut BytesMut,
    framing: Framing,
) -> Result<bool, Interrupted> {
    let mut body = BodyEnd::new(framing);
    // What came with the head goes out with it, in one write.
    let (mut take, mut ended) = body.take(rest)?;
    out.extend_from_slice(&rest[..take]);
    write_to_client(client, &out).await?;
    while !ended {
        rest.clear();
        rest.reserve(READ_SIZE);
        let read = tokio::time::timeout(BODY_IDLE_TIMEOUT, dyno.read_buf(rest))
            .await
            .map_err(|_| Interrupted::DynoIdle)?;
        if read.map_err(|_| Interrupted::Dyno)? == 0 {
            return match framing {
                Framing::UntilClose => Ok(false),
                _ => Err(Interrupted::Dyno),
            };
        }
        (take, ended) = body.take(rest)?;
        write_to_client(client, &rest[..take]).await?;
    }
    Ok(rest.len() == take)
}

async fn write_to_client(
    client: &mut (impl AsyncWrite + Unpin),
    bytes: &[u8],
) -> Result<(), Interrupted> {
    match tokio::time::timeout(BODY_IDLE_TIMEOUT, client.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(Interrupted::Client),
    }
}

/// Where a response's body ends, by its framing, as its bytes come.
struct BodyEnd {
    framing: Framing,
    /// Of a `Length` body: the bytes still to come.
    remaining: u64,
    chunks: ChunkedEnd,
}

impl BodyEnd {
    fn new(framing: Framing) -> BodyEnd {
        let remaining = match framing {
            Framing::Length(length) => length,
            _ => 0,
        };
        BodyEnd {
            framing,
            remaining,
            chunks: ChunkedEnd::default(),
        }
    }

    /// How many of the next `bytes` belong to the body, and whether it
    /// ends with them.
    fn take(&mut self, bytes: &[u8]) -> Result<(usize, bool), Interrupted> {
        Ok(match self.framing {
            Framing::Empty => (0, true),
            Framing::Length(_) => {
                let take = self.remaining.min(bytes.len() as u64);
                self.remaining -= take;
                (take as usize, self.remaining == 0)
            }
            Framing::Chunked => match self.chunks.feed(bytes).map_err(|_| Interrupted::Dyno)? {
                Some(end) => (end, true),
                None => (bytes.len(), false),
            },
            Framing::UntilClose => (bytes.len(), false),
        })
    }
}

/// Follows a chunked body's framing, to find where it ends; the body goes
/// on as it is.
#[derive(Default)]
struct ChunkedEnd {
    state: Chunk,
    size: u64,
    /// Hex digits read of the current size line.
    digits: usize,
}

#[derive(Default, Clone, Copy, PartialEq, Debug)]
enum Chunk {
    #[default]
    Size,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    Trailer,
    TrailerLf,
    LastLf,
}

impl ChunkedEnd {
    /// Takes the next bytes of the body: `Some(n)` when it ends after the
    /// first `n` of them.
    fn feed(&mut self, bytes: &[u8]) -> io::Result<Option<usize>> {
        let invalid = || io::Error::new(io::ErrorKind::InvalidData, "invalid chunked body");
        let mut at = 0;
        while at < bytes.len() {
            let byte = bytes[at];
            self.state = match self.state {
                Chunk::Data => {
                    let take = self.size.min((bytes.len() - at) as u64);
                    self.size -= take;
                    at += take as usize;
                    if self.size == 0 {
                        self.state = Chunk::DataCr;
                    }
                    continue;
                }
                Chunk::Size => match byte {
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let digit = (byte as char).to_digit(16).unwrap_or(0) as u64;
                        self.size = self
                            .size
                            .checked_mul(16)
                            .and_then(|s| s.checked_add(digit))
                            .ok_or_else(invalid)?;
                        self.digits += 1;
                        Chunk::Size
                    }
                    _ if self.digits == 0 => return Err(invalid()),
                    b';' | b' ' | b'\t' => Chunk::Extension,
                    b'\r' => Chunk::SizeLf,
                    b'\n' => self.after_size(),
                    _ => return Err(invalid()),
                },
                Chunk::Extension => match byte {
                    b'\r' => Chunk::SizeLf,
                    b'\n' => self.after_size(),
                    _ => Chunk::Extension,
                },
                Chunk::SizeLf if byte == b'\n' => self.after_size(),
                Chunk::DataCr if byte == b'\r' => Chunk::DataLf,
                Chunk::DataCr | Chunk::DataLf if byte == b'\n' => Chunk::Size,
                Chunk::TrailerStart => match byte {
                    b'\r' => Chunk::LastLf,
                    b'\n' => return Ok(Some(at + 1)),
                    _ => Chunk::Trailer,
                },
                Chunk::Trailer => match byte {
                    b'\r' => Chunk::TrailerLf,
                    b'\n' => Chunk::TrailerStart,
                    _ => Chunk::Trailer,
                },
                Chunk::TrailerLf if byte == b'\n' => Chunk::TrailerStart,
                Chunk::LastLf if byte == b'\n' => return Ok(Some(at + 1)),
                _ => return Err(invalid()),
            };
            at += 1;
        }
        Ok(None)
    }

    fn after_size(&mut self) -> Chunk {
        self.digits = 0;
        if self.size == 0 {
            Chunk::TrailerStart
        } else {
            Chunk::Data
        }
    }
}

/// Reads and drops a request body the router answers without a dyno, so
/// the connection can serve the next request. False when it is too long
/// or does not come: then the connection closes.
async fn discard_body(client: &mut TcpStream, input: &mut BytesMut, length: u64) -> bool {
    if length > DISCARD_LIMIT {
        return false;
    }
    let mut remaining = length;
    loop {
        let take = remaining.min(input.len() as u64);
        input.advance(take as usize);
        remaining -= take;
        if remaining == 0 {
            return true;
        }
        input.reserve(READ_SIZE);
        match tokio::time::timeout(REQUEST_TIMEOUT, client.read_buf(input)).await {
            Ok(Ok(read)) if read > 0 => {}
            _ => return false,
        }
    }
}

/// Kept-alive connections to dynos, by dyno container, of one router thread.
#[derive(Default)]
pub(super) struct DynoPool(Mutex<PoolInner>);

#[derive(Default)]
struct PoolInner {
    idle: HashMap<String, Vec<(TcpStream, Instant)>>,
    pruned: Option<Instant>,
}

/// How long a connection may sit unused in the pool.
pub(super) const POOL_IDLE: Duration = Duration::from_secs(30);
/// Idle connections kept per dyno.
const POOL_MAX_PER_DYNO: usize = 256;

impl DynoPool {
    /// An idle connection to `container` that is still open, if any.
    fn take(&self, container: &str) -> Option<TcpStream> {
        let mut pool = self.0.lock().expect("not poisoned");
        let idle = pool.idle.get_mut(container)?;
        while let Some((dyno, since)) = idle.pop() {
            if since.elapsed() < POOL_IDLE && still_open(&dyno) {
                return Some(dyno);
            }
        }
        None
    }

    fn put(&self, container: &str, dyno: TcpStream) {
        let mut pool = self.0.lock().expect("not poisoned");
        let now = Instant::now();
        if pool.pruned.is_none_or(|at| now - at > POOL_IDLE) {
            pool.prune(now);
        }
        match pool.idle.get_mut(container) {
            Some(idle) if idle.len() < POOL_MAX_PER_DYNO => idle.push((dyno, now)),
            Some(_) => {}
            None => {
                pool.idle.insert(container.to_string(), vec![(dyno, now)]);
            }
        }
    }

    /// Lets go of connections idle too long, to dynos long gone (a deploy
    /// moved on): on each `put`, and on a timer for a thread with no traffic.
    pub(super) fn prune(&self) {
        self.0.lock().expect("not poisoned").prune(Instant::now());
    }
}

impl PoolInner {
    fn prune(&mut self, now: Instant) {
        self.pruned = Some(now);
        self.idle.retain(|_, idle| {
            idle.retain(|(_, since)| now - *since < POOL_IDLE);
            !idle.is_empty()
        });
    }
}

/// Whether an idle connection is still open: nothing to read, not closed.
/// Asks the kernel (tokio's cached readiness may not have seen a close or
/// stray bytes yet).
fn still_open(dyno: &TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut byte = 0u8;
    // SAFETY: a one-byte buffer we own; peeking leaves the socket as it is.
    let peeked = unsafe {
        libc::recv(
            dyno.as_raw_fd(),
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    peeked < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
}

/// A client connection with what was already read of it put back in
/// front, for hyper to serve from there.
pub(super) struct Rewind {
    prefix: Bytes,
    inner: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let count = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..count]);
            self.prefix.advance(count);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> Parsed<ClientRequest> {
        parse_request(text.as_bytes())
    }

    #[tokio::test]
    async fn the_pool_reuses_open_connections_and_lets_go_of_idle_ones() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let pool = DynoPool::default();
        let mut accepted = Vec::new();
        for _ in 0..2 {
            pool.put(&address, TcpStream::connect(&address).await.unwrap());
            accepted.push(listener.accept().await.unwrap().0);
        }
        let idle =
            |pool: &DynoPool| -> usize { pool.0.lock().unwrap().idle.values().map(Vec::len).sum() };
        pool.prune();
        assert_eq!(idle(&pool), 2);
        // The newest is taken first, but the dyno closed it: the other one.
        drop(accepted.pop());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let open = pool.take(&address).expect("an open connection");
        assert_eq!(open.local_addr().unwrap(), accepted[0].peer_addr().unwrap());
        assert!(pool.take(&address).is_none());
        pool.put(&address, TcpStream::connect(&address).await.unwrap());
        let later = Instant::now() + POOL_IDLE + Duration::from_secs(1);
        pool.0.lock().unwrap().prune(later);
        assert_eq!(idle(&pool), 0);
    }

    #[test]
    fn a_request_head_keeps_the_clients_headers_less_hop_by_hop_and_the_routers() {
        let text = "POST /a?b=1 HTTP/1.1\r\nHost: App.Localhost:8080\r\nContent-Length: 5\r\n\
                    Connection: keep-alive, close\r\nKeep-Alive: 5\r\nX-Request-Id: abc\r\n\
                    X-Forwarded-For: 10.0.0.1\r\nVia: evil\r\nAccept: */*\r\n\r\nhello";
        let Parsed::Complete(parsed) = request(text) else {
            panic!("not parsed");
        };
        assert_eq!(parsed.head_len, text.len() - 5);
        assert_eq!(
            (parsed.method.as_str(), parsed.path.as_str()),
            ("POST", "/a?b=1")
        );
        assert_eq!(parsed.host, "app.localhost:8080");
        assert_eq!(parsed.content_length, 5);
        assert!(parsed.close);
        assert_eq!(parsed.request_id.as_deref(), Some("abc"));
        assert_eq!(parsed.forwarded_for.as_deref(), Some("10.0.0.1"));
        assert_eq!(
            String::from_utf8(parsed.headers).unwrap(),
            "Host: App.Localhost:8080\r\nContent-Length: 5\r\nAccept: */*\r\n"
        );
    }

    #[test]
    fn requests_this_path_does_not_take_go_to_hyper() {
        for text in [
            "GET / HTTP/1.0\r\nHost: a\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -3\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        ] {
            assert!(matches!(request(text), Parsed::Invalid), "{text:?}");
        }
        assert!(matches!(
            request("GET / HTTP/1.1\r\nHost: a\r\n"),
            Parsed::Partial
        ));
    }

    fn response(text: &str, head_only: bool) -> ResponseHead {
        match parse_response(text.as_bytes(), head_only) {
            Parsed::Complete(head) => head,
            _ => panic!("not parsed: {text:?}"),
        }
    }

    #[test]
    fn a_response_head_says_how_its_body_ends() {
        let fixed = response(
            "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nKeep-Alive: timeout=5\r\nX-A: b\r\n\r\n",
            false,
        );
        assert_eq!(fixed.framing, Framing::Length(12));
        assert!(fixed.keep_alive);
        assert_eq!(
            String::from_utf8(fixed.client_head).unwrap(),
            "HTTP/1.1 200 OK\r\nX-A: b\r\ncontent-length: 12\r\n"
        );
        let chunked = response(
            "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            false,
        );
        assert_eq!(
            (chunked.framing, chunked.content_length),
            (Framing::Chunked, None)
        );
        let chunked_head = String::from_utf8(chunked.client_head).unwrap();
        assert!(chunked_head.ends_with("transfer-encoding: chunked\r\n"));
        assert!(
            !chunked_head.to_lowercase().contains("content-length"),
            "{chunked_head}"
        );
        let coded = response("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false);
        assert_eq!(coded.framing, Framing::UntilClose);
        assert!(String::from_utf8(coded.client_head)
            .unwrap()
            .ends_with("transfer-encoding: gzip\r\n"));
        let closing = response("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", false);
        assert_eq!(closing.framing, Framing::UntilClose);
        assert!(!closing.keep_alive);
        let old = response("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false);
        assert!(
            !old.keep_alive,
            "an HTTP/1.0 dyno closes unless it says otherwise"
        );
        for (text, head_only) in [
            ("HTTP/1.1 204 No Content\r\n\r\n", false),
            (
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                false,
            ),
            ("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true),
        ] {
            assert_eq!(
                response(text, head_only).framing,
                Framing::Empty,
                "{text:?}"
            );
        }
        let unnamed = response("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", false);
        assert!(String::from_utf8(unnamed.client_head)
            .unwrap()
            .starts_with("HTTP/1.1 404 Not Found\r\n"));
        for invalid in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
        ] {
            assert!(matches!(parse_response(invalid, false), Parsed::Invalid));
        }
    }

    #[test]
    fn a_chunked_body_ends_after_its_last_chunk_and_trailers() {
        let body = b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        let end = body.len() - 4;
        // Whole, and fed a byte at a time.
        assert_eq!(ChunkedEnd::default().feed(body).unwrap(), Some(end));
        let mut chunks = ChunkedEnd::default();
        let last = (0..body.len()).find(|&i| chunks.feed(&body[i..i + 1]).unwrap().is_some());
        assert_eq!(last, Some(end - 1));
        assert_eq!(ChunkedEnd::default().feed(b"0\r\n\r\n").unwrap(), Some(5));
        assert_eq!(ChunkedEnd::default().feed(b"3\r\nab").unwrap(), None);
        assert!(ChunkedEnd::default().feed(b"zz\r\n").is_err());
        for no_size in [
            &b"\r\n"[..],
            b" 5\r\nhello\r\n",
            b";x\r\n",
            b"5\r\nhello\r\n\r\n",
        ] {
            assert!(ChunkedEnd::default().feed(no_size).is_err(), "{no_size:?}");
        }
        assert!(ChunkedEnd::default().feed(b"3\r\nabcX").is_err());
    }
}
