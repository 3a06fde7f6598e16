//! `domains`, `domains:add`, `domains:remove`, `domains:clear`: hostnames
//! of the app's own, which the router sends to it like `<app>.<domain>`.

use super::Ctx;
use crate::cli::{DomainsCommand, Format};
use crate::control;
use crate::error::{Error, Result};
use crate::output;
use crate::state::AppDir;

/// A hostname a user may point at an app: lowercase letters, digits and
/// dashes in dot-separated labels, at least two of them.
fn parse_domain(ctx: &Ctx, text: &str) -> Result<String> {
    let domain = text.trim_end_matches('.').to_ascii_lowercase();
    let shown: String = text.chars().take(60).collect();
    if domain.starts_with("*.") {
        return Err(
            Error::new(format!("`{shown}`: wildcard domains are not supported"))
                .hint("add each hostname on its own"),
        );
    }
    if !is_hostname(&domain, 2) {
        return Err(Error::new(format!("`{shown}` is not a hostname"))
            .hint("give a name like `www.example.com`, without a scheme, port or path"));
    }
    // `<anything>.<domain>` is where apps answer: the platform's, not one app's.
    if domain == ctx.settings.domain || domain.ends_with(&format!(".{}", ctx.settings.domain)) {
        return Err(Error::new(format!(
            "`{domain}` is under the platform's domain `{}`",
            ctx.settings.domain
        ))
        .hint("apps already answer at `<app>.<domain>`; add a domain of your own"));
    }
    Ok(domain)
}

/// Lowercase letters, digits and dashes in at least `min_labels`
/// dot-separated labels.
fn is_hostname(domain: &str, min_labels: usize) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    domain.len() <= 253
        && labels.len() >= min_labels
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

#[derive(serde::Serialize)]
struct DomainJson {
    hostname: String,
    kind: &'static str,
}

/// Runs a `domains` command.
pub fn run(ctx: &Ctx, command: DomainsCommand) -> Result<()> {
    match command {
        DomainsCommand::List { format } => list(ctx, format),
        DomainsCommand::Add { hostname } => add(ctx, &hostname),
        DomainsCommand::Remove { hostname } => remove(ctx, &hostname),
        DomainsCommand::Clear => clear(ctx),
        DomainsCommand::SetGlobal { domain } => set_global(ctx, &domain),
    }
}

pub fn list(ctx: &Ctx, format: Format) -> Result<()> {
    let app = ctx.app()?;
    let own = format!("{}.{}", app.name, ctx.settings.domain);
    let custom = app.settings()?.domains;
    if format.json {
        let rows: Vec<DomainJson> = std::iter::once(DomainJson {
            hostname: own,
            kind: "platform",
        })
        .chain(custom.into_iter().map(|hostname| DomainJson {
            hostname,
            kind: "custom",
        }))
        .collect();
        return output::print_json(&rows);
    }
    output::header(&format!("{} Platform Domain", app.name));
    println!("{own}");
    println!();
    output::header(&format!("{} Custom Domains", app.name));
    if custom.is_empty() {
        println!("none: add one with `paas domains:add www.example.com`");
    }
    for domain in custom {
        println!("{domain}");
    }
    Ok(())
}

/// Changes the app's domains under its lock and reloads its routes.
fn change(ctx: &Ctx, app: &AppDir, change: impl FnOnce(&mut Vec<String>)) -> Result<()> {
    let _lock = app.lock()?;
    let mut settings = app.settings()?;
    change(&mut settings.domains);
    app.write_settings(&settings)?;
    control::reload_router(&ctx.root, app);
    Ok(())
}

pub fn add(ctx: &Ctx, hostname: &str) -> Result<()> {
    let app = ctx.app()?;
    let domain = parse_domain(ctx, hostname)?;
    for other in ctx.root.apps()? {
        let domains = ctx.root.app(&other).settings()?.domains;
        if domains.contains(&domain) {
            return Err(if other == app.name {
                Error::new(format!("`{domain}` is already a domain of `{other}`"))
            } else if !ctx.role_in(other.as_str()).sees() {
                // Whose it is is not this user's to learn.
                Error::new(format!("`{domain}` is a domain of another app"))
                    .hint("ask an admin of this server to free it")
            } else {
                Error::new(format!("`{domain}` belongs to the app `{other}`")).hint(format!(
                    "remove it there first: `paas domains:remove {domain} -a {other}`"
                ))
            });
        }
    }
    say_partial!("Adding {domain} to {}... ", app.name);
    change(ctx, &app, |domains| domains.push(domain.clone()))?;
    say!("done");
    say!(
        "Point {domain} at this server (an A record, or a CNAME to {}.{}).",
        app.name,
        ctx.settings.domain
    );
    Ok(())
}

pub fn remove(ctx: &Ctx, hostname: &str) -> Result<()> {
    let app = ctx.app()?;
    let domain = hostname.trim_end_matches('.').to_ascii_lowercase();
    if !app.settings()?.domains.contains(&domain) {
        return Err(
            Error::new(format!("`{domain}` is not a domain of `{}`", app.name))
                .hint(format!("`paas domains -a {}` lists them", app.name)),
        );
    }
    say_partial!("Removing {domain} from {}... ", app.name);
    change(ctx, &app, |domains| domains.retain(|d| *d != domain))?;
    say!("done");
    Ok(())
}

pub fn clear(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    say_partial!("Removing all custom domains from {}... ", app.name);
    change(ctx, &app, Vec::clear)?;
    say!("done");
    Ok(())
}

pub fn set_global(ctx: &Ctx, text: &str) -> Result<()> {
    if !ctx.admin {
        return Err(Error::new("only an admin can change the platform's domain"));
    }
    let domain = text.trim_end_matches('.').to_ascii_lowercase();
    if !is_hostname(&domain, 1) {
        let shown: String = text.chars().take(60).collect();
        return Err(Error::new(format!("`{shown}` is not a domain"))
            .hint("give one like `apps.example.com`, without a scheme, port or `*.`"));
    }
    let before = ctx.settings.domain.clone();
    ctx.root.update_settings(|s| s.domain = domain.clone())?;
    if let Err(err) = control::reload_domain(&ctx.root) {
        say!(
            " !     the router did not take it yet ({}); it does when the daemon starts",
            err.message()
        );
    }
    say!("Apps now answer at <app>.{domain} (was <app>.{before})");
    say!("Point a wildcard DNS record `*.{domain}` at this server");
    let apps = ctx.root.apps()?;
    let stale: Vec<String> = apps
        .iter()
        .map(|name| ctx.root.app(name))
        .filter(|app| {
            crate::certs::load(app).is_some_and(|bundle| {
                let host = format!("{}.{domain}", app.name);
                !bundle
                    .summary
                    .names
                    .iter()
                    .any(|n| crate::certs::covers(n, &host))
            })
        })
        .map(|app| app.name.to_string())
        .collect();
    if !stale.is_empty() {
        say!(
            " !     these apps' certificates do not cover their new hostname: {} (`paas certs:add` or `certs:auto:refresh`)",
            stale.join(", ")
        );
    }
    Ok(())
}
