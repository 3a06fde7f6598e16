//! `releases`: listed, shown, rolled back, retried and made from an image.

use clap::Subcommand;

use super::args::Format;

// Releases.
#[derive(Debug, Subcommand)]
pub enum ReleasesCommand {
    /// List releases, newest first.
    #[command(name = "releases")]
    List {
        /// How many to show.
        #[arg(short = 'n', long, default_value_t = 15)]
        num: usize,
        #[command(flatten)]
        format: Format,
    },
    /// Show one release.
    #[command(name = "releases:info")]
    Info {
        /// `v<N>`; the current release if omitted.
        #[arg(value_name = "VERSION")]
        release: Option<String>,
        #[command(flatten)]
        format: Format,
    },
    /// Show what the push that made a release printed: its build and release phase.
    #[command(name = "releases:output")]
    Output {
        /// `v<N>`; the current release if omitted.
        #[arg(value_name = "VERSION")]
        release: Option<String>,
    },
    /// Roll back to an earlier release (a new release with its slug and config).
    #[command(
        name = "releases:rollback",
        after_help = "EXAMPLES:\n  $ paas releases:rollback        # to the release before the current one\n  $ paas releases:rollback v12"
    )]
    Rollback {
        /// `v<N>`; the one before the current release if omitted.
        #[arg(value_name = "VERSION")]
        release: Option<String>,
    },
    /// Run the newest release's release phase again, as a new release.
    #[command(
        name = "releases:retry",
        after_help = "The newest release's build, config vars and add-ons, released again: its \
                      release phase (the Procfile's `release:` command) runs, then its dynos \
                      restart. For a release phase that failed on something outside the app, \
                      such as a database that was down.\n\nEXAMPLES:\n  $ paas releases:retry -a myapp"
    )]
    Retry,
    /// Deploy an image as it is, as a new release (admins only).
    #[command(
        name = "releases:create",
        after_help = "The image is looked up in the server's image store, else pulled from wherever \
                      podman there pulls. Its own command (ENTRYPOINT and CMD) is the `web` \
                      process; config vars and add-ons stay as they are. Only an admin may: \
                      other apps' images are in that store too. A push of a tree with a \
                      Dockerfile builds one instead.\n\nEXAMPLES:\n  \
                      $ paas releases:create --image localhost/myapp:1.4 -a myapp\n  \
                      $ paas releases:create --image ghcr.io/me/myapp@sha256:4f1c… -a myapp"
    )]
    Create {
        /// The image, as podman names it.
        #[arg(long, value_name = "REF")]
        image: String,
    },
}
