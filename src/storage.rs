//! Persistent storage: a named podman volume (`runtime::volumes`) mounted
//! at a path (under `/app`, or `/data` for an image) in every dyno of the
//! apps that mount it (every process type, one-off, release phase and cron
//! dynos alike), so files an app writes there (a CMS's uploads) outlive
//! its dynos: deploys, restarts and rollbacks start new dynos with the
//! same storage.
//!
//! The storage's record is `storage/<name>/`; an app's mounts are in its
//! `app.toml` (`state::storage`). Mounting and unmounting roll the app's
//! dynos as a restart does: converge replaces those started with other
//! mounts (`DynoSpec::mounts_tag`).
//!
//! Locks: mounting takes the app's lock, then the storage's (to see it is
//! still there while the mount is recorded). Destroying never holds the
//! storage's lock while it waits for an app's: it unmounts app by app
//! first, then removes the storage under its lock if nothing mounted it
//! meanwhile.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use crate::converge::{Mode, Platform};
use crate::error::{Error, Result};
use crate::logs;
use crate::release::{self, Ledger};
use crate::runtime::volumes;
use crate::state::{
    self, AppDir, AppName, Lock, Mount, MountPath, Root, Storage, StorageDir, StorageName,
};

/// Makes an empty storage owned by `user`. The record first, the volume
/// second, under the storage's lock: a create killed part way leaves a
/// directory with or without a record, and no volume or an empty one. A
/// create of the name again finishes it (anyone's, without a record:
/// nothing was ever stored there; with one, its maker's), and `destroy`
/// removes one with a record. Of two creates of one name, the one that
/// gets the lock first makes it; the other is told it exists.
pub fn create(platform: &Platform, user: &str, dir: &StorageDir) -> Result<Storage> {
    state::create_dir(&platform.root.storages_dir(), 0o755)?;
    match std::fs::create_dir(&dir.path) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(Error::new(format!("creating storage `{}`", dir.name)).cause(err)),
    }
    let lock = dir.lock()?;
    if !lock.still_in_place() {
        return Err(Error::new(format!(
            "storage `{}` was destroyed while this waited",
            dir.name
        ))
        .hint("run `paas storage:create` again"));
    }
    let taken = || {
        Error::new(format!("storage `{}` already exists", dir.name))
            .hint("`paas storage` lists the storages; pick another name")
    };
    // A record stays its maker's: only they finish it (its volume may be
    // missing because something removed it while apps mount it).
    let storage = match dir.exists().then(|| dir.read()).transpose()? {
        Some(_) if volumes::exists(platform.settings, &dir.name) => return Err(taken()),
        Some(storage) if storage.created_by != user => return Err(taken()),
        Some(storage) => storage,
        None => {
            let storage = Storage {
                name: dir.name.clone(),
                created_at: release::now_rfc3339(),
                created_by: user.to_string(),
            };
            dir.write(&storage)?;
            storage
        }
    };
    volumes::create(platform.settings, &dir.name).map_err(|err| {
        err.hint(format!(
            "`paas storage:create {0}` tries again; `paas storage:destroy {0}` removes what was made",
            dir.name
        ))
    })?;
    Ok(storage)
}

/// The storage's lock, once it is sure the storage is still there (not
/// destroyed while this waited).
fn lock_existing(dir: &StorageDir) -> Result<Lock> {
    let lock = dir.lock()?;
    if !lock.still_in_place() || !dir.exists() {
        return Err(dir.missing());
    }
    Ok(lock)
}

/// Mounts the storage at `path` in every dyno of the app, rolling the
/// running ones now.
pub fn mount(
    platform: &Platform,
    user: &str,
    app: &AppDir,
    dir: &StorageDir,
    path: MountPath,
) -> Result<Mount> {
    let _app_lock = app.lock()?;
    let mount = Mount {
        storage: dir.name.clone(),
        path,
    };
    let before = app.settings()?.mounts;
    if let Some(conflict) = state::mount_conflict(app.name.as_str(), &before, &mount) {
        return Err(conflict);
    }
    {
        // Recorded while the storage cannot be destroyed.
        let _storage_lock = lock_existing(dir)?;
        // A create killed after the record made no volume: podman would
        // make one, unlabelled, when a dyno mounts it.
        volumes::create(platform.settings, &dir.name)?;
        app.update_settings(|s| s.mounts.push(mount.clone()))?;
    }
    say_partial!(
        "Mounting {} at {} on {} and restarting its dynos... ",
        mount.storage,
        mount.path,
        app.name
    );
    roll(platform, app, before)?;
    logs::platform(
        app,
        "api",
        &format!(
            "Mount storage {} at {} by {user}",
            mount.storage, mount.path
        ),
    );
    say!("done");
    Ok(mount)
}

/// Unmounts a storage (named, or by where it is mounted) from the app,
/// rolling its running dynos now. The files stay in the storage.
pub fn unmount(platform: &Platform, user: &str, app: &AppDir, which: &str) -> Result<Mount> {
    let _app_lock = app.lock()?;
    let before = app.settings()?.mounts;
    let found = before
        .iter()
        .find(|m| m.storage.as_str() == which || m.path.as_str() == which.trim_end_matches('/'))
        .cloned();
    let Some(mount) = found else {
        return Err(
            Error::new(format!("`{which}` is not mounted on `{}`", app.name)).hint(format!(
                "`paas storage -a {}` lists its mounts, by storage and path",
                app.name
            )),
        );
    };
    app.update_settings(|s| s.mounts.retain(|m| *m != mount))?;
    say_partial!(
        "Unmounting {} from {} on {} and restarting its dynos... ",
        mount.storage,
        mount.path,
        app.name
    );
    roll(platform, app, before)?;
    logs::platform(
        app,
        "api",
        &format!(
            "Unmount storage {} from {} by {user}",
            mount.storage, mount.path
        ),
    );
    say!("done");
    Ok(mount)
}

