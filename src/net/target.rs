//! URLs for outgoing connections, parsed by the `url` crate (the WHATWG
//! parser browsers follow): `http://` and `https://` targets, and the
//! `scheme://host:port` of a syslog drain. What that parser would quietly
//! mend (a space it would percent-encode, a tab or newline it would drop)
//! is refused instead, as a typo in a drain's URL should be.

use base64::Engine;
use url::{Host, Url};

/// An `http://` or `https://` URL, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpTarget {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    /// The path and query (a `#fragment` is never sent).
    pub path: String,
    /// `Basic …` from the URL's `user:password@`, percent-decoded.
    pub authorization: Option<String>,
}

impl HttpTarget {
    pub fn parse(text: &str) -> Result<HttpTarget, String> {
        HttpTarget::of(&parse_http(text)?).map_err(|err| format!("`{text}`: {err}"))
    }

    /// The target of a parsed `http://` or `https://` URL.
    pub(super) fn of(url: &Url) -> Result<HttpTarget, String> {
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return Err("it is not an http:// or https:// URL".into()),
        };
        let host = host_name(url)?;
        let port = url.port_or_known_default().unwrap_or(0);
        if port == 0 {
            return Err(format!("`{port}` is not a port"));
        }
        let mut path = url.path().to_string();
        if let Some(query) = url.query() {
            path.push('?');
            path.push_str(query);
        }
        let authorization = (!url.username().is_empty() || url.password().is_some()).then(|| {
            let decode = |text| percent_encoding::percent_decode_str(text).collect::<Vec<u8>>();
            let mut credentials = decode(url.username());
            credentials.push(b':');
            credentials.extend(decode(url.password().unwrap_or_default()));
            let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
            format!("Basic {encoded}")
        });
        Ok(HttpTarget {
            host,
            port,
            tls,
            path,
            authorization,
        })
    }

    /// The `Host` header: the port only when it is not the scheme's.
    pub fn host_header(&self) -> String {
        let default_port = if self.tls { 443 } else { 80 };
        match (self.host.contains(':'), self.port == default_port) {
            (true, true) => format!("[{}]", self.host),
            (true, false) => format!("[{}]:{}", self.host, self.port),
            (false, true) => self.host.clone(),
            (false, false) => format!("{}:{}", self.host, self.port),
        }
    }
}

/// Parses an `http://` or `https://` URL.
pub(super) fn parse_http(text: &str) -> Result<Url, String> {
    let scheme = text.split_once("://").map(|(scheme, _)| scheme);
    if !scheme.is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https")) {
        return Err(format!("`{text}` is not an http:// or https:// URL"));
    }
    parse(text).map_err(|err| format!("`{text}`: {err}"))
}

/// The host and port of a `scheme://host:port` URL (a syslog drain's):
/// both must be there, and nothing else.
pub fn host_and_port(text: &str) -> Result<(String, u16), String> {
    let url = parse(text)?;
    let host = host_name(&url)?;
    let port = url.port().ok_or("it has no port")?;
    if port == 0 {
        return Err(format!("`{port}` is not a port"));
    }
    let extra = !url.username().is_empty()
        || url.password().is_some()
        || !matches!(url.path(), "" | "/")
        || url.query().is_some()
        || url.fragment().is_some();
    if extra {
        return Err("it holds more than a host and a port".into());
    }
    Ok((host, port))
}

/// The URL, or what is wrong with it (without the URL itself).
fn parse(text: &str) -> Result<Url, String> {
    let (userinfo, host, port, rest) = parts_as_written(text);
    let bad = |part: &str| part.contains(|c: char| c.is_whitespace() || c.is_control());
    // Empty, or spaces the parser would refuse and tabs it would drop.
    if host.is_empty() || bad(host) || port.is_some_and(bad) {
        return Err(format!("`{host}` is not a host name"));
    }
    if bad(rest) {
        return Err("the path must not hold spaces".into());
    }
    if bad(userinfo) {
        return Err("the user name and password must not hold spaces".into());
    }
    Url::parse(text).map_err(|err| match err {
        url::ParseError::InvalidPort => format!("`{}` is not a port", port.unwrap_or_default()),
        url::ParseError::EmptyHost
        | url::ParseError::IdnaError
        | url::ParseError::InvalidIpv4Address
        | url::ParseError::InvalidIpv6Address
        | url::ParseError::InvalidDomainCharacter => format!("`{host}` is not a host name"),
        other => other.to_string(),
    })
}

