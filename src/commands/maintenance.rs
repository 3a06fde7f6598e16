//! `maintenance`, `maintenance:on`, `maintenance:off`: the router answers
//! every request with a 503 page (H80) instead of passing it to the dynos,
//! which keep running. `MAINTENANCE_PAGE_URL` names the app's own page.

use super::Ctx;
use crate::cli::MaintenanceCommand;
use crate::control;
use crate::error::Result;
use crate::release::Ledger;
use crate::state;

/// The largest maintenance page kept.
const PAGE_LIMIT: u64 = 1024 * 1024;

/// Runs a `maintenance` command.
pub fn run(ctx: &Ctx, command: MaintenanceCommand) -> Result<()> {
    match command {
        MaintenanceCommand::Show => show(ctx),
        MaintenanceCommand::On => set(ctx, true),
        MaintenanceCommand::Off => set(ctx, false),
    }
}

pub fn show(ctx: &Ctx) -> Result<()> {
    let app = ctx.app()?;
    println!(
        "{}",
        if app.settings()?.maintenance {
            "on"
        } else {
            "off"
        }
    );
    Ok(())
}

pub fn set(ctx: &Ctx, on: bool) -> Result<()> {
    let app = ctx.app()?;
    let _lock = app.lock()?;
    let verb = if on { "Enabling" } else { "Disabling" };
    say_partial!("{verb} maintenance mode for {}... ", app.name);
    let mut warning = None;
    if on {
        let url = Ledger::new(&app)
            .current()?
            .and_then(|release| release.config.get("MAINTENANCE_PAGE_URL").cloned());
        let _ = std::fs::remove_file(app.maintenance_page_file());
        if let Some(url) = url {
            match crate::net::get(&url, PAGE_LIMIT) {
                Ok((200, page)) => state::write_atomic(&app.maintenance_page_file(), &page, 0o644)?,
                Ok((status, _)) => {
                    warning = Some(format!(
                        "`{url}` answered {status}; the plain page is served"
                    ))
                }
                Err(err) => warning = Some(format!("{err}; the plain page is served")),
            }
        }
    }
    let mut settings = app.settings()?;
    settings.maintenance = on;
    app.write_settings(&settings)?;
    crate::logs::platform(
        &app,
        "api",
        &format!(
            "{} maintenance mode by {}",
            if on { "Enable" } else { "Disable" },
            ctx.user
        ),
    );
    say!("done");
    control::reload_router(&ctx.root, &app);
    if let Some(warning) = warning {
        say!(" !     {warning}");
    }
    Ok(())
}
