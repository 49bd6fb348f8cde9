//! An exponentially weighted baseline of a count per bucket, and how unusual a new count is.
//!
//! Why EWMA with a Poisson floor: call counts drift over a day, so a fixed threshold is
//! either deaf at noon or noisy at night; the EWMA follows the drift. Counts of independent
//! calls vary like a Poisson process (standard deviation ~ sqrt(mean)), so the spread never
//! counts as less than that: a perfectly steady client does not make its own small wobble
//! look like a 20-sigma event.

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Baseline {
    mean: f64,
    var: f64,
    seen: u32,
}

impl Baseline {
    /// Score `count` against the baseline (`None` while warming up), then learn from it.
    pub fn score_and_learn(&mut self, count: f64, alpha: f64, warmup: u32) -> Option<f64> {
        let z = (self.seen >= warmup).then(|| {
            let spread = self.var.sqrt().max(self.mean.sqrt()).max(1.0);
            (count - self.mean) / spread
        });
        if self.seen == 0 {
            self.mean = count;
        } else {
            let diff = count - self.mean;
            let step = alpha * diff;
            self.mean += step;
            self.var = (1.0 - alpha) * (self.var + diff * step);
        }
        self.seen = self.seen.saturating_add(1);
        z
    }

    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Nothing left to remember: a long-idle subject can be forgotten.
    pub fn is_idle(&self) -> bool {
        self.mean < 0.01
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_noise_scores_low_and_a_spike_scores_high() {
        let mut b = Baseline::default();
        let mut worst: f64 = 0.0;
        // A noisy but steady 100 ± 10 per bucket.
        for i in 0..200u32 {
            let x = 100.0 + f64::from((i * 7919) % 21) - 10.0;
            if let Some(z) = b.score_and_learn(x, 0.1, 12) {
                worst = worst.max(z.abs());
            }
        }
        assert!(worst < 3.0, "steady load scored {worst}");
        let z = b.score_and_learn(400.0, 0.1, 12).unwrap();
        assert!(z > 10.0, "a 4x spike scored {z}");
        // Warming up: no score.
        assert_eq!(Baseline::default().score_and_learn(5.0, 0.1, 1), None);
    }
}
