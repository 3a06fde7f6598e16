//! The Procfile: `type: command` lines naming the app's process types.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::state::ProcessType;

#[derive(Debug, Error, PartialEq)]
pub enum ProcfileError {
    #[error("Procfile line {line}: expected `type: command`, found `{text}`")]
    NoColon { line: usize, text: String },
    #[error("Procfile line {line}: {reason}")]
    BadType { line: usize, reason: String },
    #[error("Procfile line {line}: process type `{name}` has no command")]
    EmptyCommand { line: usize, name: String },
    #[error("Procfile line {line}: process type `{name}` is defined twice")]
    Duplicate { line: usize, name: String },
    #[error("Procfile line {line}: `run` is reserved for one-off dynos (`paas run`); name the type otherwise")]
    Reserved { line: usize },
}

/// Parses a Procfile. Blank lines and `#` comments are skipped.
pub fn parse(text: &str) -> Result<BTreeMap<ProcessType, String>, ProcfileError> {
    Ok(parse_in_order(text)?.into_iter().collect())
}

/// Parses a Procfile, keeping its order: `paas local` numbers ports by a
/// type's place in it, as foreman does.
pub fn parse_in_order(text: &str) -> Result<Vec<(ProcessType, String)>, ProcfileError> {
    let mut processes = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some((name, command)) = trimmed.split_once(':') else {
            return Err(ProcfileError::NoColon {
                line,
                text: trimmed.chars().take(80).collect(),
            });
        };
        let name = ProcessType::parse(name.trim()).map_err(|err| ProcfileError::BadType {
            line,
            reason: err.to_string(),
        })?;
        if name.as_str() == "run" {
            return Err(ProcfileError::Reserved { line });
        }
        let command = command.trim();
        if command.is_empty() {
            return Err(ProcfileError::EmptyCommand {
                line,
                name: name.to_string(),
            });
        }
        if !seen.insert(name.clone()) {
            return Err(ProcfileError::Duplicate {
                line,
                name: name.to_string(),
            });
        }
        processes.push((name, command.to_string()));
    }
    Ok(processes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_types_and_commands() {
        let procfile =
            "# comment\nweb: gunicorn app:app --bind 0.0.0.0:$PORT\n\nworker:python worker.py\n";
        let processes = parse(procfile).unwrap();
        assert_eq!(
            processes.get(&ProcessType::web()).unwrap(),
            "gunicorn app:app --bind 0.0.0.0:$PORT"
        );
        assert_eq!(
            processes
                .get(&ProcessType::parse("worker").unwrap())
                .unwrap(),
            "python worker.py"
        );
    }

    #[test]
    fn keeps_the_order_of_the_file() {
        let names: Vec<String> = parse_in_order("worker: a\nweb: b\nclock: c\n")
            .unwrap()
            .into_iter()
            .map(|(name, _)| name.to_string())
            .collect();
        assert_eq!(names, ["worker", "web", "clock"]);
    }

    #[test]
    fn reports_the_line_that_is_wrong() {
        assert_eq!(
            parse("web: ok\njust words\n").unwrap_err().to_string(),
            "Procfile line 2: expected `type: command`, found `just words`"
        );
        assert_eq!(
            parse("web:\n").unwrap_err(),
            ProcfileError::EmptyCommand {
                line: 1,
                name: "web".into()
            }
        );
        assert_eq!(
            parse("web: a\nweb: b\n").unwrap_err(),
            ProcfileError::Duplicate {
                line: 2,
                name: "web".into()
            }
        );
        assert_eq!(
            parse("run: x\n").unwrap_err(),
            ProcfileError::Reserved { line: 1 }
        );
        assert!(matches!(
            parse("my web: x\n").unwrap_err(),
            ProcfileError::BadType { line: 1, .. }
        ));
    }
}
