//! Email addresses, URLs (and credentials inside them), phone numbers.

use super::{Candidate, Found, OnReject, Shape};
use crate::checks;
use crate::context::Hints;
use crate::Entity;

pub fn shapes_first() -> Vec<Shape> {
    vec![
        Shape {
            name: "url",
            regex: r#"(?i)\b(?:https?|ftps?)://[^\s<>"'\x00-\x1f\x7f]{3,2048}|(?i)\bwww\.[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){1,8}[^\s<>"'\x00-\x1f\x7f]{0,2048}"#,
            classify: url,
            // A rejected URL (no host) has no accepted URL inside it; other shapes may.
            on_reject: OnReject::SkipShape,
        },
        Shape {
            name: "email",
            // The local part may hold UTF-8 (RFC 6531); the classifier trims it to letters.
            regex: r"[A-Za-z0-9._%+\-\x80-\xFF]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}\.[A-Za-z]{2,24}\b",
            classify: email,
            on_reject: OnReject::NextWord,
        },
    ]
}

pub fn shapes_phone() -> Vec<Shape> {
    vec![
        Shape {
            name: "phone_international",
            regex: r"\+[1-9][0-9 ().\-]{6,22}[0-9]\b",
            classify: |c| super::longest_accepted(c, b" .-", phone_international),
            on_reject: OnReject::NextWord,
        },
        Shape {
            name: "phone_parenthesized",
            regex: r"\(\d{3}\)[ .\-]?\d{3}[ .\-]\d{4}\b",
            classify: phone_national,
            on_reject: OnReject::NextWord,
        },
        Shape {
            // UK and other trunk-prefixed national numbers: 020 7946 0958, 07700 900123.
            name: "phone_trunk",
            regex: r"\b0\d{2,4}[ \-]\d{3,4}[ \-]?\d{3,4}\b",
            classify: phone_trunk,
            on_reject: OnReject::NextWord,
        },
    ]
}

fn email(c: &Candidate) -> Option<Found> {
    let v = c.value();
    let at = v.iter().position(|&b| b == b'@')?;
    // A non-ASCII local part starts at its first letter or digit: never inside a character,
    // never at a quotation mark or other punctuation.
    let mut skip = 0;
    if !v[..at].is_ascii() {
        let text = std::str::from_utf8(&v[..at]).ok().or_else(|| {
            // The shape can start inside a character: drop its continuation bytes.
            let lead = v.iter().take_while(|&&b| b & 0xC0 == 0x80).count();
            skip = lead;
            std::str::from_utf8(&v[lead..at]).ok()
        })?;
        let letters = text
            .char_indices()
            .find(|&(_, ch)| ch.is_alphanumeric() || ch.is_ascii_graphic())
            .map_or(text.len(), |(i, _)| i);
        skip += letters;
        if !text[letters..]
            .chars()
            .all(|ch| ch.is_ascii() || ch.is_alphanumeric())
        {
            return None;
        }
    }
    let local = &v[skip..at];
    if local.is_empty()
        || local.starts_with(b".")
        || local.ends_with(b".")
        || local.windows(2).any(|w| w == b"..")
    {
        return None;
    }
    let mut found = Found::new(Entity::EMAIL_ADDRESS, 1.0, "email")?;
    if skip > 0 {
        found.start = Some(c.start + skip);
    }
    Some(found)
}

fn url(c: &Candidate) -> Option<Found> {
    let v = c.value();
    // Trailing punctuation belongs to the sentence, and ')' only if unbalanced.
    let mut end = v.len();
    while end > 0 {
        let b = v[end - 1];
        let opens = v[..end].iter().filter(|&&x| x == b'(').count();
        let closes = v[..end].iter().filter(|&&x| x == b')').count();
        if matches!(
            b,
            b'.' | b',' | b';' | b':' | b'!' | b'?' | b']' | b'}' | b'\'' | b'"'
        ) || (b == b')' && closes > opens)
        {
            end -= 1;
        } else {
            break;
        }
    }
    let v = &v[..end];
    let has_host = v.iter().filter(|&&b| b == b'.').count() >= 1
        || v.windows(9).any(|w| w.eq_ignore_ascii_case(b"localhost"));
    if !has_host || end < 8 {
        return None;
    }
    // user:password@ in the authority part.
    let authority_start = v.windows(3).position(|w| w == b"://").map_or(0, |i| i + 3);
    let authority = &v[authority_start..];
    let authority = &authority[..authority
        .iter()
        .position(|&b| b == b'/')
        .unwrap_or(authority.len())];
    let credentials = authority.contains(&b'@')
        && authority[..authority.iter().position(|&b| b == b'@').unwrap_or(0)].contains(&b':');
    let mut found = if credentials {
        Found::new(Entity::URL, 1.0, "url_credentials")
    } else {
        Found::new(Entity::URL, 0.6, "url")
    }?;
    found.end = Some(c.start + end);
    Some(found)
}

fn phone_score(c: &Candidate, base: f32) -> f32 {
    let mut score = base;
    if c.hints().has(Hints::PHONE) {
        score += 0.3;
    }
    if c.hints().has(Hints::NOT_PERSONAL) && !c.hints().has(Hints::PHONE) {
        score -= 0.5;
    }
    score
}

fn phone_international(c: &Candidate) -> Option<Found> {
    let v = c.value();
    let d = checks::digits(v);
    let balanced =
        v.iter().filter(|&&b| b == b'(').count() == v.iter().filter(|&&b| b == b')').count();
    let doubled = v
        .windows(2)
        .any(|w| !w[0].is_ascii_digit() && !w[1].is_ascii_digit() && w[0] != b')' && w[1] != b'(');
    let runs_on = super::runs_on(c);
    if !(8..=15).contains(&d.len()) || !balanced || doubled || runs_on {
        return None;
    }
    // +1: the North American plan has its own rules.
    if d[0] == 1 && !checks::nanp(&d) {
        return None;
    }
    Found::new(Entity::PHONE_NUMBER, phone_score(c, 0.75), "phone_e164")
}

fn phone_national(c: &Candidate) -> Option<Found> {
    let d = checks::digits(c.value());
    if !checks::nanp(&d) {
        return None;
    }
    Found::new(Entity::PHONE_NUMBER, phone_score(c, 0.7), "phone_nanp")
}

fn phone_trunk(c: &Candidate) -> Option<Found> {
    let d = checks::digits(c.value());
    if !(10..=11).contains(&d.len()) || d[1] == 0 {
        return None;
    }
    Found::new(
        Entity::PHONE_NUMBER,
        phone_score(c, 0.6),
        "phone_trunk_prefix",
    )
}

/// 3-3-4 digits: a North American phone number, or a UK NHS number.
pub fn three_three_four(c: &Candidate) -> Option<Found> {
    let v = c.value();
    let d = checks::digits(v);
    let spaced = v.contains(&b' ');
    let nhs = checks::nhs(&d);
    if nhs && c.hints().has(Hints::NHS) {
        return Found::new(Entity::UK_NHS, 1.0, "uk_nhs");
    }
    if checks::nanp(&d) && (c.hints().has(Hints::PHONE) || !spaced || !nhs) {
        return Found::new(Entity::PHONE_NUMBER, phone_score(c, 0.6), "phone_nanp");
    }
    if nhs && !c.hints().has(Hints::NOT_PERSONAL) {
        return Found::new(Entity::UK_NHS, 0.6, "uk_nhs");
    }
    None
}
