//! The programs paas runs on the host and the packages that ship them, read
//! from `host-programs.txt` (which `.ci/run` reads too, so the installer and
//! CI install one list). The test below holds the list to the code: a new
//! program started anywhere in `src/` or `hooks/` without its package in the
//! list turns CI red, so a fresh machine never lacks what a developer's
//! machine happened to have.

use std::path::Path;

const LIST: &str = include_str!("host-programs.txt");

/// When a program is expected on the host.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Needed {
    /// The installer installs its package.
    Installed,
    /// In Debian's base system: on every machine, never installed.
    Base,
    /// Used only where systemd runs (and then present).
    WithSystemd,
    /// Used only by apps on a Kubernetes cluster: not installed by
    /// `paas server install` (it must suit the cluster, and Debian's does
    /// not); `kubernetes:connect` checks it and installs the cluster's.
    ForCluster,
}

#[derive(Clone, Copy, Debug)]
pub struct HostProgram {
    pub path: &'static str,
    pub package: &'static str,
    pub needed: Needed,
}

impl HostProgram {
    pub fn name(&self) -> &'static str {
        self.path.rsplit('/').next().unwrap_or(self.path)
    }

    /// Whether this machine should have it now.
    pub fn expected_here(&self) -> bool {
        match self.needed {
            Needed::Installed | Needed::Base => true,
            Needed::WithSystemd => super::systemd_running(),
            Needed::ForCluster => false,
        }
    }

    pub fn present(&self) -> bool {
        Path::new(self.path).exists()
    }

    /// Expected on this machine, and not there.
    pub fn missing_here(&self) -> bool {
        self.expected_here() && !self.present()
    }
}

/// Every line of the list.
pub fn host_programs() -> Vec<HostProgram> {
    LIST.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let mut words = line.split_whitespace();
            let (path, package) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
            let needed = match words.next() {
                None => Needed::Installed,
                Some("base") => Needed::Base,
                Some("systemd") => Needed::WithSystemd,
                Some("cluster") => Needed::ForCluster,
                Some(other) => panic!("host-programs.txt: unknown third column `{other}`"),
            };
            HostProgram {
                path,
                package,
                needed,
            }
        })
        .collect()
}

/// The packages to install whose programs are missing here, each once.
pub fn missing_packages() -> Vec<&'static str> {
    let mut packages: Vec<&str> = host_programs()
        .into_iter()
        .filter(|p| p.needed == Needed::Installed && !p.present())
        .map(|p| p.package)
        .collect();
    packages.sort_unstable();
    packages.dedup();
    packages
}

/// The programs this machine should have and lacks, with their packages.
pub fn missing_programs() -> Vec<HostProgram> {
    host_programs()
        .into_iter()
        .filter(HostProgram::missing_here)
        .collect()
}

