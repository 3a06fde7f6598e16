//! An app renamed (`apps:rename`, #21 point 5): it runs on under the new
//! name as it did, and nothing of it is lost.
//!
//! The name is in the app's directory (`apps/<name>/`: repo and hooks,
//! settings with owner and collaborators, config, releases, builds, slugs,
//! logs, routes, cron runs), in its dynos' container names and labels, in
//! its network's name (podman renames no network), in each add-on's
//! records of the apps it sits with (`addresses.toml`, `Addon::app`), and
//! in deploy keys. Its hostname `<app>.<domain>` is the name; custom
//! domains are settings, and move with the directory.
//!
//! The directory's rename is the commit point. Under the app's lock, with
//! no app being made meanwhile (the new-apps lock, exclusive):
//!
//! 1. a record (`rename.toml`: `from`, `to`) is written in the directory,
//!    and the add-ons the app reaches join the new name's network as well;
//! 2. the directory is renamed, and the router told: the new hostname
//!    answers at once, from the dynos still running under the old name;
//! 3. the dynos start under the new name, on its network, as a restart
//!    starts them (traffic moves once they are up); if they fail, the
//!    directory is renamed back and step 1 undone: the old dynos never
//!    stopped, and the app is as it was;
//! 4. the old name's dynos stop (one-off dynos too), the add-ons leave its
//!    network, which goes, the records name the new app, its images take
//!    the new name (a new app of the old name would prune them, and build
//!    from them as its own), and the record goes. Releases keep the image
//!    name they were made with: the ledger is not rewritten, and dynos run
//!    an image by its id.
//!
//! A process killed in step 1 leaves the record in `apps/<old>/`, naming
//! another directory: the daemon's pass (`resume`) undoes step 1. Killed
//! after step 2, the record is in `apps/<new>/`: the pass does step 4,
//! then its repair starts the dynos (after the old ones stopped: a crash
//! costs the downtime a restart otherwise spares).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::addons::{self, service};
use crate::control::{drain_router, notify_router};
use crate::converge::{routes_of, Mode, Platform};
use crate::error::{Context, Error, Result};
use crate::keys::Registry;
use crate::logs;
use crate::release::Ledger;
use crate::routes::Routes;
use crate::runtime::network;
use crate::runtime::podman::images;
use crate::state::{self, AppDir, AppName, Lock, Root};

/// `rename.toml`: a rename under way, or left half done by a process that
/// was killed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    from: String,
    to: String,
    /// The old name's dynos when the rename began (container names): a
    /// rename finished after the old name was taken again stops these,
    /// never the new app's.
    #[serde(default)]
    containers: Vec<String>,
}

fn record_file(app: &AppDir) -> PathBuf {
    app.path.join("rename.toml")
}

impl Record {
    /// The record, if there is one. One that cannot be read is an error,
    /// never taken for none or for an empty one: it is all that says which
    /// way a killed rename went.
    fn load(app: &AppDir) -> Result<Option<Record>> {
        let path = record_file(app);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(unreadable(app, &path, &err.to_string())),
        };
        toml::from_str(&text)
            .map(Some)
            .map_err(|err| unreadable(app, &path, err.message()))
    }
}

fn unreadable(app: &AppDir, path: &std::path::Path, why: &str) -> Error {
    Error::new(format!(
        "`{}` says which rename of `{}` was under way, and cannot be read",
        path.display(),
        app.name
    ))
    .cause(why.trim())
    .hint(
        "write it as two lines, `from = \"OLD\"` and `to = \"NEW\"` (the names before and \
         after the rename), and the daemon finishes or undoes it; remove it only if no \
         rename of the app was under way",
    )
}

/// Refuses a new name that is the app's own, or another app's.
pub fn check_new_name(root: &Root, app: &AppName, new: &AppName) -> Result<()> {
    if new == app {
        return Err(Error::new(format!("`{app}` is already the app's name"))
            .hint("give the name it is to have: `paas apps:rename NEWNAME -a APP`"));
    }
    super::refuse_reserved(new)?;
    if root.app(new).exists() {
        return Err(
            Error::new(format!("the name `{new}` is taken by another app"))
                .hint("choose another name"),
        );
    }
    Ok(())
}

