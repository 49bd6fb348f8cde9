//! Checksums and validity rules: what turns a shape into a finding.

use sha2::{Digest, Sha256};

/// Digits of `s`, ignoring separators.
pub fn digits(s: &[u8]) -> Vec<u8> {
    s.iter()
        .filter(|b| b.is_ascii_digit())
        .map(|b| b - b'0')
        .collect()
}

pub fn luhn(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 {
                    y - 9
                } else {
                    y
                }
            } else {
                x
            }
        })
        .sum();
    !d.is_empty() && sum.is_multiple_of(10)
}

/// A card number's issuer range and length agree (Visa, Mastercard, Amex, Discover, JCB,
/// Diners, UnionPay, Maestro).
pub fn card_issuer(d: &[u8]) -> bool {
    let n = d.len();
    let prefix = |k: usize| d.iter().take(k).fold(0u32, |a, &x| a * 10 + u32::from(x));
    let (p1, p2, p3, p4) = (prefix(1), prefix(2), prefix(3), prefix(4));
    match p1 {
        4 => matches!(n, 13 | 16 | 19),
        5 => {
            (51..=55).contains(&p2) && n == 16
                || matches!(p2, 50 | 56..=59) && (12..=19).contains(&n)
        }
        2 => (2221..=2720).contains(&p4) && n == 16,
        3 => {
            (matches!(p2, 34 | 37) && n == 15)
                || ((3528..=3589).contains(&p4) && (16..=19).contains(&n))
                || (((300..=305).contains(&p3) || matches!(p2, 36 | 38 | 39))
                    && (14..=19).contains(&n))
        }
        6 => {
            (p4 == 6011
                || p2 == 65
                || (644..=649).contains(&p3)
                || p2 == 62
                || (60..=69).contains(&p2))
                && (16..=19).contains(&n)
        }
        _ => false,
    }
}

/// US SSN: no area 000, 666 or 9xx, no group 00, no serial 0000, and not the well-known
/// advertising and example numbers.
pub fn ssn(d: &[u8]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let n = |r: std::ops::Range<usize>| d[r].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    let (area, group, serial) = (n(0..3), n(3..5), n(5..9));
    let known_fake = [
        78_051_120u32,
        219099999,
        123456789,
        111111111,
        333333333,
        666666666,
    ];
    let whole = n(0..9);
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && !known_fake.contains(&whole)
        && !d.iter().all(|&x| x == d[0])
}

/// US ITIN: 9xx-[50-65|70-88|90-92|94-99]-xxxx.
pub fn itin(d: &[u8]) -> bool {
    if d.len() != 9 || d[0] != 9 {
        return false;
    }
    let group = u32::from(d[3]) * 10 + u32::from(d[4]);
    matches!(group, 50..=65 | 70..=88 | 90..=92 | 94..=99)
}

/// UK NHS number: 10 digits, mod-11 check digit.
pub fn nhs(d: &[u8]) -> bool {
    if d.len() != 10 {
        return false;
    }
    let sum: u32 = d[..9]
        .iter()
        .enumerate()
        .map(|(i, &x)| u32::from(x) * (10 - i as u32))
        .sum();
    let check = (11 - sum % 11) % 11;
    check != 10 && check == u32::from(d[9]) && !d.iter().all(|&x| x == d[0])
}

