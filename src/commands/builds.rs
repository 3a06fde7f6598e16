//! `builds`, `builds:output`.

use super::{heroku_time_from_rfc3339, Ctx};
use crate::build::history::{self, BuildRecord};
use crate::cli::{BuildsCommand, Format};
use crate::error::Result;
use crate::output;

/// Runs a `builds` command.
pub fn run(ctx: &Ctx, command: BuildsCommand) -> Result<()> {
    match command {
        BuildsCommand::List { num, format } => list(ctx, num, format),
        BuildsCommand::Output { build } => output(ctx, build.as_deref()),
    }
}

pub fn list(ctx: &Ctx, num: usize, format: Format) -> Result<()> {
    let app = ctx.app()?;
    let builds: Vec<BuildRecord> = history::list(&app)?.into_iter().rev().take(num).collect();
    if format.json {
        return output::print_json(&builds);
    }
    output::header(&format!("{} Builds", app.name));
    if builds.is_empty() {
        println!("No builds yet: `git push deploy master` makes one.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = builds
        .iter()
        .map(|b| {
            vec![
                format!("#{}", b.id),
                b.status_text(),
                b.commit.chars().take(7).collect(),
                b.user.clone(),
                heroku_time_from_rfc3339(&b.created_at),
                b.seconds.map_or(String::new(), |s| format!("{s:.1}s")),
                b.release.map_or(String::new(), |v| format!("v{v}")),
            ]
        })
        .collect();
    output::table(&rows);
    Ok(())
}

pub fn output(ctx: &Ctx, id: Option<&str>) -> Result<()> {
    let app = ctx.app()?;
    let build = history::find(&app, id)?;
    crate::output::print_bytes(&history::read_output(&app, build.id)?)
}
