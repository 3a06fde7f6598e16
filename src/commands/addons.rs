//! `addons`, `addons:create`, `:info`, `:attach`, `:detach`, `:destroy`,
//! `:expose`, `:unexpose`. An attachment is a release of the app that sets
//! `NAME_URL`; the add-on's data lives until `addons:destroy`.

use super::Ctx;
use crate::access::Action;
use crate::addons::{self, service, Addon, AddonDir, Credentials, Kind};
use crate::cli::Format;
use crate::converge::Platform;
use crate::error::{Error, Result};
use crate::output;
use crate::release::{self, Ledger};
use crate::rollout::record_change;
use crate::state::{self, AppDir, AppName, Root, Settings};

/// One row of `addons --json`.
#[derive(serde::Serialize)]
struct AddonJson {
    name: String,
    service: &'static str,
    version: String,
    app: String,
    attachments: Vec<AttachmentJson>,
}

#[derive(serde::Serialize)]
struct AttachmentJson {
    app: String,
    #[serde(rename = "as")]
    var: String,
}

pub fn list(ctx: &Ctx, format: Format) -> Result<()> {
    let only_app = if ctx.app_given() {
        Some(ctx.app()?)
    } else {
        None
    };
    let mut rows = Vec::new();
    for addon in ctx.root.addons()? {
        // Only what the user may see: an add-on of their apps or attached
        // to one, and only those attachments.
        let attachments: Vec<_> = addons::attachments(&ctx.root, &addon.name)?
            .into_iter()
            .filter(|(app, _)| ctx.role_in(app.as_str()).sees())
            .collect();
        if !ctx.role_in(&addon.app).sees() && attachments.is_empty() {
            continue;
        }
        if let Some(app) = &only_app {
            if addon.app != app.name.as_str() && !attachments.iter().any(|(a, _)| *a == app.name) {
                continue;
            }
        }
        rows.push(AddonJson {
            service: addon.kind.name(),
            version: addon.version.clone(),
            app: addon.app.clone(),
            attachments: attachments
                .into_iter()
                .map(|(app, var)| AttachmentJson {
                    app: app.to_string(),
                    var,
                })
                .collect(),
            name: addon.name,
        });
    }
    if format.json {
        return output::print_json(&rows);
    }
    if rows.is_empty() {
        say!(
            "No add-ons{}. Create one with `paas addons:create postgres`.",
            only_app
                .as_ref()
                .map(|a| format!(" for {}", a.name))
                .unwrap_or_default()
        );
        return Ok(());
    }
    let mut table = vec![vec![
        "Add-on".to_string(),
        "Service".to_string(),
        "Version".to_string(),
        "As".to_string(),
    ]];
    for row in &rows {
        let attached: Vec<String> = row
            .attachments
            .iter()
            .filter(|a| {
                only_app
                    .as_ref()
                    .is_none_or(|app| app.name.as_str() == a.app)
            })
            .map(|a| match &only_app {
                Some(_) => a.var.clone(),
                None => format!("{}::{}", a.app, a.var),
            })
            .collect();
        table.push(vec![
            row.name.clone(),
            row.service.to_string(),
            row.version.clone(),
            if attached.is_empty() {
                "(not attached)".into()
            } else {
                attached.join(", ")
            },
        ]);
    }
    output::table(&table);
    Ok(())
}

/// A Heroku-style generated name (`postgres-brave-4821`) that is not taken.
fn unused_name(root: &Root, kind: Kind) -> Result<String> {
    for _ in 0..100 {
        let seed = state::random_u64();
        let words = state::NAME_WORDS;
        let name = format!(
            "{}-{}-{:04}",
            kind.name(),
            words[(seed % words.len() as u64) as usize],
            (seed >> 16) % 10_000
        );
        if !root.addon(&name).path.exists() {
            return Ok(name);
        }
    }
    Err(Error::new("could not find a free add-on name").hint("name it with `--name`"))
}

/// Removes a half-made add-on when creation fails part way.
struct Unmake<'a> {
    settings: &'a Settings,
    dir: AddonDir,
    armed: bool,
}

impl Drop for Unmake<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = service::remove(self.settings, &self.dir.name);
            let _ = std::fs::remove_dir_all(&self.dir.path);
        }
    }
}