/// Renames `app` to `new` (see the module's doc) and returns it under its
/// new name. Says `Renaming OLD to NEW... `; the caller ends the line.
pub fn rename(platform: &Platform, user: &str, app: &AppDir, new: &AppName) -> Result<AppDir> {
    let root = platform.root;
    check_new_name(root, &app.name, new)?;
    let lock = app.lock()?;
    // Held to the end: no app may take the old name back (nor the new
    // one) while dynos and records of either are being moved.
    let _making = Lock::acquire(
        &root.new_apps_lock_file(),
        "waiting for apps being created to finish…",
    )?;
    check_new_name(root, &app.name, new)?;
    say_partial!("Renaming {} to {new}... ", app.name);
    // What a killed push or command left is found under the old name only.
    if let Err(err) = crate::interrupted::sweep(platform, app, &lock) {
        say!(" !     warning: {}", err.report().trim_end());
    }
    // An open window's standby dynos would be left out of the new name's.
    crate::probation::keep(platform, app)?;
    let renamed = root.app(new);
    remove_unmade(&renamed)?;
    let record = Record {
        from: app.name.to_string(),
        to: new.to_string(),
        containers: platform
            .runtime
            .list(Some(&app.name))?
            .into_iter()
            .map(|d| d.id)
            .collect(),
    };
    state::write_toml(&record_file(app), &record, 0o644)?;
    if let Err(err) = join_network(platform, &app.name, new) {
        undo(platform, app, &record);
        return Err(err);
    }
    if let Err(err) = move_dir(app, &renamed) {
        undo(platform, app, &record);
        return Err(err);
    }
    // The commit. The new name first: it takes the custom domains over
    // before the old name's routes go.
    let _ = notify_router(root, new);
    let _ = notify_router(root, &app.name);
    if let Err(err) = start_dynos(platform, &renamed) {
        // Back, while no app can be made under the old name.
        move_dir(&renamed, app).map_err(|back| {
            Error::new(format!(
                "`{new}`'s dynos did not start, and the app could not be renamed back"
            ))
            .cause(err.report().trim_end())
            .cause(back.report().trim_end())
            .hint(format!(
                "the daemon finishes the rename to `{new}` in a few seconds"
            ))
        })?;
        let _ = notify_router(root, &app.name);
        let _ = notify_router(root, new);
        undo(platform, app, &record);
        return Err(Error::new(format!(
            "`{}` keeps its name: its dynos did not start under the name `{new}`",
            app.name
        ))
        .cause(err.message())
        .hint(format!(
            "its dynos kept running; `paas logs -a {}` shows what the new ones said",
            app.name
        )));
    }
    finish(platform, &renamed, &record)?;
    logs::platform(
        &renamed,
        "api",
        &format!("Rename from {} to {new} by {user}", app.name),
    );
    Ok(renamed)
}

/// Finishes or undoes the rename a killed process left, if any: the
/// daemon's pass, under the app's lock.
pub fn resume(platform: &Platform, app: &AppDir) -> Result<()> {
    let Some(record) = Record::load(app)? else {
        return Ok(());
    };
    if record.to == app.name.as_str() {
        finish(platform, app, &record)
    } else {
        undo(platform, app, &record);
        Ok(())
    }
}

/// A directory of the new name that is no app: a repository made for a
/// first push whose process died before removing it (`FirstPush`). With
/// the new-apps lock held, no push is using it.
fn remove_unmade(dir: &AppDir) -> Result<()> {
    if std::fs::symlink_metadata(&dir.path).is_ok() {
        state::remove_dir_whole(&dir.path)?;
    }
    Ok(())
}

fn move_dir(from: &AppDir, to: &AppDir) -> Result<()> {
    std::fs::rename(&from.path, &to.path).context(|| {
        format!(
            "renaming `{}` to `{}`",
            from.path.display(),
            to.path.display()
        )
    })?;
    state::sync_dir(to.path.parent().unwrap_or(&to.path))
}

