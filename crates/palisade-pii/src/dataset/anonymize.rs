//! `palisade data anonymize`: every column through its rule (keep, drop, hash, PII-redact,
//! generalize), then the result measured over the quasi-identifiers: k-anonymity (the
//! smallest group of rows that share them) and distinct l-diversity (the fewest distinct
//! sensitive values in such a group). Groups below target are suppressed, or the run is
//! refused; either way the report says how many rows that cost.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::generalize::{DatePrecision, Generalize};
use super::rules::{BelowTarget, ColumnAction, Rules};
use super::table::{Cell, Table};
use super::DatasetError;
use crate::{actions, Action, Engine, Entity, Keys, Outcome, Policy};

/// What a run did, for the terminal and for `--report`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub rows_in: usize,
    pub rows_out: usize,
    pub suppressed: usize,
    /// Output columns and what was done to each (dropped ones included).
    pub columns: Vec<(String, String)>,
    pub quasi_identifiers: Vec<String>,
    pub sensitive: Vec<String>,
    pub k_target: usize,
    pub l_target: usize,
    /// Measured before suppression.
    pub before: Measure,
    /// Measured on what is written.
    pub after: Measure,
    /// PII found (and redacted) in `redact` columns, by entity type.
    pub pii_redacted: BTreeMap<String, u64>,
    /// Things the rules may have missed.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Measure {
    /// Groups of rows with equal quasi-identifiers.
    pub classes: usize,
    /// The smallest group (absent when there are no rows).
    pub k: Option<usize>,
    /// The fewest distinct values of a sensitive column in a group.
    pub l: Option<usize>,
    pub classes_below_target: usize,
    pub rows_below_target: usize,
}

pub struct Anonymized {
    pub table: Table,
    pub report: Report,
}

