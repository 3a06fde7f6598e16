//! The CLI's commands, one file per topic: `dispatch` hands each topic's
//! commands (`cli::PsCommand`, …) to its file's `run`, which matches them
//! to what they call; `run` first takes the ones that never reach an app
//! (server, completions, `local`) and forwards a laptop's to its server.

mod access;
mod addon_lookup;
mod addons;
mod apps;
mod audit;
mod buildpacks;
mod builds;
mod certs;
mod checks;
mod config;
mod config_edit;
mod cron;
mod dashboard;
mod deploy;
mod domains;
mod drains;
mod forward;
mod keys;
mod kubernetes;
mod local;
mod logs;
mod maintenance;
mod metrics;
mod pg;
mod pg_stats;
mod pg_transfer;
mod ps;
mod ps_exec;
mod redis;
mod releases;
mod run;
mod server;
mod server_status;
mod ssh_command;
mod storage;
mod webhooks;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command as Process;

use crate::access::{Action, Role};
use crate::cli::{
    CertsCommand, Cli, Command, DocsCommand, InternalCommand, KeysCommand, LocalCommand,
};
use crate::converge::Platform;
use crate::error::{Error, Result};
use crate::runtime::podman::Podman;
use crate::state::{self, AppDir, AppName, Root, Settings};

/// What every app command needs: the install and who is asking.
pub struct Ctx {
    pub root: Root,
    pub settings: Settings,
    /// The key's user over SSH, else the unix user.
    pub user: String,
    /// May manage everyone's keys: an admin key over SSH, or anyone on the
    /// server itself (they own the machine already).
    pub admin: bool,
    /// Arrived through `ssh-command`: server paths are not the caller's to name.
    pub over_ssh: bool,
    app: Option<String>,
}

impl Ctx {
    pub fn load(root: Root, app: Option<String>) -> Result<Ctx> {
        let settings = root.settings()?;
        let user = std::env::var("PAAS_USER")
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "admin".into());
        Ok(Ctx {
            root,
            settings,
            user,
            admin: true,
            over_ssh: false,
            app,
        })
    }

    /// The app named by `-a`, which must exist and which the user may use
    /// (`access`): the one way commands reach an app.
    pub fn app(&self) -> Result<AppDir> {
        self.app_for(Action::Use)
    }

    /// The app named by `-a`, for what only its owner or an admin does.
    pub fn owned_app(&self) -> Result<AppDir> {
        self.app_for(Action::Own)
    }

    fn app_for(&self, action: Action) -> Result<AppDir> {
        let name = self.app_name()?;
        let app = self.root.app(&name).require()?;
        let role = self.role(&app)?;
        if !role.sees() {
            return Err(state::no_such_app(&name));
        }
        if !role.allows(action) {
            return Err(Error::new(format!(
                "only the owner of `{name}` or an admin may do that; you are a {}",
                role.name()
            ))
            .hint(format!("`paas access -a {name}` shows who owns it")));
        }
        Ok(app)
    }

    /// What the user is to `app`.
    pub fn role(&self, app: &AppDir) -> Result<Role> {
        Ok(Role::of(&self.user, self.admin, &app.settings()?))
    }

    /// What the user is to the app named `name`, which may not exist (an
    /// add-on's app may be gone): then an admin is an admin, anyone else a
    /// stranger.
    pub fn role_in(&self, name: &str) -> Role {
        match AppName::parse(name).map(|n| self.root.app(&n)) {
            Ok(app) if app.exists() => self.role(&app).unwrap_or(Role::Stranger),
            _ if self.admin => Role::Admin,
            _ => Role::Stranger,
        }
    }

    /// Whether `-a` was given (or inferred): listings then show one app's part.
    pub fn app_given(&self) -> bool {
        self.app.is_some()
    }

    pub fn app_name(&self) -> Result<AppName> {
        let Some(name) = &self.app else {
            return Err(Error::new("no app given")
                .hint("name it with `-a APP`; `paas apps` lists the apps"));
        };
        AppName::parse(name).map_err(|err| Error::new(err.to_string()))
    }

    pub fn runtime(&self) -> Podman {
        Podman::for_install(&self.root, &self.settings)
    }

    pub fn platform<'a>(&'a self, runtime: &'a Podman) -> Platform<'a> {
        Platform {
            root: &self.root,
            settings: &self.settings,
            runtime,
        }
    }
}

