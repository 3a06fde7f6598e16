//! Which images a Dockerfile's build may read (#22's review): every app's
//! build runs in the `paas` user's one podman store, where `FROM`,
//! `COPY --from` and `RUN --mount=…,from=` find any image by name, digest
//! or id prefix, another app's included (its code, and what its build
//! baked in). So before `podman build` runs, each image the Dockerfile
//! names is checked, and the build is refused when one is not for this
//! app: it may use `scratch`, its own stages, this app's images, and
//! images named otherwise (the stack's, an admin's, or one a build pulls
//! itself), never an image only another app's name holds, nor one with no
//! name at all (a build's cached steps), nor one named by a short id.
//!
//! Why a check and not a store per app: builds and dynos share the store,
//! so a store per app means copying each built image into the dynos' store
//! and every base image once per app (twice the disk and a copy per push),
//! and podman 4.3 has no per-command image store to lend one read-only.
//!
//! The scan errs towards checking more than buildah would read: every
//! `--from=` and `--mount=…from=` of any instruction (ONBUILD's triggers
//! of this file too), every `FROM`, heredocs read as instructions, ARG and
//! ENV values put into `$VAR`s in every way the file gives them. A line it
//! reads otherwise than buildah then adds a check, never skips one.
//!
//! A base image's ONBUILD triggers run in the build too, so they are
//! checked as lines of the Dockerfile: read from the image's configuration
//! in podman's store (`image inspect` does not show them), a base image
//! the store lacks pulled first, as the build would pull it.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};

/// One image the Dockerfile names, and the line that names it (for the
/// message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUse {
    pub reference: String,
    pub line: String,
    /// Named by `FROM`: a base image, whose ONBUILD triggers the build runs.
    pub base: bool,
}

/// The images `dockerfile` names outside itself: `FROM`, `--from=` and
/// `--mount=…,from=` values, `$VAR`s expanded, less `scratch` and the
/// file's own stages (by name or by an earlier stage's number).
///
/// The file is read with each escape character buildah knows (`\` and
/// `` ` ``) and what either reading names is checked: a reading of the
/// `# escape=` directive that differed from buildah's (which stops at the
/// first line that is no directive and skips a byte-order mark) would
/// otherwise let a continuation hide a `FROM` from this check that
/// buildah then builds.
pub fn images_named(dockerfile: &str) -> Vec<ImageUse> {
    let dockerfile = dockerfile.strip_prefix('\u{feff}').unwrap_or(dockerfile);
    let mut uses = images_named_with(dockerfile, '\\');
    for found in images_named_with(dockerfile, '`') {
        if !uses
            .iter()
            .any(|u| u.reference == found.reference && u.base == found.base)
        {
            uses.push(found);
        }
    }
    uses
}

fn images_named_with(dockerfile: &str, escape: char) -> Vec<ImageUse> {
    let lines = logical_lines(dockerfile, escape);
    let variables = variables(&lines);
    let mut stages: Vec<String> = Vec::new();
    let mut uses = Vec::new();
    for line in &lines {
        let mut words = shell_words(line);
        // `ONBUILD X` is read as `X`: its references are checked as well.
        while words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("onbuild"))
        {
            words.remove(0);
        }
        let mut named = Vec::new();
        let is_from = words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("from"));
        if is_from {
            let rest: Vec<&String> = words[1..].iter().filter(|w| !w.starts_with("--")).collect();
            if let Some(image) = rest.first() {
                named.push((image.to_string(), true));
            }
        }
        for (index, word) in words.iter().enumerate() {
            let lower = word.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("--from=").map(|_| &word[7..]) {
                named.push((value.to_string(), false));
            } else if lower == "--from" {
                named.extend(words.get(index + 1).map(|w| (w.clone(), false)));
            } else if lower.starts_with("--mount=") || lower == "--mount" {
                let spec = match word.split_once('=') {
                    Some((_, spec)) => spec.to_string(),
                    None => words.get(index + 1).cloned().unwrap_or_default(),
                };
                for field in spec.split(',') {
                    let field = unquote(field.trim());
                    let Some((key, value)) = field.split_once('=') else {
                        continue;
                    };
                    if key.trim().eq_ignore_ascii_case("from") {
                        named.push((unquote(value.trim()).to_string(), false));
                    }
                }
            }
        }
        for (reference, base) in named {
            for reference in expand(&unquote(&reference), &variables) {
                let own_stage = stages.iter().any(|s| s.eq_ignore_ascii_case(&reference))
                    || reference.parse::<usize>().is_ok_and(|n| n < stages.len());
                if !own_stage && !reference.eq_ignore_ascii_case("scratch") {
                    uses.push(ImageUse {
                        reference,
                        line: line.trim().to_string(),
                        base,
                    });
                }
            }
        }
        if is_from {
            // `FROM image AS name`: later lines may name the stage.
            let rest: Vec<&String> = words[1..].iter().filter(|w| !w.starts_with("--")).collect();
            match rest.as_slice() {
                [_, keyword, name, ..] if keyword.eq_ignore_ascii_case("as") => {
                    stages.push(name.to_string())
                }
                _ => stages.push(String::new()),
            }
        }
    }
    uses.dedup();
    uses
}

