//! `metrics`: what the router and the dynos measured, per minute.

use clap::Subcommand;

use super::args::Format;

// Metrics.
#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// Show the app's metrics as text charts: requests, status classes,
    /// router errors, response times (p50, p95, p99), bytes, and each
    /// dyno's memory and CPU.
    #[command(
        name = "metrics",
        after_help = "Metrics are counted per minute and kept for 7 days.\n\nEXAMPLES:\n  $ paas metrics\n  $ paas metrics --since 24h\n  $ paas metrics --since 7d --step 1h --json"
    )]
    Show {
        /// How far back to show (`30m`, `6h`, `7d`).
        #[arg(long, default_value = "1h", value_name = "DURATION")]
        since: String,
        /// The time each point covers, whole minutes (`1m`, `1h`); by
        /// default what fits 60 points.
        #[arg(long, value_name = "DURATION")]
        step: Option<String>,
        #[command(flatten)]
        format: Format,
    },
}
