//! What to do with what was found, per entity type: redact, mask, hash (a stable pseudonym),
//! encrypt (reversible for authorized re-identification), reject, or allow.

use std::collections::BTreeMap;

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::{Entity, PiiError, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `<EMAIL_ADDRESS>`.
    Redact,
    /// Every letter and digit but the last four replaced by `*`; separators kept.
    Mask,
    /// `<EMAIL_ADDRESS:1f2e...>`: HMAC-SHA256 with the deployment's key, the same for the same
    /// value on every call, so records can still be joined.
    Hash,
    /// `<EMAIL_ADDRESS:enc:...>`: AES-256-GCM, reversible with the deployment's key.
    Encrypt,
    /// The whole text is refused (naming the entity type, never the value).
    Reject,
    Allow,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "redact" => Action::Redact,
            "mask" => Action::Mask,
            "hash" => Action::Hash,
            "encrypt" => Action::Encrypt,
            "reject" => Action::Reject,
            "allow" => Action::Allow,
            _ => return None,
        })
    }
}

/// An action per entity type, and one for the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub default: Action,
    pub per_entity: BTreeMap<Entity, Action>,
}

impl Policy {
    pub fn uniform(action: Action) -> Policy {
        Policy {
            default: action,
            per_entity: BTreeMap::new(),
        }
    }

    pub fn action(&self, entity: Entity) -> Action {
        self.per_entity
            .get(&entity)
            .copied()
            .unwrap_or(self.default)
    }

    /// Whether the policy needs a key the deployment must provide.
    pub fn needs(&self, action: Action) -> bool {
        self.default == action || self.per_entity.values().any(|a| *a == action)
    }
}

/// The deployment's keys for `hash` and `encrypt`.
#[derive(Default)]
pub struct Keys {
    hash: Option<hmac::Key>,
    encrypt: Option<LessSafeKey>,
}

/// Read a key file of 64 hex digits (32 random bytes), as `hash_key` and `encrypt_key` are.
pub fn read_key_file(path: &std::path::Path) -> Result<[u8; 32], PiiError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        // A key pasted where its file's name belongs is not repeated in the error.
        let name = path.to_string_lossy();
        let pasted = name.len() >= 32
            && name.bytes().all(|b| b.is_ascii_hexdigit())
            && !path.exists();
        if pasted {
            PiiError::Key("the value given looks like the key itself, not the name of a file (not repeated here); put the key in a file (mode 0600) and name the file".into())
        } else {
            PiiError::Key(format!("{}: {e}", path.display()))
        }
    })?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut out).map_err(|_| {
        PiiError::Key(format!(
            "{} must hold 64 hex digits (32 random bytes): `openssl rand -hex 32 > {}`",
            path.display(),
            path.display()
        ))
    })?;
    Ok(out)
}

impl Keys {
    pub fn new(hash: Option<&[u8; 32]>, encrypt: Option<&[u8; 32]>) -> Result<Keys, PiiError> {
        Ok(Keys {
            hash: hash.map(|k| hmac::Key::new(hmac::HMAC_SHA256, k)),
            encrypt: match encrypt {
                Some(k) => Some(LessSafeKey::new(
                    UnboundKey::new(&AES_256_GCM, k)
                        .map_err(|_| PiiError::Key("bad encryption key".into()))?,
                )),
                None => None,
            },
        })
    }
}

impl Keys {
    /// The stable pseudonym of `value` within `domain` (an entity type, or a dataset column):
    /// 80 bits of HMAC-SHA256 under the deployment's hash key, as hex.
    pub fn pseudonym(&self, domain: &str, value: &str) -> Result<String, PiiError> {
        let key = self.hash.as_ref().ok_or(PiiError::MissingKey("hash"))?;
        let mut ctx = hmac::Context::with_key(key);
        ctx.update(domain.as_bytes());
        ctx.update(b"\0");
        ctx.update(value.as_bytes());
        Ok(hex(&ctx.sign().as_ref()[..10]))
    }
}

/// What minimizing a text did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Minimized {
        text: String,
        /// Findings by entity type (all of them, whatever the action).
        counts: BTreeMap<Entity, u32>,
    },
    /// A `reject` entity was found: nothing of the text may go further.
    Rejected {
        entity: Entity,
        counts: BTreeMap<Entity, u32>,
    },
}

/// Apply `policy` to the `spans` found in `text` (as [`crate::Engine::scan`] returns them).
pub fn apply(
    text: &str,
    spans: &[Span],
    policy: &Policy,
    keys: &Keys,
) -> Result<Outcome, PiiError> {
    let mut counts = BTreeMap::new();
    for s in spans {
        *counts.entry(s.entity).or_insert(0) += 1;
    }
    if let Some(s) = spans
        .iter()
        .find(|s| policy.action(s.entity) == Action::Reject)
    {
        return Ok(Outcome::Rejected {
            entity: s.entity,
            counts,
        });
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for s in spans {
        if s.start < at
            || s.end > text.len()
            || !text.is_char_boundary(s.start)
            || !text.is_char_boundary(s.end)
        {
            continue; // overlapping or foreign spans are not trusted
        }
        out.push_str(&text[at..s.start]);
        let value = &text[s.start..s.end];
        let name = s.entity.as_str();
        match policy.action(s.entity) {
            Action::Allow | Action::Reject => out.push_str(value),
            Action::Redact => {
                out.push('<');
                out.push_str(name);
                out.push('>');
            }
            Action::Mask => out.push_str(&mask(value)),
            Action::Hash => {
                out.push_str(&format!("<{name}:{}>", keys.pseudonym(name, value)?));
            }
            Action::Encrypt => {
                let key = keys
                    .encrypt
                    .as_ref()
                    .ok_or(PiiError::MissingKey("encrypt"))?;
                out.push_str(&encrypt(key, name, value)?);
            }
        }
        at = s.end;
    }
    out.push_str(&text[at..]);
    Ok(Outcome::Minimized { text: out, counts })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mask(value: &str) -> String {
    let total = value.chars().filter(char::is_ascii_alphanumeric).count();
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                seen += 1;
                if seen <= total.saturating_sub(4) {
                    return '*';
                }
            }
            c
        })
        .collect()
}

