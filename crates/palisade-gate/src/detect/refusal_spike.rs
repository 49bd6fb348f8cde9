//! Rule: refused calls (all callers together) spiking above their baseline.
//!
//! A scan, a misconfigured client fleet or a policy change gone wrong all show up here first.

use super::baseline::Baseline;
use super::{Alert, AlertKind, Observation, Settings};

#[derive(Default)]
pub struct RefusalSpike {
    count: u64,
    bucket: u64,
    baseline: Baseline,
}

impl RefusalSpike {
    pub fn observe(&mut self, o: &Observation) {
        if !o.allowed {
            self.count += 1;
        }
    }

    pub fn tick(&mut self, now_ms: u64, s: &Settings, alerts: &mut Vec<Alert>) {
        let current = now_ms / s.bucket_ms;
        if self.bucket == 0 {
            self.bucket = current;
            return;
        }
        for step in 0..current.saturating_sub(self.bucket).min(64) {
            let count = std::mem::take(&mut self.count);
            let mean = self.baseline.mean();
            let z = self
                .baseline
                .score_and_learn(count as f64, s.alpha, s.rate_warmup_buckets);
            if let Some(z) = z.filter(|z| *z >= s.refusal_z && count >= s.refusal_min) {
                alerts.push(Alert::new(
                    AlertKind::RefusalSpike,
                    "all",
                    (self.bucket + step + 1) * s.bucket_ms,
                    format!(
                        "{count} refused calls in {} s against a baseline of {mean:.1} (z = {z:.1})",
                        s.bucket_ms / 1000
                    ),
                ));
            }
        }
        self.bucket = current;
    }
}
