//! Arguments several commands share, and the ones of `local` and `server`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCandidates;

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

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Public key of the first admin (`~/.ssh/id_ed25519.pub`).
    #[arg(long, value_name = "FILE")]
    pub admin_key: Option<PathBuf>,
    /// Try it on one machine: a private sshd on 127.0.0.1 and loopback ports,
    /// leaving the system's sshd and ports 80/443 alone.
    #[arg(long)]
    pub local: bool,
    /// The port of the private sshd (`--local`; default 2222; installing
    /// again keeps the install's).
    #[arg(long)]
    pub ssh_port: Option<u16>,
    /// The router's HTTP port (default 80; `--local`: 8080; installing
    /// again keeps the install's).
    #[arg(long)]
    pub http_port: Option<u16>,
    /// The router's HTTPS port, for apps with certificates (default 443;
    /// `--local`: 8443; installing again keeps the install's).
    #[arg(long)]
    pub https_port: Option<u16>,
    /// Apps answer at `<app>.<domain>` (default `localhost`; installing
    /// again keeps the install's, which `domains:set-global` changes).
    #[arg(long)]
    pub domain: Option<String>,
    /// The unprivileged user that owns everything.
    #[arg(long, default_value = "paas")]
    pub user: String,
    /// The ACME directory `certs:auto` gets certificates from (default
    /// Let's Encrypt's; installing again keeps the install's).
    #[arg(long, value_name = "URL")]
    pub acme_directory: Option<String>,
    /// Authorities to trust for the ACME directory's HTTPS (default the
    /// system's), for a private ACME server.
    #[arg(long, value_name = "FILE")]
    pub acme_ca: Option<PathBuf>,
    /// The contact address given to the ACME CA (expiry notices).
    #[arg(long, value_name = "EMAIL")]
    pub acme_email: Option<String>,
    /// The largest compressed slug a build may make, in MiB (default 1024;
    /// installing again keeps the install's).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub slug_limit_mb: Option<u64>,
    /// Refuse pushes while less than this many MiB are free where builds
    /// and images go (default 1024; installing again keeps the install's).
    #[arg(long = "min-free-disk", value_name = "MIB")]
    pub min_free_mb: Option<u64>,
    /// How long a build may run before it is stopped, like `45m` (default
    /// 30m; installing again keeps the install's).
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse)]
    pub build_timeout: Option<u64>,
    /// How long a release phase command may run before it is stopped and
    /// the release fails, like `2h` (default 1h, as on Heroku; installing
    /// again keeps the install's).
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse)]
    pub release_timeout: Option<u64>,
    /// Whether apps' webhooks may be sent to loopback, private, link-local
    /// and this server's own addresses (`yes` or `no`; default `no`, as
    /// such a receiver is inside the server's network; installing again
    /// keeps the install's).
    #[arg(long, value_name = "yes|no", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_private_webhooks: Option<bool>,
    /// Run dynos from this image instead of building the stack.
    #[arg(long)]
    pub run_image: Option<String>,
    /// Run builds in this image instead of building the stack.
    #[arg(long)]
    pub build_image: Option<String>,
    /// The Debian mirror debootstrap uses for the stack images.
    #[arg(long, default_value = "http://deb.debian.org/debian")]
    pub mirror: String,
}
