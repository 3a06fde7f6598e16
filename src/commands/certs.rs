//! `certs`, `certs:add`, `certs:remove`, `certs:redirect`: the app's TLS
//! certificate, which the router serves on the HTTPS port.

use std::path::PathBuf;

use super::Ctx;
use crate::certs::{self, Summary};
use crate::cli::{CertsAutoCommand, CertsCommand, Format};
use crate::control;
use crate::daemon::acme;
use crate::error::{Error, Result};
use crate::output;
use crate::state::AppDir;

/// Runs a `certs` command other than `certs:auto`'s.
pub fn run(ctx: &Ctx, command: CertsCommand) -> Result<()> {
    match command {
        CertsCommand::Show { format } => list(ctx, format),
        CertsCommand::Add { cert, key } => add(ctx, cert, key),
        CertsCommand::Remove => remove(ctx),
        CertsCommand::Redirect { state } => redirect(ctx, state),
    }
}

/// Runs a `certs:auto` command.
pub fn run_auto(ctx: &Ctx, command: CertsAutoCommand) -> Result<()> {
    match command {
        CertsAutoCommand::Show => auto_show(ctx),
        CertsAutoCommand::Enable => auto_set(ctx, true),
        CertsAutoCommand::Disable => auto_set(ctx, false),
        CertsAutoCommand::Refresh => auto_refresh(ctx),
    }
}

pub fn list(ctx: &Ctx, format: Format) -> Result<()> {
    let app = ctx.app()?;
    let summary = certs::load(&app).map(|bundle| bundle.summary);
    if format.json {
        return output::print_json(&summary.into_iter().collect::<Vec<Summary>>());
    }
    output::header(&format!("{} TLS Certificate", app.name));
    match summary {
        None => println!(
            "none: add one with `paas certs:add CERT KEY`{}",
            https_note(ctx)
        ),
        Some(summary) => show(&summary),
    }
    Ok(())
}

fn show(summary: &Summary) {
    output::table(&[
        vec!["Names".to_string(), summary.names.join(", ")],
        vec![
            "Expires".to_string(),
            if summary.expired {
                format!(
                    "{} (EXPIRED: add a new one with `paas certs:add`)",
                    summary.expires_at
                )
            } else {
                summary.expires_at.clone()
            },
        ],
        vec!["Issuer".to_string(), summary.issuer.clone()],
        vec![
            "Trusted".to_string(),
            if summary.self_signed {
                "no (self-signed)"
            } else {
                "by its issuer"
            }
            .to_string(),
        ],
    ]);
}

fn https_note(ctx: &Ctx) -> String {
    match ctx.settings.https_port {
        Some(_) => String::new(),
        None => " (this install has no HTTPS port: reinstall with `--https-port`)".to_string(),
    }
}

pub fn add(ctx: &Ctx, cert: Option<PathBuf>, key: Option<PathBuf>) -> Result<()> {
    let app = ctx.app()?;
    let pem = match (cert, key, ctx.over_ssh) {
        (Some(_), _, true) => {
            return Err(Error::new(
                "over SSH the certificate comes on stdin, not from server paths",
            )
            .hint("from your laptop, `paas certs:add CERT KEY` sends them for you"))
        }
        (Some(cert), Some(key), false) => {
            let read = |file: &PathBuf| {
                std::fs::read_to_string(file).map_err(|err| {
                    Error::new(format!("cannot read `{}`", file.display())).cause(err)
                })
            };
            format!("{}\n{}", read(&cert)?, read(&key)?)
        }
        _ => output::read_piped_stdin(
            certs::BUNDLE_LIMIT as u64 + 1,
            Error::new("no certificate given").hint("name the files: `paas certs:add CERT KEY`"),
        )?,
    };
    let bundle = certs::check(&pem)?;
    let hosts = certs::app_hosts(&ctx.settings, &app);
    let covered: Vec<&String> = hosts
        .iter()
        .filter(|host| {
            bundle
                .summary
                .names
                .iter()
                .any(|name| certs::covers(name, host))
        })
        .collect();
    if covered.is_empty() {
        return Err(Error::new(format!(
            "the certificate is for {}, none of which is a host of `{}`",
            bundle.summary.names.join(", "),
            app.name
        ))
        .hint(format!(
            "its hosts are {}; add yours with `paas domains:add`",
            hosts.join(", ")
        )));
    }
    say_partial!("Adding TLS certificate to {}... ", app.name);
    {
        let _lock = app.lock()?;
        certs::store(&app, &bundle)?;
        control::reload_router(&ctx.root, &app);
    }
    say!("done");
    show(&bundle.summary);
    if let Some(port) = ctx.settings.https_port {
        let port = if port == 443 {
            String::new()
        } else {
            format!(":{port}")
        };
        for host in covered {
            say!("https://{host}{port}/");
        }
    } else {
        say!(" !     {}", https_note(ctx).trim().trim_matches(['(', ')']));
    }
    Ok(())
}

