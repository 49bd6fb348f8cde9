//! Generalization: a value replaced by the band, prefix or period it falls in, so that
//! more rows share it (what k-anonymity counts).
//!
//! A value that cannot be generalized is an error, never passed through: a malformed ZIP
//! left whole is exactly the identifying value the rule was meant to hide.

use super::table::Cell;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePrecision {
    Year,
    Month,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generalize {
    /// `34` → `30-39`; `top` and over → `90+` (HIPAA Safe Harbor pools ages over 89).
    AgeBand { width: u32, top: u32 },
    /// `94107` → `941**`. With `safe_harbor`, the three-digit prefixes HIPAA lists as
    /// covering fewer than 20,000 people become `000**`.
    Zip { keep: usize, safe_harbor: bool },
    /// `1984-03-12` → `1984` or `1984-03`.
    Date { to: DatePrecision },
}

/// The three-digit ZIP prefixes whose areas held 20,000 people or fewer in the 2000 census
/// (HHS, "Guidance Regarding Methods for De-identification", Safe Harbor §164.514(b)(2)(i)(B)).
const SPARSE_ZIP3: [&str; 17] = [
    "036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878",
    "879", "884", "890", "893",
];

impl Generalize {
    /// The generalized cell; missing values stay missing. The error says what was expected,
    /// never what was found.
    pub fn apply(&self, cell: &Cell) -> Result<Cell, &'static str> {
        if cell.is_missing() {
            return Ok(cell.clone());
        }
        match *self {
            Generalize::AgeBand { width, top } => {
                let age = cell
                    .number()
                    .filter(|a| (0.0..=150.0).contains(a))
                    .ok_or("not an age (a number from 0 to 150)")?
                    .floor() as u32;
                if age >= top {
                    return Ok(Cell::text(format!("{top}+")));
                }
                let low = age / width * width;
                let high = (low + width - 1).min(top - 1);
                Ok(Cell::text(if low == high {
                    low.to_string()
                } else {
                    format!("{low}-{high}")
                }))
            }
            Generalize::Zip { keep, safe_harbor } => {
                let digits = zip_digits(cell).ok_or("not a US ZIP code (12345 or 12345-6789)")?;
                let mut out: String = digits[..keep].to_string();
                if safe_harbor && keep == 3 && SPARSE_ZIP3.contains(&out.as_str()) {
                    out = "000".into();
                }
                out.extend(std::iter::repeat_n('*', 5 - keep));
                Ok(Cell::text(out))
            }
            Generalize::Date { to } => {
                let text = cell.as_text();
                let (year, month, _) = parse_date(text.trim())
                    .ok_or("not a date (YYYY-MM-DD, YYYY/MM/DD or YYYY-MM)")?;
                Ok(Cell::text(match (to, month) {
                    (DatePrecision::Year, _) => format!("{year:04}"),
                    (DatePrecision::Month, Some(m)) => format!("{year:04}-{m:02}"),
                    (DatePrecision::Month, None) => {
                        return Err("a year alone cannot become a month")
                    }
                }))
            }
        }
    }
}

/// The first five digits of a ZIP or ZIP+4; a JSON number gets its lost leading zeros back.
fn zip_digits(cell: &Cell) -> Option<String> {
    let text = match cell {
        Cell::Json(serde_json::Value::Number(n)) => {
            let n = n.as_u64().filter(|n| *n < 100_000)?;
            format!("{n:05}")
        }
        _ => cell.as_text().trim().to_string(),
    };
    let b = text.as_bytes();
    let five = b.len() >= 5 && b[..5].iter().all(u8::is_ascii_digit);
    let rest_ok = match b.len() {
        5 => true,
        9 => b[5..].iter().all(u8::is_ascii_digit),
        10 => b[5] == b'-' && b[6..].iter().all(u8::is_ascii_digit),
        _ => false,
    };
    (five && rest_ok).then(|| text[..5].to_string())
}

/// `YYYY-MM-DD` (optionally followed by a time), `YYYY/MM/DD`, `YYYY-MM` or `YYYY`.
pub(super) fn parse_date(s: &str) -> Option<(u32, Option<u32>, Option<u32>)> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let year = num(0..4).filter(|y| (1..=9999).contains(y))?;
    if b.len() == 4 {
        return Some((year, None, None));
    }
    let sep = *b.get(4)?;
    if sep != b'-' && sep != b'/' {
        return None;
    }
    let month = num(5..7).filter(|m| (1..=12).contains(m))?;
    if b.len() == 7 {
        return (sep == b'-').then_some((year, Some(month), None));
    }
    if *b.get(7)? != sep {
        return None;
    }
    let day = num(8..10)?;
    if !crate::checks::day_exists(year, month, day) {
        return None;
    }
    match b.get(10) {
        None => Some((year, Some(month), Some(day))),
        Some(b'T' | b' ') if sep == b'-' => Some((year, Some(month), Some(day))),
        _ => None,
    }
}

