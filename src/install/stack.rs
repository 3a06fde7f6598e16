//! The stack images dynos and builds run in, made on this machine: a
//! debootstrapped Debian root with the language runtimes from Debian's
//! packages, imported into the owner's rootless podman. No registry needed.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use super::InstallArgs;
use super::Report;
use crate::error::{Context, Error, Result};
use crate::runtime::podman::{command_as, run_as as podman_as};
use crate::say::Progress;

const SUITE: &str = "bookworm";
/// What every dyno has: the language runtimes the shipped buildpacks use,
/// nginx for static sites and PHP (with PHP-FPM and the common extensions),
/// and the client libraries compiled gems and wheels link against.
const RUN_PACKAGES: &[&str] = &[
    "bash",
    "ca-certificates",
    "curl",
    "procps",
    "python3",
    "nodejs",
    "ruby",
    "php-fpm",
    "php-cli",
    "php-bcmath",
    "php-curl",
    "php-gd",
    "php-intl",
    "php-mbstring",
    "php-mysql",
    "php-pgsql",
    "php-sqlite3",
    "php-xml",
    "php-zip",
    "nginx-light",
    "libpq5",
    // A Rack or Rails app's server and gems: rubygems.org may be unreachable.
    "puma",
    "ruby-rack",
    "ruby-rails",
];
/// Added on top for builds: compilers and package tools.
const BUILD_PACKAGES: &[&str] = &[
    "python3-pip",
    "python3-venv",
    "python3-dev",
    "gcc",
    "g++",
    "libc6-dev",
    "make",
    "pkg-config",
    "git",
    "xz-utils",
    "unzip",
    "libpq-dev",
    "libssl-dev",
    "libyaml-dev",
    "zlib1g-dev",
    "npm",
    "yarnpkg",
    "ruby-dev",
    "ruby-bundler",
    "composer",
    "golang-go",
    "cargo",
];
/// The add-on images: Debian's servers on top of the run image, with the
/// data directories the add-on containers mount their volumes on.
const POSTGRES_SCRIPT: &str =
    "apt-get install -y -q --no-install-recommends postgresql-15 >/dev/null; \
     install -d -o postgres -g postgres -m 700 /var/lib/postgresql/data";
const REDIS_SCRIPT: &str =
    "apt-get install -y -q --no-install-recommends redis-server >/dev/null; install -d /data /etc/paas";
/// Bump to rebuild the images when how they are made changes.
const STACK_REVISION: u32 = 1;

pub struct Images {
    pub run: String,
    pub build: String,
    pub postgres: String,
    pub redis: String,
}

/// The image names for this package set: a new set gets new names, so an
/// upgrade never runs old dynos on a half-changed image.
fn image_names() -> Images {
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "{SUITE} {RUN_PACKAGES:?} {BUILD_PACKAGES:?} {STACK_REVISION}"
    ));
    let stack_tag = hasher.clone();
    let addon_tag: String = {
        let mut hasher = stack_tag;
        hasher.update(format!("{POSTGRES_SCRIPT} {REDIS_SCRIPT}"));
        hasher
            .finalize()
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let tag: String = hasher
        .finalize()
        .iter()
        .take(4)
        .map(|b| format!("{b:02x}"))
        .collect();
    Images {
        run: format!("localhost/paas-stack-run:{SUITE}-{tag}"),
        build: format!("localhost/paas-stack-build:{SUITE}-{tag}"),
        postgres: format!("localhost/paas-postgres:15-{addon_tag}"),
        redis: format!("localhost/paas-redis:7-{addon_tag}"),
    }
}

fn image_exists(user: &str, image: &str) -> Result<bool> {
    Ok(podman_as(user, &["image", "exists", image])?
        .status
        .success())
}

