//! What commands print for people: colour, headers, tables, JSON,
//! and what they read from a pipe. Progress lines on stderr are
//! `say!` (src/say.rs), which every layer uses.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

static COLOR: AtomicBool = AtomicBool::new(false);

/// Whether this process would colour its own output: stdout is a terminal
/// and `NO_COLOR` is unset (https://no-color.org).
pub fn color_wanted_here() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `--color`: when output is coloured.
#[derive(Debug, Clone, Copy, PartialEq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Decides once, from `--color`, whether output is coloured.
pub fn set_color(choice: ColorChoice) {
    let on = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => color_wanted_here(),
    };
    COLOR.store(on, Ordering::Relaxed);
}

/// Whether output is coloured, as `set_color` decided.
pub fn color_on() -> bool {
    COLOR.load(Ordering::Relaxed)
}

#[derive(Clone, Copy)]
pub enum Style {
    Header,
    Good,
    Bad,
    Warn,
    Dim,
}

/// `text` in `style` when colour is on, else unchanged.
pub fn paint(text: &str, style: Style) -> String {
    if !COLOR.load(Ordering::Relaxed) {
        return text.to_string();
    }
    let code = match style {
        Style::Header => "1",
        Style::Good => "32",
        Style::Bad => "31",
        Style::Warn => "33",
        Style::Dim => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Heroku's section header: `=== text`.
pub fn header(text: &str) {
    println!("{}", paint(&format!("=== {text}"), Style::Header));
}

/// Bytes as they are (a saved transcript, with its colours).
pub fn print_bytes(bytes: &[u8]) -> crate::error::Result<()> {
    use crate::error::Context;
    use std::io::Write;
    std::io::stdout()
        .write_all(bytes)
        .context(|| "writing to stdout".into())
}

/// A listing's `--json` output: pretty, one trailing newline.
pub fn print_json(value: &impl serde::Serialize) -> crate::error::Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|err| crate::error::Error::unexpected("encoding JSON").cause(err))?;
    println!("{text}");
    Ok(())
}

/// Rows as aligned columns, two spaces apart; the last column is not padded.
pub fn table(rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
            }
        }
        println!("{}", line.trim_end());
    }
}

/// What was piped in, up to `limit` bytes; `at_terminal` when stdin is a
/// terminal (a person would wait for a prompt that never comes).
pub fn read_piped_stdin(
    limit: u64,
    at_terminal: crate::error::Error,
) -> crate::error::Result<String> {
    use std::io::Read;
    if std::io::stdin().is_terminal() {
        return Err(at_terminal);
    }
    let mut text = String::new();
    std::io::stdin()
        .take(limit)
        .read_to_string(&mut text)
        .map_err(|err| crate::error::Error::new("cannot read stdin").cause(err))?;
    Ok(text)
}

/// Runs `on_hangup`, then exits, when the caller hangs up: over SSH without
/// a terminal nothing signals us when the client goes (Ctrl-C on a laptop),
/// but our stdout's other end closes. Without this, `logs --tail` or a
/// one-off dyno would run on with no one reading.
pub fn watch_for_hangup(on_hangup: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || loop {
        let mut stdout = libc::pollfd {
            fd: libc::STDOUT_FILENO,
            events: 0,
            revents: 0,
        };
        let ready = unsafe { libc::poll(&mut stdout, 1, 1000) };
        if ready > 0 && stdout.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
            on_hangup();
            std::process::exit(129);
        }
    });
}
