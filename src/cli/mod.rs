//! The command line. Doc comments here are the help text users read.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};
use clap_complete::engine::ArgValueCandidates;

use crate::output::ColorChoice;

mod words;
use crate::state::DEFAULT_ROOT;
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

/// `paas local`: foreman's and `heroku local`'s options.
#[derive(Debug, Args)]
pub struct LocalArgs {
    /// Process types to run (default: all but `release`); `web=2` runs two.
    #[arg(value_name = "PROCESS", add = ArgValueCandidates::new(crate::completion::procfile_types))]
    pub processes: Vec<String>,
    /// The Procfile; the processes run in its directory.
    #[arg(short = 'f', long, value_name = "FILE", default_value = "Procfile")]
    pub procfile: PathBuf,
    /// Env files to load, comma-separated (default: `.env`, if there is one).
    #[arg(short, long, value_name = "FILE")]
    pub env: Option<String>,
    /// The first port (default: `PORT` from the env file or the
    /// environment, else 5000).
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Seconds the processes get between SIGTERM and SIGKILL when stopping.
    #[arg(short, long, value_name = "SECONDS", default_value_t = 5)]
    pub timeout: u64,
}

/// `paas local:run`: `heroku local:run`'s options.
#[derive(Debug, Args)]
pub struct LocalRunArgs {
    /// Env files to load, comma-separated (default: `.env`, if there is one).
    #[arg(short, long, value_name = "FILE")]
    pub env: Option<String>,
    /// Set `PORT` to this.
    #[arg(short, long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// The command; a Procfile type runs that type's command. Options
    /// after its first word are the command's.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub words: Vec<String>,
}

/// The words of a one-off dyno's command (`run`, `run:detached`).
#[derive(Debug, Args)]
pub struct OneOffCommand {
    /// Config vars for this dyno only, over the app's (`'A=1;B=2'`).
    #[arg(short = 'e', long = "env", value_name = "'KEY=VALUE;…'")]
    pub env: Option<String>,
    /// The dyno's size (`standard-2x`; default: the `--type`'s, else standard-1x).
    #[arg(short = 's', long)]
    pub size: Option<String>,
    /// Run with this process type's size (`ps:resize`); the dyno is still `run.N`.
    #[arg(long = "type", value_name = "TYPE")]
    pub process_type: Option<String>,
    /// Exit with the command's exit status (paas always does; for Heroku's habit).
    #[arg(short = 'x', long)]
    pub exit_code: bool,
    /// No terminal, even when this side has one.
    #[arg(long)]
    pub no_tty: bool,
    /// The command; a Procfile type runs that type's command. Options of
    /// `run` anywhere before a `--` are `run`'s; after it, the command's.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub words: Vec<String>,
}

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
    /// Free the disk of what no release needs: slugs and apps' images past the
    /// last 10 releases, unpacked slugs no dyno runs, what interrupted builds
    /// left, containers of destroyed apps, images of older stacks.
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

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Public key of the first admin (`~/.ssh/id_ed25519.pub`).
    #[arg(long, value_name = "FILE")]
    pub admin_key: Option<PathBuf>,
    /// Try it on one machine: a private sshd on 127.0.0.1 and loopback ports,
    /// leaving the system's sshd and ports 80/443 alone.
    #[arg(long)]
    pub local: bool,
    /// The port of the private sshd (`--local`; default 2222; installing
    /// again keeps the install's).
    #[arg(long)]
    pub ssh_port: Option<u16>,
    /// The router's HTTP port (default 80; `--local`: 8080; installing
    /// again keeps the install's).
    #[arg(long)]
    pub http_port: Option<u16>,
    /// The router's HTTPS port, for apps with certificates (default 443;
    /// `--local`: 8443; installing again keeps the install's).
    #[arg(long)]
    pub https_port: Option<u16>,
    /// Apps answer at `<app>.<domain>` (default `localhost`; installing
    /// again keeps the install's, which `domains:set-global` changes).
    #[arg(long)]
    pub domain: Option<String>,
    /// The unprivileged user that owns everything.
    #[arg(long, default_value = "paas")]
    pub user: String,
    /// The ACME directory `certs:auto` gets certificates from (default
    /// Let's Encrypt's; installing again keeps the install's).
    #[arg(long, value_name = "URL")]
    pub acme_directory: Option<String>,
    /// Authorities to trust for the ACME directory's HTTPS (default the
    /// system's), for a private ACME server.
    #[arg(long, value_name = "FILE")]
    pub acme_ca: Option<PathBuf>,
    /// The contact address given to the ACME CA (expiry notices).
    #[arg(long, value_name = "EMAIL")]
    pub acme_email: Option<String>,
    /// The largest compressed slug a build may make, in MiB (default 1024;
    /// installing again keeps the install's).
    #[arg(long, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub slug_limit_mb: Option<u64>,
    /// Refuse pushes while less than this many MiB are free where builds
    /// and images go (default 1024; installing again keeps the install's).
    #[arg(long = "min-free-disk", value_name = "MIB")]
    pub min_free_mb: Option<u64>,
    /// How long a build may run before it is stopped, like `45m` (default
    /// 30m; installing again keeps the install's).
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse)]
    pub build_timeout: Option<u64>,
    /// How long a release phase command may run before it is stopped and
    /// the release fails, like `2h` (default 1h, as on Heroku; installing
    /// again keeps the install's).
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::parse)]
    pub release_timeout: Option<u64>,
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

