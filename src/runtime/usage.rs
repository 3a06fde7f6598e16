//! What running dynos use, for the metrics (#23), read from the kernel's
//! files rather than `podman stats` (a podman process per sample, and
//! ~0.5 s of CPU for a few dynos): the dyno's cgroup where it has one
//! (cgroup v2 with the memory controller delegated, where its limit is
//! enforced), else its processes, found by their PID namespace (each dyno
//! has its own, the one of its init).
//!
//! - memory: the cgroup's `memory.current` (and `memory.max`, the quota),
//!   or the sum of its processes' resident pages (`/proc/PID/statm`), as
//!   Heroku's `memory_rss`;
//! - CPU: the cgroup's `cpu.stat` `usage_usec`, or its processes' user and
//!   system time plus what its init reaped of its children.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::Dyno;
use crate::metrics::collect::DynoUsage;

/// The usage of each running dyno that has an init pid; dynos that ended
/// meanwhile are left out.
pub fn dyno_usage(dynos: &[Dyno]) -> Vec<DynoUsage> {
    let running: Vec<(&Dyno, u32)> = dynos
        .iter()
        .filter(|dyno| dyno.running)
        .filter_map(|dyno| Some((dyno, dyno.netns?.pid)))
        .collect();
    let mut usage = Vec::new();
    let mut by_pidns: HashMap<u64, usize> = HashMap::new();
    for (dyno, pid) in running {
        let mut sample = DynoUsage {
            app: dyno.app.to_string(),
            dyno: dyno.name(),
            container: dyno.id.clone(),
            rss_bytes: 0,
            quota_bytes: None,
            cpu_micros: 0,
        };
        if let Some(cgroup) = cgroup_v2_dir(Path::new("/sys/fs/cgroup"), pid, &dyno.id) {
            if let Some(current) = read_number(&cgroup.join("memory.current")) {
                sample.rss_bytes = current;
                sample.quota_bytes = read_number(&cgroup.join("memory.max"));
                sample.cpu_micros = cpu_stat_usage(&cgroup).unwrap_or(0);
                usage.push(sample);
                continue;
            }
        }
        let Some(pidns) = pid_namespace(pid) else {
            continue;
        };
        // The init's reaped children count: processes that came and went.
        sample.cpu_micros = reaped_cpu_micros(pid).unwrap_or(0);
        by_pidns.insert(pidns, usage.len());
        usage.push(sample);
    }
    if !by_pidns.is_empty() {
        add_processes(&mut usage, &by_pidns);
    }
    usage
}

/// Adds each process's memory and CPU to its dyno's usage, by namespace.
fn add_processes(usage: &mut [DynoUsage], by_pidns: &HashMap<u64, usize>) {
    let Ok(entries) = fs::read_dir("/proc") else {
        return;
    };
    let page = page_size();
    for entry in entries.filter_map(|entry| entry.ok()) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Some(index) = pid_namespace(pid).and_then(|ns| by_pidns.get(&ns)) else {
            continue;
        };
        let sample = &mut usage[*index];
        let statm = fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
        if let Some(resident) = statm.split_whitespace().nth(1) {
            sample.rss_bytes += resident.parse::<u64>().unwrap_or(0) * page;
        }
        if let Some(times) = stat_fields(pid) {
            sample.cpu_micros += ticks_to_micros(times.utime + times.stime);
        }
    }
}

/// The inode of a process's PID namespace.
fn pid_namespace(pid: u32) -> Option<u64> {
    fs::metadata(format!("/proc/{pid}/ns/pid"))
        .ok()
        .map(|meta| meta.ino())
}

/// The process's own cgroup on a cgroup v2 host, if it has a directory.
fn cgroup_v2_dir(mount: &Path, pid: u32, container: &str) -> Option<PathBuf> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = parse_unified_cgroup(&text)?;
    let dir = mount.join(path.trim_start_matches('/'));
    (own_cgroup(path, container) && dir.is_dir()).then_some(dir)
}

/// Whether a cgroup is the container's own (`…/libpod-<id>.scope…`):
/// without delegation, rootless podman leaves dynos in the cgroup they
/// were started from (the daemon's service), whose figures are
/// everything's in it, not the dyno's.
fn own_cgroup(path: &str, container: &str) -> bool {
    !container.is_empty() && path.contains(container)
}

/// The unified hierarchy's path (`0::/…`) in a `/proc/PID/cgroup`.
fn parse_unified_cgroup(text: &str) -> Option<&str> {
    text.lines().find_map(|line| line.strip_prefix("0::"))
}

/// A file holding one number; `max` (no limit) is None.
fn read_number(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn cpu_stat_usage(cgroup: &Path) -> Option<u64> {
    parse_cpu_stat(&fs::read_to_string(cgroup.join("cpu.stat")).ok()?)
}

fn parse_cpu_stat(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("usage_usec "))
        .and_then(|value| value.trim().parse().ok())
}

struct CpuTimes {
    utime: u64,
    stime: u64,
    cutime: u64,
    cstime: u64,
}

fn stat_fields(pid: u32) -> Option<CpuTimes> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `/proc/PID/stat`'s CPU times. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
fn parse_stat(text: &str) -> Option<CpuTimes> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime field 14.
    let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
    Some(CpuTimes {
        utime: field(14)?,
        stime: field(15)?,
        cutime: field(16)?,
        cstime: field(17)?,
    })
}

fn reaped_cpu_micros(pid: u32) -> Option<u64> {
    let times = stat_fields(pid)?;
    Some(ticks_to_micros(times.cutime + times.cstime))
}

fn ticks_to_micros(ticks: u64) -> u64 {
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * 1_000_000 / per_second
}

fn page_size() -> u64 {
    // SAFETY: sysconf reads a constant of the system.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kernels_formats() {
        assert_eq!(
            parse_unified_cgroup("1:cpu:/\n0::/user.slice/libpod-ab.scope\n"),
            Some("/user.slice/libpod-ab.scope")
        );
        assert_eq!(parse_unified_cgroup("4:memory:/x\n"), None);
        // The dyno's own scope counts; the daemon's service it was left in
        // (no delegation) would count everything in it.
        assert!(own_cgroup(
            "/user.slice/libpod-ab12cd.scope/container",
            "ab12cd"
        ));
        assert!(!own_cgroup("/system.slice/paas.service", "ab12cd"));
        assert!(!own_cgroup("/user.slice/libpod-ab12cd.scope", ""));
        assert_eq!(
            parse_cpu_stat("usage_usec 12345\nuser_usec 10000\n"),
            Some(12345)
        );
        let stat =
            "42 (we(i)rd name) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 11 13 20 0 1 0 9 1000 50";
        let times = parse_stat(stat).unwrap();
        assert_eq!(
            (times.utime, times.stime, times.cutime, times.cstime),
            (7, 3, 11, 13)
        );
    }

    #[test]
    fn this_process_is_found_by_its_pid_namespace() {
        // The test's own process stands in for a dyno's init: its
        // namespace's processes (all of the host's, here) add up to more
        // than its own resident memory.
        let pid = std::process::id();
        let own = pid_namespace(pid).expect("readable");
        let mut usage = vec![DynoUsage {
            app: "shop".into(),
            dyno: "web.1".into(),
            container: "c".into(),
            rss_bytes: 0,
            quota_bytes: None,
            cpu_micros: 0,
        }];
        add_processes(&mut usage, &HashMap::from([(own, 0)]));
        assert!(usage[0].rss_bytes > 1 << 20, "{}", usage[0].rss_bytes);
    }
}
