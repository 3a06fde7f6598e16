//! `dashboard`: the web dashboard, by a one-time login link, and its
//! HTTPS certificate.

use clap::Subcommand;

// The web dashboard.
#[derive(Debug, Subcommand)]
pub enum DashboardCommand {
    /// Open the web dashboard: a one-time login link (60 s, usable once)
    /// for your SSH user, opened in the browser (or printed).
    #[command(name = "dashboard")]
    Open {
        /// Print the link instead of opening a browser.
        #[arg(long)]
        print_url: bool,
    },
    /// Whether the dashboard's host (`paas.<domain>`) gets its HTTPS
    /// certificate by ACME, and how that went.
    #[command(name = "dashboard:certs:auto")]
    CertsAuto,
    /// Get a certificate for `paas.<domain>` from Let's Encrypt (or the
    /// install's ACME CA) by HTTP-01 and renew it before it expires; plain
    /// HTTP requests to the dashboard then go to HTTPS (admins only).
    #[command(name = "dashboard:certs:auto:enable")]
    CertsAutoEnable,
    /// Stop renewing the dashboard's certificate (the current one stays
    /// until it expires; admins only).
    #[command(name = "dashboard:certs:auto:disable")]
    CertsAutoDisable,
}
