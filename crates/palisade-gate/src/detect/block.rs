//! Temporary blocks set by `[detect] auto_block`: a principal or source refused until a
//! time. Every block is itself audited (a system event), so an auditor sees why calls
//! were refused.

use std::time::{Duration, Instant};

use dashmap::DashMap;

use super::MAX_SUBJECTS;

#[derive(Default)]
pub struct Blocks {
    until: DashMap<String, Instant>,
}

impl Blocks {
    /// Block `subject` (`key:<id>`, `user:<sub>`, `source:<ip>`, ...) for `duration`.
    pub fn block(&self, subject: &str, duration: Duration) -> bool {
        let now = Instant::now();
        if self.until.len() >= MAX_SUBJECTS {
            self.until.retain(|_, t| *t > now);
            if self.until.len() >= MAX_SUBJECTS {
                return false;
            }
        }
        self.until.insert(subject.to_string(), now + duration);
        true
    }

    /// No block at all: the common case, checked without building a key.
    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }

    /// Time left on `subject`'s block, if it is blocked.
    pub fn remaining(&self, subject: &str) -> Option<Duration> {
        let until = *self.until.get(subject)?;
        let left = until.checked_duration_since(Instant::now());
        if left.is_none() {
            self.until.remove(subject);
        }
        left
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
}
