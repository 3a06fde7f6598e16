//! Apps made and removed: an app is its directory, bare repository and
//! settings under `apps/<name>/`. A push to a new name makes one
//! (`FirstPush`, then the hook's `ensure_created`), as `apps:create` does;
//! `remove` takes one away with its dynos and the add-ons only it uses;
//! `rename` gives one another name.

pub mod rename;

use crate::control;
use crate::converge::Platform;
use crate::error::{Error, Result};
use crate::git;
use crate::state::{self, AppDir, AppName, AppSettings, Lock, Root, NAME_WORDS};

/// Refuses a name the platform answers for itself: `paas.<domain>` is
/// the dashboard's host, which the router serves before any app's.
pub fn refuse_reserved(name: &AppName) -> Result<()> {
    if name.as_str() == crate::state::DASHBOARD_HOST {
        return Err(Error::new(format!(
            "the name `{name}` is the platform's: `{name}.<domain>` is the dashboard"
        ))
        .hint("choose another name"));
    }
    Ok(())
}

/// Creates the app's directory, repo and settings if they are missing,
/// owned by `owner`. Returns whether it was created now.
pub fn ensure_created(root: &Root, name: &AppName, owner: &str) -> Result<bool> {
    let app = root.app(name);
    if app.exists() {
        return Ok(false);
    }
    refuse_reserved(name)?;
    // Shared: makers of apps do not wait for each other, only keep a
    // `FirstPush` from removing what they are making.
    let _making = Lock::acquire_shared(&root.new_apps_lock_file())?;
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
    app.write_settings(&AppSettings {
        owner: Some(owner.to_string()),
        ..AppSettings::default()
    })?;
    Ok(true)
}

/// A push to a name that is no app yet (`ssh-command`). git needs a
/// repository to tell the client which refs it has, so one is made; the
/// app itself is made by the pre-receive hook (`commands::deploy::hook`),
/// which git runs only once the client sends refs to update. A client that
/// only connects, lists refs or pushes nothing makes no app, and the
/// repository made for it goes when git is done (#19, point 6).
pub struct FirstPush {
    root: Root,
    app: AppDir,
    /// Shared, as while an app is made: held from before the repository
    /// is made until git is done with it.
    making: Lock,
}

impl FirstPush {
    pub fn start(root: &Root, name: &AppName) -> Result<FirstPush> {
        let making = Lock::acquire_shared(&root.new_apps_lock_file())?;
        let app = root.app(name);
        state::create_dir(&app.path, 0o750)?;
        git::init_bare(&app.repo(), &root.hooks_dir())?;
        Ok(FirstPush {
            root: root.clone(),
            app,
            making,
        })
    }

    /// The repository git receives into.
    pub fn repo(&self) -> std::path::PathBuf {
        self.app.repo()
    }

    /// After git is done: removes the repository if no app came of the
    /// push. Left alone while another app is being made or pushed to for
    /// the first time, which may be this one; a repository left so (two
    /// first pushes at once) is taken up by the next push to the name.
    /// Returns whether it was removed.
    pub fn finish(self) -> Result<bool> {
        drop(self.making);
        let Some(_alone) = Lock::try_acquire(&self.root.new_apps_lock_file())? else {
            return Ok(false);
        };
        if self.app.exists() {
            return Ok(false);
        }
        state::remove_dir_whole(&self.app.path)?;
        Ok(true)
    }
}

/// Removes an app for good, under its lock: its dynos, the add-ons made for
/// it that no other app uses, its directory; the router lets it go.
pub fn remove(platform: &Platform, app: &AppDir) -> Result<()> {
    let _lock = app.lock()?;
    say_partial!("Destroying {} (including all add-ons)... ", app.name);
    let dynos = platform.runtime.list(Some(&app.name))?;
    platform
        .runtime
        .remove(&dynos, std::time::Duration::from_secs(10))?;
    crate::addons::lifecycle::destroy_with_app(platform.root, platform.settings, &app.name)?;
    state::remove_dir_whole(&app.path)?;
    // The router drops an app whose directory is gone.
    let _ = control::notify_router(platform.root, &app.name);
    Ok(())
}

