//! Key-encryption keys: what wraps each file's data key.
//!
//! Why an interface: the key that unlocks every model should live in a KMS or HSM, where it
//! never leaves. [`KeyProvider`] is the seam for that; the local provider keeps a 256-bit
//! key in a file (0600) or an environment variable, which is what a single host has.

use std::path::{Path, PathBuf};

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::SealError;

/// A 256-bit data key. Zeroed when dropped.
pub type DataKey = Zeroizing<[u8; 32]>;

/// Wraps and unwraps data keys. `context` is bound to the wrapped key (as AEAD associated
/// data), so a wrapped key moved to another file, model or version does not unwrap.
pub trait KeyProvider: Send + Sync {
    /// Names the key-encryption key; recorded beside every key it wraps, so a wrong key is
    /// named as such rather than reported as tampering.
    fn kek_id(&self) -> &str;
    fn wrap(&self, dek: &DataKey, context: &[u8]) -> Result<Vec<u8>, SealError>;
    fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<DataKey, SealError>;
}

/// Where a key-encryption key comes from: `file:PATH` or `env:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    File(PathBuf),
    Env(String),
}

impl KekSource {
    pub fn parse(spec: &str) -> Result<KekSource, String> {
        if let Some(path) = spec.strip_prefix("file:") {
            Ok(KekSource::File(PathBuf::from(path)))
        } else if let Some(name) = spec.strip_prefix("env:") {
            Ok(KekSource::Env(name.to_string()))
        } else {
            Err(format!(
                "'{spec}' is not a key source: use file:PATH (a file holding 64 hex digits) or env:NAME"
            ))
        }
    }

    /// Resolve a `file:` path against the folder relative paths are relative to.
    pub fn relative_to(self, base: &Path) -> KekSource {
        match self {
            KekSource::File(p) if p.is_relative() => KekSource::File(base.join(p)),
            other => other,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            KekSource::File(p) => format!("key file {}", p.display()),
            KekSource::Env(n) => format!("environment variable {n}"),
        }
    }
}

/// A key-encryption key held in this process.
pub struct LocalKek {
    key: LessSafeKey,
    id: String,
}

impl LocalKek {
    pub fn load(source: &KekSource) -> Result<LocalKek, SealError> {
        let bad = |message: String| SealError::Key {
            origin: source.describe(),
            message,
        };
        let text = Zeroizing::new(match source {
            KekSource::File(path) => {
                std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?
            }
            KekSource::Env(name) => std::env::var(name)
                .map_err(|_| bad("is not set (or not UTF-8); put 64 hex digits in it".into()))?,
        });
        let mut raw = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), &mut raw[..]).map_err(|_| {
            bad("must hold exactly 64 hex digits (a 256-bit key); make one with `palisade models keygen --kek`".into())
        })?;
        LocalKek::from_bytes(&raw).map_err(|e| bad(e.to_string()))
    }

    pub fn from_bytes(raw: &[u8; 32]) -> Result<LocalKek, SealError> {
        let id_hash = Sha256::new()
            .chain_update(b"palisade kek id\0")
            .chain_update(raw)
            .finalize();
        let key =
            UnboundKey::new(&AES_256_GCM, raw).map_err(|_| SealError::Crypto("bad key length"))?;
        Ok(LocalKek {
            key: LessSafeKey::new(key),
            id: format!("local:{}", hex::encode(&id_hash[..8])),
        })
    }

    /// A fresh key as the text a key file holds.
    pub fn generate_text() -> Result<Zeroizing<String>, SealError> {
        let mut raw = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut raw[..]).map_err(|_| SealError::Crypto("no randomness"))?;
        Ok(Zeroizing::new(format!("{}\n", hex::encode(&raw[..]))))
    }
}

impl KeyProvider for LocalKek {
    fn kek_id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, dek: &DataKey, context: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| SealError::Crypto("no randomness"))?;
        let mut out = dek.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut out,
            )
            .map_err(|_| SealError::Crypto("wrapping failed"))?;
        let mut wrapped = nonce.to_vec();
        wrapped.extend_from_slice(&out);
        Ok(wrapped)
    }

    fn unwrap(&self, wrapped: &[u8], context: &[u8]) -> Result<DataKey, SealError> {
        if wrapped.len() != NONCE_LEN + 32 + 16 {
            return Err(SealError::Crypto("wrapped key has the wrong length"));
        }
        let (nonce, body) = wrapped.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Crypto("bad nonce"))?;
        let mut buf = Zeroizing::new(body.to_vec());
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context), &mut buf)
            .map_err(|_| SealError::Crypto("wrapped key does not authenticate"))?;
        let mut dek = Zeroizing::new([0u8; 32]);
        dek.copy_from_slice(plain);
        Ok(dek)
    }
}
