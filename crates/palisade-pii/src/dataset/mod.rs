//! Keeping personal data out of training data: `anonymize` (per-column rules, then
//! k-anonymity and l-diversity over the quasi-identifiers) and `synthesize` (a Gaussian
//! copula fitted to the real rows, with a fidelity report and a privacy check).
//!
//! Why here and not in a crate of its own: both are PII minimization over tables, reuse the
//! engine and the pseudonym key, and have one user (the CLI).

pub mod anonymize;
mod generalize;
pub mod rules;
mod stats;
pub mod synthesize;
pub mod table;

pub use anonymize::{anonymize, Anonymized, Report};
pub use generalize::{DatePrecision, Generalize};
pub use rules::Rules;
pub use synthesize::{synthesize, SynthesisOptions, Synthesized};
pub use table::{Cell, Format, Formulas, Limits, Table};

/// Errors name the file, the line and the column or key at fault, never a value.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: line {line}: {what}")]
    Parse {
        file: String,
        line: u64,
        what: String,
    },
    #[error("{file}: {what}")]
    Limit { file: String, what: String },
    #[error("{file}{}{key}: {what}", if key.is_empty() { "" } else { ": " })]
    Rules {
        file: String,
        key: String,
        what: String,
    },
    #[error("line {line}, column `{column}`: {what}")]
    Value {
        line: u64,
        column: String,
        what: String,
    },
    #[error("refused: {why}")]
    BelowTarget { why: String, report: Box<Report> },
    #[error("{0}")]
    Synthesis(String),
}

impl DatasetError {
    pub(crate) fn io(file: &str, source: std::io::Error) -> DatasetError {
        DatasetError::Io {
            file: file.to_string(),
            source,
        }
    }
}
