//! Arguments several topics share: `--json`, and which database.

use clap::Args;
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
