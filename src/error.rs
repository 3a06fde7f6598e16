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

/// Adds what was being done to a low-level error, as `Error::cause`.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|err| Error::unexpected(what()).cause(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
