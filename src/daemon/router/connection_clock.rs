//! The time limits of `connections` (a request's head, a kept-alive
//! connection's idle time) on hyper's path, where hyper reads the heads:
//! the connection's reads (`Watched`), its requests and the ends of their
//! responses (`UnderWay`) move a `Clock`, and `serve_watched` ends the
//! connection at its `HeadWait` deadline while no request is under way.
//! The HTTP/1.1 path keeps its `HeadWait` itself, in its read loop.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::connections::{ConnectionLimits, ConnectionSlot, HeadWait};
use super::hyper_path::{Body, BoxError};

/// How long an idle connection asked to close (HTTP/2's GOAWAY) is given.
const GRACE: Duration = Duration::from_secs(1);

/// Where one client connection is: requests under way, or waiting for the
/// next one's head since when.
pub(super) struct Clock {
    limits: ConnectionLimits,
    state: Mutex<ClockState>,
    /// Told of each change, for `serve_watched` to look at the deadline again.
    changed: Notify,
    /// On HTTP/1 a byte while no request is under way starts the next
    /// head. HTTP/2 sends frames of its own between requests (window
    /// updates, pings): there only requests count, the first within
    /// `head` of the accept, each later one within `idle` of the last.
    heads_by_bytes: bool,
}

struct ClockState {
    under_way: usize,
    wait: HeadWait,
}

impl Clock {
    pub(super) fn new(
        limits: ConnectionLimits,
        wait: HeadWait,
        heads_by_bytes: bool,
    ) -> Arc<Clock> {
        Arc::new(Clock {
            limits,
            state: Mutex::new(ClockState { under_way: 0, wait }),
            changed: Notify::new(),
            heads_by_bytes,
        })
    }