/// Heroku's confirmation of what cannot be undone: the `--confirm NAME`
/// given, else, on a terminal (the laptop's, over SSH), the name typed at a
/// prompt. `None` without either: the caller refuses and says how to confirm.
pub fn confirmation(confirm: Option<&str>, expected: &str, warning: &str) -> Option<String> {
    use std::io::{BufRead, IsTerminal, Write};
    if let Some(given) = confirm {
        return Some(given.to_string());
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return None;
    }
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        " !    WARNING: {warning}\n !    To proceed, type {expected} or re-run this command with --confirm {expected}\n\n> "
    );
    let _ = err.flush();
    let mut typed = String::new();
    std::io::stdin().lock().read_line(&mut typed).ok()?;
    Some(typed.trim().to_string())
}

/// Runs a parsed command line; `args` are the words after `paas`, for
/// forwarding to a server.
pub fn run(cli: Cli, args: &[String]) -> Result<()> {
    crate::output::set_color(cli.color);
    let root = Root::new(&cli.root);
    match cli.command {
        Command::Server(command) => server::run(root, command),
        Command::Internal(InternalCommand::SshCommand { user, key, deploy }) => ssh_command::run(
            root,
            &crate::access::Caller {
                user,
                key: key.unwrap_or_default(),
                deploy,
            },
        ),
        // In podman's user namespace, where it is "root": needs no install.
        Command::Internal(InternalCommand::DynoConnector { socket }) => {
            crate::runtime::netns::serve_helper(&socket)
        }
        // Printed by this binary, wherever it runs.
        Command::Docs(DocsCommand::Completions { shell }) => {
            crate::completion::print_registration(shell)
        }
        Command::Docs(DocsCommand::Manpage) => crate::docs::manpage(),
        // On the laptop, in the app's repository: never sent to a server.
        Command::Local(LocalCommand::Start(args)) => local::start(&args),
        Command::Local(LocalCommand::Run(args)) => local::run(&args),
        command => {
            if let Some(server) = crate::client::server_for(cli.remote.as_deref(), &root)? {
                return forward::run(&server, cli.app, &command, args);
            }
            if is_root_user() {
                return reexec_as_owner(&root, &command, args);
            }
            let app = cli.app.clone();
            let ctx = Ctx::load(root, cli.app)?;
            // The daemon runs for ever, and a push's hook records itself.
            if matches!(
                command,
                Command::Internal(InternalCommand::Daemon)
                    | Command::Internal(InternalCommand::Hook { .. })
            ) {
                return dispatch(&ctx, command);
            }
            let changes = audit::changes_something(&command);
            let renamed_to = audit::renames_to(&command);
            let result = dispatch(&ctx, command);
            let caller = crate::access::Caller {
                user: ctx.user.clone(),
                key: String::new(),
                deploy: None,
            };
            let said = audit::redact(args);
            let app = audit::app_recorded(app, renamed_to, &result);
            audit::record(&ctx.root, &caller, app.as_deref(), &said, changes, &result);
            result
        }
    }
}

