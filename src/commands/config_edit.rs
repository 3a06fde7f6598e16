//! The shell form of config vars, and `config:edit`. `config --shell`
//! prints `KEY=value` lines with each value quoted as a POSIX shell quotes
//! it (`shlex`), so `eval` and `source` round-trip spaces, quotes and
//! newlines; `config:set` reads the same lines on stdin. `config:edit`
//! opens an editor on them and applies what changed as one release: on a
//! laptop the editor runs there and only the change (`KEY=value` and
//! `unset KEY` lines, valid shell too) goes to the server.

use std::collections::BTreeMap;

use crate::error::{Context, Error, Result};

/// `KEY=value`, the value quoted where a shell needs it.
pub fn shell_line(key: &str, value: &str) -> String {
    // Values cannot hold NUL (they travel as environment variables).
    let quoted = shlex::try_quote(value).map_or_else(|_| value.into(), |q| q.into_owned());
    format!("{key}={quoted}")
}

/// What changes one config into another.
#[derive(Debug, Default, PartialEq)]
pub struct Patch {
    pub set: BTreeMap<String, String>,
    pub unset: Vec<String>,
}

impl Patch {
    pub fn between(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Patch {
        Patch {
            set: after
                .iter()
                .filter(|(key, value)| before.get(*key) != Some(value))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            unset: before
                .keys()
                .filter(|key| !after.contains_key(*key))
                .cloned()
                .collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.unset.is_empty()
    }

    /// As lines a shell (and `parse`) reads.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for (key, value) in &self.set {
            text.push_str(&shell_line(key, value));
            text.push('\n');
        }
        for key in &self.unset {
            text.push_str(&format!("unset {key}\n"));
        }
        text
    }

    /// What a release's description says of it.
    pub fn description(&self) -> String {
        let mut parts = Vec::new();
        if !self.set.is_empty() {
            let keys: Vec<&str> = self.set.keys().map(String::as_str).collect();
            parts.push(format!("Set {}", keys.join(", ")));
        }
        if !self.unset.is_empty() {
            parts.push(format!("Unset {}", self.unset.join(", ")));
        }
        format!("{} config vars", parts.join("; "))
    }

    /// Reads `KEY=value` and `unset KEY` lines; blank lines and `#`
    /// comments are skipped. A value starting with a quote is read as a
    /// shell reads it, over as many lines as it spans; any other value is
    /// the rest of its line, as typed.
    pub fn parse(text: &str) -> Result<Patch> {
        let mut patch = Patch::default();
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(key) = line.strip_prefix("unset ") {
                patch.unset.push(key.trim().to_string());
                continue;
            }
            let Some((key, raw)) = line.split_once('=') else {
                return Err(Error::new(format!(
                    "`{}` is not `KEY=value`",
                    crate::error::quoted(line, crate::error::QUOTED_INPUT)
                ))
                .hint("each line sets a var (`KEY=value`) or removes one (`unset KEY`)"));
            };
            let key = key.trim().to_string();
            let value = if raw.starts_with(['\'', '"']) {
                let mut quoted = raw.to_string();
                loop {
                    match shlex::split(&quoted).as_deref() {
                        Some([value]) => break value.clone(),
                        Some(_) => {
                            return Err(Error::new(format!(
                                "the value of `{key}` has words after its closing quote"
                            ))
                            .hint("quote the whole value: KEY='several words'"))
                        }
                        None => match lines.next() {
                            Some(more) => {
                                quoted.push('\n');
                                quoted.push_str(more);
                            }
                            None => {
                                return Err(Error::new(format!(
                                    "the value of `{key}` has no closing quote"
                                )))
                            }
                        },
                    }
                }
            } else {
                raw.trim_end().to_string()
            };
            patch.set.insert(key, value);
        }
        Ok(patch)
    }
}

/// Opens `$VISUAL`, else `$EDITOR`, else `vi`, on `text`; returns the text
/// saved. The editor runs through `sh -c`, as git runs it, so `EDITOR="code -w"` works.
pub fn edit_in_editor(text: &str, name: &str) -> Result<String> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let file = tempfile::Builder::new()
        .prefix(&format!("{name}-config-"))
        .suffix(".sh")
        .tempfile()
        .context(|| "creating a file to edit".into())?;
    std::fs::write(file.path(), text).context(|| "writing the file to edit".into())?;
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(file.path())
        .status()
        .map_err(|err| Error::new(format!("could not run the editor `{editor}`")).cause(err))?;
    if !status.success() {
        return Err(Error::new(format!(
            "the editor `{editor}` failed ({status}); nothing changed"
        )));
    }
    std::fs::read_to_string(file.path()).context(|| "reading the edited file".into())
}

/// The file `config:edit` opens: a comment, then the vars.
pub fn document(app: &str, config: &BTreeMap<String, String>) -> String {
    let mut text = format!(
        "# Config vars of {app}: one KEY=value a line, quoted as in a shell.\n\
         # Delete a line to unset the var; save and quit to apply, as one release.\n"
    );
    for (key, value) in config {
        text.push_str(&shell_line(key, value));
        text.push('\n');
    }
    text
}

/// The vars an edited document sets (an `unset` line in it is refused).
pub fn parse_document(text: &str) -> Result<BTreeMap<String, String>> {
    let patch = Patch::parse(text)?;
    if let Some(key) = patch.unset.first() {
        return Err(Error::new(format!(
            "`unset {key}` in the edited file: delete the line instead"
        )));
    }
    Ok(patch.set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_shell_form_round_trips_spaces_quotes_and_newlines() {
        let vars = config(&[
            ("PLAIN", "abc"),
            ("SPACES", "a b  c"),
            ("QUOTES", "it's \"quoted\""),
            ("LINES", "one\ntwo\n"),
            ("EMPTY", ""),
            ("DOLLAR", "$HOME `x`"),
        ]);
        let text = document("app", &vars);
        assert_eq!(parse_document(&text).unwrap(), vars);
        // And as a shell reads it.
        let script = format!(
            "{text}\nprintf '%s|' \"$PLAIN\" \"$SPACES\" \"$QUOTES\" \"$LINES\" \"$EMPTY\" \"$DOLLAR\""
        );
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "abc|a b  c|it's \"quoted\"|one\ntwo\n||$HOME `x`|"
        );
    }

    #[test]
    fn lines_typed_by_hand_read_as_before() {
        let patch =
            Patch::parse("# a comment\n\nA=plain value \nB='quoted'\nC=\"double\"\nunset D\n")
                .unwrap();
        assert_eq!(
            patch.set,
            config(&[("A", "plain value"), ("B", "quoted"), ("C", "double")])
        );
        assert_eq!(patch.unset, ["D"]);
        assert!(Patch::parse("A='open\n").is_err());
        assert!(Patch::parse("no equals").is_err());
        assert!(Patch::parse("A='x' y").is_err());
    }

    #[test]
    fn a_patch_is_what_changed() {
        let before = config(&[("KEEP", "1"), ("CHANGE", "old"), ("DROP", "x")]);
        let after = config(&[("KEEP", "1"), ("CHANGE", "new"), ("ADD", "a b")]);
        let patch = Patch::between(&before, &after);
        assert_eq!(patch.set, config(&[("ADD", "a b"), ("CHANGE", "new")]));
        assert_eq!(patch.unset, ["DROP"]);
        assert_eq!(Patch::parse(&patch.text()).unwrap(), patch);
        assert_eq!(
            patch.description(),
            "Set ADD, CHANGE; Unset DROP config vars"
        );
        assert!(Patch::between(&before, &before).is_empty());
    }
}
