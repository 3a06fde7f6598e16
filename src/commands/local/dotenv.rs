//! `.env` files as `paas local` reads them: the rules of Ruby's dotenv
//! (bkeepers/dotenv, which foreman loaded its `.env` with), where foreman,
//! heroku local's node-foreman and dotenv agree, and dotenv's where they
//! differ; and what `paas config --shell > .env` writes (values quoted as
//! a POSIX shell quotes them, `shlex`) reads back unchanged.
//!
//! - `KEY=value` lines; blank lines and `#` lines are skipped; `export KEY=value`
//!   is read as `KEY=value`, and a bare `export KEY` of a key set above is
//!   allowed; spaces around `=` are allowed.
//! - Unquoted text may hold spaces (`GREETING=hello world`, as foreman and
//!   dotenv read it), drops the backslash of `\x`, and expands `$VAR` and
//!   `${VAR}`; trailing blanks go.
//! - `'single quotes'` keep everything as written.
//! - `"double quotes"` turn `\n` into a newline, drop the backslash of any
//!   other `\x` (`\"`, `\\`, `\$`), and expand `$VAR` and `${VAR}`.
//! - Quoted and unquoted pieces join as in a shell (`"it's "'$5'`), and a
//!   quoted piece may go on over several lines.
//! - `#` at the start of a value, or after a blank outside quotes, begins a
//!   comment (`PASSWORD=a#b` keeps its `#`).
//! - `$VAR` is the value set above in the same file (or an earlier file),
//!   else the environment's, else empty.
//!
//! Not taken from dotenv: `$(command)` is kept as written, never run (neither
//! foreman nor node-foreman runs it). dotenvy, the Rust crate, refuses
//! unquoted values with spaces and unknown escapes (`"C:\dir"`), which
//! foreman and dotenv read, so it is not used here.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::error::quoted;

#[derive(Debug, Error, PartialEq)]
pub enum DotenvError {
    #[error("line {line}: expected `KEY=value`, found `{text}`")]
    NotAssignment { line: usize, text: String },
    #[error("line {line}: the {quote} quote opened in the value of `{key}` is never closed")]
    Unclosed {
        line: usize,
        key: String,
        quote: &'static str,
    },
}

/// How much of a wrong line an error shows: it may hold a secret.
const SHOWN: usize = 40;

/// Reads `text` into `vars`, each key replacing one set before (by an earlier
/// line or file). `environment` looks up what `$VAR` means when no line set it.
pub fn parse(
    text: &str,
    vars: &mut BTreeMap<String, String>,
    environment: &dyn Fn(&str) -> Option<String>,
) -> Result<(), DotenvError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut next = 0;
    while next < lines.len() {
        let number = next + 1;
        let line = lines[next].trim_start();
        next += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let not_assignment = || DotenvError::NotAssignment {
            line: number,
            text: quoted(line.trim_end(), SHOWN).into_owned(),
        };
        let (exported, line) = match line.strip_prefix("export") {
            Some(rest) if rest.starts_with([' ', '\t']) => (true, rest.trim_start()),
            _ => (false, line),
        };
        let key_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(line.len());
        let (key, rest) = line.split_at(key_end);
        let rest = rest.trim_start();
        if key.is_empty() {
            return Err(not_assignment());
        }
        let Some(value) = rest.strip_prefix('=') else {
            // `export KEY` after `KEY=…`, as in a shell script.
            if exported && rest.is_empty() && vars.contains_key(key) {
                continue;
            }
            return Err(not_assignment());
        };
        let value = read_value(value.trim_start(), &lines, &mut next, vars, environment).map_err(
            |quote| DotenvError::Unclosed {
                line: number,
                key: key.to_string(),
                quote: if quote == '"' { "double" } else { "single" },
            },
        )?;
        vars.insert(key.to_string(), value);
    }
    Ok(())
}

/// A value: its quoted and unquoted pieces joined, as a shell joins them,
/// up to the end of its line or a comment; a quoted piece reads on over the
/// next lines (`next` moves past them). Fails with the quote never closed.
fn read_value<'a>(
    text: &'a str,
    lines: &[&'a str],
    next: &mut usize,
    vars: &BTreeMap<String, String>,
    environment: &dyn Fn(&str) -> Option<String>,
) -> Result<String, char> {
    let mut value = String::new();
    let mut rest = text;
    // Blanks outside quotes, kept only if more of the value follows.
    let mut blanks = String::new();
    let mut at_start = true;
    while let Some(c) = rest.chars().next() {
        if c == ' ' || c == '\t' {
            blanks.push(c);
            rest = &rest[1..];
            continue;
        }
        if c == '#' && (at_start || !blanks.is_empty()) {
            break;
        }
        value.push_str(&blanks);
        blanks.clear();
        at_start = false;
        match c {
            '\'' => {
                let (body, after) = quoted_piece(&rest[1..], c, lines, next).ok_or(c)?;
                value.push_str(&body);
                rest = after;
            }
            '"' => {
                let (body, after) = quoted_piece(&rest[1..], c, lines, next).ok_or(c)?;
                value.push_str(&interpret(&body, true, vars, environment));
                rest = after;
            }
            _ => {
                let end = unquoted_end(rest);
                value.push_str(&interpret(&rest[..end], false, vars, environment));
                rest = &rest[end..];
            }
        }
    }
    Ok(value)
}

