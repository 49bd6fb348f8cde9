//! Redacting personal data from text bound for a log line or an error message: every entity
//! found, whatever the model's policies say. Used wherever text that may quote a caller's input
//! leaves the process (the gate's error bodies and log lines).

use crate::actions::{apply, Action, Keys, Outcome, Policy};
use crate::engine::Engine;

/// `text` with every entity `engine` finds redacted; withheld whole when it cannot be checked.
pub fn redact_all(engine: &Engine, text: &str) -> String {
    let Ok(spans) = engine.scan_str(text) else {
        return "[text withheld: too costly to inspect for personal data]".to_string();
    };
    if spans.is_empty() {
        return text.to_string();
    }
    match apply(
        text,
        &spans,
        &Policy::uniform(Action::Redact),
        &Keys::default(),
    ) {
        Ok(Outcome::Minimized { text, .. }) => text,
        _ => "[text withheld: it held personal data]".to_string(),
    }
}

/// [`redact_all`] with a process-wide engine, built on first use.
pub fn scrub_for_logs(text: &str) -> String {
    static ENGINE: std::sync::OnceLock<Option<Engine>> = std::sync::OnceLock::new();
    match ENGINE.get_or_init(|| Engine::new().ok()) {
        Some(engine) => redact_all(engine, text),
        None => "[text withheld: the PII engine is unavailable]".to_string(),
    }
}
