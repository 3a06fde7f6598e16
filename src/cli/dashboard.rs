//! `dashboard`: the web dashboard, by a one-time login link.

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
}