/// The file's instructions, each on one line: continuations (`escape` at
/// a line's end) joined, comment lines dropped.
fn logical_lines(dockerfile: &str, escape: char) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && !current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix(escape) {
            Some(start) => {
                current.push_str(start);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                if !current.trim().is_empty() {
                    lines.push(std::mem::take(&mut current));
                }
                current.clear();
            }
        }
    }
    if !current.trim().is_empty() {
        lines.push(current);
    }
    lines
}

/// A line's words, split at whitespace, quotes kept together.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            None => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

fn unquote(value: &str) -> String {
    value.trim_matches(|c| c == '"' || c == '\'').to_string()
}

/// Every value each variable is given in the file (`ARG NAME=value`,
/// `ENV NAME=value`, `ENV NAME value`), and the platform's own ARGs.
fn variables(lines: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    for (name, value) in [
        ("TARGETOS", "linux".to_string()),
        ("BUILDOS", "linux".to_string()),
        ("TARGETARCH", arch.to_string()),
        ("BUILDARCH", arch.to_string()),
        ("TARGETPLATFORM", format!("linux/{arch}")),
        ("BUILDPLATFORM", format!("linux/{arch}")),
    ] {
        values.entry(name.into()).or_default().insert(value);
    }
    for line in lines {
        let words = shell_words(line);
        let Some(keyword) = words.first() else {
            continue;
        };
        let keyword = keyword.to_ascii_lowercase();
        if keyword != "arg" && keyword != "env" {
            continue;
        }
        let rest = &words[1..];
        if keyword == "env" && rest.len() >= 2 && !rest[0].contains('=') {
            values
                .entry(rest[0].clone())
                .or_default()
                .insert(rest[1..].join(" "));
            continue;
        }
        for word in rest {
            match word.split_once('=') {
                Some((name, value)) => {
                    values
                        .entry(name.to_string())
                        .or_default()
                        .insert(value.to_string());
                }
                None => {
                    values.entry(word.clone()).or_default();
                }
            }
        }
    }
    values
}

