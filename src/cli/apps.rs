//! `apps`: apps made, renamed and destroyed; the audit trail; who may act
//! on an app (`access`, `apps:transfer`); and where an app is reached
//! (`git:remote`, `open`).

use clap::Subcommand;

use super::args::Format;

// Apps made, shown, renamed and destroyed.
#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// List the apps you may act on: those you own or collaborate on (an admin: all).
    #[command(name = "apps")]
    List {
        /// Every app on the server (admins, who see every app anyway).
        #[arg(long, short = 'A')]
        all: bool,
        #[command(flatten)]
        format: Format,
    },
    /// Create an app (a push to a new name creates it too); from a
    /// repository, adds the `deploy` git remote.
    #[command(
        name = "apps:create",
        after_help = "EXAMPLES:\n  $ paas apps:create myapp\n  $ git push deploy master        # or just push: a new name makes the app",
        visible_alias = "create"
    )]
    Create {
        /// Lowercase letters, digits and dashes, starting with a letter
        /// (default: a generated name).
        name: Option<String>,
    },
    /// Show an app's URL, git remote, release and dynos.
    #[command(name = "apps:info", visible_alias = "info")]
    Info {
        #[command(flatten)]
        format: Format,
    },
    /// Destroy an app: its dynos, releases, slugs, config and repo.
    #[command(name = "apps:destroy", visible_alias = "destroy")]
    Destroy {
        /// The app's name again, to confirm.
        #[arg(short = 'c', long)]
        confirm: Option<String>,
    },
    /// Rename an app (its owner or an admin); in its repository, the git
    /// remotes follow.
    ///
    /// Its URL and git URL change; config, releases, add-ons, custom
    /// domains, collaborators and logs go with it, and its dynos start
    /// under the new name as `ps:restart` starts them. Git remotes of other
    /// clones need `paas git:remote -a NEWNAME`.
    #[command(
        name = "apps:rename",
        after_help = "EXAMPLES:\n  $ paas apps:rename newname -a oldname\n  $ paas apps:rename oldname newname\n  $ paas rename newname           # in the app's repository: its `deploy` remote follows",
        visible_alias = "rename"
    )]
    Rename {
        /// The new name (the app is `-a`, else the `deploy` git remote's);
        /// or the old name, with the new one after it.
        name: String,
        /// The new name, when the first is the app's current one.
        new: Option<String>,
    },
}

// The audit trail.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Show the audit trail: changes, pushes and refusals (admins: all;
    /// owners: their apps'), with config values and passwords redacted.
    #[command(name = "audit")]
    Show {
        /// How many of the latest entries.
        #[arg(short = 'n', long, default_value_t = 100)]
        num: usize,
        #[command(flatten)]
        format: Format,
    },
}

// Who may act on an app: its owner and collaborators.
#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Give an app to another user (its owner or an admin); the previous
    /// owner stays on as a collaborator.
    #[command(name = "apps:transfer")]
    Transfer {
        /// The new owner: a user with a key on this server.
        user: String,
    },
    /// List who may act on an app: its owner and collaborators.
    #[command(name = "access")]
    List {
        #[command(flatten)]
        format: Format,
    },
    /// Let a user act on an app as a collaborator (its owner or an admin).
    #[command(
        name = "access:add",
        after_help = "EXAMPLES:\n  $ paas keys:add --user bob bob.pub   # an admin gives bob a key\n  $ paas access:add bob -a myapp"
    )]
    Add {
        /// A user with a key on this server.
        user: String,
    },
    /// Take a collaborator off an app (its owner or an admin).
    #[command(name = "access:remove")]
    Remove {
        /// The collaborator.
        user: String,
    },
}

// Where an app is reached: its git remote here, its URL.
#[derive(Debug, Subcommand)]
pub enum AppUrlsCommand {
    /// Add the `deploy` git remote for an app to this repository (or point it there).
    #[command(name = "git:remote")]
    GitRemote,
    /// Print the app's URL.
    #[command(name = "open")]
    Open,
}
