//! The command line: the table of commands, one declaration each, whose
//! doc comments are the help users read. It stays one table (about 130
//! commands) so the order `paas help` and docs/commands.md show is the
//! order here; what is not the table lives beside it: shared arguments
//! (`args.rs`), parsing and its errors (`parse.rs`), Heroku's word forms
//! (`words.rs`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use crate::output::ColorChoice;

mod args;
mod parse;
mod words;
use crate::state::DEFAULT_ROOT;
pub use args::{Database, Format, LocalArgs, LocalRunArgs, OneOffCommand, ServerCommand};
pub use parse::parse;
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the apps you may act on: those you own or collaborate on (an admin: all).
    #[command(name = "apps")]
    Apps {
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
    AppsCreate {
        /// Lowercase letters, digits and dashes, starting with a letter
        /// (default: a generated name).
        name: Option<String>,
    },
    /// Show an app's URL, git remote, release and dynos.
    #[command(name = "apps:info", visible_alias = "info")]
    AppsInfo {
        #[command(flatten)]
        format: Format,
    },
    /// Destroy an app: its dynos, releases, slugs, config and repo.
    #[command(name = "apps:destroy", visible_alias = "destroy")]
    AppsDestroy {
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
    AppsRename {
        /// The new name (the app is `-a`, else the `deploy` git remote's);
        /// or the old name, with the new one after it.
        name: String,
        /// The new name, when the first is the app's current one.
        new: Option<String>,
    },
    /// Show the audit trail: changes, pushes and refusals (admins: all;
    /// owners: their apps'), with config values and passwords redacted.
    #[command(name = "audit")]
    Audit {
        /// How many of the latest entries.
        #[arg(short = 'n', long, default_value_t = 100)]
        num: usize,
        #[command(flatten)]
        format: Format,
    },
    /// Open the web dashboard: a one-time login link (60 s, usable once)
    /// for your SSH user, opened in the browser (or printed).
    #[command(name = "dashboard")]
    Dashboard {
        /// Print the link instead of opening a browser.
        #[arg(long)]
        print_url: bool,
    },
    /// Give an app to another user (its owner or an admin); the previous
    /// owner stays on as a collaborator.
    #[command(name = "apps:transfer")]
    AppsTransfer {
        /// The new owner: a user with a key on this server.
        user: String,
    },
    /// List who may act on an app: its owner and collaborators.
    #[command(name = "access")]
    Access {
        #[command(flatten)]
        format: Format,
    },
    /// Let a user act on an app as a collaborator (its owner or an admin).
    #[command(
        name = "access:add",
        after_help = "EXAMPLES:\n  $ paas keys:add --user bob bob.pub   # an admin gives bob a key\n  $ paas access:add bob -a myapp"
    )]
    AccessAdd {
        /// A user with a key on this server.
        user: String,
    },
    /// Take a collaborator off an app (its owner or an admin).
    #[command(name = "access:remove")]
    AccessRemove {
        /// The collaborator.
        user: String,
    },

    /// Add the `deploy` git remote for an app to this repository (or point it there).
    #[command(name = "git:remote")]
    GitRemote,
    /// Print the app's URL.
    #[command(name = "open")]
    Open,

    /// Show config vars.
    #[command(name = "config")]
    Config {
        /// Print `KEY=value` lines for a shell.
        #[arg(long, conflicts_with = "json")]
        shell: bool,
        #[command(flatten)]
        format: Format,
    },
    /// Print config vars' values, one a line.
    #[command(name = "config:get")]
    ConfigGet {
        /// The vars' names.
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
    },
    /// Edit the config vars in `$EDITOR` (on the laptop, when run from
    /// one) and apply what changed as one release.
    #[command(name = "config:edit")]
    ConfigEdit,
    /// Set config vars (`KEY=value …`, or `KEY=value` lines on stdin when
    /// none are given): a new release, and the dynos restart.
    #[command(
        name = "config:set",
        after_help = "EXAMPLES:\n  $ paas config:set DEBUG=0 SECRET_KEY=s3cret -a myapp\n  $ paas config --shell -a myapp > .env && paas config:set -a other < .env",
        visible_alias = "config:add"
    )]
    ConfigSet {
        /// The vars to set, `KEY=value` each.
        #[arg(value_name = "KEY=VALUE")]
        pairs: Vec<String>,
    },
    /// Remove config vars: a new release, and the dynos restart.
    #[command(name = "config:unset", visible_alias = "config:remove")]
    ConfigUnset {
        /// The vars' names.
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
    },

    /// List the app's dynos.
    #[command(name = "ps")]
    Ps {
        #[command(flatten)]
        format: Format,
    },
    /// Scale process types (`web=2 worker=1`, `web+1`, `worker-2`), and size
    /// them (`web=2:standard-2x`); with nothing to change, show the formation.
    #[command(
        name = "ps:scale",
        after_help = "EXAMPLES:\n  $ paas ps:scale web=2 worker=1\n  $ paas ps:scale web+1\n  $ paas ps:scale web=2:standard-2x\n  $ paas ps:scale                 # shows the formation",
        visible_alias = "scale"
    )]
    PsScale {
        /// `TYPE=COUNT[:SIZE]`, or `TYPE+N` / `TYPE-N` to add or take dynos.
        #[arg(value_name = "TYPE=COUNT[:SIZE]", add = ArgValueCandidates::new(crate::completion::process_type_assignments))]
        changes: Vec<String>,
    },
    /// Change the size of a process type's dynos (`web=standard-2x`).
    #[command(name = "ps:resize")]
    PsResize {
        /// A process type and its new size, `TYPE=SIZE` each (`web=standard-2x`).
        #[arg(required = true, value_name = "TYPE=SIZE")]
        changes: Vec<String>,
    },
    /// Restart dynos, all or of one process type.
    #[command(name = "ps:restart", visible_alias = "restart")]
    PsRestart {
        /// A process type (`web`) or one dyno (`web.1`).
        #[arg(value_name = "TYPE|DYNO", add = ArgValueCandidates::new(crate::completion::process_types))]
        target: Option<String>,
    },
    /// Stop a process type (scales it to 0 until `ps:start`) or one dyno
    /// (the formation starts a new one).
    #[command(name = "ps:stop")]
    PsStop {
        /// A process type (`worker`) or one dyno (`web.1`).
        #[arg(value_name = "TYPE|DYNO", add = ArgValueCandidates::new(crate::completion::process_types))]
        target: String,
    },
    /// Start a process type stopped with `ps:stop`, at its previous scale.
    #[command(name = "ps:start")]
    PsStart {
        /// The process type stopped with `ps:stop`.
        #[arg(value_name = "TYPE", add = ArgValueCandidates::new(crate::completion::process_types))]
        process_type: String,
    },
    /// Show or set the seconds a stopping dyno gets between SIGTERM and SIGKILL (default 30).
    #[command(name = "ps:stop-timeout")]
    PsStopTimeout {
        /// Seconds between SIGTERM and SIGKILL; shows the current one if omitted.
        #[arg(value_name = "SECONDS")]
        seconds: Option<u64>,
    },
    /// Stop the web dynos after a time without requests (`--after 30m`);
    /// the next request is held while one starts. `off` keeps them up (the
    /// default); with neither, shows the setting.
    #[command(name = "ps:autosleep")]
    PsAutosleep {
        /// Idle time before sleeping: `90s`, `30m`, `2h`.
        #[arg(long, value_name = "DURATION", conflicts_with = "off")]
        after: Option<String>,
        /// `off` to keep the web dynos running.
        #[arg(value_name = "off", value_parser = ["off"])]
        off: Option<String>,
    },
    /// Like `ps:stop`, with SIGKILL at once instead of SIGTERM.
    #[command(name = "ps:kill")]
    PsKill {
        /// A process type (`worker`) or one dyno (`web.1`).
        #[arg(value_name = "TYPE|DYNO", add = ArgValueCandidates::new(crate::completion::process_types))]
        target: String,
    },

    /// Run a command (default: a shell) inside a running dyno, with its config vars.
    #[command(
        name = "ps:exec",
        after_help = "EXAMPLES:\n  $ paas ps:exec                  # a shell in web.1\n  $ paas ps:exec -d worker.1 -- ps aux"
    )]
    PsExec {
        /// The dyno.
        #[arg(short = 'd', long, default_value = "web.1", value_name = "DYNO")]
        dyno: String,
        /// The command and its arguments (default: `bash`).
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "COMMAND"
        )]
        command: Vec<String>,
    },
    /// Copy a file out of a running dyno: to a file of its name here, or `-o FILE`.
    #[command(name = "ps:copy")]
    PsCopy {
        /// The file in the dyno (relative to `/app`).
        #[arg(value_name = "PATH")]
        path: String,
        /// The dyno.
        #[arg(short = 'd', long, default_value = "web.1", value_name = "DYNO")]
        dyno: String,
        /// Where to write it (`-` for stdout; default: its name, here).
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Forward a port on this machine's loopback to a port inside a running dyno.
    #[command(name = "ps:forward")]
    PsForward {
        /// The port inside the dyno.
        #[arg(value_name = "PORT")]
        port: u16,
        /// The dyno.
        #[arg(short = 'd', long, default_value = "web.1", value_name = "DYNO")]
        dyno: String,
        /// The local port (default: the same).
        #[arg(short = 'p', long = "local-port", value_name = "PORT")]
        local_port: Option<u16>,
    },
    /// Connect stdin and stdout to a port inside a dyno (what `ps:forward` runs over SSH).
    #[command(name = "ps:connect", hide = true)]
    PsConnect {
        #[arg(value_name = "PORT")]
        port: u16,
        #[arg(short = 'd', long, value_name = "DYNO")]
        dyno: String,
    },

    /// Run a one-off command in a new dyno, attached to this terminal
    /// (`run bash`, `run python manage.py migrate`, `run worker --once`).
    #[command(
        name = "run",
        after_help = "EXAMPLES:\n  $ paas run bash\n  $ paas run python manage.py migrate -a myapp\n  $ paas run -s standard-2x -e 'BATCH=1' -- ./job.sh --all"
    )]
    Run {
        #[command(flatten)]
        command: OneOffCommand,
    },
    /// Run a one-off command in the background; its output goes to `logs`.
    #[command(name = "run:detached")]
    RunDetached {
        /// Follow the dyno's logs until it ends.
        #[arg(short = 't', long)]
        tail: bool,
        #[command(flatten)]
        command: OneOffCommand,
    },
    /// Stop a one-off dyno (`run.1`).
    #[command(name = "run:stop")]
    RunStop {
        /// The one-off dyno (`run.1`).
        #[arg(value_name = "DYNO")]
        dyno: String,
    },

    /// List the app's scheduled jobs (`app.json` `cron`): their next and last
    /// runs. Each run is a one-off dyno, `scheduler.N` in the logs.
    #[command(name = "cron")]
    Cron {
        #[command(flatten)]
        format: Format,
    },
    /// Run a scheduled job now.
    #[command(name = "cron:run")]
    CronRun {
        /// The job's id, as `cron` lists it.
        #[arg(value_name = "ID")]
        id: String,
    },

    /// List the app's builds: status, commit, who, and the release each made.
    #[command(name = "builds")]
    Builds {
        #[arg(short = 'n', long, default_value_t = 15)]
        num: usize,
        #[command(flatten)]
        format: Format,
    },
    /// Show what a build printed (default: the latest).
    #[command(name = "builds:output")]
    BuildsOutput {
        /// The build number (`3`); the latest if omitted.
        #[arg(value_name = "BUILD")]
        build: Option<String>,
    },

    /// Show the app's buildpacks (none set: each push detects one).
    #[command(name = "buildpacks")]
    Buildpacks,
    /// Set the app's buildpack: a shipped name (`python`, `heroku/nodejs`),
    /// a git URL (`https://host/bp.git#ref`) or a `.tgz` URL.
    #[command(name = "buildpacks:set")]
    BuildpacksSet {
        /// A shipped buildpack (`python`), a git URL (`https://…/x.git#v1`) or a `.tgz` URL.
        #[arg(value_name = "BUILDPACK")]
        buildpack: String,
        /// Replace the buildpack at this position (1 is first; default 1).
        #[arg(short, long)]
        index: Option<usize>,
    },
    /// Add a buildpack: builds run each in order (multi-buildpack).
    #[command(name = "buildpacks:add")]
    BuildpacksAdd {
        /// A shipped buildpack (`python`), a git URL (`https://…/x.git#v1`) or a `.tgz` URL.
        #[arg(value_name = "BUILDPACK")]
        buildpack: String,
        /// Insert at this position (1 is first; default last).
        #[arg(short, long)]
        index: Option<usize>,
    },
    /// Remove a buildpack, by name or URL or by position.
    #[command(name = "buildpacks:remove")]
    BuildpacksRemove {
        /// The buildpack to remove, as `buildpacks` lists it.
        #[arg(value_name = "BUILDPACK")]
        buildpack: Option<String>,
        #[arg(short, long)]
        index: Option<usize>,
    },
    /// Clear the app's buildpacks: each push detects one again.
    #[command(name = "buildpacks:clear")]
    BuildpacksClear,
    /// Empty the app's build cache: the next build downloads everything again.
    #[command(name = "repo:purge-cache", alias = "repo:purge_cache")]
    RepoPurgeCache,

    /// List releases, newest first.
    #[command(name = "releases")]
    Releases {
        /// How many to show.
        #[arg(short = 'n', long, default_value_t = 15)]
        num: usize,
        #[command(flatten)]
        format: Format,
    },
    /// Show one release.
    #[command(name = "releases:info")]
    ReleasesInfo {
        /// `v<N>`; the current release if omitted.
        #[arg(value_name = "VERSION")]
        release: Option<String>,
        #[command(flatten)]
        format: Format,
    },
    /// Show what the push that made a release printed: its build and release phase.
    #[command(name = "releases:output")]
    ReleasesOutput {
        /// `v<N>`; the current release if omitted.
        #[arg(value_name = "VERSION")]
        release: Option<String>,
    },
    /// Roll back to an earlier release (a new release with its slug and config).
    #[command(
        name = "releases:rollback",
        after_help = "EXAMPLES:\n  $ paas releases:rollback        # to the release before the current one\n  $ paas releases:rollback v12"
    )]
    ReleasesRollback {
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
    ReleasesRetry,
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
    ReleasesCreate {
        /// The image, as podman names it.
        #[arg(long, value_name = "REF")]
        image: String,
    },
    /// Show or set where the app's releases run: `podman` on this server
    /// (the default) or `kubernetes` on the cluster `kubernetes:connect` names.
    #[command(
        name = "apps:scheduler",
        after_help = "EXAMPLES:\n  $ paas apps:scheduler kubernetes -a myapp\n  $ paas apps:scheduler podman -a myapp"
    )]
    AppsScheduler {
        /// `podman` or `kubernetes`; shows the current one if omitted.
        #[arg(value_name = "SCHEDULER", value_parser = ["podman", "kubernetes"])]
        scheduler: Option<String>,
    },
    /// Name the registry (and the Kubernetes cluster) releases go to, once
    /// per server (admins only).
    #[command(
        name = "kubernetes:connect",
        after_help = "The registry alone is enough for `kubernetes:push` and \
                      `kubernetes:manifests`; deploys to the cluster need its kubeconfig too, \
                      a file on the server or `-` for stdin. A registry that needs a login takes \
                      `podman login` as the server's `paas` user.\n\nEXAMPLES:\n  \
                      $ paas kubernetes:connect --registry registry.example.com:5000\n  \
                      $ paas kubernetes:connect --registry 10.0.0.2:5000 --insecure-registry --kubeconfig - < k3s.yaml"
    )]
    KubernetesConnect {
        /// Where images are pushed: `HOST[:PORT][/PATH]`.
        #[arg(long, value_name = "HOST[:PORT]")]
        registry: String,
        /// The registry speaks plain HTTP (or its certificate is not to be
        /// checked): only for one on a private network.
        #[arg(long)]
        insecure_registry: bool,
        /// The cluster's kubeconfig: a file on the server, or `-` for stdin.
        #[arg(long, value_name = "FILE")]
        kubeconfig: Option<String>,
        /// What the apps' namespaces start with (default `paas-`).
        #[arg(long, value_name = "PREFIX")]
        namespace_prefix: Option<String>,
        /// cert-manager's ClusterIssuer for apps with `certs:auto` (default `letsencrypt`).
        #[arg(long, value_name = "NAME")]
        cluster_issuer: Option<String>,
    },
    /// Build a release's image (the current one by default) and push it to
    /// the registry; prints its reference with its digest.
    #[command(
        name = "kubernetes:push",
        after_help = "EXAMPLES:\n  $ paas kubernetes:push -a myapp\n  $ paas kubernetes:push v12 -a myapp"
    )]
    KubernetesPush {
        /// `v<N>`; the current release if omitted.
        #[arg(value_name = "VERSION")]
        release: Option<String>,
    },
    /// Print the Kubernetes objects of a release (the current one by
    /// default) as YAML, to read, diff or apply by hand.
    #[command(
        name = "kubernetes:manifests",
        after_help = "EXAMPLES:\n  $ paas kubernetes:manifests -a myapp > myapp.yaml\n  $ paas kubernetes:manifests v11 -a myapp | diff - myapp.yaml"
    )]
    KubernetesManifests {
        /// `v<N>`; the current release if omitted.
        #[arg(value_name = "VERSION")]
        release: Option<String>,
    },

    /// Show the app's logs.
    #[command(
        name = "logs",
        after_help = "EXAMPLES:\n  $ paas logs -t\n  $ paas logs -n 500 -p web\n  $ paas logs -s heroku -d web.1"
    )]
    Logs {
        /// How many lines to show.
        #[arg(short = 'n', long, default_value_t = 100)]
        num: usize,
        /// Keep following new lines.
        #[arg(short = 't', long)]
        tail: bool,
        /// Only this process type's lines (`web`).
        #[arg(short = 'p', long = "ps", visible_alias = "process-type", value_name = "TYPE", add = ArgValueCandidates::new(crate::completion::process_types))]
        process_type: Option<String>,
        /// Only this dyno's lines (`web.1`).
        #[arg(short = 'd', long, visible_alias = "dyno-name", value_name = "DYNO")]
        dyno: Option<String>,
        /// Only `app` (dyno output) or `paas` (platform; `heroku` works too) lines.
        #[arg(short = 's', long)]
        source: Option<String>,
    },

    /// Show or set how many MB of log stream the app keeps on disk (default 64).
    #[command(name = "logs:limit")]
    LogsLimit {
        /// MB of log stream to keep; shows the current limit if omitted.
        #[arg(value_name = "MB")]
        megabytes: Option<u64>,
    },

    /// Show the app's metrics as text charts: requests, status classes,
    /// router errors, response times (p50, p95, p99), bytes, and each
    /// dyno's memory and CPU.
    #[command(
        name = "metrics",
        after_help = "Metrics are counted per minute and kept for 7 days.\n\nEXAMPLES:\n  $ paas metrics\n  $ paas metrics --since 24h\n  $ paas metrics --since 7d --step 1h --json"
    )]
    Metrics {
        /// How far back to show (`30m`, `6h`, `7d`).
        #[arg(long, default_value = "1h", value_name = "DURATION")]
        since: String,
        /// The time each point covers, whole minutes (`1m`, `1h`); by
        /// default what fits 60 points.
        #[arg(long, value_name = "DURATION")]
        step: Option<String>,
        #[command(flatten)]
        format: Format,
    },

    /// List the app's domains: its own and the custom ones.
    #[command(name = "domains")]
    Domains {
        #[command(flatten)]
        format: Format,
    },
    /// Send a hostname of your own to the app (point its DNS at the server).
    #[command(
        name = "domains:add",
        after_help = "EXAMPLES:\n  $ paas domains:add www.example.com\n  $ paas certs:auto:enable        # then a certificate by ACME"
    )]
    DomainsAdd {
        /// The hostname (`www.example.com`) to route to the app.
        #[arg(value_name = "HOSTNAME")]
        hostname: String,
    },
    /// Stop sending a custom hostname to the app.
    #[command(name = "domains:remove")]
    DomainsRemove {
        /// The hostname to stop routing to the app.
        #[arg(value_name = "HOSTNAME")]
        hostname: String,
    },
    /// Remove every custom domain of the app.
    #[command(name = "domains:clear")]
    DomainsClear,
    /// Set the platform's domain: every app answers at `<app>.<DOMAIN>`
    /// (point a wildcard DNS record `*.DOMAIN` at the server). Admins only.
    #[command(name = "domains:set-global")]
    DomainsSetGlobal {
        /// The domain apps answer under (`apps.example.com` makes `APP.apps.example.com`).
        #[arg(value_name = "DOMAIN")]
        domain: String,
    },

    /// The app's TLS certificate: the names it covers and when it expires.
    #[command(name = "certs")]
    Certs {
        #[command(flatten)]
        format: Format,
    },
    /// Add (or replace) the app's TLS certificate: the chain file, then the
    /// key file (over SSH, both PEM blocks on stdin). The router serves it on
    /// the HTTPS port to clients naming the app's hosts.
    #[command(name = "certs:add")]
    CertsAdd {
        /// The certificate chain, PEM.
        #[arg(value_name = "CERT", requires = "key")]
        cert: Option<PathBuf>,
        /// Its private key, PEM, not encrypted.
        #[arg(value_name = "KEY")]
        key: Option<PathBuf>,
    },
    /// Remove the app's TLS certificate.
    #[command(name = "certs:remove")]
    CertsRemove,
    /// Redirect plain HTTP requests to HTTPS (`on`), or stop (`off`); shows the setting without one.
    #[command(name = "certs:redirect")]
    CertsRedirect {
        /// `on` to redirect plain HTTP to HTTPS, `off` to serve both.
        #[arg(value_name = "on|off", value_parser = ["on", "off"])]
        state: Option<String>,
    },

    /// The health checks new dynos pass before traffic moves to them: the
    /// release's `app.json` `healthchecks`, else staying up 10 s.
    #[command(name = "checks")]
    Checks,
    /// Check new dynos before traffic moves to them (the default).
    #[command(name = "checks:enable")]
    ChecksEnable,
    /// Move traffic to new dynos once they listen, without their checks.
    #[command(name = "checks:skip")]
    ChecksSkip,
    /// Stop the old dynos before starting new ones, unchecked: downtime, for
    /// apps that cannot run two copies at once.
    #[command(name = "checks:disable")]
    ChecksDisable,
    /// Set the window after traffic moves: `uptime SECONDS`, how long the
    /// previous web dynos stay warm, taking the traffic back if a new dyno
    /// crashes (default 10; for the app or, with `--global`, every app);
    /// `wait on|off`, whether a change waits out the window and fails if a
    /// new dyno crashes in it (default off: it returns once traffic moved).
    #[command(name = "checks:set")]
    ChecksSet {
        /// What to set: `uptime` or `wait`.
        #[arg(value_name = "KEY", value_parser = ["uptime", "wait"])]
        key: String,
        /// Its value: seconds for `uptime`, `on` or `off` for `wait`.
        #[arg(value_name = "VALUE")]
        value: String,
        /// The install's default, for apps that set none (admins only).
        #[arg(long)]
        global: bool,
    },

    /// Whether the app gets its certificate by ACME, and how that went.
    #[command(name = "certs:auto")]
    CertsAuto,
    /// Get the app's certificate from Let's Encrypt (or the install's ACME
    /// CA) by HTTP-01, and renew it 30 days before it expires. The app's
    /// hosts must reach this server on port 80.
    #[command(name = "certs:auto:enable")]
    CertsAutoEnable,
    /// Stop renewing the app's certificate (the current one stays).
    #[command(name = "certs:auto:disable")]
    CertsAutoDisable,
    /// Get a new ACME certificate now (after `domains:add`, say).
    #[command(name = "certs:auto:refresh")]
    CertsAutoRefresh,

    /// Whether the app is in maintenance mode.
    #[command(name = "maintenance")]
    Maintenance,
    /// Answer every request with a 503 maintenance page (the app's own if
    /// `MAINTENANCE_PAGE_URL` is set); the dynos keep running.
    #[command(name = "maintenance:on")]
    MaintenanceOn,
    /// Pass requests to the dynos again.
    #[command(name = "maintenance:off")]
    MaintenanceOff,

    /// List the app's log drains.
    #[command(name = "drains")]
    Drains {
        #[command(flatten)]
        format: Format,
    },
    /// Forward the app's log stream: `syslog://host:port`, `syslog+tls://host:port`, or
    /// `https://[user:password@]host/path` (logplex batches, as Heroku posts them).
    #[command(name = "drains:add")]
    DrainsAdd {
        /// Where to send the log stream: `syslog://HOST:PORT`, `syslog+tls://…` or `https://…`.
        url: String,
    },
    /// Stop forwarding to a drain.
    #[command(name = "drains:remove")]
    DrainsRemove {
        /// The drain, as `drains` lists it.
        url: String,
    },

    /// List the app's webhooks.
    #[command(name = "webhooks")]
    Webhooks {
        #[command(flatten)]
        format: Format,
    },
    /// Add a webhook: each event of the kinds it includes is POSTed to its URL
    /// as JSON, as Heroku's app webhooks are, signed with HMAC-SHA256 of the
    /// body in `Heroku-Webhook-Hmac-SHA256`. The daemon sends them; a
    /// receiver that is slow or down never slows a deploy.
    #[command(
        name = "webhooks:add",
        after_help = "EXAMPLES:\n  $ paas webhooks:add -i api:build,api:release,dyno -u https://example.com/hooks\n  $ paas webhooks:add -i api:release -u https://example.com/hooks -s \"$SECRET\" -l notify"
    )]
    WebhooksAdd {
        /// Comma-separated kinds of event the receiver gets: `api:build`
        /// (pending, succeeded, failed), `api:release` (created), `dyno`
        /// (started, state changes).
        #[arg(short, long, value_name = "KINDS")]
        include: String,
        /// The receiver: an `https://` or `http://` URL.
        #[arg(short, long)]
        url: String,
        /// `sync`: a failed delivery is tried again with backoff for up to
        /// an hour; `notify`: it is tried once.
        #[arg(short, long, value_parser = ["sync", "notify"], default_value = "sync")]
        level: String,
        /// The secret deliveries are signed with (default: a new one,
        /// shown once).
        #[arg(short, long)]
        secret: Option<String>,
        /// Sent as the `Authorization` header of every delivery (never shown).
        #[arg(short = 't', long)]
        authorization: Option<String>,
    },
    /// Show a webhook (not its secret or authorization).
    #[command(name = "webhooks:info")]
    WebhooksInfo {
        /// The webhook's id, as `webhooks` lists it (its start will do).
        id: String,
    },
    /// Change a webhook: what is given replaces what it had.
    #[command(name = "webhooks:update")]
    WebhooksUpdate {
        /// The webhook's id, as `webhooks` lists it (its start will do).
        id: String,
        /// Comma-separated kinds of event: `api:build`, `api:release`, `dyno`.
        #[arg(short, long, value_name = "KINDS")]
        include: Option<String>,
        /// The receiver: an `https://` or `http://` URL.
        #[arg(short, long)]
        url: Option<String>,
        /// `sync` (retried for up to an hour) or `notify` (tried once).
        #[arg(short, long, value_parser = ["sync", "notify"])]
        level: Option<String>,
        /// A new secret to sign deliveries with.
        #[arg(short, long)]
        secret: Option<String>,
        /// A new `Authorization` header value.
        #[arg(short = 't', long)]
        authorization: Option<String>,
    },
    /// Remove a webhook, with its queued and past deliveries.
    #[command(name = "webhooks:remove")]
    WebhooksRemove {
        /// The webhook's id, as `webhooks` lists it (its start will do).
        id: String,
    },
    /// List the last deliveries to the app's webhooks (100 kept per
    /// webhook), oldest first: status, attempts, the receiver's answer,
    /// the next attempt.
    #[command(name = "webhooks:deliveries")]
    WebhooksDeliveries {
        /// Only those with this status.
        #[arg(short, long, value_parser = ["pending", "retrying", "succeeded", "failed"])]
        status: Option<String>,
        #[command(flatten)]
        format: Format,
    },
    /// Show a delivery and the payload it sends.
    #[command(name = "webhooks:deliveries:info")]
    WebhooksDeliveriesInfo {
        /// The delivery's id, as `webhooks:deliveries` lists it.
        id: String,
    },

    /// List add-ons: the app's, or every add-on on the server without `-a`.
    #[command(name = "addons")]
    Addons {
        #[command(flatten)]
        format: Format,
    },
    /// Create a PostgreSQL or Redis add-on and attach it to the app.
    #[command(
        name = "addons:create",
        after_help = "EXAMPLES:\n  $ paas addons:create postgres\n  $ paas addons:create redis --as CACHE -a myapp",
        disable_version_flag = true
    )]
    AddonsCreate {
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
    AddonsInfo {
        /// The add-on (`postgres-brave-4821`).
        #[arg(value_name = "ADDON", add = ArgValueCandidates::new(crate::completion::addon_names))]
        addon: String,
    },
    /// Attach an existing add-on to another app (a shared database).
    #[command(name = "addons:attach")]
    AddonsAttach {
        /// The add-on (`postgres-brave-4821`).
        #[arg(value_name = "ADDON", add = ArgValueCandidates::new(crate::completion::addon_names))]
        addon: String,
        /// The attachment name: sets `NAME_URL`
        #[arg(long = "as", value_name = "NAME")]
        as_name: Option<String>,
    },
    /// Detach an add-on from the app (its data stays).
    #[command(name = "addons:detach")]
    AddonsDetach {
        /// The add-on's name or its attachment (`DATABASE_URL`)
        #[arg(value_name = "ADDON", add = ArgValueCandidates::new(crate::completion::addon_names))]
        addon: String,
    },
    /// Destroy an add-on and its data, backups included.
    #[command(name = "addons:destroy")]
    AddonsDestroy {
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
    AddonsExpose {
        /// The add-on (`postgres-brave-4821`).
        #[arg(value_name = "ADDON", add = ArgValueCandidates::new(crate::completion::addon_names))]
        addon: String,
        /// The port on 127.0.0.1 (default: the service's own, 5432 or 6379)
        #[arg(long)]
        port: Option<u16>,
    },
    /// Stop publishing an add-on on the server's loopback.
    #[command(name = "addons:unexpose")]
    AddonsUnexpose {
        /// The add-on (`postgres-brave-4821`).
        #[arg(value_name = "ADDON", add = ArgValueCandidates::new(crate::completion::addon_names))]
        addon: String,
    },

    /// List storages with their size and where they are mounted: yours (an
    /// admin: all), or those mounted on the app with `-a`.
    #[command(name = "storage")]
    Storage {
        #[command(flatten)]
        format: Format,
    },
    /// Create a storage: a directory that outlives dynos, to mount into apps.
    ///
    /// Files a dyno writes under `/app` vanish with it (each deploy,
    /// restart or rollback starts new dynos); files written in a mounted
    /// storage stay. You own the storages you create: you (and admins) may
    /// mount, back up, restore and destroy them.
    #[command(
        name = "storage:create",
        after_help = "EXAMPLES:\n  $ paas storage:create uploads\n  $ paas storage:mount uploads /app/public/uploads -a mycms"
    )]
    StorageCreate {
        /// Lowercase letters, digits and dashes, starting with a letter.
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Mount a storage into every dyno of the app (all process types,
    /// one-off, release phase and cron dynos); its dynos restart now.
    #[command(
        name = "storage:mount",
        after_help = "EXAMPLES:\n  $ paas storage:mount uploads /app/public/uploads -a mycms"
    )]
    StorageMount {
        /// The storage.
        #[arg(value_name = "NAME", add = ArgValueCandidates::new(crate::completion::storage_names))]
        name: String,
        /// Where its files appear: an absolute path, such as a directory
        /// under `/app` (what the slug has there is hidden while it is
        /// mounted) or, for an image's dynos, `/data`; no system directory.
        #[arg(value_name = "PATH")]
        path: String,
    },
    /// Unmount a storage from the app; its dynos restart now, and the files
    /// stay in the storage.
    #[command(name = "storage:unmount")]
    StorageUnmount {
        /// The storage, or where it is mounted.
        #[arg(value_name = "NAME|PATH", add = ArgValueCandidates::new(crate::completion::storage_names))]
        name: String,
    },
    /// Destroy a storage and its files, unmounting it from every app first.
    #[command(name = "storage:destroy")]
    StorageDestroy {
        /// The storage.
        #[arg(value_name = "NAME", add = ArgValueCandidates::new(crate::completion::storage_names))]
        name: String,
        /// The storage's name again, to confirm.
        #[arg(short = 'c', long, value_name = "NAME")]
        confirm: Option<String>,
    },
    /// Write a storage's files to stdout as a zstd-compressed tar.
    #[command(
        name = "storage:backup",
        after_help = "EXAMPLES:\n  $ paas storage:backup uploads > uploads.tar.zst\n  $ zstd -dc uploads.tar.zst | tar -t    # what it holds"
    )]
    StorageBackup {
        /// The storage.
        #[arg(value_name = "NAME", add = ArgValueCandidates::new(crate::completion::storage_names))]
        name: String,
    },
    /// Replace a storage's files with a backup read from stdin (a
    /// zstd-compressed tar, or a plain tar); dynos see them at once.
    #[command(
        name = "storage:restore",
        after_help = "EXAMPLES:\n  $ paas storage:restore uploads --confirm uploads < uploads.tar.zst\n  $ tar -C ./uploads -c . | paas storage:restore uploads --confirm uploads"
    )]
    StorageRestore {
        /// The storage.
        #[arg(value_name = "NAME", add = ArgValueCandidates::new(crate::completion::storage_names))]
        name: String,
        /// The storage's name again, to confirm (stdin is the backup, so
        /// nothing is asked).
        #[arg(short = 'c', long, value_name = "NAME")]
        confirm: Option<String>,
    },

    /// Show the app's PostgreSQL: status, version, size, tables, connections.
    #[command(name = "pg:info")]
    PgInfo {
        #[command(flatten)]
        database: Database,
    },
    /// Show the connection URL and its parts.
    #[command(name = "pg:credentials")]
    PgCredentials {
        #[command(flatten)]
        database: Database,
    },
    /// Set a new password; every attached app gets a release with the new URL.
    #[command(name = "pg:credentials:rotate")]
    PgCredentialsRotate {
        #[command(flatten)]
        database: Database,
        /// The app's name, to confirm
        #[arg(short = 'c', long, value_name = "APP")]
        confirm: Option<String>,
    },
    /// Open psql on the database (a terminal over SSH), or run one command.
    #[command(name = "pg:psql", visible_alias = "psql")]
    PgPsql {
        #[command(flatten)]
        database: Database,
        /// Run this SQL and exit
        #[arg(short, long, value_name = "SQL")]
        command: Option<String>,
    },
    /// Drop every table: an empty database with the same credentials.
    #[command(name = "pg:reset")]
    PgReset {
        #[command(flatten)]
        database: Database,
        #[arg(short = 'c', long, value_name = "APP")]
        confirm: Option<String>,
    },
    /// List the database's backups.
    #[command(name = "pg:backups")]
    PgBackups {
        #[command(flatten)]
        database: Database,
        #[command(flatten)]
        format: Format,
    },
    /// Take a backup now (pg_dump -Fc).
    #[command(name = "pg:backups:capture")]
    PgBackupsCapture {
        #[command(flatten)]
        database: Database,
    },
    /// Restore a backup (bNNN) or a dump at a URL, replacing what is in the database.
    #[command(name = "pg:backups:restore")]
    PgBackupsRestore {
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
    PgBackupsDownload {
        /// Default: the latest backup
        #[arg(value_name = "BACKUP")]
        backup: Option<String>,
        #[command(flatten)]
        database: Database,
    },
    /// Show a backup: time, size, SHA-256.
    #[command(name = "pg:backups:info")]
    PgBackupsInfo {
        /// The backup (`b003`); the latest if omitted.
        #[arg(value_name = "BACKUP")]
        backup: Option<String>,
        #[command(flatten)]
        database: Database,
    },
    /// Delete a backup.
    #[command(name = "pg:backups:delete")]
    PgBackupsDelete {
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
    PgBackupsSchedule {
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
    PgBackupsUnschedule {
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
    PgPull {
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
    PgPush {
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
    PgDump {
        #[command(flatten)]
        database: Database,
    },
    /// Load a dump from stdin into the empty database (what `pg:push` sends over SSH).
    #[command(name = "pg:load", hide = true)]
    PgLoad {
        #[command(flatten)]
        database: Database,
    },
    /// Show the queries running on the database, newest first.
    #[command(name = "pg:ps")]
    PgPs {
        #[command(flatten)]
        database: Database,
        /// Also the connections that sit idle
        #[arg(short, long)]
        verbose: bool,
    },
    /// Cancel a query (`pg:ps` lists them), or end its connection with `--force`.
    #[command(name = "pg:kill")]
    PgKill {
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
    PgLocks {
        #[command(flatten)]
        database: Database,
        /// Cut queries to 40 characters
        #[arg(short, long)]
        truncate: bool,
    },
    /// Show the statements that took the most time in all (pg_stat_statements).
    #[command(name = "pg:outliers")]
    PgOutliers {
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
    PgDiagnose {
        #[command(flatten)]
        database: Database,
        #[command(flatten)]
        format: Format,
    },

    /// Show the app's Redis: version, memory, keys, clients.
    #[command(name = "redis:info")]
    RedisInfo {
        #[command(flatten)]
        database: Database,
    },
    /// Open redis-cli (a terminal over SSH), or run one command.
    #[command(name = "redis:cli")]
    RedisCli {
        #[command(flatten)]
        database: Database,
        /// Run this command and exit (`GET key`)
        #[arg(short, long, value_name = "COMMAND")]
        command: Option<String>,
    },

    /// List SSH keys: yours, or everyone's for an admin.
    #[command(name = "keys")]
    Keys {
        #[command(flatten)]
        format: Format,
    },
    /// Add an SSH key (default: `~/.ssh/id_ed25519.pub`, `id_ecdsa.pub` or
    /// `id_rsa.pub`; on the server, stdin when no file is given).
    #[command(name = "keys:add")]
    KeysAdd {
        /// The public key file.
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        /// Whose key it is (admins only; default: yours).
        #[arg(long)]
        user: Option<String>,
        /// Make that user an admin (admins only).
        #[arg(long)]
        admin: bool,
        /// A deploy key for the app given with `-a` (its owner or an admin):
        /// it may only push to that app and read its builds, for CI.
        #[arg(long, conflicts_with_all = ["admin", "user"])]
        deploy: bool,
    },
    /// Remove an SSH key, by fingerprint (`SHA256:…`) or comment.
    #[command(name = "keys:remove")]
    KeysRemove {
        /// The key's fingerprint (`SHA256:…`) or comment.
        #[arg(value_name = "KEY")]
        key: String,
    },

    /// Run the Procfile's processes on this machine, as `heroku local`
    /// (foreman) does: with `.env`'s vars, a `PORT` each (web.1 5000,
    /// web.2 5001, the Procfile's next type 5100, …) and their output
    /// behind `web.1 |`. Ctrl-C, or any process ending, stops them all.
    /// Needs no server.
    #[command(name = "local")]
    Local(LocalArgs),
    /// Run one command on this machine with `.env`'s vars (a Procfile
    /// type runs its command); its exit status is yours. Needs no server.
    #[command(name = "local:run")]
    LocalRun(LocalRunArgs),

    /// Print the shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(name = "completions")]
    Completions {
        /// The shell: `bash`, `zsh` or `fish`.
        #[arg(value_enum)]
        shell: crate::completion::Shell,
    },
    /// Print the man page (roff).
    #[command(name = "manpage")]
    Manpage,

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

#[cfg(test)]
mod help_tests;
#[cfg(test)]
mod tests;
