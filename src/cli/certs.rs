//! `certs`: an app's TLS certificate, given (`certs:add`) or by ACME
//! (`certs:auto`).

use std::path::PathBuf;

use clap::Subcommand;

use super::args::Format;

// The app's TLS certificate.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// The app's TLS certificate: the names it covers and when it expires.
    #[command(name = "certs")]
    Show {
        #[command(flatten)]
        format: Format,
    },
    /// Add (or replace) the app's TLS certificate: the chain file, then the
    /// key file (over SSH, both PEM blocks on stdin). The router serves it on
    /// the HTTPS port to clients naming the app's hosts.
    #[command(name = "certs:add")]
    Add {
        /// The certificate chain, PEM.
        #[arg(value_name = "CERT", requires = "key")]
        cert: Option<PathBuf>,
        /// Its private key, PEM, not encrypted.
        #[arg(value_name = "KEY")]
        key: Option<PathBuf>,
    },
    /// Remove the app's TLS certificate.
    #[command(name = "certs:remove")]
    Remove,
    /// Redirect plain HTTP requests to HTTPS (`on`), or stop (`off`); shows the setting without one.
    #[command(name = "certs:redirect")]
    Redirect {
        /// `on` to redirect plain HTTP to HTTPS, `off` to serve both.
        #[arg(value_name = "on|off", value_parser = ["on", "off"])]
        state: Option<String>,
    },
}

// Certificates by ACME.
#[derive(Debug, Subcommand)]
pub enum CertsAutoCommand {
    /// Whether the app gets its certificate by ACME, and how that went.
    #[command(name = "certs:auto")]
    Show,
    /// Get the app's certificate from Let's Encrypt (or the install's ACME
    /// CA) by HTTP-01, and renew it 30 days before it expires. The app's
    /// hosts must reach this server on port 80.
    #[command(name = "certs:auto:enable")]
    Enable,
    /// Stop renewing the app's certificate (the current one stays).
    #[command(name = "certs:auto:disable")]
    Disable,
    /// Get a new ACME certificate now (after `domains:add`, say).
    #[command(name = "certs:auto:refresh")]
    Refresh,
}
