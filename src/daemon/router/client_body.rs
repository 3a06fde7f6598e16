//! A request body on its way from the client to a dyno through hyper,
//! watched. When sending to the dyno fails, hyper's client says only that
//! the exchange broke; whether the client broke it (a malformed chunk, a
//! hang-up half way) is known here. Then the client gets its `400` and the
//! log line blames it, as Heroku's router does (H26 `cause="bad chunk"`,
//! H27), not the app (H13). The router's HTTP/1.1 path reads bodies itself
//! and never takes a chunked one (`http1::head::parse_request`).

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use super::hyper_path::BoxError;

/// How the client broke its request's body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum ClientFault {
    /// Not valid HTTP framing: a chunk size line that is not one, a chunk
    /// not followed by CRLF (RFC 9112, section 7.1).
    BadChunk,
    /// The client went away, or its stream was reset, before the end.
    Gone,
}

impl ClientFault {
    /// The router log's code and description (Heroku's).
    pub(super) fn error(self) -> (&'static str, &'static str) {
        match self {
            ClientFault::BadChunk => ("H26", "Request Error"),
            ClientFault::Gone => ("H27", "Client Request Interrupted"),
        }
    }

    /// The log line's `cause="…"`, as Heroku's H26 lines have.
    pub(super) fn cause(self) -> Option<&'static str> {
        match self {
            ClientFault::BadChunk => Some("bad chunk"),
            ClientFault::Gone => None,
        }
    }
}

/// What the watched body saw, read after the exchange with the dyno.
#[derive(Clone, Default)]
pub(super) struct FaultSeen(Arc<OnceLock<ClientFault>>);

impl FaultSeen {
    pub(super) fn get(&self) -> Option<ClientFault> {
        self.0.get().copied()
    }
}

/// The client's body, passed on as it is, noting how it broke if it does.
pub(super) struct WatchedBody<B> {
    body: B,
    seen: FaultSeen,
}

/// Wraps a client's body; the `FaultSeen` says later whether it broke.
pub(super) fn watch<B>(body: B) -> (WatchedBody<B>, FaultSeen) {
    let seen = FaultSeen::default();
    (
        WatchedBody {
            body,
            seen: seen.clone(),
        },
        seen,
    )
}

impl<B> Body for WatchedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(Some(Err(err))) => {
                let err: BoxError = err.into();
                // Noted before hyper's client sees the error, so it is
                // there when the exchange comes back failed.
                let _ = self.seen.0.set(fault_of(&*err));
                Poll::Ready(Some(Err(err)))
            }
            polled => polled.map(|frame| frame.map(|frame| frame.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// hyper reports bad framing in a body it decodes as an `InvalidInput` (or
/// `InvalidData`) I/O error under its own; anything else (end of stream,
/// reset) is the client going away.
fn fault_of(err: &(dyn std::error::Error + 'static)) -> ClientFault {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::InvalidInput | std::io::ErrorKind::InvalidData
            ) {
                return ClientFault::BadChunk;
            }
        }
        next = err.source();
    }
    ClientFault::Gone
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::io;

    /// An error as hyper's: its own, with the I/O error as the source.
    #[derive(Debug)]
    struct Wrapped(io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("error reading a body from connection")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    /// A client's body: these frames, then the end.
    struct Frames(std::collections::VecDeque<Result<Frame<Bytes>, Wrapped>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = Wrapped;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Wrapped>>> {
            Poll::Ready(self.0.pop_front())
        }
    }

    async fn fault_after(error: io::ErrorKind) -> Option<ClientFault> {
        let frames = Frames(
            [
                Ok(Frame::data(Bytes::from_static(b"hello"))),
                Err(Wrapped(io::Error::new(error, "Invalid chunk size line"))),
            ]
            .into(),
        );
        let (body, seen) = watch(frames);
        assert_eq!(seen.get(), None);
        let collected = body.collect().await;
        assert!(collected.is_err(), "the error goes on to hyper's client");
        seen.get()
    }

    #[tokio::test]
    async fn a_bad_chunk_is_the_clients_fault_and_so_is_hanging_up() {
        assert_eq!(
            fault_after(io::ErrorKind::InvalidInput).await,
            Some(ClientFault::BadChunk)
        );
        assert_eq!(
            fault_after(io::ErrorKind::UnexpectedEof).await,
            Some(ClientFault::Gone)
        );
        assert_eq!(ClientFault::BadChunk.error(), ("H26", "Request Error"));
        assert_eq!(ClientFault::BadChunk.cause(), Some("bad chunk"));
        assert_eq!(ClientFault::Gone.error().0, "H27");
    }
}
