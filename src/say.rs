//! Progress lines for people, on stderr. Best effort: a client that hangs
//! up mid-push must not stop a deploy half-way, so a failed write is ignored
//! instead of panicking as `eprintln!` would.
//!
//! Below every other module: the store, workflows and commands all say what
//! they are doing, and the spinner long work shows on a terminal.
//! (`output` holds what only commands print.)

use std::io::IsTerminal;

/// A line on stderr, ignoring a closed pipe.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// The start of a line on stderr (`Scaling dynos... `), finished by `say!`.
#[macro_export]
macro_rules! say_partial {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stderr = std::io::stderr();
        let _ = write!(stderr, $($arg)*);
        let _ = stderr.flush();
    }};
}

/// A spinner with the elapsed time for long work a person waits for, on a
/// terminal; elsewhere (a pipe, a log, `git push` output) one plain line.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub fn start(message: &str) -> Progress {
        if !std::io::stderr().is_terminal() {
            say!("{message}");
            return Progress { bar: None };
        }
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(message.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress { bar: Some(bar) }
    }

    /// What the work is doing now (shown only on a terminal).
    pub fn step(&self, detail: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(detail.to_string());
        }
    }
}

/// The spinner goes when the work ends, however it ends; the caller reports
/// the outcome.
impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
