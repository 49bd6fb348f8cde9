//! Signed model versions: a manifest of every file's SHA-256, signed with Ed25519.
//!
//! The layout follows the OpenSSF model-signing format (sigstore/model-transparency v1.0):
//! `model.sig` is a Sigstore bundle whose DSSE envelope carries an in-toto statement with
//! predicate type `https://model_signing/signature/v1.0`. The predicate lists `resources`
//! (name, algorithm, digest) sorted by name; the one subject is the model, with the SHA-256
//! of all resource digests in that order. Where it departs: the key is Ed25519 (the issue's
//! choice; model-transparency's key mode uses ECDSA), there is no transparency-log entry,
//! and the subject name is `model@version`, so a signature made for one model or version
//! does not vouch for another.
//!
//! Keys are PEM: PKCS#8 for the private key, SubjectPublicKeyInfo for the public key, so
//! `openssl genpkey -algorithm ed25519` keys work too.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub const SIGNATURE_FILE: &str = "model.sig";
/// The resource under which a signature covers `../model.toml`'s governance fields
/// ([`crate::Manifest::governance_digest`]); `#` keeps it apart from any file name.
pub const GOVERNANCE_RESOURCE: &str = "model.toml#governance";
const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
const MAX_SIGNATURE_BYTES: u64 = 4 << 20;
const MAX_RESOURCES: usize = 4096;

const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const SPKI_ED25519_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Why signing or verification failed. Each names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Key { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Malformed { path: PathBuf, message: String },
    #[error("{}: no signature by a trusted key (signed by {signers}); add the signer's public key to models.trusted_keys if you trust it", path.display())]
    Untrusted { path: PathBuf, signers: String },
    #[error("{}: {message}", path.display())]
    Mismatch { path: PathBuf, message: String },
}

fn pem_decode(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = text.split(&begin).nth(1)?.split(&end).next()?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

fn pem_encode(der: &[u8], label: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// An Ed25519 key that signs model versions.
pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl SigningKey {
    /// A fresh key: (private PEM, public PEM).
    pub fn generate() -> Result<(Zeroizing<String>, String), String> {
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut seed[..]).map_err(|e| e.to_string())?;
        let mut der = Zeroizing::new(PKCS8_ED25519_PREFIX.to_vec());
        der.extend_from_slice(&seed[..]);
        let key = SigningKey::from_der(&der)?;
        Ok((
            Zeroizing::new(pem_encode(&der, "PRIVATE KEY")),
            key.public().to_pem(),
        ))
    }

    fn from_der(der: &[u8]) -> Result<SigningKey, String> {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map(|pair| SigningKey { pair })
            .map_err(|e| format!("not an Ed25519 PKCS#8 key ({e})"))
    }

    pub fn read(path: &Path) -> Result<SigningKey, SignError> {
        let bad = |message: String| SignError::Key {
            path: path.to_path_buf(),
            message,
        };
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?);
        let der = Zeroizing::new(pem_decode(&text, "PRIVATE KEY").ok_or_else(|| {
            bad("expected a PEM `PRIVATE KEY` (make one with `palisade models keygen --signing-key`)".into())
        })?);
        SigningKey::from_der(&der).map_err(bad)
    }

    pub fn public(&self) -> VerifyingKey {
        let mut raw = [0u8; 32];
        raw.copy_from_slice(self.pair.public_key().as_ref());
        VerifyingKey::from_raw(raw)
    }
}

/// A trusted public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    raw: [u8; 32],
    /// Hex SHA-256 of the SubjectPublicKeyInfo: how bundles name their signer.
    pub id: String,
}

impl VerifyingKey {
    fn from_raw(raw: [u8; 32]) -> VerifyingKey {
        let id = hex::encode(Sha256::digest(Self::spki(&raw)));
        VerifyingKey { raw, id }
    }

    fn spki(raw: &[u8; 32]) -> Vec<u8> {
        let mut der = SPKI_ED25519_PREFIX.to_vec();
        der.extend_from_slice(raw);
        der
    }

    pub fn to_pem(&self) -> String {
        pem_encode(&Self::spki(&self.raw), "PUBLIC KEY")
    }

