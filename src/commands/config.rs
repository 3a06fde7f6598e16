//! `config`, `config:get`, `config:set`, `config:unset`. Every change is a
//! new release and restarts the dynos; if they fail to boot with it, nothing
//! changes.

use std::collections::BTreeMap;

use std::io::IsTerminal;

use super::config_edit::{self, shell_line, Patch};
use super::Ctx;
use crate::cli::{ConfigCommand, Format};
use crate::error::{Error, Result};
use crate::output;
use crate::release::Ledger;
use crate::rollout::change_config;
use crate::state::{AppDir, ConfigKey};

/// Runs a `config` command.
pub fn run(ctx: &Ctx, command: ConfigCommand) -> Result<()> {
    match command {
        ConfigCommand::Show { shell, format } => show(ctx, shell, format),
        ConfigCommand::Get { keys } => get(ctx, &keys),
        ConfigCommand::Edit => edit(ctx),
        ConfigCommand::Set { pairs } => set(ctx, &pairs),
        ConfigCommand::Unset { keys } => unset(ctx, &keys),
    }
}

pub fn show(ctx: &Ctx, shell: bool, format: Format) -> Result<()> {
    let app = ctx.app()?;
    let config = Ledger::new(&app).config()?;
    if format.json {
        return output::print_json(&config);
    }
    if shell {
        for (key, value) in &config {
            println!("{}", shell_line(key, value));
        }
        return Ok(());
    }
    output::header(&format!("{} Config Vars", app.name));
    let width = config.keys().map(|k| k.len() + 1).max().unwrap_or(0);
    for (key, value) in &config {
        println!("{:width$} {value}", format!("{key}:"));
    }
    Ok(())
}

/// The values of the vars named, one a line, in the order asked.
pub fn get(ctx: &Ctx, keys: &[String]) -> Result<()> {
    let app = ctx.app()?;
    let config = Ledger::new(&app).config()?;
    let mut values = Vec::new();
    for key in keys {
        let key = ConfigKey::parse(key).map_err(|err| Error::new(err.to_string()))?;
        match config.get(key.as_str()) {
            Some(value) => values.push(value),
            None => {
                return Err(Error::new(format!(
                    "`{}` has no config var `{key}`",
                    app.name
                )))
            }
        }
    }
    for value in values {
        println!("{value}");
    }
    Ok(())
}

/// `config:edit`: on a terminal, an editor here on the vars; else the
/// change on stdin, as a laptop's `config:edit` sends it. Nothing changed
/// makes no release.
pub fn edit(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    let patch = if std::io::stdin().is_terminal() {
        let before = Ledger::new(&app).config()?;
        let edited = config_edit::edit_in_editor(
            &config_edit::document(app.name.as_str(), &before),
            app.name.as_str(),
        )?;
        Patch::between(&before, &config_edit::parse_document(&edited)?)
    } else {
        let text = output::read_piped_stdin(
            16 * 1024 * 1024,
            Error::new("no change given").hint("run `paas config:edit` on a terminal"),
        )?;
        Patch::parse(&text)?
    };
    apply_patch(ctx, &app, &patch)
}

/// Applies an edit's change as one release.
fn apply_patch(ctx: &Ctx, app: &AppDir, patch: &Patch) -> Result<()> {
    if patch.is_empty() {
        say!("No changes to config vars of {}.", app.name);
        return Ok(());
    }
    for key in patch.set.keys().chain(&patch.unset) {
        ConfigKey::parse(key).map_err(|err| Error::new(err.to_string()))?;
    }
    say!("{} and restarting {}...", patch.description(), app.name);
    let runtime = ctx.runtime();
    let platform = ctx.platform(&runtime);
    let version = change_config(&platform, &ctx.user, app, patch.description(), |config| {
        config.extend(patch.set.clone());
        for key in &patch.unset {
            config.remove(key);
        }
    })?;
    say!("done, v{version}");
    Ok(())
}

/// Splits `KEY=value` arguments, refusing bad names before anything changes.
pub fn parse_pairs(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut parsed = BTreeMap::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(Error::new(format!("`{pair}` is not `KEY=value`"))
                .hint("set a var with `paas config:set KEY=value`"));
        };
        let key = ConfigKey::parse(key).map_err(|err| Error::new(err.to_string()))?;
        parsed.insert(key.to_string(), value.to_string());
    }
    Ok(parsed)
}

/// `KEY=value` lines from stdin (what `config --shell` prints), for values
/// that do not fit on a command line. Blank lines and `#` comments are
/// skipped; a quoted value is read as a shell reads it (`config_edit`).
fn pairs_from_stdin() -> Result<Vec<String>> {
    let text = output::read_piped_stdin(
        16 * 1024 * 1024,
        Error::new("no config vars given")
            .hint("set them with `paas config:set KEY=value …`, or pipe `KEY=value` lines in"),
    )?;
    let patch = Patch::parse(&text)?;
    if let Some(key) = patch.unset.first() {
        return Err(Error::new(format!(
            "`unset {key}` is for `paas config:unset {key}`"
        )));
    }
    if patch.set.is_empty() {
        return Err(Error::new("no `KEY=value` lines on stdin"));
    }
    Ok(patch
        .set
        .into_iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect())
}

pub fn set(ctx: &Ctx, pairs: &[String]) -> Result<()> {
    let app = ctx.app()?;
    let pairs = if pairs.is_empty() {
        pairs_from_stdin()?
    } else {
        pairs.to_vec()
    };
    let changes = parse_pairs(&pairs)?;
    let names: Vec<&str> = changes.keys().map(String::as_str).collect();
    say!(
        "Setting {} and restarting {}...",
        names.join(", "),
        app.name
    );
    let description = format!("Set {} config vars", names.join(", "));
    let runtime = ctx.runtime();
    let platform = ctx.platform(&runtime);
    let version = change_config(&platform, &ctx.user, &app, description, |config| {
        config.extend(changes.clone());
    })?;
    say!("done, v{version}");
    for (key, value) in &changes {
        println!("{key}: {value}");
    }
    Ok(())
}

pub fn unset(ctx: &Ctx, keys: &[String]) -> Result<()> {
    let app = ctx.app()?;
    let keys: Vec<ConfigKey> = keys
        .iter()
        .map(|k| ConfigKey::parse(k).map_err(|err| Error::new(err.to_string())))
        .collect::<Result<_>>()?;
    let names: Vec<&str> = keys.iter().map(ConfigKey::as_str).collect();
    say!(
        "Unsetting {} and restarting {}...",
        names.join(", "),
        app.name
    );
    let description = format!("Unset {} config vars", names.join(", "));
    let runtime = ctx.runtime();
    let platform = ctx.platform(&runtime);
    let version = change_config(&platform, &ctx.user, &app, description, |config| {
        for key in &keys {
            config.remove(key.as_str());
        }
    })?;
    say!("done, v{version}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_split_on_the_first_equals() {
        let parsed = parse_pairs(&[
            "A=1".into(),
            "URL=postgres://u:p@h/db?x=y".into(),
            "E=".into(),
        ])
        .unwrap();
        assert_eq!(parsed["A"], "1");
        assert_eq!(parsed["URL"], "postgres://u:p@h/db?x=y");
        assert_eq!(parsed["E"], "");
        assert_eq!(
            parse_pairs(&["NOEQUALS".into()]).unwrap_err().message(),
            "`NOEQUALS` is not `KEY=value`"
        );
        assert!(parse_pairs(&["1BAD=x".into()]).is_err());
    }
}
