//! `converge` against a runtime held in memory: which dynos start, which
//! stay, which stop, what the routes say, and that a release whose dynos do
//! not boot is never committed and changes nothing.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::Duration;

use super::{Mode, Platform};
use crate::error::{Error, Result};
use crate::release::Release;
use crate::routes::Routes;
use crate::runtime::network::AppNetwork;
use crate::runtime::{Dyno, DynoSpec, Ended, NetnsRef, Runtime};
use crate::slug::SlugRef;
use crate::state::{AppDir, AppName, AppSettings, Root, Settings};

/// Dynos as a list; a dyno of `crashing_release` exits as it starts.
#[derive(Default)]
struct FakeRuntime {
    dynos: RefCell<Vec<Dyno>>,
    crashing_release: Cell<Option<u32>>,
    started: RefCell<Vec<String>>,
    removed: RefCell<Vec<String>>,
}

impl FakeRuntime {
    /// `web.1@v1` for each running dyno, sorted.
    fn running(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .dynos
            .borrow()
            .iter()
            .filter(|d| d.running)
            .map(|d| format!("{}@v{}", d.name(), d.release))
            .collect();
        names.sort();
        names
    }
}

fn not_here<T>() -> Result<T> {
    Err(Error::new("not used by converge"))
}

impl Runtime for FakeRuntime {
    fn start(&self, spec: &DynoSpec) -> Result<Dyno> {
        let crashes = self.crashing_release.get() == Some(spec.release);
        let dyno = Dyno {
            id: format!(
                "{}-{}-v{}-{}",
                spec.app,
                spec.dyno_name(),
                spec.release,
                spec.instance
            ),
            app: spec.app.clone(),
            release: spec.release,
            process_type: spec.process_type.clone(),
            index: spec.index,
            running: !crashes,
            exit_code: if crashes { 3 } else { 0 },
            started_at: 0,
            netns: Some(NetnsRef {
                pid: 1,
                inode: self.started.borrow().len() as u64,
            }),
            size: spec.size.name.to_string(),
            network_tag: spec.network_tag(),
            mounts_tag: spec.mounts_tag(),
            build: spec.build,
            image: false,
        };
        self.started
            .borrow_mut()
            .push(format!("{}@v{}", dyno.name(), dyno.release));
        self.dynos.borrow_mut().push(dyno.clone());
        Ok(dyno)
    }
    fn list(&self, app: Option<&AppName>) -> Result<Vec<Dyno>> {
        Ok(self
            .dynos
            .borrow()
            .iter()
            .filter(|d| app.is_none_or(|app| d.app == *app))
            .cloned()
            .collect())
    }
    fn remove(&self, dynos: &[Dyno], _grace: Duration) -> Result<Vec<i32>> {
        for dyno in dynos {
            self.removed
                .borrow_mut()
                .push(format!("{}@v{}", dyno.name(), dyno.release));
            self.dynos.borrow_mut().retain(|d| d.id != dyno.id);
        }
        Ok(vec![0; dynos.len()])
    }
    fn is_listening(&self, _dyno: &Dyno, _port: u16) -> Result<bool> {
        Ok(true)
    }
    fn status(&self, dyno: &Dyno) -> Result<(bool, i32)> {
        let dynos = self.dynos.borrow();
        let found = dynos.iter().find(|d| d.id == dyno.id);
        Ok(found.map_or((false, -1), |d| (d.running, d.exit_code)))
    }
    fn oom_killed(&self, _dyno: &Dyno) -> bool {
        false
    }
    fn app_network(&self, app: &AppName) -> Result<AppNetwork> {
        Ok(AppNetwork {
            name: format!("net-{app}"),
            isolated: Ok(()),
        })
    }
    fn create_attached(&self, _spec: &DynoSpec, _tty: bool) -> Result<String> {
        not_here()
    }
    fn attach(&self, _id: &str) -> Result<i32> {
        not_here()
    }
    fn run_to_end(&self, _spec: &DynoSpec, _limit: Duration) -> Result<Ended> {
        not_here()
    }
    fn connect(&self, _dyno: &Dyno, _port: u16, _t: Duration) -> Result<std::net::TcpStream> {
        not_here()
    }
    fn exec_attached(&self, _dyno: &Dyno, _command: &[String], _tty: bool) -> Result<i32> {
        not_here()
    }
    fn exec(&self, _dyno: &Dyno, _command: &[String], _t: Duration) -> Result<(i32, String)> {
        not_here()
    }
    fn memory_percent(&self, _dynos: &[Dyno]) -> Result<Vec<(String, f64)>> {
        not_here()
    }
    fn remove_unused_images(&self, _kept: &crate::runtime::KeptImages) -> Vec<String> {
        Vec::new()
    }
    fn remove_app_images(
        &self,
        _app: &AppName,
        _keep: &std::collections::HashSet<String>,
    ) -> Vec<String> {
        Vec::new()
    }
}

