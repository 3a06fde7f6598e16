//! `builds` and `buildpacks`: what a push builds, and with what.

use clap::Subcommand;

use super::args::Format;

// Builds and what they printed.
#[derive(Debug, Subcommand)]
pub enum BuildsCommand {
    /// List the app's builds: status, commit, who, and the release each made.
    #[command(name = "builds")]
    List {
        #[arg(short = 'n', long, default_value_t = 15)]
        num: usize,
        #[command(flatten)]
        format: Format,
    },
    /// Show what a build printed (default: the latest).
    #[command(name = "builds:output")]
    Output {
        /// The build number (`3`); the latest if omitted.
        #[arg(value_name = "BUILD")]
        build: Option<String>,
    },
}

// The app's buildpacks and build cache.
#[derive(Debug, Subcommand)]
pub enum BuildpacksCommand {
    /// Show the app's buildpacks (none set: each push detects one).
    #[command(name = "buildpacks")]
    List,
    /// Set the app's buildpack: a shipped name (`python`, `heroku/nodejs`),
    /// a git URL (`https://host/bp.git#ref`) or a `.tgz` URL.
    #[command(name = "buildpacks:set")]
    Set {
        /// A shipped buildpack (`python`), a git URL (`https://…/x.git#v1`) or a `.tgz` URL.
        #[arg(value_name = "BUILDPACK")]
        buildpack: String,
        /// Replace the buildpack at this position (1 is first; default 1).
        #[arg(short, long)]
        index: Option<usize>,
    },
    /// Add a buildpack: builds run each in order (multi-buildpack).
    #[command(name = "buildpacks:add")]
    Add {
        /// A shipped buildpack (`python`), a git URL (`https://…/x.git#v1`) or a `.tgz` URL.
        #[arg(value_name = "BUILDPACK")]
        buildpack: String,
        /// Insert at this position (1 is first; default last).
        #[arg(short, long)]
        index: Option<usize>,
    },
    /// Remove a buildpack, by name or URL or by position.
    #[command(name = "buildpacks:remove")]
    Remove {
        /// The buildpack to remove, as `buildpacks` lists it.
        #[arg(value_name = "BUILDPACK")]
        buildpack: Option<String>,
        #[arg(short, long)]
        index: Option<usize>,
    },
    /// Clear the app's buildpacks: each push detects one again.
    #[command(name = "buildpacks:clear")]
    Clear,
    /// Empty the app's build cache: the next build downloads everything again.
    #[command(name = "repo:purge-cache", alias = "repo:purge_cache")]
    PurgeCache,
}
