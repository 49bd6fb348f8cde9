//! Brute-force defence for the `identify` stage: too many failed authentications from one
//! source address, or against one key id, block that source or key for a while, doubling
//! with each repeat. Only presented credentials count as failures (a request without any is
//! the normal first step of a challenge), and the block answers 429, not 401, so a client
//! can tell "slow down" from "wrong key".

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use palisade_config::AuthBackoff as Settings;

use crate::limit::Exceeded;

#[derive(Debug, Clone, Copy)]
struct Strikes {
    failures: u32,
    window_start: Instant,
    blocked_until: Option<Instant>,
    /// Blocks so far: the next one lasts `block_base * 2^blocks`.
    blocks: u32,
    last_failure: Instant,
}

pub struct AuthBackoff {
    settings: Settings,
    sources: Mutex<HashMap<IpAddr, Strikes>>,
    keys: Mutex<HashMap<String, Strikes>>,
}

impl AuthBackoff {
    pub fn new(settings: &Settings) -> AuthBackoff {
        AuthBackoff {
            settings: settings.clone(),
            sources: Mutex::default(),
            keys: Mutex::default(),
        }
    }

    pub fn failure_delay(&self) -> Duration {
        self.settings.failure_delay
    }

    /// Refuse a source that is blocked right now.
    pub fn check_source(&self, source: IpAddr, now: Instant) -> Result<(), Exceeded> {
        self.refuse(lock(&self.sources, |m| blocked(m.get(&source), now)), now)
    }

    /// Refuse a key id that is blocked right now. Only ever asked after the secret presented
    /// with it was found wrong: a block on a key never stands in the way of its holder.
    pub fn check_key(&self, key_id: Option<&str>, now: Instant) -> Result<(), Exceeded> {
        let until = key_id.and_then(|k| lock(&self.keys, |m| blocked(m.get(k), now)));
        self.refuse(until, now)
    }

    fn refuse(&self, until: Option<Instant>, now: Instant) -> Result<(), Exceeded> {
        match until {
            None => Ok(()),
            Some(until) => Err(Exceeded {
                policy: crate::refusal::LimitPolicy::FailedAuthentication,
                quota: u64::from(self.settings.limit),
                window_secs: self.settings.window.as_secs().max(1),
                retry_after: until - now,
            }),
        }
    }

    /// Count a failed authentication with presented credentials.
    pub fn failed(&self, source: IpAddr, key_id: Option<&str>, now: Instant) {
        let settings = &self.settings;
        let strike = |s: &mut Strikes| {
            // A quiet spell as long as the longest block forgets earlier blocks.
            if now.duration_since(s.last_failure) > settings.block_max {
                s.blocks = 0;
            }
            if now.duration_since(s.window_start) > settings.window {
                s.failures = 0;
                s.window_start = now;
            }
            s.failures += 1;
            s.last_failure = now;
            if s.failures >= settings.limit {
                let factor = 1u32.checked_shl(s.blocks.min(20)).unwrap_or(u32::MAX);
                let block = settings
                    .block_base
                    .saturating_mul(factor)
                    .min(settings.block_max);
                s.blocked_until = Some(now + block);
                s.blocks += 1;
                s.failures = 0;
                s.window_start = now;
            }
        };
        let fresh = Strikes {
            failures: 0,
            window_start: now,
            blocked_until: None,
            blocks: 0,
            last_failure: now,
        };
        lock(&self.sources, |m| strike(m.entry(source).or_insert(fresh)));
        if let Some(k) = key_id {
            lock(&self.keys, |m| {
                strike(m.entry(k.to_string()).or_insert(fresh))
            });
        }
    }

    /// Forget entries with no block in force and no recent failure.
    pub fn housekeeping(&self, now: Instant) {
        let keep_for = self.settings.block_max.max(self.settings.window);
        let live = |s: &Strikes| now.duration_since(s.last_failure) <= keep_for;
        lock(&self.sources, |m| m.retain(|_, s| live(s)));
        lock(&self.keys, |m| m.retain(|_, s| live(s)));
    }
}

fn blocked(s: Option<&Strikes>, now: Instant) -> Option<Instant> {
    s.and_then(|s| s.blocked_until).filter(|&until| until > now)
}

fn lock<K, T>(
    map: &Mutex<HashMap<K, Strikes>>,
    f: impl FnOnce(&mut HashMap<K, Strikes>) -> T,
) -> T {
    match map.lock() {
        Ok(mut g) => f(&mut g),
        Err(poisoned) => f(&mut poisoned.into_inner()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(limit: u32) -> AuthBackoff {
        AuthBackoff::new(&Settings {
            limit,
            window: Duration::from_secs(60),
            block_base: Duration::from_secs(1),
            block_max: Duration::from_secs(8),
            failure_delay: Duration::ZERO,
        })
    }

    #[test]
    fn blocks_grow_exponentially_up_to_the_cap() {
        let b = backoff(2);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let mut now = Instant::now();
        let mut blocks = Vec::new();
        for _ in 0..6 {
            b.failed(ip, None, now);
            assert!(
                b.check_source(ip, now).is_ok(),
                "one failure short of the limit"
            );
            b.failed(ip, None, now);
            let e = b.check_source(ip, now).unwrap_err();
            blocks.push(e.retry_after.as_secs());
            now += e.retry_after;
            assert!(b.check_source(ip, now).is_ok(), "the block ends on time");
        }
        assert_eq!(blocks, [1, 2, 4, 8, 8, 8]);
        let other: IpAddr = [10, 0, 0, 2].into();
        assert!(b.check_source(other, now).is_ok());
    }

    #[test]
    fn a_key_under_attack_is_blocked_for_wrong_secrets_only() {
        let b = backoff(3);
        let now = Instant::now();
        for i in 0..3u8 {
            b.failed([10, 0, 0, i].into(), Some("abcd"), now);
        }
        // The key's block is consulted only after a wrong secret; sources that failed once
        // each are not blocked.
        assert!(b.check_key(Some("abcd"), now).is_err());
        assert!(b.check_key(Some("other"), now).is_ok());
        assert!(b.check_source([10, 0, 0, 1].into(), now).is_ok());
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let b = backoff(2);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let now = Instant::now();
        b.failed(ip, None, now);
        b.failed(ip, None, now + Duration::from_secs(61));
        assert!(b.check_source(ip, now + Duration::from_secs(61)).is_ok());
        b.housekeeping(now + Duration::from_secs(200));
        assert!(lock(&b.sources, |m| m.is_empty()));
    }
}
