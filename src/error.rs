//! The error shown to users: what went wrong, why, what to do, and the exit code.
//!
//! Every module returns `Result<T, Error>`; `main` prints it once as
//! `error: …`, `caused by: …` lines and `hint: …`.

use std::fmt;

/// An error a person can act on.
#[derive(Debug)]
pub struct Error {
    message: String,
    causes: Vec<String>,
    hint: Option<String>,
    exit_code: u8,
    /// A cause says the disk is full (ENOSPC): the message names it and a
    /// hint says what frees space, whatever was being written.
    disk_full: bool,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The user's request failed (exit code 1).
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            causes: Vec::new(),
            hint: None,
            exit_code: 1,
            disk_full: false,
        }
    }

    /// Something that should not happen did (exit code 2).
    pub fn unexpected(message: impl Into<String>) -> Self {
        Error {
            exit_code: 2,
            ..Error::new(message)
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The same error (causes, hint, exit code) saying `message` instead.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    pub fn cause(mut self, cause: impl fmt::Display) -> Self {
        let cause = cause.to_string();
        if !self.disk_full && is_disk_full(&cause) {
            // Not a bug, and not the user's input: the disk, named first.
            self.disk_full = true;
            self.message = format!("the disk is full: {}", self.message);
            self.exit_code = 1;
        }
        self.causes.push(cause);
        self
    }

    /// Whether a cause of this error is a full disk.
    pub fn is_disk_full(&self) -> bool {
        self.disk_full
    }

    /// Ends with `code` and prints nothing: a one-off dyno's own exit status,
    /// passed through unchanged.
    pub fn exit(code: u8) -> Self {
        Error::new("").with_exit_code(code)
    }

    /// Pass a child's exit status through unchanged (one-off dynos).
    pub fn with_exit_code(mut self, code: u8) -> Self {
        self.exit_code = code;
        self
    }

    pub fn exit_code(&self) -> u8 {
        self.exit_code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// This error with each span of its message and hint longer than
    /// `max_chars` cut as `quoted` cuts it. Spans are split at backticks,
    /// where messages quote input; the causes (programs' own output) stay
    /// whole. For errors that reach someone else's terminal (over SSH), so
    /// no path that echoes an argument can send back 64 KiB of it.
    pub fn with_quotes_cut(mut self, max_chars: usize) -> Self {
        self.message = quotes_cut(&self.message, max_chars);
        self.hint = self.hint.map(|hint| quotes_cut(&hint, max_chars));
        self
    }

    /// The text printed on stderr.
    pub fn report(&self) -> String {
        if self.message.is_empty() {
            return String::new();
        }
        let mut out = format!("error: {}\n", self.message);
        for cause in &self.causes {
            out.push_str(&format!("  caused by: {cause}\n"));
        }
        if self.disk_full {
            out.push_str(&format!("hint: {DISK_FULL_HINT}\n"));
        }
        if let Some(hint) = &self.hint {
            out.push_str(&format!("hint: {hint}\n"));
        }
        out
    }
}

/// What a full disk's error tells the operator to do.
pub const DISK_FULL_HINT: &str = "`paas server prune` frees what no release needs (old slugs, \
    images and containers, build caches of destroyed apps); `df -h` and `du` show what else fills the disk";

/// Whether a program's or the kernel's message is ENOSPC's: Rust and C say
/// "No space left on device", Go programs (podman) the same in lower case.
pub fn is_disk_full(text: &str) -> bool {
    text.to_ascii_lowercase()
        .contains("no space left on device")
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// `text` with each span between backticks cut to `max_chars`.
fn quotes_cut(text: &str, max_chars: usize) -> String {
    text.split('`')
        .map(|span| quoted(span, max_chars))
        .collect::<Vec<_>>()
        .join("`")
}

/// Adds what was being done to a low-level error, as `Error::cause`.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<Box<dyn std::error::Error + Send + Sync>>> Context<T>
    for std::result::Result<T, E>
{
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|err| Error::unexpected(what()).cause(with_sources(&*err.into())))
    }
}

/// An error's text followed by what its sources add: a tar error names the
/// file it failed on, its source the reason (a full disk).
fn with_sources(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let more = inner.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = inner.source();
    }
    text
}