/// IBAN lengths by country (ISO 13616 registry).
fn iban_length(cc: &[u8]) -> Option<usize> {
    const TABLE: &[(&[u8; 2], usize)] = &[
        (b"AD", 24),
        (b"AE", 23),
        (b"AL", 28),
        (b"AT", 20),
        (b"AZ", 28),
        (b"BA", 20),
        (b"BE", 16),
        (b"BG", 22),
        (b"BH", 22),
        (b"BR", 29),
        (b"BY", 28),
        (b"CH", 21),
        (b"CR", 22),
        (b"CY", 28),
        (b"CZ", 24),
        (b"DE", 22),
        (b"DK", 18),
        (b"DO", 28),
        (b"EE", 20),
        (b"EG", 29),
        (b"ES", 24),
        (b"FI", 18),
        (b"FO", 18),
        (b"FR", 27),
        (b"GB", 22),
        (b"GE", 22),
        (b"GI", 23),
        (b"GL", 18),
        (b"GR", 27),
        (b"GT", 28),
        (b"HR", 21),
        (b"HU", 28),
        (b"IE", 22),
        (b"IL", 23),
        (b"IQ", 23),
        (b"IS", 26),
        (b"IT", 27),
        (b"JO", 30),
        (b"KW", 30),
        (b"KZ", 20),
        (b"LB", 28),
        (b"LC", 32),
        (b"LI", 21),
        (b"LT", 20),
        (b"LU", 20),
        (b"LV", 21),
        (b"MC", 27),
        (b"MD", 24),
        (b"ME", 22),
        (b"MK", 19),
        (b"MR", 27),
        (b"MT", 31),
        (b"MU", 30),
        (b"NL", 18),
        (b"NO", 15),
        (b"PK", 24),
        (b"PL", 28),
        (b"PS", 29),
        (b"PT", 25),
        (b"QA", 29),
        (b"RO", 24),
        (b"RS", 22),
        (b"SA", 24),
        (b"SC", 31),
        (b"SE", 24),
        (b"SI", 19),
        (b"SK", 24),
        (b"SM", 27),
        (b"ST", 25),
        (b"SV", 28),
        (b"TL", 23),
        (b"TN", 24),
        (b"TR", 26),
        (b"UA", 29),
        (b"VA", 22),
        (b"VG", 24),
        (b"XK", 20),
    ];
    TABLE.iter().find(|(c, _)| &c[..] == cc).map(|(_, n)| *n)
}

