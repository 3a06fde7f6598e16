//! Request and response heads on the HTTP/1.1 path, parsed in place
//! (httparse): what the path needs of each, the headers that go on (less
//! the hop-by-hop ones, and the client's forwarding headers, which the
//! router sets), and how a response's body is framed. A request this path
//! does not take parses as `Invalid`, and goes to hyper.

use hyper::StatusCode;

use super::framing::Framing;
use crate::daemon::router::forwarding::{FORWARDING_HEADERS, HOP_BY_HOP};
use crate::daemon::router::request_host::host_value;

/// Longer heads go to hyper, which answers them.
pub(super) const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;

/// A head as far as it came.
pub(super) enum Parsed<T> {
    Complete(T),
    Partial,
    /// Not valid, or not for this path.
    Invalid,
}

/// A client's request head, as this path needs it.
#[derive(Debug)]
pub(super) struct ClientRequest {
    pub(super) head_len: usize,
    pub(super) method: String,
    pub(super) path: String,
    /// Lowercase, with its port if any.
    pub(super) host: String,
    pub(super) request_id: Option<String>,
    pub(super) forwarded_for: Option<String>,
    pub(super) content_length: u64,
    /// The client asked to close the connection after this request.
    pub(super) close: bool,
    /// The headers that go on to the dyno, as `name: value\r\n` lines:
    /// all but the hop-by-hop ones and those the router sets.
    pub(super) headers: Vec<u8>,
}

/// Parses the request head at the start of `input`.
pub(super) fn parse_request(input: &[u8]) -> Parsed<ClientRequest> {
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

/// A dyno's response head, as this path needs it.
#[derive(Debug)]
pub(super) struct ResponseHead {
    pub(super) head_len: usize,
    pub(super) status: u16,
    /// The status line and headers for the client, without the blank line
    /// that ends them: the dyno's headers less the hop-by-hop ones.
    pub(super) client_head: Vec<u8>,
    pub(super) framing: Framing,
    /// The dyno keeps the connection open after this response.
    pub(super) keep_alive: bool,
}

/// Parses the response head at the start of `buffer`; `head_only` for
/// the answer to a HEAD request.
pub(super) fn parse_response(buffer: &[u8], head_only: bool) -> Parsed<ResponseHead> {
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
        keep_alive: keep_alive && framing != Framing::UntilClose,
    })
}

/// Appends a `name: value` line.
pub(super) fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> Parsed<ClientRequest> {
        parse_request(text.as_bytes())
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
        assert_eq!(chunked.framing, Framing::Chunked);
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
}
