//! `pg`: an add-on's PostgreSQL: credentials, psql, backups, copies to
//! and from this machine; and what the database is doing (`pg:ps`,
//! `pg:locks`, `pg:diagnose`, …).

use clap::Subcommand;
use clap_complete::engine::ArgValueCandidates;

use super::args::{Database, Format};

// A PostgreSQL add-on: credentials, psql, backups, copies.
#[derive(Debug, Subcommand)]
pub enum PgCommand {
    /// Show the app's PostgreSQL: status, version, size, tables, connections.
    #[command(name = "pg:info")]
    Info {
        #[command(flatten)]
        database: Database,
    },
    /// Show the connection URL and its parts.
    #[command(name = "pg:credentials")]
    Credentials {
        #[command(flatten)]
        database: Database,
    },
    /// Set a new password; every attached app gets a release with the new URL.
    #[command(name = "pg:credentials:rotate")]
    CredentialsRotate {
        #[command(flatten)]
        database: Database,
        /// The app's name, to confirm
        #[arg(short = 'c', long, value_name = "APP")]
        confirm: Option<String>,
    },
    /// Open psql on the database (a terminal over SSH), or run one command.
    #[command(name = "pg:psql", visible_alias = "psql")]
    Psql {
        #[command(flatten)]
        database: Database,
        /// Run this SQL and exit
        #[arg(short, long, value_name = "SQL")]
        command: Option<String>,
    },
    /// Drop every table: an empty database with the same credentials.
    #[command(name = "pg:reset")]
    Reset {
        #[command(flatten)]
        database: Database,
        #[arg(short = 'c', long, value_name = "APP")]
        confirm: Option<String>,
    },
    /// List the database's backups.
    #[command(name = "pg:backups")]
    Backups {
        #[command(flatten)]
        database: Database,
        #[command(flatten)]
        format: Format,
    },
    /// Take a backup now (pg_dump -Fc).
    #[command(name = "pg:backups:capture")]
    BackupsCapture {
        #[command(flatten)]
        database: Database,
    },
    /// Restore a backup (bNNN) or a dump at a URL, replacing what is in the database.
    #[command(name = "pg:backups:restore")]
    BackupsRestore {
        /// `b001`, or an http(s) URL the server downloads (default: the latest backup)
        #[arg(value_name = "BACKUP|URL")]
        source: Option<String>,
        #[command(flatten)]
        database: Database,
        #[arg(short = 'c', long, value_name = "APP")]
        confirm: Option<String>,
    },
    /// Write a backup to stdout: `paas pg:backups:download b001 > latest.dump`.
    #[command(name = "pg:backups:download")]
    BackupsDownload {
        /// Default: the latest backup
        #[arg(value_name = "BACKUP")]
        backup: Option<String>,
        #[command(flatten)]
        database: Database,
    },
    /// Show a backup: time, size, SHA-256.
    #[command(name = "pg:backups:info")]
    BackupsInfo {
        /// The backup (`b003`); the latest if omitted.
        #[arg(value_name = "BACKUP")]
        backup: Option<String>,
        #[command(flatten)]
        database: Database,
    },
    /// Delete a backup.
    #[command(name = "pg:backups:delete")]
    BackupsDelete {
        /// The backup (`b003`).
        #[arg(value_name = "BACKUP")]
        backup: String,
        #[command(flatten)]
        database: Database,
        #[arg(short = 'c', long, value_name = "APP")]
        confirm: Option<String>,
    },
    /// Take a backup every day at a UTC time, keeping some days of them.
    #[command(name = "pg:backups:schedule")]
    BackupsSchedule {
        /// HH:MM, UTC
        #[arg(long, value_name = "HH:MM")]
        at: String,
        /// How many days of scheduled backups to keep
        #[arg(long, default_value_t = 7)]
        retain_days: u32,
        #[command(flatten)]
        database: Database,
    },
    /// Stop the daily backups (the backups stay).
    #[command(name = "pg:backups:unschedule")]
    BackupsUnschedule {
        #[command(flatten)]
        database: Database,
    },
    /// Copy an add-on's database into a new database on this machine.
    ///
    /// Runs `createdb` and `pg_restore` here (PostgreSQL's client programs);
    /// the dump comes over SSH, no database port is opened. If anything
    /// fails, the new database is dropped again.
    #[command(
        name = "pg:pull",
        after_help = "EXAMPLES:\n  $ paas pg:pull DATABASE_URL mylocaldb -a myapp\n  $ paas pg:pull postgres-brave-4821 postgres://me@localhost:5433/copy -a myapp"
    )]
    Pull {
        /// The add-on (`postgres-brave-4821`) or attachment (`DATABASE_URL`) to copy
        #[arg(value_name = "SOURCE", add = ArgValueCandidates::new(crate::completion::addon_names))]
        database: String,
        /// The database to make here, which must not exist: a name (on the
        /// PostgreSQL that `PGHOST`, `PGPORT` and `PGUSER` point at) or a `postgres://` URL
        #[arg(value_name = "TARGET")]
        local: String,
    },
    /// Copy a database on this machine into an add-on's empty database.
    ///
    /// Runs `pg_dump` here (PostgreSQL's client programs); the dump goes over
    /// SSH, no database port is opened. The add-on's database must have no
    /// tables (`pg:reset` empties it); the dump is loaded in one
    /// transaction, so a failed push leaves it empty.
    #[command(
        name = "pg:push",
        after_help = "EXAMPLES:\n  $ paas pg:push mylocaldb DATABASE_URL -a myapp\n  $ paas pg:push postgres://me@localhost:5433/copy postgres-brave-4821 -a myapp"
    )]
    Push {
        /// The database here: a name (on the PostgreSQL that `PGHOST`,
        /// `PGPORT` and `PGUSER` point at) or a `postgres://` URL
        #[arg(value_name = "SOURCE")]
        local: String,
        /// The add-on (`postgres-brave-4821`) or attachment (`DATABASE_URL`) to fill
        #[arg(value_name = "TARGET", add = ArgValueCandidates::new(crate::completion::addon_names))]
        database: String,
    },
    /// Write a `pg_dump -Fc` of the database to stdout (what `pg:pull` reads over SSH).
    #[command(name = "pg:dump", hide = true)]
    Dump {
        #[command(flatten)]
        database: Database,
    },
    /// Load a dump from stdin into the empty database (what `pg:push` sends over SSH).
    #[command(name = "pg:load", hide = true)]
    Load {
        #[command(flatten)]
        database: Database,
    },
}

