//! The identity store for API keys.
//!
//! A token is `pal_<id>_<secret>`: a 64-bit public id to find the record, and a 256-bit
//! secret of which only the SHA-256 is kept (a plain hash suffices: the secret is random,
//! not a password, so there is nothing to brute-force). Comparison is constant-time and an
//! unknown id costs the same as a wrong secret. The file is JSON, mode 0600, rewritten
//! atomically; the server reloads it when it changes, so `palisade keys revoke` takes effect
//! on a running server within a second.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::principal::{AuthMethod, Principal, PrincipalKind};
use subtle::ConstantTimeEq;

const PREFIX: &str = "pal_";
const ID_HEX: usize = 16;
const SECRET_HEX: usize = 64;
/// Longest `Authorization` value looked at; anything longer is not one of our tokens.
pub const MAX_TOKEN_BYTES: usize = 256;
const MAX_KEYS_FILE_BYTES: u64 = 16 << 20;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    pub role: String,
    /// Hex SHA-256 of the secret part of the token.
    pub secret_sha256: String,
    pub created_at: u64,
    pub expires_at: Option<u64>,
    pub revoked_at: Option<u64>,
}

impl KeyRecord {
    pub fn status(&self, now: u64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "active"
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    keys: Vec<KeyRecord>,
}

/// Why a token was not accepted. The client sees one 401 for all of them; the audit log
/// keeps the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRejection {
    #[error("malformed token")]
    Malformed,
    #[error("unknown key")]
    Unknown,
    #[error("wrong secret")]
    WrongSecret,
    #[error("revoked key")]
    Revoked,
    #[error("expired key")]
    Expired,
}

impl KeyRejection {
    pub fn reason(self) -> &'static str {
        match self {
            KeyRejection::Malformed => "malformed_token",
            KeyRejection::Unknown => "unknown_key",
            KeyRejection::WrongSecret => "wrong_secret",
            KeyRejection::Revoked => "revoked_key",
            KeyRejection::Expired => "expired_key",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("no key with id '{0}'; `palisade keys list` shows the ids")]
    NoSuchKey(String),
    #[error("key '{0}' is already revoked")]
    AlreadyRevoked(String),
    #[error("role '{role}' is not defined in the config; known roles: {known}")]
    UnknownRole { role: String, known: String },
    #[error("key name must be 1 to 64 characters of letters, digits, '-', '_', '.' or '@'")]
    BadName,
    #[error("cannot draw random bytes: {0}")]
    Random(String),
    #[error("expiry '{0}' is not a duration; write e.g. \"30d\" or \"12h\"")]
    BadExpiry(String),
    #[error(
        "expiry '{0}' is over the longest key lifetime (3650d, ten years); rotate keys instead"
    )]
    ExpiryTooLong(String),
}

/// The longest lifetime a key may be given: a key that outlives its holder's job is a
/// credential nobody remembers to revoke.
pub const MAX_KEY_LIFETIME: std::time::Duration = std::time::Duration::from_secs(3650 * 86_400);

/// When a key created at `now` with lifetime `text` ("30d", "12h") expires.
pub fn expiry_from(text: &str, now: u64) -> Result<u64, KeyStoreError> {
    let shown: String = text.chars().take(64).filter(|c| !c.is_control()).collect();
    let lifetime =
        humantime::parse_duration(text).map_err(|_| KeyStoreError::BadExpiry(shown.clone()))?;
    if lifetime > MAX_KEY_LIFETIME {
        return Err(KeyStoreError::ExpiryTooLong(shown));
    }
    if lifetime.is_zero() {
        return Err(KeyStoreError::BadExpiry(shown));
    }
    Ok(now.saturating_add(lifetime.as_secs()))
}

/// A time in seconds since 1970 as RFC 3339, whatever its value (a hand-edited key file can
/// hold any number): out of the calendar's range, the number itself.
pub fn format_unix_time(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{secs} (seconds since 1970, out of range)"))
}

pub struct KeyStore {
    path: PathBuf,
    by_id: RwLock<Arc<HashMap<String, KeyRecord>>>,
    /// Modification time of the file last read, to notice edits by the CLI.
    seen: Mutex<Option<SystemTime>>,
    /// Serializes read-modify-write of the file within this process.
    write: Mutex<()>,
}

