//! What the router answers on an app's hosts: its `domains`, and
//! `maintenance` mode.

use clap::Subcommand;

use super::args::Format;

// The app's hostnames.
#[derive(Debug, Subcommand)]
pub enum DomainsCommand {
    /// List the app's domains: its own and the custom ones.
    #[command(name = "domains")]
    List {
        #[command(flatten)]
        format: Format,
    },
    /// Send a hostname of your own to the app (point its DNS at the server).
    #[command(
        name = "domains:add",
        after_help = "EXAMPLES:\n  $ paas domains:add www.example.com\n  $ paas certs:auto:enable        # then a certificate by ACME"
    )]
    Add {
        /// The hostname (`www.example.com`) to route to the app.
        #[arg(value_name = "HOSTNAME")]
        hostname: String,
    },
    /// Stop sending a custom hostname to the app.
    #[command(name = "domains:remove")]
    Remove {
        /// The hostname to stop routing to the app.
        #[arg(value_name = "HOSTNAME")]
        hostname: String,
    },
    /// Remove every custom domain of the app.
    #[command(name = "domains:clear")]
    Clear,
    /// Set the platform's domain: every app answers at `<app>.<DOMAIN>`
    /// (point a wildcard DNS record `*.DOMAIN` at the server). Admins only.
    #[command(name = "domains:set-global")]
    SetGlobal {
        /// The domain apps answer under (`apps.example.com` makes `APP.apps.example.com`).
        #[arg(value_name = "DOMAIN")]
        domain: String,
    },
}

// Maintenance mode.
#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// Whether the app is in maintenance mode.
    #[command(name = "maintenance")]
    Show,
    /// Answer every request with a 503 maintenance page (the app's own if
    /// `MAINTENANCE_PAGE_URL` is set); the dynos keep running.
    #[command(name = "maintenance:on")]
    On,
    /// Pass requests to the dynos again.
    #[command(name = "maintenance:off")]
    Off,
}
