//! Arguments several commands share, and the ones of `local` and `server`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use crate::install::InstallArgs;

/// Which of the app's databases: an add-on's name or its attachment.
#[derive(Debug, Args, Clone)]
pub struct Database {
    /// The add-on (`postgres-brave-4821`) or attachment (`DATABASE_URL`); default: `DATABASE_URL` / `REDIS_URL`
    #[arg(value_name = "DATABASE", add = ArgValueCandidates::new(crate::completion::addon_names))]
    pub database: Option<String>,
}

/// `--json` of the listing commands.
#[derive(Debug, Args, Clone, Copy)]
pub struct Format {
    /// Print JSON (a stable schema, documented in docs/commands.md).
    #[arg(long)]
    pub json: bool,
}

/// `paas local`: foreman's and `heroku local`'s options.
#[derive(Debug, Args)]
pub struct LocalArgs {
    /// Process types to run (default: all but `release`); `web=2` runs two.
    #[arg(value_name = "PROCESS", add = ArgValueCandidates::new(crate::completion::procfile_types))]
    pub processes: Vec<String>,
    /// The Procfile; the processes run in its directory.
    #[arg(short = 'f', long, value_name = "FILE", default_value = "Procfile")]
    pub procfile: PathBuf,
    /// Env files to load, comma-separated (default: `.env`, if there is one).
    #[arg(short, long, value_name = "FILE")]
    pub env: Option<String>,
    /// The first port (default: `PORT` from the env file or the
    /// environment, else 5000).
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Seconds the processes get between SIGTERM and SIGKILL when stopping.
    #[arg(short, long, value_name = "SECONDS", default_value_t = 5)]
    pub timeout: u64,
}

/// `paas local:run`: `heroku local:run`'s options.
#[derive(Debug, Args)]
pub struct LocalRunArgs {
    /// Env files to load, comma-separated (default: `.env`, if there is one).
    #[arg(short, long, value_name = "FILE")]
    pub env: Option<String>,
    /// Set `PORT` to this.
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// The command; a Procfile type runs that type's command. Options
    /// after its first word are the command's.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub words: Vec<String>,
}

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

#[derive(Debug, Subcommand)]
#[command(
    after_help = "Each takes `--root DIR` (or `PAAS_ROOT`): the install's state root, /var/lib/paas unless installed elsewhere."
)]
pub enum ServerCommand {
    /// Install paas on this machine (as root); running it again repairs and changes nothing else.
    Install(Box<InstallArgs>),
    /// Report each part of the install as ok or broken, with the fix.
    #[command(alias = "doctor")]
    Status,
    /// Start the daemon (and, for a `--local` install, its sshd).
    Start,
    /// Stop the daemon (and a `--local` install's sshd); dynos keep their state.
    Stop,
    /// Free the disk of what no release needs: slugs past the last 10 releases,
    /// unpacked slugs no dyno runs, what interrupted builds left, containers of
    /// destroyed apps, images of older stacks.
    Prune,
    /// Stop everything and remove a `--local` install: its dynos, sshd and root.
    Uninstall {
        /// The root's path again, to confirm.
        #[arg(long)]
        confirm: Option<PathBuf>,
    },
    /// Keep the daemon running, restarting it if it dies (used by `--local`).
    #[command(hide = true)]
    Supervise,
}