/// Apply `rules` to `table`. `keys` must hold a hash key when a rule hashes.
pub fn anonymize(
    table: Table,
    rules: &Rules,
    engine: &Engine,
    keys: &Keys,
) -> Result<Anonymized, DatasetError> {
    let rules_err = |key: String, what: String| DatasetError::Rules {
        file: rules.source.clone(),
        key,
        what,
    };
    for name in rules.columns.keys() {
        if table.column(name).is_none() {
            return Err(rules_err(
                format!("columns.{name}"),
                format!(
                    "no such column in the input; it has: {}",
                    table.columns.join(", ")
                ),
            ));
        }
    }
    let uncovered: Vec<&str> = table
        .columns
        .iter()
        .filter(|c| rules.action_for(c).is_none())
        .map(String::as_str)
        .collect();
    if !uncovered.is_empty() {
        return Err(rules_err(
            "columns".into(),
            format!(
                "no rule for {}: list them under [columns], or set `default = \"redact\"`",
                uncovered.join(", ")
            ),
        ));
    }
    let privacy = &rules.privacy;
    for name in privacy.quasi_identifiers.iter().chain(&privacy.sensitive) {
        if table.column(name).is_none() {
            return Err(rules_err(
                "privacy".into(),
                format!("`{name}` is not a column of the input"),
            ));
        }
    }

    let actions: Vec<&ColumnAction> = table
        .columns
        .iter()
        .filter_map(|c| rules.action_for(c))
        .collect();
    let redact_all = Policy::uniform(Action::Redact);
    let mut pii_redacted = BTreeMap::<Entity, u64>::new();
    let kept: Vec<usize> = (0..table.columns.len())
        .filter(|i| *actions[*i] != ColumnAction::Drop)
        .collect();
    // PII found in columns kept as they are, by column: a warning, since a rule said keep.
    let mut kept_pii: BTreeMap<usize, BTreeMap<Entity, u64>> = BTreeMap::new();
    let mut rows = Vec::with_capacity(table.rows.len());
    for (row, line) in table.rows.iter().zip(&table.lines) {
        let mut out = Vec::with_capacity(kept.len());
        for &i in &kept {
            let column = &table.columns[i];
            let at = |what: String| DatasetError::Value {
                line: *line,
                column: column.clone(),
                what,
            };
            let cell = &row[i];
            out.push(match actions[i] {
                ColumnAction::Keep | ColumnAction::Drop => {
                    if let Cell::Json(v) = cell {
                        count_pii(v, engine, &mut kept_pii, i).map_err(|e| at(e.to_string()))?;
                    }
                    cell.clone()
                }
                ColumnAction::Hash { domain } if !cell.is_missing() => Cell::text(
                    keys.pseudonym(domain, &cell.as_text())
                        .map_err(|e| at(e.to_string()))?,
                ),
                ColumnAction::Hash { .. } => cell.clone(),
                ColumnAction::Redact => match cell {
                    Cell::Absent => Cell::Absent,
                    Cell::Json(v) => Cell::Json(
                        redact_value(v, engine, &redact_all, keys, &mut pii_redacted)
                            .map_err(|e| at(e.to_string()))?,
                    ),
                },
                ColumnAction::Generalize(g) => g.apply(cell).map_err(|w| at(w.into()))?,
            });
        }
        rows.push(out);
    }
    let columns: Vec<String> = kept.iter().map(|i| table.columns[*i].clone()).collect();
    let index = |name: &String| columns.iter().position(|c| c == name);
    let qi: Vec<usize> = privacy.quasi_identifiers.iter().filter_map(index).collect();
    let sensitive: Vec<usize> = privacy.sensitive.iter().filter_map(index).collect();

    // No quasi-identifiers named: nothing to group by, and nothing is claimed.
    let group = |rows: &[Vec<Cell>]| {
        if qi.is_empty() {
            HashMap::new()
        } else {
            classes(rows, &qi)
        }
    };
    let groups = group(&rows);
    let below = |rows: &[Vec<Cell>], members: &[usize]| -> bool {
        members.len() < privacy.k
            || sensitive
                .iter()
                .any(|&s| distinct(rows, members, s) < privacy.l)
    };
    let before = measure(&rows, &groups, &sensitive, &below);
    let mut report = Report {
        rows_in: table.rows.len(),
        rows_out: rows.len(),
        suppressed: 0,
        columns: table
            .columns
            .iter()
            .zip(&actions)
            .map(|(c, a)| (c.clone(), describe(a)))
            .collect(),
        quasi_identifiers: privacy.quasi_identifiers.clone(),
        sensitive: privacy.sensitive.clone(),
        k_target: privacy.k,
        l_target: privacy.l,
        after: before.clone(),
        before,
        pii_redacted: pii_redacted
            .into_iter()
            .map(|(e, n)| (e.as_str().to_string(), n))
            .collect(),
        warnings: columns
            .iter()
            .filter(|c| {
                matches!(rules.action_for(c), Some(ColumnAction::Generalize(_)))
                    && !privacy.quasi_identifiers.contains(c)
            })
            .map(|c| {
                format!(
                    "`{c}` is generalized but not a quasi-identifier, so k and l do not count \
                     it; add it to privacy.quasi_identifiers if it could help single a person out"
                )
            })
            .chain(qi.is_empty().then(|| {
                "no [privacy] quasi_identifiers in the rules: k-anonymity and l-diversity were \
                 not measured, and nothing says this output cannot single a person out"
                    .to_string()
            }))
            .chain(kept_pii.iter().map(|(&i, found)| {
                let found: Vec<String> = found
                    .iter()
                    .map(|(e, n)| format!("{} {n}", e.as_str()))
                    .collect();
                format!(
                    "`{}` is kept as it is but holds personal data ({}); redact, hash or drop it",
                    table.columns[i],
                    found.join(", ")
                )
            }))
            .collect(),
    };
    let mut lines = table.lines;
    let short = report.before.rows_below_target;
    if short > 0 {
        let share = short as f64 / rows.len() as f64;
        let why = match privacy.below_target {
            BelowTarget::Refuse => Some(format!(
                "{} group(s) holding {short} row(s) are below k = {} / l = {} and the rules say \
                 below_target = \"refuse\"; generalize the quasi-identifiers further",
                report.before.classes_below_target, privacy.k, privacy.l
            )),
            BelowTarget::Suppress if share > privacy.max_suppressed => Some(format!(
                "meeting k = {} / l = {} would suppress {short} of {} rows ({:.1}%), over \
                 max_suppressed = {}; generalize the quasi-identifiers further or raise it",
                privacy.k,
                privacy.l,
                rows.len(),
                share * 100.0,
                privacy.max_suppressed
            )),
            BelowTarget::Suppress => None,
        };
        if let Some(why) = why {
            return Err(DatasetError::BelowTarget {
                why,
                report: Box::new(report),
            });
        }
        let mut keep = vec![true; rows.len()];
        for members in groups.values().filter(|m| below(&rows, m)) {
            for &r in members {
                keep[r] = false;
            }
        }
        (rows, lines) = rows
            .into_iter()
            .zip(lines)
            .zip(&keep)
            .filter_map(|(row_and_line, kept)| kept.then_some(row_and_line))
            .unzip();
        report.after = measure(&rows, &group(&rows), &sensitive, &below);
        report.suppressed = short;
        report.rows_out = rows.len();
    }
    Ok(Anonymized {
        table: Table {
            format: table.format,
            columns,
            rows,
            lines,
        },
        report,
    })
}

