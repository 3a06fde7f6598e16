//! `paas ssh-command --user NAME --key FINGERPRINT [--deploy APP]`: the
//! forced command of every SSH key. It runs git's pack commands on app
//! repos and paas commands, nothing else, and never starts a shell. What a
//! key may reach is checked here, before git or the command runs; changes
//! and refusals go to the audit trail.

use std::os::unix::process::CommandExt;
use std::process::Command as Process;

use super::{audit, dispatch, Ctx};
use crate::access::Caller;
use crate::access::{Action, Role};
use crate::apps;
use crate::cli::{AppUrlsCommand, BuildsCommand, Command};
use crate::error::{Error, Result, QUOTED_INPUT};
use crate::ssh::{self, SshRequest};
use crate::state::{self, AppDir, AppName, Root};

pub fn run(root: Root, caller: &Caller) -> Result<()> {
    // Unset only for a login that asked for no command: a shell.
    let Some(original) = std::env::var_os("SSH_ORIGINAL_COMMAND") else {
        return Err(
            Error::new("this SSH account runs paas commands only; no shell is offered")
                .hint("try `ssh paas@HOST help`, or `git push` to `paas@HOST:APP`"),
        );
    };
    let request = ssh::command_text(&original)
        .and_then(ssh::parse_request)
        .map_err(|err| {
            Error::new(format!("refused: {err}"))
                .hint("send a paas command (`ps -a APP`) or use `git push`")
        })?;
    // Fails clearly when nothing is installed at this root.
    root.settings()?;
    let user = caller.user.as_str();
    let admin = caller.deploy.is_none() && crate::keys::Registry::load(&root)?.is_admin(user);
    let refused = |app: &AppName, what: &str, err: Error| {
        audit::record_refusal(&root, caller, Some(app.as_str()), what, &err);
        err
    };
    if let SshRequest::GitReceivePack(app) = &request {
        // Before git writes anything: a push that would fill the disk midway
        // is refused whole.
        if let Some(err) = crate::prune::short_of_space(&root, &root.settings()?) {
            return Err(refused(app, "git push", err));
        }
    }
    match request {
        SshRequest::GitReceivePack(app) if root.app(&app).exists() => {
            let dir = usable_app(&root, &app, caller, admin)
                .map_err(|err| refused(&app, "git push", err))?;
            exec_git("git-receive-pack", &root, caller, &dir.repo())
        }
        SshRequest::GitReceivePack(app) if caller.deploy.is_some() => {
            // A deploy key pushes to its app, which it never makes.
            Err(refused(&app, "git push", state::no_such_app(&app)))
        }
        SshRequest::GitReceivePack(app) => {
            let push = apps::FirstPush::start(&root, &app)?;
            let status = git_command("git-receive-pack", &root, caller, &push.repo())
                .status()
                .map_err(|err| Error::unexpected("could not run `git-receive-pack`").cause(err));
            // Whatever git did: a repository no app came of goes.
            push.finish()?;
            match status?.code() {
                Some(0) => Ok(()),
                code => Err(Error::exit(code.unwrap_or(1).clamp(1, 255) as u8)),
            }
        }
        SshRequest::GitUploadPack(app) => {
            let dir = match &caller.deploy {
                Some(_) => Err(deploy_key_refusal(caller)),
                None => usable_app(&root, &app, caller, admin),
            }
            .map_err(|err| refused(&app, "git fetch", err))?;
            exec_git("git-upload-pack", &root, caller, &dir.repo())
        }
        SshRequest::Paas(words) => {
            // The root comes from the forced command, never from the client.
            for (first, _) in crate::cli::global_option_words(&words) {
                let word = &words[first];
                if word == "--root" || word.starts_with("--root=") {
                    return Err(Error::new("refused: `--root` cannot be set over SSH"));
                }
            }
            let cli = match crate::cli::parse(words.clone()) {
                Ok(cli) => cli,
                Err(err) if err.exit_code() == 0 => return Ok(()),
                Err(err) => return Err(err),
            };
            let said = audit::redact(&words);
            let app = cli.app.clone();
            let check = if !allowed_over_ssh(&cli.command) {
                Err(Error::new(
                    "refused: that command runs only on the server itself, as root",
                ))
            } else if caller.deploy.is_some() && !deploy_key_may(caller, &cli.command, &app) {
                Err(deploy_key_refusal(caller))
            } else {
                Ok(())
            };
            if let Err(err) = check {
                audit::record_refusal(&root, caller, app.as_deref(), &said, &err);
                return Err(err);
            }
            std::env::set_var("PAAS_USER", user);
            crate::output::set_color(cli.color);
            let mut ctx = Ctx::load(root, cli.app)?;
            // A deploy key reads its own app's builds, whoever added it.
            ctx.admin = admin || caller.deploy.is_some();
            ctx.over_ssh = true;
            let changes = audit::changes_something(&cli.command);
            let renamed_to = audit::renames_to(&cli.command);
            // Whatever a command quotes of its arguments, at most this much
            // goes back (#19, point 6).
            let result =
                dispatch(&ctx, cli.command).map_err(|err| err.with_quotes_cut(QUOTED_INPUT));
            let app = audit::app_recorded(app, renamed_to, &result);
            audit::record(&ctx.root, caller, app.as_deref(), &said, changes, &result);
            result
        }
    }
}

/// The app a push or fetch names, if the caller may use it: answered as
/// for an app that does not exist otherwise.
fn usable_app(root: &Root, name: &AppName, caller: &Caller, admin: bool) -> Result<AppDir> {
    let app = root.app(name).require()?;
    let may = match &caller.deploy {
        Some(only) => only == name.as_str(),
        None => Role::of(&caller.user, admin, &app.settings()?).allows(Action::Use),
    };
    if may {
        Ok(app)
    } else {
        Err(state::no_such_app(name))
    }
}

/// What a deploy key may run besides its push: its app's builds.
fn deploy_key_may(caller: &Caller, command: &Command, app: &Option<String>) -> bool {
    matches!(
        command,
        Command::Builds(BuildsCommand::List { .. } | BuildsCommand::Output { .. })
    ) && app.is_some()
        && *app == caller.deploy
}

fn deploy_key_refusal(caller: &Caller) -> Error {
    Error::new(format!(
        "refused: this is a deploy key for `{}`: it may only push to it and read its builds",
        caller.deploy.as_deref().unwrap_or_default()
    ))
}

fn allowed_over_ssh(command: &Command) -> bool {
    !matches!(
        command,
        Command::Server(_) | Command::Internal(_) | Command::AppUrls(AppUrlsCommand::GitRemote)
    )
}

/// Replaces this process with git's pack command on the app's repo.
fn exec_git(program: &str, root: &Root, caller: &Caller, repo: &std::path::Path) -> Result<()> {
    let err = git_command(program, root, caller, repo).exec();
    Err(Error::unexpected(format!("could not run `{program}`")).cause(err))
}

/// git's pack command on a repo, with what the hooks it runs need to know:
/// who pushes (the new app's owner, the release's user, the audit trail's).
fn git_command(program: &str, root: &Root, caller: &Caller, repo: &std::path::Path) -> Process {
    let mut command = Process::new(program);
    command
        .arg(repo)
        .env("PAAS_USER", &caller.user)
        .env("PAAS_KEY", &caller.key)
        .env("PAAS_ROOT", &root.path);
    command
}