pub fn create(
    ctx: &Ctx,
    service_name: &str,
    as_name: Option<String>,
    name: Option<String>,
    version: Option<String>,
    image: Option<String>,
) -> Result<()> {
    let app = ctx.app()?;
    let kind = Kind::parse(service_name)?;
    let var = addons::attachment_var(as_name.as_deref().unwrap_or(kind.default_as()))?;
    refuse_taken_var(&app, &var)?;
    let name = match name {
        Some(name) => {
            let name = addons::parse_name(&name)?;
            if ctx.root.addon(&name).path.exists() {
                return Err(Error::new(format!("add-on `{name}` already exists"))
                    .hint("pick another `--name`, or attach it with `paas addons:attach`"));
            }
            name
        }
        None => unused_name(&ctx.root, kind)?,
    };
    let image = match image {
        Some(image) if image.starts_with('-') || image.chars().any(char::is_whitespace) => {
            return Err(Error::new(format!("`{image}` is not an image name"))
                .hint("name an image like `docker.io/library/postgres:16`"))
        }
        Some(image) => image,
        None => {
            let built_in = match kind {
                Kind::Postgres => &ctx.settings.postgres_image,
                Kind::Redis => &ctx.settings.redis_image,
            };
            if built_in.is_empty() {
                return Err(
                    Error::new(format!("this install has no {} image yet", kind.title()))
                        .hint("run `paas server install` again to build it, or pass `--image`"),
                );
            }
            built_in.clone()
        }
    };

    let runtime = ctx.runtime();
    let platform = ctx.platform(&runtime);
    let addon = provision(&platform, &ctx.user, &app, kind, &name, image, version)?;

    say_partial!("Attaching {name} as {var} to {}... ", app.name);
    let version = attach_release(&platform, &ctx.user, &app, &addon, &var).map_err(|err| {
        // Made but not attached (a failed release phase): creating it again
        // would make a second one.
        let attached = Ledger::new(&app)
            .current()
            .ok()
            .flatten()
            .is_some_and(|r| r.addons.get(&var) == Some(&name));
        if attached {
            err
        } else {
            err.hint(attach_later_hint(
                &name,
                as_name.as_deref(),
                app.name.as_str(),
            ))
        }
    })?;
    say!("done, v{version}");
    Ok(())
}

/// Makes the add-on `name` for `app`: its container, credentials and
/// database, ready to attach. Removed again if any of that fails.
fn provision(
    platform: &Platform,
    user: &str,
    app: &AppDir,
    kind: Kind,
    name: &str,
    image: String,
    version: Option<String>,
) -> Result<Addon> {
    say!("Creating {name} on {}...", app.name);
    let dir = platform.root.addon(name);
    state::create_dir(&platform.root.addons_dir(), 0o700)?;
    // Claims the name: a concurrent create of the same name fails here.
    std::fs::create_dir(&dir.path)
        .map_err(|err| Error::new(format!("add-on `{name}` already exists")).cause(err))?;
    // The daemon leaves an add-on alone while this is held; taken before
    // `unmake`, it is released only after a failed create is cleaned up.
    let _lock = dir.lock()?;
    let mut unmake = Unmake {
        settings: platform.settings,
        dir: dir.clone(),
        armed: true,
    };
    let credentials = Credentials {
        user: format!("u{}", &addons::secret()?[..12]),
        password: addons::secret()?,
        database: format!("d{}", &addons::secret()?[..12]),
    };
    dir.write_credentials(&credentials)?;
    if kind == Kind::Redis {
        state::write_atomic(
            &dir.redis_conf(),
            service::redis_conf(&credentials.password).as_bytes(),
            0o600,
        )?;
    }
    let mut addon = Addon {
        name: name.to_string(),
        kind,
        version: String::new(),
        image,
        created_at: release::now_rfc3339(),
        created_by: user.to_string(),
        app: app.name.to_string(),
        exposed_port: None,
        schedule: None,
    };
    dir.write(&addon)?;
    service::connect(platform.settings, platform.root, &addon, &app.name)?;
    service::start_new(platform.settings, platform.root, &addon)?;
    addon.version = service::wait_ready(platform.settings, &addon, &dir, ready_deadline())?;
    if let Some(wanted) = &version {
        let major = addon.version.split('.').next().unwrap_or_default();
        if major != wanted.split('.').next().unwrap_or_default() {
            return Err(Error::new(format!(
                "the image `{}` runs {} {}, not {wanted}",
                addon.image,
                kind.title(),
                addon.version
            ))
            .hint("pass `--image` with an image of that version (the built-in ones come from Debian 12)"));
        }
    }
    if kind == Kind::Postgres {
        service::psql_as_superuser(
            platform.settings,
            &addon,
            "postgres",
            &format!(
                "CREATE ROLE \"{0}\" LOGIN PASSWORD '{1}';\nCREATE DATABASE \"{2}\" OWNER \"{0}\";",
                credentials.user, credentials.password, credentials.database
            ),
        )?;
    }
    dir.write(&addon)?;
    say!("{} {} is ready", kind.title(), addon.version);
    unmake.armed = false;
    drop(_lock);
    Ok(addon)
}

