//! `releases`, `releases:info`, `releases:output`, `releases:rollback`.

use super::{heroku_time_from_rfc3339, Ctx};
use crate::cli::{Format, ReleasesCommand};
use crate::error::{Error, Result};
use crate::output;
use crate::release::{self, Ledger, Release, ReleaseVersion};
use crate::rollout::{self, retry_latest};

fn parse_version(text: &str) -> Result<ReleaseVersion> {
    text.parse()
        .map_err(|err: release::VersionError| Error::new(err.to_string()))
}

/// One row of `releases --json`, newest first.
#[derive(serde::Serialize)]
struct ReleaseJson<'a> {
    version: u32,
    description: &'a str,
    user: &'a str,
    created_at: &'a str,
    commit: Option<&'a str>,
    current: bool,
    /// Why it never ran (its release phase failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    failed: Option<&'a str>,
}

/// Runs a `releases` command.
pub fn run(ctx: &Ctx, command: ReleasesCommand) -> Result<()> {
    match command {
        ReleasesCommand::List { num, format } => list(ctx, num, format),
        ReleasesCommand::Info { release, format } => info(ctx, release, format),
        ReleasesCommand::Output { release } => output(ctx, release),
        ReleasesCommand::Rollback { release } => rollback(ctx, release),
        ReleasesCommand::Retry => retry(ctx),
        ReleasesCommand::Create { image } => create(ctx, &image),
    }
}

pub fn list(ctx: &Ctx, num: usize, format: Format) -> Result<()> {
    let app = ctx.app()?;
    let releases = Ledger::new(&app).list()?;
    let current_version = releases
        .iter()
        .rev()
        .find(|r| r.failed.is_none())
        .map(|r| r.version);
    let shown: Vec<&Release> = releases.iter().rev().take(num).collect();
    if format.json {
        let rows: Vec<ReleaseJson> = shown
            .iter()
            .map(|r| ReleaseJson {
                version: r.version,
                description: &r.description,
                user: &r.user,
                created_at: &r.created_at,
                commit: r.commit.as_deref(),
                current: Some(r.version) == current_version,
                failed: r.failed.as_deref(),
            })
            .collect();
        return output::print_json(&rows);
    }
    let Some(current) = current_version else {
        output::header(&format!("{} Releases: none yet", app.name));
        return Ok(());
    };
    output::header(&format!("{} Releases - Current: v{current}", app.name));
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|release| {
            vec![
                format!("v{}", release.version),
                match &release.failed {
                    Some(why) => format!("{} ({why})", release.description),
                    None => release.description.clone(),
                },
                release.user.clone(),
                heroku_time_from_rfc3339(&release.created_at),
            ]
        })
        .collect();
    output::table(&rows);
    Ok(())
}

/// `releases:info --json`: the release, its config vars by name only.
#[derive(serde::Serialize)]
struct ReleaseInfoJson<'a> {
    version: u32,
    description: &'a str,
    user: &'a str,
    created_at: &'a str,
    commit: Option<&'a str>,
    current: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed: Option<&'a str>,
    slug: Option<&'a crate::slug::SlugRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<ImageJson<'a>>,
    processes: &'a std::collections::BTreeMap<String, String>,
    config_vars: Vec<&'a str>,
    /// Attachments: the var and the add-on it names.
    addons: &'a std::collections::BTreeMap<String, String>,
}

/// An image a release runs, in `releases:info --json`.
#[derive(serde::Serialize)]
struct ImageJson<'a> {
    id: &'a str,
    name: &'a str,
}

/// The release `vN` names, or the current one.
fn chosen(app: &crate::state::AppDir, version: Option<String>) -> Result<Release> {
    let ledger = Ledger::new(app);
    match version {
        Some(text) => ledger.get(parse_version(&text)?),
        None => ledger
            .current()?
            .ok_or_else(|| Error::new(format!("`{}` has no releases yet", app.name))),
    }
}