/// Parses the words after `paas`. Help and version are printed here and come
/// back as a silent exit 0; an unknown command gets the closest one as a hint.
pub fn parse(words: Vec<String>) -> Result<Cli, crate::error::Error> {
    use crate::error::{quoted, Error, QUOTED_INPUT};
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let words = normalize(words);
    let cli =
        Cli::try_parse_from(std::iter::once("paas".to_string()).chain(words)).map_err(|err| {
            if !err.use_stderr() {
                print!("{err}");
                return Error::exit(0);
            }
            if err.kind() == ErrorKind::InvalidSubcommand {
                if let Some(ContextValue::String(typed)) = err.get(ContextKind::InvalidSubcommand) {
                    let error = Error::new(format!(
                        "`{}` is not a paas command",
                        quoted(typed, QUOTED_INPUT)
                    ));
                    let error = match closest_command(typed) {
                        Some(name) => error.hint(format!(
                            "did you mean `{name}`? `paas help` lists the commands"
                        )),
                        None => error.hint("`paas help` lists the commands"),
                    };
                    return error.with_exit_code(2);
                }
            }
            let mut text = err.to_string();
            // clap quotes the offending words whole (twice, with its tip): each
            // long one is cut where it appears (#19, point 6).
            for (_, value) in err.context() {
                let words = match value {
                    ContextValue::String(word) => std::slice::from_ref(word),
                    ContextValue::Strings(words) => words.as_slice(),
                    _ => &[],
                };
                for word in words {
                    let shown = quoted(word, QUOTED_INPUT);
                    if shown.len() < word.len() {
                        text = text.replace(word.as_str(), &shown);
                    }
                }
            }
            Error::new(text.trim_start_matches("error: ").trim().to_string()).with_exit_code(2)
        })?;
    cli.with_app_from_arguments()
}

impl Cli {
    /// `apps:rename OLD NEW` names its app as `-a OLD` would (Heroku's form
    /// is `apps:rename NEW -a OLD`): the access check, the audit trail and
    /// the laptop's forwarding all take the app from `app`.
    fn with_app_from_arguments(mut self) -> Result<Cli, crate::error::Error> {
        use crate::error::{quoted, Error, QUOTED_INPUT};
        if let Command::AppsRename {
            name,
            new: Some(new),
        } = &self.command
        {
            match &self.app {
                Some(app) if app != name => {
                    return Err(Error::new(format!(
                        "`apps:rename {} {}` renames `{}`, but `-a` (or `PAAS_APP`) names `{}`",
                        quoted(name, QUOTED_INPUT),
                        quoted(new, QUOTED_INPUT),
                        quoted(name, QUOTED_INPUT),
                        quoted(app, QUOTED_INPUT)
                    ))
                    .hint("name the app once: `paas apps:rename OLD NEW`, or `paas apps:rename NEW -a OLD`")
                    .with_exit_code(2))
                }
                _ => self.app = Some(name.clone()),
            }
        }
        Ok(self)
    }
}

