//! `paas local` and `paas local:run`: Heroku's everyday dev loop (`heroku
//! local`, which is node-foreman; foreman before it) on the laptop, in the
//! app's repository. Nothing here reaches a server.
//!
//! What follows foreman (ddollar/foreman's engine and CLI) and Heroku's CLI
//! (`heroku local [PROCESSNAME] -f -e -p`, `heroku local:run`):
//!
//! - Every Procfile type but `release` runs by default (Heroku's `local`
//!   leaves the release phase out); `web worker`, `web=2` or
//!   `web=1,worker=2` choose.
//! - Ports: the base (`-p`, else `PORT` from the env file, else from the
//!   environment, else foreman's 5000) plus 100 for each type before it in
//!   the Procfile, plus 1 for each instance before it: web.1 5000, web.2
//!   5001, the next type's first 5100. Each process also gets `PS=web.1`.
//! - The env file's vars (`dotenv.rs`) override the environment's.
//! - The processes run in the Procfile's directory, as on a dyno.
//! - `local:run` sets `PORT` only with `-p` (foreman's `run` sets none).

mod dotenv;
mod supervisor;

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::cli::{LocalArgs, LocalRunArgs};
use crate::error::{Error, Result};
use crate::runtime::procfile;
use crate::state::ProcessType;

/// foreman's base port when neither `-p` nor `PORT` gives one.
const DEFAULT_PORT: u16 = 5000;

/// The colours of each type's prefix, in Procfile order: foreman's.
const COLORS: [&str; 12] = [
    "36", "33", "32", "35", "31", "34", "1;36", "1;33", "1;32", "1;35", "1;31", "1;34",
];

/// `paas local`: runs the chosen processes until one ends or Ctrl-C.
pub fn start(args: &LocalArgs) -> Result<()> {
    let procfile = read_procfile(&args.procfile)?;
    let env = load_env(args.env.as_deref())?;
    let counts = formation(&args.processes, &procfile)?;
    let base = base_port(args.port, &env)?;
    let processes = plan(&procfile, &counts, base)?;
    let dir = match args.procfile.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    supervisor::run(
        &processes,
        &env,
        dir,
        Duration::from_secs(args.timeout),
        crate::output::color_on(),
    )
}

/// `paas local:run`: becomes the command, so its exit status, signals and
/// terminal are the command's own.
pub fn run(args: &LocalRunArgs) -> Result<()> {
    let env = load_env(args.env.as_deref())?;
    let procfile = match std::fs::read_to_string("Procfile") {
        Ok(text) => procfile::parse_in_order(&text)
            .map_err(|err| Error::new("cannot use `Procfile`").cause(err))?,
        Err(err) if err.kind() == ErrorKind::NotFound => Vec::new(),
        Err(err) => return Err(Error::new("cannot read `Procfile`").cause(err)),
    };
    let line = command_line(&args.words, &procfile);
    let mut command = Command::new("/bin/sh");
    command.arg("-c").arg(&line).envs(&env);
    if let Some(port) = args.port {
        command.env("PORT", port.to_string());
    }
    let err = command.exec();
    Err(Error::new("cannot run `/bin/sh`").cause(err))
}

fn read_procfile(path: &Path) -> Result<Vec<(ProcessType, String)>> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        if err.kind() == ErrorKind::NotFound {
            Error::new(format!("there is no `{}` here", path.display())).hint(
                "`paas local` runs a Procfile's processes: write `web: COMMAND` into `Procfile`, \
                 or name another file with `-f FILE`",
            )
        } else {
            Error::new(format!("cannot read `{}`", path.display())).cause(err)
        }
    })?;
    procfile::parse_in_order(&text)
        .map_err(|err| Error::new(format!("cannot use `{}`", path.display())).cause(err))
}

/// The env files' vars: those `-e` names (comma-separated, as foreman
/// takes them; later files win), else `.env` when there is one.
fn load_env(files: Option<&str>) -> Result<BTreeMap<String, String>> {
    let (names, named) = match files {
        Some(list) => (
            list.split(',').filter(|name| !name.is_empty()).collect(),
            true,
        ),
        None => (vec![".env"], false),
    };
    let mut vars = BTreeMap::new();
    for name in names {
        let text = match std::fs::read_to_string(name) {
            Ok(text) => text,
            Err(err) if !named && err.kind() == ErrorKind::NotFound => continue,
            Err(err) => {
                return Err(Error::new(format!("cannot read the env file `{name}`")).cause(err))
            }
        };
        dotenv::parse(&text, &mut vars, &|key| std::env::var(key).ok()).map_err(|err| {
            Error::new(format!("`{name}`, {err}")).hint(
                "each line is `KEY=value` (or `export KEY=value`); quote a value in `'…'` to take it as written",
            )
        })?;
    }
    Ok(vars)
}