const ENC_MARK: &str = ":enc:";

fn encrypt(key: &LessSafeKey, name: &str, value: &str) -> Result<String, PiiError> {
    let mut nonce = [0u8; NONCE_LEN];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
        .map_err(|_| PiiError::Key("no randomness".into()))?;
    let mut buf = value.as_bytes().to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(name.as_bytes()),
        &mut buf,
    )
    .map_err(|_| PiiError::Key("encryption failed".into()))?;
    let mut token = nonce.to_vec();
    token.extend_from_slice(&buf);
    Ok(format!(
        "<{name}{ENC_MARK}{}>",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token)
    ))
}

/// Re-identification: replace every `<TYPE:enc:...>` token that decrypts under `key` with its
/// value. Tokens that do not decrypt are left as they are.
pub fn reveal(text: &str, keys: &Keys) -> Result<String, PiiError> {
    let key = keys
        .encrypt
        .as_ref()
        .ok_or(PiiError::MissingKey("encrypt"))?;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        let Some(close) = tail.find('>') else { break };
        let token = &tail[1..close];
        match token.split_once(ENC_MARK).and_then(|(name, data)| {
            Entity::parse(name)?;
            let mut raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(data)
                .ok()?;
            if raw.len() < NONCE_LEN + 16 {
                return None;
            }
            let nonce = Nonce::try_assume_unique_for_key(&raw[..NONCE_LEN]).ok()?;
            let plain = key
                .open_in_place(nonce, Aad::from(name.as_bytes()), &mut raw[NONCE_LEN..])
                .ok()?;
            String::from_utf8(plain.to_vec()).ok()
        }) {
            Some(value) => out.push_str(&value),
            None => out.push_str(&tail[..=close]),
        }
        rest = &tail[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Engine;

    fn keys() -> Keys {
        Keys::new(Some(&[1; 32]), Some(&[2; 32])).unwrap()
    }

    fn run(text: &str, policy: &Policy) -> Outcome {
        let spans = Engine::new().unwrap().scan_str(text).unwrap();
        apply(text, &spans, policy, &keys()).unwrap()
    }

    fn minimized(o: Outcome) -> String {
        match o {
            Outcome::Minimized { text, .. } => text,
            Outcome::Rejected { entity, .. } => panic!("rejected for {entity}"),
        }
    }

    #[test]
    fn each_action() {
        let text = "mail jane@example.com, card 4111 1111 1111 1111";
        assert_eq!(
            minimized(run(text, &Policy::uniform(Action::Redact))),
            "mail <EMAIL_ADDRESS>, card <CREDIT_CARD>"
        );
        assert_eq!(
            minimized(run(text, &Policy::uniform(Action::Mask))),
            "mail ****@******e.com, card **** **** **** 1111"
        );
        let hashed = minimized(run(text, &Policy::uniform(Action::Hash)));
        assert!(
            hashed.starts_with("mail <EMAIL_ADDRESS:") && !hashed.contains("jane"),
            "{hashed}"
        );
        assert_eq!(
            hashed,
            minimized(run(text, &Policy::uniform(Action::Hash))),
            "stable pseudonyms"
        );
        let sealed = minimized(run(text, &Policy::uniform(Action::Encrypt)));
        assert!(
            !sealed.contains("jane") && !sealed.contains("4111"),
            "{sealed}"
        );
        assert_eq!(reveal(&sealed, &keys()).unwrap(), text);
        let other = Keys::new(None, Some(&[3; 32])).unwrap();
        assert_eq!(
            reveal(&sealed, &other).unwrap(),
            sealed,
            "a wrong key reveals nothing"
        );
        assert_eq!(minimized(run(text, &Policy::uniform(Action::Allow))), text);
    }

    #[test]
    fn reject_names_the_type_and_counts_everything() {
        let mut policy = Policy::uniform(Action::Redact);
        policy.per_entity.insert(Entity::US_SSN, Action::Reject);
        match run("ssn 536-22-1234 and jane@example.com", &policy) {
            Outcome::Rejected { entity, counts } => {
                assert_eq!(entity, Entity::US_SSN);
                assert_eq!(counts.values().sum::<u32>(), 2);
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn a_key_pasted_as_a_file_name_is_not_echoed() {
        let key = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let err = read_key_file(std::path::Path::new(key))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the key itself") && !err.contains(key),
            "{err}"
        );
        let err = read_key_file(std::path::Path::new("/nonexistent/pii.key"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/pii.key"), "{err}");
    }

    #[test]
    fn missing_keys_are_errors_not_plaintext() {
        let text = "mail jane@example.com";
        let spans = Engine::new().unwrap().scan_str(text).unwrap();
        let err = apply(
            text,
            &spans,
            &Policy::uniform(Action::Hash),
            &Keys::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("hash"), "{err}");
    }
}
