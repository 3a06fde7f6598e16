//! `paas dashboard [--print-url]`: a one-time login link to the web
//! dashboard for the caller (#23 point 4), opened in a browser where there
//! is one to open, else printed. Over SSH the server only prints it; the
//! laptop's side (`forward.rs`) opens it there.
//!
//! `dashboard:certs:auto[:enable|:disable]`: the dashboard host's own
//! certificate, by ACME as `certs:auto` gets an app's (the daemon orders
//! and renews it; `daemon::acme`).

use std::process::{Command as Process, Stdio};

use super::Ctx;
use crate::cli::DashboardCommand;
use crate::daemon::acme::{self, Subject};
use crate::error::{Error, Result};
use crate::logins::{self, Holder};
use crate::output;

pub fn run(ctx: &Ctx, command: DashboardCommand) -> Result<()> {
    match command {
        DashboardCommand::Open { print_url } => open(ctx, print_url),
        DashboardCommand::CertsAuto => certs_auto_show(ctx),
        DashboardCommand::CertsAutoEnable => certs_auto_set(ctx, true),
        DashboardCommand::CertsAutoDisable => certs_auto_set(ctx, false),
    }
}

fn open(ctx: &Ctx, print_url: bool) -> Result<()> {
    // With `-a` (or in an app's repository), the link lands on its page.
    let app = match ctx.app_given() {
        true => Some(ctx.app()?.name),
        false => None,
    };
    let holder = Holder {
        user: ctx.user.clone(),
        admin: ctx.admin,
        by_key: ctx.over_ssh,
    };
    let url = logins::issue_link(
        &ctx.root,
        &ctx.settings,
        holder,
        app.as_ref(),
        crate::crashes::now(),
    )?;
    // A browser over SSH would open on the server: the laptop opens it.
    show_link(&url, print_url || ctx.over_ssh);
    let plain = url.starts_with("http://");
    if plain && !ctx.settings.local && ctx.settings.https_port.is_some() {
        // (A `--local` install's loopback name is for no public CA.)
        crate::say!(
            " !     no certificate covers {} yet, so the link is plain HTTP: `paas dashboard:certs:auto:enable` (an admin) gets one",
            ctx.settings.dashboard_host()
        );
    }
    Ok(())
}

fn certs_auto_show(ctx: &Ctx) -> Result<()> {
    let enabled = ctx.settings.dashboard_certs_auto;
    output::header(&format!(
        "Automatic Certificate Management is {} for the dashboard",
        if enabled { "enabled" } else { "disabled" },
    ));
    let mut rows = super::certs::auto_rows(ctx, &Subject::Dashboard, enabled);
    let https = crate::certs::for_dashboard(&ctx.root, &ctx.settings).is_some();
    rows.push(vec![
        "URL".to_string(),
        logins::dashboard_url(&ctx.settings, https),
    ]);
    output::table(&rows);
    Ok(())
}

fn certs_auto_set(ctx: &Ctx, enabled: bool) -> Result<()> {
    if !ctx.admin {
        return Err(
            Error::new("only an admin may change the dashboard's certificate")
                .hint("ask an admin of this server"),
        );
    }
    if enabled && ctx.settings.https_port.is_none() {
        return Err(Error::new("this install has no HTTPS port")
            .hint("reinstall with `paas server install --https-port 443`"));
    }
    let host = ctx.settings.dashboard_host();
    let current = crate::certs::load_dashboard(&ctx.root);
    let due = acme::due(current.as_ref(), &[host], crate::crashes::now());
    if let (true, true, None, Some(bundle)) =
        (enabled, ctx.settings.dashboard_certs_auto, due, &current)
    {
        // Ordering again would only spend the CA's rate limit.
        crate::say!(
            "The dashboard already has its certificate, until {}; it renews itself 30 days before",
            bundle.summary.expires_at
        );
        return Ok(());
    }
    ctx.root
        .update_settings(|settings| settings.dashboard_certs_auto = enabled)?;
    if !enabled {
        crate::say!(
            "Automatic Certificate Management disabled for the dashboard; its certificate stays until it expires"
        );
        return Ok(());
    }
    crate::say!("Automatic Certificate Management enabled for the dashboard");
    super::certs::issue_now(ctx, None)?;
    let https = crate::certs::for_dashboard(&ctx.root, &ctx.settings).is_some();
    crate::say!(
        "The dashboard is at {} (`paas dashboard` logs you in)",
        logins::dashboard_url(&ctx.settings, https)
    );
    Ok(())
}

/// Opens `url` with the desktop's opener (`xdg-open`, macOS's `open`);
/// prints it when asked to, or when there is none or it fails.
pub fn show_link(url: &str, print_url: bool) {
    if print_url || !open_in_browser(url) {
        println!("{url}");
        return;
    }
    crate::say!("Opening the dashboard in your browser (the link works once, within 60 s)");
}

fn open_in_browser(url: &str) -> bool {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    // A server without a desktop has neither the opener nor a display.
    let has_display = cfg!(target_os = "macos")
        || std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some();
    has_display
        && Process::new(opener)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
}
