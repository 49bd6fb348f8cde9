//! Rule: many failed authentications from one source in a short window.
//!
//! Credential stuffing and key guessing. The gate's back-off already slows each source
//! down; this makes it visible to a human and to the webhook receivers.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use super::{Alert, AlertKind, Observation, Settings, MAX_SUBJECTS};

#[derive(Default)]
pub struct AuthFailureBurst {
    sources: HashMap<IpAddr, VecDeque<u64>>,
}

impl AuthFailureBurst {
    pub fn observe(&mut self, o: &Observation, s: &Settings, alerts: &mut Vec<Alert>) {
        if !o.auth_failed {
            return;
        }
        if !self.sources.contains_key(&o.source) && self.sources.len() >= MAX_SUBJECTS {
            return;
        }
        let times = self.sources.entry(o.source).or_default();
        times.push_back(o.at_ms);
        while times
            .front()
            .is_some_and(|&t| t + s.auth_failure_window_ms <= o.at_ms)
        {
            times.pop_front();
        }
        if times.len() >= s.auth_failure_threshold as usize {
            alerts.push(Alert::new(
                AlertKind::AuthFailureBurst,
                &format!("source:{}", o.source),
                o.at_ms,
                format!(
                    "{} failed authentications in {} s",
                    times.len(),
                    s.auth_failure_window_ms / 1000
                ),
            ));
            times.clear();
        }
    }

    pub fn tick(&mut self, now_ms: u64, s: &Settings) {
        self.sources.retain(|_, t| {
            t.back()
                .is_some_and(|&last| last + s.auth_failure_window_ms > now_ms)
        });
    }
}
