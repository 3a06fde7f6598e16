//! `server`'s subcommands, and the hidden commands the install runs itself:
//! the daemon, the SSH forced command, the dyno connector, the git hooks.

use std::path::PathBuf;

use clap::Subcommand;

use crate::install::InstallArgs;

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

// Run by the install itself, hidden from help.
#[derive(Debug, Subcommand)]
pub enum InternalCommand {
    /// Run the router and reconciler (started by `paas server install`).
    #[command(hide = true)]
    Daemon,

    /// The forced command of every key in `authorized_keys`.
    #[command(name = "ssh-command", hide = true)]
    SshCommand {
        /// Who the key belongs to.
        #[arg(long)]
        user: String,
        /// The key's fingerprint, for the audit trail.
        #[arg(long)]
        key: Option<String>,
        /// A deploy key's one app.
        #[arg(long)]
        deploy: Option<String>,
    },

    /// Connects the router to dynos inside their network namespaces (run
    /// by the daemon in podman's user namespace).
    #[command(name = "dyno-connector", hide = true)]
    DynoConnector {
        /// Where to listen for the daemon.
        #[arg(long)]
        socket: std::path::PathBuf,
    },

    /// Entry point of the git hooks.
    #[command(hide = true)]
    Hook {
        /// The hook's name (`pre-receive`).
        name: String,
    },
}
