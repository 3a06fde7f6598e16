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

    pub fn cause(mut self, cause: impl fmt::Display) -> Self {
        self.causes.push(cause.to_string());
        self
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
        if let Some(hint) = &self.hint {
            out.push_str(&format!("hint: {hint}\n"));
        }
        out
    }
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

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|err| Error::unexpected(what()).cause(err))
    }
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
    fn context_marks_errors_unexpected() {
        let result: std::result::Result<(), std::io::Error> =
            Err(std::io::Error::other("disk full"));
        let err = result.context(|| "writing `app.toml`".into()).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.report().contains("caused by: disk full"));
    }
}
