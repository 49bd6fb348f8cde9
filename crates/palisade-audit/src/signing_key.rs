//! The checkpoint signing key on disk: read it, or create it (0600) on first start.
//!
//! Why the server may create it: a log without a key cannot sign anything, and asking every
//! operator to run a key ceremony before the first start makes the unsigned path the easy
//! one. The verifier key goes next to the log (`log.pub`) and into the start-up log line;
//! auditors should keep their own copy, since a key read from the log's folder proves
//! nothing against someone who can rewrite that folder.

use std::path::Path;

use crate::note::SignerKey;
use crate::AuditError;

/// What [`load_or_create`] found.
pub struct LoadedKey {
    pub key: SignerKey,
    pub created: bool,
    /// The file can be read by others than its owner.
    pub too_open: bool,
}

pub fn load_or_create(path: &Path) -> Result<LoadedKey, AuditError> {
    let err = |message: String| AuditError::Open {
        path: path.display().to_string(),
        message,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let key = SignerKey::parse(&text).map_err(|e| {
                err(format!(
                    "{e}; the audit signing key is a C2SP note key `PRIVATE+KEY+<name>+<hash>+<key>` (delete the file to have a new one made, with a new audit folder)"
                ))
            })?;
            Ok(LoadedKey {
                key,
                created: false,
                too_open: palisade_files::readable_by_others(path),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut suffix = [0u8; 4];
            getrandom::fill(&mut suffix).map_err(|e| err(e.to_string()))?;
            let name = format!("palisade.local/audit/{}", hex::encode(suffix));
            let key = SignerKey::generate(&name).map_err(|e| err(e.to_string()))?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| err(e.to_string()))?;
            }
            palisade_files::create_private(path, key.private_text().as_bytes())
                .map_err(|e| err(e.to_string()))?;
            Ok(LoadedKey {
                key,
                created: true,
                too_open: false,
            })
        }
        Err(e) => Err(err(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/audit.key");
        let first = load_or_create(&path).unwrap();
        assert!(first.created && !first.too_open);
        let again = load_or_create(&path).unwrap();
        assert!(!again.created);
        assert_eq!(again.key.verifier(), first.key.verifier());
        std::fs::write(&path, "not a key").unwrap();
        let e = load_or_create(&path).err().unwrap().to_string();
        assert!(e.contains("audit.key") && e.contains("PRIVATE+KEY"), "{e}");
        assert!(!e.contains("not a key"));
    }
}