    fn bytes_arrived(&self) {
        if !self.heads_by_bytes {
            return;
        }
        let mut state = self.state.lock().expect("not poisoned");
        if state.under_way == 0 && state.wait.idle() {
            state.wait.bytes_arrived(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    /// A request is under way until the `UnderWay` is dropped (with its
    /// response's body): no time limit of this clock meanwhile.
    pub(super) fn request_started(self: &Arc<Self>) -> UnderWay {
        self.state.lock().expect("not poisoned").under_way += 1;
        self.changed.notify_one();
        UnderWay(self.clone())
    }

    /// When the connection ends, and whether it is idle (closing then
    /// loses nothing); none while a request is under way.
    fn deadline(&self) -> Option<(Instant, bool)> {
        let state = self.state.lock().expect("not poisoned");
        (state.under_way == 0).then(|| (state.wait.deadline(&self.limits), state.wait.idle()))
    }
}

/// A request under way on a watched connection; its end starts the wait
/// for the next one.
pub(super) struct UnderWay(Arc<Clock>);

impl Drop for UnderWay {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().expect("not poisoned");
        state.under_way -= 1;
        if state.under_way == 0 {
            state.wait = HeadWait::next_request(Instant::now());
        }
        drop(state);
        self.0.changed.notify_one();
    }
}

/// A response's body that keeps its request under way until it is sent
/// (or dropped).
pub(super) struct UnderWayBody {
    body: Body,
    _under_way: UnderWay,
}

impl UnderWayBody {
    pub(super) fn new(body: Body, under_way: UnderWay) -> UnderWayBody {
        UnderWayBody {
            body,
            _under_way: under_way,
        }
    }
}

impl hyper::body::Body for UnderWayBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A client connection on hyper's path: its reads move the clock, and it
/// holds the connection's place in `connections` as long as it is open,
/// also after an upgrade (a WebSocket) took it from hyper.
pub(super) struct Watched<I> {
    inner: I,
    clock: Arc<Clock>,
    _slot: ConnectionSlot,
}

impl<I> Watched<I> {
    pub(super) fn new(inner: I, clock: Arc<Clock>, slot: ConnectionSlot) -> Watched<I> {
        Watched {
            inner,
            clock,
            _slot: slot,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.bytes_arrived();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
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

/// Drives hyper's `connection` until it ends, or until the clock's
/// deadline passes with no request under way: an idle connection is asked
/// to close (`graceful`: HTTP/2's GOAWAY) and given `GRACE`; one whose
/// head is late is dropped at once.
pub(super) async fn serve_watched<C: Future>(
    connection: C,
    clock: &Clock,
    graceful: impl FnOnce(Pin<&mut C>),
) {
    tokio::pin!(connection);
    loop {
        let deadline = clock.deadline();
        let changed = clock.changed.notified();
        tokio::select! {
            _ = connection.as_mut() => return,
            () = changed => {}
            () = at(deadline.map(|(at, _)| at)) => {
                match clock.deadline() {
                    Some((at, true)) if at <= Instant::now() => {
                        graceful(connection.as_mut());
                        let _ = tokio::time::timeout(GRACE, connection).await;
                        return;
                    }
                    Some((at, false)) if at <= Instant::now() => return,
                    // A request came meanwhile, or a byte moved the deadline.
                    _ => {}
                }
            }
        }
    }
}

async fn at(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::router::connections::Connections;

    /// The real limits, in tenths: 5.5 s idle, 3 s for a head.
    fn limits() -> ConnectionLimits {
        let mut limits = ConnectionLimits::for_open_files(4096);
        limits.idle = Duration::from_millis(550);
        limits.head = Duration::from_millis(300);
        limits
    }

    /// `took` is `expected`, give or take what a busy machine adds to a
    /// timer (it never fires early).
    fn about(took: Duration, expected: Duration) {
        assert!(
            took >= expected && took < expected + Duration::from_millis(250),
            "took {took:?}, not {expected:?}"
        );
    }

    #[tokio::test]
    async fn an_idle_connection_is_asked_to_close_after_its_last_answer() {
        let accepted = Instant::now();
        let clock = Clock::new(limits(), HeadWait::first_request(accepted), true);
        // A request, answered after longer than a head may take; then nothing.
        let under_way = clock.request_started();
        assert_eq!(clock.deadline(), None);
        tokio::time::sleep(Duration::from_millis(400)).await;
        drop(under_way);
        let answered = Instant::now();
        let asked = std::cell::Cell::new(None);
        serve_watched(std::future::pending::<()>(), &clock, |_| {
            asked.set(Some(Instant::now()))
        })
        .await;
        let asked = asked.get().expect("asked to close");
        about(asked - answered, limits().idle);
        about(Instant::now() - asked, GRACE);
    }

    #[tokio::test]
    async fn a_head_not_whole_within_its_time_of_its_first_byte_is_dropped() {
        let clock = Clock::new(limits(), HeadWait::next_request(Instant::now()), true);
        let started = Instant::now();
        let trickle = {
            let clock = clock.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                for _ in 0..10 {
                    clock.bytes_arrived();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                std::future::pending::<()>().await
            }
        };
        serve_watched(trickle, &clock, |_| panic!("a head under way is not idle")).await;
        about(
            Instant::now() - started,
            Duration::from_millis(100) + limits().head,
        );
    }

    #[tokio::test]
    async fn without_heads_by_bytes_only_requests_count() {
        let clock = Clock::new(limits(), HeadWait::next_request(Instant::now()), false);
        let started = Instant::now();
        let frames_then_a_request = {
            let clock = clock.clone();
            async move {
                // HTTP/2's frames between requests, then a long request.
                tokio::time::sleep(Duration::from_millis(100)).await;
                clock.bytes_arrived();
                tokio::time::sleep(Duration::from_millis(100)).await;
                let under_way = clock.request_started();
                tokio::time::sleep(Duration::from_millis(700)).await;
                drop(under_way);
                std::future::pending::<()>().await
            }
        };
        let closed = std::cell::Cell::new(None);
        serve_watched(frames_then_a_request, &clock, |_| {
            closed.set(Some(Instant::now()))
        })
        .await;
        let closed = closed.get().expect("asked to close");
        about(closed - started, Duration::from_millis(900) + limits().idle);
    }

    #[tokio::test]
    async fn a_connection_that_ends_first_ends_the_watch_and_its_slot() {
        let clock = Clock::new(limits(), HeadWait::first_request(Instant::now()), true);
        let started = Instant::now();
        serve_watched(
            tokio::time::sleep(Duration::from_millis(100)),
            &clock,
            |_| panic!("not idle long enough"),
        )
        .await;
        about(Instant::now() - started, Duration::from_millis(100));
        let connections = Connections::new(limits());
        let localhost = "127.0.0.1".parse().unwrap();
        let slot = connections.admit(localhost).unwrap();
        let watched = Watched::new(tokio::io::empty(), clock, slot);
        assert!(connections.admit(localhost).is_ok());
        drop(watched);
        let again: Vec<_> = (0..256).map(|_| connections.admit(localhost)).collect();
        assert!(again.iter().all(Result::is_ok));
        assert!(connections.admit(localhost).is_err());
    }
}