/// The hint when a new add-on could not be attached.
fn attach_later_hint(name: &str, as_name: Option<&str>, app: &str) -> String {
    let as_flag = as_name.map(|n| format!(" --as {n}")).unwrap_or_default();
    format!(
        "{name} was created but is not attached; the previous release keeps running. \
         Fix what failed (output above), then attach it: `paas addons:attach {name}{as_flag} -a {app}` \
         (or remove it: `paas addons:destroy {name} --confirm {app}`)"
    )
}

fn ready_deadline() -> std::time::Instant {
    std::time::Instant::now() + service::READY_TIMEOUT
}

/// Refuses a var the app already has, from an add-on or set by hand.
fn refuse_taken_var(app: &AppDir, var: &str) -> Result<()> {
    let Some(current) = Ledger::new(app).current()? else {
        return Ok(());
    };
    if let Some(existing) = current.addons.get(var) {
        return Err(Error::new(format!(
            "`{}` already has `{existing}` attached as `{var}`",
            app.name
        ))
        .hint("pick another attachment name with `--as NAME`"));
    }
    if current.config.contains_key(var) {
        return Err(
            Error::new(format!("`{}` already has a config var `{var}`", app.name)).hint(format!(
                "unset it (`paas config:unset {var}`) or pick another name with `--as NAME`"
            )),
        );
    }
    Ok(())
}

/// The release that attaches an add-on as `var`.
fn attach_release(
    platform: &Platform,
    user: &str,
    app: &AppDir,
    addon: &Addon,
    var: &str,
) -> Result<u32> {
    let url = addon.url(&platform.root.addon(&addon.name).credentials()?);
    let label = var.strip_suffix("_URL").unwrap_or(var);
    record_change(
        platform,
        user,
        app,
        format!("Attach {label} ({})", addon.name),
        |config, attached| {
            config.insert(var.to_string(), url);
            attached.insert(var.to_string(), addon.name.clone());
            Ok(())
        },
    )
}

/// The release that detaches `var`.
fn detach_release(
    platform: &Platform,
    user: &str,
    app: &AppDir,
    addon: &str,
    var: &str,
) -> Result<u32> {
    let label = var.strip_suffix("_URL").unwrap_or(var);
    record_change(
        platform,
        user,
        app,
        format!("Detach {label} ({addon})"),
        |config, attached| {
            config.remove(var);
            attached.remove(var);
            Ok(())
        },
    )
}

/// An add-on by name, which must exist and belong to an app the user may
/// use (`addons:attach` of another app's database needs access to both).
pub fn named(ctx: &Ctx, name: &str) -> Result<(Addon, AddonDir)> {
    named_for(ctx, name, Action::Use)
}

/// `named`, for what `action` needs on the add-on's app.
fn named_for(ctx: &Ctx, name: &str, action: Action) -> Result<(Addon, AddonDir)> {
    let (addon, dir) = named_unchecked(&ctx.root, name)?;
    let role = ctx.role_in(&addon.app);
    if !role.sees() {
        return Err(dir.missing());
    }
    if !role.allows(action) {
        return Err(Error::new(format!(
            "only the owner of `{}`, the app `{name}` was made for, or an admin may do that",
            addon.app
        ))
        .hint(format!("`paas access -a {}` shows who owns it", addon.app)));
    }
    Ok((addon, dir))
}