impl KeyStore {
    /// Open the store; a missing file is an empty store (created on first write).
    pub fn open(path: &Path) -> Result<KeyStore, KeyStoreError> {
        let store = KeyStore {
            path: path.to_path_buf(),
            by_id: RwLock::new(Arc::new(HashMap::new())),
            seen: Mutex::new(None),
            write: Mutex::new(()),
        };
        store.reload()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Re-read the file if it changed since the last read. Returns whether it did.
    pub fn reload_if_changed(&self) -> Result<bool, KeyStoreError> {
        let mtime = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let changed = self.seen.lock().map(|seen| *seen != mtime).unwrap_or(true);
        if changed {
            self.reload()?;
        }
        Ok(changed)
    }

    fn reload(&self) -> Result<(), KeyStoreError> {
        let mtime = std::fs::metadata(&self.path)
            .and_then(|m| m.modified())
            .ok();
        let file = self.read_file()?;
        let map = file.keys.into_iter().map(|k| (k.id.clone(), k)).collect();
        if let Ok(mut guard) = self.by_id.write() {
            *guard = Arc::new(map);
        }
        if let Ok(mut seen) = self.seen.lock() {
            *seen = mtime;
        }
        Ok(())
    }

    fn read_file(&self) -> Result<KeysFile, KeyStoreError> {
        let err = |message: String| KeyStoreError::File {
            path: self.path.clone(),
            message,
        };
        match std::fs::metadata(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(KeysFile::default()),
            Err(e) => return Err(err(e.to_string())),
            Ok(m) if m.len() > MAX_KEYS_FILE_BYTES => {
                return Err(err(format!(
                    "{} bytes, over the {MAX_KEYS_FILE_BYTES}-byte limit",
                    m.len()
                )))
            }
            Ok(_) => {}
        }
        let text = std::fs::read_to_string(&self.path).map_err(|e| err(e.to_string()))?;
        let file: KeysFile =
            serde_json::from_str(&text).map_err(|e| err(format!("not a valid keys file: {e}")))?;
        for k in &file.keys {
            if k.id.len() != ID_HEX || k.secret_sha256.len() != 64 {
                return Err(err(format!("key '{}' has a malformed id or hash", k.id)));
            }
        }
        Ok(file)
    }

    fn snapshot(&self) -> Arc<HashMap<String, KeyRecord>> {
        match self.by_id.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// All keys, oldest first.
    pub fn list(&self) -> Vec<KeyRecord> {
        let mut keys: Vec<KeyRecord> = self.snapshot().values().cloned().collect();
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        keys
    }

    /// Create a key now. The token is returned once and never stored.
    pub fn create(
        &self,
        name: &str,
        role: &str,
        expires_at: Option<u64>,
    ) -> Result<(KeyRecord, String), KeyStoreError> {
        self.create_at(name, role, expires_at, now_secs())
    }

    /// [`KeyStore::create`], recording `now` (Unix seconds) as its creation time: the gate
    /// passes the time the admin call arrived, the clock every decision on it reads.
    pub fn create_at(
        &self,
        name: &str,
        role: &str,
        expires_at: Option<u64>,
        now: u64,
    ) -> Result<(KeyRecord, String), KeyStoreError> {
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
        {
            return Err(KeyStoreError::BadName);
        }
        let mut raw = [0u8; 8 + 32];
        getrandom::fill(&mut raw).map_err(|e| KeyStoreError::Random(e.to_string()))?;
        let id = hex::encode(&raw[..8]);
        let secret = hex::encode(&raw[8..]);
        let record = KeyRecord {
            id: id.clone(),
            name: name.to_string(),
            role: role.to_string(),
            secret_sha256: hex::encode(Sha256::digest(secret.as_bytes())),
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        self.modify(|keys| keys.push(record.clone()))?;
        Ok((record, format!("{PREFIX}{id}_{secret}")))
    }

    /// Revoke a key now: it stays listed (for the audit trail) and is refused from now on.
    pub fn revoke(&self, id: &str) -> Result<KeyRecord, KeyStoreError> {
        self.revoke_at(id, now_secs())
    }

    /// [`KeyStore::revoke`] at `now` (Unix seconds).
    pub fn revoke_at(&self, id: &str, now: u64) -> Result<KeyRecord, KeyStoreError> {
        let mut out = Err(KeyStoreError::NoSuchKey(id.to_string()));
        self.modify(|keys| {
            if let Some(k) = keys.iter_mut().find(|k| k.id == id) {
                if k.revoked_at.is_some() {
                    out = Err(KeyStoreError::AlreadyRevoked(id.to_string()));
                } else {
                    k.revoked_at = Some(now);
                    out = Ok(k.clone());
                }
            }
        })?;
        out
    }

    fn modify(&self, f: impl FnOnce(&mut Vec<KeyRecord>)) -> Result<(), KeyStoreError> {
        let _guard = self.write.lock().map_err(|_| KeyStoreError::File {
            path: self.path.clone(),
            message: "an earlier write panicked".into(),
        })?;
        let err = |e: std::io::Error| KeyStoreError::File {
            path: self.path.clone(),
            message: e.to_string(),
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(err)?;
        // The CLI and a running server may both write: an advisory lock orders them.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.with_extension("lock"))
            .map_err(err)?;
        lock.lock().map_err(err)?;
        let mut file = self.read_file()?;
        f(&mut file.keys);
        let text = serde_json::to_string_pretty(&file).map_err(|e| KeyStoreError::File {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        palisade_files::write_private_atomic(&self.path, text.as_bytes()).map_err(err)?;
        self.reload()
    }

    /// Check a presented token. Runs in the same time whether the id is unknown or the
    /// secret is wrong, so timing does not reveal which key ids exist.
    pub fn authenticate(&self, token: &str, now: u64) -> Result<Principal, KeyRejection> {
        let (id, secret) = parse_token(token).ok_or(KeyRejection::Malformed)?;
        let presented = Sha256::digest(secret.as_bytes());
        let keys = self.snapshot();
        let record = keys.get(id);
        let mut stored = [0u8; 32];
        let found =
            record.is_some_and(|r| hex::decode_to_slice(&r.secret_sha256, &mut stored).is_ok());
        let matches: bool = presented.as_slice().ct_eq(&stored).into();
        let record = match record {
            Some(r) if found && matches => r,
            Some(_) => return Err(KeyRejection::WrongSecret),
            None => return Err(KeyRejection::Unknown),
        };
        if record.revoked_at.is_some() {
            return Err(KeyRejection::Revoked);
        }
        if record.expires_at.is_some_and(|e| e <= now) {
            return Err(KeyRejection::Expired);
        }
        let mut principal = Principal::new(
            PrincipalKind::ApiKey,
            record.id.clone(),
            vec![record.role.clone()],
            AuthMethod::ApiKey,
        );
        principal.label = record.name.clone();
        Ok(principal)
    }
}

/// The key id a token claims, if it is shaped like one of ours (for back-off bookkeeping).
pub fn key_id_of(token: &str) -> Option<&str> {
    let (id, _) = token.strip_prefix(PREFIX)?.split_once('_')?;
    (id.len() == ID_HEX
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then_some(id)
}

fn parse_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    (hex(id, ID_HEX) && hex(secret, SECRET_HEX)).then_some((id, secret))
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, KeyStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::open(&dir.path().join("keys/keys.json")).unwrap();
        (dir, store)
    }

    #[test]
    fn created_key_authenticates_and_only_its_hash_is_stored() {
        let (_dir, store) = store();
        let (record, token) = store.create("ci", "client", None).unwrap();
        assert!(token.starts_with("pal_") && token.len() == 4 + 16 + 1 + 64);
        let p = store.authenticate(&token, now_secs()).unwrap();
        assert_eq!(p.id, format!("key:{}", record.id));
        assert_eq!(
            (p.label.as_str(), p.roles.as_slice()),
            ("ci", &["client".to_string()][..])
        );
        assert_eq!(p.kind, PrincipalKind::ApiKey);
        let file = std::fs::read_to_string(store.path()).unwrap();
        let secret = token.rsplit('_').next().unwrap();
        assert!(!file.contains(secret));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(store.path())
                    .unwrap()
                    .permissions()
                    .mode()
                    & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn wrong_unknown_revoked_expired_and_malformed_are_told_apart_internally() {
        let (_dir, store) = store();
        let (rec, token) = store.create("a", "client", Some(now_secs() + 60)).unwrap();
        let now = now_secs();
        let mut wrong = token.clone();
        wrong.replace_range(
            token.len() - 1..,
            if token.ends_with('0') { "1" } else { "0" },
        );
        assert_eq!(
            store.authenticate(&wrong, now),
            Err(KeyRejection::WrongSecret)
        );
        let unknown = format!("pal_{}_{}", "0".repeat(16), "0".repeat(64));
        assert_eq!(
            store.authenticate(&unknown, now),
            Err(KeyRejection::Unknown)
        );
        assert_eq!(
            store.authenticate("pal_xyz", now),
            Err(KeyRejection::Malformed)
        );
        assert_eq!(
            store.authenticate(&token.to_uppercase(), now),
            Err(KeyRejection::Malformed)
        );
        assert_eq!(
            store.authenticate(&token, now + 61),
            Err(KeyRejection::Expired)
        );
        store.revoke(&rec.id).unwrap();
        assert_eq!(store.authenticate(&token, now), Err(KeyRejection::Revoked));
        assert!(matches!(
            store.revoke(&rec.id),
            Err(KeyStoreError::AlreadyRevoked(_))
        ));
        assert!(matches!(
            store.revoke("nope"),
            Err(KeyStoreError::NoSuchKey(_))
        ));
    }

    #[test]
    fn another_process_writing_the_file_is_picked_up() {
        let (_dir, store) = store();
        let (_, token) = store.create("a", "client", None).unwrap();
        let other = KeyStore::open(store.path()).unwrap();
        let id = other.list()[0].id.clone();
        // Make sure the mtime moves even on coarse-grained file systems.
        std::thread::sleep(std::time::Duration::from_millis(20));
        other.revoke(&id).unwrap();
        let _ = store.reload_if_changed().unwrap();
        assert_eq!(
            store.authenticate(&token, now_secs()),
            Err(KeyRejection::Revoked)
        );
    }
}
