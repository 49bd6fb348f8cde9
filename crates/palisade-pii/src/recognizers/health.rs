//! Dates of birth: a real calendar date with birth context nearby (a date alone is not
//! personal data, a date of birth is a quasi-identifier).

use super::{Candidate, Found, OnReject, Shape};
use crate::checks;
use crate::context::Hints;
use crate::Entity;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

pub fn shapes() -> Vec<Shape> {
    vec![
        Shape {
            name: "date_numeric",
            regex: r"\b(?:\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2})|\d{4}-\d{2}-\d{2})\b",
            classify: numeric,
            on_reject: OnReject::NextWord,
        },
        Shape {
            name: "date_words",
            regex: r"(?i)\b(?:\d{1,2}(?:st|nd|rd|th)? (?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]{0,6}\.?,? \d{4}|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]{0,6}\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4})\b",
            classify: words,
            on_reject: OnReject::NextWord,
        },
    ]
}

fn birth(c: &Candidate, y: u32, m: u32, d: u32) -> Option<Found> {
    if !c.hints().has(Hints::BIRTH) || !checks::date(y, m, d) {
        return None;
    }
    Found::new(Entity::DATE_TIME, 0.85, "date_of_birth")
}

fn numeric(c: &Candidate) -> Option<Found> {
    let text = std::str::from_utf8(c.value()).ok()?;
    let parts: Vec<u32> = text
        .split(['/', '.', '-'])
        .map(|p| p.parse().ok())
        .collect::<Option<Vec<u32>>>()?;
    let [a, b, y] = parts[..] else { return None };
    if text.len() == 10 && text.as_bytes()[4] == b'-' {
        return birth(c, a, b, y); // ISO: year-month-day
    }
    let year = if y < 100 {
        if y > 30 {
            1900 + y
        } else {
            2000 + y
        }
    } else {
        y
    };
    // US month/day first, else day/month.
    birth(c, year, a, b).or_else(|| birth(c, year, b, a))
}

fn words(c: &Candidate) -> Option<Found> {
    let text = std::str::from_utf8(c.value()).ok()?.to_ascii_lowercase();
    let tokens: Vec<&str> = text
        .split([' ', ',', '.'])
        .filter(|t| !t.is_empty())
        .collect();
    let month_of = |t: &str| {
        let full = [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ];
        MONTHS
            .iter()
            .position(|m| t.starts_with(m))
            .filter(|&i| full[i].starts_with(t) || t.len() == 3 || t == "sept")
    };
    let num = |t: &str| {
        t.trim_end_matches(|ch: char| ch.is_ascii_alphabetic())
            .parse::<u32>()
            .ok()
    };
    let [first, second, year] = tokens[..] else {
        return None;
    };
    let year = year.parse().ok()?;
    let (month, day) = match month_of(first) {
        Some(m) => (m, num(second)?),
        None => (month_of(second)?, num(first)?),
    };
    birth(c, year, month as u32 + 1, day)
}