/// An add-on by name, whoever's it is: for one attached to an app the user
/// uses (`pg:*` and `redis:*` follow the app).
fn named_unchecked(root: &Root, name: &str) -> Result<(Addon, AddonDir)> {
    let dir = root.addon(&addons::parse_name(name)?);
    Ok((dir.read()?, dir))
}

/// The add-on an app command means: by name, by attachment (`DATABASE_URL`,
/// `DATABASE`), or by default the service's usual attachment.
pub fn resolve(
    ctx: &Ctx,
    app: &AppDir,
    typed: Option<&str>,
    kind: Kind,
) -> Result<(Addon, AddonDir)> {
    let attached = Ledger::new(app)
        .current()?
        .map(|r| r.addons)
        .unwrap_or_default();
    let found = match typed {
        // By name: one the app uses or was made for (a confirmation names
        // the app, so it must not reach another app's database).
        Some(text)
            if addons::parse_name(text).is_ok()
                && ctx.root.addon(text).exists()
                && (attached.values().any(|a| a == text) || named(ctx, text).is_ok()) =>
        {
            let owned = ctx
                .root
                .addon(text)
                .read()
                .is_ok_and(|a| a.app == app.name.as_str());
            if !owned && !attached.values().any(|a| a == text) {
                return Err(
                    Error::new(format!("`{text}` is not attached to `{}`", app.name)).hint(
                        format!(
                            "attach it first: `paas addons:attach {text} -a {}`",
                            app.name
                        ),
                    ),
                );
            }
            Some(text.to_string())
        }
        Some(text) => {
            let var = addons::attachment_var(text)?;
            Some(attached.get(&var).cloned().ok_or_else(|| {
                Error::new(format!(
                    "`{}` has no add-on called or attached as `{text}`",
                    app.name
                ))
                .hint(format!("`paas addons -a {}` lists them", app.name))
            })?)
        }
        None => attached
            .get(&format!("{}_URL", kind.default_as()))
            .cloned()
            .or_else(|| {
                attached
                    .values()
                    .find(|name| ctx.root.addon(name).read().is_ok_and(|a| a.kind == kind))
                    .cloned()
            }),
    };
    let Some(name) = found else {
        return Err(
            Error::new(format!("`{}` has no {} add-on", app.name, kind.title())).hint(format!(
                "create one with `paas addons:create {} -a {}`",
                kind.name(),
                app.name
            )),
        );
    };
    let (addon, dir) = named_unchecked(&ctx.root, &name)?;
    if addon.kind != kind {
        return Err(Error::new(format!(
            "`{name}` is a {} add-on, not {}",
            addon.kind.title(),
            kind.title()
        ))
        .hint(format!(
            "use the `{}:` commands for it",
            match addon.kind {
                Kind::Postgres => "pg",
                Kind::Redis => "redis",
            }
        )));
    }
    Ok((addon, dir))
}

pub fn info(ctx: &Ctx, name: &str) -> Result<()> {
    let (addon, dir) = named(ctx, name)?;
    let attachments = addons::attachments(&ctx.root, &addon.name)?;
    output::header(&addon.name);
    println!("Service:     {} {}", addon.kind.title(), addon.version);
    println!("Image:       {}", addon.image);
    println!(
        "Status:      {}",
        service::status(&ctx.settings, &addon.name).unwrap_or_else(|| "missing".into())
    );
    println!(
        "Created:     {} by {}",
        super::heroku_time_from_rfc3339(&addon.created_at),
        addon.created_by
    );
    println!("App:         {}", addon.app);
    let attached: Vec<String> = attachments
        .iter()
        .map(|(app, var)| format!("{app} as {var}"))
        .collect();
    println!(
        "Attached:    {}",
        if attached.is_empty() {
            "none".to_string()
        } else {
            attached.join(", ")
        }
    );
    println!(
        "Exposed:     {}",
        addon
            .exposed_port
            .map_or("no".to_string(), |p| format!("127.0.0.1:{p} on the server"))
    );
    if addon.kind == Kind::Postgres {
        let backups = addons::backups::list(&dir)?;
        let schedule = addon.schedule.as_ref().map_or(String::new(), |s| {
            format!(", daily at {} UTC, kept {} days", s.at, s.retain_days)
        });
        println!("Backups:     {}{schedule}", backups.len());
    }
    Ok(())
}

