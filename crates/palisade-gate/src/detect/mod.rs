//! Detectors over the stream of calls: one file per rule, named after what it detects.
//!
//! Why here and not in a log pipeline: the server sees every call as it happens, with the
//! authenticated principal and the policy decision; an alert within seconds can still stop
//! a brute force or an extraction. The rules are plain state machines over
//! [`Observation`]s with explicit times, so tests can run ten minutes of traffic in
//! milliseconds; [`spawn`] drives them from the live call stream and a one-second tick.
//!
//! Memory is bounded: every rule tracks at most [`MAX_SUBJECTS`] principals or sources and
//! forgets idle ones. Observations travel to the detector through a bounded inbox; if it is
//! full the observation is dropped and counted (`palisade_detector_dropped_total`), never
//! the call.

mod auth_failure_burst;
mod baseline;
pub mod block;
pub mod deliver;
mod enumeration;
mod new_network;
mod rate_anomaly;
mod refusal_spike;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use palisade_config::detect::Detect;
use serde::Serialize;
use tokio::sync::watch;

pub use new_network::network;

/// Most principals or sources one rule keeps state for.
pub const MAX_SUBJECTS: usize = 100_000;
/// Observations waiting for the detector.
const QUEUE: usize = 65_536;

/// What the detectors learn from one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub at_ms: u64,
    pub source: IpAddr,
    pub principal: Option<String>,
    /// The model the call named (as requested, even when it does not exist).
    pub model: Option<String>,
    pub allowed: bool,
    pub auth_failed: bool,
}

impl Observation {
    /// Who to hold responsible: the principal, else the source address.
    pub fn caller(&self) -> std::borrow::Cow<'_, str> {
        match &self.principal {
            Some(p) => std::borrow::Cow::Borrowed(p),
            None => std::borrow::Cow::Owned(format!("source:{}", self.source)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    RateAnomaly,
    AuthFailureBurst,
    RefusalSpike,
    NewNetwork,
    Enumeration,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::RateAnomaly => "rate_anomaly",
            AlertKind::AuthFailureBurst => "auth_failure_burst",
            AlertKind::RefusalSpike => "refusal_spike",
            AlertKind::NewNetwork => "new_network",
            AlertKind::Enumeration => "enumeration",
        }
    }

    /// Alerts whose subject `auto_block` may block.
    pub fn blocks(self) -> bool {
        matches!(
            self,
            AlertKind::RateAnomaly | AlertKind::AuthFailureBurst | AlertKind::Enumeration
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub kind: AlertKind,
    /// `key:<id>`, `user:<sub>`, `service:<id>`, `source:<ip>`, or `all`.
    pub subject: String,
    pub at_ms: u64,
    pub detail: String,
}

impl Alert {
    fn new(kind: AlertKind, subject: &str, at_ms: u64, detail: String) -> Alert {
        Alert {
            kind,
            subject: subject.to_string(),
            at_ms,
            detail,
        }
    }
}

/// The thresholds, in the units the rules count in.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bucket_ms: u64,
    pub alpha: f64,
    pub rate_z: f64,
    pub rate_min_calls: u64,
    pub rate_warmup_buckets: u32,
    pub auth_failure_threshold: u32,
    pub auth_failure_window_ms: u64,
    pub refusal_z: f64,
    pub refusal_min: u64,
    pub enumeration_models: u32,
    pub enumeration_window_ms: u64,
    pub new_network_after_calls: u64,
    pub cooldown_ms: u64,
}

impl From<&Detect> for Settings {
    fn from(d: &Detect) -> Settings {
        let ms = |d: Duration| d.as_millis().max(1) as u64;
        Settings {
            bucket_ms: ms(d.bucket),
            alpha: d.ewma_alpha,
            rate_z: d.rate_z_threshold,
            rate_min_calls: d.rate_min_calls,
            rate_warmup_buckets: d.rate_warmup_buckets,
            auth_failure_threshold: d.auth_failure_threshold,
            auth_failure_window_ms: ms(d.auth_failure_window),
            refusal_z: d.refusal_z_threshold,
            refusal_min: d.refusal_min,
            enumeration_models: d.enumeration_models,
            enumeration_window_ms: ms(d.enumeration_window),
            new_network_after_calls: d.new_network_after_calls,
            cooldown_ms: ms(d.alert_cooldown),
        }
    }
}

/// Every rule, plus the cooldown that keeps one ongoing incident from paging every second.
pub struct Detector {
    settings: Settings,
    rate: rate_anomaly::RateAnomaly,
    refusals: refusal_spike::RefusalSpike,
    auth: auth_failure_burst::AuthFailureBurst,
    enumeration: enumeration::Enumeration,
    networks: new_network::NewNetwork,
    last_raised: HashMap<(AlertKind, String), u64>,
}

impl Detector {
    pub fn new(settings: Settings) -> Detector {
        Detector {
            settings,
            rate: Default::default(),
            refusals: Default::default(),
            auth: Default::default(),
            enumeration: Default::default(),
            networks: Default::default(),
            last_raised: HashMap::new(),
        }
    }

