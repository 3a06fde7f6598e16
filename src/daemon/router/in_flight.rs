//! Requests under way per dyno, counted by both router paths while a
//! request is with a dyno, so a deploy (the daemon's `drain`) stops the
//! old dynos only once their requests are done.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::forwarding::REQUEST_TIMEOUT;

/// Requests under way per dyno container (until their response body is
/// sent), so a deploy stops the old dynos only once theirs are done.
#[derive(Default)]
/// A counter per dyno: one short lock to find it, then atomics.
pub struct InFlight(std::sync::Mutex<HashMap<String, Arc<AtomicUsize>>>);

impl InFlight {
    /// Counts a request to the dyno in `container` until the guard drops.
    pub(super) fn enter(self: &Arc<Self>, container: &str) -> InFlightGuard {
        let counter = {
            let mut counters = self.0.lock().expect("not poisoned");
            let counter = match counters.get(container) {
                Some(counter) => counter.clone(),
                None => {
                    // Counters of dynos long gone go when a new one comes.
                    counters.retain(|_, c| c.load(Ordering::Relaxed) > 0);
                    let counter = Arc::new(AtomicUsize::new(0));
                    counters.insert(container.to_string(), counter.clone());
                    counter
                }
            };
            // Counted under the lock, so no prune can drop a counter in use.
            counter.fetch_add(1, Ordering::SeqCst);
            counter
        };
        InFlightGuard(counter)
    }

    /// How many requests are under way to any of these dynos.
    pub fn count(&self, containers: &[&str]) -> usize {
        let counters = self.0.lock().expect("not poisoned");
        containers
            .iter()
            .filter_map(|a| counters.get(*a))
            .map(|c| c.load(Ordering::SeqCst))
            .sum()
    }

    /// Waits until none of these dynos has a request under way, or
    /// the request timeout passes.
    pub async fn drain(&self, containers: &[&str]) {
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        // Twice empty, a moment apart: a request that read the old routes
        // just before they changed has counted itself by then.
        let mut empty_before = false;
        while Instant::now() < deadline {
            let empty = self.count(containers) == 0;
            if empty && empty_before {
                return;
            }
            empty_before = empty;
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// One request's place in `InFlight`; dropped when it is done.
pub(super) struct InFlightGuard(Arc<AtomicUsize>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
