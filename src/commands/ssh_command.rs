//! `paas ssh-command --user NAME`: the forced command of every SSH key.
//! It runs git's pack commands on app repos and paas commands, nothing else,
//! and never starts a shell.

use std::os::unix::process::CommandExt;
use std::process::Command as Process;

use super::{apps, dispatch, Ctx};
use crate::access::{Action, Role};
use crate::cli::Command;
use crate::error::{Error, Result, QUOTED_INPUT};
use crate::ssh::{self, SshRequest};
use crate::state::{self, AppDir, AppName, Root};

pub fn run(root: Root, user: &str) -> Result<()> {
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
    let admin = crate::keys::Registry::load(&root)?.is_admin(user);
    match request {
        SshRequest::GitReceivePack(app) if root.app(&app).exists() => {
            let app = usable_app(&root, &app, user, admin)?;
            exec_git("git-receive-pack", &root, user, &app.repo())
        }
        SshRequest::GitReceivePack(app) => {
            let push = apps::FirstPush::start(&root, &app)?;
            let status = git_command("git-receive-pack", &root, user, &push.repo())
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
            let app = usable_app(&root, &app, user, admin)?;
            exec_git("git-upload-pack", &root, user, &app.repo())
        }
        SshRequest::Paas(words) => {
            // The root comes from the forced command, never from the client.
            for (first, _) in crate::cli::global_option_words(&words) {
                let word = &words[first];
                if word == "--root" || word.starts_with("--root=") {
                    return Err(Error::new("refused: `--root` cannot be set over SSH"));
                }
            }
            let cli = match crate::cli::parse(words) {
                Ok(cli) => cli,
                Err(err) if err.exit_code() == 0 => return Ok(()),
                Err(err) => return Err(err),
            };
            if !allowed_over_ssh(&cli.command) {
                return Err(Error::new(
                    "refused: that command runs only on the server itself, as root",
                ));
            }
            std::env::set_var("PAAS_USER", user);
            crate::output::set_color(cli.color);
            let mut ctx = Ctx::load(root, cli.app)?;
            ctx.admin = admin;
            ctx.over_ssh = true;
            // Whatever a command quotes of its arguments, at most this much
            // goes back (#19, point 6).
            dispatch(&ctx, cli.command).map_err(|err| err.with_quotes_cut(QUOTED_INPUT))
        }
    }
}

/// The app a push or fetch names, if `user` may use it: checked before git
/// runs, and answered as for an app that does not exist otherwise.
fn usable_app(root: &Root, name: &AppName, user: &str, admin: bool) -> Result<AppDir> {
    let app = root.app(name).require()?;
    if Role::of(user, admin, &app.settings()?).allows(Action::Use) {
        Ok(app)
    } else {
        Err(state::no_such_app(name))
    }
}

fn allowed_over_ssh(command: &Command) -> bool {
    !matches!(
        command,
        Command::Server(_)
            | Command::Daemon
            | Command::DynoConnector { .. }
            | Command::SshCommand { .. }
            | Command::Hook { .. }
            | Command::GitRemote
    )
}

/// Replaces this process with git's pack command on the app's repo.
fn exec_git(program: &str, root: &Root, user: &str, repo: &std::path::Path) -> Result<()> {
    let err = git_command(program, root, user, repo).exec();
    Err(Error::unexpected(format!("could not run `{program}`")).cause(err))
}

/// git's pack command on a repo, with what the hooks it runs need to know.
fn git_command(program: &str, root: &Root, user: &str, repo: &std::path::Path) -> Process {
    let mut command = Process::new(program);
    command
        .arg(repo)
        .env("PAAS_USER", user)
        .env("PAAS_ROOT", &root.path);
    command
}
