//! A command typed on a laptop, run on a server: what a command does on
//! this side (`apps:create` and `git:remote` point the `deploy` remote,
//! `keys:add` and `certs:add` read and check local files) and how its
//! streams are wired. `client` reaches the server and knows no command;
//! this is the part that knows them.

use std::io::IsTerminal;
use std::process::Stdio;

use super::config_edit::{document, edit_in_editor, parse_document, Patch};
use crate::cli::{
    AddonsCommand, AppUrlsCommand, AppsCommand, CertsCommand, Command, ConfigCommand,
    DashboardCommand, KeysCommand, KubernetesCommand, LogsCommand, PgCommand, PsExecCommand,
    RedisCommand, RunCommand, StorageCommand,
};
use crate::client::{self, Io, Server};
use crate::error::{Error, Result};

/// Runs a command on `server`. `args` are the words after `paas` as typed.
pub fn run(server: &Server, app: Option<String>, command: &Command, args: &[String]) -> Result<()> {
    let mut words = vec![format!("--color={}", local_color())];
    // `-a` typed by the user is forwarded with the other arguments; an app
    // from `PAAS_APP` or the `deploy` remote is added to them.
    let typed = crate::cli::global_option_words(args).iter().any(|(i, _)| {
        let word = &args[*i];
        word == "-a" || word == "--app" || word.starts_with("--app=")
    });
    let inferred_app = match typed {
        true => None,
        false => app.clone().or_else(|| server.app.clone()),
    };
    match command {
        Command::Apps(AppsCommand::Create { name }) => {
            words.extend(strip_client_options(args));
            let stdout = client::call(server, &words, Io::Tee)?;
            let name = name.clone().or_else(|| client::created_app_name(&stdout));
            match name {
                Some(name) if client::in_git_repo() => {
                    client::add_deploy_remote(server, &name, false)
                }
                _ => Ok(()),
            }
        }
        Command::Apps(AppsCommand::Rename { name, new }) => {
            let Some(old) = app.or(inferred_app.clone()) else {
                return Err(
                    Error::new("no app given").hint("name it: `paas apps:rename NEWNAME -a APP`")
                );
            };
            if let Some(inferred) = inferred_app {
                words.push(format!("--app={inferred}"));
            }
            words.extend(strip_client_options(args));
            client::call(server, &words, Io::Plain)?;
            let new = new.as_deref().unwrap_or(name);
            if client::in_git_repo() {
                repoint_remotes(server, &old, new)?;
            }
            crate::say!(
                " !    Don't forget to update git remotes for all other local checkouts of the app: \
                 paas git:remote -a {new}"
            );
            Ok(())
        }
        Command::AppUrls(AppUrlsCommand::GitRemote) => {
            let Some(app) = app.or(inferred_app) else {
                return Err(Error::new("no app given").hint("name it with `-a APP`"));
            };
            if !client::in_git_repo() {
                return Err(Error::new("this directory is not in a git repository")
                    .hint("run it in a clone of your app, or `git init` first"));
            }
            // Fails with the server's own message when the app is unknown.
            words.extend([format!("--app={app}"), "apps:info".into()]);
            client::call(server, &words, Io::Quiet)?;
            client::add_deploy_remote(server, &app, true)
        }
        Command::Keys(KeysCommand::Add {
            file,
            user,
            admin,
            deploy,
        }) => {
            let (path, key) = client::read_public_key(file.as_deref())?;
            // Checked here too, so a private key never leaves the laptop.
            crate::ssh::parse_public_key(&key).map_err(|reason| {
                Error::new(format!(
                    "`{}` is not an SSH public key: {reason}",
                    path.display()
                ))
                .hint("send the `.pub` file, such as `~/.ssh/id_ed25519.pub`")
            })?;
            crate::say!("Uploading {} to {}", path.display(), server.host);
            words.push("keys:add".into());
            if let Some(user) = user {
                words.push(format!("--user={user}"));
            }
            if *admin {
                words.push("--admin".into());
            }
            if *deploy {
                words.push("--deploy".into());
            }
            client::call(server, &words, Io::Stdin(key)).map(drop)
        }
        Command::PsExec(PsExecCommand::Copy { path, dyno, output }) => {
            let Some(app) = app.or(inferred_app) else {
                return Err(Error::new("no app given").hint("name it with `-a APP`"));
            };
            words.extend([format!("--app={app}"), "ps:copy".into(), path.clone()]);
            words.extend(["-d".into(), dyno.clone()]);
            copy_to_file(server, &words, path, output.as_deref())
        }
        Command::PsExec(PsExecCommand::Forward {
            port,
            dyno,
            local_port,
        }) => {
            let Some(app) = app.or(inferred_app) else {
                return Err(Error::new("no app given").hint("name it with `-a APP`"));
            };
            words.extend([
                format!("--app={app}"),
                "ps:connect".into(),
                port.to_string(),
            ]);
            words.extend(["-d".into(), dyno.clone()]);
            let listener = super::ps_exec::listen(local_port.unwrap_or(*port))?;
            crate::say!(
                "Forwarding 127.0.0.1:{} to port {port} of {dyno} on {app}; Ctrl-C stops",
                local_port.unwrap_or(*port)
            );
            for client in listener.incoming().flatten() {
                let mut ssh = client::spawn_stream(server, &words)?;
                let (Some(mut to_dyno), Some(mut from_dyno)) =
                    (ssh.stdin.take(), ssh.stdout.take())
                else {
                    continue;
                };
                let (Ok(mut reader), Ok(mut writer)) = (client.try_clone(), client.try_clone())
                else {
                    continue;
                };
                std::thread::spawn(move || {
                    super::ps_exec::pump(&mut reader, &mut to_dyno);
                    drop(to_dyno);
                });
                std::thread::spawn(move || {
                    super::ps_exec::pump(&mut from_dyno, &mut writer);
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    let _ = ssh.wait();
                });
            }
            Ok(())
        }
        Command::Pg(PgCommand::Pull { database, local }) => {
            let Some(app) = app.or(inferred_app) else {
                return Err(Error::new("no app given").hint("name it with `-a APP`"));
            };
            words.extend([format!("--app={app}"), "pg:dump".into(), database.clone()]);
            super::pg_transfer::pull(database, local, || {
                client::spawn_with(server, &words, Stdio::null(), Stdio::piped())
                    .map(super::pg_transfer::Remote::Ssh)
            })
        }
        Command::Pg(PgCommand::Push { local, database }) => {
            let Some(app) = app.or(inferred_app) else {
                return Err(Error::new("no app given").hint("name it with `-a APP`"));
            };
            words.extend([format!("--app={app}"), "pg:load".into(), database.clone()]);
            super::pg_transfer::push(local, database, || {
                client::spawn_with(server, &words, Stdio::piped(), Stdio::null())
                    .map(super::pg_transfer::Remote::Ssh)
            })
        }
        Command::Config(ConfigCommand::Edit) => {
            let Some(app) = app.or(inferred_app) else {
                return Err(Error::new("no app given").hint("name it with `-a APP`"));
            };
            // The editor runs here, on what the server has; only the change
            // goes back, so a var changed meanwhile by someone else stays.
            let mut get = words.clone();
            get.extend([format!("--app={app}"), "config".into(), "--json".into()]);
            let json = client::call(server, &get, Io::Quiet)?;
            let before: std::collections::BTreeMap<String, String> = serde_json::from_str(&json)
                .map_err(|err| Error::unexpected("reading the config vars").cause(err))?;
            let edited = edit_in_editor(&document(&app, &before), &app)?;
            let patch = Patch::between(&before, &parse_document(&edited)?);
            if patch.is_empty() {
                crate::say!("No changes to config vars of {app}.");
                return Ok(());
            }
            words.extend([format!("--app={app}"), "config:edit".into()]);
            client::call(server, &words, Io::Stdin(patch.text())).map(drop)
        }
        Command::Certs(CertsCommand::Add {
            cert: Some(cert),
            key: Some(key),
        }) => {
            let Some(app) = app.or(inferred_app) else {
                return Err(Error::new("no app given").hint("name it with `-a APP`"));
            };
            let read = |file: &std::path::Path| {
                std::fs::read_to_string(file).map_err(|err| {
                    Error::new(format!("cannot read `{}`", file.display())).cause(err)
                })
            };
            let bundle = format!("{}\n{}", read(cert)?, read(key)?);
            crate::certs::check(&bundle)?;
            words.extend([format!("--app={app}"), "certs:add".into()]);
            client::call(server, &words, Io::Stdin(bundle)).map(drop)
        }
        Command::Dashboard(DashboardCommand::Open { print_url }) => {
            // The server makes the link for the SSH user; this side opens it.
            if let Some(app) = inferred_app {
                words.push(format!("--app={app}"));
            }
            words.extend(strip_client_options(args));
            if !*print_url {
                words.push("--print-url".into());
            }
            let url = client::call(server, &words, Io::Quiet)?;
            super::dashboard::show_link(url.trim(), *print_url);
            Ok(())
        }
        _ => {
            if let Some(app) = inferred_app {
                words.push(format!("--app={app}"));
            }
            words.extend(strip_client_options(args));
            let on_terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
            let io = match command {
                Command::Config(ConfigCommand::Set { pairs })
                    if pairs.is_empty() && std::io::stdin().is_terminal() =>
                {
                    return Err(Error::new("no config vars given").hint(
                        "set them with `paas config:set KEY=value …`, or pipe `KEY=value` lines in",
                    ))
                }
                Command::Storage(StorageCommand::Restore { name, .. })
                    if std::io::stdin().is_terminal() =>
                {
                    return Err(Error::new("no backup on stdin").hint(format!(
                        "pipe one in: `paas storage:restore {name} --confirm {name} < {name}.tar.zst`"
                    )))
                }
                Command::Storage(StorageCommand::Backup { name }) => {
                    if std::io::stdout().is_terminal() {
                        return Err(
                            Error::new("a backup is binary: it would garble the terminal").hint(
                                format!(
                                    "redirect it to a file: `paas storage:backup {name} > {name}.tar.zst`"
                                ),
                            ),
                        );
                    }
                    Io::Download
                }
                Command::Pg(PgCommand::BackupsDownload { .. } | PgCommand::Dump { .. }) => {
                    if std::io::stdout().is_terminal() {
                        return Err(Error::new("a dump is binary: it would garble the terminal")
                            .hint(
                                "redirect it to a file: `paas pg:backups:download > latest.dump`",
                            ));
                    }
                    Io::Download
                }
                _ if needs_terminal(command) && on_terminal => Io::Terminal,
                _ if reads_stdin(command) => Io::Inherit,
                _ => Io::Plain,
            };
            client::call(server, &words, io).map(drop)
        }
    }
}

