//! Rule: one caller touching many distinct models in a short window.
//!
//! Mapping which models exist (and which the caller may see) comes before stealing one;
//! a client that serves a product calls the few models it was built for.

use std::collections::{HashMap, VecDeque};

use super::{Alert, AlertKind, Observation, Settings, MAX_SUBJECTS};

#[derive(Default)]
pub struct Enumeration {
    callers: HashMap<String, VecDeque<(u64, String)>>,
}

impl Enumeration {
    pub fn observe(&mut self, o: &Observation, s: &Settings, alerts: &mut Vec<Alert>) {
        let Some(model) = &o.model else {
            return;
        };
        let caller = o.caller();
        if !self.callers.contains_key(caller.as_ref()) {
            if self.callers.len() >= MAX_SUBJECTS {
                return;
            }
            self.callers.insert(caller.to_string(), VecDeque::new());
        }
        let Some(seen) = self.callers.get_mut(caller.as_ref()) else {
            return;
        };
        while seen
            .front()
            .is_some_and(|(t, _)| t + s.enumeration_window_ms <= o.at_ms)
        {
            seen.pop_front();
        }
        // A model seen again moves to the back with its new time.
        match seen.iter().position(|(_, m)| m == model) {
            Some(i) => {
                if let Some(mut entry) = seen.remove(i) {
                    entry.0 = o.at_ms;
                    seen.push_back(entry);
                }
            }
            None => seen.push_back((o.at_ms, model.clone())),
        }
        if seen.len() >= s.enumeration_models as usize {
            alerts.push(Alert::new(
                AlertKind::Enumeration,
                &caller,
                o.at_ms,
                format!(
                    "{} distinct models in {} s",
                    seen.len(),
                    s.enumeration_window_ms / 1000
                ),
            ));
            seen.clear();
        }
    }

    pub fn tick(&mut self, now_ms: u64, s: &Settings) {
        self.callers.retain(|_, seen| {
            seen.back()
                .is_some_and(|(t, _)| t + s.enumeration_window_ms > now_ms)
        });
    }
}
