//! HTTP/1.1 exchanges on hyper's client connection: one request at a time
//! on a connection its caller holds (a drain keeps one alive between
//! posts), the body kept up to a limit; and the two GETs commands make, a
//! page and a download that follows redirects.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::header;
use hyper::http::request::Builder;
use hyper::http::response::Parts;
use hyper::{Method, Request, StatusCode, Version};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;

use super::stream::{connect, seconds, Busy, Stream, Timeouts};
use super::target::{self, HttpTarget};
use super::{block_on, Error, Reach};

/// One HTTP/1.1 connection. It closes when dropped.
pub struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
    busy: Busy,
}

/// What came back from one exchange.
#[derive(Debug)]
pub struct Response {
    pub head: Parts,
    pub body: Bytes,
    /// Whether the connection can carry another request.
    pub keep_alive: bool,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.head.status.as_u16()
    }
}

impl Connection {
    /// Speaks HTTP/1.1 over `stream`.
    pub async fn open(stream: Stream) -> Result<Connection, Error> {
        let busy = stream.busy();
        let (sender, connection) = http1::Builder::new()
            // `Content-Length`, not `content-length`: as paas always wrote
            // them, and as hand-written receivers (tests among them) read.
            .title_case_headers(true)
            .handshake(TokioIo::new(stream))
            .await?;
        tokio::spawn(connection);
        Ok(Connection { sender, busy })
    }

    /// Sends `request` and reads its answer, keeping at most `body_limit`
    /// bytes of the body: the rest is read and dropped, so the connection
    /// can carry another request.
    pub async fn send(
        &mut self,
        request: Request<Bytes>,
        body_limit: u64,
    ) -> Result<Response, Error> {
        let _busy = self.busy.during();
        let (head, mut body) = self.start(request).await?.into_parts();
        let mut kept = Vec::new();
        each_chunk(&mut body, |chunk| {
            let room =
                usize::try_from(body_limit.saturating_sub(kept.len() as u64)).unwrap_or(usize::MAX);
            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            Ok(())
        })
        .await?;
        let keep_alive = keeps_alive(&head) && !self.sender.is_closed();
        Ok(Response {
            head,
            body: kept.into(),
            keep_alive,
        })
    }

    /// Sends `request` and waits for the head of its answer.
    async fn start(&mut self, request: Request<Bytes>) -> Result<hyper::Response<Incoming>, Error> {
        self.sender.ready().await?;
        Ok(self.sender.send_request(request.map(Full::new)).await?)
    }
}

/// Hands each chunk of `body` to `take`, to the body's end.
async fn each_chunk(
    body: &mut Incoming,
    mut take: impl FnMut(&[u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|err| match Error::from(err) {
            // An answer begun: the request arrived, whatever follows.
            err if err.closed_before_answering() => Error::CutShort,
            err => err,
        })?;
        if let Ok(data) = frame.into_data() {
            take(&data)?;
        }
    }
    Ok(())
}

/// Whether the server keeps the connection open after this answer: not
/// when it says `close`, nor by default in HTTP/1.0, nor after a body that
/// ended with the connection.
fn keeps_alive(head: &Parts) -> bool {
    let connection = head
        .headers
        .get(header::CONNECTION)
        .and_then(|value| value.to_str().ok());
    let said = match connection {
        Some(value) => value.eq_ignore_ascii_case("keep-alive"),
        None => head.version != Version::HTTP_10,
    };
    let no_body = head.status.is_informational()
        || head.status == StatusCode::NO_CONTENT
        || head.status == StatusCode::NOT_MODIFIED;
    let framed = no_body
        || head.headers.contains_key(header::CONTENT_LENGTH)
        || head.headers.contains_key(header::TRANSFER_ENCODING);
    said && framed
}

/// A request for `target`'s path, with the `Host` header, the user agent
/// and the URL's credentials.
pub fn request(method: Method, target: &HttpTarget, user_agent: &str) -> Builder {
    let builder = Request::builder()
        .method(method)
        .uri(&target.path)
        .header(header::HOST, target.host_header())
        .header(header::USER_AGENT, user_agent);
    match &target.authorization {
        Some(authorization) => builder.header(header::AUTHORIZATION, authorization),
        None => builder,
    }
}

