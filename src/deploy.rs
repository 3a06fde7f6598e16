//! A push's deploy: the pushed commit built into a slug by its buildpacks
//! (or into an image by its Dockerfile, `deploy/image.rs`), recorded as a
//! build, and rolled out as a new release (`rollout`). The pre-receive hook
//! (`commands/deploy.rs`) calls it for the deploy branch.

mod image;
pub use image::deploy_image;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use crate::addons::Kind;
use crate::build::{self, history, BuildRequest};
use crate::converge::{Mode, Platform};
use crate::error::{Context, Error, Result};
use crate::git::{self, RefUpdate};
use crate::logs;
use crate::release::{self, ImageRef, Ledger, Release};
use crate::rollout::{default_formation, roll_out};
use crate::runtime::procfile;
use crate::slug::{self, SlugRef};
use crate::state::{self, AppDir};

pub fn deploy(platform: &Platform, user: &str, app: &AppDir, update: &RefUpdate) -> Result<()> {
    let started = Instant::now();
    let commit = update.new.as_str();
    let lock = app.lock()?;
    refuse_if_overtaken(app, update)?;
    // Before this push's own build is recorded: a pending one now is a dead push's.
    if let Err(err) = crate::interrupted::sweep(platform, app, &lock) {
        say!(" !     warning: {}", err.report().trim_end());
    }
    let short: String = commit.chars().take(7).collect();
    let record = history::start(app, commit, user)?;
    // Without a transcript the build still runs; only its output is not kept.
    let transcript = history::Transcript::start(history::output_file(app, record.id)).ok();
    say!(
        "-----> Building {} ({short}), build #{}",
        app.name,
        record.id
    );
    logs::platform(app, "api", &format!("Build started by {user}"));
    let result = build_and_release(platform, user, app, commit, record.id, started);
    drop(transcript);
    let release = match &result {
        Ok(()) => Ledger::new(app).current().ok().flatten().map(|r| r.version),
        Err(err) => {
            // The error is printed after the hook returns: keep it with the build.
            let _ = std::fs::OpenOptions::new()
                .append(true)
                .open(history::output_file(app, record.id))
                .and_then(|mut f| std::io::Write::write_all(&mut f, err.report().as_bytes()));
            None
        }
    };
    history::finish(app, record, release, started.elapsed().as_secs_f64());
    if result.is_err() {
        logs::platform(
            app,
            "api",
            &format!("Build failed for {short}: the previous release keeps running"),
        );
    }
    result
}

fn build_and_release(
    platform: &Platform,
    user: &str,
    app: &AppDir,
    commit: &str,
    build_id: u32,
    started: Instant,
) -> Result<()> {
    let build_dir = build::new_build_dir(app)?;
    // The source directory is removed whatever happens; a kept one becomes the slug dir.
    let cleanup = RemoveOnDrop(build_dir.clone());
    git::export_tree(&app.repo(), commit, &build_dir)?;
    let ledger = Ledger::new(app);
    let current = ledger.current()?;
    let mut config = current
        .as_ref()
        .map(|r| r.config.clone())
        .unwrap_or_default();
    let (buildpacks, source) =
        build::buildpacks::choose(&app.settings()?.buildpacks, &config, &build_dir)?;
    if build::dockerfile::wanted(&source, &build_dir) {
        let built = image::build(platform, app, &build_dir, ledger.next_version()?, config)?;
        drop(cleanup);
        return launch(platform, user, app, commit, build_id, started, built);
    }
    if let Some(from) = source.describe() {
        let names: Vec<String> = buildpacks.iter().map(ToString::to_string).collect();
        say!("-----> Buildpacks {from}: {}", names.join(", "));
    }
    let removed = build::apply_slugignore(&build_dir)?;
    if removed > 0 {
        say!("-----> Removed {removed} file(s) and folder(s) named in .slugignore");
    }
    let build_started = Instant::now();
    let output = build::run(&BuildRequest {
        settings: platform.settings,
        buildpacks_dir: &platform.root.buildpacks_dir(),
        app,
        build_dir: &build_dir,
        commit,
        config: &config,
        buildpacks: &buildpacks,
    })?;
    let first_deploy = current.as_ref().is_none_or(|r| !r.is_built());
    // By kind, whatever the add-ons are called (`--name db`); read only
    // when a buildpack asks for one.
    let attached: Vec<Kind> = current
        .iter()
        .filter(|_| !output.addons.is_empty())
        .flat_map(|r| r.addons.values())
        .filter_map(|name| platform.root.addon(name).read().ok().map(|a| a.kind))
        .collect();
    apply_buildpack_requests(app, &output, first_deploy, &mut config, &attached);

    // The Procfile wins; the last buildpack's defaults fill in the types it
    // does not name, as on Heroku.
    let processes = discover_processes(&build_dir, &output.default_process_types, "buildpack")?;
    if processes.is_empty() {
        // Detection picks Node.js for a site that Node.js only builds: the
        // static buildpack, run after it, serves what the build wrote.
        let hint = if matches!(source, build::buildpacks::Source::Detect)
            && build_dir.join("static.json").is_file()
            && build_dir.join("package.json").is_file()
        {
            "to serve the site the build writes with nginx, as static.json says, \
             run the static buildpack after Node.js's: \
             `paas buildpacks:set nodejs`, then `paas buildpacks:add static`, and push again"
        } else {
            "add a Procfile naming the command that starts the app on $PORT, \
             such as `web: gunicorn app:app` or `web: node server.js`"
        };
        return Err(Error::new(
            "no process types: the app has no Procfile and its buildpack named none",
        )
        .hint(hint));
    }
    // A broken app.json fails the build, not the launch.
    crate::checks::load(&build_dir)?;
    crate::cron::check_app_json(&build_dir)?;

    let slug_started = Instant::now();
    say!("-----> Compressing...");
    let slug = slug::pack(&build_dir, &app.slugs_dir())?;
    say!("       Done: {}", slug::human_size(slug.size));
    let limit = platform
        .settings
        .slug_limit_mb
        .unwrap_or(1024)
        .saturating_mul(1024 * 1024);
    if slug.size > limit {
        // Unreferenced: the next deploy's prune removes it.
        return Err(Error::new(format!(
            "the slug is {}, over this server's limit of {}",
            slug::human_size(slug.size),
            slug::human_size(limit)
        ))
        .hint("leave out what the app does not run with a .slugignore file; the running release is untouched"));
    }
    // The compiled tree is the unpacked slug: keep it for the dynos to mount.
    let slug_dir = app.slugs_dir().join(&slug.sha256);
    if !slug_dir.exists() {
        std::fs::rename(&build_dir, &slug_dir).context(|| "keeping the unpacked slug".into())?;
    }
    drop(cleanup);
    let built = Built {
        slug: Some(slug),
        image: None,
        processes,
        config,
        started: build_started,
        packed: Some(slug_started),
    };
    launch(platform, user, app, commit, build_id, started, built)
}