/// The visible command nearest to `typed` by edit distance, if near enough.
fn closest_command(typed: &str) -> Option<String> {
    // Nothing this long is within reach of a command's name, and the
    // distance costs its length times theirs.
    if typed.len() > 64 {
        return None;
    }
    let command = Cli::command();
    command
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| (edit_distance(typed, c.get_name()), c.get_name().to_string()))
        .filter(|(distance, name)| *distance <= 2.max(name.len() / 3))
        .min()
        .map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current.push(
                (previous[j] + cost)
                    .min(previous[j + 1] + 1)
                    .min(current[j] + 1),
            );
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_nearest_command() {
        assert_eq!(closest_command("ps:scal").as_deref(), Some("ps:scale"));
        assert_eq!(closest_command("confg:set").as_deref(), Some("config:set"));
        assert_eq!(
            closest_command("releases:rolback").as_deref(),
            Some("releases:rollback")
        );
        assert_eq!(closest_command("xyzzy"), None);
    }

    #[test]
    fn long_words_in_parse_errors_are_cut() {
        // #19, point 6: a 65 KB word was quoted back whole.
        let long = "x".repeat(65_000);
        // Cut at 200 characters, `--` included.
        let shown = format!("{}…", "x".repeat(198));
        for line in [
            vec![long.clone()],
            vec!["apps".into(), long.clone()],
            vec!["apps".into(), format!("--{long}")],
            vec!["builds".into(), "-n".into(), long.clone()],
        ] {
            let message = parse(line.clone())
                .expect_err("refused")
                .message()
                .to_string();
            assert!(message.len() < 1_000, "{} bytes", message.len());
            assert!(message.contains(&shown), "{message}");
        }
        let message = parse(vec!["frobnicate".into()]).err().unwrap();
        assert_eq!(message.message(), "`frobnicate` is not a paas command");
    }

    #[test]
    fn rename_takes_the_new_name_or_the_old_and_the_new() {
        let words = |line: &str| line.split(' ').map(String::from).collect::<Vec<_>>();
        let heroku = parse(words("apps:rename market -a shop")).unwrap();
        assert_eq!(heroku.app.as_deref(), Some("shop"));
        assert!(matches!(
            heroku.command,
            Command::AppsRename { ref name, new: None } if name == "market"
        ));
        let both = parse(words("apps:rename shop market")).unwrap();
        assert_eq!(both.app.as_deref(), Some("shop"));
        assert!(matches!(
            both.command,
            Command::AppsRename { ref name, new: Some(ref new) } if name == "shop" && new == "market"
        ));
        // The root alias, and `-a` naming the same app again.
        let alias = parse(words("rename shop market -a shop")).unwrap();
        assert_eq!(alias.app.as_deref(), Some("shop"));
        let clash = parse(words("-a other apps:rename shop market")).unwrap_err();
        assert_eq!(
            clash.message(),
            "`apps:rename shop market` renames `shop`, but `-a` (or `PAAS_APP`) names `other`"
        );
        assert!(parse(words("apps:rename")).is_err());
        assert!(parse(words("apps:rename a b c")).is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}

#[cfg(test)]
mod help_tests {
    use super::*;

    /// Every positional argument of every command says what it is (#21).
    #[test]
    fn every_positional_argument_is_described() {
        let mut missing = Vec::new();
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_positionals() {
                if arg.get_help().is_none() && !arg.is_hide_set() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                if !sub.is_hide_set() {
                    walk(sub, &format!("{path} {}", sub.get_name()), missing);
                }
            }
        }
        walk(&Cli::command(), "paas", &mut missing);
        assert!(
            missing.is_empty(),
            "positional arguments without help:\n{}",
            missing.join("\n")
        );
    }

    /// The commands people type most show examples, as Heroku's do.
    #[test]
    fn common_commands_show_examples() {
        let cli = Cli::command();
        for name in [
            "apps:create",
            "config:set",
            "ps:scale",
            "run",
            "logs",
            "releases:rollback",
            "addons:create",
            "domains:add",
            "access:add",
            "ps:exec",
            "apps:rename",
        ] {
            let command = cli.find_subcommand(name).expect(name);
            let after = command
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(after.starts_with("EXAMPLES:\n  $ paas "), "{name}: {after}");
        }
        // `--root` is for the server's own commands: not in an app command's help.
        let help = |words: &[&str]| {
            let words = std::iter::once("paas").chain(words.iter().copied());
            Cli::try_parse_from(words).unwrap_err().to_string()
        };
        let run = help(&["run", "--help"]);
        assert!(run.contains("--app") && !run.contains("--root"), "{run}");
        assert!(help(&["server", "--help"]).contains("--root DIR"));
    }
}
