//! Names that reach the disk or a command line: parsed once, here, so no raw
//! `&str` from a user ever becomes a path or an argument.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::error::quoted;

/// The first word of generated names, for apps and add-ons.
pub const NAME_WORDS: &[&str] = &[
    "sunny", "quiet", "brave", "calm", "eager", "gentle", "lucky", "mighty", "polished", "rapid",
    "shy", "tidy", "vast", "warm", "young", "bold",
];

/// How much of a refused name its error quotes back, in characters.
const SHOWN_NAME: usize = 40;

/// An app's name: lowercase letters, digits and dashes, 1 to 30 characters,
/// starting with a letter. It names a directory and a container, so this is
/// the sanitising boundary.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppName(String);

#[derive(Debug, Error, PartialEq)]
pub enum NameError {
    #[error("app name is empty")]
    EmptyApp,
    #[error("app name `{0}` is longer than 30 characters")]
    AppTooLong(String),
    #[error("app name `{0}` must start with a lowercase letter")]
    AppStart(String),
    #[error("app name `{0}` may hold only lowercase letters, digits and dashes")]
    AppCharacters(String),
    #[error("app name `{0}` may not end with a dash")]
    AppEnd(String),
    #[error(
        "config var name `{0}` must be letters, digits and underscores, not starting with a digit"
    )]
    ConfigKey(String),
    #[error("process type `{0}` must be letters, digits, dashes and underscores (at most 30)")]
    ProcessType(String),
}

impl AppName {
    pub fn parse(name: &str) -> Result<Self, NameError> {
        // What a user sees quoted back is bounded, so hostile input cannot flood the terminal.
        let shown = quoted(name, SHOWN_NAME).into_owned();
        if name.is_empty() {
            return Err(NameError::EmptyApp);
        }
        if name.len() > 30 {
            return Err(NameError::AppTooLong(shown));
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(NameError::AppStart(shown));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(NameError::AppCharacters(shown));
        }
        if name.ends_with('-') {
            return Err(NameError::AppEnd(shown));
        }
        Ok(AppName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AppName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for AppName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AppName::parse(s)
    }
}

/// A config var's name, as a POSIX shell would accept it in `export NAME=…`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigKey(String);

impl ConfigKey {
    pub fn parse(key: &str) -> Result<Self, NameError> {
        let valid = !key.is_empty()
            && key.len() <= 200
            && !key.starts_with(|c: char| c.is_ascii_digit())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            Ok(ConfigKey(key.to_string()))
        } else {
            Err(NameError::ConfigKey(quoted(key, SHOWN_NAME).into_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConfigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Procfile process type (`web`, `worker`, …).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessType(String);

impl ProcessType {
    pub fn parse(name: &str) -> Result<Self, NameError> {
        let valid = !name.is_empty()
            && name.len() <= 30
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            Ok(ProcessType(name.to_string()))
        } else {
            Err(NameError::ProcessType(
                quoted(name, SHOWN_NAME).into_owned(),
            ))
        }
    }

    pub fn web() -> Self {
        ProcessType("web".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProcessType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_heroku_style_app_names() {
        for name in ["a", "myapp", "my-app-2", "a23456789012345678901234567890"] {
            assert_eq!(AppName::parse(name).unwrap().as_str(), name);
        }
    }

    #[test]
    fn refuses_bad_app_names_with_the_reason() {
        let cases = [
            ("", NameError::EmptyApp),
            ("2app", NameError::AppStart("2app".into())),
            ("-app", NameError::AppStart("-app".into())),
            ("MyApp", NameError::AppStart("MyApp".into())),
            ("my_app", NameError::AppCharacters("my_app".into())),
            ("../etc", NameError::AppStart("../etc".into())),
            ("app/../x", NameError::AppCharacters("app/../x".into())),
            ("app;rm", NameError::AppCharacters("app;rm".into())),
            ("app-", NameError::AppEnd("app-".into())),
            (
                "a234567890123456789012345678901",
                NameError::AppTooLong("a234567890123456789012345678901".into()),
            ),
        ];
        for (name, expected) in cases {
            assert_eq!(AppName::parse(name).unwrap_err(), expected, "{name:?}");
        }
        assert_eq!(
            NameError::AppCharacters("my_app".into()).to_string(),
            "app name `my_app` may hold only lowercase letters, digits and dashes"
        );
        // A long one is quoted in part, and says so.
        let long = "a".repeat(65_000);
        assert_eq!(
            AppName::parse(&long).unwrap_err(),
            NameError::AppTooLong(format!("{}…", "a".repeat(40)))
        );
    }

    #[test]
    fn config_keys_are_shell_names() {
        assert!(ConfigKey::parse("DATABASE_URL").is_ok());
        assert!(ConfigKey::parse("_x1").is_ok());
        for bad in ["", "1X", "A-B", "A B", "A=B", "$X"] {
            assert!(ConfigKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn process_types() {
        assert!(ProcessType::parse("web").is_ok());
        assert!(ProcessType::parse("worker_2").is_ok());
        assert!(ProcessType::parse("a b").is_err());
        assert!(ProcessType::parse("").is_err());
    }
}