/// How many of each Procfile type run, by its place in the Procfile: those
/// named (`web`, `web=2`, `web=1,worker=2`), else one of each but `release`.
fn formation(names: &[String], procfile: &[(ProcessType, String)]) -> Result<Vec<u32>> {
    if names.is_empty() {
        return Ok(procfile
            .iter()
            .map(|(name, _)| u32::from(name.as_str() != "release"))
            .collect());
    }
    let mut counts = vec![0; procfile.len()];
    for item in names.iter().flat_map(|name| name.split(',')) {
        if item.is_empty() {
            continue;
        }
        let (name, count) = match item.split_once('=') {
            None => (item, 1),
            Some((name, count)) => match count.parse::<u32>() {
                Ok(count) if count <= 100 => (name, count),
                _ => {
                    return Err(Error::new(format!(
                        "`{item}`: the count after `=` must be a number from 0 to 100"
                    )))
                }
            },
        };
        let Some(index) = procfile.iter().position(|(kind, _)| kind.as_str() == name) else {
            let types: Vec<&str> = procfile.iter().map(|(kind, _)| kind.as_str()).collect();
            return Err(
                Error::new(format!("the Procfile has no process type `{name}`"))
                    .hint(format!("its types: {}", types.join(", "))),
            );
        };
        counts[index] = count;
    }
    Ok(counts)
}

/// The base port: `-p`, else `PORT` from the env file, else from the
/// environment, else 5000 (foreman's order).
fn base_port(flag: Option<u16>, env: &BTreeMap<String, String>) -> Result<u16> {
    if let Some(port) = flag {
        return Ok(port);
    }
    let (value, from) = match env.get("PORT") {
        Some(value) => (value.clone(), "the env file"),
        None => match std::env::var("PORT") {
            Ok(value) => (value, "the environment"),
            Err(_) => return Ok(DEFAULT_PORT),
        },
    };
    match value.trim().parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(
            Error::new(format!("`PORT={value}` from {from} is not a port"))
                .hint("give the first port with `-p PORT`"),
        ),
    }
}

/// The processes to start, in Procfile order, each with its name, port
/// and colour.
fn plan(
    procfile: &[(ProcessType, String)],
    counts: &[u32],
    base: u16,
) -> Result<Vec<supervisor::Process>> {
    let mut processes = Vec::new();
    for (index, ((kind, command), &count)) in procfile.iter().zip(counts).enumerate() {
        for number in 1..=count {
            let name = format!("{kind}.{number}");
            let port = u32::from(base) + 100 * index as u32 + number - 1;
            if port > u32::from(u16::MAX) {
                return Err(
                    Error::new(format!("{name} would listen on port {port}, past 65535"))
                        .hint("give a lower first port with `-p PORT`"),
                );
            }
            processes.push(supervisor::Process {
                env: vec![
                    ("PORT".into(), port.to_string()),
                    ("PS".into(), name.clone()),
                ],
                name,
                command: command.clone(),
                color: COLORS[index % COLORS.len()],
            });
        }
    }
    if processes.is_empty() {
        return Err(Error::new("no process to run").hint("name a Procfile type: `paas local web`"));
    }
    Ok(processes)
}

