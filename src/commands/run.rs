//! One-off dynos: `run` (attached to the caller's terminal), `run:detached`
//! (output to the log stream) and `run:stop`. They run the current release
//! with the app's config, as `run.N`, and vanish when their command ends.

use std::io::IsTerminal;
use std::time::Duration;

use super::Ctx;
use crate::cli::{OneOffCommand, RunCommand};
use crate::converge::ONE_OFF_TYPE;
use crate::error::{Error, Result};
use crate::logs;
use crate::release::{Ledger, Release};
use crate::runtime::{DynoSpec, Runtime};
use crate::state::{self, AppDir, ConfigKey, DynoSize};

/// Runs a `run` command.
pub fn run(ctx: &Ctx, command: RunCommand) -> Result<()> {
    match command {
        RunCommand::Attached { command } => attached(ctx, &command),
        RunCommand::Detached { tail, command } => detached(ctx, &command, tail),
        RunCommand::Stop { dyno } => stop(ctx, &dyno),
    }
}

/// The bash command for `run` words: a Procfile type runs its command (with
/// the rest as arguments); one word is taken as a command line, as Heroku's
/// `run "rake db:migrate && rake seed"`; several words are quoted one by one.
pub fn command_line(release: &Release, words: &[String]) -> String {
    let quoted = |rest: &[String]| -> Vec<String> { rest.iter().map(|w| shell_quote(w)).collect() };
    if let Some(procfile_command) = release.processes.get(&words[0]) {
        // An image's command in exec form takes the words as they are.
        if let Some(mut exec) = crate::runtime::exec_form(procfile_command) {
            exec.extend_from_slice(&words[1..]);
            return serde_json::to_string(&exec).unwrap_or_default();
        }
        let mut line = vec![procfile_command.clone()];
        line.extend(quoted(&words[1..]));
        return line.join(" ");
    }
    match words {
        [one] => one.clone(),
        many => quoted(many).join(" "),
    }
}

fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `-e 'A=1;B=2'`: the vars, each name checked as `config:set` checks it.
fn env_option(text: &str) -> Result<Vec<(String, String)>> {
    text.split(';')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(Error::new(format!("`{pair}` is not `KEY=VALUE`"))
                    .hint("give vars as `-e 'A=1;B=2'`"));
            };
            let key = ConfigKey::parse(key.trim()).map_err(|err| Error::new(err.to_string()))?;
            Ok((key.to_string(), value.to_string()))
        })
        .collect()
}

/// The one-off's size: `-s`, else `--type`'s (`ps:resize`), else the default.
fn one_off_size(app: &AppDir, options: &OneOffCommand) -> Result<DynoSize> {
    if let Some(name) = &options.size {
        return DynoSize::parse(name).ok_or_else(|| {
            Error::new(format!("`{name}` is not a dyno size"))
                .hint(format!("sizes: {}", DynoSize::names()))
        });
    }
    match &options.process_type {
        Some(process_type) => Ok(app.settings()?.size_of(process_type)),
        None => Ok(state::DEFAULT_SIZE),
    }
}

/// The spec of the next one-off dyno of the app's current release.
fn one_off_spec(ctx: &Ctx, app: &AppDir, options: &OneOffCommand) -> Result<(DynoSpec, String)> {
    let words = &options.words;
    let extra_env = options.env.as_deref().map(env_option).transpose()?;
    let size = one_off_size(app, options)?;
    let Some(release) = Ledger::new(app).current()?.filter(|r| r.is_built()) else {
        return Err(
            Error::new(format!("`{}` has not been deployed yet", app.name))
                .hint("push the code first: `git push deploy master`"),
        );
    };
    let runtime = ctx.runtime();
    let index = runtime
        .list(Some(&app.name))?
        .iter()
        .filter(|d| d.process_type == ONE_OFF_TYPE)
        .map(|d| d.index)
        .max()
        .unwrap_or(0)
        + 1;
    let platform = ctx.platform(&runtime);
    let code = platform.code(app, &release)?.expect("built, checked above");
    let line = command_line(&release, words);
    let mut spec = platform.spec(app, &release, ONE_OFF_TYPE, index, &line, &code)?;
    spec.env.extend(extra_env.into_iter().flatten());
    Ok((
        DynoSpec {
            remove_on_exit: true,
            size,
            ..spec
        },
        line,
    ))
}

