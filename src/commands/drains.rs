//! `drains`, `drains:add`, `drains:remove`: where the app's log stream is
//! forwarded. The daemon does the forwarding.

use super::Ctx;
use crate::cli::{DrainsCommand, Format};
use crate::error::{Error, Result};
use crate::logs::{self, drain};
use crate::output;

/// One row of `drains --json`.
#[derive(serde::Serialize)]
struct DrainJson {
    url: String,
}

/// Runs a `drains` command.
pub fn run(ctx: &Ctx, command: DrainsCommand) -> Result<()> {
    match command {
        DrainsCommand::List { format } => list(ctx, format),
        DrainsCommand::Add { url } => add(ctx, &url),
        DrainsCommand::Remove { url } => remove(ctx, &url),
    }
}

pub fn list(ctx: &Ctx, format: Format) -> Result<()> {
    let app = ctx.app()?;
    let drains = app.settings()?.drains;
    if format.json {
        let rows: Vec<DrainJson> = drains.into_iter().map(|url| DrainJson { url }).collect();
        return output::print_json(&rows);
    }
    output::header(&format!("{} Drains", app.name));
    for url in drains {
        println!("{url}");
    }
    Ok(())
}

pub fn add(ctx: &Ctx, url: &str) -> Result<()> {
    let app = ctx.app()?;
    let parsed = drain::parse(url).map_err(Error::new)?;
    if let Some(refused) = parsed.refused_now(ctx.settings.url_reach()) {
        return Err(refused.command_error("sends logs"));
    }
    let _lock = app.lock()?;
    let mut settings = app.settings()?;
    if settings.drains.iter().any(|d| d == url) {
        return Err(Error::new(format!(
            "`{}` already drains to `{url}`",
            app.name
        )));
    }
    settings.drains.push(url.to_string());
    app.write_settings(&settings)?;
    logs::platform(&app, "api", &format!("Add drain {url} by {}", ctx.user));
    say!("Successfully added drain {url}");
    Ok(())
}

pub fn remove(ctx: &Ctx, url: &str) -> Result<()> {
    let app = ctx.app()?;
    let _lock = app.lock()?;
    let mut settings = app.settings()?;
    let before = settings.drains.len();
    settings.drains.retain(|d| d != url);
    if settings.drains.len() == before {
        return Err(Error::new(format!("`{}` has no drain `{url}`", app.name))
            .hint(format!("`paas drains -a {}` lists them", app.name)));
    }
    app.write_settings(&settings)?;
    logs::platform(&app, "api", &format!("Remove drain {url} by {}", ctx.user));
    say!("Successfully removed drain {url}");
    Ok(())
}
