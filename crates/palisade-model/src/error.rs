use std::path::PathBuf;

/// Why a model could not be loaded. Each names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Manifest { path: PathBuf, message: String },
    #[error("model '{model}' not found in the repository")]
    NotFound { model: String },
    #[error("model '{model}' has no version '{version}' in its manifest")]
    NoSuchVersion { model: String, version: String },
    #[error(
        "{}: SHA-256 is {actual} but the manifest pins {expected}; the file changed after it was pinned (re-pin it only if you trust the new file)",
        path.display()
    )]
    DigestMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(
        "{}: node '{node}' uses operator '{op}'{} which the runtime (tract) does not support; re-export the model without it",
        path.display(), if domain.is_empty() { String::new() } else { format!(" (domain {domain})") }
    )]
    UnsupportedOperator {
        path: PathBuf,
        node: String,
        op: String,
        domain: String,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    /// The supply-chain checks refused the version: signature, sealing or scanner.
    #[error("{}: {message}", path.display())]
    Refused {
        path: PathBuf,
        /// Short machine-readable reason, recorded in the audit log.
        reason: &'static str,
        message: String,
    },
}

impl ModelError {
    /// Short machine-readable reason for the audit log.
    pub fn reason(&self) -> &'static str {
        match self {
            ModelError::Io { .. } => "model_unreadable",
            ModelError::Manifest { .. } => "bad_manifest",
            ModelError::NotFound { .. } => "not_found",
            ModelError::NoSuchVersion { .. } => "not_found",
            ModelError::DigestMismatch { .. } => "digest_mismatch",
            ModelError::UnsupportedOperator { .. } => "unsupported_operator",
            ModelError::Invalid { .. } => "invalid_model",
            ModelError::Refused { reason, .. } => reason,
        }
    }
}