/// `paas server status`'s line on `programs`: how many are present, or
/// which are missing and the packages that bring them back.
pub fn check(programs: &[HostProgram]) -> std::result::Result<String, (String, String)> {
    let missing: Vec<&HostProgram> = programs.iter().filter(|p| p.missing_here()).collect();
    if missing.is_empty() {
        // Those not expected here (kubectl, until a cluster needs it) are not counted.
        let expected = programs.iter().filter(|p| p.expected_here()).count();
        return Ok(format!("all {expected} that paas runs are present"));
    }
    let mut packages: Vec<&str> = missing.iter().map(|p| p.package).collect();
    packages.sort_unstable();
    packages.dedup();
    let named: Vec<String> = missing
        .iter()
        .map(|p| format!("`{}` (package {})", p.path, p.package))
        .collect();
    Err((
        format!("missing: {}", named.join(", ")),
        format!(
            "`apt-get install {}`, or run `paas server install`",
            packages.join(" ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    /// Ways the code names a program it starts on the host, as the text
    /// before the program's quoted name.
    const STARTS: &[&str] = &[
        "Command::new(\"",
        "Process::new(\"",
        // `as_user(user, "podman")`: run as the install's owner.
        ", \"",
        // `exec_git("git-receive-pack", …)`, `git_command(…)`.
        "exec_git(\"",
        "git_command(\"",
        // `podman unshare [--rootless-netns] iptables`: a host program,
        // run in podman's namespaces.
        "\"--rootless-netns\", \"",
        "\"unshare\", \"",
    ];

    /// Where the code starts a program named by a variable (the file, the
    /// call), and why that is covered: a new one must be added here after
    /// checking its callers.
    const INDIRECT: &[(&str, &str, &str)] = &[
        ("", "Command::new(root.bin())", "paas itself"),
        (
            "src/commands/ssh_command.rs",
            "Process::new(program)",
            "git_command's callers, and exec_git's, matched above",
        ),
        (
            "src/interrupted.rs",
            "Command::new(test_binary)",
            "the unit test binary itself, started by a test",
        ),
        (
            "src/commands/server.rs",
            "as_user(&settings.user, &root.bin()",
            "paas itself, as the install's owner",
        ),
        (
            "src/users.rs",
            "as_user(user: &str, program: &str)",
            "its definition; its callers are matched above",
        ),
        (
            "src/kubernetes/kubectl.rs",
            "Command::new(&self.program)",
            "kubectl: the one `kubernetes:connect` installs in the state root, else the PATH's \
             (listed, `cluster`)",
        ),
        (
            "src/commands/dashboard.rs",
            "Process::new(opener)",
            "`paas dashboard`: the desktop's browser opener (`xdg-open`, `open`) where it is \
             typed (a laptop), which paas does not install; missing, the link is printed",
        ),
        (
            "src/commands/pg_transfer.rs",
            "Command::new(program)",
            "`pg:pull` and `pg:push`: PostgreSQL's client programs where they are typed (a \
             laptop), which paas does not install; missing, they are named with their package",
        ),
    ];

    fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                source_files(&path, out);
            } else {
                out.push(path);
            }
        }
    }

    /// The program names a piece of Rust code (the file `path`) starts.
    /// `as_user` is matched only on its own lines, as `, "` is common
    /// elsewhere.
    fn programs_in_rust(path: &str, text: &str) -> (BTreeSet<String>, Vec<String>) {
        let explained = |call: &str| {
            INDIRECT
                .iter()
                .any(|(file, shape, _)| path.ends_with(file) && call.starts_with(shape))
        };
        let (mut found, mut unexplained) = (BTreeSet::new(), Vec::new());
        for line in text.lines() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for start in STARTS {
                if *start == ", \"" && !line.contains("as_user(") {
                    continue;
                }
                let mut rest = line;
                while let Some(at) = rest.find(start) {
                    rest = &rest[at + start.len()..];
                    let name = rest.split('"').next().unwrap_or("");
                    // An option (`--rootless-netns`), not a program.
                    if !name.starts_with('-') {
                        found.insert(name.rsplit('/').next().unwrap_or(name).to_string());
                    }
                }
            }
            for start in ["Command::new(", "Process::new(", "as_user("] {
                if let Some(at) = line.find(start) {
                    let call = &line[at..];
                    let literal = match start {
                        "as_user(" => call.contains(", \""),
                        _ => call[start.len()..].starts_with('"'),
                    };
                    if !literal && !explained(call) {
                        unexplained.push(code.to_string());
                    }
                }
            }
        }
        (found, unexplained)
    }

    /// The commands of a small shell script: the first word of each
    /// command, after `exec`, `$(`, `|`, `&&`, `||` and `;`.
    fn programs_in_shell(text: &str) -> BTreeSet<String> {
        let mut found = BTreeSet::new();
        for line in text.lines() {
            let line = line.split(" #").next().unwrap_or("").trim();
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let mut spaced = line.to_string();
            for separator in ["$(", "|", "&&", ";"] {
                spaced = spaced.replace(separator, " ; ");
            }
            for command in spaced.split(" ; ") {
                let mut words = command
                    .split_whitespace()
                    .skip_while(|w| w.contains('=') || *w == "exec");
                if let Some(word) = words.next() {
                    let word = word.trim_matches(|c| c == '"' || c == '\'' || c == ')');
                    found.insert(word.rsplit('/').next().unwrap_or(word).to_string());
                }
            }
        }
        found
    }

    const SHELL_BUILTINS: &[&str] = &["cd", "pwd", "echo", "exit", "test", "[", "paas"];

    #[test]
    fn every_program_the_code_starts_is_installed_by_paas() {
        let top = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        source_files(&top.join("src"), &mut files);
        source_files(&top.join("hooks"), &mut files);
        let mut started = BTreeSet::new();
        let mut unexplained = Vec::new();
        // This file's own examples are not programs paas starts.
        files.retain(|f| !f.ends_with("src/install/programs.rs"));
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            if file.extension().is_some_and(|e| e == "rs") {
                let (found, indirect) = programs_in_rust(&file.to_string_lossy(), &text);
                started.extend(found.into_iter().map(|p| (p, file.clone())));
                unexplained.extend(
                    indirect
                        .into_iter()
                        .map(|l| format!("{}: {l}", file.display())),
                );
            } else if file.starts_with(top.join("hooks")) {
                started.extend(
                    programs_in_shell(&text)
                        .into_iter()
                        .map(|p| (p, file.clone())),
                );
            }
        }
        assert!(
            unexplained.is_empty(),
            "programs started by a variable: check their callers, then add the shape to INDIRECT:\n{}",
            unexplained.join("\n")
        );
        let listed: BTreeSet<&str> = host_programs().iter().map(HostProgram::name).collect();
        let missing: Vec<String> = started
            .iter()
            .filter(|(name, _)| {
                !listed.contains(name.as_str()) && !SHELL_BUILTINS.contains(&name.as_str())
            })
            .map(|(name, file)| format!("`{name}` (started in {})", file.display()))
            .collect();
        assert!(
            missing.is_empty(),
            "these programs are started but not in src/install/host-programs.txt, so a fresh \
             machine would lack them; add each with its Debian package:\n{}",
            missing.join("\n")
        );
        // The scan itself works: it finds what it must.
        for known in [
            "podman",
            "iptables",
            "git-receive-pack",
            "runuser",
            "ssh-keygen",
            "sh",
        ] {
            assert!(
                started.iter().any(|(name, _)| name == known),
                "the scan no longer finds `{known}`"
            );
        }
    }

    #[test]
    fn the_scan_finds_each_way_of_starting_a_program() {
        let code = r#"
            let a = Command::new("alpha").arg("x");
            // Command::new("commented")
            let b = as_user(user, "beta")?;
            exec_git("gamma", &root, user, &repo);
            .args(["unshare", "--rootless-netns", "delta", "-w"])
            podman::run(&["unshare", "epsilon"]);
            let c = Process::new(some_variable);
            let d = as_user(user, &program)?;
        "#;
        let (found, unexplained) = programs_in_rust("src/x.rs", code);
        let found: Vec<&str> = found.iter().map(String::as_str).collect();
        assert_eq!(found, ["alpha", "beta", "delta", "epsilon", "gamma"]);
        assert_eq!(
            unexplained,
            [
                "let c = Process::new(some_variable);",
                "let d = as_user(user, &program)?;"
            ]
        );
        let shell = "root=$(cd ../.. && pwd -P)\nexec \"$root/bin/paas\" hook\ncurl -s x | grep y # not: z\n";
        let found: Vec<String> = programs_in_shell(shell).into_iter().collect();
        assert_eq!(found, ["cd", "curl", "grep", "paas", "pwd"]);
    }

    #[test]
    fn status_names_each_missing_program_and_its_package() {
        let program = |path, package| HostProgram {
            path,
            package,
            needed: Needed::Installed,
        };
        let here = [program("/bin/sh", "dash")];
        assert_eq!(check(&here), Ok("all 1 that paas runs are present".into()));
        let (problem, fix) = check(&[
            program("/bin/sh", "dash"),
            program("/nonexistent/frobnicate", "frob-tools"),
            program("/nonexistent/frobnicate-helper", "frob-tools"),
        ])
        .unwrap_err();
        assert_eq!(
            problem,
            "missing: `/nonexistent/frobnicate` (package frob-tools), \
             `/nonexistent/frobnicate-helper` (package frob-tools)"
        );
        assert_eq!(
            fix,
            "`apt-get install frob-tools`, or run `paas server install`"
        );
    }

    #[test]
    fn the_list_parses_and_names_packages() {
        let programs = host_programs();
        assert!(programs
            .iter()
            .any(|p| p.name() == "iptables" && p.package == "iptables"));
        assert!(programs
            .iter()
            .all(|p| p.path.starts_with('/') && !p.package.is_empty()));
        let tar = programs.iter().find(|p| p.name() == "tar").unwrap();
        assert_eq!(tar.needed, Needed::Base);
        // Debian's kubectl is too old for current clusters: never installed
        // from Debian (`kubernetes:connect` downloads the cluster's).
        let kubectl = programs.iter().find(|p| p.name() == "kubectl").unwrap();
        assert_eq!(kubectl.needed, Needed::ForCluster);
        assert!(!kubectl.expected_here());
        assert!(!missing_packages().contains(&"kubectl"));
    }
}