/// What a build made, for its release.
struct Built {
    slug: Option<SlugRef>,
    image: Option<ImageRef>,
    processes: BTreeMap<String, String>,
    /// The config vars to run with (a buildpack's requests applied).
    config: BTreeMap<String, String>,
    /// When it started building, and (a slug's) packing.
    started: Instant,
    packed: Option<Instant>,
}

/// What was built released and rolled out: the push's last steps,
/// whatever built it.
fn launch(
    platform: &Platform,
    user: &str,
    app: &AppDir,
    commit: &str,
    build_id: u32,
    started: Instant,
    built: Built,
) -> Result<()> {
    let ledger = Ledger::new(app);
    let short: String = commit.chars().take(7).collect();
    let release = Release {
        version: ledger.next_version()?,
        description: format!("Deploy {short}"),
        user: user.to_string(),
        created_at: release::now_rfc3339(),
        commit: Some(commit.to_string()),
        slug: built.slug,
        image: built.image,
        processes: built.processes,
        config: built.config,
        addons: ledger.current()?.map(|r| r.addons).unwrap_or_default(),
        failed: None,
    };
    let formation = default_formation(app, &release)?;
    say!("-----> Launching...");
    let launch_started = Instant::now();
    roll_out(
        platform,
        app,
        &release,
        &formation,
        Mode::Keep,
        Some(build_id),
    )?;
    let launched = Instant::now();
    if let Some(window) = crate::probation::Probation::load(app) {
        say!(
            "       Traffic moved; v{}'s dynos stay warm for {} s and take it back if a new dyno crashes",
            window.previous,
            window.until - window.started
        );
    }
    crate::prune::old_slugs(app, None);
    crate::prune::old_images(platform.runtime, app);
    let mut settings = app.settings()?;
    settings.deployed_commit = Some(commit.to_string());
    if let Err(err) = app.write_settings(&settings) {
        say!(" !     warning: {}", err.report().trim_end());
    }
    say!("       Released v{}", release.version);
    say!(
        "       {} deployed to paas",
        platform.settings.app_url(&app.name)
    );
    for (process_type, count) in &formation {
        if *count == 0 {
            say!("       `{process_type}` is not running: `paas ps:scale {process_type}=1 -a {}` starts it", app.name);
        }
    }
    // Where the time went, the way a user would want to know.
    let seconds = |from: Instant, to: Instant| to.duration_since(from).as_secs_f64();
    let slug = match built.packed {
        Some(packed) => format!(" · slug {:.1} s", seconds(packed, launch_started)),
        None => String::new(),
    };
    say!(
        "       (took {:.1} s: fetch {:.1} s · build {:.1} s{slug} · launch {:.1} s)",
        started.elapsed().as_secs_f64(),
        seconds(started, built.started),
        seconds(built.started, built.packed.unwrap_or(launch_started)),
        seconds(launch_started, launched),
    );
    Ok(())
}

