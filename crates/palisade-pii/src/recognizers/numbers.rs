//! Identifiers made of digits (and a few letters): cards, SSNs, ITINs, NHS and NI numbers,
//! IBANs, crypto addresses, passports, driver's licences, bank accounts, DEA numbers, medical
//! record numbers. Checksums confirm where the format has one; context decides where it does
//! not (nine bare digits are only an SSN when the text says so).

use super::contact::three_three_four;
use super::{Candidate, Found, OnReject, Shape};
use crate::checks;
use crate::context::Hints;
use crate::Entity;

/// Shapes with structure of their own, tried before bare digit runs.
pub fn shapes_structured() -> Vec<Shape> {
    vec![
        Shape {
            name: "iban",
            regex: r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b",
            classify: |c| {
                checks::iban(c.value()).then_some(())?;
                Found::new(Entity::IBAN_CODE, 1.0, "iban_mod97")
            },
            // An IBAN with a bad check digit is not a bank account number in pieces.
            on_reject: OnReject::SkipSpan,
        },
        Shape {
            name: "crypto",
            regex: r"\b(?:[13][1-9A-HJ-NP-Za-km-z]{25,34}|(?i:bc1)[02-9ac-hj-np-zAC-HJ-NP-Z]{11,71})\b",
            classify: |c| {
                let v = c.value();
                let ok = if v[0] == b'1' || v[0] == b'3' {
                    checks::base58check(v)
                } else {
                    checks::bech32(v)
                };
                ok.then_some(())?;
                Found::new(
                    Entity::CRYPTO,
                    1.0,
                    if v[0] == b'b' || v[0] == b'B' {
                        "bech32"
                    } else {
                        "base58check"
                    },
                )
            },
            on_reject: OnReject::NextWord,
        },
        Shape {
            name: "uk_nino",
            regex: r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]\b",
            classify: |c| {
                let prefix = &c.value()[..2];
                if [b"BG", b"GB", b"NK", b"KN", b"TN", b"NT", b"ZZ"]
                    .iter()
                    .any(|p| &p[..] == prefix)
                {
                    return None;
                }
                let score = if c.hints().has(Hints::NINO) {
                    1.0
                } else {
                    0.85
                };
                Found::new(Entity::UK_NINO, score, "uk_nino")
            },
            on_reject: OnReject::NextWord,
        },
        Shape {
            name: "ssn_grouped",
            regex: r"\b\d{3}[- ]\d{2}[- ]\d{4}\b",
            classify: ssn_grouped,
            on_reject: OnReject::NextWord,
        },
        Shape {
            name: "three_three_four",
            regex: r"\b\d{3}[ .\-]\d{3}[ .\-]\d{4}\b",
            classify: three_three_four,
            on_reject: OnReject::NextWord,
        },
    ]
}

/// Bare digit runs (with optional single separators) and letter-prefixed ids.
pub fn shapes_runs() -> Vec<Shape> {
    vec![
        Shape {
            name: "digits",
            regex: r"\b\d(?:[ \-]?\d){5,18}\b",
            classify: digit_run,
            on_reject: OnReject::NextWord,
        },
        Shape {
            name: "letter_id",
            regex: r"\b[A-Z]{1,2}[0-9]{6,12}\b",
            classify: letter_id,
            on_reject: OnReject::NextWord,
        },
    ]
}

fn ssn_grouped(c: &Candidate) -> Option<Found> {
    let v = c.value();
    let d = checks::digits(v);
    let dashed = v.contains(&b'-');
    // Called an SSN, a 9xx number is an invalid SSN, not an ITIN.
    let called_ssn = c.hints().has(Hints::SSN) && !c.hints().has(Hints::ITIN);
    if checks::itin(&d) && !called_ssn {
        let score = if c.hints().has(Hints::ITIN) {
            1.0
        } else {
            0.85
        };
        return Found::new(Entity::US_ITIN, score, "us_itin");
    }
    if !checks::ssn(&d) {
        return None;
    }
    let score = match (c.hints().has(Hints::SSN), dashed) {
        (true, _) => 1.0,
        (false, true) => 0.85,
        (false, false) => 0.5,
    };
    if c.hints().has(Hints::NOT_PERSONAL) && !c.hints().has(Hints::SSN) {
        return None;
    }
    Found::new(Entity::US_SSN, score, "us_ssn")
}

