//! The router's connector to dynos: hyper's, timing each new connection so
//! the request log can say `connect=…ms` as Heroku's router does.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

use super::router::RouteTable;
use crate::runtime::netns::DynoConnector;
use crate::runtime::NetnsRef;

/// When a connection to a dyno was made and how long that took; hyper
/// hands it back in each response's extensions.
#[derive(Clone, Copy, Debug)]
pub struct ConnectTime {
    finished: Instant,
    took: Duration,
}

impl ConnectTime {
    /// The connect time of a request sent at `sent`: zero on a kept-alive
    /// connection made before it.
    pub fn for_request_sent(&self, sent: Instant) -> Duration {
        if self.finished >= sent {
            self.took
        } else {
            Duration::ZERO
        }
    }
}

/// hyper's connector to dynos: as the router's own path connects
/// (`DynoConnector::connect_dyno`), finding a dyno's namespace in the
/// routes by its container, the request's host.
#[derive(Clone)]
pub struct TimedConnector {
    dynos: DynoConnector,
    table: RouteTable,
}

impl TimedConnector {
    pub fn new(dynos: DynoConnector, table: RouteTable) -> TimedConnector {
        TimedConnector { dynos, table }
    }
}

type Connecting = Pin<Box<dyn Future<Output = Result<TimedStream, ConnectError>> + Send>>;
type ConnectError = Box<dyn std::error::Error + Send + Sync>;

/// The network namespace of the dyno in `container`, if it is routed to.
fn netns_of(table: &RouteTable, container: &str) -> Option<NetnsRef> {
    table
        .load()
        .values()
        .flat_map(|routes| routes.backends())
        .find(|backend| backend.container == container)
        .and_then(|backend| backend.netns)
}

impl Service<Uri> for TimedConnector {
    type Response = TimedStream;
    type Error = ConnectError;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let started = Instant::now();
        let container = uri.host().unwrap_or_default();
        let netns = netns_of(&self.table, container);
        let dynos = self.dynos.clone();
        Box::pin(async move {
            let stream = TokioIo::new(dynos.connect_dyno(netns).await?);
            let finished = Instant::now();
            Ok(TimedStream {
                stream,
                time: ConnectTime {
                    finished,
                    took: finished - started,
                },
            })
        })
    }
}

/// A connection to a dyno that remembers how it was made.
pub struct TimedStream {
    stream: TokioIo<TcpStream>,
    time: ConnectTime,
}

impl Connection for TimedStream {
    fn connected(&self) -> Connected {
        self.stream.connected().extra(self.time)
    }
}

impl hyper::rt::Read for TimedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for TimedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }
}
