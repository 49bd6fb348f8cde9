//! Signed notes (`c2sp.org/signed-note`) with Ed25519 keys, and the transparency-log
//! checkpoints (`c2sp.org/tlog-checkpoint`) carried in them.
//!
//! Why this format: it is what Go's checksum database, Sigstore and the transparency-dev
//! witnesses speak, so an auditor can check Palisade's tree heads with tools that already
//! exist. Keys are written as the format defines them:
//! `PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>` and `<name>+<hash>+<base64(0x01 || key)>`,
//! where `<hash>` is the first four bytes of `SHA-256(name || "\n" || 0x01 || key)`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

const ED25519_TYPE: u8 = 0x01;
/// Longest note accepted for parsing: checkpoints are a few hundred bytes.
const MAX_NOTE_BYTES: usize = 1 << 16;
const SIGNATURE_PREFIX: &str = "\u{2014} ";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed key: {0}")]
    Key(&'static str),
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("no signature by key '{0}' verifies")]
    Unverified(String),
    #[error("malformed checkpoint: {0}")]
    Checkpoint(&'static str),
}

fn key_hash(name: &str, public: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ED25519_TYPE]);
    h.update(public);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('+') && !name.chars().any(|c| c.is_whitespace())
}

/// `name+hash+base64` split and checked; returns (name, hash, decoded key with type byte).
fn split_key(text: &str) -> Result<(&str, u32, Vec<u8>), NoteError> {
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(hash), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::Key("expected <name>+<hash>+<key>"));
    };
    if !valid_name(name) {
        return Err(NoteError::Key(
            "name must be non-empty, without '+' or spaces",
        ));
    }
    if hash.len() != 8 {
        return Err(NoteError::Key("key hash must be 8 hex digits"));
    }
    let hash = u32::from_str_radix(hash, 16).map_err(|_| NoteError::Key("key hash is not hex"))?;
    let key = B64
        .decode(key)
        .map_err(|_| NoteError::Key("key is not base64"))?;
    if key.len() != 33 || key[0] != ED25519_TYPE {
        return Err(NoteError::Key(
            "only Ed25519 keys (type 0x01, 32 bytes) are supported",
        ));
    }
    Ok((name, hash, key))
}

pub struct SignerKey {
    name: String,
    hash: u32,
    pair: Ed25519KeyPair,
    /// Kept to write the key out once, when it is generated.
    seed: [u8; 32],
}

impl std::fmt::Debug for SignerKey {
    // Never the seed: a key must not reach a log line through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SignerKey {
    /// A new random key named `name`.
    pub fn generate(name: &str) -> Result<SignerKey, NoteError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| NoteError::Key("no OS randomness"))?;
        Self::from_seed(name, &seed)
    }

    fn from_seed(name: &str, seed: &[u8]) -> Result<SignerKey, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::Key(
                "name must be non-empty, without '+' or spaces",
            ));
        }
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| NoteError::Key("not an Ed25519 seed"))?;
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|_| NoteError::Key("not an Ed25519 seed"))?;
        Ok(SignerKey {
            hash: key_hash(name, pair.public_key().as_ref()),
            name: name.to_string(),
            pair,
            seed,
        })
    }

    /// `PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>`.
    pub fn parse(text: &str) -> Result<SignerKey, NoteError> {
        let rest = text
            .trim_end()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::Key("expected PRIVATE+KEY+<name>+<hash>+<key>"))?;
        let (name, hash, seed) = split_key(rest)?;
        let key = Self::from_seed(name, &seed[1..])?;
        if key.hash != hash {
            return Err(NoteError::Key("key hash does not match the key"));
        }
        Ok(key)
    }

    /// The key's name: the origin line of the checkpoints it signs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>`: the secret, for a 0600 file only.
    pub fn private_text(&self) -> String {
        let mut key = vec![ED25519_TYPE];
        key.extend_from_slice(&self.seed);
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}\n",
            self.name,
            self.hash,
            B64.encode(key)
        )
    }

    /// The verifier key for this signer, to publish.
    pub fn verifier(&self) -> String {
        let mut key = vec![ED25519_TYPE];
        key.extend_from_slice(self.pair.public_key().as_ref());
        format!("{}+{:08x}+{}", self.name, self.hash, B64.encode(key))
    }

    /// Sign `text` (which must end in a newline): the note, text then signature line.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        if !text.ends_with('\n') || text.contains("\n\n") {
            return Err(NoteError::Malformed(
                "text must end in a newline and hold no blank line",
            ));
        }
        let mut sig = self.hash.to_be_bytes().to_vec();
        sig.extend_from_slice(self.pair.sign(text.as_bytes()).as_ref());
        Ok(format!(
            "{text}\n{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            B64.encode(sig)
        ))
    }
}

pub struct VerifierKey {
    name: String,
    hash: u32,
    public: Vec<u8>,
}