pub fn remove(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    let _lock = app.lock()?;
    if !app.certificate_file().exists() {
        return Err(Error::new(format!("`{}` has no TLS certificate", app.name)));
    }
    say_partial!("Removing TLS certificate from {}... ", app.name);
    std::fs::remove_file(app.certificate_file())
        .map_err(|err| Error::new("cannot remove the certificate").cause(err))?;
    control::reload_router(&ctx.root, &app);
    say!("done");
    Ok(())
}

pub fn redirect(ctx: &Ctx, state: Option<String>) -> Result<()> {
    let app = ctx.app()?;
    let Some(state) = state else {
        let on = app.settings()?.https_redirect;
        println!("{}", if on { "on" } else { "off" });
        return Ok(());
    };
    let on = state == "on";
    let _lock = app.lock()?;
    let mut settings = app.settings()?;
    settings.https_redirect = on;
    app.write_settings(&settings)?;
    control::reload_router(&ctx.root, &app);
    if on {
        say!(
            "HTTP requests to {} now redirect to HTTPS (once it has a certificate)",
            app.name
        );
    } else {
        say!("HTTP requests to {} are served as they come", app.name);
    }
    Ok(())
}

pub fn auto_show(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    let enabled = app.settings()?.certs_auto;
    output::header(&format!(
        "Automatic Certificate Management is {} on {}",
        if enabled { "enabled" } else { "disabled" },
        app.name
    ));
    output::table(&auto_rows(ctx, &acme::Subject::App(app.name), enabled));
    Ok(())
}

/// What `certs:auto` and `dashboard:certs:auto` show of `subject`: the
/// ACME directory, its hosts, how its last order went, its expiry.
pub(super) fn auto_rows(ctx: &Ctx, subject: &acme::Subject, enabled: bool) -> Vec<Vec<String>> {
    let directory = ctx
        .settings
        .acme_directory
        .clone()
        .unwrap_or_else(|| acme::LETS_ENCRYPT.to_string());
    let status = acme::Status::load(&ctx.root, subject);
    let certificate = subject.certificate(&ctx.root);
    let state = match (&status.error, &certificate) {
        (Some(error), _) => format!("Failing: {error}"),
        (None, Some(_)) if status.issued_at.is_some() => "Cert issued".to_string(),
        (None, _) if enabled => "In progress".to_string(),
        (None, _) => "-".to_string(),
    };
    let hosts_label = match subject {
        acme::Subject::App(_) => "Domains",
        acme::Subject::Dashboard => "Domain",
    };
    let mut rows = vec![
        vec!["ACME directory".to_string(), directory],
        vec![
            hosts_label.to_string(),
            subject.hosts(&ctx.root, &ctx.settings).join(", "),
        ],
        vec!["Status".to_string(), state],
    ];
    if let Some(bundle) = certificate {
        rows.push(vec!["Expires".to_string(), bundle.summary.expires_at]);
    }
    rows
}

pub fn auto_set(ctx: &Ctx, enabled: bool) -> Result<()> {
    let app = ctx.app()?;
    {
        let _lock = app.lock()?;
        app.update_settings(|s| s.certs_auto = enabled)?;
    }
    if !enabled {
        say!(
            "Automatic Certificate Management disabled on {}; its certificate stays until it expires or `paas certs:remove`",
            app.name
        );
        return Ok(());
    }
    say!("Automatic Certificate Management enabled on {}", app.name);
    issue_now(ctx, Some(&app))
}

pub fn auto_refresh(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    if !app.settings()?.certs_auto {
        return Err(Error::new(format!(
            "`{}` does not use automatic certificates",
            app.name
        ))
        .hint("`paas certs:auto:enable` turns them on"));
    }
    issue_now(ctx, Some(&app))
}

/// Has the daemon order the certificate of `app` (the dashboard's without
/// one) while the user waits.
pub(super) fn issue_now(ctx: &Ctx, app: Option<&AppDir>) -> Result<()> {
    let (hosts, retry) = match app {
        Some(app) => (
            certs::app_hosts(&ctx.settings, app),
            "`paas certs:auto:refresh`",
        ),
        None => (
            vec![ctx.settings.dashboard_host()],
            "`paas dashboard:certs:auto:enable` again",
        ),
    };
    say_partial!("Getting a certificate for {}... ", hosts.join(", "));
    match control::acme_request(&ctx.root, app) {
        Ok(Ok(got)) => {
            say!("done");
            say!("Certificate for {got}; it renews itself 30 days before it expires");
            Ok(())
        }
        // A daemon of an earlier paas, still running after an upgrade.
        Ok(Err(why)) if why == control::RequestError::Unknown.to_string() => {
            say!("failed");
            Err(
                Error::new("the daemon running is older than this command")
                    .hint("restart it (`paas server stop`, then `paas server start`) and run the command again"),
            )
        }
        Ok(Err(why)) => {
            say!("failed");
            Err(Error::new(why).hint(format!(
                "each host's DNS must point at this server and port 80 reach it; the daemon tries again every 5 minutes, or {retry}"
            )))
        }
        Err(err) => {
            say!("not now");
            say!(
                " !     the daemon is not answering ({}); it gets the certificate when it runs",
                err.message()
            );
            Ok(())
        }
    }
}