/// IBAN: the country's length, and mod-97 of the rearranged number is 1.
pub fn iban(s: &[u8]) -> bool {
    let compact: Vec<u8> = s.iter().copied().filter(|b| *b != b' ').collect();
    if compact.len() < 15 || iban_length(&compact[..2]) != Some(compact.len()) {
        return false;
    }
    let mut rem = 0u32;
    for &b in compact[4..].iter().chain(&compact[..4]) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Base58Check (Bitcoin P2PKH / P2SH addresses): version byte 0 or 5, double-SHA-256 checksum.
pub fn base58check(s: &[u8]) -> bool {
    let mut bytes: Vec<u8> = vec![0; 25];
    for &c in s {
        let Some(v) = BASE58.iter().position(|&x| x == c) else {
            return false;
        };
        let mut carry = v as u32;
        for b in bytes.iter_mut().rev() {
            carry += u32::from(*b) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        if carry != 0 {
            return false;
        }
    }
    let (payload, check) = bytes.split_at(21);
    let digest = Sha256::digest(Sha256::digest(payload));
    matches!(payload[0], 0 | 5) && digest[..4] == *check
}

/// Bech32 / Bech32m segwit addresses (`bc1...`): the BIP-173/350 checksum.
pub fn bech32(s: &[u8]) -> bool {
    const CHARSET: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    let lower: Vec<u8> = s.iter().map(u8::to_ascii_lowercase).collect();
    let Some(sep) = lower.iter().rposition(|&b| b == b'1') else {
        return false;
    };
    let (hrp, data) = (&lower[..sep], &lower[sep + 1..]);
    if data.len() < 6 || hrp.is_empty() {
        return false;
    }
    let mut values = Vec::with_capacity(hrp.len() * 2 + 1 + data.len());
    values.extend(hrp.iter().map(|b| u32::from(b >> 5)));
    values.push(0);
    values.extend(hrp.iter().map(|b| u32::from(b & 31)));
    for &c in data {
        let Some(v) = CHARSET.iter().position(|&x| x == c) else {
            return false;
        };
        values.push(v as u32);
    }
    let mut chk: u32 = 1;
    const GEN: [u32; 5] = [
        0x3b6a_57b2,
        0x2650_8e6d,
        0x1ea1_19fa,
        0x3d42_33dd,
        0x2a14_62b3,
    ];
    for v in values {
        let top = chk >> 25;
        chk = ((chk & 0x1ff_ffff) << 5) ^ v;
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk == 1 || chk == 0x2bc8_30a3
}

/// DEA registration number: two letters and seven digits with a weighted check digit.
pub fn dea(s: &[u8]) -> bool {
    if s.len() != 9 || !s[0].is_ascii_alphabetic() || !s[1].is_ascii_alphanumeric() {
        return false;
    }
    let d = digits(&s[2..]);
    if d.len() != 7 {
        return false;
    }
    let sum = u32::from(d[0] + d[2] + d[4]) + 2 * u32::from(d[1] + d[3] + d[5]);
    sum % 10 == u32::from(d[6])
}

/// North American number: area and exchange codes start 2-9, not N11 service codes.
pub fn nanp(d: &[u8]) -> bool {
    let d = if d.len() == 11 && d[0] == 1 {
        &d[1..]
    } else {
        d
    };
    d.len() == 10
        && d[0] >= 2
        && d[3] >= 2
        && !(d[1] == 1 && d[2] == 1)
        && !(d[4] == 1 && d[5] == 1)
}

/// Shannon entropy in bits per byte.
pub fn entropy(s: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &b in s {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// A calendar date that exists (proleptic Gregorian), any year.
pub fn day_exists(year: u32, month: u32, day: u32) -> bool {
    let (Ok(year), Ok(month), Ok(day)) =
        (i32::try_from(year), u8::try_from(month), u8::try_from(day))
    else {
        return false;
    };
    time::Month::try_from(month)
        .is_ok_and(|month| (1..=time::util::days_in_month(month, year)).contains(&day))
}

/// A calendar date that exists, with a plausible birth year.
pub fn date(year: u32, month: u32, day: u32) -> bool {
    (1900..=2100).contains(&year) && day_exists(year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums() {
        assert!(luhn(&digits(b"4111 1111 1111 1111")) && card_issuer(&digits(b"4111111111111111")));
        assert!(!luhn(&digits(b"4111 1111 1111 1112")));
        assert!(luhn(&digits(b"378282246310005")) && card_issuer(&digits(b"378282246310005")));
        assert!(
            ssn(&digits(b"536-22-1234"))
                && !ssn(&digits(b"000-12-3456"))
                && !ssn(&digits(b"666-12-3456"))
        );
        assert!(
            !ssn(&digits(b"912-34-5678"))
                && !ssn(&digits(b"536-00-1234"))
                && !ssn(&digits(b"536-22-0000"))
        );
        assert!(itin(&digits(b"912-70-1234")) && !itin(&digits(b"912-40-1234")));
        assert!(nhs(&digits(b"943 476 5919")) && !nhs(&digits(b"943 476 5918")));
        assert!(iban(b"GB82 WEST 1234 5698 7654 32") && iban(b"DE89370400440532013000"));
        assert!(!iban(b"GB83 WEST 1234 5698 7654 32") && !iban(b"DE8937040044053201300"));
        assert!(
            base58check(b"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2")
                && !base58check(b"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3")
        );
        assert!(
            bech32(b"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")
                && !bech32(b"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdr")
        );
        assert!(dea(b"AB1234563") && !dea(b"AB1234564"));
        assert!(nanp(&digits(b"(415) 555-2671")) && !nanp(&digits(b"(015) 555-2671")));
        assert!(entropy(b"aaaaaaaa") < 0.1 && entropy(b"q8Zr3LxW9mPf2VtK7sNc") > 4.0);
        assert!(date(2000, 2, 29) && !date(1900, 2, 29) && !date(1990, 13, 1));
    }
}