pub fn attach(ctx: &Ctx, name: &str, as_name: Option<String>) -> Result<()> {
    let app = ctx.app()?;
    let (addon, dir) = named(ctx, name)?;
    let var = addons::attachment_var(as_name.as_deref().unwrap_or(addon.kind.default_as()))?;
    refuse_taken_var(&app, &var)?;
    let runtime = ctx.runtime();
    let version = attach_to(&ctx.platform(&runtime), &ctx.user, &app, &addon, &dir, &var)?;
    say!("done, v{version}");
    Ok(())
}

/// Attaches `addon` to `app` as `var`: the add-on joins the app's network,
/// then a release sets the var. Returns the release's version.
fn attach_to(
    platform: &Platform,
    user: &str,
    app: &AppDir,
    addon: &Addon,
    dir: &AddonDir,
    var: &str,
) -> Result<u32> {
    {
        // Addresses are chosen and recorded one add-on at a time.
        let _lock = dir.lock()?;
        service::connect(platform.settings, platform.root, addon, &app.name)?;
    }
    say_partial!("Attaching {} as {var} to {}... ", addon.name, app.name);
    attach_release(platform, user, app, addon, var)
}

pub fn detach(ctx: &Ctx, typed: &str) -> Result<()> {
    let app = ctx.app()?;
    let attached = Ledger::new(&app)
        .current()?
        .map(|r| r.addons)
        .unwrap_or_default();
    // By name: every attachment of it; by var: that one.
    let vars: Vec<(String, String)> = match addons::parse_name(typed) {
        Ok(name) if attached.values().any(|a| *a == name) => attached
            .iter()
            .filter(|(_, a)| **a == name)
            .map(|(v, a)| (v.clone(), a.clone()))
            .collect(),
        _ => {
            let var = addons::attachment_var(typed).ok();
            match var.and_then(|v| attached.get(&v).map(|a| (v, a.clone()))) {
                Some(found) => vec![found],
                None => {
                    return Err(
                        Error::new(format!("`{typed}` is not attached to `{}`", app.name))
                            .hint(format!("`paas addons -a {}` lists its add-ons", app.name)),
                    )
                }
            }
        }
    };
    let runtime = ctx.runtime();
    detach_from(&ctx.platform(&runtime), &ctx.user, &app, &vars)
}

/// Detaches each of `vars` (var, add-on) from `app`, a release each; an
/// add-on the app no longer uses leaves its network.
fn detach_from(
    platform: &Platform,
    user: &str,
    app: &AppDir,
    vars: &[(String, String)],
) -> Result<()> {
    for (var, addon) in vars {
        say_partial!("Detaching {var} ({addon}) from {}... ", app.name);
        let version = detach_release(platform, user, app, addon, var)?;
        say!("done, v{version}");
    }
    let still: Vec<String> = Ledger::new(app)
        .current()?
        .map(|r| r.addons.into_values().collect())
        .unwrap_or_default();
    for (_, addon) in vars {
        if !still.contains(addon) {
            service::disconnect(platform.settings, platform.root, addon, &app.name)?;
        }
    }
    Ok(())
}

pub fn destroy(ctx: &Ctx, name: &str, confirm: Option<String>, force: bool) -> Result<()> {
    let (addon, dir) = named_for(ctx, name, Action::Own)?;
    let warning = format!(
        "This will destroy {} and its data and backups for good.",
        addon.name
    );
    let confirm = super::confirmation(confirm.as_deref(), addon.app.as_str(), &warning);
    if confirm.as_deref() != Some(addon.app.as_str()) {
        return Err(Error::new(format!(
            "destroying `{}` deletes its data and backups for good",
            addon.name
        ))
        .hint(format!(
            "confirm with `paas addons:destroy {} --confirm {}`",
            addon.name, addon.app
        )));
    }
    let attachments = addons::attachments(&ctx.root, &addon.name)?;
    let elsewhere: Vec<String> = attachments
        .iter()
        .filter(|(app, _)| app.as_str() != addon.app)
        .map(|(app, var)| format!("{app} as {var}"))
        .collect();
    if !elsewhere.is_empty() && !force {
        return Err(Error::new(format!(
            "`{}` is still attached to {}",
            addon.name,
            elsewhere.join(", ")
        ))
        .hint("detach it there first, or add `--force` to detach it everywhere"));
    }
    let runtime = ctx.runtime();
    deprovision(
        &ctx.platform(&runtime),
        &ctx.user,
        &addon,
        &dir,
        &attachments,
    )
}

