//! `certs`, `certs:add`, `certs:remove`, `certs:redirect`: the app's TLS
//! certificate, which the router serves on the HTTPS port.

use std::path::PathBuf;

use super::Ctx;
use crate::certs::{self, Summary};
use crate::cli::Format;
use crate::converge;
use crate::error::{Error, Result};
use crate::output;
use crate::state::AppDir;

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
    let hosts = app_hosts(ctx, &app)?;
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
        converge::reload_router(&ctx.root, &app);
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

/// `<app>.<domain>` and the app's custom domains.
fn app_hosts(ctx: &Ctx, app: &AppDir) -> Result<Vec<String>> {
    Ok(
        std::iter::once(format!("{}.{}", app.name, ctx.settings.domain))
            .chain(app.settings()?.domains)
            .collect(),
    )
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
    converge::reload_router(&ctx.root, &app);
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
    converge::reload_router(&ctx.root, &app);
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
