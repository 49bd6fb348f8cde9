//! The rules over simulated time: ten minutes of benign traffic raise nothing; each attack
//! pattern raises its alert within seconds of starting.

use std::net::IpAddr;

use palisade_config::detect::RawDetect;

use super::*;

fn settings() -> Settings {
    let mut findings = Vec::new();
    let detect = RawDetect::default()
        .validate(std::path::Path::new("."), &mut findings)
        .unwrap();
    Settings::from(&detect)
}

/// xorshift: deterministic noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const T0: u64 = 1_800_000_000_000;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn call(
    at_ms: u64,
    source: &str,
    principal: Option<&str>,
    model: &str,
    allowed: bool,
) -> Observation {
    Observation {
        at_ms,
        source: ip(source),
        principal: principal.map(str::to_string),
        model: Some(model.to_string()),
        allowed,
        auth_failed: false,
    }
}

/// Ten minutes of a steady service: 20 clients at 5-15 calls/s each on their own models and
/// networks, 2% of calls refused, a stray failed login now and then. Returns every alert.
fn benign(d: &mut Detector, noise: &mut Noise, from_ms: u64, seconds: u64) -> Vec<Alert> {
    let mut alerts = Vec::new();
    for second in 0..seconds {
        let base = from_ms + second * 1000;
        for client in 0..20u64 {
            let principal = format!("key:client{client}");
            let source = format!("10.0.{client}.{}", 10 + noise.below(20));
            for k in 0..(5 + noise.below(11)) {
                let model = format!("model-{}", (client + noise.below(3)) % 25);
                let allowed = noise.below(50) != 0;
                let at = base + k * 60 + noise.below(50);
                alerts.extend(d.observe(&call(at, &source, Some(&principal), &model, allowed)));
            }
        }
        if noise.below(30) == 0 {
            let mut o = call(base + 500, "198.51.100.7", None, "model-1", false);
            o.auth_failed = true;
            alerts.extend(d.observe(&o));
        }
        alerts.extend(d.tick(base + 1000));
    }
    alerts
}

#[test]
fn ten_minutes_of_steady_benign_load_raise_no_alert() {
    let mut d = Detector::new(settings());
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let alerts = benign(&mut d, &mut noise, T0, 600);
    assert!(alerts.is_empty(), "{alerts:#?}");
}

#[test]
fn a_brute_force_burst_is_raised_within_seconds_and_once_per_cooldown() {
    let mut d = Detector::new(settings());
    let mut noise = Noise(7);
    assert!(benign(&mut d, &mut noise, T0, 120).is_empty());
    let start = T0 + 120_000;
    let mut raised = Vec::new();
    // 100 guesses in 5 s from one address.
    for i in 0..100 {
        let mut o = call(start + i * 50, "203.0.113.9", None, "model-1", false);
        o.auth_failed = true;
        raised.extend(d.observe(&o));
    }
    raised.extend(d.tick(start + 5000));
    let bursts: Vec<_> = raised
        .iter()
        .filter(|a| a.kind == AlertKind::AuthFailureBurst)
        .collect();
    assert_eq!(bursts.len(), 1, "{raised:#?}");
    assert_eq!(bursts[0].subject, "source:203.0.113.9");
    assert!(
        bursts[0].at_ms <= start + 2000,
        "raised late: {}",
        bursts[0].at_ms - start
    );
}

#[test]
fn an_enumeration_sweep_is_raised_within_seconds() {
    let mut d = Detector::new(settings());
    let mut noise = Noise(11);
    assert!(benign(&mut d, &mut noise, T0, 60).is_empty());
    let start = T0 + 60_000;
    let mut raised = Vec::new();
    for i in 0..30 {
        let name = format!("guess-{i}");
        raised.extend(d.observe(&call(
            start + i * 200,
            "10.0.3.10",
            Some("key:client3"),
            &name,
            false,
        )));
    }
    let sweep: Vec<_> = raised
        .iter()
        .filter(|a| a.kind == AlertKind::Enumeration)
        .collect();
    assert_eq!(sweep.len(), 1, "{raised:#?}");
    assert_eq!(sweep[0].subject, "key:client3");
    assert!(sweep[0].at_ms - start <= 3000);
}

#[test]
fn a_principal_far_above_its_baseline_is_raised() {
    let mut d = Detector::new(settings());
    let mut noise = Noise(3);
    assert!(benign(&mut d, &mut noise, T0, 300).is_empty());
    // client5 suddenly runs at 300 calls/s, on top of the benign load.
    let start = T0 + 300_000;
    let mut raised = Vec::new();
    for second in 0..30u64 {
        for k in 0..300 {
            let at = start + second * 1000 + k * 3;
            raised.extend(d.observe(&call(at, "10.0.5.11", Some("key:client5"), "model-5", true)));
        }
        raised.extend(benign(&mut d, &mut noise, start + second * 1000, 1));
    }
    let spikes: Vec<_> = raised
        .iter()
        .filter(|a| a.kind == AlertKind::RateAnomaly)
        .collect();
    assert_eq!(spikes.len(), 1, "{raised:#?}");
    assert_eq!(spikes[0].subject, "key:client5");
    assert!(spikes[0].at_ms - start <= 20_000);
}

#[test]
fn a_spike_in_refusals_is_raised() {
    let mut d = Detector::new(settings());
    let mut noise = Noise(5);
    assert!(benign(&mut d, &mut noise, T0, 300).is_empty());
    let start = T0 + 300_000;
    let mut raised = Vec::new();
    for second in 0..20u64 {
        for k in 0..100 {
            // Refused calls from many sources (a misbehaving fleet): no single caller stands out.
            let source = format!("192.0.2.{}", k % 200);
            let at = start + second * 1000 + k * 10;
            raised.extend(d.observe(&call(at, &source, None, "model-1", false)));
        }
        raised.extend(benign(&mut d, &mut noise, start + second * 1000, 1));
    }
    assert!(
        raised
            .iter()
            .any(|a| a.kind == AlertKind::RefusalSpike && a.subject == "all"),
        "{raised:#?}"
    );
}

#[test]
fn an_established_principal_on_a_new_network_is_raised_once() {
    let mut d = Detector::new(settings());
    let mut noise = Noise(13);
    assert!(benign(&mut d, &mut noise, T0, 60).is_empty());
    let at = T0 + 61_000;
    let alerts = d.observe(&call(
        at,
        "172.16.9.1",
        Some("key:client2"),
        "model-2",
        true,
    ));
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].kind, AlertKind::NewNetwork);
    assert!(alerts[0].detail.contains("172.16.9.0/24"));
    assert!(d
        .observe(&call(
            at + 10,
            "172.16.9.2",
            Some("key:client2"),
            "model-2",
            true
        ))
        .is_empty());
    // A new principal's first networks are learned, not alerted.
    assert!(d
        .observe(&call(
            at,
            "172.16.10.1",
            Some("key:newcomer"),
            "model-2",
            true
        ))
        .is_empty());
}