/// Runs one app or platform command as the install's owner.
pub fn dispatch(ctx: &Ctx, command: Command) -> Result<()> {
    match command {
        Command::Apps(command) => apps::run(ctx, command),
        Command::Audit(command) => audit::run(ctx, command),
        Command::Dashboard(command) => dashboard::run(ctx, command),
        Command::Access(command) => access::run(ctx, command),
        Command::AppUrls(command) => apps::run_urls(ctx, command),
        Command::Config(command) => config::run(ctx, command),
        Command::Ps(command) => ps::run(ctx, command),
        Command::PsExec(command) => ps_exec::run(ctx, command),
        Command::Run(command) => run::run(ctx, command),
        Command::Cron(command) => cron::run(ctx, command),
        Command::Builds(command) => builds::run(ctx, command),
        Command::Buildpacks(command) => buildpacks::run(ctx, command),
        Command::Releases(command) => releases::run(ctx, command),
        Command::Kubernetes(command) => kubernetes::run(ctx, command),
        Command::Logs(command) => logs::run(ctx, command),
        Command::Metrics(command) => metrics::run(ctx, command),
        Command::Domains(command) => domains::run(ctx, command),
        Command::Certs(command) => certs::run(ctx, command),
        Command::Checks(command) => checks::run(ctx, command),
        Command::CertsAuto(command) => certs::run_auto(ctx, command),
        Command::Maintenance(command) => maintenance::run(ctx, command),
        Command::Drains(command) => drains::run(ctx, command),
        Command::Webhooks(command) => webhooks::run(ctx, command),
        Command::Addons(command) => addons::run(ctx, command),
        Command::Storage(command) => storage::run(ctx, command),
        Command::Pg(command) => pg::run(ctx, command),
        Command::PgStats(command) => pg_stats::run(ctx, command),
        Command::Redis(command) => redis::run(ctx, command),
        Command::Keys(command) => keys::run(ctx, command),
        Command::Internal(InternalCommand::Daemon) => crate::daemon::run(ctx.root.clone()),
        Command::Internal(InternalCommand::Hook { name }) => deploy::hook(ctx, &name),
        Command::Docs(DocsCommand::Completions { shell }) => {
            crate::completion::print_registration(shell)
        }
        Command::Docs(DocsCommand::Manpage) => crate::docs::manpage(),
        // Reached over SSH only: it would run commands on the server.
        Command::Local(_) => Err(Error::new(
            "`local` and `local:run` run on your machine, in the app's repository, never on a server",
        )),
        Command::Server(_)
        | Command::Internal(
            InternalCommand::SshCommand { .. } | InternalCommand::DynoConnector { .. },
        ) => Err(Error::unexpected(
            "server commands are dispatched before this point",
        )),
    }
}

fn is_root_user() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// The files a command names that root reads for the owner, and their text,
/// checked before it goes into a pipe nobody reads yet (and must fit in it).
fn files_for_stdin(command: &Command) -> Result<Option<(Vec<PathBuf>, String)>> {
    let read = |file: &PathBuf| {
        std::fs::read_to_string(file)
            .map_err(|err| Error::new(format!("cannot read `{}`", file.display())).cause(err))
    };
    match command {
        Command::Keys(KeysCommand::Add {
            file: Some(file), ..
        }) => {
            let text = read(file)?;
            if text.len() > 16 * 1024 || crate::ssh::parse_public_key(&text).is_err() {
                return Err(
                    Error::new(format!("`{}` is not an SSH public key", file.display()))
                        .hint("pass the `.pub` file, such as `~/.ssh/id_ed25519.pub`"),
                );
            }
            Ok(Some((vec![file.clone()], text)))
        }
        Command::Certs(CertsCommand::Add {
            cert: Some(cert),
            key: Some(key),
        }) => {
            let text = format!("{}\n{}", read(cert)?, read(key)?);
            crate::certs::check(&text)?;
            Ok(Some((vec![cert.clone(), key.clone()], text)))
        }
        _ => Ok(None),
    }
}

/// root runs app commands as the install's owner, so files and containers
/// always belong to one unprivileged user.
fn reexec_as_owner(root: &Root, command: &Command, args: &[String]) -> Result<()> {
    let settings = root.settings()?;
    let home = crate::users::user_home(&settings.user)?;
    let mut args = args.to_vec();
    let mut process = Process::new("runuser");
    // The owner runs in `/` and may not read root's files: files named here
    // are read now and handed over on stdin instead.
    if let Some((files, text)) = files_for_stdin(command)? {
        let (reader, mut writer) =
            std::io::pipe().map_err(|err| Error::unexpected("creating a pipe").cause(err))?;
        use std::io::Write as _;
        writer
            .write_all(text.as_bytes())
            .map_err(|err| Error::unexpected("passing the file on").cause(err))?;
        drop(writer);
        for file in files {
            let file = file.display().to_string();
            if let Some(at) = args.iter().rposition(|a| *a == file) {
                args.remove(at);
            }
        }
        process.stdin(reader);
    }
    let err = process
        .args(["-u", &settings.user, "--"])
        .arg(root.bin())
        .args(&args)
        .env("HOME", home)
        .env("PAAS_ROOT", &root.path)
        .env_remove("XDG_RUNTIME_DIR")
        .current_dir("/")
        .exec();
    Err(Error::unexpected(format!("could not run as `{}`", settings.user)).cause(err))
}

