//! The command line: the commands, one declaration each, whose doc
//! comments are the help users read. Each topic's commands are an enum in
//! the topic's file (`ps.rs` holds `PsCommand`: `ps`, `ps:scale`, …), and
//! `Command` flattens them into one list: the order of its variants is the
//! order `paas help`, docs/commands.md, the man page and the completions
//! show. Beside them: arguments several topics share (`args.rs`), parsing
//! and its errors (`parse.rs`), Heroku's word forms (`words.rs`).
//!
//! The topic enums are commented with `//`, not `///`: clap makes a
//! subcommand enum's doc comment the about text of the command it is
//! flattened into, `paas` itself.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use crate::output::ColorChoice;

mod addons;
mod apps;
mod args;
mod builds;
mod certs;
mod checks;
mod config;
mod dashboard;
mod docs;
mod domains;
mod keys;
mod kubernetes;
mod local;
mod logs;
mod metrics;
mod parse;
mod pg;
mod ps;
mod releases;
mod run;
mod server;
mod storage;
mod webhooks;
mod words;
use crate::state::DEFAULT_ROOT;
pub use addons::{AddonsCommand, RedisCommand};
pub use apps::{AccessCommand, AppUrlsCommand, AppsCommand, AuditCommand};
pub use args::{Database, Format};
pub use builds::{BuildpacksCommand, BuildsCommand};
pub use certs::{CertsAutoCommand, CertsCommand};
pub use checks::ChecksCommand;
pub use config::ConfigCommand;
pub use dashboard::DashboardCommand;
pub use docs::DocsCommand;
pub use domains::{DomainsCommand, MaintenanceCommand};
pub use keys::KeysCommand;
pub use kubernetes::KubernetesCommand;
pub use local::{LocalArgs, LocalCommand, LocalRunArgs};
pub use logs::{DrainsCommand, LogsCommand};
pub use metrics::MetricsCommand;
pub use parse::parse;
pub use pg::{PgCommand, PgStatsCommand};
pub use ps::{PsCommand, PsExecCommand};
pub use releases::ReleasesCommand;
pub use run::{CronCommand, OneOffCommand, RunCommand};
pub use server::{InternalCommand, ServerCommand};
pub use storage::StorageCommand;
pub use webhooks::WebhooksCommand;
pub use words::{global_option_words, join_namespace, normalize};

/// A Heroku-style platform for one small server: `git push deploy master`,
/// then manage the app with `paas <namespace:verb>`.
#[derive(Debug, Parser)]
#[command(
    name = "paas",
    version,
    propagate_version = true,
    after_help = "Run `paas help COMMAND` for a command's options; `paas ps scale` is `paas ps:scale`."
)]
pub struct Cli {
    /// The state root of the install (`paas server …` says where it matters).
    #[arg(long, global = true, env = "PAAS_ROOT", default_value = DEFAULT_ROOT, hide_env_values = true, hide = true)]
    pub root: PathBuf,

    /// The app to act on (default: `PAAS_APP`, else the `deploy` git remote).
    #[arg(short, long, global = true, env = "PAAS_APP", hide_env_values = true, add = ArgValueCandidates::new(crate::completion::app_names))]
    pub app: Option<String>,

    /// The server to run the command on: a git remote's name or
    /// `ssh://paas@HOST:PORT` (default: the `deploy` git remote, when this
    /// machine has no install).
    #[arg(
        short,
        long,
        global = true,
        env = "PAAS_REMOTE",
        value_name = "REMOTE",
        hide_env_values = true
    )]
    pub remote: Option<String>,

    /// Colour the output: on a terminal (`auto`, never with `NO_COLOR`), `always` or `never`.
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

// Every command, topic by topic (`//`, as the topics': see above).
#[derive(Debug, Subcommand)]
pub enum Command {
    #[command(flatten)]
    Apps(AppsCommand),
    #[command(flatten)]
    Audit(AuditCommand),
    #[command(flatten)]
    Dashboard(DashboardCommand),
    #[command(flatten)]
    Access(AccessCommand),
    #[command(flatten)]
    AppUrls(AppUrlsCommand),
    #[command(flatten)]
    Config(ConfigCommand),
    #[command(flatten)]
    Ps(PsCommand),
    #[command(flatten)]
    PsExec(PsExecCommand),
    #[command(flatten)]
    Run(RunCommand),
    #[command(flatten)]
    Cron(CronCommand),
    #[command(flatten)]
    Builds(BuildsCommand),
    #[command(flatten)]
    Buildpacks(BuildpacksCommand),
    #[command(flatten)]
    Releases(ReleasesCommand),
    #[command(flatten)]
    Kubernetes(KubernetesCommand),
    #[command(flatten)]
    Logs(LogsCommand),
    #[command(flatten)]
    Metrics(MetricsCommand),
    #[command(flatten)]
    Domains(DomainsCommand),
    #[command(flatten)]
    Certs(CertsCommand),
    #[command(flatten)]
    Checks(ChecksCommand),
    #[command(flatten)]
    CertsAuto(CertsAutoCommand),
    #[command(flatten)]
    Maintenance(MaintenanceCommand),
    #[command(flatten)]
    Drains(DrainsCommand),
    #[command(flatten)]
    Webhooks(WebhooksCommand),
    #[command(flatten)]
    Addons(AddonsCommand),
    #[command(flatten)]
    Storage(StorageCommand),
    #[command(flatten)]
    Pg(PgCommand),
    #[command(flatten)]
    PgStats(PgStatsCommand),
    #[command(flatten)]
    Redis(RedisCommand),
    #[command(flatten)]
    Keys(KeysCommand),
    #[command(flatten)]
    Local(LocalCommand),
    #[command(flatten)]
    Docs(DocsCommand),
    /// Install, inspect and run the server side.
    #[command(subcommand)]
    Server(ServerCommand),
    #[command(flatten)]
    Internal(InternalCommand),
}

#[cfg(test)]
mod help_tests;
#[cfg(test)]
mod tests;