/// Where an unquoted piece ends: at a blank or a quote, not escaped by `\`.
fn unquoted_end(text: &str) -> usize {
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        if !escaped && matches!(c, ' ' | '\t' | '\'' | '"') {
            return at;
        }
        escaped = c == '\\' && !escaped;
    }
    text.len()
}

/// The text between an opening quote (just before `start`) and its closing
/// one, reading on over the next lines (`next` moves past them) when it is
/// not on this one; and what follows the closing quote. Inside double
/// quotes, `\"` does not close.
fn quoted_piece<'a>(
    start: &'a str,
    quote: char,
    lines: &[&'a str],
    next: &mut usize,
) -> Option<(String, &'a str)> {
    let mut body = String::new();
    let mut chunk = start;
    loop {
        let mut escaped = false;
        let close = chunk.char_indices().find(|&(_, c)| {
            let closes = c == quote && !escaped;
            escaped = quote == '"' && c == '\\' && !escaped;
            closes
        });
        if let Some((at, _)) = close {
            body.push_str(&chunk[..at]);
            return Some((body, &chunk[at + 1..]));
        }
        body.push_str(chunk);
        body.push('\n');
        chunk = lines.get(*next)?;
        *next += 1;
    }
}

/// A value with its escapes undone and `$VAR`s expanded, in one pass so
/// that `\$HOME` stays `$HOME`.
fn interpret(
    raw: &str,
    double_quoted: bool,
    vars: &BTreeMap<String, String>,
    environment: &dyn Fn(&str) -> Option<String>,
) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') if double_quoted => out.push('\n'),
                Some(escaped) => out.push(escaped),
                None => out.push('\\'),
            },
            '$' => {
                let braced = chars.peek() == Some(&'{');
                let rest: String = chars.clone().skip(usize::from(braced)).collect();
                let name_len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                let closed = !braced || rest[name_len..].starts_with('}');
                if name_len == 0 || !closed {
                    out.push('$');
                    continue;
                }
                let name = &rest[..name_len];
                let value = vars.get(name).cloned().or_else(|| environment(name));
                out.push_str(&value.unwrap_or_default());
                // The name's characters are ASCII: one char each.
                let taken = name_len + if braced { 2 } else { 0 };
                for _ in 0..taken {
                    chars.next();
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> BTreeMap<String, String> {
        read_with(text, &|_| None)
    }

    fn read_with(
        text: &str,
        environment: &dyn Fn(&str) -> Option<String>,
    ) -> BTreeMap<String, String> {
        let mut vars = BTreeMap::new();
        parse(text, &mut vars, environment).unwrap();
        vars
    }

    fn one(text: &str) -> String {
        let vars = read(text);
        assert_eq!(vars.len(), 1, "{vars:?}");
        vars.into_values().next().unwrap()
    }

    #[test]
    fn plain_lines_comments_and_blank_lines() {
        let vars = read("# a comment\n\nA=1\n  B = two \n   # indented comment\r\nC=\n");
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "two");
        assert_eq!(vars["C"], "");
        assert_eq!(vars.len(), 3);
    }

    #[test]
    fn unquoted_values_keep_spaces_and_lose_inline_comments() {
        // As foreman, node-foreman and dotenv read them (dotenvy refuses it).
        assert_eq!(one("GREETING=hello world"), "hello world");
        assert_eq!(one("A=b # a comment"), "b");
        assert_eq!(one("A=b\t# a comment"), "b");
        assert_eq!(one("PASSWORD=a#b"), "a#b");
        assert_eq!(one("URL=http://x/?q=1&r=2"), "http://x/?q=1&r=2");
        assert_eq!(one(r"A=my\ value"), "my value");
    }

    #[test]
    fn export_is_optional_and_may_stand_alone() {
        assert_eq!(one("export A=1"), "1");
        assert_eq!(one("export\tA=1"), "1");
        assert_eq!(read("A=1\nexport A\n")["A"], "1");
        // A key named like the keyword.
        assert_eq!(read("export=yes")["export"], "yes");
        assert_eq!(read("exported=yes")["exported"], "yes");
    }

    #[test]
    fn single_quotes_keep_everything() {
        assert_eq!(one(r"A='a \n $HOME # b'"), r"a \n $HOME # b");
        assert_eq!(one("A='x'  # a comment"), "x");
        assert_eq!(one("A = 'spaced'"), "spaced");
    }

    #[test]
    fn double_quotes_undo_escapes_and_keep_hashes() {
        assert_eq!(one(r#"A="line 1\nline 2""#), "line 1\nline 2");
        assert_eq!(one(r#"A="say \"hi\"""#), r#"say "hi""#);
        assert_eq!(one(r#"A="back\\slash""#), r"back\slash");
        assert_eq!(one(r#"A="C:\dir""#), "C:dir");
        assert_eq!(one(r#"A="a#b" # comment"#), "a#b");
        assert_eq!(one(r#"A="""#), "");
    }

    #[test]
    fn a_comment_may_start_the_value() {
        assert_eq!(one("A=#not a colour"), "");
        assert_eq!(one("A=   # nothing"), "");
        assert_eq!(one("A='#ff0000'"), "#ff0000");
    }

    #[test]
    fn pieces_join_as_in_a_shell() {
        assert_eq!(one(r#"A="it's "'$5'"#), "it's $5");
        assert_eq!(one(r"A='it'\''s'"), "it's");
        assert_eq!(one(r#"A=pre"fix $NOPE"'post'fix"#), "prefix postfix");
        assert_eq!(one("A='x' y  # z"), "x y");
    }

    /// `paas config --shell > .env` (values quoted by shlex) reads back.
    #[test]
    fn config_shell_lines_read_back_unchanged() {
        let values = [
            "plain",
            "",
            "hello world",
            "it's $5",
            r"C:\new\dir",
            "line 1\nline 2",
            "tab\there",
            "#hash # and more",
            "`cmd` $(cmd) ${X}",
            r#"say "hi""#,
            "^caret!bang",
            "a=b,c;d&e|f",
            "ünïcode ✓",
            "  padded  ",
        ];
        for value in values {
            let quoted = shlex::try_quote(value).unwrap();
            let line = format!("KEY={quoted}\n");
            assert_eq!(read(&line)["KEY"], value, "{line}");
        }
    }

    #[test]
    fn quoted_values_may_span_lines() {
        let vars = read("KEY=\"-----BEGIN-----\nabc\n-----END-----\"\nNEXT='a\nb'\nLAST=1\n");
        assert_eq!(vars["KEY"], "-----BEGIN-----\nabc\n-----END-----");
        assert_eq!(vars["NEXT"], "a\nb");
        assert_eq!(vars["LAST"], "1");
    }

    #[test]
    fn variables_expand_from_the_file_then_the_environment() {
        let environment = |name: &str| (name == "HOME").then(|| "/home/me".to_string());
        let vars = read_with(
            concat!(
                "HOST=example.com\n",
                "URL=\"https://$HOST/${HOST}x\"\n",
                "DIR=$HOME/app\n",
                "MISSING=[$NOPE]\n",
                "KEPT='$HOST'\n",
                "ESCAPED=\"\\$HOST \\${HOST}\"\n",
                "PRICE=$5 and $ and ${open\n",
                "RUN=$(whoami)\n",
            ),
            &environment,
        );
        assert_eq!(vars["URL"], "https://example.com/example.comx");
        assert_eq!(vars["DIR"], "/home/me/app");
        assert_eq!(vars["MISSING"], "[]");
        assert_eq!(vars["KEPT"], "$HOST");
        assert_eq!(vars["ESCAPED"], "$HOST ${HOST}");
        assert_eq!(vars["PRICE"], " and $ and ${open");
        assert_eq!(vars["RUN"], "$(whoami)");
    }

    #[test]
    fn a_later_line_wins() {
        assert_eq!(read("A=1\nA=2\n")["A"], "2");
    }

    #[test]
    fn each_error_names_its_line() {
        let error = |text: &str| {
            let mut vars = BTreeMap::new();
            parse(text, &mut vars, &|_| None).unwrap_err().to_string()
        };
        assert_eq!(
            error("A=1\njust words\n"),
            "line 2: expected `KEY=value`, found `just words`"
        );
        assert_eq!(
            error("=value"),
            "line 1: expected `KEY=value`, found `=value`"
        );
        assert_eq!(
            error("export NEVER_SET"),
            "line 1: expected `KEY=value`, found `export NEVER_SET`"
        );
        assert_eq!(
            error("A=1\nB=\"open\nstill open\n"),
            "line 2: the double quote opened in the value of `B` is never closed"
        );
        assert_eq!(
            error("B='open"),
            "line 1: the single quote opened in the value of `B` is never closed"
        );
        assert!(error(&format!("{} words", "x".repeat(100))).contains('…'));
    }
}
