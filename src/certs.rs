//! TLS certificates of apps (`certs:add`): a PEM bundle of the chain and
//! its private key, checked before it is kept, stored 0600 in the app's
//! directory, and served by the router to clients naming the app's hosts.
//! The dashboard's own (`dashboard:certs:auto`) is kept under `etc/`.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use crate::error::{Error, Result};
use crate::state::{self, AppDir, Root};

/// More than any real chain and key.
pub const BUNDLE_LIMIT: usize = 60 * 1024;

/// What `certs` shows of a certificate.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    /// The DNS names (and IP addresses) it is valid for.
    pub names: Vec<String>,
    /// `2027-02-19 10:00:00 UTC`
    pub expires_at: String,
    pub issuer: String,
    /// Whether it is signed by itself.
    pub self_signed: bool,
    pub expired: bool,
}

/// A checked bundle: the chain, its key, what it says.
pub struct Bundle {
    pub pem: String,
    pub key: Arc<CertifiedKey>,
    pub summary: Summary,
    /// Unix seconds from which the certificate is valid.
    pub valid_from: i64,
    /// Unix seconds at which it expires.
    pub valid_until: i64,
}

/// Checks a PEM bundle for `certs:add`: it reads (see `parse`), names its
/// hosts where clients look (subjectAltName), and is valid now.
pub fn check(pem: &str) -> Result<Bundle> {
    let bundle = parse(pem)?;
    if bundle.summary.names.is_empty() {
        return Err(Error::new(
            "the certificate names no host in its subjectAltName, and clients ignore the common name",
        )
        .hint("reissue it with the app's hostnames as DNS names"));
    }
    if bundle.summary.expired {
        return Err(Error::new(format!(
            "the certificate expired on {}",
            bundle.summary.expires_at
        )));
    }
    if time::OffsetDateTime::now_utc().unix_timestamp() < bundle.valid_from {
        return Err(Error::new("the certificate is not valid yet"));
    }
    Ok(bundle)
}

/// Reads a PEM bundle: at least one certificate and one private key that
/// matches the first certificate.
pub fn parse(pem: &str) -> Result<Bundle> {
    if pem.len() > BUNDLE_LIMIT {
        return Err(Error::new(format!(
            "the certificate and key are over {} KiB together",
            BUNDLE_LIMIT / 1024
        )));
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<std::result::Result<_, _>>()
        .map_err(|err| Error::new(format!("the certificate is not valid PEM: {err}")))?;
    let Some(leaf) = chain.first() else {
        return Err(
            Error::new("no certificate found (a `BEGIN CERTIFICATE` block)")
                .hint("give the certificate file first, then the key file"),
        );
    };
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| {
        Error::new("no private key found (a `BEGIN PRIVATE KEY` block, PKCS#8, PKCS#1 or SEC1)")
            .hint("the key file must not be encrypted")
    })?;
    let (summary, valid_from, valid_until) = summarize(leaf)?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|err| {
        let reason = match err {
            rustls::Error::InconsistentKeys(_) => {
                "the private key does not match the certificate".to_string()
            }
            other => format!("the private key cannot be used: {other}"),
        };
        Error::new(reason)
    })?;
    Ok(Bundle {
        pem: pem.to_string(),
        key: Arc::new(certified),
        summary,
        valid_from,
        valid_until,
    })
}

fn parse_x509<'a>(
    der: &'a CertificateDer<'a>,
) -> Result<x509_parser::certificate::X509Certificate<'a>> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert)
        .map_err(|err| Error::new(format!("the certificate cannot be read: {err}")))
}

