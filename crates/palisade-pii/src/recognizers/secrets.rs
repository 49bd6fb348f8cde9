//! Secrets: private key blocks, JWTs, AWS access key ids, and high-entropy tokens next to a
//! word like key, token or secret. They are not personal data, but they must not reach a
//! model, a log or an audit line any more than an SSN.

use base64::Engine as _;

use super::{Candidate, Found, OnReject, Shape};
use crate::checks;
use crate::context::Hints;
use crate::Entity;

pub fn shapes_first() -> Vec<Shape> {
    vec![
        Shape {
            name: "private_key",
            regex: r"-----BEGIN[A-Z ]{0,40} PRIVATE KEY-----(?s:.){0,16384}?-----END[A-Z ]{0,40} PRIVATE KEY-----",
            classify: |_| Found::new(Entity::PRIVATE_KEY, 1.0, "private_key_block"),
            on_reject: OnReject::NextWord,
        },
        Shape {
            name: "jwt",
            regex: r"\beyJ[A-Za-z0-9_\-]{5,4096}\.eyJ[A-Za-z0-9_\-]{5,4096}\.[A-Za-z0-9_\-]{10,4096}",
            classify: jwt,
            on_reject: OnReject::NextWord,
        },
        Shape {
            name: "aws_access_key",
            regex: r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b",
            classify: |_| Found::new(Entity::AWS_ACCESS_KEY, 1.0, "aws_access_key_id"),
            on_reject: OnReject::NextWord,
        },
    ]
}

pub fn shapes_last() -> Vec<Shape> {
    vec![Shape {
        name: "token",
        regex: r"\b[A-Za-z0-9][A-Za-z0-9_\-+/]{19,255}={0,2}",
        classify: token,
        on_reject: OnReject::SkipSpan,
    }]
}

/// A JWT's header decodes to a JSON object naming an algorithm.
fn jwt(c: &Candidate) -> Option<Found> {
    let header = c.value().split(|&b| b == b'.').next()?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&json).ok()?;
    v.get("alg")?;
    Found::new(Entity::JWT, 1.0, "jwt")
}

/// Random-looking (≥ 3.5 bits per byte, letters and digits mixed) and introduced as a key,
/// token, secret or password.
fn token(c: &Candidate) -> Option<Found> {
    let v = c.value();
    let letters = v.iter().any(u8::is_ascii_alphabetic);
    let digits = v.iter().any(u8::is_ascii_digit);
    if !c.hints().has(Hints::SECRET) || !letters || !digits || checks::entropy(v) < 3.5 {
        return None;
    }
    if is_file_path(c) {
        return None;
    }
    Found::new(Entity::SECRET_TOKEN, 0.85, "high_entropy_token")
}

/// Error messages name files (`/var/lib/palisade/keys/kek-2026.bin`), and a key file's path
/// is no secret: a run that follows a path separator, or holds a `/` and ends a directory or
/// runs into a file extension, is a path. Base64 never holds `.`, and a token quoted in a
/// sentence does not start right after a `/`.
fn is_file_path(c: &Candidate) -> bool {
    let v = c.value();
    if matches!(c.before(), Some(b'/' | b'\\' | b'~')) {
        return true;
    }
    v.contains(&b'/')
        && (v.ends_with(b"/")
            || (c.after(0) == Some(b'.') && c.after(1).is_some_and(|b| b.is_ascii_alphabetic())))
}