fn settings() -> Settings {
    Settings {
        install_id: "t1".into(),
        ..Settings::example()
    }
}

/// An app whose new dynos need not stay up a while (no standby window),
/// with its slug already unpacked.
fn app(root: &Root) -> AppDir {
    let app = root.app(&AppName::parse("shop").unwrap());
    for dir in [
        app.releases_dir(),
        app.slugs_dir().join("abc"),
        app.logs_dir(),
    ] {
        std::fs::create_dir_all(dir).unwrap();
    }
    app.write_settings(&AppSettings {
        checks_uptime_secs: Some(0),
        ..AppSettings::default()
    })
    .unwrap();
    app
}

fn release(version: u32) -> Release {
    Release {
        version,
        description: format!("Deploy {version}"),
        user: "admin".into(),
        created_at: crate::release::now_rfc3339(),
        commit: None,
        slug: Some(SlugRef {
            sha256: "abc".into(),
            size: 1,
        }),
        image: None,
        processes: [("web", "serve"), ("worker", "work")]
            .map(|(t, c)| (t.to_string(), c.to_string()))
            .into(),
        config: BTreeMap::new(),
        addons: BTreeMap::new(),
        failed: None,
    }
}

fn formation(web: u32, worker: u32) -> BTreeMap<String, u32> {
    [("web".to_string(), web), ("worker".to_string(), worker)].into()
}

/// Web dynos the routes send requests to, as `web.1`, sorted.
fn routed(app: &AppDir) -> Vec<String> {
    let mut dynos: Vec<String> = Routes::read(app)
        .backends
        .into_iter()
        .map(|b| b.dyno)
        .collect();
    dynos.sort();
    dynos
}

#[test]
fn converge_starts_the_formation_keeps_what_matches_and_stops_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let (settings, runtime) = (settings(), FakeRuntime::default());
    let platform = Platform {
        root: &root,
        settings: &settings,
        runtime: &runtime,
    };
    let app = app(&root);
    let commits = Cell::new(0);
    let commit = || {
        commits.set(commits.get() + 1);
        Ok(())
    };

    platform
        .converge(&app, &release(1), &formation(2, 1), Mode::Keep, commit)
        .unwrap();
    assert_eq!(runtime.running(), ["web.1@v1", "web.2@v1", "worker.1@v1"]);
    assert_eq!(routed(&app), ["web.1", "web.2"]);
    assert_eq!(commits.get(), 1);

    // Scaling down the same release starts nothing and stops web.2.
    runtime.started.borrow_mut().clear();
    platform
        .converge(&app, &release(1), &formation(1, 1), Mode::Keep, commit)
        .unwrap();
    assert!(runtime.started.borrow().is_empty());
    assert_eq!(*runtime.removed.borrow(), ["web.2@v1"]);
    assert_eq!(runtime.running(), ["web.1@v1", "worker.1@v1"]);
    assert_eq!(routed(&app), ["web.1"]);

    // A restart of one dyno replaces it alone.
    runtime.removed.borrow_mut().clear();
    let only = Mode::Replace(Some("worker.1".into()));
    platform
        .converge(&app, &release(1), &formation(1, 1), only, commit)
        .unwrap();
    assert_eq!(*runtime.started.borrow(), ["worker.1@v1"]);
    assert_eq!(*runtime.removed.borrow(), ["worker.1@v1"]);
    assert_eq!(runtime.running(), ["web.1@v1", "worker.1@v1"]);

    // A new release replaces every dyno, and traffic moves to its web dyno.
    platform
        .converge(&app, &release(2), &formation(1, 1), Mode::Keep, commit)
        .unwrap();
    assert_eq!(runtime.running(), ["web.1@v2", "worker.1@v2"]);
    assert_eq!(routed(&app), ["web.1"]);
    let backends = Routes::read(&app).backends;
    assert!(backends[0].container.contains("-v2-"), "{backends:?}");
    assert_eq!(commits.get(), 4);
}

