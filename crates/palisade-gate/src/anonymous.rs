//! Requests that present no credential at all: scanners, floods, and lost clients.
//!
//! Two rules keep them from costing more than they are worth, while keeping the evidence:
//! - per source address, such requests are admitted up to `[identity] anonymous_limit`;
//!   past it they get 429 before routing (health probes are exempt and never counted:
//!   an orchestrator's probe must not be throttled into a restart);
//! - their refusals are audited one by one up to `audited_anonymous_refusals` per source and
//!   minute; past that they are counted, and the count goes into one summary entry per
//!   source and minute (`action: "unauthenticated_refusals"`, `suppressed: N`), so a flood
//!   can neither fill the disk nor pass unnoticed. The tracked sources are bounded: past
//!   [`MAX_TRACKED_SOURCES`] the rest share one counter.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use palisade_config::{rates::Rate, AnonymousLimits};

use crate::limit::{quota, Exceeded};

/// Sources with a pending suppressed count; more share the `None` entry.
pub const MAX_TRACKED_SOURCES: usize = 4096;
/// The `RateLimit-Policy` name of the 429.
pub const POLICY: crate::refusal::LimitPolicy = crate::refusal::LimitPolicy::Anonymous;

pub struct Anonymous {
    rate: Rate,
    admit: DefaultKeyedRateLimiter<IpAddr>,
    /// `None` when every refusal is summarized (`audited_anonymous_refusals = 0`).
    audit: Option<DefaultKeyedRateLimiter<IpAddr>>,
    suppressed: Mutex<HashMap<Option<IpAddr>, u64>>,
    clock: DefaultClock,
}

impl Anonymous {
    pub fn new(limits: &AnonymousLimits) -> Anonymous {
        let audit = std::num::NonZeroU32::new(limits.audited_per_minute).map(|n| {
            let per_minute = Quota::per_minute(n).allow_burst(n);
            RateLimiter::keyed(per_minute)
        });
        Anonymous {
            rate: limits.rate,
            admit: RateLimiter::keyed(quota(limits.rate)),
            audit,
            suppressed: Mutex::default(),
            clock: DefaultClock::default(),
        }
    }

    /// A request with no credential (not a health probe) from `source`.
    pub fn admit(&self, source: IpAddr) -> Result<(), Exceeded> {
        self.admit.check_key(&source).map_err(|n| Exceeded {
            policy: POLICY,
            quota: u64::from(self.rate.count),
            window_secs: self.rate.window_secs(),
            retry_after: n
                .wait_time_from(self.clock.now())
                .max(Duration::from_secs(1)),
        })
    }

    /// Should this refusal of an unauthenticated request be recorded on its own? If not,
    /// it is counted for the source's next summary.
    pub fn audit_each(&self, source: IpAddr) -> bool {
        if self
            .audit
            .as_ref()
            .is_some_and(|l| l.check_key(&source).is_ok())
        {
            return true;
        }
        if let Ok(mut map) = self.suppressed.lock() {
            let key = if map.len() < MAX_TRACKED_SOURCES || map.contains_key(&Some(source)) {
                Some(source)
            } else {
                None
            };
            *map.entry(key).or_default() += 1;
        }
        false
    }

    /// Counts suppressed since the last call, by source (`None`: the overflow).
    pub fn take_summary(&self) -> Vec<(Option<IpAddr>, u64)> {
        let Ok(mut map) = self.suppressed.lock() else {
            return Vec::new();
        };
        let mut out: Vec<_> = map.drain().collect();
        out.sort();
        out
    }

    pub fn housekeeping(&self) {
        self.admit.retain_recent();
        if let Some(l) = &self.audit {
            l.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(count: u32, audited: u32) -> AnonymousLimits {
        AnonymousLimits {
            rate: Rate {
                count,
                period: Duration::from_secs(60),
            },
            audited_per_minute: audited,
        }
    }

    #[test]
    fn a_source_over_its_rate_is_refused_and_others_are_not() {
        let a = Anonymous::new(&limits(3, 60));
        let (x, y): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            assert!(a.admit(x).is_ok());
        }
        let refused = a.admit(x).unwrap_err();
        assert_eq!((refused.policy, refused.quota), (POLICY, 3));
        assert!(a.admit(y).is_ok());
    }

    #[test]
    fn refusals_past_the_allowance_are_counted_per_source_then_drained() {
        let a = Anonymous::new(&limits(100, 2));
        let x: IpAddr = "10.0.0.1".parse().unwrap();
        let audited = (0..10).filter(|_| a.audit_each(x)).count();
        assert_eq!(audited, 2);
        assert_eq!(a.take_summary(), [(Some(x), 8)]);
        assert!(a.take_summary().is_empty());
        // Zero: every refusal goes into the summary.
        let none = Anonymous::new(&limits(100, 0));
        assert!(!none.audit_each(x));
        assert_eq!(none.take_summary(), [(Some(x), 1)]);
    }

    #[test]
    fn tracked_sources_are_bounded() {
        let a = Anonymous::new(&limits(100, 0));
        for i in 0..(MAX_TRACKED_SOURCES as u32 + 10) {
            a.audit_each(IpAddr::from(i.to_be_bytes()));
        }
        let summary = a.take_summary();
        assert_eq!(summary.len(), MAX_TRACKED_SOURCES + 1);
        assert_eq!(summary[0], (None, 10));
    }
}
