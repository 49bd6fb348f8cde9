//! Rule: a principal calling far above its own baseline (EWMA z-score per bucket).
//!
//! The signature of a stolen key put to work, or of model extraction by bulk querying,
//! before any fixed rate limit is reached.

use std::collections::HashMap;

use super::baseline::Baseline;
use super::{Alert, AlertKind, Observation, Settings, MAX_SUBJECTS};

#[derive(Default)]
pub struct RateAnomaly {
    principals: HashMap<String, Counter>,
    bucket: u64,
}

#[derive(Default)]
struct Counter {
    count: u64,
    baseline: Baseline,
}

impl RateAnomaly {
    pub fn observe(&mut self, o: &Observation, s: &Settings) {
        let Some(principal) = &o.principal else {
            return;
        };
        let _ = s;
        // The hot path: a known principal costs one lookup and no allocation.
        if let Some(c) = self.principals.get_mut(principal) {
            c.count += 1;
        } else if self.principals.len() < MAX_SUBJECTS {
            self.principals.insert(
                principal.clone(),
                Counter {
                    count: 1,
                    ..Counter::default()
                },
            );
        }
    }

    /// Close every bucket that ended by `now_ms`.
    pub fn tick(&mut self, now_ms: u64, s: &Settings, alerts: &mut Vec<Alert>) {
        let current = now_ms / s.bucket_ms;
        if self.bucket == 0 {
            self.bucket = current;
            return;
        }
        // A long pause closes at most a few buckets' worth: idle buckets only decay.
        let closing = current.saturating_sub(self.bucket).min(64);
        for step in 0..closing {
            for (principal, c) in &mut self.principals {
                let count = std::mem::take(&mut c.count);
                let mean = c.baseline.mean();
                let z = c
                    .baseline
                    .score_and_learn(count as f64, s.alpha, s.rate_warmup_buckets);
                if let Some(z) = z.filter(|z| *z >= s.rate_z && count >= s.rate_min_calls) {
                    alerts.push(Alert::new(
                        AlertKind::RateAnomaly,
                        principal,
                        (self.bucket + step + 1) * s.bucket_ms,
                        format!(
                            "{count} calls in {} s against a baseline of {mean:.1} (z = {z:.1})",
                            s.bucket_ms / 1000
                        ),
                    ));
                }
            }
        }
        self.bucket = current;
        self.principals
            .retain(|_, c| c.count > 0 || !c.baseline.is_idle());
    }
}
