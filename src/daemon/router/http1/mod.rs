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
//!
//! Here: a connection's requests, one after another, each admitted, sent
//! to a dyno (another one after a refusal) and answered. `head` parses
//! the heads, `relay` moves the bytes both ways, `framing` finds where a
//! response's body ends; the kept-alive dyno connections are
//! `super::dyno_pool`'s.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use crate::routes::Backend;

use super::admission::{Admission, Forward, RequestHead};
use super::connections::{ConnectionLimits, ConnectionSlot, HeadWait};
use super::forwarding::{forwarding_headers, DIED_WITH_REQUEST, REQUEST_TIMEOUT};
use super::pages::failure_answer;
use super::Router;

mod framing;
mod head;
mod relay;

use framing::{BodyEnd, Framing};
use head::{parse_request, push_header, ClientRequest, Parsed, ResponseHead, MAX_HEAD};
use relay::{
    relay_body, relay_sending, send_and_read_head, ClientGone, Interrupted, Outgoing, Unsent,
    READ_SIZE,
};

/// A request body the router reads and drops (to answer without a dyno and
/// keep the connection); a longer one closes the connection instead.
const DISCARD_LIMIT: u64 = 1024 * 1024;
/// How long a closing connection reads what the client still sends: in
/// all, and at most between two reads (nginx's `lingering_time` and
/// `lingering_timeout`).
const LINGER_TIME: Duration = Duration::from_secs(30);
const LINGER_READ: Duration = Duration::from_secs(5);

impl Router {
    /// Serves a plain-HTTP connection until it closes, or until a head
    /// does not come in time (`HeadWait`). `slot` counts it as open.
    pub(super) async fn serve_http1(
        self: Arc<Self>,
        mut client: TcpStream,
        peer: SocketAddr,
        slot: ConnectionSlot,
    ) {
        // Both take memory when first read into: a connection that never
        // sends a byte holds none.
        let mut input = BytesMut::new();
        let mut from_dyno = BytesMut::new();
        let mut wait = HeadWait::first_request(slot.accepted);
        loop {
            let request = match next_request(&mut client, &mut input, &mut wait, &self.limits).await
            {
                // The dashboard is served on hyper's path (its head is
                // still in `input`).
                Next::Request(request) if !self.is_dashboard(&request.host) => request,
                Next::Closed => return,
                Next::Request(_) | Next::NotOurs => {
                    let rest = Rewind {
                        prefix: input.freeze(),
                        inner: client,
                    };
                    return self.serve_with_hyper(rest, peer, slot, wait).await;
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
                Ok(true) => wait = HeadWait::next_request(Instant::now()),
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
        let mut body = BodyEnd::new(response_head.framing);
        let relayed = if unsent.can_send && unsent.bytes > 0 {
            relay_sending(
                client,
                &mut dyno,
                out,
                from_dyno,
                &mut body,
                input,
                &mut unsent,
            )
            .await
        } else {
            relay_body(client, &mut dyno, out, from_dyno, &mut body).await
        };
        // What went out: a body cut short counts what it sent, a chunked
        // one its data, a HEAD's none.
        entry.bytes = Some(body.data_bytes());
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

/// Reads until a whole request head is in `input`; closed when it is not
/// whole by `wait`'s deadline, however it trickles in.
async fn next_request(
    client: &mut TcpStream,
    input: &mut BytesMut,
    wait: &mut HeadWait,
    limits: &ConnectionLimits,
) -> Next {
    loop {
        if !input.is_empty() {
            if wait.idle() {
                wait.bytes_arrived(Instant::now());
            }
            match parse_request(input) {
                Parsed::Complete(request) => return Next::Request(request),
                Parsed::Invalid => return Next::NotOurs,
                Parsed::Partial if input.len() >= MAX_HEAD => return Next::NotOurs,
                Parsed::Partial => {}
            }
        }
        let deadline = wait.deadline(limits);
        if input.capacity() == 0 {
            // No buffer before there is something to read into it.
            if !matches!(timeout_at(deadline, client.readable()).await, Ok(Ok(()))) {
                return Next::Closed;
            }
        }
        input.reserve(READ_SIZE);
        match timeout_at(deadline, client.read_buf(input)).await {
            Ok(Ok(read)) if read > 0 => {}
            _ => return Next::Closed,
        }
    }
}

/// Reads and drops a request body the router answers without a dyno, so
/// the connection can serve the next request. False when it is too long
/// or does not come whole within `REQUEST_TIMEOUT`: then the connection
/// closes.
async fn discard_body(client: &mut TcpStream, input: &mut BytesMut, length: u64) -> bool {
    if length > DISCARD_LIMIT {
        return false;
    }
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut remaining = length;
    loop {
        let take = remaining.min(input.len() as u64);
        input.advance(take as usize);
        remaining -= take;
        if remaining == 0 {
            return true;
        }
        input.reserve(READ_SIZE);
        match timeout_at(deadline, client.read_buf(input)).await {
            Ok(Ok(read)) if read > 0 => {}
            _ => return false,
        }
    }
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
