//! The HTTP/1.1 path's kept-alive connections to dynos, one pool per
//! router thread: a connection goes back after a response that left it
//! clean, and is taken again only while the dyno keeps it open.

use std::collections::HashMap;
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

/// Kept-alive connections to dynos, by dyno container, of one router thread.
#[derive(Default)]
pub(super) struct DynoPool(Mutex<PoolInner>);

#[derive(Default)]
struct PoolInner {
    idle: HashMap<String, Vec<(TcpStream, Instant)>>,
    pruned: Option<Instant>,
}

/// How long a connection may sit unused in the pool.
pub(super) const POOL_IDLE: Duration = Duration::from_secs(30);
/// Idle connections kept per dyno.
const POOL_MAX_PER_DYNO: usize = 256;

impl DynoPool {
    /// An idle connection to `container` that is still open, if any.
    pub(super) fn take(&self, container: &str) -> Option<TcpStream> {
        let mut pool = self.0.lock().expect("not poisoned");
        let idle = pool.idle.get_mut(container)?;
        while let Some((dyno, since)) = idle.pop() {
            if since.elapsed() < POOL_IDLE && still_open(&dyno) {
                return Some(dyno);
            }
        }
        None
    }

    /// Keeps a connection the dyno can take another request on.
    pub(super) fn put(&self, container: &str, dyno: TcpStream) {
        let mut pool = self.0.lock().expect("not poisoned");
        let now = Instant::now();
        if pool.pruned.is_none_or(|at| now - at > POOL_IDLE) {
            pool.prune(now);
        }
        match pool.idle.get_mut(container) {
            Some(idle) if idle.len() < POOL_MAX_PER_DYNO => idle.push((dyno, now)),
            Some(_) => {}
            None => {
                pool.idle.insert(container.to_string(), vec![(dyno, now)]);
            }
        }
    }

    /// Lets go of connections idle too long, to dynos long gone (a deploy
    /// moved on): on each `put`, and on a timer for a thread with no traffic.
    pub(super) fn prune(&self) {
        self.0.lock().expect("not poisoned").prune(Instant::now());
    }
}

impl PoolInner {
    fn prune(&mut self, now: Instant) {
        self.pruned = Some(now);
        self.idle.retain(|_, idle| {
            idle.retain(|(_, since)| now - *since < POOL_IDLE);
            !idle.is_empty()
        });
    }
}

/// Whether an idle connection is still open: nothing to read, not closed.
/// Asks the kernel (tokio's cached readiness may not have seen a close or
/// stray bytes yet).
fn still_open(dyno: &TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    let mut byte = 0u8;
    // SAFETY: a one-byte buffer we own; peeking leaves the socket as it is.
    let peeked = unsafe {
        libc::recv(
            dyno.as_raw_fd(),
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    peeked < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_pool_reuses_open_connections_and_lets_go_of_idle_ones() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let pool = DynoPool::default();
        let mut accepted = Vec::new();
        for _ in 0..2 {
            pool.put(&address, TcpStream::connect(&address).await.unwrap());
            accepted.push(listener.accept().await.unwrap().0);
        }
        let idle =
            |pool: &DynoPool| -> usize { pool.0.lock().unwrap().idle.values().map(Vec::len).sum() };
        pool.prune();
        assert_eq!(idle(&pool), 2);
        // The newest is taken first, but the dyno closed it: the other one.
        drop(accepted.pop());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let open = pool.take(&address).expect("an open connection");
        assert_eq!(open.local_addr().unwrap(), accepted[0].peer_addr().unwrap());
        assert!(pool.take(&address).is_none());
        pool.put(&address, TcpStream::connect(&address).await.unwrap());
        let later = Instant::now() + POOL_IDLE + Duration::from_secs(1);
        pool.0.lock().unwrap().prune(later);
        assert_eq!(idle(&pool), 0);
    }
}
