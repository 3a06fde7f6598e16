//! Persistent storage's podman side: one named volume per storage,
//! `paas-<install>-storage-<name>`, labelled with the install and the
//! storage; mounted into dynos (`volume_flag`), measured, and copied out
//! and in as a tar by a throwaway container of the run image, whose root
//! is the install's owner on the host, as the dynos' user is (keep-id):
//! so it reads whatever the app wrote, and what it restores the app owns.
//!
//! Nothing here removes a volume but `remove`, which podman refuses while
//! a container uses it: `paas server prune` never touches volumes.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Stdio};

use serde::Deserialize;

use super::podman;
use crate::error::{Context, Error, Result};
use crate::state::{self, Mount, Settings, StorageName};

/// Where a backup or restore container sees the volume.
const DATA: &str = "/data";

/// Where a restore's containers see the volume's own directory on the
/// host (podman's `volumes/<volume>/`), which holds its files' directory
/// (`_data`, what dynos mount) and, beside it, the restore's staging.
const VOLUME_DIR: &str = "/volume";

/// The volume's files, as a restore's containers see them.
const RESTORED_DATA: &str = "/volume/_data";

/// Where a restore unpacks before the old files go: beside the files (not
/// among them, where dynos would see it and it would count in the
/// storage's size), on the same file system, so the swap is renames; a
/// restore that fails part way leaves the old files whole.
const STAGING: &str = "/volume/paas-restore-in-progress";

/// zstd's frame magic, little-endian (RFC 8878).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The volume holding a storage's files.
pub fn volume_name(settings: &Settings, name: &StorageName) -> String {
    format!("paas-{}-storage-{name}", settings.install_id)
}

/// The `podman run` flag that mounts a storage into a dyno.
pub fn volume_flag(settings: &Settings, mount: &Mount) -> String {
    format!(
        "--volume={}:{}",
        volume_name(settings, &mount.storage),
        mount.path
    )
}