/// After a rename, as Heroku's CLI does: this repository's git remotes
/// that point at the old app on this server point at the new one.
fn repoint_remotes(server: &Server, old: &str, new: &str) -> Result<()> {
    for (remote, url) in client::git_remotes() {
        let points_at_old = Server::parse(&url, "").is_some_and(|s| {
            s.app.as_deref() == Some(old)
                && (&s.user, &s.host, s.port) == (&server.user, &server.host, server.port)
        });
        if points_at_old {
            client::set_git_remote_url(&remote, &server.git_url(new))?;
            crate::say!("Git remote {remote} updated");
        }
    }
    Ok(())
}

/// `ps:copy`'s bytes into `output` (default: the file's name, here; `-`:
/// stdout), never over a file that is there.
fn copy_to_file(
    server: &Server,
    words: &[String],
    path: &str,
    output: Option<&std::path::Path>,
) -> Result<()> {
    let target = match output {
        Some(p) if p == std::path::Path::new("-") => {
            return client::call(server, words, Io::Download).map(drop)
        }
        Some(p) => p.to_path_buf(),
        None => std::path::Path::new(path)
            .file_name()
            .map(std::path::PathBuf::from)
            .ok_or_else(|| Error::new(format!("`{path}` names no file")))?,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)
        .map_err(|err| {
            Error::new(format!("cannot write `{}`", target.display()))
                .cause(err)
                .hint("name another file with `-o FILE`")
        })?;
    let mut ssh = client::spawn_stream(server, words)?;
    drop(ssh.stdin.take());
    let copied = std::io::copy(ssh.stdout.as_mut().expect("piped"), &mut file);
    let status = ssh
        .wait()
        .map_err(|err| Error::unexpected("waiting for `ssh`").cause(err))?;
    if !status.success() || copied.is_err() {
        let _ = std::fs::remove_file(&target);
        return Err(Error::exit(status.code().unwrap_or(1).clamp(1, 255) as u8));
    }
    crate::say!(
        "Copied {path} from the dyno to {} ({})",
        target.display(),
        crate::slug::human_size(copied.unwrap_or(0))
    );
    Ok(())
}