/// `local:run`'s words as one shell line, as `paas run` makes it: a
/// Procfile type's command, one word as written (`'echo $PORT'`), or
/// several words each quoted (the shell that typed them expanded them).
fn command_line(words: &[String], procfile: &[(ProcessType, String)]) -> String {
    let quote = |word: &String| format!("'{}'", word.replace('\'', r"'\''"));
    if let Some((_, command)) = procfile.iter().find(|(kind, _)| kind.as_str() == words[0]) {
        return std::iter::once(command.clone())
            .chain(words[1..].iter().map(quote))
            .collect::<Vec<_>>()
            .join(" ");
    }
    match words {
        [one] => one.clone(),
        many => many.iter().map(quote).collect::<Vec<_>>().join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn procfile(text: &str) -> Vec<(ProcessType, String)> {
        procfile::parse_in_order(text).unwrap()
    }

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| w.to_string()).collect()
    }

    fn ports(text: &str, names: &[&str], base: u16) -> Vec<(String, String)> {
        let procfile = procfile(text);
        let counts = formation(&words(names), &procfile).unwrap();
        plan(&procfile, &counts, base)
            .unwrap()
            .into_iter()
            .map(|p| (p.name, p.env[0].1.clone()))
            .collect()
    }

    const PROCFILE: &str = "web: serve\nworker: work\nrelease: migrate\nclock: tick\n";

    #[test]
    fn every_type_but_release_runs_by_default_on_foremans_ports() {
        assert_eq!(
            ports(PROCFILE, &[], 5000),
            [
                ("web.1".to_string(), "5000".to_string()),
                ("worker.1".into(), "5100".into()),
                ("clock.1".into(), "5300".into()),
            ]
        );
    }

    #[test]
    fn named_types_keep_their_block_and_instances_count_up() {
        // A type's block is its place in the Procfile, whatever runs with it.
        assert_eq!(
            ports(PROCFILE, &["worker"], 6000),
            [("worker.1".to_string(), "6100".to_string())]
        );
        assert_eq!(
            ports(PROCFILE, &["web=2,clock", "worker=0"], 5000),
            [
                ("web.1".to_string(), "5000".to_string()),
                ("web.2".into(), "5001".into()),
                ("clock.1".into(), "5300".into()),
            ]
        );
        // Asked for by name, the release phase runs too.
        assert_eq!(
            ports(PROCFILE, &["release"], 5000),
            [("release.1".to_string(), "5200".to_string())]
        );
    }

    #[test]
    fn each_process_gets_its_name_colour_and_ps() {
        let procfile = procfile(PROCFILE);
        let processes = plan(&procfile, &[1, 1, 0, 0], 5000).unwrap();
        assert_eq!(processes[0].env[1], ("PS".to_string(), "web.1".to_string()));
        assert_eq!(processes[0].command, "serve");
        assert_ne!(processes[0].color, processes[1].color);
    }

    #[test]
    fn wrong_formations_and_ports_say_what_to_do() {
        let procfile = procfile(PROCFILE);
        let err = formation(&words(&["wrk"]), &procfile).unwrap_err();
        assert_eq!(err.message(), "the Procfile has no process type `wrk`");
        assert!(err
            .report()
            .contains("its types: web, worker, release, clock"));
        let err = formation(&words(&["web=x"]), &procfile).unwrap_err();
        assert_eq!(
            err.message(),
            "`web=x`: the count after `=` must be a number from 0 to 100"
        );
        let err = plan(&procfile, &[0, 0, 0, 2], 65_400).unwrap_err();
        assert_eq!(
            err.message(),
            "clock.1 would listen on port 65700, past 65535"
        );
        let err = plan(&procfile, &[0, 0, 0, 0], 5000).unwrap_err();
        assert_eq!(err.message(), "no process to run");
    }

    #[test]
    fn the_base_port_comes_from_the_flag_then_the_env_file() {
        let mut env = BTreeMap::new();
        env.insert("PORT".to_string(), "7000".to_string());
        assert_eq!(base_port(Some(8000), &env).unwrap(), 8000);
        assert_eq!(base_port(None, &env).unwrap(), 7000);
        env.insert("PORT".to_string(), "seven".to_string());
        assert_eq!(
            base_port(None, &env).unwrap_err().message(),
            "`PORT=seven` from the env file is not a port"
        );
    }

    #[test]
    fn local_run_lines_are_quoted_as_paas_run_quotes_them() {
        let procfile = procfile(PROCFILE);
        assert_eq!(
            command_line(&words(&["echo $PORT"]), &procfile),
            "echo $PORT"
        );
        assert_eq!(
            command_line(&words(&["echo", "it's", "$HOME"]), &procfile),
            r"'echo' 'it'\''s' '$HOME'"
        );
        assert_eq!(
            command_line(&words(&["web", "--verbose"]), &procfile),
            "serve '--verbose'"
        );
    }
}