pub fn exists(settings: &Settings, name: &StorageName) -> bool {
    podman::command()
        .args(["volume", "exists", &volume_name(settings, name)])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes the storage's volume, unless it is there already (a create that
/// died after making it).
pub fn create(settings: &Settings, name: &StorageName) -> Result<()> {
    if exists(settings, name) {
        return Ok(());
    }
    let install = format!("paas.install={}", settings.install_id);
    let storage = format!("paas.storage={name}");
    podman::run(&[
        "volume",
        "create",
        "--label",
        &install,
        "--label",
        &storage,
        &volume_name(settings, name),
    ])
    .map(drop)
}

/// Removes the storage's volume and its files. Podman refuses while a
/// container uses it (never `--force`, which would remove the container).
pub fn remove(settings: &Settings, name: &StorageName) -> Result<()> {
    if !exists(settings, name) {
        return Ok(());
    }
    let volume = volume_name(settings, name);
    let output = podman::command()
        .args(["volume", "rm", &volume])
        .stdin(Stdio::null())
        .output()
        .context(|| "running `podman volume rm`".into())?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("being used") {
        return Err(
            Error::new(format!("storage `{name}` is in use by a container"))
                .cause(stderr.trim())
                .hint("a one-off dyno may still run with it: `paas ps -a APP` lists them, `paas run:stop` stops one"),
        );
    }
    Err(Error::new(format!("`podman volume rm {volume}` failed")).cause(stderr.trim()))
}

/// The containers (by name) that mount the storage's volume, running or
/// not: podman refuses to remove it while there are any.
pub fn containers_using(settings: &Settings, name: &StorageName) -> Result<Vec<String>> {
    let filter = format!("volume={}", volume_name(settings, name));
    let listed = podman::run(&["ps", "--all", "--filter", &filter, "--format", "{{.Names}}"])?;
    Ok(listed.split_whitespace().map(String::from).collect())
}

/// One volume as `podman volume ls --format json` lists it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Listed {
    mountpoint: PathBuf,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// The `podman volume ls` arguments that list this install's volumes, for
/// `parse_listing` (`server status` runs them as the install's owner).
pub fn listing_args(settings: &Settings) -> Vec<String> {
    [
        "volume",
        "ls",
        "--format",
        "json",
        "--filter",
        &format!("label=paas.install={}", settings.install_id),
    ]
    .map(String::from)
    .to_vec()
}

/// Each storage's volume and where its files are on the host, from what
/// `listing_args` lists (add-ons' volumes are not storages).
pub fn parse_listing(json: &str) -> Result<BTreeMap<StorageName, PathBuf>> {
    let listed: Vec<Listed> =
        serde_json::from_str(json).context(|| "reading `podman volume ls` output".into())?;
    Ok(listed
        .into_iter()
        .filter_map(|volume| {
            let labels = volume.labels?;
            let name = StorageName::parse(labels.get("paas.storage")?).ok()?;
            Some((name, volume.mountpoint))
        })
        .collect())
}

/// The bytes each storage's files take, by storage.
pub fn sizes(settings: &Settings) -> Result<BTreeMap<StorageName, u64>> {
    let args = listing_args(settings);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Ok(parse_listing(&podman::run(&args)?)?
        .into_iter()
        .map(|(name, path)| (name, state::size_of_tree(&path)))
        .collect())
}

/// A throwaway container of the run image with the volume at `DATA`,
/// running `command` (stdout piped, stderr collected): named, so a restore
/// that goes wrong can stop it.
fn helper(
    settings: &Settings,
    name: &StorageName,
    role: &str,
    mode: &str,
    command: &[&str],
) -> Result<(String, Child)> {
    let volume = format!("{}:{DATA}{mode}", volume_name(settings, name));
    helper_with(settings, name, role, &volume, command)
}

fn require_volume(settings: &Settings, name: &StorageName) -> Result<()> {
    if exists(settings, name) {
        return Ok(());
    }
    Err(Error::unexpected(format!(
        "storage `{name}` has no volume `{}`",
        volume_name(settings, name)
    ))
    .hint(format!(
        "`paas storage:create {name}` makes it (empty), as a create that was stopped part way would have"
    )))
}

/// A restore's helper: the volume's own directory at `VOLUME_DIR`, so it
/// may stage beside the files.
fn restore_helper(
    settings: &Settings,
    name: &StorageName,
    command: &[&str],
) -> Result<(String, Child)> {
    require_volume(settings, name)?;
    let volume = volume_name(settings, name);
    let files = podman::run(&["volume", "inspect", "--format", "{{.Mountpoint}}", &volume])?;
    let files = PathBuf::from(files.trim());
    let Some(dir) = files.parent().filter(|_| files.ends_with("_data")) else {
        return Err(Error::unexpected(format!(
            "podman keeps volume `{volume}`'s files at `{}`, not in a `_data` directory",
            files.display()
        )));
    };
    let bind = format!("{}:{VOLUME_DIR}", dir.display());
    helper_with(settings, name, "restore", &bind, command)
}

fn helper_with(
    settings: &Settings,
    name: &StorageName,
    role: &str,
    volume: &str,
    command: &[&str],
) -> Result<(String, Child)> {
    require_volume(settings, name)?;
    let container = format!(
        "{}-{role}-{}",
        volume_name(settings, name),
        podman::random_suffix()
    );
    let child = podman::command()
        .args(["run", "--rm", "--interactive", "--pull=never"])
        .args(["--network=none", "--log-driver=none", "--name", &container])
        .arg(format!("--label=paas.install={}", settings.install_id))
        .arg(format!("--volume={volume}"))
        .arg(&settings.run_image)
        .args(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context(|| "running `podman run`".into())?;
    Ok((container, child))
}

/// Writes the storage's files to `out` as a zstd-compressed tar; returns
/// the compressed bytes written. A tar of files the app is writing holds
/// each file as it was when read.
pub fn export(settings: &Settings, name: &StorageName, out: impl Write) -> Result<u64> {
    let (_, mut child) = helper(
        settings,
        name,
        "backup",
        ":ro",
        &["tar", "-C", DATA, "-cf", "-", "."],
    )?;
    drop(child.stdin.take());
    let stderr = crate::process::collect_stderr(&mut child);
    let mut counted = CountingWriter {
        inner: out,
        bytes: 0,
    };
    let copied = (|| -> std::io::Result<()> {
        let mut encoder = zstd::Encoder::new(&mut counted, 3)?;
        std::io::copy(child.stdout.as_mut().expect("piped"), &mut encoder)?;
        encoder.finish()?.flush()
    })();
    let status = child
        .wait()
        .context(|| "waiting for the backup container".into())?;
    let said = stderr.join().unwrap_or_default();
    copied.map_err(|err| Error::new("writing the backup").cause(err))?;
    // GNU tar's 1: a file changed while it was read (the app wrote it).
    match status.code() {
        Some(0) => {}
        Some(1) => say!(" !     warning: {}", said.trim()),
        _ => return Err(Error::new(format!("could not read storage `{name}`")).cause(said.trim())),
    }
    Ok(counted.bytes)
}

struct CountingWriter<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A restore's first container: unpacks the tar on stdin beside the old
/// files, which stay.
const UNPACK_SCRIPT: &str = r#"set -e
rm -rf "$2"
mkdir "$2"
exec tar -C "$2" --no-same-owner -xf -"#;

/// Its second, run only once the whole tar is unpacked: the old files go
/// and the new ones take their place (renames, in the volume).
const SWAP_SCRIPT: &str = r#"set -e
find "$1" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
find "$2" -mindepth 1 -maxdepth 1 -exec mv -t "$1" {} +
rmdir "$2""#;

/// Replaces the storage's files with those of the tar on `input`
/// (zstd-compressed, as `export` writes it, or plain). The old files go
/// only once the whole tar is unpacked: input that is cut short, does not
/// decompress or is not a tar leaves them as they were. Returns the tar's
/// size.
pub fn import(settings: &Settings, name: &StorageName, mut input: impl Read) -> Result<u64> {
    let mut head = Vec::new();
    (&mut input)
        .take(4)
        .read_to_end(&mut head)
        .map_err(|err| Error::new("reading the backup").cause(err))?;
    if head.is_empty() {
        return Err(Error::new("no backup came on stdin").hint(format!(
            "pipe one in: `paas storage:restore {name} --confirm {name} < backup.tar.zst`"
        )));
    }
    let whole = std::io::Cursor::new(head.clone()).chain(input);
    let mut tar: Box<dyn Read> = if head == ZSTD_MAGIC {
        Box::new(
            zstd::Decoder::new(whole)
                .map_err(|err| Error::unexpected("starting zstd").cause(err))?,
        )
    } else {
        Box::new(whole)
    };
    let unpacked = unpack(settings, name, &mut tar);
    let script = match &unpacked {
        Ok(_) => SWAP_SCRIPT,
        Err(_) => "rm -rf \"$2\"",
    };
    let (_, child) = restore_helper(
        settings,
        name,
        &["bash", "-c", script, "restore", RESTORED_DATA, STAGING],
    )?;
    // The clean-up of a failed unpack ends before the storage's lock goes:
    // a retry's staging must not be removed under it.
    let output = finish(child);
    let size = unpacked?;
    let output = output?;
    if !output.status.success() {
        return Err(Error::new(format!(
            "could not put the restored files of `{name}` in place"
        ))
        .cause(String::from_utf8_lossy(&output.stderr).trim()));
    }
    Ok(size)
}

/// A helper with no input, waited for.
fn finish(mut child: Child) -> Result<std::process::Output> {
    drop(child.stdin.take());
    child
        .wait_with_output()
        .context(|| "waiting for a storage's container".into())
}

/// The first step of `import`: the tar unpacked into `STAGING`. Fails when
/// tar does, or when `tar` ends in an error or holds nothing.
fn unpack(settings: &Settings, name: &StorageName, tar: &mut dyn Read) -> Result<u64> {
    let (_, mut child) = restore_helper(
        settings,
        name,
        &[
            "bash",
            "-c",
            UNPACK_SCRIPT,
            "unpack",
            RESTORED_DATA,
            STAGING,
        ],
    )?;
    let stderr = crate::process::collect_stderr(&mut child);
    let mut stdin = child.stdin.take().expect("piped");
    // A container that ends early (not a tar) closes its stdin: a write
    // then fails instead of killing this process (for this copy only).
    let copied = {
        let _ignored = crate::process::SigpipeIgnored::new();
        std::io::copy(tar, &mut stdin)
    };
    drop(stdin);
    let status = child
        .wait()
        .context(|| "waiting for the restore container".into())?;
    let said = stderr.join().unwrap_or_default();
    let hint = "pass what `paas storage:backup` wrote (or a tar); the storage is as it was";
    match copied {
        Ok(0) => Err(Error::new("the backup holds nothing, not even an empty tar").hint(hint)),
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::new(
            "the backup is cut short or is not a zstd-compressed tar",
        )
        .cause(err)
        .hint(hint)),
        _ if !status.success() => Err(Error::new(format!(
            "could not unpack the backup into `{name}`"
        ))
        .cause(said.trim())
        .hint(hint)),
        copied => Ok(copied.unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_named_for_the_install_and_the_storage() {
        let settings = Settings::example();
        let mount = Mount {
            storage: StorageName::parse("uploads").unwrap(),
            path: state::MountPath::parse("/app/public/uploads").unwrap(),
        };
        assert_eq!(
            volume_flag(&settings, &mount),
            "--volume=paas-abc-storage-uploads:/app/public/uploads"
        );
    }

    #[test]
    fn the_listing_names_storages_and_leaves_add_on_volumes() {
        let json = r#"[
          {"Name": "paas-abc-storage-uploads", "Mountpoint": "/v/uploads/_data",
           "Labels": {"paas.install": "abc", "paas.storage": "uploads"}},
          {"Name": "paas-abc-addon-postgres-x-data", "Mountpoint": "/v/pg/_data",
           "Labels": {"paas.install": "abc"}},
          {"Name": "odd", "Mountpoint": "/v/odd/_data", "Labels": null}
        ]"#;
        let listed = parse_listing(json).unwrap();
        assert_eq!(
            listed.into_iter().collect::<Vec<_>>(),
            [(
                StorageName::parse("uploads").unwrap(),
                PathBuf::from("/v/uploads/_data")
            )]
        );
    }

    #[test]
    fn zstd_frames_start_with_the_magic_this_sniffs() {
        let compressed = zstd::encode_all(&b"tar bytes"[..], 3).unwrap();
        assert_eq!(compressed[..4], ZSTD_MAGIC);
        // A frame cut short does not decode to its end: a restore of it
        // stops before tar sees the end of its input.
        let cut = &compressed[..compressed.len() - 3];
        let mut out = Vec::new();
        let decoded = zstd::Decoder::new(cut).and_then(|mut d| d.read_to_end(&mut out));
        assert!(decoded.is_err(), "{out:?}");
    }
}
