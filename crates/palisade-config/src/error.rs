use std::fmt;
use std::path::{Path, PathBuf};

use crate::Finding;

/// Why a config could not be used. Every variant names the file, and the line where known.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read config: {message}", file.display())]
    Read { file: PathBuf, message: String },
    #[error("{}{}: {message}", file.display(), LineSuffix(*line))]
    Syntax {
        file: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("{}{}: `{key}`: {message}", file.display(), LineSuffix(*line))]
    Invalid {
        file: PathBuf,
        line: Option<usize>,
        key: String,
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(file: &Path, source: &str, finding: Finding) -> Self {
        ConfigError::Invalid {
            file: file.to_path_buf(),
            line: crate::key_line(source, &finding.key),
            key: finding.key,
            message: finding.message,
        }
    }
}

struct LineSuffix(Option<usize>);

impl fmt::Display for LineSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(line) => write!(f, ":{line}"),
            None => Ok(()),
        }
    }
}