/// 1970-01-01 as a Julian day number: `time` counts days that way.
const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;

/// Days since 1970-01-01 of a Gregorian date; `None` for a date that does not exist.
pub(super) fn days_from_civil(year: u32, month: u32, day: u32) -> Option<i64> {
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?)
            .ok()?;
    Some(i64::from(date.to_julian_day() - UNIX_EPOCH_JULIAN_DAY))
}

/// The date `days` after 1970-01-01 as (year, month, day), held to the years `time`
/// represents (-9999 to 9999).
pub(super) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let julian = days.saturating_add(i64::from(UNIX_EPOCH_JULIAN_DAY));
    let date = i32::try_from(julian)
        .ok()
        .and_then(|j| time::Date::from_julian_day(j).ok())
        .unwrap_or(if days < 0 {
            time::Date::MIN
        } else {
            time::Date::MAX
        });
    (
        i64::from(date.year()),
        u32::from(u8::from(date.month())),
        u32::from(date.day()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn g(rule: Generalize, v: serde_json::Value) -> Result<String, &'static str> {
        rule.apply(&Cell::Json(v)).map(|c| c.as_text())
    }

    #[test]
    fn ages_fall_into_bands_and_the_old_are_pooled() {
        let age = Generalize::AgeBand { width: 10, top: 90 };
        assert_eq!(g(age, json!("34")).unwrap(), "30-39");
        assert_eq!(g(age, json!(0)).unwrap(), "0-9");
        assert_eq!(g(age, json!(89.9)).unwrap(), "80-89");
        assert_eq!(g(age, json!(90)).unwrap(), "90+");
        assert_eq!(g(age, json!(104)).unwrap(), "90+");
        let odd = Generalize::AgeBand { width: 7, top: 30 };
        assert_eq!(
            g(odd, json!(29)).unwrap(),
            "28-29",
            "bands stop below the top"
        );
        let exact = Generalize::AgeBand { width: 1, top: 90 };
        assert_eq!(g(exact, json!(41)).unwrap(), "41");
        for bad in [json!(-1), json!(151), json!("forty"), json!(true)] {
            assert!(g(age, bad).is_err());
        }
        assert_eq!(g(age, json!("")).unwrap(), "", "missing stays missing");
        assert_eq!(age.apply(&Cell::Absent).unwrap(), Cell::Absent);
    }

    #[test]
    fn zips_keep_a_prefix_and_sparse_areas_become_zero() {
        let zip = Generalize::Zip {
            keep: 3,
            safe_harbor: true,
        };
        assert_eq!(g(zip, json!("94107")).unwrap(), "941**");
        assert_eq!(g(zip, json!("94107-1234")).unwrap(), "941**");
        assert_eq!(
            g(zip, json!(2134)).unwrap(),
            "021**",
            "a JSON number lost its zero"
        );
        assert_eq!(g(zip, json!("03601")).unwrap(), "000**");
        let no_harbor = Generalize::Zip {
            keep: 3,
            safe_harbor: false,
        };
        assert_eq!(g(no_harbor, json!("03601")).unwrap(), "036**");
        let none = Generalize::Zip {
            keep: 0,
            safe_harbor: true,
        };
        assert_eq!(g(none, json!("94107")).unwrap(), "*****");
        for bad in ["9410", "94107-12", "ABCDE", "941071", "SW1A 1AA"] {
            assert!(g(zip, json!(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn civil_days_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        assert_eq!(days_from_civil(2023, 2, 29), None);
        assert_eq!(civil_from_days(i64::MAX), (9999, 12, 31));
        assert_eq!(civil_from_days(i64::MIN), (-9999, 1, 1));
        for days in (-719_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y as u32, m, d), Some(days));
        }
    }

    #[test]
    fn dates_become_years_or_months() {
        let year = Generalize::Date {
            to: DatePrecision::Year,
        };
        let month = Generalize::Date {
            to: DatePrecision::Month,
        };
        assert_eq!(g(year, json!("1984-03-12")).unwrap(), "1984");
        assert_eq!(g(month, json!("1984-03-12")).unwrap(), "1984-03");
        assert_eq!(g(month, json!("1984/03/12")).unwrap(), "1984-03");
        assert_eq!(g(month, json!("1984-03-12T10:00:00Z")).unwrap(), "1984-03");
        assert_eq!(g(month, json!("1984-03")).unwrap(), "1984-03");
        assert_eq!(g(year, json!("1984")).unwrap(), "1984");
        assert!(g(month, json!("1984")).is_err());
        for bad in [
            "1984-02-30",
            "1984-13-01",
            "12/03/1984",
            "1984-03-12x",
            "1984/03",
            "84-03-12",
        ] {
            assert!(g(year, json!(bad)).is_err(), "{bad}");
        }
    }
}
