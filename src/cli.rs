//! The command line. Doc comments here are the help text users read.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::state::DEFAULT_ROOT;

/// A Heroku-style platform for one small server: `git push deploy master`,
/// then manage the app with `paas <namespace:verb>`.
#[derive(Debug, Parser)]
#[command(
    name = "paas",
    version,
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// The state root of the install.
    #[arg(long, global = true, env = "PAAS_ROOT", default_value = DEFAULT_ROOT, hide_env_values = true)]
    pub root: PathBuf,

    /// The app to act on.
    #[arg(short, long, global = true)]
    pub app: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List apps.
    #[command(name = "apps")]
    Apps,
    /// Create an app (a push to a new name creates it too).
    #[command(name = "apps:create")]
    AppsCreate {
        /// Lowercase letters, digits and dashes, starting with a letter.
        name: Option<String>,
    },
    /// Show an app's URL, git remote, release and dynos.
    #[command(name = "apps:info")]
    AppsInfo,
    /// Destroy an app: its dynos, releases, slugs, config and repo.
    #[command(name = "apps:destroy")]
    AppsDestroy {
        /// The app's name again, to confirm.
        #[arg(long)]
        confirm: Option<String>,
    },

    /// Show config vars.
    #[command(name = "config")]
    Config {
        /// Print `KEY=value` lines for a shell.
        #[arg(long)]
        shell: bool,
    },
    /// Print one config var's value.
    #[command(name = "config:get")]
    ConfigGet { key: String },
    /// Set config vars (`KEY=value …`): a new release, and the dynos restart.
    #[command(name = "config:set")]
    ConfigSet {
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
    },
    /// Remove config vars: a new release, and the dynos restart.
    #[command(name = "config:unset")]
    ConfigUnset {
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
    },

    /// List the app's dynos.
    #[command(name = "ps")]
    Ps,
    /// Scale process types (`web=2 worker=1`), and size them (`web=2:standard-2x`).
    #[command(name = "ps:scale")]
    PsScale {
        #[arg(required = true, value_name = "TYPE=COUNT[:SIZE]")]
        changes: Vec<String>,
    },
    /// Change the size of a process type's dynos (`web=standard-2x`).
    #[command(name = "ps:resize")]
    PsResize {
        #[arg(required = true, value_name = "TYPE=SIZE")]
        changes: Vec<String>,
    },
    /// Restart dynos, all or of one process type.
    #[command(name = "ps:restart")]
    PsRestart {
        /// A process type (`web`) or one dyno (`web.1`).
        #[arg(value_name = "TYPE|DYNO")]
        target: Option<String>,
    },
    /// Stop a process type (scales it to 0 until `ps:start`) or one dyno
    /// (the formation starts a new one).
    #[command(name = "ps:stop")]
    PsStop {
        #[arg(value_name = "TYPE|DYNO")]
        target: String,
    },
    /// Start a process type stopped with `ps:stop`, at its previous scale.
    #[command(name = "ps:start")]
    PsStart {
        #[arg(value_name = "TYPE")]
        process_type: String,
    },
    /// Like `ps:stop`, with SIGKILL at once instead of SIGTERM.
    #[command(name = "ps:kill")]
    PsKill {
        #[arg(value_name = "TYPE|DYNO")]
        target: String,
    },

    /// Run a one-off command in a new dyno, attached to this terminal
    /// (`run bash`, `run python manage.py migrate`, `run worker --once`).
    #[command(name = "run")]
    Run {
        #[command(flatten)]
        command: OneOffCommand,
    },
    /// Run a one-off command in the background; its output goes to `logs`.
    #[command(name = "run:detached")]
    RunDetached {
        #[command(flatten)]
        command: OneOffCommand,
    },
    /// Stop a one-off dyno (`run.1`).
    #[command(name = "run:stop")]
    RunStop {
        #[arg(value_name = "DYNO")]
        dyno: String,
    },

    /// List releases, newest first.
    #[command(name = "releases")]
    Releases {
        /// How many to show.
        #[arg(short = 'n', long, default_value_t = 15)]
        num: usize,
    },
    /// Show one release.
    #[command(name = "releases:info")]
    ReleasesInfo {
        /// `v<N>`; the current release if omitted.
        #[arg(value_name = "VERSION")]
        release: Option<String>,
    },
    /// Roll back to an earlier release (a new release with its slug and config).
    #[command(name = "releases:rollback")]
    ReleasesRollback {
        /// `v<N>`; the one before the current release if omitted.
        #[arg(value_name = "VERSION")]
        release: Option<String>,
    },

    /// Show the app's logs.
    #[command(name = "logs")]
    Logs {
        /// How many lines to show.
        #[arg(short = 'n', long, default_value_t = 100)]
        num: usize,
        /// Keep following new lines.
        #[arg(short = 't', long)]
        tail: bool,
        /// Only this process type's lines (`web`).
        #[arg(short = 'p', long = "ps", value_name = "TYPE")]
        process_type: Option<String>,
        /// Only this dyno's lines (`web.1`).
        #[arg(short = 'd', long, value_name = "DYNO")]
        dyno: Option<String>,
        /// Only `app` (dyno output) or `paas` (platform) lines.
        #[arg(short = 's', long)]
        source: Option<String>,
    },

    /// List the app's log drains.
    #[command(name = "drains")]
    Drains,
    /// Forward the app's log stream to a syslog server (`syslog://host:port`).
    #[command(name = "drains:add")]
    DrainsAdd { url: String },
    /// Stop forwarding to a drain.
    #[command(name = "drains:remove")]
    DrainsRemove { url: String },

    /// Install, inspect and run the server side.
    #[command(subcommand)]
    Server(ServerCommand),

    /// Run the router and reconciler (started by `paas server install`).
    #[command(hide = true)]
    Daemon,

    /// The forced command of every key in `authorized_keys`.
    #[command(name = "ssh-command", hide = true)]
    SshCommand {
        /// Who the key belongs to.
        #[arg(long)]
        user: String,
    },

    /// Entry point of the git hooks.
    #[command(hide = true)]
    Hook {
        /// The hook's name (`pre-receive`).
        name: String,
    },
}

/// The words of a one-off dyno's command (`run`, `run:detached`).
#[derive(Debug, Args)]
pub struct OneOffCommand {
    /// The command; a Procfile type runs that type's command.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub words: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ServerCommand {
    /// Install paas on this machine (as root); running it again repairs and changes nothing else.
    Install(InstallArgs),
    /// Report each part of the install as ok or broken, with the fix.
    #[command(alias = "doctor")]
    Status,
    /// Start the daemon (and, for a `--local` install, its sshd).
    Start,
    /// Stop the daemon (and a `--local` install's sshd); dynos keep their state.
    Stop,
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
    /// The port of the private sshd (`--local`).
    #[arg(long, default_value_t = 2222)]
    pub ssh_port: u16,
    /// The router's HTTP port.
    #[arg(long)]
    pub http_port: Option<u16>,
    /// Apps answer at `<app>.<domain>`.
    #[arg(long, default_value = "localhost")]
    pub domain: String,
    /// The unprivileged user that owns everything.
    #[arg(long, default_value = "paas")]
    pub user: String,
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
