//! Where a response's body ends on the HTTP/1.1 path (RFC 9112, section
//! 6.3): by its length, its last chunk, or the dyno's close. The body goes
//! on as it came; its framing is followed only to know where it ends.

use std::io;

use super::relay::Interrupted;

/// How a response's body ends (RFC 9112, section 6.3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Framing {
    /// No body: a response to HEAD, or 1xx, 204, 304.
    Empty,
    Length(u64),
    Chunked,
    /// Read until the dyno closes; the client's connection closes after.
    UntilClose,
}

/// Where a response's body ends, by its framing, as its bytes come.
pub(super) struct BodyEnd {
    framing: Framing,
    /// Of a `Length` body: the bytes still to come.
    remaining: u64,
    chunks: ChunkedEnd,
    /// Of an `UntilClose` body: the bytes so far.
    until_close: u64,
}

impl BodyEnd {
    pub(super) fn new(framing: Framing) -> BodyEnd {
        let remaining = match framing {
            Framing::Length(length) => length,
            _ => 0,
        };
        BodyEnd {
            framing,
            remaining,
            chunks: ChunkedEnd::default(),
            until_close: 0,
        }
    }

    pub(super) fn framing(&self) -> Framing {
        self.framing
    }

    /// The body's bytes relayed so far, without a chunked body's framing
    /// (for the metrics' bytes out, where no length was given).
    pub(super) fn data_bytes(&self) -> u64 {
        match self.framing {
            Framing::Empty => 0,
            Framing::Length(length) => length - self.remaining,
            Framing::Chunked => self.chunks.data,
            Framing::UntilClose => self.until_close,
        }
    }

    /// How many of the next `bytes` belong to the body, and whether it
    /// ends with them.
    pub(super) fn take(&mut self, bytes: &[u8]) -> Result<(usize, bool), Interrupted> {
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
            Framing::UntilClose => {
                self.until_close += bytes.len() as u64;
                (bytes.len(), false)
            }
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
    /// The chunks' data so far.
    data: u64,
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
                    self.data += take;
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_body_counts_its_data_without_the_framing() {
        let mut chunked = BodyEnd::new(Framing::Chunked);
        let body = b"5\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
        for byte in body.chunks(3) {
            chunked.take(byte).unwrap_or_else(|_| panic!("valid"));
        }
        assert_eq!(chunked.data_bytes(), 21);
        let mut sized = BodyEnd::new(Framing::Length(10));
        assert!(sized.take(b"0123").is_ok());
        assert_eq!(sized.data_bytes(), 4);
        let mut until_close = BodyEnd::new(Framing::UntilClose);
        assert!(until_close.take(b"abc").is_ok() && until_close.take(b"de").is_ok());
        assert_eq!(until_close.data_bytes(), 5);
    }
}