pub fn info(ctx: &Ctx, version: Option<String>, format: Format) -> Result<()> {
    let app = ctx.app()?;
    let release = chosen(&app, version)?;
    if format.json {
        let current = Ledger::new(&app).current()?.map(|r| r.version);
        return output::print_json(&ReleaseInfoJson {
            version: release.version,
            description: &release.description,
            user: &release.user,
            created_at: &release.created_at,
            commit: release.commit.as_deref(),
            current: current == Some(release.version),
            failed: release.failed.as_deref(),
            slug: release.slug.as_ref(),
            image: release.image.as_ref().map(|image| ImageJson {
                id: &image.id,
                name: &image.name,
            }),
            processes: &release.processes,
            config_vars: release.config.keys().map(String::as_str).collect(),
            addons: &release.addons,
        });
    }
    output::header(&format!("Release v{}", release.version));
    println!("By:          {}", release.user);
    println!("Change:      {}", release.description);
    println!(
        "When:        {}",
        heroku_time_from_rfc3339(&release.created_at)
    );
    if let Some(commit) = &release.commit {
        println!("Commit:      {commit}");
    }
    if let Some(why) = &release.failed {
        println!("Status:      failed: {why}");
    }
    if let Some(slug) = &release.slug {
        println!(
            "Slug:        {} ({})",
            slug.sha256,
            crate::slug::human_size(slug.size)
        );
    }
    if let Some(image) = &release.image {
        println!("Image:       {} ({})", image.id, image.name);
    }
    for (process_type, command) in &release.processes {
        println!("Process:     {process_type}: {command}");
    }
    let keys: Vec<&str> = release.config.keys().map(String::as_str).collect();
    println!(
        "Config vars: {}",
        if keys.is_empty() {
            "none".into()
        } else {
            keys.join(", ")
        }
    );
    Ok(())
}

/// `releases:output [vN]`: what the build that made the release printed,
/// its release phase included.
pub fn output(ctx: &Ctx, version: Option<String>) -> Result<()> {
    let app = ctx.app()?;
    let release = chosen(&app, version)?;
    let build = crate::build::history::list(&app)?
        .into_iter()
        .find(|b| b.release == Some(release.version));
    let Some(build) = build else {
        return Err(Error::new(format!(
            "v{} ({}) ran no build: it has no output",
            release.version, release.description
        ))
        .hint(format!(
            "only a push's release has one; `paas builds -a {}` lists them",
            app.name
        )));
    };
    output::print_bytes(&crate::build::history::read_output(&app, build.id)?)
}

pub fn rollback(ctx: &Ctx, version: Option<String>) -> Result<()> {
    let app = ctx.app()?;
    let version = version.as_deref().map(parse_version).transpose()?;
    let runtime = ctx.runtime();
    let version = rollout::rollback(
        &ctx.platform(&runtime),
        &ctx.user,
        &app,
        version,
        |target| {
            say_partial!("Rolling back {} to v{target}... ", app.name);
        },
    )?;
    say!("done, v{version}");
    Ok(())
}

/// `releases:retry`: the newest release's release phase again, as Heroku's.
pub fn retry(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    let _lock = app.lock()?;
    let runtime = ctx.runtime();
    let version = retry_latest(&ctx.platform(&runtime), &ctx.user, &app, |latest| {
        say!("Retrying v{} on {}", latest.version, app.name);
    })?;
    say!("Done, v{version}");
    Ok(())
}

/// `releases:create --image REF`: a prebuilt image deployed as it is.
pub fn create(ctx: &Ctx, image: &str) -> Result<()> {
    let app = ctx.app()?;
    if !ctx.admin {
        return Err(Error::new("only an admin may deploy an image as it is")
            .hint("the server's image store holds other apps' images too; push a tree with a Dockerfile to have it built"));
    }
    say!("Deploying {image} to {}...", app.name);
    let runtime = ctx.runtime();
    let version = crate::deploy::deploy_image(&ctx.platform(&runtime), &ctx.user, &app, image)?;
    say!("Released v{version}");
    Ok(())
}