fn describe(action: &ColumnAction) -> String {
    match action {
        ColumnAction::Keep => "keep".into(),
        ColumnAction::Drop => "drop".into(),
        ColumnAction::Hash { domain } => format!("hash ({domain})"),
        ColumnAction::Redact => "redact".into(),
        ColumnAction::Generalize(Generalize::AgeBand { width, top }) => {
            format!("generalize: age bands of {width}, {top}+")
        }
        ColumnAction::Generalize(Generalize::Zip { keep, safe_harbor }) => format!(
            "generalize: ZIP to {keep} digits{}",
            if *safe_harbor {
                ", sparse areas 000"
            } else {
                ""
            }
        ),
        ColumnAction::Generalize(Generalize::Date { to }) => format!(
            "generalize: date to the {}",
            match to {
                DatePrecision::Year => "year",
                DatePrecision::Month => "month",
            }
        ),
    }
}

/// Row indices grouped by their quasi-identifier values (missing values form a group too).
fn classes(rows: &[Vec<Cell>], qi: &[usize]) -> HashMap<Vec<String>, Vec<usize>> {
    let mut groups: HashMap<Vec<String>, Vec<usize>> = HashMap::new();
    for (r, row) in rows.iter().enumerate() {
        let key = qi
            .iter()
            .map(|&c| {
                if row[c].is_missing() {
                    "\u{0}missing".to_string()
                } else {
                    row[c].as_text()
                }
            })
            .collect();
        groups.entry(key).or_default().push(r);
    }
    groups
}

/// Distinct sensitive values in a group; a missing value is not one (it tells nothing apart).
fn distinct(rows: &[Vec<Cell>], members: &[usize], column: usize) -> usize {
    members
        .iter()
        .filter(|&&r| !rows[r][column].is_missing())
        .map(|&r| rows[r][column].as_text())
        .collect::<BTreeSet<_>>()
        .len()
}

/// Whether a group (row indices into the rows) misses k or l.
type BelowTest<'a> = dyn Fn(&[Vec<Cell>], &[usize]) -> bool + 'a;

fn measure(
    rows: &[Vec<Cell>],
    groups: &HashMap<Vec<String>, Vec<usize>>,
    sensitive: &[usize],
    below: &BelowTest,
) -> Measure {
    let mut m = Measure {
        classes: groups.len(),
        ..Measure::default()
    };
    for members in groups.values() {
        m.k = Some(m.k.map_or(members.len(), |k| k.min(members.len())));
        for &s in sensitive {
            let d = distinct(rows, members, s);
            m.l = Some(m.l.map_or(d, |l| l.min(d)));
        }
        if below(rows, members) {
            m.classes_below_target += 1;
            m.rows_below_target += members.len();
        }
    }
    m
}