/// A digit run, or its longest prefix ending at a separator that is an entity: a run can
/// swallow the next number ("4111 1111 1111 1111 00:1A:..." reads 18 digits).
fn digit_run(c: &Candidate) -> Option<Found> {
    super::longest_accepted(c, b" -", digit_run_exact)
}

fn digit_run_exact(c: &Candidate) -> Option<Found> {
    if super::runs_on(c) {
        return None;
    }
    let h = c.hints();
    let n = c.value().iter().filter(|b| b.is_ascii_digit()).count();
    // Without a context word only a card can be here: decide before collecting digits (a
    // dense run of numbers makes many candidates).
    if n < 13 && h == Hints::default() {
        return None;
    }
    let d = checks::digits(c.value());
    if (13..=19).contains(&n) && checks::luhn(&d) && checks::card_issuer(&d) {
        return Found::new(Entity::CREDIT_CARD, 1.0, "credit_card_luhn");
    }
    if h.has(Hints::NHS) && checks::nhs(&d) {
        return Found::new(Entity::UK_NHS, 1.0, "uk_nhs");
    }
    if n == 9 && h.has(Hints::ITIN) && checks::itin(&d) {
        return Found::new(Entity::US_ITIN, 0.95, "us_itin");
    }
    if n == 9 && h.has(Hints::SSN) && checks::ssn(&d) {
        return Found::new(Entity::US_SSN, 0.95, "us_ssn");
    }
    if n == 9 && h.has(Hints::PASSPORT) {
        return Found::new(Entity::US_PASSPORT, 0.85, "us_passport");
    }
    if (7..=13).contains(&n) && h.has(Hints::DRIVER) {
        return Found::new(Entity::US_DRIVER_LICENSE, 0.75, "us_driver_license");
    }
    if (6..=12).contains(&n) && h.has(Hints::MEDICAL_RECORD) {
        return Found::new(Entity::MEDICAL_RECORD_NUMBER, 0.8, "medical_record_number");
    }
    if (8..=17).contains(&n) && h.has(Hints::BANK) && !h.has(Hints::CARD) {
        return Found::new(Entity::US_BANK_NUMBER, 0.8, "us_bank_number");
    }
    if h.has(Hints::PHONE)
        && !h.has(Hints::NOT_PERSONAL)
        && (checks::nanp(&d) || (n >= 10 && d[0] == 0))
    {
        return Found::new(Entity::PHONE_NUMBER, 0.7, "phone_digits");
    }
    None
}

fn letter_id(c: &Candidate) -> Option<Found> {
    let v = c.value();
    let h = c.hints();
    let letters = v.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    let digits = v.len() - letters;
    if v.len() == 9 && checks::dea(v) && h.has(Hints::MEDICAL_LICENSE) {
        return Found::new(Entity::MEDICAL_LICENSE, 1.0, "dea_number");
    }
    if h.has(Hints::PASSPORT) && letters == 1 && digits == 8 {
        return Found::new(Entity::US_PASSPORT, 0.85, "us_passport");
    }
    if h.has(Hints::DRIVER) && (6..=12).contains(&digits) {
        return Found::new(Entity::US_DRIVER_LICENSE, 0.75, "us_driver_license");
    }
    if h.has(Hints::MEDICAL_RECORD) {
        return Found::new(Entity::MEDICAL_RECORD_NUMBER, 0.8, "medical_record_number");
    }
    if h.has(Hints::MEDICAL_LICENSE) && (6..=9).contains(&digits) {
        return Found::new(Entity::MEDICAL_LICENSE, 0.75, "medical_license");
    }
    None
}