    pub fn observe(&mut self, o: &Observation) -> Vec<Alert> {
        let mut alerts = Vec::new();
        let s = &self.settings;
        self.rate.observe(o, s);
        self.refusals.observe(o);
        self.auth.observe(o, s, &mut alerts);
        self.enumeration.observe(o, s, &mut alerts);
        self.networks.observe(o, s, &mut alerts);
        self.cooled(alerts)
    }

    /// Close buckets and forget what went quiet; call about once a second.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Alert> {
        let mut alerts = Vec::new();
        let s = &self.settings;
        self.rate.tick(now_ms, s, &mut alerts);
        self.refusals.tick(now_ms, s, &mut alerts);
        self.auth.tick(now_ms, s);
        self.enumeration.tick(now_ms, s);
        let cooldown = self.settings.cooldown_ms;
        self.last_raised.retain(|_, t| *t + cooldown > now_ms);
        self.cooled(alerts)
    }

    fn cooled(&mut self, alerts: Vec<Alert>) -> Vec<Alert> {
        let cooldown = self.settings.cooldown_ms;
        alerts
            .into_iter()
            .filter(|a| {
                let key = (a.kind, a.subject.clone());
                match self.last_raised.get(&key) {
                    Some(&t) if t + cooldown > a.at_ms => false,
                    _ => {
                        if self.last_raised.len() < MAX_SUBJECTS {
                            self.last_raised.insert(key, a.at_ms);
                        }
                        true
                    }
                }
            })
            .collect()
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The live detector's inbox: calls append to a buffer the detector drains ten times a
/// second, so a call never wakes another task (observations carry their own time, so the
/// rules see the same thing as if they were told at once).
pub struct DetectorHandle {
    inbox: Option<Arc<Mutex<Vec<Observation>>>>,
}

impl DetectorHandle {
    /// A handle that drops everything (`[detect] enabled = false`).
    pub fn off() -> DetectorHandle {
        DetectorHandle { inbox: None }
    }

    /// Hand an observation over without waiting; `false` if it had to be dropped.
    pub fn observe(&self, o: Observation) -> bool {
        let Some(inbox) = &self.inbox else {
            return true;
        };
        let Ok(mut pending) = inbox.lock() else {
            return false;
        };
        if pending.len() >= QUEUE {
            return false;
        }
        pending.push(o);
        true
    }
}

/// How often the detector drains its inbox.
const DRAIN_EVERY: Duration = Duration::from_millis(100);

/// Start the detector task with the rules of `config`; alerts go to `alerting`.
pub fn spawn(
    config: &Detect,
    alerting: Arc<deliver::Alerting>,
    inbox: Arc<Mutex<Vec<Observation>>>,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let mut detector = Detector::new(Settings::from(config));
    tokio::spawn(async move {
        let mut drain = tokio::time::interval(DRAIN_EVERY);
        let mut last_tick = 0u64;
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                _ = drain.tick() => {}
                _ = shutdown.changed() => break,
            }
            if let Ok(mut pending) = inbox.lock() {
                std::mem::swap(&mut *pending, &mut batch);
            }
            let mut alerts = Vec::new();
            for o in batch.drain(..) {
                alerts.extend(detector.observe(&o));
            }
            let now = now_ms();
            if now >= last_tick + 1000 {
                alerts.extend(detector.tick(now));
                last_tick = now;
            }
            for alert in alerts {
                alerting.raise(alert);
            }
        }
    })
}

/// The inbox and the detector's end of it, for [`spawn`].
pub fn channel(enabled: bool) -> (DetectorHandle, Option<Arc<Mutex<Vec<Observation>>>>) {
    if !enabled {
        return (DetectorHandle::off(), None);
    }
    let inbox = Arc::new(Mutex::new(Vec::with_capacity(1024)));
    (
        DetectorHandle {
            inbox: Some(inbox.clone()),
        },
        Some(inbox),
    )
}

#[cfg(test)]
mod tests;
