//! `apps`, `apps:create`, `apps:info`, `apps:destroy`.

use super::{heroku_time_from_rfc3339, Ctx};
use crate::cli::Format;
use crate::converge;
use crate::error::{Error, Result};
use crate::git;
use crate::output;
use crate::release::Ledger;
use crate::runtime::Runtime;
use crate::state::{self, AppName, AppSettings, Root};

/// One row of `apps --json`.
#[derive(serde::Serialize)]
struct AppJson {
    name: String,
    web_url: String,
    git_url: String,
    /// The current release's version, `null` before the first deploy.
    release: Option<u32>,
}

pub fn list(ctx: &Ctx, format: Format) -> Result<()> {
    let apps = ctx.root.apps()?;
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

/// Creates the app's directory, repo and settings if they are missing.
/// Returns whether it was created now.
pub fn ensure_created(root: &Root, name: &AppName) -> Result<bool> {
    let app = root.app(name);
    if app.exists() {
        return Ok(false);
    }
    state::create_dir(&app.path, 0o750)?;
    for dir in [
        app.releases_dir(),
        app.slugs_dir(),
        app.cache_dir(),
        app.logs_dir(),
    ] {
        state::create_dir(&dir, 0o700)?;
    }
    git::init_bare(&app.repo(), &root.hooks_dir())?;
    // Written last: an app exists once its settings do.
    app.write_settings(&AppSettings::default())?;
    Ok(true)
}

pub fn create(ctx: &Ctx, name: Option<String>) -> Result<()> {
    let name = match name.or_else(|| ctx.app_name().ok().map(|n| n.to_string())) {
        Some(name) => AppName::parse(&name).map_err(|err| Error::new(err.to_string()))?,
        None => unused_name(&ctx.root)?,
    };
    if !ensure_created(&ctx.root, &name)? {
        return Err(Error::new(format!("app `{name}` already exists")));
    }
    say!("Creating {name}... done");
    println!("{} | {}", ctx.settings.app_url(&name), git_url(ctx, &name));
    Ok(())
}

/// The first word of generated names, for apps and add-ons.
pub const NAME_WORDS: &[&str] = &[
    "sunny", "quiet", "brave", "calm", "eager", "gentle", "lucky", "mighty", "polished", "rapid",
    "shy", "tidy", "vast", "warm", "young", "bold",
];

/// A Heroku-style generated name (`sunny-river-4821`) that is not taken.
fn unused_name(root: &Root) -> Result<AppName> {
    const SECOND: &[&str] = &[
        "river", "meadow", "forest", "harbor", "summit", "canyon", "island", "lake", "ocean",
        "prairie", "reef", "ridge", "valley", "garden", "comet", "breeze",
    ];
    let taken = root.apps()?;
    for _ in 0..100 {
        let seed = state::random_u64();
        let name = format!(
            "{}-{}-{:04}",
            NAME_WORDS[(seed % NAME_WORDS.len() as u64) as usize],
            SECOND[((seed >> 8) % SECOND.len() as u64) as usize],
            (seed >> 16) % 10_000
        );
        let name = AppName::parse(&name).expect("generated names are valid");
        if !taken.contains(&name) {
            return Ok(name);
        }
    }
    Err(Error::new("could not find a free app name").hint("name it: `paas apps:create NAME`"))
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

pub fn info(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    let release = Ledger::new(&app).current()?;
    let dynos = ctx.runtime().list(Some(&app.name))?;
    output::header(app.name.as_str());
    println!("Git URL:  {}", git_url(ctx, &app.name));
    println!("Web URL:  {}", ctx.settings.app_url(&app.name));
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
    let app = ctx.app()?;
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
    let _lock = app.lock()?;
    say_partial!("Destroying {} (including all add-ons)... ", app.name);
    let runtime = ctx.runtime();
    let dynos = runtime.list(Some(&app.name))?;
    runtime.remove(&dynos, std::time::Duration::from_secs(10))?;
    super::addons::destroy_with_app(ctx, &app.name)?;
    state::remove_dir_whole(&app.path)?;
    // The router drops an app whose directory is gone.
    let _ = converge::notify_router(&ctx.root, app.name.as_str());
    say!("done");
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