/// `run` and `logs --tail` get a terminal on the server when this side has
/// one, and so does what asks for a confirmation not given (`--confirm`).
fn needs_terminal(command: &Command) -> bool {
    match command {
        Command::Apps(AppsCommand::Destroy { confirm })
        | Command::Addons(AddonsCommand::Destroy { confirm, .. })
        | Command::Pg(
            PgCommand::Reset { confirm, .. }
            | PgCommand::CredentialsRotate { confirm, .. }
            | PgCommand::BackupsRestore { confirm, .. }
            | PgCommand::BackupsDelete { confirm, .. },
        )
        | Command::Storage(StorageCommand::Destroy { confirm, .. }) => confirm.is_none(),
        Command::Run(RunCommand::Attached { command }) => !command.no_tty,
        Command::PsExec(PsExecCommand::Exec { .. }) => true,
        Command::Pg(PgCommand::Psql { command, .. })
        | Command::Redis(RedisCommand::Cli { command, .. }) => command.is_none(),
        Command::Logs(LogsCommand::Show { tail, .. }) => *tail,
        Command::Run(RunCommand::Detached { tail, .. }) => *tail,
        _ => false,
    }
}

/// Commands that take input: a one-off's stdin, `config:set` lines.
fn reads_stdin(command: &Command) -> bool {
    match command {
        Command::Run(RunCommand::Attached { .. }) | Command::PsExec(PsExecCommand::Exec { .. }) => {
            true
        }
        Command::Pg(PgCommand::Psql { command, .. })
        | Command::Redis(RedisCommand::Cli { command, .. }) => command.is_none(),
        Command::Config(ConfigCommand::Set { pairs }) => pairs.is_empty(),
        Command::Certs(CertsCommand::Add { cert, .. }) => cert.is_none(),
        Command::Pg(PgCommand::Load { .. }) => true,
        Command::Storage(StorageCommand::Restore { .. }) => true,
        Command::Kubernetes(KubernetesCommand::Connect { kubeconfig, .. }) => {
            kubeconfig.as_deref() == Some("-")
        }
        _ => false,
    }
}

/// Colour on the server's output when this side would show it.
fn local_color() -> &'static str {
    if crate::output::color_wanted_here() {
        "always"
    } else {
        "never"
    }
}

/// Drops the options that only mean something on this side.
fn strip_client_options(args: &[String]) -> Vec<String> {
    let drop: Vec<usize> = crate::cli::global_option_words(args)
        .into_iter()
        .filter(|(first, _)| {
            let word = &args[*first];
            ["-r", "--remote", "--root"]
                .iter()
                .any(|o| word == o || word.starts_with(&format!("{o}=")))
        })
        .flat_map(|(first, last)| first..=last)
        .collect();
    args.iter()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, word)| word.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_options_are_not_forwarded() {
        let args: Vec<String> = ["--remote", "prod", "ps", "--root=/x", "--", "--remote"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(strip_client_options(&args), ["ps", "--", "--remote"]);
        let run: Vec<String> = ["run", "--remote=x", "echo", "--root", "/etc"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            strip_client_options(&run),
            ["run", "echo", "--root", "/etc"]
        );
    }
}