/// Destroys an add-on and its data: detached from each app of
/// `attachments` first (a release each), then its container and files.
fn deprovision(
    platform: &Platform,
    user: &str,
    addon: &Addon,
    dir: &AddonDir,
    attachments: &[(AppName, String)],
) -> Result<()> {
    for (app, var) in attachments {
        let app_dir = platform.root.app(app);
        say_partial!("Detaching {var} ({}) from {app}... ", addon.name);
        let version = detach_release(platform, user, &app_dir, &addon.name, var)?;
        say!("done, v{version}");
    }
    say_partial!("Destroying {}... ", addon.name);
    let _lock = dir.lock()?;
    service::remove(platform.settings, &addon.name)?;
    state::remove_dir_whole(&dir.path)?;
    say!("done");
    Ok(())
}

/// Destroys the add-ons made for an app being destroyed, unless another
/// app uses them (those stay, and are said to).
pub fn destroy_with_app(root: &Root, settings: &Settings, app: &AppName) -> Result<()> {
    for addon in root.addons()? {
        let others: Vec<String> = addons::attachments(root, &addon.name)?
            .into_iter()
            .filter(|(a, _)| a != app)
            .map(|(a, _)| a.to_string())
            .collect();
        if addon.app == app.as_str() && others.is_empty() {
            let dir = root.addon(&addon.name);
            let _lock = dir.lock()?;
            service::remove(settings, &addon.name)?;
            state::remove_dir_whole(&dir.path)?;
            say!("       destroyed {}", addon.name);
        } else {
            service::disconnect(settings, root, &addon.name, app)?;
            if addon.app == app.as_str() {
                say!(
                    "       kept {}: {} still use it",
                    addon.name,
                    others.join(", ")
                );
            }
        }
    }
    crate::runtime::network::remove_app_network(settings, app);
    Ok(())
}

pub fn expose(ctx: &Ctx, name: &str, port: Option<u16>) -> Result<()> {
    let (_, dir) = named(ctx, name)?;
    let _lock = dir.lock()?;
    let mut addon = dir.read()?;
    let port = port.unwrap_or(addon.kind.port());
    addon.exposed_port = Some(port);
    say_partial!("Publishing {} on 127.0.0.1:{port}... ", addon.name);
    recreate(&ctx.settings, &ctx.root, &addon, &dir)?;
    say!("done");
    say!(
        "From a laptop: ssh -L {port}:127.0.0.1:{port} <server>, then connect to 127.0.0.1:{port} (`paas pg:credentials` has the password)"
    );
    Ok(())
}

pub fn unexpose(ctx: &Ctx, name: &str) -> Result<()> {
    let (_, dir) = named(ctx, name)?;
    let _lock = dir.lock()?;
    let mut addon = dir.read()?;
    if addon.exposed_port.is_none() {
        say!("{} is not published", addon.name);
        return Ok(());
    }
    addon.exposed_port = None;
    say_partial!("Unpublishing {}... ", addon.name);
    recreate(&ctx.settings, &ctx.root, &addon, &dir)?;
    say!("done");
    Ok(())
}

/// An add-on's container made anew with its changed settings (`addon`),
/// which are recorded once it is ready. Under the add-on's lock.
fn recreate(settings: &Settings, root: &Root, addon: &Addon, dir: &AddonDir) -> Result<()> {
    service::recreate(settings, root, addon)?;
    service::wait_ready(settings, addon, dir, ready_deadline())?;
    dir.write(addon)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_addon_made_but_not_attached_is_attached_by_name_later() {
        let hint = attach_later_hint("db", Some("CACHE"), "web");
        assert!(
            hint.contains("`paas addons:attach db --as CACHE -a web`"),
            "{hint}"
        );
        assert!(
            hint.contains("`paas addons:destroy db --confirm web`"),
            "{hint}"
        );
        let hint = attach_later_hint("postgres-brave-4821", None, "web");
        assert!(
            hint.contains("`paas addons:attach postgres-brave-4821 -a web`"),
            "{hint}"
        );
    }
}