/// The name or address to connect to (an IPv6 address without brackets).
/// A host that is not a domain in a URL of another scheme than http's
/// (`syslog://`) is read as one here.
fn host_name(url: &Url) -> Result<String, String> {
    let host = match url.host() {
        Some(Host::Domain(opaque)) if !is_special(url) => {
            Host::parse(opaque).map_err(|_| format!("`{opaque}` is not a host name"))?
        }
        Some(host) => host.to_owned(),
        None => return Err("`` is not a host name".into()),
    };
    match host {
        // What DNS names hold: the parser would let `!` or `_` through
        // to a lookup that fails later, with a vaguer message.
        Host::Domain(name)
            if !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c)) =>
        {
            Err(format!("`{name}` is not a host name"))
        }
        Host::Domain(name) => Ok(name),
        Host::Ipv4(address) => Ok(address.to_string()),
        Host::Ipv6(address) => Ok(address.to_string()),
    }
}

fn is_special(url: &Url) -> bool {
    matches!(
        url.scheme(),
        "http" | "https" | "ws" | "wss" | "ftp" | "file"
    )
}

/// The parts of `scheme://userinfo@host:port/rest` as written, for checks
/// and messages about them before the parser has its say.
fn parts_as_written(text: &str) -> (&str, &str, Option<&str>, &str) {
    let after_scheme = text.split_once("://").map_or(text, |(_, rest)| rest);
    let end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let (authority, rest) = after_scheme.split_at(end);
    let (userinfo, host_port) = authority.rsplit_once('@').unwrap_or(("", authority));
    let port_at = match host_port.strip_prefix('[') {
        Some(v6) => v6.find("]:").map(|at| at + 2),
        None => host_port.rfind(':'),
    };
    match port_at {
        Some(at) => (userinfo, &host_port[..at], Some(&host_port[at + 1..]), rest),
        None => (userinfo, host_port, None, rest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_host_port_path_and_credentials() {
        let target = HttpTarget::parse("https://u:p@example.com/a?b=c").unwrap();
        assert_eq!(
            (target.host.as_str(), target.port, target.tls),
            ("example.com", 443, true)
        );
        assert_eq!(target.path, "/a?b=c");
        assert_eq!(target.authorization.as_deref(), Some("Basic dTpw"));
        assert_eq!(target.host_header(), "example.com");
        let target = HttpTarget::parse("http://[::1]:8080").unwrap();
        assert_eq!((target.host.as_str(), target.path.as_str()), ("::1", "/"));
        assert_eq!(target.host_header(), "[::1]:8080");
        assert!(HttpTarget::parse("ftp://example.com").is_err());
        assert!(HttpTarget::parse("http://exa mple.com/").is_err());
    }

    #[test]
    fn the_parser_normalises_what_it_can() {
        let target = HttpTarget::parse("HTTP://Example.COM:80?q=1#part").unwrap();
        assert_eq!(
            (target.host.as_str(), target.port, target.tls),
            ("example.com", 80, false)
        );
        // A fragment is the browser's, never sent.
        assert_eq!(target.path, "/?q=1");
        assert_eq!(target.host_header(), "example.com");
        let target = HttpTarget::parse("https://127.0.0.1:8443/a/../b").unwrap();
        assert_eq!(target.path, "/b");
        assert_eq!(target.host_header(), "127.0.0.1:8443");
        // Credentials are percent-decoded, as curl and browsers do; a user
        // without a password gets an empty one.
        let target = HttpTarget::parse("https://me%40example.com:p%3Ass@x/").unwrap();
        assert_eq!(
            target.authorization.as_deref(),
            Some(
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode("me@example.com:p:ss")
                )
                .as_str()
            )
        );
        let target = HttpTarget::parse("https://me@x/").unwrap();
        assert_eq!(target.authorization.as_deref(), Some("Basic bWU6"));
        assert_eq!(HttpTarget::parse("https://x/").unwrap().authorization, None);
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let error = |text: &str| HttpTarget::parse(text).unwrap_err();
        assert_eq!(
            error("ftp://example.com"),
            "`ftp://example.com` is not an http:// or https:// URL"
        );
        assert_eq!(
            error("example.com/page"),
            "`example.com/page` is not an http:// or https:// URL"
        );
        assert_eq!(
            error("http:example.com"),
            "`http:example.com` is not an http:// or https:// URL"
        );
        assert_eq!(
            error("http://exa mple.com/"),
            "`http://exa mple.com/`: `exa mple.com` is not a host name"
        );
        assert_eq!(
            error("http://exa\tmple.com/"),
            "`http://exa\tmple.com/`: `exa\tmple.com` is not a host name"
        );
        assert_eq!(
            error("http://x/a b"),
            "`http://x/a b`: the path must not hold spaces"
        );
        assert_eq!(
            error("http://x/a\nb"),
            "`http://x/a\nb`: the path must not hold spaces"
        );
        assert_eq!(error("http://x:0/"), "`http://x:0/`: `0` is not a port");
        assert_eq!(
            error("http://x:99999/"),
            "`http://x:99999/`: `99999` is not a port"
        );
        assert_eq!(error("http://x:ab/"), "`http://x:ab/`: `ab` is not a port");
        assert_eq!(error("http:///a"), "`http:///a`: `` is not a host name");
        assert_eq!(
            error("http://a_b%/"),
            "`http://a_b%/`: `a_b%` is not a host name"
        );
        // ASCII names only (`xn--` for others), as DNS takes them.
        assert_eq!(
            error("http://exämple.com/"),
            "`http://exämple.com/`: `exämple.com` is not a host name"
        );
        assert_eq!(
            HttpTarget::parse("http://xn--exmple-cua.com/")
                .unwrap()
                .host,
            "xn--exmple-cua.com"
        );
        assert_eq!(
            error("http://[::1/"),
            "`http://[::1/`: `[::1` is not a host name"
        );
    }

    #[test]
    fn syslog_urls_hold_a_host_and_a_port() {
        assert_eq!(
            host_and_port("syslog://logs.example.com:514"),
            Ok(("logs.example.com".into(), 514))
        );
        assert_eq!(
            host_and_port("syslog+tls://[::1]:6514/"),
            Ok(("::1".into(), 6514))
        );
        assert_eq!(
            host_and_port("syslog://Logs.Example.com:514"),
            Ok(("logs.example.com".into(), 514))
        );
        assert_eq!(
            host_and_port("syslog://127.0.0.1:514"),
            Ok(("127.0.0.1".into(), 514))
        );
        assert_eq!(
            host_and_port("syslog://logs.example.com"),
            Err("it has no port".into())
        );
        assert_eq!(
            host_and_port("syslog://x:0"),
            Err("`0` is not a port".into())
        );
        assert_eq!(
            host_and_port("syslog://x:y"),
            Err("`y` is not a port".into())
        );
        assert_eq!(
            host_and_port("syslog://a b:1"),
            Err("`a b` is not a host name".into())
        );
        assert_eq!(
            host_and_port("syslog://a!b:1"),
            Err("`a!b` is not a host name".into())
        );
        assert_eq!(
            host_and_port("syslog://x:1/path"),
            Err("it holds more than a host and a port".into())
        );
        assert_eq!(
            host_and_port("syslog://u@x:1"),
            Err("it holds more than a host and a port".into())
        );
    }
}
