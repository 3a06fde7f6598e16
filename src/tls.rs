//! TLS through rustls (with ring): whom outgoing connections trust.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

/// Debian's bundle of the system's trusted authorities.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The bundle outgoing connections trust: `SSL_CERT_FILE`, as OpenSSL
/// honours it (for a private authority), else the system's.
pub fn trust_bundle() -> PathBuf {
    std::env::var_os("SSL_CERT_FILE")
        .filter(|path| !path.is_empty())
        .map_or_else(|| PathBuf::from(SYSTEM_BUNDLE), PathBuf::from)
}

/// A client configuration trusting `trust_bundle()`.
pub fn client_config() -> Result<Arc<ClientConfig>, String> {
    client_config_trusting(&trust_bundle())
}

/// A client configuration trusting the authorities in `bundle`.
pub fn client_config_trusting(bundle: &std::path::Path) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let certificates = CertificateDer::pem_file_iter(bundle)
        .map_err(|err| format!("reading `{}`: {err}", bundle.display()))?;
    for certificate in certificates.flatten() {
        // A bundle may hold a certificate webpki cannot use; skip it alone.
        let _ = roots.add(certificate);
    }
    if roots.is_empty() {
        return Err(format!(
            "`{}` holds no usable certificate authority",
            bundle.display()
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