/// What `certs` shows of a certificate, and when it is valid from and until.
fn summarize(der: &CertificateDer) -> Result<(Summary, i64, i64)> {
    use x509_parser::extensions::GeneralName;
    let cert = parse_x509(der)?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push(dns.to_ascii_lowercase()),
                GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => <[u8; 4]>::try_from(&bytes[..])
                            .ok()
                            .map(std::net::IpAddr::from),
                        16 => <[u8; 16]>::try_from(&bytes[..])
                            .ok()
                            .map(std::net::IpAddr::from),
                        _ => None,
                    };
                    names.extend(ip.map(|ip| ip.to_string()));
                }
                _ => {}
            }
        }
    }
    let not_after = cert.validity().not_after.timestamp();
    let expires = time::OffsetDateTime::from_unix_timestamp(not_after)
        .map_err(|_| Error::new("the certificate's expiry is out of range"))?;
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    let summary = Summary {
        names,
        expires_at: expires.format(&format).unwrap_or_default(),
        issuer: cert.issuer().to_string(),
        self_signed: cert.issuer() == cert.subject(),
        expired: time::OffsetDateTime::now_utc().unix_timestamp() > not_after,
    };
    Ok((summary, cert.validity().not_before.timestamp(), not_after))
}

/// Whether a certificate name covers a host (`*.example.com` covers one label).
pub fn covers(name: &str, host: &str) -> bool {
    match name.strip_prefix("*.") {
        Some(parent) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        None => name == host,
    }
}

impl Summary {
    /// Whether one of the certificate's names covers `host`.
    pub fn covers(&self, host: &str) -> bool {
        self.names.iter().any(|name| covers(name, host))
    }
}

/// The hosts an app answers at: its own and its custom domains.
pub fn app_hosts(settings: &state::Settings, app: &AppDir) -> Vec<String> {
    std::iter::once(format!("{}.{}", app.name, settings.domain))
        .chain(app.settings().map(|s| s.domains).unwrap_or_default())
        .collect()
}

pub fn store(app: &AppDir, bundle: &Bundle) -> Result<()> {
    state::write_atomic(&app.certificate_file(), bundle.pem.as_bytes(), 0o600)
}

/// The app's certificate, if it has one that reads (expired or not: it is
/// served until replaced, and `certs` says it expired).
pub fn load(app: &AppDir) -> Option<Bundle> {
    let pem = std::fs::read_to_string(app.certificate_file()).ok()?;
    parse(&pem).ok()
}

/// The dashboard's own certificate (`dashboard:certs:auto`), if it has
/// one that reads.
pub fn load_dashboard(root: &Root) -> Option<Bundle> {
    let pem = std::fs::read_to_string(root.dashboard_certificate_file()).ok()?;
    parse(&pem).ok()
}

pub fn store_dashboard(root: &Root, bundle: &Bundle) -> Result<()> {
    state::create_dir(&root.etc_dir(), 0o755)?;
    state::write_atomic(
        &root.dashboard_certificate_file(),
        bundle.pem.as_bytes(),
        0o600,
    )
}

/// The certificate the router serves for the dashboard's host: its own,
/// while it covers the name and has not expired. Never an app's: an app
/// owner may add any certificate (self-signed, or naming the dashboard's
/// host), and none of theirs may decide how the dashboard is reached.
pub fn for_dashboard(root: &Root, settings: &state::Settings) -> Option<Bundle> {
    let host = settings.dashboard_host();
    load_dashboard(root).filter(|bundle| serves_dashboard(bundle, &host, crate::crashes::now()))
}

/// Whether the dashboard's own certificate serves `host` at `now`.
pub fn serves_dashboard(bundle: &Bundle, host: &str, now: i64) -> bool {
    bundle.summary.covers(host) && now < bundle.valid_until
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(covers("www.example.com", "www.example.com"));
        assert!(covers("*.example.com", "www.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("example.com", "www.example.com"));
    }

    #[test]
    fn bundles_without_a_matching_key_are_refused() {
        let err = check("").err().unwrap();
        assert!(err.message().contains("no certificate found"));
        let err = check("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
            .err()
            .unwrap();
        assert!(err.message().contains("certificate"), "{}", err.message());
    }
}
