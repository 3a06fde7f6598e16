//! Moving a request to a dyno and its response back on the HTTP/1.1 path:
//! the head with as much of the body as came with it, the rest of the body
//! as the client sends it (also while the dyno already answers), the
//! response's head (interim 1xx ones passed on), then its body as it
//! comes, each wait bounded by `BODY_IDLE_TIMEOUT`.

use std::io;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::framing::{BodyEnd, Framing};
use super::head::{parse_response, Parsed, ResponseHead, MAX_HEAD};
use crate::daemon::router::forwarding::BODY_IDLE_TIMEOUT;

/// How much is read at a time, from a client or a dyno.
pub(super) const READ_SIZE: usize = 16 * 1024;

/// What the router sends a dyno.
pub(super) struct Outgoing<'a> {
    pub(super) head: &'a [u8],
    /// Bytes of body, taken from the client as they come.
    pub(super) body_length: u64,
    /// Whether it may go to another dyno (nothing of it is lost).
    pub(super) retryable: bool,
    /// A HEAD request, whose response has no body whatever it says.
    pub(super) head_only: bool,
}

/// Sends the request and reads the response's head. A dyno may answer
/// before it has read the body: to refuse it (413), or to stream its answer
/// while it reads on. So the body goes on to the dyno while the head is
/// awaited; what is left of it when the head comes is sent while the
/// response is relayed (`relay_sending`).
pub(super) async fn send_and_read_head(
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
pub(super) struct Unsent {
    /// The head went out whole (else nothing says what the dyno got).
    head_sent: bool,
    pub(super) bytes: u64,
    pub(super) can_send: bool,
}

impl Unsent {
    /// The whole request reached the dyno.
    pub(super) fn all_sent(&self) -> bool {
        self.head_sent && self.bytes == 0
    }
}

/// The client closed its connection before it sent all of its request.
pub(super) struct ClientGone;

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
pub(super) async fn relay_sending(
    client: &mut TcpStream,
    dyno: &mut TcpStream,
    out: Vec<u8>,
    from_dyno: &mut BytesMut,
    body: &mut BodyEnd,
    input: &mut BytesMut,
    unsent: &mut Unsent,
) -> Result<bool, Interrupted> {
    let (mut dyno_in, mut dyno_out) = dyno.split();
    let (mut client_in, mut client_out) = client.split();
    let relay = relay_body(&mut client_out, &mut dyno_in, out, from_dyno, body);
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
pub(super) enum Interrupted {
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
pub(super) async fn relay_body(
    client: &mut (impl AsyncWrite + Unpin),
    dyno: &mut (impl AsyncRead + Unpin),
    mut out: Vec<u8>,
    rest: &mut BytesMut,
    body: &mut BodyEnd,
) -> Result<bool, Interrupted> {
    let framing = body.framing();
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