/// The process types: the Procfile's, and `defaults` (a buildpack's, an
/// image's own command) for the types it does not name, as on Heroku.
fn discover_processes(
    build_dir: &Path,
    defaults: &BTreeMap<String, String>,
    defaults_from: &str,
) -> Result<BTreeMap<String, String>> {
    let declared: BTreeMap<String, String> =
        match state::read_untrusted(&build_dir.join("Procfile"), 64 * 1024)? {
            Some(text) => procfile::parse(&text)
                .map_err(|err| Error::new(err.to_string()).hint("fix the Procfile and push again"))?
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            None => BTreeMap::new(),
        };
    let filled: Vec<&str> = defaults
        .keys()
        .filter(|t| !declared.contains_key(*t))
        .map(String::as_str)
        .collect();
    say!("-----> Discovering process types");
    if !declared.is_empty() {
        let types: Vec<&str> = declared.keys().map(String::as_str).collect();
        say!("       Procfile declares types     -> {}", types.join(", "));
    }
    if !filled.is_empty() {
        say!(
            "       Default types for {defaults_from:<9} -> {}",
            filled.join(", ")
        );
    }
    let mut processes = defaults.clone();
    processes.extend(declared);
    Ok(processes)
}

/// What the buildpacks' `bin/release` asked for beyond process types:
/// config vars are set on the first deploy (never over the user's) and only
/// suggested later; add-ons the app has none of (`attached`: the kinds it
/// has) are named with the command that creates them.
fn apply_buildpack_requests(
    app: &AppDir,
    output: &build::BuildOutput,
    first_deploy: bool,
    config: &mut BTreeMap<String, String>,
    attached: &[Kind],
) {
    for (key, value) in &output.config_vars {
        if config.contains_key(key) || crate::state::ConfigKey::parse(key).is_err() {
            continue;
        }
        if first_deploy {
            say!("-----> Setting {key} from the buildpack (first deploy)");
            config.insert(key.clone(), value.clone());
        } else {
            say!(
                " !     The buildpack suggests {key}={value}: `paas config:set {key}=... -a {}` sets it",
                app.name
            );
        }
    }
    for addon in &output.addons {
        if let Some(note) = addon_request_note(addon, attached, app.name.as_str()) {
            say!("{note}");
        }
    }
}

/// What to say about an add-on a buildpack asks for (`heroku-postgresql`),
/// given the kinds of the add-ons the app has: nothing when it has one.
fn addon_request_note(addon: &str, attached: &[Kind], app: &str) -> Option<String> {
    match Kind::parse(addon) {
        Ok(kind) if attached.contains(&kind) => None,
        Ok(kind) => Some(format!(
            " !     The buildpack asks for a {0} add-on: `paas addons:create {0} -a {app}` makes one",
            kind.name()
        )),
        Err(_) => Some(format!(
            " !     The buildpack asks for the add-on `{addon}`, which paas does not offer"
        )),
    }
}

/// Refuses a push whose branch moved while it waited for the app lock: git
/// would refuse to move the branch after this build, leaving a release
/// running that the branch does not name.
fn refuse_if_overtaken(app: &AppDir, update: &RefUpdate) -> Result<()> {
    let deployed = app.settings()?.deployed_commit;
    let mut current = git::resolve_ref(&app.repo(), &update.name)?;
    // The push that held the lock may not have moved the branch yet: git
    // does that right after its hook returns. Give it a moment.
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    while deployed.is_some() && current != deployed && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        current = git::resolve_ref(&app.repo(), &update.name)?;
    }
    if current.as_deref().unwrap_or(git::ZERO_ID) == update.old {
        return Ok(());
    }
    let short = current.as_deref().map_or("", |c| &c[..c.len().min(7)]);
    Err(Error::new(format!(
        "another push deployed `{short}` while this one waited"
    ))
    .hint("pull, merge, and push again"))
}

struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if self.0.exists() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_addon_request_is_met_by_an_addon_of_its_kind_whatever_its_name() {
        // A postgres add-on made with `--name db` is attached: nothing to say.
        assert_eq!(
            addon_request_note("heroku-postgresql:mini", &[Kind::Postgres], "web"),
            None
        );
        assert_eq!(
            addon_request_note("heroku-postgresql", &[Kind::Redis], "web").as_deref(),
            Some(" !     The buildpack asks for a postgres add-on: `paas addons:create postgres -a web` makes one")
        );
        assert_eq!(
            addon_request_note("heroku-kafka", &[], "web").as_deref(),
            Some(" !     The buildpack asks for the add-on `heroku-kafka`, which paas does not offer")
        );
    }
}