/// The references `reference` may become once its `$NAME`, `${NAME}`,
/// `${NAME:-word}` and `${NAME:+word}` are put in, one per value a
/// variable may have (an unset one is empty, as buildah makes it).
/// Bounded: past 64 the rest are not made (the check then refuses).
fn expand(reference: &str, variables: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let Some(start) = reference.find('$') else {
        return vec![reference.to_string()];
    };
    let after = &reference[start + 1..];
    let (name, modifier, rest) = if let Some(inner) = after.strip_prefix('{') {
        let Some(end) = inner.find('}') else {
            return vec![reference.to_string()];
        };
        let body = &inner[..end];
        let (name, modifier) = match body.find(':') {
            Some(at) => (&body[..at], Some(&body[at + 1..])),
            None => (body, None),
        };
        (name, modifier, &inner[end + 1..])
    } else {
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        (&after[..end], None, &after[end..])
    };
    let set: Vec<String> = variables
        .get(name)
        .map(|v| v.iter().filter(|v| !v.is_empty()).cloned().collect())
        .unwrap_or_default();
    let choices: Vec<String> = match modifier {
        Some(m) if m.starts_with('-') => {
            let mut c = set.clone();
            c.push(m[1..].to_string());
            c
        }
        Some(m) if m.starts_with('+') => vec![m[1..].to_string(), String::new()],
        _ if set.is_empty() => vec![String::new()],
        _ => set.clone(),
    };
    let mut expanded = Vec::new();
    for choice in choices {
        for tail in expand(rest, variables) {
            if expanded.len() == 64 {
                expanded.push(reference.to_string());
                return expanded;
            }
            expanded.push(format!("{}{choice}{tail}", &reference[..start]));
        }
    }
    expanded
}

/// An image found in podman's store.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub id: String,
    pub names: Vec<String>,
}

/// What the check asks of podman's store.
pub trait Store {
    /// The image `reference` resolves to, as a build's lookup finds it (by
    /// name, digest or id), or `None` when the store has none.
    fn resolve(&self, reference: &str) -> Result<Option<Found>>;
    /// Pulls a base image the store lacks, as the build would: its ONBUILD
    /// triggers can then be read before they run.
    fn pull(&self, reference: &str) -> Result<()>;
    /// The ONBUILD triggers of the image `id` (instructions a build `FROM`
    /// it runs first).
    fn triggers(&self, id: &str) -> Result<Vec<String>>;
}

