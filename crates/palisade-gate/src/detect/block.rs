//! Temporary blocks set by `[detect] auto_block`: a principal or source refused until a
//! time. Every block is itself audited (a system event), so an auditor sees why calls
//! were refused.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;

use super::MAX_SUBJECTS;
use crate::context::Call;
use crate::refusal::Refusal;

#[derive(Default)]
pub struct Blocks {
    until: DashMap<String, Instant>,
    /// Entries in `until`, read on every call: `DashMap::is_empty` locks every shard.
    entries: AtomicUsize,
}

impl Blocks {
    /// Block `subject` (`key:<id>`, `user:<sub>`, `source:<ip>`, ...) for `duration`.
    pub fn block(&self, subject: &str, duration: Duration) -> bool {
        let now = Instant::now();
        if self.until.len() >= MAX_SUBJECTS {
            self.until.retain(|_, t| *t > now);
            self.entries.store(self.until.len(), Ordering::Relaxed);
            if self.until.len() >= MAX_SUBJECTS {
                return false;
            }
        }
        if self
            .until
            .insert(subject.to_string(), now + duration)
            .is_none()
        {
            self.entries.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// No block at all: the common case, checked without building a key.
    pub fn is_empty(&self) -> bool {
        self.entries.load(Ordering::Relaxed) == 0
    }

    /// Time left on `subject`'s block, if it is blocked.
    pub fn remaining(&self, subject: &str) -> Option<Duration> {
        let until = *self.until.get(subject)?;
        let left = until.checked_duration_since(Instant::now());
        if left.is_none() && self.until.remove(subject).is_some() {
            self.entries.fetch_sub(1, Ordering::Relaxed);
        }
        left
    }

    /// Refuse a call whose principal or source is blocked, until the block ends.
    pub fn refuse(&self, call: &Call) -> Result<(), Refusal> {
        if self.is_empty() {
            return Ok(());
        }
        let by_principal = call.principal.as_ref().and_then(|p| self.remaining(&p.id));
        let by_source = || self.remaining(&format!("source:{}", call.client.ip()));
        match by_principal.or_else(by_source) {
            Some(left) => Err(Refusal::Blocked(left)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_expire() {
        let b = Blocks::default();
        assert!(b.block("key:a", Duration::from_millis(30)));
        assert!(b.remaining("key:a").is_some());
        assert!(b.remaining("key:b").is_none());
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.remaining("key:a").is_none());
    }

    #[test]
    fn a_blocked_source_is_refused_until_the_block_ends() {
        let b = Blocks::default();
        let call = Call::new(
            crate::context::Plane::Data,
            "192.0.2.7:4000".parse().unwrap(),
            None,
        );
        assert_eq!(b.refuse(&call), Ok(()));
        assert!(b.block("source:192.0.2.8", Duration::from_secs(60)));
        assert_eq!(b.refuse(&call), Ok(()));
        assert!(b.block("source:192.0.2.7", Duration::from_millis(30)));
        assert!(matches!(b.refuse(&call), Err(Refusal::Blocked(_))));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(b.refuse(&call), Ok(()));
    }
}
