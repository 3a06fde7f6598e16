//! `addons`, `addons:create`, `:info`, `:attach`, `:detach`, `:destroy`,
//! `:expose`, `:unexpose`. An attachment is a release of the app that sets
//! `NAME_URL`; the add-on's data lives until `addons:destroy`.

use super::addon_lookup::{named, named_for};
use super::Ctx;
use crate::access::Action;
use crate::addons::lifecycle::{
    attach_release, attach_to, deprovision, detach_from, provision, recreate,
};
use crate::addons::names::{refuse_taken_var, unused_name};
use crate::addons::{self, service, Kind};
use crate::cli::{AddonsCommand, Format};
use crate::error::{Error, Result};
use crate::output;
use crate::release::Ledger;

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

/// Runs an `addons` command.
pub fn run(ctx: &Ctx, command: AddonsCommand) -> Result<()> {
    match command {
        AddonsCommand::List { format } => list(ctx, format),
        AddonsCommand::Create {
            service,
            as_name,
            name,
            version,
            image,
        } => create(ctx, &service, as_name, name, version, image),
        AddonsCommand::Info { addon } => info(ctx, &addon),
        AddonsCommand::Attach { addon, as_name } => attach(ctx, &addon, as_name),
        AddonsCommand::Detach { addon } => detach(ctx, &addon),
        AddonsCommand::Destroy {
            addon,
            confirm,
            force,
        } => destroy(ctx, &addon, confirm, force),
        AddonsCommand::Expose { addon, port } => expose(ctx, &addon, port),
        AddonsCommand::Unexpose { addon } => unexpose(ctx, &addon),
    }
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

/// The hint when a new add-on could not be attached.
fn attach_later_hint(name: &str, as_name: Option<&str>, app: &str) -> String {
    let as_flag = as_name.map(|n| format!(" --as {n}")).unwrap_or_default();
    format!(
        "{name} was created but is not attached; the previous release keeps running. \
         Fix what failed (output above), then attach it: `paas addons:attach {name}{as_flag} -a {app}` \
         (or remove it: `paas addons:destroy {name} --confirm {app}`)"
    )
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