#[test]
fn a_release_whose_dynos_crash_on_boot_is_not_committed_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let (settings, runtime) = (settings(), FakeRuntime::default());
    let platform = Platform {
        root: &root,
        settings: &settings,
        runtime: &runtime,
    };
    let app = app(&root);
    platform
        .converge(&app, &release(1), &formation(1, 1), Mode::Keep, || Ok(()))
        .unwrap();
    let routes_before = Routes::read(&app);

    runtime.crashing_release.set(Some(2));
    let committed = Cell::new(false);
    let failed = platform.converge(&app, &release(2), &formation(1, 1), Mode::Keep, || {
        committed.set(true);
        Ok(())
    });
    let err = failed.expect_err("a release that crashes on boot fails the change");
    assert!(err.message().contains("crashed"), "{}", err.report());
    assert!(!committed.get(), "nothing is recorded");
    assert_eq!(runtime.running(), ["web.1@v1", "worker.1@v1"]);
    assert!(runtime.dynos.borrow().iter().all(|d| d.release == 1));
    assert_eq!(Routes::read(&app), routes_before);

    // A commit that fails (the release could not be recorded) takes the
    // new dynos away too.
    runtime.crashing_release.set(None);
    let failed = platform.converge(&app, &release(2), &formation(1, 1), Mode::Keep, || {
        Err(Error::new("the disk is full"))
    });
    assert!(failed.is_err());
    assert_eq!(runtime.running(), ["web.1@v1", "worker.1@v1"]);
    assert_eq!(Routes::read(&app), routes_before);
}

#[test]
fn dynos_started_with_other_storages_mounted_are_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let (settings, runtime) = (settings(), FakeRuntime::default());
    let platform = Platform {
        root: &root,
        settings: &settings,
        runtime: &runtime,
    };
    let app = app(&root);
    let converge = || {
        runtime.started.borrow_mut().clear();
        platform
            .converge(&app, &release(1), &formation(1, 1), Mode::Keep, || Ok(()))
            .unwrap();
        runtime.started.borrow().clone()
    };
    converge();
    let mount = crate::state::Mount {
        storage: crate::state::StorageName::parse("uploads").unwrap(),
        path: crate::state::MountPath::parse("/app/uploads").unwrap(),
    };
    app.update_settings(|s| s.mounts = vec![mount.clone()])
        .unwrap();
    assert_eq!(converge(), ["web.1@v1", "worker.1@v1"], "mounted: rolled");
    let tag = crate::runtime::mounts_tag(std::slice::from_ref(&mount));
    assert!(runtime.dynos.borrow().iter().all(|d| d.mounts_tag == tag));
    assert!(converge().is_empty(), "the same mounts: kept");
    app.update_settings(|s| s.mounts.clear()).unwrap();
    assert_eq!(converge(), ["web.1@v1", "worker.1@v1"], "unmounted: rolled");
    assert!(runtime
        .dynos
        .borrow()
        .iter()
        .all(|d| d.mounts_tag.is_empty()));
}