/// Heroku's time format: `2026/11/21 10:00:00 +0000 (~ 5m ago)`.
pub fn heroku_time(unix_seconds: i64) -> String {
    let Ok(time) = time::OffsetDateTime::from_unix_timestamp(unix_seconds) else {
        return "unknown".into();
    };
    let format =
        time::macros::format_description!("[year]/[month]/[day] [hour]:[minute]:[second] +0000");
    let stamp = time.format(&format).unwrap_or_default();
    let ago = (time::OffsetDateTime::now_utc() - time)
        .whole_seconds()
        .max(0);
    let ago = match ago {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    };
    format!("{stamp} (~ {ago} ago)")
}

/// `heroku_time` of a time as records store it (RFC 3339).
pub fn heroku_time_from_rfc3339(text: &str) -> String {
    // A stored time that does not parse shows as the epoch, as it always has.
    heroku_time(crate::clock::rfc3339_to_unix(text).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every way a command reaches an app by name other than `Ctx::app`
    /// and `Ctx::owned_app`, which check access (#20), and why it may.
    const UNCHECKED: &[(&str, &str, &str)] = &[
        (
            "apps.rs",
            "let settings = ctx.root.app(name).settings();",
            "the listing, filtered by role",
        ),
        (
            "apps.rs",
            "let release = Ledger::new(&ctx.root.app(name)).current()?;",
            "the listing's rows, filtered above",
        ),
        (
            "apps.rs",
            "let name = match name.or_else(|| ctx.app_name()",
            "apps:create's name",
        ),
        (
            "deploy.rs",
            "let app = root.app(name);",
            "the hook: the push was checked by ssh-command before git ran",
        ),
        (
            "domains.rs",
            "let domains = ctx.root.app(&other).settings()?.domains;",
            "a taken domain; another user's app is not named",
        ),
        (
            "domains.rs",
            ".map(|name| ctx.root.app(name))",
            "domains:set-global (admins only)",
        ),
        (
            "pg.rs",
            "&ctx.root.app(&attached),",
            "a rotated password reaches every app the database is attached to",
        ),
        (
            "ssh_command.rs",
            "SshRequest::GitReceivePack(app) if root.app(&app).exists() => {",
            "then checked by `usable_app`",
        ),
        (
            "ssh_command.rs",
            "let app = root.app(name).require()?;",
            "`usable_app`, the check for git",
        ),
        (
            "server_status.rs",
            "let app = root.app(&name);",
            "server status, as root on the server: each app's disk use",
        ),
    ];

    #[test]
    fn commands_reach_apps_only_through_the_access_check() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands");
        let mut unexplained = Vec::new();
        let list = |dir: &std::path::Path| -> Vec<std::path::PathBuf> {
            let entries = std::fs::read_dir(dir).unwrap();
            entries.map(|entry| entry.unwrap().path()).collect()
        };
        let mut paths = list(&dir);
        // A command grown into a folder (`local/`): its files too.
        for folder in paths.clone().iter().filter(|path| path.is_dir()) {
            paths.extend(list(folder));
        }
        for path in paths.into_iter().filter(|path| path.is_file()) {
            let file = path
                .strip_prefix(&dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if file == "mod.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests make apps as they like.
            let code = text.split("#[cfg(test)]").next().unwrap();
            for line in code.lines().map(str::trim) {
                let reaches = line.contains("root.app(") || line.contains(".app_name()");
                let explained = UNCHECKED
                    .iter()
                    .any(|(f, shape, _)| *f == file && line.starts_with(shape));
                if reaches && !explained {
                    unexplained.push(format!("{file}: {line}"));
                }
            }
        }
        assert!(
            unexplained.is_empty(),
            "commands reaching an app without `ctx.app()`: use it, or explain the line in UNCHECKED:\n{}",
            unexplained.join("\n")
        );
    }

    #[test]
    fn heroku_time_shape() {
        let text = heroku_time(1_795_300_000);
        assert!(text.starts_with("2026/11/21 "), "{text}");
        assert!(text.contains(" +0000 (~ "), "{text}");
    }
}
