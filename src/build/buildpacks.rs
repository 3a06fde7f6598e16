//! Which buildpacks build an app: a shipped name, a git URL or a `.tgz`
//! URL, chosen by `buildpacks:set`, the `BUILDPACK_URL` config var or a
//! `.buildpacks` file, else detected from the shipped ones.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use super::SHIPPED;
use crate::error::{Error, Result};
use crate::state;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Buildpack {
    /// One of `buildpacks/`, by name.
    Shipped(String),
    /// Cloned at build time: `https://host/x.git#ref` (ref optional).
    Git(String),
    /// Downloaded and unpacked at build time.
    Tarball(String),
}

impl Buildpack {
    /// Reads what a user names: `nodejs`, `heroku/nodejs`, a git URL
    /// (`https://…`, `git://…`, optionally `#ref`) or a `.tgz` URL.
    pub fn parse(text: &str) -> Result<Buildpack> {
        let text = text.trim();
        let name = text.strip_prefix("heroku/").unwrap_or(text);
        if SHIPPED.iter().any(|(shipped, _)| *shipped == name) {
            return Ok(Buildpack::Shipped(name.to_string()));
        }
        let is_url = ["https://", "http://", "git://"]
            .iter()
            .any(|scheme| text.starts_with(scheme));
        let clean = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_graphic() && !"'\"`\\$;|&<>".contains(c));
        if !is_url || !clean {
            return Err(Error::new(format!("`{text}` is not a buildpack")).hint(format!(
                "name a shipped one ({}), a git URL such as `https://example.com/buildpack.git#v1`, or a `.tgz` URL",
                shipped_names().join(", ")
            )));
        }
        let path = text.split('#').next().unwrap_or(text);
        if path.ends_with(".tgz") || path.ends_with(".tar.gz") {
            Ok(Buildpack::Tarball(text.to_string()))
        } else {
            Ok(Buildpack::Git(text.to_string()))
        }
    }

    /// The build driver's argument for it.
    pub fn driver_arg(&self) -> String {
        match self {
            Buildpack::Shipped(name) => format!("shipped:/buildpacks/{name}"),
            Buildpack::Git(url) => format!("git:{url}"),
            Buildpack::Tarball(url) => format!("tgz:{url}"),
        }
    }
}

impl fmt::Display for Buildpack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Buildpack::Shipped(name) => write!(f, "{name}"),
            Buildpack::Git(url) | Buildpack::Tarball(url) => write!(f, "{url}"),
        }
    }
}

pub fn shipped_names() -> Vec<&'static str> {
    SHIPPED.iter().map(|(name, _)| *name).collect()
}

/// Where an app's buildpacks came from, for the build output.
#[derive(Debug)]
pub enum Source {
    Set,
    ConfigVar,
    File,
    Detect,
}

impl Source {
    /// How the build output names it; `None` for detection, which says so itself.
    pub fn describe(&self) -> Option<&'static str> {
        match self {
            Source::Set => Some("set with `paas buildpacks:set`"),
            Source::ConfigVar => Some("from the BUILDPACK_URL config var"),
            Source::File => Some("from .buildpacks"),
            Source::Detect => None,
        }
    }
}

/// The buildpacks that build the app, in order, and where that list came
/// from: `buildpacks:set` first, then `BUILDPACK_URL`, then `.buildpacks`
/// in the pushed tree; empty means detect.
pub fn choose(
    set: &[String],
    config: &BTreeMap<String, String>,
    build_dir: &Path,
) -> Result<(Vec<Buildpack>, Source)> {
    if !set.is_empty() {
        let list = set
            .iter()
            .map(|b| Buildpack::parse(b))
            .collect::<Result<_>>()?;
        return Ok((list, Source::Set));
    }
    if let Some(url) = config.get("BUILDPACK_URL").filter(|u| !u.trim().is_empty()) {
        let buildpack = Buildpack::parse(url).map_err(|err| {
            Error::new(format!("the BUILDPACK_URL config var: {}", err.message()))
                .hint("`paas config:unset BUILDPACK_URL` detects the buildpack instead")
        })?;
        return Ok((vec![buildpack], Source::ConfigVar));
    }
    if let Some(text) = state::read_untrusted(&build_dir.join(".buildpacks"), 64 * 1024)? {
        let list: Vec<Buildpack> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|line| {
                Buildpack::parse(line).map_err(|err| {
                    Error::new(format!(".buildpacks: {}", err.message()))
                        .hint("fix the file and push again")
                })
            })
            .collect::<Result<_>>()?;
        if !list.is_empty() {
            return Ok((list, Source::File));
        }
    }
    Ok((Vec::new(), Source::Detect))
}