/// The add-ons on the old name's network, by name.
fn on_network(root: &Root, app: &AppName) -> Result<Vec<addons::Addon>> {
    let mut found = Vec::new();
    for addon in root.addons()? {
        if root
            .addon(&addon.name)
            .addresses()?
            .apps
            .contains_key(app.as_str())
        {
            found.push(addon);
        }
    }
    Ok(found)
}

/// Each add-on the app reaches joins the new name's network too, at an
/// address of its own there: the dynos started under the new name find it
/// while the old ones still do on the old network.
fn join_network(platform: &Platform, old: &AppName, new: &AppName) -> Result<()> {
    for addon in on_network(platform.root, old)? {
        let _lock = platform.root.addon(&addon.name).lock()?;
        service::connect(platform.settings, platform.root, &addon, new)?;
    }
    Ok(())
}

/// The app's dynos under its new name: the current release and formation,
/// as a restart starts them. An app never deployed has none.
fn start_dynos(platform: &Platform, app: &AppDir) -> Result<()> {
    let Some(release) = Ledger::new(app).current()? else {
        return Ok(());
    };
    let formation = app.settings()?.formation;
    platform.converge(app, &release, &formation, Mode::Keep, || Ok(()))
}

/// Step 4, on the app under its new name: the old name's dynos stopped,
/// its network left and removed, the records moved to the new name.
fn finish(platform: &Platform, app: &AppDir, record: &Record) -> Result<()> {
    let (root, settings) = (platform.root, platform.settings);
    // An old name that is an app again (made after a killed rename) owns
    // what carries the name now.
    let from = AppName::parse(&record.from).ok();
    let old = from.clone().filter(|old| !root.app(old).exists());
    if let Some(from) = &from {
        // The router serves the new name (from the old dynos until they
        // stop) and forgets the old one; a command told it already.
        let _ = notify_router(root, &app.name);
        let _ = notify_router(root, from);
        // Under a name taken again, only the dynos the rename found are
        // the renamed app's; the others are the new app's.
        let dynos: Vec<_> = platform
            .runtime
            .list(Some(from))?
            .into_iter()
            .filter(|d| old.is_some() || record.containers.contains(&d.id))
            .collect();
        let leaving: Vec<String> = routes_of(&dynos)
            .backends
            .into_iter()
            .map(|b| b.container)
            .collect();
        let mut routes = Routes::read(app);
        if routes
            .backends
            .iter()
            .any(|b| leaving.contains(&b.container))
        {
            routes.backends.retain(|b| !leaving.contains(&b.container));
            platform.publish_routes(app, &routes)?;
        }
        if !leaving.is_empty() {
            let _ = drain_router(root, &leaving);
        }
        platform.stop(app, &dynos)?;
    }
    if let Some(old) = &old {
        for addon in on_network(root, old)? {
            let _lock = root.addon(&addon.name).lock()?;
            service::disconnect(settings, root, &addon.name, old)?;
        }
        network::remove_app_network(settings, old);
    }
    if let Ok(from) = AppName::parse(&record.from) {
        let ids = crate::prune::needed_images(&Ledger::new(app).list()?);
        images::rename_app_images(&settings.install_id, &from, &app.name, &ids, old.is_some())?;
    }
    for mut addon in root.addons()? {
        if addon.app == record.from && old.is_some() {
            let dir = root.addon(&addon.name);
            let _lock = dir.lock()?;
            addon.app = app.name.to_string();
            dir.write(&addon)?;
        }
    }
    if old.is_some() {
        move_deploy_keys(platform, &record.from, app.name.as_str())?;
    }
    std::fs::remove_file(record_file(app)).context(|| "removing the rename's record".into())
}

/// Deploy keys of the old name push to the new one.
fn move_deploy_keys(platform: &Platform, old: &str, new: &str) -> Result<()> {
    let _lock = Registry::lock(platform.root)?;
    let mut registry = Registry::load(platform.root)?;
    let mut moved = false;
    for key in registry
        .keys
        .iter_mut()
        .filter(|k| k.deploy.as_deref() == Some(old))
    {
        key.deploy = Some(new.to_string());
        moved = true;
    }
    if moved {
        registry.save(platform.root, platform.settings)?;
    }
    Ok(())
}

