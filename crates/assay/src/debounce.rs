//! The one debouncer of file events, shared by hot reload and `assay dev`.
//!
//! Each key (a changed path, a plugin source) settles on its own timer: it is due once no
//! event has touched it for [`SETTLE`], so a file being written is not read half-way, and
//! under constant churn after [`MAX_SETTLE`] anyway. The debouncer holds no timer of its own:
//! the owning loop sleeps until [`Debouncer::next_due`], so an idle host does not wake at all.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How long a key must be quiet before it is due.
pub const SETTLE: Duration = Duration::from_millis(100);
/// The longest a key waits under constant churn before it is due anyway.
pub const MAX_SETTLE: Duration = Duration::from_secs(2);

/// Keys waiting to settle, each with its first and last event.
#[derive(Debug)]
pub struct Debouncer<K> {
    pending: HashMap<K, (Instant, Instant)>,
}

impl<K> Default for Debouncer<K> {
    fn default() -> Self {
        Self {
            pending: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> Debouncer<K> {
    /// Records an event for `key` at `now`.
    pub fn touch(&mut self, key: K, now: Instant) {
        self.pending
            .entry(key)
            .and_modify(|(_, last)| *last = now)
            .or_insert((now, now));
    }

    /// When the next key falls due; `None` when nothing waits.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending
            .values()
            .map(|(first, last)| (*last + SETTLE).min(*first + MAX_SETTLE))
            .min()
    }

    /// Removes and returns the keys due at `now`.
    pub fn take_due(&mut self, now: Instant) -> Vec<K> {
        let due: Vec<K> = self
            .pending
            .iter()
            .filter(|(_, (first, last))| {
                now.duration_since(*last) >= SETTLE || now.duration_since(*first) >= MAX_SETTLE
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in &due {
            self.pending.remove(k);
        }
        due
    }

    /// Sleeps until the next key is due; never returns while nothing waits, so it can sit in
    /// a `select!` beside the event source.
    pub async fn wait(&self) {
        match self.next_due() {
            Some(at) => tokio::time::sleep_until(at.into()).await,
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_settles_after_a_quiet_spell() {
        let mut d = Debouncer::default();
        let t0 = Instant::now();
        d.touch("a", t0);
        assert_eq!(d.next_due(), Some(t0 + SETTLE));
        assert!(
            d.take_due(t0 + SETTLE / 2).is_empty(),
            "not quiet long enough"
        );
        d.touch("a", t0 + SETTLE / 2);
        assert_eq!(
            d.next_due(),
            Some(t0 + SETTLE / 2 + SETTLE),
            "a new event restarts the wait"
        );
        assert_eq!(d.take_due(t0 + SETTLE / 2 + SETTLE), vec!["a"]);
        assert_eq!(d.next_due(), None, "nothing left");
    }

    #[test]
    fn constant_churn_is_handled_after_the_cap() {
        let mut d = Debouncer::default();
        let t0 = Instant::now();
        let mut t = t0;
        while t < t0 + MAX_SETTLE {
            d.touch("busy", t);
            assert!(d.take_due(t).is_empty());
            t += SETTLE / 2;
        }
        assert_eq!(d.next_due(), Some(t0 + MAX_SETTLE));
        assert_eq!(d.take_due(t0 + MAX_SETTLE), vec!["busy"]);
    }

    #[test]
    fn keys_settle_on_their_own_timers() {
        let mut d = Debouncer::default();
        let t0 = Instant::now();
        d.touch(1, t0);
        d.touch(2, t0 + SETTLE / 2);
        assert_eq!(d.take_due(t0 + SETTLE), vec![1]);
        assert_eq!(d.next_due(), Some(t0 + SETTLE / 2 + SETTLE));
    }
}
