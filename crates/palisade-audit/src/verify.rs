//! Offline verification: needs nothing but the file. Reports the first line at fault and
//! what is wrong with it, which is as far as a hash chain can honestly say anything.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{split_sealed, GENESIS, MAX_LINE_BYTES};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifySummary {
    pub events: u64,
    /// Hash of the last line (the chain head), or the genesis value for an empty log.
    pub head: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("{path}: cannot read: {message}")]
    Read { path: String, message: String },
    #[error("line {line}: {problem}")]
    Broken { line: u64, problem: String },
}

/// Verify every line of an audit file.
pub fn verify_file(path: &Path) -> Result<VerifySummary, VerifyError> {
    let file = File::open(path).map_err(|e| VerifyError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    verify_reader(BufReader::new(file), &path.display().to_string())
}

/// Verify a log read from any source; `name` labels read errors.
pub fn verify_reader(mut reader: impl BufRead, name: &str) -> Result<VerifySummary, VerifyError> {
    let read_err = |e: std::io::Error| VerifyError::Read {
        path: name.to_string(),
        message: e.to_string(),
    };
    let mut prev = GENESIS.to_string();
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(read_err)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let broken = |problem: &str| VerifyError::Broken {
            line: line_no,
            problem: problem.to_string(),
        };
        if buf.last() != Some(&b'\n') {
            return Err(broken(if n > MAX_LINE_BYTES {
                "longer than any audit line can be"
            } else {
                "not terminated by a newline (torn write or appended bytes)"
            }));
        }
        let line = std::str::from_utf8(&buf[..n - 1]).map_err(|_| broken("not UTF-8 text"))?;
        let (prefix, hash) = split_sealed(line)
            .ok_or_else(|| broken("not a sealed audit line (no trailing hash)"))?;
        if hex::encode(Sha256::digest(prefix.as_bytes())) != hash {
            return Err(broken(
                "content does not match its hash: the line was edited",
            ));
        }
        #[derive(serde::Deserialize)]
        struct Link {
            seq: u64,
            prev: String,
        }
        let link: Link = serde_json::from_str(line)
            .map_err(|_| broken("sealed, but not a valid audit event"))?;
        if link.prev != prev {
            return Err(broken(&format!(
                "does not follow line {}: its `prev` is not that line's hash (a line was removed, inserted or reordered here)",
                line_no - 1
            )));
        }
        if link.seq != line_no - 1 {
            return Err(broken(&format!(
                "sequence number {} where {} was expected",
                link.seq,
                line_no - 1
            )));
        }
        prev = hash.to_string();
    }
    Ok(VerifySummary {
        events: line_no,
        head: prev,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{sample_event, AuditLog, AuditSink, LOG_FILE};

    fn write_log(dir: &Path, n: u64) -> std::path::PathBuf {
        let (log, report) = AuditLog::open(dir, Duration::from_millis(10)).unwrap();
        for i in 0..n {
            log.record(sample_event(report.next_seq + i)).unwrap();
        }
        log.close();
        dir.join(LOG_FILE)
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn rewrite(path: &Path, lines: &[String]) {
        std::fs::write(
            path,
            lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .unwrap();
    }

    #[test]
    fn intact_log_verifies_and_reopening_continues_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        write_log(dir.path(), 5);
        let path = write_log(dir.path(), 3);
        let summary = verify_file(&path).unwrap();
        assert_eq!(summary.events, 8);
        assert_eq!(summary.head.len(), 64);
    }

    #[test]
    fn one_changed_byte_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_log(dir.path(), 10);
        let mut bytes = std::fs::read(&path).unwrap();
        let line4 = lines(&path)[..3].iter().map(|l| l.len() + 1).sum::<usize>();
        let at = line4 + bytes[line4..].iter().position(|&b| b == b'2').unwrap();
        bytes[at] = b'3'; // status or latency digit in line 4
        std::fs::write(&path, bytes).unwrap();
        let err = verify_file(&path).unwrap_err();
        assert!(matches!(err, VerifyError::Broken { line: 4, .. }), "{err}");
        assert!(err.to_string().contains("edited"));
    }

    #[test]
    fn removed_and_reordered_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_log(dir.path(), 6);
        let original = lines(&path);

        let mut removed = original.clone();
        removed.remove(2);
        rewrite(&path, &removed);
        assert!(matches!(
            verify_file(&path),
            Err(VerifyError::Broken { line: 3, .. })
        ));

        let mut swapped = original.clone();
        swapped.swap(3, 4);
        rewrite(&path, &swapped);
        assert!(matches!(
            verify_file(&path),
            Err(VerifyError::Broken { line: 4, .. })
        ));

        let mut first_gone = original.clone();
        first_gone.remove(0);
        rewrite(&path, &first_gone);
        assert!(matches!(
            verify_file(&path),
            Err(VerifyError::Broken { line: 1, .. })
        ));
    }

    #[test]
    fn torn_tail_is_cut_on_open_and_a_bad_tail_refuses_to_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_log(dir.path(), 3);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut f, b"{\"seq\":3,\"time\":").unwrap();
        drop(f);
        assert!(verify_file(&path).is_err());
        let (log, report) = AuditLog::open(dir.path(), Duration::from_millis(10)).unwrap();
        assert_eq!(
            report,
            crate::OpenReport {
                next_seq: 3,
                truncated_bytes: 16
            }
        );
        log.record(sample_event(3)).unwrap();
        log.close();
        assert_eq!(verify_file(&path).unwrap().events, 4);

        let mut all = lines(&path);
        all[3] = all[3].replace("req-3", "req-X");
        rewrite(&path, &all);
        let err = AuditLog::open(dir.path(), Duration::from_millis(10))
            .err()
            .unwrap();
        assert!(err.to_string().contains("palisade audit verify"), "{err}");
    }

    #[test]
    fn empty_log_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        std::fs::write(&path, b"").unwrap();
        assert_eq!(
            verify_file(&path).unwrap(),
            VerifySummary {
                events: 0,
                head: GENESIS.into()
            }
        );
    }
}