// What a PostgreSQL add-on is doing.
#[derive(Debug, Subcommand)]
pub enum PgStatsCommand {
    /// Show the queries running on the database, newest first.
    #[command(name = "pg:ps")]
    Ps {
        #[command(flatten)]
        database: Database,
        /// Also the connections that sit idle
        #[arg(short, long)]
        verbose: bool,
    },
    /// Cancel a query (`pg:ps` lists them), or end its connection with `--force`.
    #[command(name = "pg:kill")]
    Kill {
        /// The process id of the query's connection, as `pg:ps` shows it
        #[arg(value_name = "PID", value_parser = clap::value_parser!(u32).range(1..))]
        pid: u32,
        #[command(flatten)]
        database: Database,
        /// End the connection, not only its query
        #[arg(short, long)]
        force: bool,
    },
    /// Show the queries that hold or wait for exclusive locks.
    #[command(name = "pg:locks")]
    Locks {
        #[command(flatten)]
        database: Database,
        /// Cut queries to 40 characters
        #[arg(short, long)]
        truncate: bool,
    },
    /// Show the statements that took the most time in all (pg_stat_statements).
    #[command(name = "pg:outliers")]
    Outliers {
        #[command(flatten)]
        database: Database,
        /// Forget the statistics gathered so far
        #[arg(long)]
        reset: bool,
        /// Cut queries to 40 characters
        #[arg(short, long)]
        truncate: bool,
        /// How many statements to show
        #[arg(short, long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
        num: u32,
    },
    /// Check the database's health: each check green, yellow or red.
    ///
    /// Connections, queries running or idle in a transaction for over a
    /// minute, blocked queries, unused indexes, dead rows, cache hit rate,
    /// and whether pg_stat_statements (`pg:outliers`) is loaded.
    #[command(name = "pg:diagnose")]
    Diagnose {
        #[command(flatten)]
        database: Database,
        #[command(flatten)]
        format: Format,
    },
}
