//! Personal data found and minimized before it reaches a model, a log or an audit line.
//!
//! Why its own engine: a PII filter on every call has a budget of microseconds, not the
//! ~100 ms of a Python NLP pipeline. Every recognizer here is a *shape* (a regex) plus a
//! classifier (checksums, context words); all shapes are compiled into one multi-pattern
//! automaton, so a text is searched once whatever the number of recognizers, and the
//! classifiers run only on candidates. Context words are matched with Aho-Corasick on the
//! few bytes around a candidate.
//!
//! What is not detected: person names, locations and organisations need a statistical
//! model; [`NamedEntityRecognizer`] is the seam for one, and none ships.
#![forbid(unsafe_code)]

pub mod actions;
mod checks;
mod context;
pub mod dataset;
mod engine;
mod entity;
pub mod fold;
mod recognizers;
pub mod records;
pub mod scrub;
#[cfg(test)]
mod tests;

pub use actions::{Action, Keys, Outcome, Policy};
pub use engine::{Engine, ReadScanError, Span, TooCostly, WORK_PER_BYTE};
pub use entity::Entity;
pub use scrub::{redact_all, scrub_for_logs};

#[derive(Debug, thiserror::Error)]
pub enum PiiError {
    #[error("building the recognizers failed: {0}")]
    Build(String),
    #[error("the `{0}` action needs a key: set it under [pii] (hash_key / encrypt_key)")]
    MissingKey(&'static str),
    #[error("PII key: {0}")]
    Key(String),
    #[error(transparent)]
    TooCostly(#[from] TooCostly),
}

/// A recognizer backed by a statistical model (names, locations, organisations): given a
/// text, the spans it believes are entities. Its spans are merged with the engine's, the
/// engine's winning where they overlap.
pub trait NamedEntityRecognizer: Send + Sync {
    fn recognize(&self, text: &str) -> Vec<Span>;
}
