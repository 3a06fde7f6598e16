//! `addons`: PostgreSQL and Redis services attached to apps; and
//! `redis:`'s own commands (`pg:` has a file of its own).

use clap::Subcommand;
use clap_complete::engine::ArgValueCandidates;

use super::args::{Database, Format};

// Add-ons.
#[derive(Debug, Subcommand)]
pub enum AddonsCommand {
    /// List add-ons: the app's, or every add-on on the server without `-a`.
    #[command(name = "addons")]
    List {
        #[command(flatten)]
        format: Format,
    },
    /// Create a PostgreSQL or Redis add-on and attach it to the app.
    #[command(
        name = "addons:create",
        after_help = "EXAMPLES:\n  $ paas addons:create postgres\n  $ paas addons:create redis --as CACHE -a myapp",
        disable_version_flag = true
    )]
    Create {
        /// `postgres` or `redis` (`heroku-postgresql` and `heroku-redis` work too)
        service: String,
        /// The attachment name: sets `NAME_URL` (default `DATABASE_URL` / `REDIS_URL`)
        #[arg(long = "as", value_name = "NAME")]
        as_name: Option<String>,
        /// The add-on's name (default: generated, like `postgres-brave-4821`)
        #[arg(long)]
        name: Option<String>,
        /// The major version the image must run (the built-in images run PostgreSQL 15 and Redis 7)
        #[arg(long)]
        version: Option<String>,
        /// Run this image instead of the built-in one (Debian or official postgres/redis layout)
        #[arg(long)]
        image: Option<String>,
    },
    /// Show an add-on: service, version, status, attachments.
    #[command(name = "addons:info")]
    Info {
        /// The add-on (`postgres-brave-4821`).
        #[arg(value_name = "ADDON", add = ArgValueCandidates::new(crate::completion::addon_names))]
        addon: String,
    },
    /// Attach an existing add-on to another app (a shared database).
    #[command(name = "addons:attach")]
    Attach {
        /// The add-on (`postgres-brave-4821`).
        #[arg(value_name = "ADDON", add = ArgValueCandidates::new(crate::completion::addon_names))]
        addon: String,
        /// The attachment name: sets `NAME_URL`
        #[arg(long = "as", value_name = "NAME")]
        as_name: Option<String>,
    },
    /// Detach an add-on from the app (its data stays).
    #[command(name = "addons:detach")]
    Detach {
        /// The add-on's name or its attachment (`DATABASE_URL`)
        #[arg(value_name = "ADDON", add = ArgValueCandidates::new(crate::completion::addon_names))]
        addon: String,
    },
    /// Destroy an add-on and its data, backups included.
    #[command(name = "addons:destroy")]
    Destroy {
        /// The add-on (`postgres-brave-4821`).
        #[arg(value_name = "ADDON", add = ArgValueCandidates::new(crate::completion::addon_names))]
        addon: String,
        /// The name of the app the add-on was created for
        #[arg(short = 'c', long, value_name = "APP")]
        confirm: Option<String>,
        /// Destroy it even while other apps are attached
        #[arg(long)]
        force: bool,
    },
    /// Publish an add-on on the server's loopback (for tunnels and admin tools).
    #[command(name = "addons:expose")]
    Expose {
        /// The add-on (`postgres-brave-4821`).
        #[arg(value_name = "ADDON", add = ArgValueCandidates::new(crate::completion::addon_names))]
        addon: String,
        /// The port on 127.0.0.1 (default: the service's own, 5432 or 6379)
        #[arg(long)]
        port: Option<u16>,
    },
    /// Stop publishing an add-on on the server's loopback.
    #[command(name = "addons:unexpose")]
    Unexpose {
        /// The add-on (`postgres-brave-4821`).
        #[arg(value_name = "ADDON", add = ArgValueCandidates::new(crate::completion::addon_names))]
        addon: String,
    },
}

// A Redis add-on.
#[derive(Debug, Subcommand)]
pub enum RedisCommand {
    /// Show the app's Redis: version, memory, keys, clients.
    #[command(name = "redis:info")]
    Info {
        #[command(flatten)]
        database: Database,
    },
    /// Open redis-cli (a terminal over SSH), or run one command.
    #[command(name = "redis:cli")]
    Cli {
        #[command(flatten)]
        database: Database,
        /// Run this command and exit (`GET key`)
        #[arg(short, long, value_name = "COMMAND")]
        command: Option<String>,
    },
}
