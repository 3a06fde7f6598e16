//! `maintenance`, `maintenance:on`, `maintenance:off`: the router answers
//! every request with a 503 page (H80) instead of passing it to the dynos,
//! which keep running. `MAINTENANCE_PAGE_URL` names the app's own page.

use super::Ctx;
use crate::cli::MaintenanceCommand;
use crate::control;
use crate::error::Result;
use crate::net::Reach;
use crate::release::Ledger;
use crate::state;

/// The largest maintenance page kept.
const PAGE_LIMIT: u64 = 1024 * 1024;

/// The app's own page from `url`, fetched only where `reach` lets it go
/// (an app's people set the URL), or why the plain page is served.
fn fetch_page(url: &str, reach: Reach) -> Result<Vec<u8>, String> {
    match crate::net::get(url, reach, PAGE_LIMIT) {
        Ok((200, page)) => Ok(page),
        Ok((status, _)) => Err(format!(
            "`{url}` answered {status}; the plain page is served"
        )),
        Err(err) => Err(format!("{err}; the plain page is served")),
    }
}

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
            match fetch_page(&url, ctx.settings.url_reach()) {
                Ok(page) => state::write_atomic(&app.maintenance_page_file(), &page, 0o644)?,
                Err(why) => warning = Some(why),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_in_the_servers_network_is_not_fetched_unless_the_install_allows_it() {
        use std::io::{BufReader, Write};
        let (sender, asked) = std::sync::mpsc::channel();
        let sender = std::sync::Mutex::new(sender);
        let port = crate::net::test_server::serve(move |stream| {
            let mut reader = BufReader::new(stream);
            crate::net::test_server::read_request(&mut reader);
            let _ = sender.lock().unwrap().send(());
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nDown");
        });
        let url = format!("http://127.0.0.1:{port}/maintenance.html");
        let why = fetch_page(&url, Reach::Internet).unwrap_err();
        assert_eq!(
            why,
            format!(
                "fetching `{url}`: 127.0.0.1 is a loopback address: paas connects only to the \
                 internet for apps, unless the install allows private addresses \
                 (`paas server install --allow-private-urls yes`); the plain page is served"
            )
        );
        assert!(asked.try_recv().is_err(), "nothing was asked");
        assert_eq!(fetch_page(&url, Reach::Anywhere), Ok(b"Down".to_vec()));
    }
}