/// Step 1 undone on the app under its old name: the add-ons leave the new
/// name's network, which goes, and so does the record. Best effort: what
/// fails here is tried again by the daemon's pass while the record stays.
fn undo(platform: &Platform, app: &AppDir, record: &Record) {
    let (root, settings) = (platform.root, platform.settings);
    let undone = (|| -> Result<()> {
        if let Ok(new) = AppName::parse(&record.to) {
            // A new name made an app meanwhile (after a killed rename)
            // keeps its network, and the add-ons attached to it.
            let taken = root.app(&new).exists();
            for addon in on_network(root, &new)? {
                let attached = addons::attachments(root, &addon.name)?
                    .iter()
                    .any(|(a, _)| *a == new);
                if !(taken && attached) {
                    let _lock = root.addon(&addon.name).lock()?;
                    service::disconnect(settings, root, &addon.name, &new)?;
                }
            }
            if !taken {
                network::remove_app_network(settings, &new);
            }
        }
        std::fs::remove_file(record_file(app)).context(|| "removing the rename's record".into())
    })();
    if let Err(err) = undone {
        say!(" !     warning: {}", err.report().trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> AppName {
        AppName::parse(text).unwrap()
    }

    fn root_with(apps: &[&str]) -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        for app in apps {
            let app = root.app(&name(app));
            std::fs::create_dir_all(&app.path).unwrap();
            app.write_settings(&Default::default()).unwrap();
        }
        (dir, root)
    }

    #[test]
    fn the_same_name_and_a_taken_one_are_refused() {
        let (_dir, root) = root_with(&["shop", "store"]);
        let same = check_new_name(&root, &name("shop"), &name("shop")).unwrap_err();
        assert_eq!(same.message(), "`shop` is already the app's name");
        let taken = check_new_name(&root, &name("shop"), &name("store")).unwrap_err();
        assert_eq!(taken.message(), "the name `store` is taken by another app");
        assert!(check_new_name(&root, &name("shop"), &name("market")).is_ok());
    }

    #[test]
    fn a_directory_no_app_came_of_is_no_taken_name() {
        // A first push whose process died left its repository: no app.
        let (_dir, root) = root_with(&["shop"]);
        let unmade = root.app(&name("market"));
        std::fs::create_dir_all(unmade.repo()).unwrap();
        assert!(check_new_name(&root, &name("shop"), &name("market")).is_ok());
        remove_unmade(&unmade).unwrap();
        assert!(!unmade.path.exists());
        remove_unmade(&unmade).unwrap();
    }

    #[test]
    fn a_record_says_which_way_a_killed_rename_went() {
        let (_dir, root) = root_with(&["market"]);
        let app = root.app(&name("market"));
        assert_eq!(Record::load(&app).unwrap(), None);
        let record = Record {
            from: "shop".into(),
            to: "market".into(),
            containers: vec!["shop-web.1-v3-ab12cd34".into()],
        };
        state::write_toml(&record_file(&app), &record, 0o644).unwrap();
        let loaded = Record::load(&app).unwrap().unwrap();
        assert_eq!(loaded, record);
        // Found in the new name's directory: the rename was committed.
        assert_eq!(loaded.to, app.name.as_str());
        // A record from before the containers were kept still reads.
        std::fs::write(record_file(&app), "from = \"shop\"\nto = \"market\"\n").unwrap();
        assert!(Record::load(&app).unwrap().unwrap().containers.is_empty());
    }

    #[test]
    fn a_record_that_cannot_be_read_is_an_error_not_none() {
        let (_dir, root) = root_with(&["market"]);
        let app = root.app(&name("market"));
        std::fs::write(record_file(&app), "from = \"sh").unwrap();
        let err = Record::load(&app).unwrap_err();
        assert!(
            err.message().ends_with(
                "rename.toml` says which rename of `market` was under way, and cannot be read"
            ),
            "{}",
            err.message()
        );
        assert!(err.report().contains("the daemon finishes or undoes it"));
    }
}