    pub fn parse_pem(text: &str) -> Result<VerifyingKey, String> {
        let der = pem_decode(text, "PUBLIC KEY")
            .ok_or("expected a PEM `PUBLIC KEY` (an Ed25519 SubjectPublicKeyInfo)")?;
        let raw = der
            .strip_prefix(&SPKI_ED25519_PREFIX[..])
            .filter(|r| r.len() == 32)
            .ok_or("not an Ed25519 public key")?;
        let mut out = [0u8; 32];
        out.copy_from_slice(raw);
        Ok(VerifyingKey::from_raw(out))
    }

    pub fn read(path: &Path) -> Result<VerifyingKey, SignError> {
        let text = std::fs::read_to_string(path).map_err(|e| SignError::Key {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        VerifyingKey::parse_pem(&text).map_err(|message| SignError::Key {
            path: path.to_path_buf(),
            message: message.to_string(),
        })
    }
}

/// DSSE pre-authentication encoding: what the signature covers.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// What a verified signature vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedManifest {
    /// `model@version`.
    pub subject: String,
    /// File name → lowercase hex SHA-256.
    pub files: BTreeMap<String, String>,
    pub key_id: String,
}

/// Sign `files` (name → hex SHA-256) as `subject`; returns the bundle text for `model.sig`.
pub fn sign(subject: &str, files: &BTreeMap<String, String>, key: &SigningKey) -> String {
    let mut root = Sha256::new();
    let resources: Vec<serde_json::Value> = files
        .iter()
        .map(|(name, digest)| {
            root.update(hex::decode(digest).unwrap_or_default());
            json!({"name": name, "algorithm": "sha256", "digest": digest})
        })
        .collect();
    let statement = json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject, "digest": {"sha256": hex::encode(root.finalize())}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": {
                "method": "files",
                "hash_type": "sha256",
                "allow_symlinks": false,
                "ignore_paths": [SIGNATURE_FILE],
            },
            "resources": resources,
        },
    });
    let payload = statement.to_string();
    let sig = key.pair.sign(&pae(PAYLOAD_TYPE, payload.as_bytes()));
    let b64 = base64::engine::general_purpose::STANDARD;
    let key_id = key.public().id;
    let bundle = json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": key_id}},
        "dsseEnvelope": {
            "payload": b64.encode(&payload),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": b64.encode(sig.as_ref()), "keyid": key_id}],
        },
    });
    format!("{bundle:#}\n")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    media_type: String,
    dsse_envelope: Envelope,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload: String,
    payload_type: String,
    signatures: Vec<Signature>,
}

#[derive(Deserialize)]
struct Signature {
    sig: String,
    #[serde(default)]
    keyid: String,
}

