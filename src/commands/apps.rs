//! `apps`, `apps:create`, `apps:info`, `apps:rename`, `apps:destroy`.

use super::{heroku_time_from_rfc3339, Ctx};
use crate::access::Role;
use crate::apps::{ensure_created, remove, unused_name};
use crate::cli::{AppUrlsCommand, AppsCommand, Format};
use crate::error::{Error, Result};
use crate::output;
use crate::release::Ledger;
use crate::runtime::Runtime;
use crate::state::AppName;

/// One row of `apps --json`.
#[derive(serde::Serialize)]
struct AppJson {
    name: String,
    web_url: String,
    git_url: String,
    /// The current release's version, `null` before the first deploy.
    release: Option<u32>,
}

/// Runs an `apps` command.
pub fn run(ctx: &Ctx, command: AppsCommand) -> Result<()> {
    match command {
        AppsCommand::List { all, format } => list(ctx, all, format),
        AppsCommand::Create { name } => create(ctx, name),
        AppsCommand::Info { format } => info(ctx, format),
        AppsCommand::Rename { name, new } => rename(ctx, &name, new.as_deref()),
        AppsCommand::Destroy { confirm } => destroy(ctx, confirm),
    }
}

/// Runs `git:remote` or `open`.
pub fn run_urls(ctx: &Ctx, command: AppUrlsCommand) -> Result<()> {
    match command {
        AppUrlsCommand::GitRemote => git_remote(ctx),
        AppUrlsCommand::Open => open(ctx),
    }
}

