//! An add-on's life: made for an app (`provision`), attached to apps and
//! detached (each a release of the app, `record_change`), its container
//! made anew with changed settings, destroyed on its own or with its app.

use crate::addons::{self, service, Addon, AddonDir, Credentials, Kind};
use crate::converge::Platform;
use crate::error::{Error, Result};
use crate::release::{self, Ledger};
use crate::rollout::record_change;
use crate::state::{self, AppDir, AppName, Root, Settings};

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

/// Makes the add-on `name` for `app`: its container, credentials and
/// database, ready to attach. Removed again if any of that fails.
pub fn provision(
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

fn ready_deadline() -> std::time::Instant {
    std::time::Instant::now() + service::READY_TIMEOUT
}

/// Attaches `addon` to `app` as `var`: the add-on joins the app's network,
/// then a release sets the var. Returns the release's version.
pub fn attach_to(
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

/// The release that attaches an add-on as `var`.
pub fn attach_release(
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

/// Detaches each of `vars` (var, add-on) from `app`, a release each; an
/// add-on the app no longer uses leaves its network.
pub fn detach_from(
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

/// Destroys an add-on and its data: detached from each app of
/// `attachments` first (a release each), then its container and files.
pub fn deprovision(
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

/// An add-on's container made anew with its changed settings (`addon`),
/// which are recorded once it is ready. Under the add-on's lock.
pub fn recreate(settings: &Settings, root: &Root, addon: &Addon, dir: &AddonDir) -> Result<()> {
    service::recreate(settings, root, addon)?;
    service::wait_ready(settings, addon, dir, ready_deadline())?;
    dir.write(addon)
}