/// Count (not change) the PII in the strings of a kept value.
fn count_pii(
    value: &Value,
    engine: &Engine,
    found: &mut BTreeMap<usize, BTreeMap<Entity, u64>>,
    column: usize,
) -> Result<(), crate::TooCostly> {
    match value {
        Value::String(s) => {
            for span in engine.scan_str(s)? {
                *found
                    .entry(column)
                    .or_default()
                    .entry(span.entity)
                    .or_insert(0) += 1;
            }
        }
        Value::Array(items) => {
            for v in items {
                count_pii(v, engine, found, column)?;
            }
        }
        Value::Object(map) => {
            for v in map.values() {
                count_pii(v, engine, found, column)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The PII engine over every string inside `value`; a number whose digits are PII (an SSN
/// stored as a number) becomes the redacted string.
fn redact_value(
    value: &Value,
    engine: &Engine,
    policy: &Policy,
    keys: &Keys,
    counts: &mut BTreeMap<Entity, u64>,
) -> Result<Value, crate::PiiError> {
    let mut text = |s: &str| -> Result<Option<String>, crate::PiiError> {
        let spans = engine.scan_str(s)?;
        if spans.is_empty() {
            return Ok(None);
        }
        let (out, found) = match actions::apply(s, &spans, policy, keys)? {
            Outcome::Minimized { text, counts } => (text, counts),
            // Not reachable with a redacting policy; if it were, nothing of the text stays.
            Outcome::Rejected { entity, counts } => (format!("<{}>", entity.as_str()), counts),
        };
        for (e, n) in found {
            *counts.entry(e).or_insert(0) += u64::from(n);
        }
        Ok(Some(out))
    };
    Ok(match value {
        Value::String(s) => Value::String(text(s)?.unwrap_or_else(|| s.clone())),
        Value::Number(n) => match text(&n.to_string())? {
            Some(redacted) => Value::String(redacted),
            None => value.clone(),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| redact_value(v, engine, policy, keys, counts))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key =
                        redact_value(&Value::String(k.clone()), engine, policy, keys, counts)?;
                    let key = key.as_str().unwrap_or_default().to_string();
                    Ok((key, redact_value(v, engine, policy, keys, counts)?))
                })
                .collect::<Result<_, crate::PiiError>>()?,
        ),
        Value::Null | Value::Bool(_) => value.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{Format, Formulas, Limits};

    const PATIENTS: &str = "\
name,email,age,zip,dob,notes,diagnosis
Ann,ann@example.com,34,94107,1990-02-11,SSN 536-22-8710 on file,flu
Bob,bob@example.com,36,94110,1988-07-30,call 415-555-0134,asthma
Cy,cy@example.com,31,94103,1993-01-02,,flu
Di,di@example.com,38,94107,1987-12-12,no notes,diabetes
Ed,ed@example.com,72,10001,1952-03-03,,flu
";

    fn table(text: &str) -> Table {
        Table::from_reader(text.as_bytes(), Format::Csv, Limits::default(), "in.csv").unwrap()
    }

    fn rules(extra_privacy: &str) -> Rules {
        Rules::parse(
            &format!(
                r#"
[columns]
name = "drop"
email = "hash"
age = {{ generalize = "age", width = 10 }}
zip = {{ generalize = "zip", keep = 3 }}
dob = {{ generalize = "date", to = "year" }}
notes = "redact"
diagnosis = "keep"
[privacy]
quasi_identifiers = ["age", "zip"]
{extra_privacy}
"#
            ),
            "rules.toml",
        )
        .unwrap()
    }

    fn keys() -> Keys {
        Keys::new(Some(&[7u8; 32]), None).unwrap()
    }

    fn run(rules: &Rules) -> Result<Anonymized, DatasetError> {
        anonymize(table(PATIENTS), rules, &Engine::new().unwrap(), &keys())
    }

    #[test]
    fn columns_are_transformed_and_the_lone_row_is_suppressed() {
        let rules = rules("k = 2\nmax_suppressed = 0.5");
        let out = run(&rules).unwrap();
        assert_eq!(
            out.table.columns,
            ["email", "age", "zip", "dob", "notes", "diagnosis"]
        );
        // Ed (72, 100**) is alone in his group: suppressed.
        assert_eq!(out.table.rows.len(), 4);
        assert_eq!(out.report.suppressed, 1);
        assert_eq!(out.report.before.k, Some(1));
        assert_eq!(out.report.after.k, Some(4));
        let first = &out.table.rows[0];
        assert_eq!(first[1].as_text(), "30-39");
        assert_eq!(first[2].as_text(), "941**");
        assert_eq!(first[3].as_text(), "1990");
        assert_eq!(first[4].as_text(), "SSN <US_SSN> on file");
        assert_eq!(out.table.rows[1][4].as_text(), "call <PHONE_NUMBER>");
        let pseudonym = first[0].as_text();
        assert_eq!(pseudonym.len(), 20);
        assert_eq!(
            pseudonym,
            keys().pseudonym("email", "ann@example.com").unwrap()
        );
        assert_eq!(out.report.pii_redacted["US_SSN"], 1);
        let mut text = Vec::new();
        out.table
            .write_to(&mut text, Format::Csv, Formulas::Neutralize)
            .unwrap();
        let text = String::from_utf8(text).unwrap();
        for planted in [
            "Ann",
            "ann@example.com",
            "536-22-8710",
            "415-555-0134",
            "94107",
            "1990-02-11",
        ] {
            assert!(!text.contains(planted), "{planted} leaked: {text}");
        }
    }

    #[test]
    fn personal_data_in_a_kept_column_is_warned_about_by_column_and_type() {
        let rules = Rules::parse(
            "default = \"keep\"\n[privacy]\nquasi_identifiers = [\"zip\"]\nk = 1",
            "r",
        )
        .unwrap();
        let out = anonymize(table(PATIENTS), &rules, &Engine::new().unwrap(), &keys()).unwrap();
        let w = out.report.warnings.join("\n");
        assert!(
            w.contains("`email` is kept as it is but holds personal data (EMAIL_ADDRESS 5)"),
            "{w}"
        );
        assert!(
            w.contains("`notes`") && w.contains("US_SSN 1") && !w.contains("536-22"),
            "{w}"
        );
    }

    #[test]
    fn without_quasi_identifiers_columns_change_and_nothing_is_claimed() {
        let rules = Rules::parse(
            "[columns]\nname = \"drop\"\nemail = \"hash\"\nage = { generalize = \"age\" }\nzip = \"drop\"\ndob = \"drop\"\nnotes = \"redact\"\ndiagnosis = \"keep\"",
            "r",
        )
        .unwrap();
        let out = anonymize(table(PATIENTS), &rules, &Engine::new().unwrap(), &keys()).unwrap();
        assert_eq!(out.table.rows.len(), 5);
        assert_eq!(out.report.before.k, None);
        assert!(out
            .report
            .warnings
            .iter()
            .any(|w| w.contains("not measured")));
    }

    #[test]
    fn refusing_writes_nothing_and_says_why() {
        let Err(DatasetError::BelowTarget { why, report }) =
            run(&rules("k = 2\nbelow_target = \"refuse\""))
        else {
            panic!("expected a refusal");
        };
        assert!(why.contains("k = 2") && why.contains("refuse"), "{why}");
        assert_eq!(report.before.rows_below_target, 1);
        // Suppressing 1 of 5 rows is 20%, over the default 5%.
        let Err(DatasetError::BelowTarget { why, .. }) = run(&rules("k = 2")) else {
            panic!("expected a refusal");
        };
        assert!(why.contains("max_suppressed"), "{why}");
    }

    #[test]
    fn l_diversity_counts_distinct_sensitive_values() {
        let rules = rules("k = 2\nsensitive = [\"diagnosis\"]\nl = 3\nmax_suppressed = 1.0");
        let out = run(&rules).unwrap();
        // The 30-39/941** group has flu, asthma, diabetes: l = 3. Ed's group is suppressed.
        assert_eq!(out.report.before.l, Some(1));
        assert_eq!(out.report.after.l, Some(3));
        assert_eq!(out.table.rows.len(), 4);
        let strict = Rules::parse(
            "default = \"keep\"\n[privacy]\nquasi_identifiers = [\"zip\"]\nk = 1\nsensitive = [\"diagnosis\"]\nl = 2\nmax_suppressed = 1.0",
            "r",
        )
        .unwrap();
        let out = anonymize(table(PATIENTS), &strict, &Engine::new().unwrap(), &keys()).unwrap();
        // Only 94107 (flu, diabetes) has two diagnoses; the single-row ZIPs go.
        assert_eq!(out.table.rows.len(), 2);
        assert_eq!(out.report.after.l, Some(2));
        assert_eq!(out.report.suppressed, 3);
    }

    #[test]
    fn rules_must_cover_every_column_and_name_real_ones() {
        let partial = Rules::parse(
            "[columns]\nage = \"keep\"\n[privacy]\nquasi_identifiers = [\"age\"]\nk = 1",
            "r.toml",
        )
        .unwrap();
        let e = anonymize(table(PATIENTS), &partial, &Engine::new().unwrap(), &keys())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("r.toml") && e.contains("no rule for name, email"),
            "{e}"
        );
        let typo = Rules::parse(
            "default = \"keep\"\n[columns]\nemial = \"hash\"\n[privacy]\nquasi_identifiers = [\"age\"]\nk = 1",
            "r.toml",
        )
        .unwrap();
        let e = anonymize(table(PATIENTS), &typo, &Engine::new().unwrap(), &keys())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("columns.emial") && e.contains("no such column"),
            "{e}"
        );
    }

    #[test]
    fn a_value_that_cannot_be_generalized_is_an_error_naming_line_and_column() {
        let bad = PATIENTS.replace("94110", "ninety");
        let e = anonymize(
            table(&bad),
            &rules("k = 1"),
            &Engine::new().unwrap(),
            &keys(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.contains("line 3") && e.contains("`zip`") && !e.contains("ninety"),
            "{e}"
        );
        let no_key = anonymize(
            table(PATIENTS),
            &rules("k = 1"),
            &Engine::new().unwrap(),
            &Keys::default(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            no_key.contains("`email`") && no_key.contains("key"),
            "{no_key}"
        );
    }

    #[test]
    fn json_lines_redact_inside_nested_values() {
        let text = "{\"id\":1,\"note\":{\"ssn\":\"SSN 536-22-8710\",\"list\":[\"mail a@b.example.com\"]},\"n\":123456789,\"age\":40}\n\
                    {\"id\":2,\"note\":\"fine\",\"n\":5,\"age\":41}\n";
        let t =
            Table::from_reader(text.as_bytes(), Format::JsonLines, Limits::default(), "t").unwrap();
        let rules = Rules::parse(
            "default = \"redact\"\n[columns]\nid = \"keep\"\nage = { generalize = \"age\" }\n[privacy]\nquasi_identifiers = [\"age\"]\nk = 2",
            "r",
        )
        .unwrap();
        let out = anonymize(t, &rules, &Engine::new().unwrap(), &keys()).unwrap();
        let mut buf = Vec::new();
        out.table
            .write_to(&mut buf, Format::JsonLines, Formulas::Neutralize)
            .unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(
            !text.contains("536-22-8710") && !text.contains("a@b.example.com"),
            "{text}"
        );
        assert!(text.contains("\"id\":1"), "{text}");
    }
}
