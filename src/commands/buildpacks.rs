//! `buildpacks`, `buildpacks:set|add|remove|clear`, `repo:purge-cache`:
//! which buildpacks build the app, and its build cache.

use super::Ctx;
use crate::build::buildpacks::{shipped_names, Buildpack};
use crate::cli::BuildpacksCommand;
use crate::error::{Context, Error, Result};
use crate::output;
use crate::state::{self, AppDir};

/// Runs a `buildpacks` command, or `repo:purge-cache`.
pub fn run(ctx: &Ctx, command: BuildpacksCommand) -> Result<()> {
    match command {
        BuildpacksCommand::List => list(ctx),
        BuildpacksCommand::Set { buildpack, index } => set(ctx, &buildpack, index),
        BuildpacksCommand::Add { buildpack, index } => add(ctx, &buildpack, index),
        BuildpacksCommand::Remove { buildpack, index } => remove(ctx, buildpack.as_deref(), index),
        BuildpacksCommand::Clear => clear(ctx),
        BuildpacksCommand::PurgeCache => purge_cache(ctx),
    }
}

pub fn list(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    let set = app.settings()?.buildpacks;
    if set.is_empty() {
        say!("{} has no Buildpack URL set.", app.name);
        say!(
            "Each push uses the BUILDPACK_URL config var or a .buildpacks file if present, else the first that detects the app of: {}",
            shipped_names().join(", ")
        );
        return Ok(());
    }
    output::header(&format!("{} Buildpack URL{}", app.name, plural(set.len())));
    print_numbered(&set);
    Ok(())
}

/// Replaces the buildpack at `index` (1 is first; the first if not given).
pub fn set(ctx: &Ctx, text: &str, index: Option<usize>) -> Result<()> {
    change(ctx, text, |list, buildpack| {
        let at = position(index.unwrap_or(1), list.len() + 1)?;
        if at == list.len() {
            list.push(buildpack);
        } else {
            list[at] = buildpack;
        }
        Ok("set")
    })
}

/// Inserts a buildpack at `index`, or appends it.
pub fn add(ctx: &Ctx, text: &str, index: Option<usize>) -> Result<()> {
    change(ctx, text, |list, buildpack| {
        let at = match index {
            Some(index) => position(index, list.len() + 1)?,
            None => list.len(),
        };
        list.insert(at, buildpack);
        Ok("added")
    })
}

pub fn remove(ctx: &Ctx, text: Option<&str>, index: Option<usize>) -> Result<()> {
    let app = ctx.app()?;
    let _lock = app.lock()?;
    let mut list = app.settings()?.buildpacks;
    let at = match (text, index) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(
                Error::new("name the buildpack to remove, or give --index; not both")
                    .hint(format!("`paas buildpacks -a {}` lists them", app.name)),
            )
        }
        (None, Some(_)) if list.is_empty() => {
            return Err(Error::new(format!("{} has no buildpacks set", app.name)))
        }
        (None, Some(index)) => position(index, list.len())?,
        (Some(text), None) => {
            let wanted = Buildpack::parse(text)?.to_string();
            list.iter().position(|b| *b == wanted).ok_or_else(|| {
                Error::new(format!("{} does not use the buildpack {wanted}", app.name))
                    .hint(format!("`paas buildpacks -a {}` lists them", app.name))
            })?
        }
    };
    list.remove(at);
    app.update_settings(|s| s.buildpacks = list.clone())?;
    say!("Buildpack removed.");
    next_release_uses(&app, &list);
    Ok(())
}

pub fn clear(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    let _lock = app.lock()?;
    app.update_settings(|s| s.buildpacks.clear())?;
    say!("Buildpacks cleared.");
    next_release_uses(&app, &[]);
    Ok(())
}

/// Empties the app's build cache and the buildpacks fetched from URLs, so
/// the next build downloads everything again.
pub fn purge_cache(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    let _lock = app.lock()?;
    let mut freed = 0;
    for dir in [app.cache_dir(), app.buildpack_cache_dir()] {
        freed += state::size_of_tree(&dir);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err).context(|| format!("removing `{}`", dir.display())),
        }
    }
    say!(
        "Purged the build cache of {} ({}): the next build starts from scratch.",
        app.name,
        crate::slug::human_size(freed)
    );
    Ok(())
}

fn change(
    ctx: &Ctx,
    text: &str,
    edit: impl FnOnce(&mut Vec<String>, String) -> Result<&'static str>,
) -> Result<()> {
    let app = ctx.app()?;
    let buildpack = Buildpack::parse(text)?.to_string();
    let _lock = app.lock()?;
    let mut list = app.settings()?.buildpacks;
    if list.contains(&buildpack) {
        return Err(Error::new(format!(
            "the buildpack {buildpack} is already set on {}",
            app.name
        ))
        .hint(format!("`paas buildpacks -a {}` lists them", app.name)));
    }
    let done = edit(&mut list, buildpack)?;
    app.update_settings(|s| s.buildpacks = list.clone())?;
    say!("Buildpack {done}.");
    next_release_uses(&app, &list);
    Ok(())
}

/// A 1-based `index` as a list position below `limit`.
fn position(index: usize, limit: usize) -> Result<usize> {
    if index == 0 || index > limit {
        return Err(
            Error::new(format!("there is no buildpack position {index}"))
                .hint(format!("positions run from 1 to {limit}")),
        );
    }
    Ok(index - 1)
}

fn next_release_uses(app: &AppDir, list: &[String]) {
    if list.is_empty() {
        say!(
            "The next release on {} uses the BUILDPACK_URL config var or a .buildpacks file if present, else detects its buildpack.",
            app.name
        );
        return;
    }
    say!("Next release on {} will use:", app.name);
    print_numbered(list);
}

fn print_numbered(list: &[String]) {
    for (n, buildpack) in list.iter().enumerate() {
        say!("  {}. {buildpack}", n + 1);
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
