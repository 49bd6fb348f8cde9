//! The rules file of `palisade data anonymize`: what happens to each column, and the
//! privacy target the result must meet.
//!
//! ```toml
//! hash_key = "keys/pii-hash.key"    # for `hash` (64 hex digits); relative to this file
//! default = "redact"                # columns not listed; without it every column must be listed
//!
//! [columns]
//! name = "drop"
//! email = "hash"
//! notes = "redact"                  # the PII engine over the text
//! age = { generalize = "age", width = 10, top = 90 }
//! zip = { generalize = "zip", keep = 3 }
//! birth_date = { generalize = "date", to = "year" }
//! diagnosis = "keep"
//!
//! [privacy]
//! quasi_identifiers = ["age", "zip", "birth_date"]
//! k = 5
//! sensitive = ["diagnosis"]
//! l = 2
//! below_target = "suppress"         # or "refuse"
//! max_suppressed = 0.05             # refuse when more than this share of rows would go
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::generalize::{DatePrecision, Generalize};
use super::DatasetError;

/// What happens to one column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnAction {
    Keep,
    Drop,
    /// An HMAC-SHA256 pseudonym under the rules' key, labelled with `domain` (the column name
    /// unless set), so equal values in columns of the same domain stay joinable.
    Hash {
        domain: String,
    },
    /// The PII engine over the value: every entity found becomes `<TYPE>`.
    Redact,
    Generalize(Generalize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BelowTarget {
    Suppress,
    Refuse,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Privacy {
    pub quasi_identifiers: Vec<String>,
    pub k: usize,
    pub sensitive: Vec<String>,
    pub l: usize,
    pub below_target: BelowTarget,
    pub max_suppressed: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// The file the rules came from (for errors).
    pub source: String,
    pub hash_key: Option<PathBuf>,
    pub default: Option<ColumnAction>,
    pub columns: BTreeMap<String, ColumnAction>,
    pub privacy: Privacy,
}

/// Rules files are small; anything bigger is not one.
const MAX_RULES_BYTES: u64 = 1 << 20;

impl Rules {
    pub fn read(path: &Path) -> Result<Rules, DatasetError> {
        let shown = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| DatasetError::io(&shown, e))?;
        if meta.len() > MAX_RULES_BYTES {
            return Err(DatasetError::Rules {
                file: shown,
                key: String::new(),
                what: format!("over {MAX_RULES_BYTES} bytes; this is not a rules file"),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| DatasetError::io(&shown, e))?;
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let mut rules = if json {
            Rules::parse_json(&text, &shown)?
        } else {
            Rules::parse(&text, &shown)?
        };
        if let Some(key) = &mut rules.hash_key {
            if key.is_relative() {
                *key = path.parent().unwrap_or(Path::new(".")).join(&key);
            }
        }
        Ok(rules)
    }

    /// Rules written in TOML (the documented form).
    pub fn parse(text: &str, file: &str) -> Result<Rules, DatasetError> {
        let top: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            DatasetError::Rules {
                file: file.to_string(),
                key: String::new(),
                what: match line {
                    Some(l) => format!("line {l}: {}", e.message()),
                    None => e.message().to_string(),
                },
            }
        })?;
        Rules::from_table(top, file)
    }

    /// The same rules written as a JSON object (a `.json` rules file).
    pub fn parse_json(text: &str, file: &str) -> Result<Rules, DatasetError> {
        let top: toml::Table = serde_json::from_str(text).map_err(|e| DatasetError::Rules {
            file: file.to_string(),
            key: String::new(),
            what: format!(
                "line {}: not a JSON object of rules (nulls are not allowed)",
                e.line()
            ),
        })?;
        Rules::from_table(top, file)
    }

    fn from_table(mut top: toml::Table, file: &str) -> Result<Rules, DatasetError> {
        let err = |key: &str, what: String| DatasetError::Rules {
            file: file.to_string(),
            key: key.to_string(),
            what,
        };
        let hash_key = match top.remove("hash_key") {
            None => None,
            Some(toml::Value::String(s)) => Some(PathBuf::from(s)),
            Some(_) => return Err(err("hash_key", "must be a path (a string)".into())),
        };
        let default = match top.remove("default") {
            None => None,
            Some(v) => {
                Some(column_action("default", "default", &v).map_err(|w| err("default", w))?)
            }
        };
        let mut columns = BTreeMap::new();
        match top.remove("columns") {
            None => {}
            Some(toml::Value::Table(t)) => {
                for (name, v) in t {
                    let key = format!("columns.{name}");
                    let action = column_action(&name, &key, &v).map_err(|w| err(&key, w))?;
                    columns.insert(name, action);
                }
            }
            Some(_) => return Err(err("columns", "must be a table: [columns]".into())),
        }
        let privacy = match top.remove("privacy") {
            Some(toml::Value::Table(t)) => privacy(t, &err)?,
            Some(_) => return Err(err("privacy", "must be a table: [privacy]".into())),
            // Columns are still transformed; the report says nothing was measured.
            None => Privacy {
                quasi_identifiers: Vec::new(),
                k: 1,
                sensitive: Vec::new(),
                l: 1,
                below_target: BelowTarget::Suppress,
                max_suppressed: 0.0,
            },
        };
        if let Some(unknown) = top.keys().next() {
            return Err(err(
                unknown,
                "unknown key; expected hash_key, default, [columns], [privacy]".into(),
            ));
        }
        for (list, key) in [
            (&privacy.quasi_identifiers, "privacy.quasi_identifiers"),
            (&privacy.sensitive, "privacy.sensitive"),
        ] {
            for name in list {
                let action = columns.get(name).or(default.as_ref());
                if matches!(action, Some(ColumnAction::Drop)) {
                    return Err(err(
                        key,
                        format!("`{name}` is dropped by the rules, so it cannot be measured"),
                    ));
                }
            }
        }
        Ok(Rules {
            source: file.to_string(),
            hash_key,
            default,
            columns,
            privacy,
        })
    }

    /// The action for `column` of the input; an error names the columns nothing covers.
    pub fn action_for(&self, column: &str) -> Option<&ColumnAction> {
        self.columns.get(column).or(self.default.as_ref())
    }

    pub fn needs_hash_key(&self) -> bool {
        self.columns
            .values()
            .chain(self.default.as_ref())
            .any(|a| matches!(a, ColumnAction::Hash { .. }))
    }
}

fn privacy(
    mut t: toml::Table,
    err: &dyn Fn(&str, String) -> DatasetError,
) -> Result<Privacy, DatasetError> {
    let names = |t: &mut toml::Table, key: &str| -> Result<Vec<String>, DatasetError> {
        let full = format!("privacy.{key}");
        match t.remove(key) {
            None => Ok(Vec::new()),
            Some(toml::Value::Array(a)) => a
                .into_iter()
                .map(|v| match v {
                    toml::Value::String(s) => Ok(s),
                    _ => Err(err(&full, "must list column names (strings)".into())),
                })
                .collect(),
            Some(_) => Err(err(&full, "must be a list of column names".into())),
        }
    };
    let count = |t: &mut toml::Table, key: &str| -> Result<Option<usize>, DatasetError> {
        let full = format!("privacy.{key}");
        match t.remove(key) {
            None => Ok(None),
            Some(toml::Value::Integer(n)) if (1..=1_000_000).contains(&n) => Ok(Some(n as usize)),
            Some(_) => Err(err(&full, "must be a whole number from 1".into())),
        }
    };
    let quasi_identifiers = names(&mut t, "quasi_identifiers")?;
    if quasi_identifiers.is_empty() {
        return Err(err(
            "privacy.quasi_identifiers",
            "name at least one column that could single a person out (age, zip, dates...)".into(),
        ));
    }
    let k = count(&mut t, "k")?.ok_or_else(|| {
        err(
            "privacy.k",
            "missing: the smallest group of indistinguishable rows allowed, e.g. k = 5".into(),
        )
    })?;
    let sensitive = names(&mut t, "sensitive")?;
    let l = match count(&mut t, "l")? {
        Some(l) if sensitive.is_empty() => {
            return Err(err(
                "privacy.l",
                format!("l = {l} needs `sensitive` columns to measure diversity over"),
            ))
        }
        Some(l) => l,
        None if sensitive.is_empty() => 1,
        None => 2,
    };
    let below_target = match t.remove("below_target") {
        None => BelowTarget::Suppress,
        Some(toml::Value::String(s)) if s == "suppress" => BelowTarget::Suppress,
        Some(toml::Value::String(s)) if s == "refuse" => BelowTarget::Refuse,
        Some(_) => {
            return Err(err(
                "privacy.below_target",
                "must be \"suppress\" or \"refuse\"".into(),
            ))
        }
    };
    let max_suppressed = match t.remove("max_suppressed") {
        None => 0.05,
        Some(toml::Value::Float(f)) if (0.0..=1.0).contains(&f) => f,
        Some(toml::Value::Integer(n)) if n == 0 || n == 1 => n as f64,
        Some(_) => {
            return Err(err(
                "privacy.max_suppressed",
                "must be a share of the rows from 0.0 to 1.0".into(),
            ))
        }
    };
    if let Some(unknown) = t.keys().next() {
        return Err(err(
            &format!("privacy.{unknown}"),
            "unknown key; expected quasi_identifiers, k, sensitive, l, below_target, \
             max_suppressed"
                .into(),
        ));
    }
    if let Some(both) = quasi_identifiers.iter().find(|n| sensitive.contains(n)) {
        return Err(err(
            "privacy.sensitive",
            format!("`{both}` is also a quasi-identifier; a column is one or the other"),
        ));
    }
    Ok(Privacy {
        quasi_identifiers,
        k,
        sensitive,
        l,
        below_target,
        max_suppressed,
    })
}

fn column_action(column: &str, key: &str, v: &toml::Value) -> Result<ColumnAction, String> {
    const NAMES: &str =
        "keep, drop, hash, redact, or a table { generalize = \"age\" | \"zip\" | \"date\" }";
    match v {
        toml::Value::String(s) => match s.as_str() {
            "keep" => Ok(ColumnAction::Keep),
            "drop" => Ok(ColumnAction::Drop),
            "hash" => Ok(ColumnAction::Hash {
                domain: column.to_string(),
            }),
            "redact" => Ok(ColumnAction::Redact),
            other => Err(format!("unknown action `{other}`; expected {NAMES}")),
        },
        toml::Value::Table(t) => {
            let mut t = t.clone();
            let int = |t: &mut toml::Table,
                       name: &str,
                       default: i64,
                       range: std::ops::RangeInclusive<i64>| {
                match t.remove(name) {
                    None => Ok(default),
                    Some(toml::Value::Integer(n)) if range.contains(&n) => Ok(n),
                    Some(_) => Err(format!(
                        "`{name}` must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    )),
                }
            };
            let action = if let Some(hash) = t.remove("hash") {
                let toml::Value::Boolean(true) = hash else {
                    return Err(
                        "`hash` must be true in a table form: { hash = true, domain = \"email\" }"
                            .into(),
                    );
                };
                let domain = match t.remove("domain") {
                    None => column.to_string(),
                    Some(toml::Value::String(d)) if !d.is_empty() => d,
                    Some(_) => return Err("`domain` must be a non-empty string".into()),
                };
                ColumnAction::Hash { domain }
            } else {
                let kind = match t.remove("generalize") {
                    Some(toml::Value::String(s)) => s,
                    _ => return Err(format!("expected {NAMES}")),
                };
                ColumnAction::Generalize(match kind.as_str() {
                    "age" => {
                        let width = int(&mut t, "width", 10, 1..=100)? as u32;
                        let top = int(&mut t, "top", 90, 1..=200)? as u32;
                        Generalize::AgeBand { width, top }
                    }
                    "zip" => {
                        let keep = int(&mut t, "keep", 3, 0..=4)? as usize;
                        let safe_harbor = match t.remove("safe_harbor") {
                            None => true,
                            Some(toml::Value::Boolean(b)) => b,
                            Some(_) => return Err("`safe_harbor` must be true or false".into()),
                        };
                        Generalize::Zip { keep, safe_harbor }
                    }
                    "date" => {
                        let to = match t.remove("to") {
                            None => DatePrecision::Year,
                            Some(toml::Value::String(s)) if s == "year" => DatePrecision::Year,
                            Some(toml::Value::String(s)) if s == "month" => DatePrecision::Month,
                            Some(_) => return Err("`to` must be \"year\" or \"month\"".into()),
                        };
                        Generalize::Date { to }
                    }
                    other => {
                        return Err(format!(
                            "unknown generalization `{other}`; expected age, zip or date"
                        ))
                    }
                })
            };
            if let Some(unknown) = t.keys().next() {
                return Err(format!(
                    "`{unknown}` is not an option of this action (in {key})"
                ));
            }
            Ok(action)
        }
        _ => Err(format!("expected {NAMES}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
hash_key = "k.key"
[columns]
name = "drop"
email = { hash = true, domain = "email" }
notes = "redact"
age = { generalize = "age", width = 5 }
zip = { generalize = "zip" }
dob = { generalize = "date", to = "month" }
diagnosis = "keep"
[privacy]
quasi_identifiers = ["age", "zip", "dob"]
k = 3
sensitive = ["diagnosis"]
below_target = "refuse"
"#;

    #[test]
    fn a_full_rules_file_parses() {
        let r = Rules::parse(GOOD, "r.toml").unwrap();
        assert_eq!(r.columns["name"], ColumnAction::Drop);
        assert_eq!(
            r.columns["age"],
            ColumnAction::Generalize(Generalize::AgeBand { width: 5, top: 90 })
        );
        assert_eq!(
            r.columns["zip"],
            ColumnAction::Generalize(Generalize::Zip {
                keep: 3,
                safe_harbor: true
            })
        );
        assert_eq!(r.privacy.k, 3);
        assert_eq!(
            r.privacy.l, 2,
            "l defaults to 2 once sensitive columns are named"
        );
        assert_eq!(r.privacy.below_target, BelowTarget::Refuse);
        assert_eq!(r.privacy.max_suppressed, 0.05);
        assert!(r.needs_hash_key());
        assert_eq!(
            r.action_for("other"),
            None,
            "no default: unlisted columns are errors"
        );
    }

    #[test]
    fn json_rules_mean_the_same_as_toml() {
        let json = r#"{"hash_key": "k.key", "columns": {"name": "drop", "email": {"hash": true, "domain": "email"},
            "notes": "redact", "age": {"generalize": "age", "width": 5}, "zip": {"generalize": "zip"},
            "dob": {"generalize": "date", "to": "month"}, "diagnosis": "keep"},
            "privacy": {"quasi_identifiers": ["age", "zip", "dob"], "k": 3, "sensitive": ["diagnosis"],
            "below_target": "refuse"}}"#;
        assert_eq!(
            Rules::parse_json(json, "r.toml").unwrap(),
            Rules::parse(GOOD, "r.toml").unwrap()
        );
        let e = Rules::parse_json("{\"privacy\": null}", "r.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("r.json") && e.contains("line 1"), "{e}");
        let e = Rules::parse_json("{\"privacy\": {\"k\": 2}}", "r.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("quasi_identifiers"), "{e}");
    }

    #[test]
    fn without_privacy_nothing_is_measured() {
        let r = Rules::parse("default = \"keep\"", "r.toml").unwrap();
        assert!(r.privacy.quasi_identifiers.is_empty() && r.privacy.k == 1);
    }

    #[test]
    fn errors_name_the_key_and_the_fix() {
        let cases = [
            ("[columns]\na = \"shred\"\n[privacy]\nquasi_identifiers=[\"a\"]\nk=2", "columns.a"),
            ("[columns]\na = { generalize = \"age\", width = 0 }\n[privacy]\nquasi_identifiers=[\"a\"]\nk=2", "width"),
            ("[columns]\na = { generalize = \"zip\", nope = 1 }\n[privacy]\nquasi_identifiers=[\"a\"]\nk=2", "nope"),
            ("[privacy]\nquasi_identifiers=[]\nk=2", "quasi_identifiers"),
            ("[privacy]\nquasi_identifiers=[\"a\"]", "privacy.k"),
            ("[privacy]\nquasi_identifiers=[\"a\"]\nk=0", "privacy.k"),
            ("[privacy]\nquasi_identifiers=[\"a\"]\nk=2\nl=2", "sensitive"),
            ("[privacy]\nquasi_identifiers=[\"a\"]\nk=2\nmax_suppressed=2.0", "max_suppressed"),
            ("[columns]\na=\"drop\"\n[privacy]\nquasi_identifiers=[\"a\"]\nk=2", "dropped"),
            ("colums = 1\n[privacy]\nquasi_identifiers=[\"a\"]\nk=2", "colums"),
            ("[columns\n", "line 1"),
        ];
        for (text, want) in cases {
            let e = Rules::parse(text, "r.toml").unwrap_err().to_string();
            assert!(e.contains("r.toml") && e.contains(want), "{text:?}: {e}");
        }
    }
}