/// The apps the user may act on: those they own or collaborate on, and
/// for an admin (who acts on every app) all of them.
pub fn list(ctx: &Ctx, all: bool, format: Format) -> Result<()> {
    if all && !ctx.admin {
        return Err(Error::new("only admins may list every app")
            .hint("`paas apps` lists the apps you own or collaborate on"));
    }
    let mut apps = ctx.root.apps()?;
    if !ctx.admin {
        apps.retain(|name| {
            let settings = ctx.root.app(name).settings();
            settings.is_ok_and(|s| Role::of(&ctx.user, false, &s).sees())
        });
    }
    if format.json {
        let rows = apps
            .iter()
            .map(|name| {
                let release = Ledger::new(&ctx.root.app(name)).current()?;
                Ok(AppJson {
                    name: name.to_string(),
                    web_url: ctx.settings.app_url(name),
                    git_url: git_url(ctx, name),
                    release: release.map(|r| r.version),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        return output::print_json(&rows);
    }
    output::header("Apps");
    for app in apps {
        println!("{app}");
    }
    Ok(())
}

pub fn create(ctx: &Ctx, name: Option<String>) -> Result<()> {
    let name = match name.or_else(|| ctx.app_name().ok().map(|n| n.to_string())) {
        Some(name) => AppName::parse(&name).map_err(|err| Error::new(err.to_string()))?,
        None => unused_name(&ctx.root)?,
    };
    if !ensure_created(&ctx.root, &name, &ctx.user)? {
        return Err(Error::new(format!("app `{name}` already exists")));
    }
    say!("Creating {name}... done");
    println!("{} | {}", ctx.settings.app_url(&name), git_url(ctx, &name));
    Ok(())
}

pub fn git_url(ctx: &Ctx, name: &AppName) -> String {
    let host = if ctx.settings.local {
        "127.0.0.1".to_string()
    } else {
        ctx.settings.domain.clone()
    };
    format!(
        "ssh://{}@{host}:{}/{name}",
        ctx.settings.user, ctx.settings.ssh_port
    )
}

/// `apps:info --json`.
#[derive(serde::Serialize)]
struct AppInfoJson {
    name: String,
    owner: Option<String>,
    web_url: String,
    git_url: String,
    /// The current release's version and change, `null` before the first deploy.
    release: Option<serde_json::Value>,
    /// Per process type: the dynos wanted (`ps:scale`) and those running.
    dynos: std::collections::BTreeMap<String, DynoCounts>,
    /// The add-ons attached: the var and the add-on.
    addons: std::collections::BTreeMap<String, String>,
    domains: Vec<String>,
}

#[derive(serde::Serialize, Default)]
struct DynoCounts {
    wanted: u32,
    running: u32,
}

pub fn info(ctx: &Ctx, format: Format) -> Result<()> {
    let app = ctx.app()?;
    let release = Ledger::new(&app).current()?;
    let dynos = ctx.runtime().list(Some(&app.name))?;
    if format.json {
        let settings = app.settings()?;
        let mut counts: std::collections::BTreeMap<String, DynoCounts> = settings
            .formation
            .iter()
            .map(|(t, n)| {
                let counts = DynoCounts {
                    wanted: *n,
                    running: 0,
                };
                (t.clone(), counts)
            })
            .collect();
        // The current release's: the previous release's web dynos stay a
        // while on standby after a change (probation), not counted.
        let version = release.as_ref().map(|r| r.version);
        for dyno in dynos
            .iter()
            .filter(|d| d.running && Some(d.release) == version)
        {
            counts.entry(dyno.process_type.clone()).or_default().running += 1;
        }
        return output::print_json(&AppInfoJson {
            name: app.name.to_string(),
            owner: settings.owner,
            web_url: ctx.settings.app_url(&app.name),
            git_url: git_url(ctx, &app.name),
            release: release.as_ref().map(|r| {
                serde_json::json!({
                    "version": r.version,
                    "description": r.description,
                    "created_at": r.created_at,
                    "commit": r.commit,
                })
            }),
            dynos: counts,
            addons: release.map(|r| r.addons).unwrap_or_default(),
            domains: settings.domains,
        });
    }
    output::header(app.name.as_str());
    println!("Git URL:  {}", git_url(ctx, &app.name));
    println!("Web URL:  {}", ctx.settings.app_url(&app.name));
    if let Some(owner) = app.settings()?.owner {
        println!("Owner:    {owner}");
    }
    match &release {
        Some(release) => println!(
            "Release:  v{} ({}, {})",
            release.version,
            release.description,
            heroku_time_from_rfc3339(&release.created_at)
        ),
        None => println!("Release:  none yet"),
    }
    if let Some(slug) = release.as_ref().and_then(|r| r.slug.as_ref()) {
        println!("Slug:     {}", crate::slug::human_size(slug.size));
    }
    if let Some(image) = release.as_ref().and_then(|r| r.image.as_ref()) {
        println!("Image:    {} ({})", image.name, image.short_id());
    }
    let running: Vec<String> = dynos
        .iter()
        .filter(|d| d.running)
        .map(|d| d.name())
        .collect();
    println!(
        "Dynos:    {}",
        if running.is_empty() {
            "none".into()
        } else {
            running.join(", ")
        }
    );
    Ok(())
}

pub fn destroy(ctx: &Ctx, confirm: Option<String>) -> Result<()> {
    let app = ctx.owned_app()?;
    let warning = format!(
        "This will destroy {} (including all add-ons) and its code, releases and config for good.",
        app.name
    );
    let confirm = super::confirmation(confirm.as_deref(), app.name.as_str(), &warning);
    if confirm.as_deref() != Some(app.name.as_str()) {
        return Err(Error::new(format!(
            "destroying `{}` removes its code, releases and config for good",
            app.name
        ))
        .hint(format!(
            "confirm with `paas apps:destroy -a {0} --confirm {0}`",
            app.name
        )));
    }
    // Its mounts go with it; the storages and their files stay.
    let mounts = app.settings()?.mounts;
    let runtime = ctx.runtime();
    remove(&ctx.platform(&runtime), &app)?;
    say!("done");
    for mount in mounts {
        say!(
            "Storage {0} was unmounted and keeps its files (`paas storage:destroy {0}` deletes them)",
            mount.storage
        );
    }
    Ok(())
}

/// `apps:rename NEW -a OLD`, or `apps:rename OLD NEW` (the CLI makes OLD
/// the app then): Heroku's output, `URL | GIT_URL` of the new name on stdout.
pub fn rename(ctx: &Ctx, name: &str, new: Option<&str>) -> Result<()> {
    let app = ctx.owned_app()?;
    let new = AppName::parse(new.unwrap_or(name)).map_err(|err| {
        Error::new(err.to_string()).hint("`paas apps:rename NEWNAME -a APP` gives it a valid name")
    })?;
    let runtime = ctx.runtime();
    let renamed = crate::apps::rename::rename(&ctx.platform(&runtime), &ctx.user, &app, &new)?;
    say!("done");
    println!(
        "{} | {}",
        ctx.settings.app_url(&renamed.name),
        git_url(ctx, &renamed.name)
    );
    Ok(())
}

/// `open`: the app's URL, to open in a browser.
pub fn open(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    println!("{}", ctx.settings.app_url(&app.name));
    Ok(())
}

/// `git:remote` on the server: point this repository's `deploy` remote at the app.
pub fn git_remote(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    if !crate::client::in_git_repo() {
        return Err(Error::new("this directory is not in a git repository")
            .hint("run it in a clone of your app, or `git init` first"));
    }
    crate::client::point_deploy_remote(&git_url(ctx, &app.name), app.name.as_str(), true)
}