/// Check a bundle against the trusted keys and return what it vouches for. `path` only
/// names the signature in errors.
pub fn verify(
    path: &Path,
    text: &str,
    trusted: &[VerifyingKey],
) -> Result<SignedManifest, SignError> {
    let malformed = |message: String| SignError::Malformed {
        path: path.to_path_buf(),
        message,
    };
    let bundle: Bundle = serde_json::from_str(text)
        .map_err(|e| malformed(format!("not a signature bundle: {e}")))?;
    if bundle.media_type != BUNDLE_MEDIA_TYPE {
        return Err(malformed(format!(
            "mediaType '{}' is not {BUNDLE_MEDIA_TYPE}",
            bundle.media_type
        )));
    }
    let env = bundle.dsse_envelope;
    if env.payload_type != PAYLOAD_TYPE {
        return Err(malformed(format!(
            "payloadType '{}' is not {PAYLOAD_TYPE}",
            env.payload_type
        )));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64
        .decode(&env.payload)
        .map_err(|_| malformed("dsseEnvelope.payload is not base64".into()))?;
    let signed = pae(PAYLOAD_TYPE, &payload);
    let mut key_id = None;
    'sigs: for s in env.signatures.iter().take(16) {
        let Ok(sig) = b64.decode(&s.sig) else {
            continue;
        };
        for key in trusted {
            if (s.keyid.is_empty() || s.keyid == key.id)
                && UnparsedPublicKey::new(&ED25519, key.raw)
                    .verify(&signed, &sig)
                    .is_ok()
            {
                key_id = Some(key.id.clone());
                break 'sigs;
            }
        }
    }
    let Some(key_id) = key_id else {
        let signers: Vec<&str> = env.signatures.iter().map(|s| s.keyid.as_str()).collect();
        return Err(SignError::Untrusted {
            path: path.to_path_buf(),
            signers: if signers.iter().all(|s| s.is_empty()) {
                "an unnamed key".into()
            } else {
                signers.join(", ")
            },
        });
    };
    // Only now, with the signature good, is the statement worth reading.
    let statement: serde_json::Value = serde_json::from_slice(&payload)
        .map_err(|e| malformed(format!("statement is not JSON: {e}")))?;
    if statement["_type"] != STATEMENT_TYPE || statement["predicateType"] != PREDICATE_TYPE {
        return Err(malformed(format!(
            "statement is not an in-toto {STATEMENT_TYPE} with predicate {PREDICATE_TYPE}"
        )));
    }
    let subjects = statement["subject"].as_array().filter(|s| s.len() == 1);
    let subject =
        subjects.ok_or_else(|| malformed("statement must have exactly one subject".into()))?;
    let name = subject[0]["name"].as_str().unwrap_or_default().to_string();
    let root = subject[0]["digest"]["sha256"].as_str().unwrap_or_default();
    let resources = statement["predicate"]["resources"]
        .as_array()
        .filter(|r| r.len() <= MAX_RESOURCES)
        .ok_or_else(|| {
            malformed(format!(
                "predicate.resources must be a list of at most {MAX_RESOURCES}"
            ))
        })?;
    let mut files = BTreeMap::new();
    let mut hasher = Sha256::new();
    for r in resources {
        let (Some(file), Some("sha256"), Some(digest)) = (
            r["name"].as_str(),
            r["algorithm"].as_str(),
            r["digest"].as_str(),
        ) else {
            return Err(malformed(
                "each resource needs name, algorithm sha256 and digest".into(),
            ));
        };
        let raw = hex::decode(digest)
            .ok()
            .filter(|d| d.len() == 32)
            .ok_or_else(|| malformed(format!("resource '{file}': digest is not a SHA-256")))?;
        hasher.update(&raw);
        if files
            .insert(file.to_string(), digest.to_ascii_lowercase())
            .is_some()
        {
            return Err(malformed(format!("resource '{file}' is listed twice")));
        }
    }
    if hex::encode(hasher.finalize()) != root {
        return Err(malformed(
            "subject digest does not match the resources".into(),
        ));
    }
    Ok(SignedManifest {
        subject: name,
        files,
        key_id,
    })
}

/// Read `model.sig` from `dir`, bounded.
pub fn read_signature(dir: &Path) -> Result<Option<String>, SignError> {
    let path = dir.join(SIGNATURE_FILE);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(SignError::Io {
                path,
                message: e.to_string(),
            })
        }
    };
    let mut text = String::new();
    file.take(MAX_SIGNATURE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| SignError::Io {
            path: path.clone(),
            message: e.to_string(),
        })?;
    if text.len() as u64 > MAX_SIGNATURE_BYTES {
        return Err(SignError::Malformed {
            path,
            message: format!("over the {MAX_SIGNATURE_BYTES}-byte limit"),
        });
    }
    Ok(Some(text))
}

/// Compare what was signed with what is there: same files, same digests, same subject.
pub fn check(
    path: &Path,
    signed: &SignedManifest,
    subject: &str,
    actual: &BTreeMap<String, String>,
) -> Result<(), SignError> {
    let mismatch = |message: String| SignError::Mismatch {
        path: path.to_path_buf(),
        message,
    };
    if signed.subject != subject {
        return Err(mismatch(format!(
            "signed for '{}', not '{subject}'; a signature vouches for one model@version",
            signed.subject
        )));
    }
    for (name, digest) in actual {
        match signed.files.get(name) {
            Some(d) if d != digest && name == GOVERNANCE_RESOURCE => {
                return Err(mismatch(
                    "model.toml's governance fields (risk, owner, personal_data, require_signature, encryption) changed after signing; re-sign the version with `palisade models sign`".into(),
                ))
            }
            None => {
                return Err(mismatch(format!(
                    "'{name}' is not covered by the signature"
                )))
            }
            Some(d) if d != digest => {
                return Err(mismatch(format!(
                "'{name}' has SHA-256 {digest} but {d} was signed; the file changed after signing"
            )))
            }
            Some(_) => {}
        }
    }
    if let Some(missing) = signed.files.keys().find(|n| !actual.contains_key(*n)) {
        return Err(mismatch(format!("'{missing}' was signed but is missing")));
    }
    Ok(())
}

