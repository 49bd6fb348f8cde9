//! Optional payload capture: the request and response bodies of a call, sealed with
//! AES-256-GCM under a key from a file, stored in the call's audit entry.
//!
//! Why sealed and off by default: payloads are the personal data the log must never hold
//! in the clear, yet an investigation sometimes needs them. Sealing keeps them provable
//! (they are inside the entry's leaf hash) but readable only with the capture key, which
//! can live elsewhere than the log and be destroyed to forget them all at once (crypto
//! shredding). Each body has its own random nonce; the associated data binds it to the
//! call's request id and its role, so a sealed body cannot be moved to another entry.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The sealed bodies of one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedPayload {
    /// Always `AES-256-GCM`.
    pub alg: String,
    /// First 8 bytes of SHA-256 of the key, hex: which key opens it.
    pub key_id: String,
    /// base64(nonce || ciphertext || tag), absent when there was no body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// Set when a body was over the capture limit and left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omitted: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CaptureError {
    #[error("capture key: {0}")]
    Key(String),
    #[error("sealed with key {found}, not this one ({expected})")]
    WrongKey { expected: String, found: String },
    #[error("the sealed {0} does not open: altered, moved from another entry, or another key")]
    Open(&'static str),
}

pub struct PayloadSealer {
    key: LessSafeKey,
    key_id: String,
    max_bytes: usize,
}

impl std::fmt::Debug for PayloadSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadSealer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl PayloadSealer {
    /// A key file holds 32 random bytes, raw or as 64 hex digits (`openssl rand -hex 32`).
    pub fn from_key_file_bytes(bytes: &[u8], max_bytes: usize) -> Result<Self, CaptureError> {
        let text = std::str::from_utf8(bytes).map(str::trim).unwrap_or("");
        let key: Vec<u8> = if bytes.len() == 32 {
            bytes.to_vec()
        } else if text.len() == 64 {
            hex::decode(text).map_err(|_| CaptureError::Key("64 characters but not hex".into()))?
        } else {
            return Err(CaptureError::Key(
                "must hold 32 random bytes, raw or as 64 hex digits (make one with `openssl rand -hex 32`)".into(),
            ));
        };
        let key_id = hex::encode(&Sha256::digest(&key)[..8]);
        let unbound = UnboundKey::new(&AES_256_GCM, &key)
            .map_err(|_| CaptureError::Key("not an AES-256 key".into()))?;
        Ok(PayloadSealer {
            key: LessSafeKey::new(unbound),
            key_id,
            max_bytes,
        })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Seal the bodies of call `request_id`; bodies over the limit are left out and said so.
    pub fn seal(&self, request_id: &str, request: &[u8], response: &[u8]) -> SealedPayload {
        let mut omitted = Vec::new();
        let mut one = |role: &'static str, body: &[u8]| -> Option<String> {
            if body.is_empty() {
                return None;
            }
            if body.len() > self.max_bytes {
                omitted.push(format!("{role} of {} bytes", body.len()));
                return None;
            }
            let mut nonce = [0u8; NONCE_LEN];
            if getrandom::fill(&mut nonce).is_err() {
                omitted.push(format!("{role}: no OS randomness"));
                return None;
            }
            let mut sealed = body.to_vec();
            let aad = format!("palisade-audit-payload:{request_id}:{role}");
            if self
                .key
                .seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(aad.as_bytes()),
                    &mut sealed,
                )
                .is_err()
            {
                omitted.push(format!("{role}: sealing failed"));
                return None;
            }
            let mut out = nonce.to_vec();
            out.extend_from_slice(&sealed);
            Some(B64.encode(out))
        };
        let request = one("request", request);
        let response = one("response", response);
        SealedPayload {
            alg: "AES-256-GCM".into(),
            key_id: self.key_id.clone(),
            request,
            response,
            omitted: (!omitted.is_empty()).then(|| {
                format!(
                    "over the capture limit or unsealable: {}",
                    omitted.join(", ")
                )
            }),
        }
    }

    /// Open the bodies of call `request_id`: (request, response).
    pub fn open(
        &self,
        request_id: &str,
        sealed: &SealedPayload,
    ) -> Result<(Vec<u8>, Vec<u8>), CaptureError> {
        if sealed.key_id != self.key_id {
            return Err(CaptureError::WrongKey {
                expected: self.key_id.clone(),
                found: sealed.key_id.clone(),
            });
        }
        let one = |role: &'static str, text: &Option<String>| -> Result<Vec<u8>, CaptureError> {
            let Some(text) = text else {
                return Ok(Vec::new());
            };
            let bytes = B64.decode(text).map_err(|_| CaptureError::Open(role))?;
            if bytes.len() < NONCE_LEN {
                return Err(CaptureError::Open(role));
            }
            let (nonce, sealed) = bytes.split_at(NONCE_LEN);
            let nonce =
                Nonce::try_assume_unique_for_key(nonce).map_err(|_| CaptureError::Open(role))?;
            let aad = format!("palisade-audit-payload:{request_id}:{role}");
            let mut buf = sealed.to_vec();
            let plain = self
                .key
                .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
                .map_err(|_| CaptureError::Open(role))?;
            Ok(plain.to_vec())
        };
        Ok((
            one("request", &sealed.request)?,
            one("response", &sealed.response)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_bodies_open_only_with_their_key_and_entry() {
        let sealer = PayloadSealer::from_key_file_bytes(&[7u8; 32], 1024).unwrap();
        let hexkey =
            PayloadSealer::from_key_file_bytes(hex::encode([7u8; 32]).as_bytes(), 1024).unwrap();
        assert_eq!(sealer.key_id(), hexkey.key_id());
        let sealed = sealer.seal("req-1", b"{\"inputs\":[5.1]}", b"{\"outputs\":[]}");
        let json = serde_json::to_string(&sealed).unwrap();
        assert!(!json.contains("5.1") && !json.contains("inputs"));
        assert_eq!(
            hexkey.open("req-1", &sealed).unwrap(),
            (b"{\"inputs\":[5.1]}".to_vec(), b"{\"outputs\":[]}".to_vec())
        );
        // Moved to another entry, or opened with another key: refused.
        assert_eq!(
            sealer.open("req-2", &sealed),
            Err(CaptureError::Open("request"))
        );
        let other = PayloadSealer::from_key_file_bytes(&[8u8; 32], 1024).unwrap();
        assert!(matches!(
            other.open("req-1", &sealed),
            Err(CaptureError::WrongKey { .. })
        ));
        // Two seals of the same body differ (fresh nonces).
        assert_ne!(
            sealer.seal("req-1", b"x", b"").request,
            sealer.seal("req-1", b"x", b"").request
        );
        // Over the limit: left out, and said so.
        let big = sealer.seal("req-3", &[b'a'; 2000], b"ok");
        assert!(big.request.is_none() && big.response.is_some());
        assert!(big.omitted.unwrap().contains("request of 2000 bytes"));
        assert!(PayloadSealer::from_key_file_bytes(b"short", 10).is_err());
    }
}
