//! Filters for `audit tail|search|export` and the admin API: match entries on the fields an
//! investigation starts from, without loading the log into memory.

use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime};

/// Every set field must match; an empty filter matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Inclusive lower and exclusive upper bound, as [`time_bound`] writes them (compared
    /// as UTC text).
    pub since: Option<String>,
    pub until: Option<String>,
    pub principal: Option<String>,
    /// `name` matches every version; `name@version` one.
    pub model: Option<String>,
    /// `allow` or `deny`.
    pub decision: Option<String>,
    pub status: Option<u16>,
}

/// The fields a filter looks at, borrowed from the line.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow)]
    time: &'a str,
    #[serde(borrow, default)]
    principal: Option<&'a str>,
    #[serde(borrow, default)]
    model: Option<&'a str>,
    #[serde(borrow)]
    decision: &'a str,
    status: u16,
}

impl Filter {
    /// Does this entry line match? Lines that do not parse as entries never do.
    pub fn matches(&self, line: &[u8]) -> bool {
        let Ok(f) = serde_json::from_slice::<Fields>(line) else {
            return false;
        };
        let time = normalize(f.time);
        self.since
            .as_deref()
            .is_none_or(|s| time.as_str() >= normalize(s).as_str())
            && self
                .until
                .as_deref()
                .is_none_or(|u| time.as_str() < normalize(u).as_str())
            && self
                .principal
                .as_deref()
                .is_none_or(|p| f.principal == Some(p))
            && self.model.as_deref().is_none_or(|m| {
                f.model.is_some_and(|have| {
                    have == m || (!m.contains('@') && have.split('@').next() == Some(m))
                })
            })
            && self.decision.as_deref().is_none_or(|d| f.decision == d)
            && self.status.is_none_or(|s| f.status == s)
    }
}

/// A time bound a person wrote that is not a time.
#[derive(Debug, thiserror::Error)]
#[error("{field} '{text}' is not a time: write RFC 3339 (2026-11-26T08:00:00Z), a date (2026-11-26, UTC), a duration back from now (30s, 5m, 2h, 7d), `today` or `yesterday`")]
pub struct BadTime {
    pub field: &'static str,
    pub text: String,
}

/// Read a time bound (`since`, `until`): RFC 3339 with any offset, a calendar date (its UTC
/// midnight), a duration back from `now` (`5m`, `2h 30m`, `7d`, with or without `ago`),
/// `now`, `today` or `yesterday`. Anything else is refused: a filter that silently matches
/// nothing (or everything) hides what an investigation looks for.
pub fn time_bound(field: &'static str, text: &str, now: OffsetDateTime) -> Result<String, BadTime> {
    let bad = || BadTime {
        field,
        text: text.chars().take(64).filter(|c| !c.is_control()).collect(),
    };
    let t = text.trim();
    let midnight = |d: Date| d.midnight().assume_utc();
    let at = match t {
        "now" => now,
        "today" => midnight(now.date()),
        "yesterday" => midnight(now.date().previous_day().ok_or_else(bad)?),
        _ if t.len() == 10 && t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-' => {
            let num = |r: std::ops::Range<usize>| t[r].parse::<u16>().map_err(|_| bad());
            let month = Month::try_from(num(5..7)? as u8).map_err(|_| bad())?;
            midnight(
                Date::from_calendar_date(i32::from(num(0..4)?), month, num(8..10)? as u8)
                    .map_err(|_| bad())?,
            )
        }
        _ if t.len() > 10 && matches!(t.as_bytes()[10], b'T' | b't') => {
            OffsetDateTime::parse(t, &Rfc3339).map_err(|_| bad())?
        }
        _ => {
            let ago = t.strip_suffix("ago").unwrap_or(t).trim();
            let d = humantime::parse_duration(ago).map_err(|_| bad())?;
            let d = time::Duration::try_from(d).map_err(|_| bad())?;
            now.checked_sub(d).ok_or_else(bad)?
        }
    };
    let u = at.to_offset(time::UtcOffset::UTC);
    if !(0..=9999).contains(&u.year()) {
        return Err(bad());
    }
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        u.year(),
        u8::from(u.month()),
        u.day(),
        u.hour(),
        u.minute(),
        u.second(),
        u.millisecond()
    ))
}

/// `2026-11-26` → `2026-11-26T00:00:00.000Z`; full times get milliseconds so text order is
/// time order. Times are written by the server in UTC with milliseconds.
fn normalize(t: &str) -> String {
    let t = t.trim();
    if t.len() == 10 {
        return format!("{t}T00:00:00.000Z");
    }
    match t.strip_suffix('Z') {
        Some(base) if base.len() == 19 => format!("{base}.000Z"),
        _ => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_on_each_field() {
        let line = serde_json::to_vec(&crate::sample_event(7)).unwrap();
        assert!(Filter::default().matches(&line));
        let f = |edit: fn(&mut Filter)| {
            let mut f = Filter::default();
            edit(&mut f);
            f.matches(&line)
        };
        assert!(f(|f| f.since = Some("2026-11-26".into())));
        assert!(!f(|f| f.since = Some("2026-11-26T00:00:01Z".into())));
        assert!(f(|f| f.until = Some("2026-11-26T00:00:01Z".into())));
        assert!(!f(|f| f.until = Some("2026-11-26T00:00:00Z".into())));
        assert!(f(|f| f.principal = Some("key:k0".into())));
        assert!(!f(|f| f.principal = Some("key:k1".into())));
        assert!(f(|f| f.model = Some("iris".into())));
        assert!(f(|f| f.model = Some("iris@1".into())));
        assert!(!f(|f| f.model = Some("iris@2".into())));
        assert!(!f(|f| f.model = Some("iri".into())));
        assert!(f(|f| f.decision = Some("allow".into())));
        assert!(!f(|f| f.status = Some(403)));
        assert!(!Filter::default().matches(b"not json"));
    }

    #[test]
    fn time_bounds_are_parsed_or_refused() {
        let now = OffsetDateTime::parse("2026-11-30T15:00:00.250Z", &Rfc3339).unwrap();
        let t = |s: &str| time_bound("since", s, now);
        assert_eq!(t("2026-11-26").unwrap(), "2026-11-26T00:00:00.000Z");
        assert_eq!(
            t("2026-11-26T08:00:00+02:00").unwrap(),
            "2026-11-26T06:00:00.000Z"
        );
        assert_eq!(
            t("2026-11-26T08:00:00.5Z").unwrap(),
            "2026-11-26T08:00:00.500Z"
        );
        assert_eq!(t("5m").unwrap(), "2026-11-30T14:55:00.250Z");
        assert_eq!(t("2h ago").unwrap(), "2026-11-30T13:00:00.250Z");
        assert_eq!(t("7d").unwrap(), "2026-11-23T15:00:00.250Z");
        assert_eq!(t("yesterday").unwrap(), "2026-11-29T00:00:00.000Z");
        assert_eq!(t("today").unwrap(), "2026-11-30T00:00:00.000Z");
        for bad in [
            "2026-13-45",
            "2026-02-30",
            "lastweek",
            "",
            "5 parsecs",
            "2026-11-26T25:00:00Z",
            "99999999d",
        ] {
            let e = t(bad).unwrap_err();
            assert!(e.to_string().contains("is not a time"), "{bad}: {e}");
        }
    }
}
