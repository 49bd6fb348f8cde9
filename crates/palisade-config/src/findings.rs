use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One thing `palisade config check` (and the server at start) has to say about a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// Dotted key at fault, e.g. `data_plane.dangerous_plaintext`.
    pub key: String,
    pub line: Option<usize>,
    pub message: String,
}

impl Finding {
    pub fn error(key: &str, message: String) -> Self {
        Finding {
            severity: Severity::Error,
            key: key.to_string(),
            line: None,
            message,
        }
    }

    pub fn warning(key: &str, message: String) -> Self {
        Finding {
            severity: Severity::Warning,
            key: key.to_string(),
            line: None,
            message,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        match self.line {
            Some(line) => write!(f, "{level}: line {line}: `{}`: {}", self.key, self.message),
            None => write!(f, "{level}: `{}`: {}", self.key, self.message),
        }
    }
}