/// Refuses the build when an image it names is not for `app`'s builds.
/// `own_prefix` starts the app's image names
/// (`localhost/paas-<install>/<app>:`); `is_app_image` tells any app's
/// image name (of this install or another). A base image's ONBUILD
/// triggers are checked as lines of the Dockerfile: they run in its build.
/// The message is the same whether another app's image or nothing is
/// behind a guess: it tells no one what another app has.
pub fn check(
    uses: &[ImageUse],
    own_prefix: &str,
    is_app_image: &dyn Fn(&str) -> bool,
    store: &dyn Store,
) -> Result<()> {
    for use_ in uses {
        let reference = use_.reference.as_str();
        let refuse = |why: &str| {
            Err(Error::new(format!(
                "the Dockerfile's `{}` names `{reference}`, {why}",
                use_.line
            ))
            .hint(
                "a build may use `scratch`, its own stages, this app's images, \
                 paas's stack images and images it pulls by name \
                 (`FROM docker.io/library/debian:12`)",
            ))
        };
        if reference.starts_with('-') {
            return refuse("which is no image reference");
        }
        if reference.contains('$') {
            return refuse("whose variables paas cannot work out before the build");
        }
        let bare = reference.strip_prefix("sha256:").unwrap_or(reference);
        let hex = !bare.is_empty() && bare.chars().all(|c| c.is_ascii_hexdigit());
        if hex && bare.len() < 64 {
            // An id prefix comes to mean another image when images come
            // and go, between this check and the build's lookup.
            return refuse("an image id prefix: name the image instead");
        }
        let own = |name: &str| name.starts_with(own_prefix);
        if is_app_image(reference) && !own(reference) {
            return refuse("not an image this app may build from");
        }
        let mut found = store.resolve(reference)?;
        if found.is_none() && use_.base {
            store.pull(reference)?;
            found = store.resolve(reference)?;
        }
        let Some(found) = found else {
            continue;
        };
        let allowed = found
            .names
            .iter()
            .any(|name| own(name) || !is_app_image(name));
        if !allowed {
            return refuse("not an image this app may build from");
        }
        if use_.base {
            let triggers = store.triggers(&found.id)?;
            let inner: Vec<ImageUse> = images_named(&triggers.join("\n"))
                .into_iter()
                .map(|inner| ImageUse {
                    line: format!("{} (an ONBUILD trigger of {reference})", inner.line),
                    base: false,
                    ..inner
                })
                .collect();
            check(&inner, own_prefix, is_app_image, store)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn references(dockerfile: &str) -> Vec<String> {
        images_named(dockerfile)
            .into_iter()
            .map(|u| u.reference)
            .collect()
    }

    #[test]
    fn every_image_a_dockerfile_names_is_found() {
        let dockerfile = "\
# escape=\\
ARG BASE=docker.io/library/debian:12
FROM --platform=linux/amd64 $BASE AS build
RUN --mount=type=bind,from=3f2a,target=/x \\
    --mount=type=cache,target=/c \\
    make
COPY --from=build /out /out
COPY --from=localhost/tools:1 /bin/t /bin/t
from scratch
copy --FROM=0 /out /app
RUN --mount=\"type=bind,source=/,from=other:1\" true
ONBUILD COPY --from=abc /x /y
FROM build
COPY --from=1 /a /b
COPY --from=7 /a /b
";
        assert_eq!(
            references(dockerfile),
            [
                "docker.io/library/debian:12",
                "3f2a",
                "localhost/tools:1",
                "other:1",
                "abc",
                "7",
            ]
        );
    }

    #[test]
    fn variables_take_every_value_the_file_gives_them() {
        let dockerfile = "\
ARG TAG
ARG TAG=12
ENV NAME debian
FROM docker.io/library/${NAME}:${TAG:-11}
FROM a${UNSET}b
FROM img:${TARGETARCH}
";
        let found = references(dockerfile);
        assert!(found.contains(&"docker.io/library/debian:12".to_string()));
        assert!(found.contains(&"docker.io/library/debian:11".to_string()));
        assert!(found.contains(&"ab".to_string()), "{found:?}");
        assert!(found.iter().any(|r| r.starts_with("img:") && r.len() > 4));
    }

    #[test]
    fn a_backtick_escape_joins_lines_and_comments_are_skipped() {
        let dockerfile = "# escape=`\nFROM `\n  abc0\n# FROM hidden\nRUN echo \\\nFROM x\n";
        // Read with `\` too (buildah would, had the directive not been
        // first): `FROM `` names "`", which resolves to nothing.
        assert_eq!(references(dockerfile), ["`", "abc0", "x"]);
    }

    /// Whatever this check makes of the directive, a `FROM` buildah sees is
    /// checked: a directive after a comment (buildah ignores it) or after a
    /// byte-order mark must not let a continuation swallow `FROM 1a2b`.
    #[test]
    fn a_from_hidden_by_a_misread_escape_directive_is_still_checked() {
        let late = "# hello\n# escape=`\nFROM docker.io/library/alpine\nLABEL a=b`\nFROM 1a2b AS loot\nFROM docker.io/library/alpine\nCOPY --from=loot / /stolen\n";
        assert!(
            references(late).contains(&"1a2b".to_string()),
            "{:?}",
            references(late)
        );
        let bom =
            "\u{feff}# escape=`\nFROM docker.io/library/alpine\nLABEL a=b\\\nFROM 1a2b AS loot\n";
        assert!(
            references(bom).contains(&"1a2b".to_string()),
            "{:?}",
            references(bom)
        );
    }

    fn uses(reference: &str) -> Vec<ImageUse> {
        vec![ImageUse {
            reference: reference.into(),
            line: format!("FROM {reference}"),
            base: true,
        }]
    }

    fn is_app_image(name: &str) -> bool {
        name.starts_with("localhost/paas-ab12/")
    }

    const OWN: &str = "localhost/paas-ab12/shop:";

    /// A store of a few images; what is pulled is recorded, and comes
    /// named as pulled, with `ONBUILD COPY --from=<its tag>` when its name
    /// says `onbuild`.
    #[derive(Default)]
    struct FakeStore {
        pulled: std::cell::RefCell<Vec<String>>,
    }

    impl Store for FakeStore {
        fn resolve(&self, reference: &str) -> Result<Option<Found>> {
            let found = |id: &str, names: &[&str]| Found {
                id: id.into(),
                names: names.iter().map(|n| n.to_string()).collect(),
            };
            Ok(Some(match reference {
                "docker.io/library/debian:12" => found(
                    "d1",
                    &[
                        "docker.io/library/debian:12",
                        "localhost/paas-ab12/other:v1-00",
                    ],
                ),
                "localhost/paas-stack-run:1" => found("s1", &["localhost/paas-stack-run:1"]),
                "localhost/paas-ab12/shop:v1-00" => {
                    found("o1", &["localhost/paas-ab12/shop:v1-00"])
                }
                "anything@sha256:00" => found("a1", &["localhost/paas-ab12/other:v1-00"]),
                full if full.len() == 64 => found(full, &[]),
                pulled if self.pulled.borrow().iter().any(|p| p == pulled) => {
                    found(pulled, &[pulled])
                }
                _ => return Ok(None),
            }))
        }
        fn pull(&self, reference: &str) -> Result<()> {
            self.pulled.borrow_mut().push(reference.into());
            Ok(())
        }
        fn triggers(&self, id: &str) -> Result<Vec<String>> {
            Ok(match id.split_once("onbuild:") {
                Some((_, from)) => vec![format!("COPY --from={from} /x /y")],
                None => vec![],
            })
        }
    }

    #[test]
    fn another_apps_images_and_unnamed_ones_are_refused() {
        let store = FakeStore::default();
        for allowed in [
            "docker.io/library/debian:12",
            "localhost/paas-stack-run:1",
            "localhost/paas-ab12/shop:v1-00",
            "docker.io/library/never-pulled:1",
        ] {
            assert!(
                check(&uses(allowed), OWN, &is_app_image, &store).is_ok(),
                "{allowed}"
            );
        }
        // A base image the store lacked was pulled, to read its triggers.
        assert_eq!(*store.pulled.borrow(), ["docker.io/library/never-pulled:1"]);
        let err = check(&uses("3f2a"), OWN, &is_app_image, &store).unwrap_err();
        assert_eq!(
            err.message(),
            "the Dockerfile's `FROM 3f2a` names `3f2a`, an image id prefix: name the image instead"
        );
        let full = "ab".repeat(32);
        for refused in [
            "localhost/paas-ab12/other:v1-00",
            "localhost/paas-ab12/other:v9-not-there",
            "anything@sha256:00",
            full.as_str(),
        ] {
            let err = check(&uses(refused), OWN, &is_app_image, &store).unwrap_err();
            assert!(
                err.message()
                    .ends_with("not an image this app may build from"),
                "{refused}: {}",
                err.message()
            );
        }
        let err = check(&uses("a$B"), OWN, &is_app_image, &store).unwrap_err();
        assert!(err.message().contains("variables"), "{}", err.message());
        // Only a base image is pulled: `COPY --from` of an absent one is
        // the build's to pull.
        let copy = vec![ImageUse {
            base: false,
            ..uses("docker.io/library/tools:1")[0].clone()
        }];
        assert!(check(&copy, OWN, &is_app_image, &store).is_ok());
        assert_eq!(store.pulled.borrow().len(), 1);
    }

    #[test]
    fn a_base_images_onbuild_triggers_are_checked_as_the_dockerfiles_lines() {
        let store = FakeStore::default();
        let base = "docker.io/evil/onbuild:3f2a";
        let err = check(&uses(base), OWN, &is_app_image, &store).unwrap_err();
        assert_eq!(
            err.message(),
            "the Dockerfile's `COPY --from=3f2a /x /y (an ONBUILD trigger of \
             docker.io/evil/onbuild:3f2a)` names `3f2a`, an image id prefix: name the image instead"
        );
        let fine = "docker.io/good/onbuild:docker.io/library/debian:12";
        assert!(check(&uses(fine), OWN, &is_app_image, &store).is_ok());
    }
}