/// Fails with a timeout once `limit` has passed.
pub async fn within<T>(
    limit: Duration,
    exchange: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(limit, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no whole answer within {}", seconds(limit)),
            )))
        })
}

/// GETs a URL on a new connection, where `reach` lets it go: (status,
/// body of at most `body_limit` bytes). No redirects: a page that moved
/// says so by its status.
pub fn get(url: &str, reach: Reach, body_limit: u64) -> Result<(u16, Vec<u8>), String> {
    let target = HttpTarget::parse(url)?;
    let tls = if target.tls {
        Some(crate::tls::client_config()?)
    } else {
        None
    };
    let fetch = async {
        let stream = connect(
            &target.host,
            target.port,
            reach,
            target.tls,
            tls.as_ref(),
            Timeouts::BRIEF,
        )
        .await?;
        let request = request(Method::GET, &target, "paas")
            .header(header::CONNECTION, "close")
            .body(Bytes::new())?;
        Connection::open(stream)
            .await?
            .send(request, body_limit)
            .await
    };
    let response = block_on(fetch).map_err(|err| format!("fetching `{url}`: {err}"))?;
    Ok((response.status(), response.body.to_vec()))
}

/// Redirects a download follows at most: curl's default, which restores
/// from a URL used before.
const MAX_REDIRECTS: usize = 50;

/// GETs `url` into `out` within `limit`, following redirects, each one
/// only where `reach` lets it go (a URL on the internet may redirect
/// inside the server's network); the URL's credentials go to its own
/// origin only (as curl sends them). An answer of 400 or more fails, as
/// `curl --fail` did.
pub fn download(
    url: &str,
    reach: Reach,
    out: &mut impl Write,
    connect_limit: Duration,
    limit: Duration,
) -> Result<(), String> {
    let mut location = target::parse_http(url)?;
    let origin = location.origin();
    let timeouts = Timeouts {
        connect: connect_limit,
        read: None,
        write: None,
    };
    let mut tls: Option<Arc<ClientConfig>> = None;
    let fetch = async {
        for moves in 0..=MAX_REDIRECTS {
            let mut target = HttpTarget::of(&location)
                .map_err(|err| Error::Other(format!("`{location}`: {err}")))?;
            if location.origin() != origin {
                target.authorization = None;
            }
            if target.tls && tls.is_none() {
                tls = Some(crate::tls::client_config().map_err(Error::Other)?);
            }
            let stream = connect(
                &target.host,
                target.port,
                reach,
                target.tls,
                tls.as_ref(),
                timeouts,
            )
            .await?;
            let mut connection = Connection::open(stream).await?;
            let request = request(Method::GET, &target, "paas")
                .header(header::CONNECTION, "close")
                .body(Bytes::new())?;
            let mut answer = connection.start(request).await?;
            let status = answer.status();
            let moved_to = answer
                .headers()
                .get(header::LOCATION)
                .and_then(|value| value.to_str().ok());
            if let (true, Some(moved_to)) = (status.is_redirection(), moved_to) {
                location = location.join(moved_to).map_err(|err| {
                    Error::Other(format!("`{location}` moved to `{moved_to}`: {err}"))
                })?;
                if !matches!(location.scheme(), "http" | "https") {
                    return Err(Error::Other(format!(
                        "it moved to `{location}`, which is not http:// or https://"
                    )));
                }
                continue;
            }
            if status.as_u16() >= 400 {
                let who = if moves == 0 {
                    "it".to_string()
                } else {
                    // Where it moved, without the credentials the message
                    // leads with already.
                    let mut moved = location.clone();
                    let _ = (moved.set_username(""), moved.set_password(None));
                    format!("`{moved}`, where it moved,")
                };
                return Err(Error::Other(format!("{who} answered {status}")));
            }
            return each_chunk(answer.body_mut(), |chunk| Ok(out.write_all(chunk)?)).await;
        }
        Err(Error::Other(format!("more than {MAX_REDIRECTS} redirects")))
    };
    block_on(within(limit, fetch)).map_err(|err| format!("fetching `{url}`: {err}"))
}

#[cfg(test)]
mod tests;