pub fn ensure_images(args: &InstallArgs, report: &mut Report) -> Result<Images> {
    let user = &args.user;
    let names = image_names();
    if args.run_image.is_none() {
        if image_exists(user, &names.run)? {
            report.ok(&format!("run image `{}`", names.run));
        } else {
            build_run_image(user, &names.run, &args.mirror)?;
            report.done(&format!("built the run image `{}`", names.run));
        }
    }
    if args.build_image.is_none() {
        if image_exists(user, &names.build)? {
            report.ok(&format!("build image `{}`", names.build));
        } else {
            let base = args.run_image.as_deref().unwrap_or(&names.run);
            let script = format!(
                "apt-get install -y -q --no-install-recommends {} >/dev/null",
                BUILD_PACKAGES.join(" ")
            );
            build_on(
                user,
                base,
                &names.build,
                "the build image (compilers, pip)",
                &script,
            )?;
            report.done(&format!("built the build image `{}`", names.build));
        }
    }
    let base = args.run_image.as_deref().unwrap_or(&names.run);
    for (image, what, script) in [
        (
            &names.postgres,
            "the PostgreSQL 15 add-on image",
            POSTGRES_SCRIPT,
        ),
        (&names.redis, "the Redis 7 add-on image", REDIS_SCRIPT),
    ] {
        if image_exists(user, image)? {
            report.ok(&format!("add-on image `{image}`"));
        } else {
            build_on(user, base, image, what, script)?;
            report.done(&format!("built {what} `{image}`"));
        }
    }
    Ok(names)
}

fn build_run_image(user: &str, image: &str, mirror: &str) -> Result<()> {
    let progress = Progress::start(&format!(
        "-----> building the run image with debootstrap ({SUITE}; about a minute)"
    ));
    let work = tempfile::Builder::new()
        .prefix("paas-stack-")
        .tempdir_in("/var/tmp")
        .context(|| "creating a directory for debootstrap".into())?;
    let rootfs = work.path().join("rootfs");
    let mut debootstrap = Command::new("debootstrap")
        .args([
            "--variant=minbase",
            &format!("--include={}", RUN_PACKAGES.join(",")),
        ])
        .arg(SUITE)
        .arg(&rootfs)
        .arg(mirror)
        .stdout(Stdio::piped())
        .spawn()
        .context(|| "running `debootstrap`".into())?;
    // debootstrap says `I: Retrieving …`, `I: Extracting …`: the spinner's detail.
    let lines = BufReader::new(debootstrap.stdout.take().expect("piped")).lines();
    for line in lines.map_while(std::result::Result::ok) {
        if let Some(step) = line.strip_prefix("I: ") {
            progress.step(&format!("-----> debootstrap: {step}"));
        }
    }
    let status = debootstrap
        .wait()
        .context(|| "waiting for `debootstrap`".into())?;
    if !status.success() {
        return Err(
            Error::new("debootstrap failed to build the run image").hint(format!(
                "check that `{mirror}` is reachable, or pass `--mirror`"
            )),
        );
    }
    for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        let path = rootfs.join(dir);
        if let Ok(entries) = std::fs::read_dir(&path) {
            for entry in entries.flatten() {
                if entry.path().is_file() {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .args(["--numeric-owner", "-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .context(|| "running `tar`".into())?;
    progress.step("-----> importing the run image into podman");
    let tar_out = tar.stdout.take().expect("piped");
    let import = command_as(user)?
        .args(["import", "--change", "ENV LANG=C.UTF-8", "--change"])
        .arg("ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .args(["-", image])
        .stdin(tar_out)
        .stdout(Stdio::null())
        .status()
        .context(|| "running `podman import`".into())?;
    let tar_status = tar.wait().context(|| "waiting for `tar`".into())?;
    if !import.success() || !tar_status.success() {
        return Err(Error::new(format!(
            "could not import the run image `{image}`"
        )));
    }
    drop(progress);
    Ok(())
}

/// An image made from `base` by a script run after `apt-get update`.
fn build_on(user: &str, base: &str, image: &str, what: &str, install: &str) -> Result<()> {
    let progress = Progress::start(&format!("-----> building {what}"));
    let container = format!(
        "paas-stack-build-{}",
        crate::runtime::podman::random_suffix()
    );
    let script = format!(
        "set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -q >/dev/null; \
         {install}; apt-get clean; rm -rf /var/lib/apt/lists/*"
    );
    let output = podman_as(
        user,
        &["run", "--name", &container, base, "bash", "-c", &script],
    )?;
    let result = if output.status.success() {
        let commit = podman_as(user, &["commit", "--quiet", &container, image])?;
        if commit.status.success() {
            Ok(())
        } else {
            Err(Error::new(format!("could not save {what} `{image}`"))
                .cause(String::from_utf8_lossy(&commit.stderr).trim()))
        }
    } else {
        Err(
            Error::new(format!("installing packages into {what} failed"))
                .cause(String::from_utf8_lossy(&output.stderr).trim())
                .hint("check that the Debian mirror is reachable from containers"),
        )
    };
    let _ = podman_as(user, &["rm", "--force", &container]);
    drop(progress);
    let _ = std::io::stderr().flush();
    result
}