/// How much of a person's input a message quotes back, in characters.
/// Enough to recognise what was typed; bounded, so hostile input (a 64 KiB
/// SSH command) cannot flood a terminal or a log through an error.
pub const QUOTED_INPUT: usize = 200;

/// `input` as an error message quotes it: whole up to `max_chars`, else
/// its first `max_chars` characters and `…` (cut between characters, never
/// inside one).
pub fn quoted(input: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    match input.char_indices().nth(max_chars) {
        None => input.into(),
        Some((cut, _)) => format!("{}…", &input[..cut]).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_errors_long_quotes_are_cut_and_the_rest_kept() {
        let long = "x".repeat(65_000);
        let err = Error::new(format!("`{long}` is not `KEY=value`"))
            .cause(&long)
            .hint(format!("not `{long}`"))
            .with_quotes_cut(200);
        let shown = format!("{}…", "x".repeat(200));
        assert_eq!(err.message(), format!("`{shown}` is not `KEY=value`"));
        assert_eq!(err.hint.as_deref(), Some(format!("not `{shown}`").as_str()));
        assert_eq!(err.causes, [long], "a program's output is kept whole");
        let short = Error::new("`a` is not `b`").with_quotes_cut(200);
        assert_eq!(short.message(), "`a` is not `b`");
    }

    #[test]
    fn quoted_input_is_cut_with_an_ellipsis_between_characters() {
        assert_eq!(quoted("short", 200), "short");
        assert_eq!(quoted(&"a".repeat(200), 200), "a".repeat(200));
        assert_eq!(
            quoted(&"a".repeat(65_000), 200),
            format!("{}…", "a".repeat(200))
        );
        // Two bytes a character: the cut falls between characters.
        assert_eq!(quoted(&"é".repeat(300), 3), "ééé…");
        assert_eq!(quoted("", 3), "");
    }

    #[test]
    fn report_lists_message_causes_and_hint() {
        let err = Error::new("app `x` does not exist")
            .cause("no such directory")
            .hint("create it with `paas apps:create x`");
        assert_eq!(
            err.report(),
            "error: app `x` does not exist\n  caused by: no such directory\nhint: create it with `paas apps:create x`\n"
        );
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn a_full_disk_is_named_whatever_was_being_written() {
        let enospc = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let err = Err::<(), _>(enospc)
            .context(|| "writing `routes.toml`".into())
            .unwrap_err()
            .hint("try again");
        assert!(err.is_disk_full());
        assert_eq!(err.exit_code(), 1, "a full disk is not a bug of paas");
        assert_eq!(
            err.report(),
            format!(
                "error: the disk is full: writing `routes.toml`\n  caused by: No space left on device (os error 28)\n\
                 hint: {DISK_FULL_HINT}\nhint: try again\n"
            )
        );
        // Found in an error's source too (tar names the file, its io error
        // the reason), and in a program's output, whatever its case.
        let wrapped =
            std::io::Error::other(TarLike(std::io::Error::from_raw_os_error(libc::ENOSPC)));
        let err = Err::<(), _>(wrapped)
            .context(|| "unpacking".into())
            .unwrap_err();
        assert!(err.is_disk_full(), "{}", err.report());
        assert!(err
            .report()
            .contains("failed to unpack `blob.bin`: No space left on device"));
        assert!(Error::new("podman failed")
            .cause("write /x: no space left on device")
            .is_disk_full());
        assert!(!Error::new("other")
            .cause("permission denied")
            .is_disk_full());
    }

    /// An error that, like tar's, says what it failed on and leaves the
    /// reason to its source.
    #[derive(Debug)]
    struct TarLike(std::io::Error);
    impl fmt::Display for TarLike {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("failed to unpack `blob.bin`")
        }
    }
    impl std::error::Error for TarLike {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn context_marks_errors_unexpected() {
        let result: std::result::Result<(), std::io::Error> =
            Err(std::io::Error::other("disk full"));
        let err = result.context(|| "writing `app.toml`".into()).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.report().contains("caused by: disk full"));
    }
}