/// SHA-256 of every regular file in a plaintext version folder (not the signature).
pub fn digest_dir(dir: &Path) -> Result<BTreeMap<String, String>, SignError> {
    let io = |p: &Path, e: std::io::Error| SignError::Io {
        path: p.to_path_buf(),
        message: e.to_string(),
    };
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let ft = entry.file_type().map_err(|e| io(&entry.path(), e))?;
        if name == SIGNATURE_FILE {
            continue;
        }
        if !ft.is_file() {
            return Err(SignError::Io {
                path: entry.path(),
                message: "not a regular file (folders and symbolic links are not signed)".into(),
            });
        }
        let mut file = std::fs::File::open(entry.path()).map_err(|e| io(&entry.path(), e))?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher).map_err(|e| io(&entry.path(), e))?;
        out.insert(name, hex::encode(hasher.finalize()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                "model.onnx".to_string(),
                hex::encode(Sha256::digest(b"onnx")),
            ),
            (
                "vocab.txt".to_string(),
                hex::encode(Sha256::digest(b"vocab")),
            ),
        ])
    }

    fn key() -> (SigningKey, VerifyingKey) {
        let (private, public) = SigningKey::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), private.as_bytes()).unwrap();
        let key = SigningKey::read(&dir.path().join("k")).unwrap();
        let public = VerifyingKey::parse_pem(&public).unwrap();
        assert_eq!(key.public(), public);
        (key, public)
    }

    #[test]
    fn signed_manifests_verify_and_match() {
        let (key, public) = key();
        let bundle = sign("iris@1", &files(), &key);
        let p = Path::new("model.sig");
        let signed = verify(p, &bundle, std::slice::from_ref(&public)).unwrap();
        assert_eq!(signed.files, files());
        assert_eq!(signed.key_id, public.id);
        check(p, &signed, "iris@1", &files()).unwrap();

        let err = check(p, &signed, "iris@2", &files()).unwrap_err();
        assert!(err.to_string().contains("signed for 'iris@1'"), "{err}");
        let mut changed = files();
        changed.insert("model.onnx".into(), hex::encode(Sha256::digest(b"evil")));
        assert!(check(p, &signed, "iris@1", &changed)
            .unwrap_err()
            .to_string()
            .contains("changed after signing"));
        let mut extra = files();
        extra.insert("payload.pkl".into(), hex::encode(Sha256::digest(b"x")));
        assert!(check(p, &signed, "iris@1", &extra)
            .unwrap_err()
            .to_string()
            .contains("not covered"));
        let mut fewer = files();
        fewer.remove("vocab.txt");
        assert!(check(p, &signed, "iris@1", &fewer)
            .unwrap_err()
            .to_string()
            .contains("missing"));
    }

    #[test]
    fn forged_and_untrusted_signatures_are_refused() {
        let (_, stranger) = key();
        let (key, public) = key();
        let bundle = sign("iris@1", &files(), &key);
        let p = Path::new("model.sig");
        assert!(matches!(
            verify(p, &bundle, &[stranger]),
            Err(SignError::Untrusted { .. })
        ));
        assert!(matches!(
            verify(p, &bundle, &[]),
            Err(SignError::Untrusted { .. })
        ));
        // Swap in a statement with another digest, keeping the signature.
        let v: serde_json::Value = serde_json::from_str(&bundle).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let payload = String::from_utf8(
            b64.decode(v["dsseEnvelope"]["payload"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        let forged_payload = payload.replace(
            &files()["model.onnx"],
            &hex::encode(Sha256::digest(b"evil")),
        );
        let forged = bundle.replace(
            v["dsseEnvelope"]["payload"].as_str().unwrap(),
            &b64.encode(forged_payload),
        );
        assert!(matches!(
            verify(p, &forged, std::slice::from_ref(&public)),
            Err(SignError::Untrusted { .. })
        ));
        assert!(matches!(
            verify(p, "{}", &[public]),
            Err(SignError::Malformed { .. })
        ));
    }

    #[test]
    fn openssl_style_keys_parse() {
        // `openssl genpkey -algorithm ed25519` output (RFC 8410 test key).
        let private = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        let public = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), private).unwrap();
        let key = SigningKey::read(&dir.path().join("k")).unwrap();
        assert_eq!(key.public(), VerifyingKey::parse_pem(public).unwrap());
    }
}
