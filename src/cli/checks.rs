//! `checks`: how new dynos take traffic.

use clap::Subcommand;

// Health checks and the window after traffic moves.
#[derive(Debug, Subcommand)]
pub enum ChecksCommand {
    /// The health checks new dynos pass before traffic moves to them: the
    /// release's `app.json` `healthchecks`, else staying up 10 s.
    #[command(name = "checks")]
    Show,
    /// Check new dynos before traffic moves to them (the default).
    #[command(name = "checks:enable")]
    Enable,
    /// Move traffic to new dynos once they listen, without their checks.
    #[command(name = "checks:skip")]
    Skip,
    /// Stop the old dynos before starting new ones, unchecked: downtime, for
    /// apps that cannot run two copies at once.
    #[command(name = "checks:disable")]
    Disable,
    /// Set the window after traffic moves: `uptime SECONDS`, how long the
    /// previous web dynos stay warm, taking the traffic back if a new dyno
    /// crashes (default 10; for the app or, with `--global`, every app);
    /// `wait on|off`, whether a change waits out the window and fails if a
    /// new dyno crashes in it (default off: it returns once traffic moved).
    #[command(name = "checks:set")]
    Set {
        /// What to set: `uptime` or `wait`.
        #[arg(value_name = "KEY", value_parser = ["uptime", "wait"])]
        key: String,
        /// Its value: seconds for `uptime`, `on` or `off` for `wait`.
        #[arg(value_name = "VALUE")]
        value: String,
        /// The install's default, for apps that set none (admins only).
        #[arg(long)]
        global: bool,
    },
}
