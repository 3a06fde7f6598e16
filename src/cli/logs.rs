//! `logs`, and the `drains` that forward the log stream.

use clap::Subcommand;
use clap_complete::engine::ArgValueCandidates;

use super::args::Format;

// The app's logs.
#[derive(Debug, Subcommand)]
pub enum LogsCommand {
    /// Show the app's logs.
    #[command(
        name = "logs",
        after_help = "EXAMPLES:\n  $ paas logs -t\n  $ paas logs -n 500 -p web\n  $ paas logs -s heroku -d web.1"
    )]
    Show {
        /// How many lines to show.
        #[arg(short = 'n', long, default_value_t = 100)]
        num: usize,
        /// Keep following new lines.
        #[arg(short = 't', long)]
        tail: bool,
        /// Only this process type's lines (`web`).
        #[arg(short = 'p', long = "ps", visible_alias = "process-type", value_name = "TYPE", add = ArgValueCandidates::new(crate::completion::process_types))]
        process_type: Option<String>,
        /// Only this dyno's lines (`web.1`).
        #[arg(short = 'd', long, visible_alias = "dyno-name", value_name = "DYNO")]
        dyno: Option<String>,
        /// Only `app` (dyno output) or `paas` (platform; `heroku` works too) lines.
        #[arg(short = 's', long)]
        source: Option<String>,
    },

    /// Show or set how many MB of log stream the app keeps on disk (default 64).
    #[command(name = "logs:limit")]
    Limit {
        /// MB of log stream to keep; shows the current limit if omitted.
        #[arg(value_name = "MB")]
        megabytes: Option<u64>,
    },
}

// Log drains.
#[derive(Debug, Subcommand)]
pub enum DrainsCommand {
    /// List the app's log drains.
    #[command(name = "drains")]
    List {
        #[command(flatten)]
        format: Format,
    },
    /// Forward the app's log stream: `syslog://host:port`, `syslog+tls://host:port`, or
    /// `https://[user:password@]host/path` (logplex batches, as Heroku posts them).
    #[command(name = "drains:add")]
    Add {
        /// Where to send the log stream: `syslog://HOST:PORT`, `syslog+tls://…` or `https://…`.
        url: String,
    },
    /// Stop forwarding to a drain.
    #[command(name = "drains:remove")]
    Remove {
        /// The drain, as `drains` lists it.
        url: String,
    },
}
