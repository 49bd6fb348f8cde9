//! Filters for `audit tail|search|export` and the admin API: match entries on the fields an
//! investigation starts from, without loading the log into memory.

use serde::Deserialize;

/// Every set field must match; an empty filter matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// RFC 3339 times, inclusive lower and exclusive upper bound (compared as UTC text).
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
}
