//! What the dashboard's pages show, read from the store as the CLI reads
//! it: the apps a user may see (`access::Role`, as `paas apps` lists
//! them), and one app's release, activity feed, dynos, add-ons and
//! domains. Plain data, so the pages (`pages.rs`) only lay it out.

use crate::access::Role;
use crate::error::Result;
use crate::logins::Holder;
use crate::release::{Ledger, Release};
use crate::runtime::Runtime;
use crate::state::{AppDir, AppName, AppSettings, Root, Settings};

/// A line of the app list.
pub struct AppSummary {
    pub name: String,
    pub url: String,
    pub release: Option<Release>,
    /// `web: 2, worker: 1`, in the formation's order.
    pub formation: Vec<(String, u32)>,
    pub maintenance: bool,
}

/// An app's page.
pub struct AppView {
    pub summary: AppSummary,
    /// Newest first.
    pub releases: Vec<Release>,
    pub dynos: Vec<DynoRow>,
    /// Where listing the dynos failed: the page says so instead.
    pub dynos_error: Option<String>,
    /// (config var, add-on) as the current release attaches them.
    pub addons: Vec<(String, String)>,
    pub domains: Vec<String>,
    /// Whether the user may press the buttons (restart, roll back).
    pub may_act: bool,
}

pub struct DynoRow {
    pub name: String,
    /// In words, so it reads without colour: `up`, `crashed (exit status 1)`.
    pub state: String,
    /// Whether it is well (for the page's one colour cue).
    pub healthy: bool,
    pub release: u32,
    pub size: String,
    /// Unix seconds.
    pub since: i64,
}

/// The app the holder may see by this name, else `None` (as for one that
/// does not exist: a stranger learns nothing of it).
pub fn visible_app(root: &Root, holder: &Holder, name: &str) -> Option<(AppDir, Role)> {
    let name = AppName::parse(name).ok()?;
    let app = root.app(&name);
    if !app.exists() {
        return None;
    }
    let role = Role::of(&holder.user, holder.admin, &app.settings().ok()?);
    role.sees().then_some((app, role))
}

/// The apps the holder may see, by name.
pub fn app_list(root: &Root, settings: &Settings, holder: &Holder) -> Result<Vec<AppSummary>> {
    let mut apps = Vec::new();
    for name in root.apps()? {
        let app = root.app(&name);
        let Ok(app_settings) = app.settings() else {
            continue;
        };
        if Role::of(&holder.user, holder.admin, &app_settings).sees() {
            apps.push(summary(settings, &app, &app_settings)?);
        }
    }
    Ok(apps)
}

fn summary(settings: &Settings, app: &AppDir, app_settings: &AppSettings) -> Result<AppSummary> {
    Ok(AppSummary {
        name: app.name.to_string(),
        url: settings.app_url(&app.name),
        release: Ledger::new(app).current()?,
        formation: app_settings
            .formation
            .iter()
            .map(|(t, n)| (t.clone(), *n))
            .collect(),
        maintenance: app_settings.maintenance,
    })
}

/// Everything on an app's page. `runtime` lists its dynos.
pub fn app_view(
    settings: &Settings,
    app: &AppDir,
    role: Role,
    runtime: &dyn Runtime,
) -> Result<AppView> {
    let app_settings = app.settings()?;
    let summary = summary(settings, app, &app_settings)?;
    let mut releases = Ledger::new(app).list()?;
    releases.reverse();
    let addons = summary
        .release
        .as_ref()
        .map(|r| {
            r.addons
                .iter()
                .map(|(var, addon)| (var.clone(), addon.clone()))
                .collect()
        })
        .unwrap_or_default();
    let standby = crate::probation::Probation::load(app).map_or(Vec::new(), |w| w.standby);
    let (dynos, dynos_error) = match runtime.list(Some(&app.name)) {
        Ok(mut dynos) => {
            dynos.sort_by(|a, b| (&a.process_type, a.index).cmp(&(&b.process_type, b.index)));
            let rows = dynos
                .iter()
                .map(|dyno| {
                    let (state, healthy) = match dyno.running {
                        true if standby.contains(&dyno.id) => ("standby".to_string(), true),
                        true => ("up".to_string(), true),
                        false => (format!("crashed (exit status {})", dyno.exit_code), false),
                    };
                    DynoRow {
                        name: dyno.name(),
                        state,
                        healthy,
                        release: dyno.release,
                        size: dyno.size.clone(),
                        since: dyno.started_at,
                    }
                })
                .collect();
            (rows, None)
        }
        Err(err) => (Vec::new(), Some(err.message().to_string())),
    };
    let asleep = app_settings.asleep_since.is_some()
        && !dynos.iter().any(|d: &DynoRow| d.name.starts_with("web."));
    let mut dynos = dynos;
    if asleep {
        dynos.push(DynoRow {
            name: "web".into(),
            state: "sleeping (a request wakes it)".into(),
            healthy: true,
            release: summary.release.as_ref().map_or(0, |r| r.version),
            size: String::new(),
            since: app_settings.asleep_since.unwrap_or_default(),
        });
    }
    Ok(AppView {
        summary,
        releases,
        dynos,
        dynos_error,
        addons,
        domains: app_settings.domains.clone(),
        may_act: role.allows(crate::access::Action::Use),
    })
}