impl VerifierKey {
    pub fn parse(text: &str) -> Result<VerifierKey, NoteError> {
        let (name, hash, key) = split_key(text.trim_end())?;
        if key_hash(name, &key[1..]) != hash {
            return Err(NoteError::Key("key hash does not match the key"));
        }
        Ok(VerifierKey {
            name: name.to_string(),
            hash,
            public: key[1..].to_vec(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text of `note` if one of its signature lines is a valid signature by this key.
    pub fn open<'n>(&self, note: &'n str) -> Result<&'n str, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::Malformed("over 64 KiB"));
        }
        let split = note
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let (text, signatures) = (&note[..split + 1], &note[split + 2..]);
        if !signatures.ends_with('\n') {
            return Err(NoteError::Malformed(
                "signature block must end in a newline",
            ));
        }
        let key = UnparsedPublicKey::new(&ED25519, &self.public);
        for line in signatures.lines() {
            let rest = line
                .strip_prefix(SIGNATURE_PREFIX)
                .ok_or(NoteError::Malformed(
                    "signature lines start with an em dash",
                ))?;
            let (name, sig) = rest.split_once(' ').ok_or(NoteError::Malformed(
                "signature line is '— <name> <base64>'",
            ))?;
            let sig = B64
                .decode(sig)
                .map_err(|_| NoteError::Malformed("signature is not base64"))?;
            if name != self.name || sig.len() != 68 || sig[..4] != self.hash.to_be_bytes() {
                continue;
            }
            if key.verify(text.as_bytes(), &sig[4..]).is_ok() {
                return Ok(text);
            }
        }
        Err(NoteError::Unverified(self.name.clone()))
    }
}

/// The text of a checkpoint: origin, tree size, base64 root hash, one per line.
pub fn checkpoint_text(origin: &str, size: u64, root: &Hash) -> String {
    format!("{origin}\n{size}\n{}\n", B64.encode(root))
}

/// (origin, size, root) of a checkpoint's text; extension lines after the root are ignored.
pub fn parse_checkpoint(text: &str) -> Result<(&str, u64, Hash), NoteError> {
    let mut lines = text.lines();
    let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
        return Err(NoteError::Checkpoint(
            "expected origin, size and root lines",
        ));
    };
    if origin.is_empty() {
        return Err(NoteError::Checkpoint("empty origin"));
    }
    if size.is_empty() || (size.len() > 1 && size.starts_with('0')) {
        return Err(NoteError::Checkpoint("size is not a decimal number"));
    }
    let size = size
        .parse::<u64>()
        .map_err(|_| NoteError::Checkpoint("size is not a decimal number"))?;
    let root: Hash = B64
        .decode(root)
        .ok()
        .and_then(|r| r.try_into().ok())
        .ok_or(NoteError::Checkpoint("root is not 32 bytes of base64"))?;
    Ok((origin, size, root))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of Go's golang.org/x/mod/sumdb/note package documentation.
    const SIGNER: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const VERIFIER: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const NOTE: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn signing_reproduces_the_published_note() {
        let signer = SignerKey::parse(SIGNER).unwrap();
        assert_eq!(signer.verifier(), VERIFIER);
        assert_eq!(signer.sign(TEXT).unwrap(), NOTE);
        assert_eq!(
            VerifierKey::parse(VERIFIER).unwrap().open(NOTE).unwrap(),
            TEXT
        );
    }

    #[test]
    fn tampered_notes_and_wrong_keys_are_refused() {
        let verifier = VerifierKey::parse(VERIFIER).unwrap();
        let edited = NOTE.replace("problem,", "problem;");
        assert!(matches!(
            verifier.open(&edited),
            Err(NoteError::Unverified(_))
        ));
        let other = SignerKey::generate("PeterNeumann").unwrap();
        let forged = other.sign(TEXT).unwrap();
        assert!(verifier.open(&forged).is_err(), "same name, other key");
        assert!(VerifierKey::parse(&VERIFIER.replace("c74f20a3", "c74f20a4")).is_err());
        assert!(VerifierKey::parse("PeterNeumann+c74f20a3").is_err());
        assert!(verifier.open(TEXT).is_err());
        assert!(other.sign("no newline").is_err());
    }

    #[test]
    fn generated_keys_round_trip_through_their_private_text() {
        let key = SignerKey::generate("example.com/log").unwrap();
        let again = SignerKey::parse(&key.private_text()).unwrap();
        assert_eq!(again.verifier(), key.verifier());
        assert!(!format!("{key:?}").contains(&key.private_text()[20..]));
        let note = again.sign("hello\n").unwrap();
        let verifier = VerifierKey::parse(&key.verifier()).unwrap();
        assert_eq!(verifier.open(&note).unwrap(), "hello\n");
    }

    #[test]
    fn checkpoints_round_trip_through_a_signed_note() {
        let signer = SignerKey::generate("palisade.example/audit").unwrap();
        let verifier = VerifierKey::parse(&signer.verifier()).unwrap();
        let root = crate::merkle::leaf_hash(b"x");
        let note = signer
            .sign(&checkpoint_text("palisade.example/audit", 42, &root))
            .unwrap();
        let text = verifier.open(&note).unwrap();
        assert_eq!(
            parse_checkpoint(text).unwrap(),
            ("palisade.example/audit", 42, root)
        );
        assert!(parse_checkpoint("o\n042\nAAAA\n").is_err());
        assert!(parse_checkpoint("o\n1\n").is_err());
    }
}
