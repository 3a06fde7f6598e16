//! `local` and `local:run`: the Procfile's processes on this machine, and
//! their options (foreman's and `heroku local`'s).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCandidates;

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

// The Procfile on this machine.
#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Run the Procfile's processes on this machine, as `heroku local`
    /// (foreman) does: with `.env`'s vars, a `PORT` each (web.1 5000,
    /// web.2 5001, the Procfile's next type 5100, …) and their output
    /// behind `web.1 |`. Ctrl-C, or any process ending, stops them all.
    /// Needs no server.
    #[command(name = "local")]
    Start(LocalArgs),
    /// Run one command on this machine with `.env`'s vars (a Procfile
    /// type runs its command); its exit status is yours. Needs no server.
    #[command(name = "local:run")]
    Run(LocalRunArgs),
}
