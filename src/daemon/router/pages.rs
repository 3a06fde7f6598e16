//! The answers the router makes itself, without a dyno: error pages,
//! redirects, the maintenance page, ACME answers. Admission and both
//! router paths make them; each path sends them in its own form
//! (`Answer::into_response` for hyper, `Answer::to_http1` for the
//! HTTP/1.1 path).

use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderValue;
use hyper::{Response, StatusCode};

use super::hyper_path::Body;

/// A response the router makes itself: error pages, redirects, the
/// maintenance page, ACME answers.
pub(super) struct Answer {
    /// Read by the paths for the request's log line.
    pub(super) status: StatusCode,
    headers: Vec<(&'static str, HeaderValue)>,
    body: Bytes,
}

impl Answer {
    pub(super) fn new(status: StatusCode, body: Bytes) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body,
        }
    }

    /// The answer with this header too (left out if `value` cannot be one).
    pub(super) fn with(mut self, name: &'static str, value: &str) -> Answer {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.push((name, value));
        }
        self
    }

    /// As hyper's response, for the hyper path.
    pub(super) fn into_response(self) -> Response<Body> {
        let mut response =
            Response::new(Full::new(self.body).map_err(|never| match never {}).boxed());
        *response.status_mut() = self.status;
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
    }

    /// As HTTP/1.1 bytes; `close` says the connection ends after it. The
    /// answer to a HEAD request has no body, only its length.
    pub(super) fn to_http1(&self, close: bool, head_only: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        out.extend_from_slice(
            format!(
                "HTTP/1.1 {} {}\r\n",
                self.status.as_u16(),
                self.status.canonical_reason().unwrap_or("")
            )
            .as_bytes(),
        );
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(
            format!(
                "date: {}\r\ncontent-length: {}\r\n",
                http_date(SystemTime::now()),
                self.body.len()
            )
            .as_bytes(),
        );
        if close {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// A permanent redirect (308) to `location`.
pub(super) fn redirect(location: &str) -> Answer {
    Answer::new(StatusCode::PERMANENT_REDIRECT, Bytes::new()).with("location", location)
}

/// A plain-text page: its title, a blank line, the text.
pub(super) fn page(status: StatusCode, title: &str, text: &str) -> Answer {
    Answer::new(status, Bytes::from(format!("{title}\n\n{text}\n")))
        .with("content-type", "text/plain; charset=utf-8")
}

/// A request the router will not take, as sent: the connection ends after
/// the answer, as nginx's does (what follows a malformed request cannot be
/// trusted to start where the client meant the next one to). hyper drops
/// the header from an HTTP/2 answer, where the stream ends instead.
pub(super) fn bad_request(text: &str) -> Answer {
    page(StatusCode::BAD_REQUEST, "Bad request", text).with("connection", "close")
}

/// The page for a request no dyno answered: H12, H21, or H13; or one the
/// client broke on the way (H26, H27).
pub(super) fn failure_answer(code: &str) -> Answer {
    let (status, text) = match code {
        "H26" => return bad_request("The request's chunked body is malformed."),
        "H27" => return bad_request("The request's body ended before it was whole."),
        "H12" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The app took more than 30 seconds to answer. Its owner can check `paas logs`.",
        ),
        "H21" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The app refused the connection. Its owner can check `paas logs`.",
        ),
        _ => (
            StatusCode::BAD_GATEWAY,
            "The app did not answer. Its owner can check `paas logs`.",
        ),
    };
    page(status, "Application error", text)
}

/// A `Date` header's value (RFC 9110's IMF-fixdate), as hyper sets on the
/// answers it sends.
fn http_date(at: SystemTime) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::from(at)
        .format(&format)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn dates_are_in_http_form() {
        let at = UNIX_EPOCH + Duration::from_secs(784111777);
        assert_eq!(http_date(at), "Sun, 06 Nov 1994 08:49:37 GMT");
    }
}
