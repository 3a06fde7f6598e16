//! Which host a request is for, by RFC 9110 (section 7.2) and RFC 9112
//! (section 3.2), the same on both router paths: the HTTP/1.1 path hands a
//! request these rules refuse to hyper's, and `Router::handle` answers it 400.
//!
//! Two `Host` lines, or a `Host` that disagrees with an absolute-form target,
//! are how a request gets past one reader that takes one host and reaches
//! another that takes the other ("Host of Troubles"; Heroku's router refuses
//! several `Host` lines since 2016). So the router refuses the first, and for
//! the second routes by the target and tells the app that same host.

/// Why a request's host cannot be known: the client's fault, answered 400
/// and not logged to any app (which app it was for is what is unknown).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum BadHost {
    /// More than one `Host` line.
    Duplicate,
    /// An HTTP/1.1 request without `Host`.
    Missing,
    /// A `Host` (or target authority) that is not `host[:port]`.
    Invalid,
}

impl BadHost {
    /// The text of the 400 page.
    pub(super) fn explain(self) -> &'static str {
        match self {
            BadHost::Duplicate => "The request has more than one Host header.",
            BadHost::Missing => "An HTTP/1.1 request must have a Host header.",
            BadHost::Invalid => "The request's Host is not a valid host name.",
        }
    }
}

/// The host a request is for, lowercase, with its port if any: the
/// authority of an absolute-form target (`GET http://app.example.com/`),
/// which RFC 9112 (3.2.2) says wins over `Host`, else the one `Host` line.
/// `host_required` is set for HTTP/1.1, where a request without `Host` is
/// malformed; an HTTP/1.0 one without either is for no host (`""`).
pub(super) fn request_host<'a>(
    authority: Option<&str>,
    mut host_lines: impl Iterator<Item = &'a [u8]>,
    host_required: bool,
) -> Result<String, BadHost> {
    let first = host_lines.next();
    if host_lines.next().is_some() {
        return Err(BadHost::Duplicate);
    }
    // A `Host` is checked even when the target overrides it: RFC 9112 asks
    // for a 400 on an invalid one in any request.
    let header = first
        .map(|raw| host_value(raw).ok_or(BadHost::Invalid))
        .transpose()?;
    if let Some(authority) = authority {
        if authority.is_empty() || !valid_host(authority) {
            return Err(BadHost::Invalid);
        }
        return Ok(authority.to_ascii_lowercase());
    }
    match header {
        Some(host) => Ok(host.to_ascii_lowercase()),
        None if host_required => Err(BadHost::Missing),
        None => Ok(String::new()),
    }
}

/// A `Host` line's value, when it is a valid one.
pub(super) fn host_value(raw: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(raw).ok()?.trim_matches([' ', '\t']);
    valid_host(value).then_some(value)
}

/// `uri-host [":" port]` (RFC 3986): a name, an IPv4 address or a bracketed
/// IP literal. No user info (`user@host`), path, space or non-ASCII byte
/// (names outside ASCII come as punycode).
fn valid_host(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:[]".contains(&b))
}

/// A host as routes are looked up: without its port, and without the dot
/// that ends a fully qualified name (`app.example.com.` is the same host as
/// `app.example.com`; browsers and curl send it as typed).
pub(super) fn host_name(host: &str) -> &str {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    name.strip_suffix('.').unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(authority: Option<&str>, lines: &[&str], required: bool) -> Result<String, BadHost> {
        request_host(authority, lines.iter().map(|l| l.as_bytes()), required)
    }

    #[test]
    fn one_host_line_names_the_host() {
        assert_eq!(
            host(None, &["App.Localhost:8080"], true).as_deref(),
            Ok("app.localhost:8080")
        );
        assert_eq!(
            host(None, &[" a.localhost\t"], true).as_deref(),
            Ok("a.localhost")
        );
        assert_eq!(host(None, &["[::1]:80"], true).as_deref(), Ok("[::1]:80"));
        assert_eq!(host(None, &[], false).as_deref(), Ok(""), "HTTP/1.0");
    }

    #[test]
    fn an_absolute_target_wins_over_host() {
        // RFC 9112, 3.2.2: the target's authority, whatever `Host` says.
        assert_eq!(
            host(Some("App.localhost:8080"), &["other.localhost"], true).as_deref(),
            Ok("app.localhost:8080")
        );
        assert_eq!(
            host(Some("app.localhost"), &[], false).as_deref(),
            Ok("app.localhost")
        );
        assert_eq!(
            host(Some("user@app.localhost"), &["app.localhost"], true),
            Err(BadHost::Invalid),
            "user info in the target is an error (RFC 9110, 4.2.4)"
        );
    }

    #[test]
    fn ambiguous_or_missing_hosts_are_refused() {
        assert_eq!(
            host(None, &["a.localhost", "b.localhost"], true),
            Err(BadHost::Duplicate)
        );
        assert_eq!(
            host(None, &["a.localhost", "a.localhost"], true),
            Err(BadHost::Duplicate),
            "two lines, even alike"
        );
        assert_eq!(
            host(Some("a.localhost"), &["a.localhost", "b.localhost"], true),
            Err(BadHost::Duplicate)
        );
        assert_eq!(host(None, &[], true), Err(BadHost::Missing));
        for invalid in ["a b", "a/b", "user@a.localhost", "app.lócalhost", "a\u{7f}"] {
            assert_eq!(
                host(None, &[invalid], true),
                Err(BadHost::Invalid),
                "{invalid:?}"
            );
        }
        assert_eq!(host_value(b"\xff.localhost"), None);
        assert_eq!(
            BadHost::Duplicate.explain(),
            "The request has more than one Host header."
        );
        assert_eq!(
            BadHost::Missing.explain(),
            "An HTTP/1.1 request must have a Host header."
        );
        assert_eq!(
            BadHost::Invalid.explain(),
            "The request's Host is not a valid host name."
        );
    }

    #[test]
    fn a_host_name_drops_its_port_and_trailing_dot() {
        assert_eq!(host_name("app.localhost:8080"), "app.localhost");
        assert_eq!(host_name("app.localhost."), "app.localhost");
        assert_eq!(host_name("app.localhost.:8080"), "app.localhost");
        assert_eq!(host_name("[::1]:8080"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
        assert_eq!(
            host_name("app.localhost.."),
            "app.localhost.",
            "one dot only"
        );
    }
}
