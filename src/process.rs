//! Child processes whose stderr is read while their stdout streams: read
//! as it comes, as a full pipe would stop the program.

use std::io::Read;
use std::process::Child;
use std::thread::JoinHandle;

/// What `child` writes on stderr (which must be piped), read in a thread
/// of its own until it closes.
pub fn collect_stderr(child: &mut Child) -> JoinHandle<String> {
    let mut pipe = child.stderr.take().expect("stderr is piped");
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// SIGPIPE ignored while this lives, then put back as it was: a write to
/// a child's stdin that the child closed early fails with `BrokenPipe`
/// instead of killing this process, while the CLI keeps SIGPIPE's default
/// elsewhere (a closed stdout ends it quietly, `main.rs`). The
/// disposition is the process's: another thread writing to a closed pipe
/// meanwhile gets the error too, which every writer handles.
pub struct SigpipeIgnored {
    before: libc::sighandler_t,
}

impl SigpipeIgnored {
    pub fn new() -> SigpipeIgnored {
        // SAFETY: SIG_IGN is a valid disposition for SIGPIPE.
        let before = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        SigpipeIgnored { before }
    }
}

impl Default for SigpipeIgnored {
    fn default() -> Self {
        SigpipeIgnored::new()
    }
}

impl Drop for SigpipeIgnored {
    fn drop(&mut self) {
        if self.before != libc::SIG_ERR {
            // SAFETY: puts back the disposition `signal` returned.
            unsafe { libc::signal(libc::SIGPIPE, self.before) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigpipe_is_ignored_only_while_the_guard_lives() {
        let disposition = || unsafe {
            let now = libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::signal(libc::SIGPIPE, now);
            now
        };
        let before = disposition();
        {
            let _ignored = SigpipeIgnored::new();
            assert_eq!(disposition(), libc::SIG_IGN);
        }
        assert_eq!(disposition(), before);
    }
}
