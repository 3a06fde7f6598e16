//! One-off dynos: `run` now, and `cron`'s scheduled jobs; and the words of
//! a one-off dyno's command.

use clap::{Args, Subcommand};

use super::args::Format;

/// The words of a one-off dyno's command (`run`, `run:detached`).
#[derive(Debug, Args)]
pub struct OneOffCommand {
    /// Config vars for this dyno only, over the app's (`'A=1;B=2'`).
    #[arg(short = 'e', long = "env", value_name = "'KEY=VALUE;…'")]
    pub env: Option<String>,
    /// The dyno's size (`standard-2x`; default: the `--type`'s, else standard-1x).
    #[arg(short = 's', long)]
    pub size: Option<String>,
    /// Run with this process type's size (`ps:resize`); the dyno is still `run.N`.
    #[arg(long = "type", value_name = "TYPE")]
    pub process_type: Option<String>,
    /// Exit with the command's exit status (paas always does; for Heroku's habit).
    #[arg(short = 'x', long)]
    pub exit_code: bool,
    /// No terminal, even when this side has one.
    #[arg(long)]
    pub no_tty: bool,
    /// The command; a Procfile type runs that type's command. Options of
    /// `run` anywhere before a `--` are `run`'s; after it, the command's.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub words: Vec<String>,
}

// One-off dynos.
#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// Run a one-off command in a new dyno, attached to this terminal
    /// (`run bash`, `run python manage.py migrate`, `run worker --once`).
    #[command(
        name = "run",
        after_help = "EXAMPLES:\n  $ paas run bash\n  $ paas run python manage.py migrate -a myapp\n  $ paas run -s standard-2x -e 'BATCH=1' -- ./job.sh --all"
    )]
    Attached {
        #[command(flatten)]
        command: OneOffCommand,
    },
    /// Run a one-off command in the background; its output goes to `logs`.
    #[command(name = "run:detached")]
    Detached {
        /// Follow the dyno's logs until it ends.
        #[arg(short = 't', long)]
        tail: bool,
        #[command(flatten)]
        command: OneOffCommand,
    },
    /// Stop a one-off dyno (`run.1`).
    #[command(name = "run:stop")]
    Stop {
        /// The one-off dyno (`run.1`).
        #[arg(value_name = "DYNO")]
        dyno: String,
    },
}

// Scheduled jobs (`app.json` `cron`).
#[derive(Debug, Subcommand)]
pub enum CronCommand {
    /// List the app's scheduled jobs (`app.json` `cron`): their next and last
    /// runs. Each run is a one-off dyno, `scheduler.N` in the logs.
    #[command(name = "cron")]
    List {
        #[command(flatten)]
        format: Format,
    },
    /// Run a scheduled job now.
    #[command(name = "cron:run")]
    Run {
        /// The job's id, as `cron` lists it.
        #[arg(value_name = "ID")]
        id: String,
    },
}
