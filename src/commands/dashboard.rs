//! `paas dashboard [--print-url]`: a one-time login link to the web
//! dashboard for the caller (#23 point 4), opened in a browser where there
//! is one to open, else printed. Over SSH the server only prints it; the
//! laptop's side (`forward.rs`) opens it there.

use std::process::{Command as Process, Stdio};

use super::Ctx;
use crate::cli::DashboardCommand;
use crate::error::Result;
use crate::logins::{self, Holder};

pub fn run(ctx: &Ctx, command: DashboardCommand) -> Result<()> {
    match command {
        DashboardCommand::Open { print_url } => open(ctx, print_url),
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