pub fn attached(ctx: &Ctx, options: &OneOffCommand) -> Result<()> {
    let app = ctx.app()?;
    let tty = !options.no_tty && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if crate::kubernetes::workflows::on_cluster(&app)? {
        let code = crate::kubernetes::workflows::run(&ctx.root, &app, &options.words, tty)?;
        return match code {
            0 => Ok(()),
            code => Err(Error::exit(u8::try_from(code).unwrap_or(1))),
        };
    }
    let runtime = ctx.runtime();
    // Numbered and created under the lock, so two runs never share `run.N`;
    // attached after it, so a long session does not hold the app.
    let (spec, line, container) = {
        let _lock = app.lock()?;
        let (spec, line) = one_off_spec(ctx, &app, options)?;
        let container = runtime.create_attached(&spec, tty)?;
        // As Heroku does for one-off dynos: a `dyno` `create` event.
        crate::webhooks::events::dyno_started(&app, &spec.facts(crate::crashes::now()), &line);
        (spec, line, container)
    };
    say!(
        "Running `{line}` on {}... up, {}",
        app.name,
        spec.dyno_name()
    );
    logs::platform(
        &app,
        "api",
        &format!("Starting process with command `{line}` by {}", ctx.user),
    );
    if !tty {
        // With a terminal, sshd's SIGHUP ends the session; without one, a
        // client that hangs up is noticed here and the dyno stopped.
        let container = container.clone();
        crate::output::watch_for_hangup(move || {
            crate::runtime::podman::stop_container(&container, Duration::from_secs(10));
        });
    }
    let code = runtime.attach(&container)?;
    logs::platform(
        &app,
        &spec.dyno_name(),
        &format!("Process exited with status {code}"),
    );
    match code {
        0 => Ok(()),
        code => Err(Error::exit(u8::try_from(code).unwrap_or(1))),
    }
}

pub fn detached(ctx: &Ctx, options: &OneOffCommand, tail: bool) -> Result<()> {
    let app = ctx.app()?;
    let lock = app.lock()?;
    let (spec, line) = one_off_spec(ctx, &app, options)?;
    logs::platform(
        &app,
        "api",
        &format!("Starting process with command `{line}` by {}", ctx.user),
    );
    let dyno = ctx.runtime().start(&spec)?;
    crate::webhooks::events::dyno_started(&app, &dyno.facts(), &line);
    say!("Running `{line}` on {}... up, {}", app.name, dyno.name());
    drop(lock);
    if tail {
        let filter = logs::Filter {
            dyno: Some(dyno.name()),
            ..logs::Filter::default()
        };
        return super::logs::show(ctx, 100, true, filter);
    }
    say!(
        "Run `paas logs -a {} -d {}` to see its output.",
        app.name,
        dyno.name()
    );
    Ok(())
}

pub fn stop(ctx: &Ctx, name: &str) -> Result<()> {
    let app = ctx.app()?;
    let runtime = ctx.runtime();
    let dynos: Vec<_> = runtime
        .list(Some(&app.name))?
        .into_iter()
        .filter(|d| d.process_type == ONE_OFF_TYPE && d.name() == name)
        .collect();
    if dynos.is_empty() {
        return Err(
            Error::new(format!("`{}` has no one-off dyno `{name}`", app.name))
                .hint(format!("`paas ps -a {}` lists them", app.name)),
        );
    }
    ctx.platform(&runtime).stop(&app, &dynos)?;
    say!("Stopping {name} dyno on {}... done", app.name);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn release() -> Release {
        Release {
            version: 1,
            description: String::new(),
            user: String::new(),
            created_at: String::new(),
            commit: None,
            slug: None,
            image: None,
            processes: BTreeMap::from([
                ("worker".into(), "python worker.py".into()),
                ("web".into(), r#"["/server", "--port", "5000"]"#.into()),
            ]),
            config: BTreeMap::new(),
            addons: BTreeMap::new(),
            failed: None,
        }
    }

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn run_words_become_a_bash_command() {
        let release = release();
        assert_eq!(
            command_line(&release, &words(&["echo hi && exit 3"])),
            "echo hi && exit 3"
        );
        assert_eq!(
            command_line(&release, &words(&["python", "-c", "print('a b')"])),
            r#"python -c 'print('\''a b'\'')'"#
        );
        assert_eq!(
            command_line(&release, &words(&["worker", "--once"])),
            "python worker.py --once"
        );
        // An image's exec form takes them as words.
        assert_eq!(
            command_line(&release, &words(&["web", "--debug"])),
            r#"["/server","--port","5000","--debug"]"#
        );
        assert_eq!(command_line(&release, &words(&["bash"])), "bash");
    }
}
