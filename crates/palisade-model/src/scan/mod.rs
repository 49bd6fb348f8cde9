//! Scanning model artifacts without executing them (issue 5, in progress).
//!
//! Why a scanner in the server and not only in CI: a model file is code-adjacent. A pickle
//! runs arbitrary code when loaded; the only safe way to look at one is to read it opcode by
//! opcode, never to unpickle it. Every finding names a rule, a severity, the file and the
//! byte offset, so a reviewer can look at exactly what was flagged.

pub mod pickle;

use serde::Serialize;

/// How bad a finding is. Ordered: `Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One thing a scan found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable rule id, e.g. `pickle.dangerous-import`.
    pub rule: &'static str,
    pub severity: Severity,
    /// The file (or archive member) it was found in.
    pub file: String,
    /// Byte offset of the opcode or structure at fault.
    pub offset: u64,
    pub message: String,
}