/// What `bin/release` printed (Heroku's YAML): default process types, and
/// the config vars and add-ons a buildpack asks for on the first deploy.
/// Only this shape is read, so no YAML library: top-level keys with
/// `key: value` lines or `- item` lines indented under them.
#[derive(Debug, Default, PartialEq)]
pub struct ReleaseInfo {
    pub default_process_types: BTreeMap<String, String>,
    pub config_vars: BTreeMap<String, String>,
    pub addons: Vec<String>,
}

pub fn parse_release(yaml: &str) -> ReleaseInfo {
    let mut info = ReleaseInfo::default();
    let mut section = String::new();
    for line in yaml.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') || line == "---" {
            continue;
        }
        let indented = line.starts_with(' ') || line.starts_with('\t');
        if !indented {
            let (key, rest) = line.split_once(':').unwrap_or((line, ""));
            section = key.trim().to_string();
            // `addons: [a, b]` on one line.
            if section == "addons" {
                if let Some(items) = rest
                    .trim()
                    .strip_prefix('[')
                    .and_then(|r| r.strip_suffix(']'))
                {
                    info.addons.extend(
                        items
                            .split(',')
                            .map(unquote)
                            .filter(|i| !i.is_empty())
                            .map(str::to_string),
                    );
                }
            }
            continue;
        }
        let item = line.trim();
        if section == "addons" {
            if let Some(addon) = item.strip_prefix("- ") {
                info.addons.push(unquote(addon).to_string());
            }
            continue;
        }
        let Some((key, value)) = item.split_once(':') else {
            continue;
        };
        let (key, value) = (unquote(key).to_string(), unquote(value).to_string());
        match section.as_str() {
            "default_process_types" if !value.is_empty() => {
                info.default_process_types.insert(key, value);
            }
            "config_vars" => {
                info.config_vars.insert(key, value);
            }
            _ => {}
        }
    }
    info
}

fn unquote(text: &str) -> &str {
    let text = text.trim();
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .or_else(|| text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')))
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls_parse_and_junk_does_not() {
        assert_eq!(
            Buildpack::parse("heroku/python").unwrap(),
            Buildpack::Shipped("python".into())
        );
        assert_eq!(
            Buildpack::parse("https://example.com/bp.git#v2").unwrap(),
            Buildpack::Git("https://example.com/bp.git#v2".into())
        );
        assert_eq!(
            Buildpack::parse("https://example.com/bp.tgz").unwrap(),
            Buildpack::Tarball("https://example.com/bp.tgz".into())
        );
        for bad in [
            "cobol",
            "https://x/$(reboot)",
            "file:///etc",
            "",
            "https://a b",
        ] {
            assert!(Buildpack::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_set_list_wins_then_the_config_var_then_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".buildpacks"),
            "# comment\nprocfile\n\nheroku/python\n",
        )
        .unwrap();
        let config = BTreeMap::from([(
            "BUILDPACK_URL".to_string(),
            "https://e.com/b.git".to_string(),
        )]);
        let (list, _) = choose(&["python".into()], &config, dir.path()).unwrap();
        assert_eq!(list, vec![Buildpack::Shipped("python".into())]);
        let (list, _) = choose(&[], &config, dir.path()).unwrap();
        assert_eq!(list, vec![Buildpack::Git("https://e.com/b.git".into())]);
        let (list, _) = choose(&[], &BTreeMap::new(), dir.path()).unwrap();
        assert_eq!(list.len(), 2);
        std::fs::write(dir.path().join(".buildpacks"), "nonsense\n").unwrap();
        let err = choose(&[], &BTreeMap::new(), dir.path()).unwrap_err();
        assert!(
            err.message().contains(".buildpacks: `nonsense`"),
            "{}",
            err.message()
        );
    }

    #[test]
    fn reads_bin_release_output() {
        let yaml = "---\naddons:\n  - heroku-postgresql\ndefault_process_types:\n  web: gunicorn app:app\n  worker: \"python w.py\"\nconfig_vars:\n  LANG: en_US.UTF-8\n";
        let info = parse_release(yaml);
        assert_eq!(info.default_process_types["web"], "gunicorn app:app");
        assert_eq!(info.default_process_types["worker"], "python w.py");
        assert_eq!(info.config_vars["LANG"], "en_US.UTF-8");
        assert_eq!(info.addons, vec!["heroku-postgresql"]);
        assert_eq!(parse_release("--- {}\n"), ReleaseInfo::default());
        assert_eq!(
            parse_release("addons: [heroku-redis, 'x']\n").addons,
            vec!["heroku-redis", "x"]
        );
    }
}