/// A Heroku-style generated name (`sunny-river-4821`) that is not taken.
pub fn unused_name(root: &Root) -> Result<AppName> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::{Command, Stdio};

    /// A root with the apps directory, and a pre-receive hook that only
    /// notes that it ran.
    fn root_with_hook() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        std::fs::create_dir_all(root.apps_dir()).unwrap();
        std::fs::create_dir_all(root.hooks_dir()).unwrap();
        let hook = root.hooks_dir().join("pre-receive");
        let marker = dir.path().join("hook-ran");
        std::fs::write(
            &hook,
            format!("#!/bin/sh\ncat >/dev/null\ntouch '{}'\n", marker.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, root)
    }

    fn name(text: &str) -> AppName {
        AppName::parse(text).unwrap()
    }

    #[test]
    fn the_dashboards_name_is_refused_for_an_app() {
        let (_dir, root) = root_with_hook();
        let refused = ensure_created(&root, &name("paas"), "admin").unwrap_err();
        assert!(
            refused.message().contains("dashboard"),
            "{}",
            refused.message()
        );
        assert!(!root.app(&name("paas")).exists());
        assert!(ensure_created(&root, &name("paas-shop"), "admin").unwrap());
    }

    #[test]
    fn a_first_push_that_made_no_app_leaves_nothing() {
        // #19, point 6: `git-receive-pack '/etc'` made an app `etc`.
        let (_dir, root) = root_with_hook();
        let push = FirstPush::start(&root, &name("etc")).unwrap();
        assert!(push.repo().join("HEAD").exists(), "git has a repository");
        assert!(!root.app(&name("etc")).exists(), "but there is no app");
        assert!(root.apps().unwrap().is_empty());
        assert!(push.finish().unwrap());
        assert!(!root.app(&name("etc")).path.exists());

        // Made meanwhile (the hook, once refs arrived): kept.
        let push = FirstPush::start(&root, &name("web")).unwrap();
        assert!(ensure_created(&root, &name("web"), "admin").unwrap());
        assert!(!push.finish().unwrap());
        assert_eq!(root.apps().unwrap(), [name("web")]);
    }

    #[test]
    fn a_first_push_leaves_the_repository_to_another_under_way() {
        let (_dir, root) = root_with_hook();
        let first = FirstPush::start(&root, &name("twice")).unwrap();
        let second = FirstPush::start(&root, &name("twice")).unwrap();
        assert!(
            !first.finish().unwrap(),
            "the second still receives into it"
        );
        assert!(second.repo().join("HEAD").exists());
        assert!(second.finish().unwrap());
    }

    /// The machine's git settings (a global `core.hooksPath`) stay out.
    const NO_GIT_CONFIG: [(&str, &str); 2] = [
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_CONFIG_NOSYSTEM", "1"),
    ];

    /// What `FirstPush` counts on: git runs the pre-receive hook (where the
    /// app is made) only when the client sends refs to update.
    #[test]
    fn git_runs_the_hook_only_when_refs_arrive() {
        let (dir, root) = root_with_hook();
        let marker = dir.path().join("hook-ran");
        let push = FirstPush::start(&root, &name("listed")).unwrap();
        // A client that reads the refs and sends none: a flush packet.
        let mut receive = Command::new("git-receive-pack")
            .arg(push.repo())
            .envs(NO_GIT_CONFIG)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        receive.stdin.take().unwrap().write_all(b"0000").unwrap();
        assert!(receive.wait().unwrap().success());
        assert!(!marker.exists(), "no refs, no hook");
        assert!(push.finish().unwrap());

        let push = FirstPush::start(&root, &name("pushed")).unwrap();
        let source = dir.path().join("source");
        let git = |args: &[&str], cwd: &Path| {
            let status = Command::new("git")
                .envs(NO_GIT_CONFIG)
                .args(["-c", "user.name=t", "-c", "user.email=t@t"])
                .args(args)
                .current_dir(cwd)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "git {args:?}");
        };
        std::fs::create_dir(&source).unwrap();
        git(&["init", "-q"], &source);
        git(&["commit", "-q", "--allow-empty", "-m", "one"], &source);
        git(
            &[
                "push",
                "-q",
                push.repo().to_str().unwrap(),
                "HEAD:refs/heads/master",
            ],
            &source,
        );
        assert!(marker.exists(), "refs arrived: the hook ran");
    }
}
