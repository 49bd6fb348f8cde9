//! MAC addresses, IPv4 and IPv6 addresses.

use std::net::Ipv6Addr;

use super::{Candidate, Found, OnReject, Shape};
use crate::context::Hints;
use crate::Entity;

pub fn shapes() -> Vec<Shape> {
    vec![
        Shape {
            name: "mac",
            regex: r"(?i)\b[0-9a-f]{2}[:\-][0-9a-f]{2}[:\-][0-9a-f]{2}[:\-][0-9a-f]{2}[:\-][0-9a-f]{2}[:\-][0-9a-f]{2}\b|(?i)\b[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}\b",
            classify: mac,
            on_reject: OnReject::NextWord,
        },
        Shape {
            name: "ipv6",
            regex: r"(?i)(?:\b[0-9a-f]{1,4}|:):[0-9a-f:]{1,38}(?:%[0-9a-z]{1,16})?",
            classify: ipv6,
            on_reject: OnReject::NextWord,
        },
        Shape {
            name: "ipv4",
            regex: r"\b(?:\d{1,3}\.){3}\d{1,3}\b",
            classify: ipv4,
            on_reject: OnReject::NextWord,
        },
    ]
}

fn mac(c: &Candidate) -> Option<Found> {
    let v = c.value();
    if v.len() == 17 && !(v.iter().skip(2).step_by(3).all(|&b| b == v[2])) {
        return None; // mixed separators
    }
    Found::new(Entity::MAC_ADDRESS, 0.85, "mac_address")
}

fn ipv6(c: &Candidate) -> Option<Found> {
    // Starting right after ':' or a hex digit, the address is the tail of a longer token.
    if c.before()
        .is_some_and(|b| b == b':' || b.is_ascii_alphanumeric())
    {
        return None;
    }
    let v = c.value();
    let addr = v.split(|&b| b == b'%').next()?;
    let text = std::str::from_utf8(addr).ok()?;
    // The shape may run into trailing colons ("fe80::1: up"); try shorter ends.
    let mut end = text.len();
    while end > 2 {
        // A shorter end must not cut a hex group in two ("4492::4496|9992").
        let rest = &text.as_bytes()[end..];
        let addressy = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b':');
        let cuts_group = rest.first().is_some_and(u8::is_ascii_alphanumeric)
            || (rest.first() == Some(&b':') && addressy(rest.get(1)));
        if !cuts_group && text[..end].parse::<Ipv6Addr>().is_ok() {
            let colons = text[..end].matches(':').count();
            if colons < 2 {
                return None;
            }
            let mut f = Found::new(Entity::IP_ADDRESS, 0.85, "ipv6")?;
            if end < text.len() {
                f.end = Some(c.start + end);
            }
            return Some(f);
        }
        end -= 1;
    }
    None
}

fn ipv4(c: &Candidate) -> Option<Found> {
    let v = c.value();
    for octet in v.split(|&b| b == b'.') {
        let n: u32 = std::str::from_utf8(octet).ok()?.parse().ok()?;
        if n > 255 || (octet.len() > 1 && octet[0] == b'0') {
            return None;
        }
    }
    // Version strings: v1.2.3.4, "version 10.0.19041.1", 1.2.3.4.5.
    let dotted_on = c.after(0) == Some(b'.') && c.after(1).is_some_and(|b| b.is_ascii_digit());
    let v_prefix = matches!(c.before(), Some(b'v' | b'V' | b'.'));
    if dotted_on || v_prefix || c.hints().has(Hints::VERSION) {
        return None;
    }
    Found::new(Entity::IP_ADDRESS, 0.85, "ipv4")
}
