//! `config`: an app's config vars.

use clap::Subcommand;

use super::args::Format;

// Config vars.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Show config vars.
    #[command(name = "config")]
    Show {
        /// Print `KEY=value` lines for a shell.
        #[arg(long, conflicts_with = "json")]
        shell: bool,
        #[command(flatten)]
        format: Format,
    },
    /// Print config vars' values, one a line.
    #[command(name = "config:get")]
    Get {
        /// The vars' names.
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
    },
    /// Edit the config vars in `$EDITOR` (on the laptop, when run from
    /// one) and apply what changed as one release.
    #[command(name = "config:edit")]
    Edit,
    /// Set config vars (`KEY=value …`, or `KEY=value` lines on stdin when
    /// none are given): a new release, and the dynos restart.
    #[command(
        name = "config:set",
        after_help = "EXAMPLES:\n  $ paas config:set DEBUG=0 SECRET_KEY=s3cret -a myapp\n  $ paas config --shell -a myapp > .env && paas config:set -a other < .env",
        visible_alias = "config:add"
    )]
    Set {
        /// The vars to set, `KEY=value` each.
        #[arg(value_name = "KEY=VALUE")]
        pairs: Vec<String>,
    },
    /// Remove config vars: a new release, and the dynos restart.
    #[command(name = "config:unset", visible_alias = "config:remove")]
    Unset {
        /// The vars' names.
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
    },
}