/// Under the app's lock, its mounts just changed from `before`: its
/// dynos replaced as a restart replaces them (web dynos serve throughout
/// unless checks are disabled). If the new dynos fail, the mounts are put
/// back as they were, and so are the dynos.
fn roll(platform: &Platform, app: &AppDir, before: Vec<Mount>) -> Result<()> {
    let Some(release) = Ledger::new(app).current()? else {
        // Not deployed yet: its first dynos start with the mounts.
        return Ok(());
    };
    let formation = app.settings()?.formation;
    let rolled = platform.converge(app, &release, &formation, Mode::Keep, || Ok(()));
    if let Err(err) = rolled {
        app.update_settings(|s| s.mounts = before)?;
        return Err(err);
    }
    Ok(())
}

/// Every app that mounts the storage, and where.
pub fn mounts_of(root: &Root, name: &StorageName) -> Result<Vec<(AppName, MountPath)>> {
    Ok(all_mounts(root)?
        .into_iter()
        .filter(|(_, m)| m.storage == *name)
        .map(|(app, m)| (app, m.path))
        .collect())
}

/// Every mount of every app.
pub fn all_mounts(root: &Root) -> Result<Vec<(AppName, Mount)>> {
    let mut found = Vec::new();
    for app in root.apps()? {
        // An app destroyed meanwhile has no mounts.
        let Ok(settings) = root.app(&app).settings() else {
            continue;
        };
        found.extend(settings.mounts.into_iter().map(|m| (app.clone(), m)));
    }
    Ok(found)
}

/// The bytes each storage's files take, by storage.
pub fn sizes(platform: &Platform) -> Result<BTreeMap<StorageName, u64>> {
    volumes::sizes(platform.settings)
}

/// Destroys the storage and its files, unmounting it from every app that
/// mounts it first (rolling their dynos).
pub fn destroy(platform: &Platform, user: &str, dir: &StorageDir) -> Result<()> {
    for (app, _) in mounts_of(platform.root, &dir.name)? {
        let app = platform.root.app(&app);
        match unmount(platform, user, &app, dir.name.as_str()) {
            Ok(_) => {}
            // Unmounted or gone meanwhile: nothing to do there.
            Err(_) if !app.exists() || !is_mounted_on(&app, dir) => {}
            Err(err) => return Err(err),
        }
    }
    release_standby_dynos(platform, dir)?;
    say_partial!("Destroying storage {}... ", dir.name);
    let _lock = lock_existing(dir)?;
    if let Some((app, path)) = mounts_of(platform.root, &dir.name)?.into_iter().next() {
        return Err(Error::new(format!(
            "`{}` was mounted on `{app}` at `{path}` meanwhile",
            dir.name
        ))
        .hint("run `paas storage:destroy` again to unmount it there too"));
    }
    volumes::remove(platform.settings, &dir.name)?;
    state::remove_dir_whole(&dir.path)?;
    say!("done");
    Ok(())
}

/// After an unmount, the app's previous web dynos stay on standby for the
/// checks' window (`probation`), the storage still mounted: the window of
/// an app whose standby dynos use it ends now, in favour of the new dynos,
/// so the volume can go. Under each app's lock, never the storage's.
fn release_standby_dynos(platform: &Platform, dir: &StorageDir) -> Result<()> {
    let using = volumes::containers_using(platform.settings, &dir.name)?;
    if using.is_empty() {
        return Ok(());
    }
    for name in platform.root.apps()? {
        let app = platform.root.app(&name);
        let standing_by = |app: &AppDir| {
            crate::probation::Probation::load(app)
                .is_some_and(|window| window.standby.iter().any(|id| using.contains(id)))
        };
        if standing_by(&app) {
            let _lock = app.lock()?;
            crate::probation::keep(platform, &app)?;
        }
    }
    Ok(())
}

fn is_mounted_on(app: &AppDir, dir: &StorageDir) -> bool {
    app.settings()
        .is_ok_and(|s| s.mounts.iter().any(|m| m.storage == dir.name))
}

/// Writes the storage's files to `out` as a zstd-compressed tar; returns
/// the bytes written.
pub fn backup(platform: &Platform, dir: &StorageDir, out: impl Write) -> Result<u64> {
    dir.read()?;
    volumes::export(platform.settings, &dir.name, out)
}

/// Replaces the storage's files with those of a backup read from `input`,
/// under the storage's lock. Dynos that mount it see the new files at once.
pub fn restore(platform: &Platform, user: &str, dir: &StorageDir, input: impl Read) -> Result<u64> {
    let _lock = lock_existing(dir)?;
    let size = volumes::import(platform.settings, &dir.name, input)?;
    for (app, _) in mounts_of(platform.root, &dir.name)? {
        logs::platform(
            &platform.root.app(&app),
            "api",
            &format!("Restore storage {} by {user}", dir.name),
        );
    }
    Ok(size)
}
