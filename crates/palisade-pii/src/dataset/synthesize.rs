//! `palisade data synthesize`: a Gaussian copula fitted to the real rows, sampled into new
//! ones.
//!
//! Each column gets its marginal (the empirical quantiles of a numeric column, the
//! frequencies of a categorical one); the dependence between columns is one correlation
//! matrix over their normal scores. Sampling draws correlated normals, maps them through Φ
//! to uniforms, and each uniform through the column's marginal.
//!
//! What is left out, because sampling it would copy real people: text with many distinct
//! values (names, e-mails, free text) and integer columns where every value is distinct
//! (identifiers). Categories seen fewer than `min_category_count` times are pooled into
//! `(other)`. No synthetic row equal to a real one is written; the report measures how close
//! the rest come (distance to the closest real record, nearest-neighbour distance ratio),
//! next to the same figures for real rows among themselves.

use std::collections::{BTreeMap, HashMap, HashSet};

use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;
use serde_json::Value;

use super::generalize::{civil_from_days, days_from_civil, parse_date};
use super::stats;
use super::table::{Cell, Format, Table};
use super::DatasetError;
use crate::{actions, Action, Engine, Keys, Outcome, Policy};

#[derive(Debug, Clone)]
pub struct SynthesisOptions {
    pub rows: usize,
    /// For a reproducible run; drawn from the OS when absent (and reported).
    pub seed: Option<u64>,
    /// Only these columns (all when empty).
    pub columns: Vec<String>,
    /// Text columns with more distinct values than this are left out.
    pub max_categories: usize,
    /// Rarer categories are pooled into `(other)`.
    pub min_category_count: usize,
    /// Synthetic rows measured by the privacy check (nearest neighbours are quadratic).
    pub privacy_sample: usize,
}

impl Default for SynthesisOptions {
    fn default() -> Self {
        SynthesisOptions {
            rows: 1000,
            seed: None,
            columns: Vec::new(),
            max_categories: 50,
            min_category_count: 5,
            privacy_sample: 1000,
        }
    }
}

pub const MAX_ROWS: usize = 10_000_000;
const OTHER: &str = "(other)";
/// Attempts at drawing a row that differs from every real row before giving up on it.
const RESAMPLE_ATTEMPTS: usize = 50;
/// Real rows the privacy check compares against.
const PRIVACY_REFERENCE: usize = 20_000;
/// Pilot draws that correct the copula's correlations (see [`calibrate`]).
const CALIBRATION_ROUNDS: usize = 3;

#[derive(Debug, Clone, Serialize)]
pub struct SynthesisReport {
    pub rows_real: usize,
    pub rows_synthetic: usize,
    pub seed: u64,
    pub columns: Vec<ColumnFidelity>,
    /// Columns not synthesized, with why.
    pub left_out: Vec<(String, String)>,
    pub correlation: Option<CorrelationFidelity>,
    pub privacy: Privacy,
    /// PII found (and redacted) in category labels, by entity type.
    pub pii_redacted: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnFidelity {
    pub name: String,
    pub kind: &'static str,
    /// `ks` (numeric: Kolmogorov–Smirnov statistic) or `tvd` (categorical: total variation).
    pub metric: &'static str,
    /// 0 is identical distributions, 1 is disjoint.
    pub distance: f64,
    pub missing_real: f64,
    pub missing_synthetic: f64,
    /// Categories pooled into `(other)`.
    pub pooled: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct CorrelationFidelity {
    /// Mean and largest absolute difference between the real and the synthetic correlation
    /// of normal scores, over all column pairs.
    pub mean_abs_difference: f64,
    pub max_abs_difference: f64,
    pub worst_pair: (String, String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Privacy {
    /// Synthetic rows equal to a real row that were drawn again.
    pub resampled: usize,
    /// Rows given up on after as many draws (not written).
    pub dropped: usize,
    /// Synthetic rows written that equal a real row: always 0.
    pub exact_matches: usize,
    pub sample: usize,
    pub synthetic_to_real: Closeness,
    /// Each sampled real row against the other real rows: what "close" means in this data.
    pub real_to_real: Closeness,
}

/// Gower distances (numeric gaps scaled by the column's range, categories 0 or 1, averaged
/// over columns) to the closest and second-closest record.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Closeness {
    pub dcr_p5: f64,
    pub dcr_median: f64,
    /// Nearest-neighbour distance ratio (closest / second closest); near 0 means a row sits
    /// much closer to one record than to any other.
    pub nndr_p5: f64,
    pub nndr_median: f64,
}

pub struct Synthesized {
    pub table: Table,
    pub report: SynthesisReport,
}

enum Kind {
    Numeric {
        sorted: Vec<f64>,
        integer: bool,
        decimals: usize,
        json_numbers: bool,
        /// ISO dates, held as days since 1970-01-01.
        dates: bool,
    },
    Categorical {
        /// Most frequent first; `(other)` last when rare ones were pooled.
        categories: Vec<Category>,
        /// Cumulative share at the start of each category, and 1.0 at the end.
        bounds: Vec<f64>,
        pooled: usize,
    },
}

struct Category {
    /// What real cells are matched on.
    key: String,
    /// What is written: the real value, with any PII in it redacted.
    output: Cell,
    count: f64,
}

struct Column {
    name: String,
    source: usize,
    missing: f64,
    kind: Kind,
}

/// One value as the model sees it, for real and synthetic rows alike.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Drawn {
    Missing,
    /// Rounded to the column's precision; dates as days.
    Number(f64),
    Category(usize),
}

/// What makes two rows "equal": numbers by value, categories by index, missing alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Missing,
    Number(u64),
    Category(usize),
}

impl From<Drawn> for Key {
    fn from(d: Drawn) -> Key {
        match d {
            Drawn::Missing => Key::Missing,
            Drawn::Number(x) => Key::Number((x + 0.0).to_bits()),
            Drawn::Category(c) => Key::Category(c),
        }
    }
}

/// Fit a copula to `table` and draw `options.rows` synthetic rows. Category labels go
/// through `engine`, so PII inside a frequent label (a repeated phone number) is redacted.
pub fn synthesize(
    table: &Table,
    options: &SynthesisOptions,
    engine: &Engine,
) -> Result<Synthesized, DatasetError> {
    if options.rows == 0 || options.rows > MAX_ROWS {
        return Err(DatasetError::Synthesis(format!(
            "--rows must be from 1 to {MAX_ROWS}"
        )));
    }
    for name in &options.columns {
        if table.column(name).is_none() {
            return Err(DatasetError::Synthesis(format!(
                "--columns: `{name}` is not a column of the input; it has: {}",
                table.columns.join(", ")
            )));
        }
    }
    if table.rows.len() < 2 {
        return Err(DatasetError::Synthesis(
            "the input needs at least 2 rows to fit a model to".into(),
        ));
    }
    let seed = options.seed.unwrap_or_else(rand::random);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let mut left_out = Vec::new();
    let mut columns = Vec::new();
    let mut pii_redacted = BTreeMap::<String, u64>::new();
    for (i, name) in table.columns.iter().enumerate() {
        if !options.columns.is_empty() && !options.columns.contains(name) {
            continue;
        }
        match fit_column(table, i, options, engine, &mut pii_redacted) {
            Ok(kind) => columns.push(Column {
                name: name.clone(),
                source: i,
                missing: table.rows.iter().filter(|r| r[i].is_missing()).count() as f64
                    / table.rows.len() as f64,
                kind,
            }),
            Err(why) => left_out.push((name.clone(), why)),
        }
    }
    if columns.is_empty() {
        return Err(DatasetError::Synthesis(format!(
            "no column can be synthesized: {}",
            left_out
                .iter()
                .map(|(c, w)| format!("`{c}` ({w})"))
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }

    let real: Vec<Vec<Drawn>> = table
        .rows
        .iter()
        .map(|r| columns.iter().map(|c| observe(c, &r[c.source])).collect())
        .collect();
    let sigma = stats::correlation(&normal_scores(&columns, &real, &mut rng));
    let factor = calibrate(&columns, &sigma, real.len(), &mut rng);

    let real_keys: HashSet<Vec<Key>> = real.iter().map(|r| row_key(r)).collect();
    let mut synthetic = Vec::with_capacity(options.rows);
    let (mut resampled, mut dropped) = (0, 0);
    for _ in 0..options.rows {
        let mut attempt = 0;
        loop {
            let row = draw_row(&columns, &factor, &mut rng);
            if !real_keys.contains(&row_key(&row)) {
                synthetic.push(row);
                break;
            }
            attempt += 1;
            if attempt == RESAMPLE_ATTEMPTS {
                dropped += 1;
                break;
            }
            resampled += 1;
        }
    }

    let fidelity = columns
        .iter()
        .enumerate()
        .map(|(j, c)| column_fidelity(c, &real, &synthetic, j))
        .collect();
    let correlation = if columns.len() > 1 && !synthetic.is_empty() {
        let seen = stats::correlation(&normal_scores(&columns, &synthetic, &mut rng));
        let mut worst = (0.0, 0, 1);
        let (mut sum, mut pairs) = (0.0, 0);
        for i in 0..columns.len() {
            for j in i + 1..columns.len() {
                let d = (sigma[i][j] - seen[i][j]).abs();
                sum += d;
                pairs += 1;
                if d > worst.0 {
                    worst = (d, i, j);
                }
            }
        }
        Some(CorrelationFidelity {
            mean_abs_difference: sum / pairs as f64,
            max_abs_difference: worst.0,
            worst_pair: (columns[worst.1].name.clone(), columns[worst.2].name.clone()),
        })
    } else {
        None
    };
    let privacy = privacy(
        &columns,
        &real,
        &synthetic,
        options.privacy_sample,
        (resampled, dropped),
        &mut rng,
    );
    let rows: Vec<Vec<Cell>> = synthetic
        .iter()
        .map(|r| {
            columns
                .iter()
                .zip(r)
                .map(|(c, d)| render(c, *d, table.format))
                .collect()
        })
        .collect();
    let report = SynthesisReport {
        rows_real: table.rows.len(),
        rows_synthetic: rows.len(),
        seed,
        columns: fidelity,
        left_out,
        correlation,
        privacy,
        pii_redacted,
    };
    Ok(Synthesized {
        table: Table {
            format: table.format,
            columns: columns.iter().map(|c| c.name.clone()).collect(),
            lines: (1..=rows.len() as u64).collect(),
            rows,
        },
        report,
    })
}

/// The copula's Cholesky factor, its correlations nudged until rows drawn from it show the
/// real correlations. Categories and missing values enter the copula coarsely (a category
/// is a band of normal scores, a missing value scores 0), which weakens every correlation
/// they take part in; a few pilot draws measure by how much, and the target is raised to
/// make up for it.
fn calibrate(
    columns: &[Column],
    sigma: &[Vec<f64>],
    real_rows: usize,
    rng: &mut rand::rngs::StdRng,
) -> Vec<Vec<f64>> {
    let mut target = sigma.to_vec();
    let mut factor = stats::cholesky_shrunk(&target);
    let coarse = columns
        .iter()
        .any(|c| c.missing > 0.0 || matches!(c.kind, Kind::Categorical { .. }));
    if columns.len() < 2 || !coarse {
        return factor;
    }
    let pilot_rows = real_rows.clamp(500, 5000);
    for _ in 0..CALIBRATION_ROUNDS {
        let pilot: Vec<Vec<Drawn>> = (0..pilot_rows)
            .map(|_| draw_row(columns, &factor, rng))
            .collect();
        let seen = stats::correlation(&normal_scores(columns, &pilot, rng));
        for i in 0..columns.len() {
            for j in 0..columns.len() {
                if i != j {
                    target[i][j] = (target[i][j] + sigma[i][j] - seen[i][j]).clamp(-0.995, 0.995);
                }
            }
        }
        factor = stats::cholesky_shrunk(&target);
    }
    factor
}

/// An ISO date (`YYYY-MM-DD`, optionally with a time) as days since 1970-01-01.
fn date_days(cell: &Cell) -> Option<f64> {
    match parse_date(cell.as_text().trim())? {
        (y, Some(m), Some(d)) => days_from_civil(y, m, d).map(|days| days as f64),
        _ => None,
    }
}

fn fit_column(
    table: &Table,
    i: usize,
    options: &SynthesisOptions,
    engine: &Engine,
    pii: &mut BTreeMap<String, u64>,
) -> Result<Kind, String> {
    let present: Vec<&Cell> = table
        .rows
        .iter()
        .map(|r| &r[i])
        .filter(|c| !c.is_missing())
        .collect();
    if present.is_empty() {
        return Err("no values".into());
    }
    let numbers: Option<Vec<f64>> = present.iter().map(|c| c.number()).collect();
    let dates: Option<Vec<f64>> = match numbers {
        Some(_) => None,
        None => present.iter().map(|c| date_days(c)).collect(),
    };
    let mut counts: HashMap<String, (Cell, f64)> = HashMap::new();
    for c in &present {
        counts
            .entry(category_key(c))
            .or_insert_with(|| ((*c).clone(), 0.0))
            .1 += 1.0;
        if counts.len() > options.max_categories && numbers.is_none() && dates.is_none() {
            return Err(format!(
                "text with over {} distinct values; sampling it would copy real values \
                 (raise --max-categories if it is a category)",
                options.max_categories
            ));
        }
    }
    let few = counts.len() <= options.max_categories.min(20);
    if let (Some(mut sorted), false) = (dates.clone(), few) {
        sorted.sort_by(f64::total_cmp);
        return Ok(Kind::Numeric {
            sorted,
            integer: true,
            decimals: 0,
            json_numbers: false,
            dates: true,
        });
    }
    if let (Some(mut sorted), false) = (numbers, few) {
        let integer = sorted.iter().all(|x| x.fract() == 0.0);
        if integer && counts.len() == present.len() && present.len() >= 20 {
            return Err("every value is a distinct whole number: an identifier".into());
        }
        sorted.sort_by(f64::total_cmp);
        let decimals = present
            .iter()
            .map(|c| {
                c.as_text()
                    .trim()
                    .split_once('.')
                    .map_or(0, |(_, f)| f.bytes().take_while(u8::is_ascii_digit).count())
            })
            .max()
            .unwrap_or(0)
            .min(6);
        let json_numbers = present
            .iter()
            .all(|c| matches!(c, Cell::Json(Value::Number(_))));
        return Ok(Kind::Numeric {
            sorted,
            integer,
            decimals,
            json_numbers,
            dates: false,
        });
    }
    // Few distinct values (flags, scores, labels): a category each, kept exact.
    let mut found: Vec<(String, Cell, f64)> =
        counts.into_iter().map(|(k, (c, n))| (k, c, n)).collect();
    // Most frequent first; ties by value, so a seeded run is reproducible.
    found.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    let redact = Policy::uniform(Action::Redact);
    const UNINSPECTED: &str = "<UNINSPECTED>";
    let mut categories: Vec<Category> = Vec::new();
    let (mut other, mut pooled) = (0.0, 0);
    for (key, cell, count) in found {
        if (count as usize) < options.min_category_count {
            other += count;
            pooled += 1;
            continue;
        }
        let mut output = cell;
        if let Cell::Json(Value::String(text)) = &output {
            match engine.scan_str(text) {
                Ok(spans) if !spans.is_empty() => {
                    if let Ok(Outcome::Minimized { text, counts }) =
                        actions::apply(text, &spans, &redact, &Keys::default())
                    {
                        for (e, n) in counts {
                            *pii.entry(e.as_str().to_string()).or_insert(0) += u64::from(n);
                        }
                        output = Cell::text(text);
                    }
                }
                Ok(_) => {}
                // A label nobody could inspect is not copied into synthetic data.
                Err(_) => output = Cell::text(UNINSPECTED),
            }
        }
        categories.push(Category { key, output, count });
    }
    if other > 0.0 {
        categories.push(Category {
            key: OTHER.into(),
            output: Cell::text(OTHER),
            count: other,
        });
    }
    let total: f64 = categories.iter().map(|c| c.count).sum();
    let mut bounds = Vec::with_capacity(categories.len() + 1);
    let mut acc = 0.0;
    for c in &categories {
        bounds.push(acc / total);
        acc += c.count;
    }
    bounds.push(1.0);
    Ok(Kind::Categorical {
        categories,
        bounds,
        pooled,
    })
}

fn category_key(cell: &Cell) -> String {
    match (cell, cell.number()) {
        (Cell::Json(Value::Number(_)), Some(x)) => format!("{x}"),
        _ => cell.as_text(),
    }
}

/// A real cell as the model sees it; categories pooled into `(other)` map to it.
fn observe(column: &Column, cell: &Cell) -> Drawn {
    if cell.is_missing() {
        return Drawn::Missing;
    }
    match &column.kind {
        Kind::Numeric { dates, .. } => {
            let x = if *dates {
                date_days(cell)
            } else {
                cell.number()
            };
            x.map_or(Drawn::Missing, Drawn::Number)
        }
        Kind::Categorical { categories, .. } => {
            let key = category_key(cell);
            categories
                .iter()
                .position(|c| c.key == key)
                .or_else(|| categories.iter().position(|c| c.key == OTHER))
                .map_or(Drawn::Missing, Drawn::Category)
        }
    }
}

/// Normal scores per column (`[column][row]`): ranks for numbers, a uniform draw inside the
/// category's share for categories; missing values score 0.
fn normal_scores(
    columns: &[Column],
    rows: &[Vec<Drawn>],
    rng: &mut rand::rngs::StdRng,
) -> Vec<Vec<f64>> {
    columns
        .iter()
        .enumerate()
        .map(|(j, column)| match &column.kind {
            Kind::Numeric { .. } => {
                let mut present: Vec<(f64, usize)> = rows
                    .iter()
                    .enumerate()
                    .filter_map(|(r, row)| match row[j] {
                        Drawn::Number(x) => Some((x, r)),
                        _ => None,
                    })
                    .collect();
                present.sort_by(|a, b| a.0.total_cmp(&b.0));
                let mut scores = vec![0.0; rows.len()];
                let n = present.len() as f64;
                let mut i = 0;
                while i < present.len() {
                    let mut end = i;
                    while end + 1 < present.len() && present[end + 1].0 == present[i].0 {
                        end += 1;
                    }
                    let rank = (i + end) as f64 / 2.0 + 1.0; // ties share their mean rank
                    let z = stats::normal_quantile(rank / (n + 1.0));
                    for item in &present[i..=end] {
                        scores[item.1] = z;
                    }
                    i = end + 1;
                }
                scores
            }
            Kind::Categorical { bounds, .. } => rows
                .iter()
                .map(|row| match row[j] {
                    Drawn::Category(c) => {
                        let u = bounds[c] + rng.random::<f64>() * (bounds[c + 1] - bounds[c]);
                        stats::normal_quantile(u)
                    }
                    _ => 0.0,
                })
                .collect(),
        })
        .collect()
}

fn draw_row(columns: &[Column], factor: &[Vec<f64>], rng: &mut rand::rngs::StdRng) -> Vec<Drawn> {
    let e: Vec<f64> = (0..columns.len())
        .map(|_| StandardNormal.sample(rng))
        .collect();
    columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let z: f64 = (0..=i).map(|k| factor[i][k] * e[k]).sum();
            let u = stats::normal_cdf(z);
            if rng.random::<f64>() < column.missing {
                return Drawn::Missing;
            }
            match &column.kind {
                Kind::Numeric {
                    sorted,
                    integer,
                    decimals,
                    ..
                } => {
                    let pos = u * (sorted.len() - 1) as f64;
                    let lo = (pos.floor() as usize).min(sorted.len() - 1);
                    let hi = (lo + 1).min(sorted.len() - 1);
                    let x = sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo]);
                    let scale = 10f64.powi(*decimals as i32);
                    Drawn::Number(if *integer {
                        x.round()
                    } else {
                        (x * scale).round() / scale
                    })
                }
                Kind::Categorical {
                    categories, bounds, ..
                } => Drawn::Category(
                    bounds[1..]
                        .partition_point(|b| *b <= u)
                        .min(categories.len() - 1),
                ),
            }
        })
        .collect()
}

fn render(column: &Column, drawn: Drawn, format: Format) -> Cell {
    let x = match drawn {
        Drawn::Missing => {
            return match format {
                Format::JsonLines => Cell::Absent,
                Format::Csv => Cell::text(""),
            }
        }
        Drawn::Category(c) => {
            return match &column.kind {
                Kind::Categorical { categories, .. } => categories[c].output.clone(),
                Kind::Numeric { .. } => Cell::Absent,
            }
        }
        Drawn::Number(x) => x,
    };
    let Kind::Numeric {
        integer,
        decimals,
        json_numbers,
        dates,
        ..
    } = &column.kind
    else {
        return Cell::Absent;
    };
    if *dates {
        let (y, m, d) = civil_from_days(x as i64);
        return Cell::text(format!("{y:04}-{m:02}-{d:02}"));
    }
    if *json_numbers {
        let n = if *integer {
            Some(serde_json::Number::from(x as i64))
        } else {
            serde_json::Number::from_f64(x)
        };
        return n.map_or(Cell::Json(Value::Null), |n| Cell::Json(Value::Number(n)));
    }
    Cell::text(if *integer {
        format!("{}", x as i64)
    } else {
        format!("{x:.decimals$}")
    })
}

fn row_key(row: &[Drawn]) -> Vec<Key> {
    row.iter().copied().map(Key::from).collect()
}

fn column_fidelity(
    column: &Column,
    real: &[Vec<Drawn>],
    synthetic: &[Vec<Drawn>],
    j: usize,
) -> ColumnFidelity {
    let missing = |rows: &[Vec<Drawn>]| {
        rows.iter().filter(|r| r[j] == Drawn::Missing).count() as f64 / rows.len().max(1) as f64
    };
    let (kind, metric, distance, pooled) = match &column.kind {
        Kind::Numeric { sorted, dates, .. } => {
            let mut s: Vec<f64> = synthetic
                .iter()
                .filter_map(|r| match r[j] {
                    Drawn::Number(x) => Some(x),
                    _ => None,
                })
                .collect();
            s.sort_by(f64::total_cmp);
            let kind = if *dates { "date" } else { "numeric" };
            (kind, "ks", stats::ks_statistic(sorted, &s), 0)
        }
        Kind::Categorical {
            categories, pooled, ..
        } => {
            let count = |rows: &[Vec<Drawn>]| {
                let mut v = vec![0.0; categories.len()];
                for r in rows {
                    if let Drawn::Category(c) = r[j] {
                        v[c] += 1.0;
                    }
                }
                v
            };
            (
                "categorical",
                "tvd",
                stats::total_variation(&count(real), &count(synthetic)),
                *pooled,
            )
        }
    };
    ColumnFidelity {
        name: column.name.clone(),
        kind,
        metric,
        distance,
        missing_real: missing(real),
        missing_synthetic: missing(synthetic),
        pooled,
    }
}

fn privacy(
    columns: &[Column],
    real: &[Vec<Drawn>],
    synthetic: &[Vec<Drawn>],
    sample: usize,
    (resampled, dropped): (usize, usize),
    rng: &mut rand::rngs::StdRng,
) -> Privacy {
    let ranges: Vec<Option<f64>> = columns
        .iter()
        .map(|c| match &c.kind {
            Kind::Numeric { sorted, .. } => {
                Some((sorted[sorted.len() - 1] - sorted[0]).max(f64::MIN_POSITIVE))
            }
            Kind::Categorical { .. } => None,
        })
        .collect();
    let gower = |a: &[Drawn], b: &[Drawn]| -> f64 {
        let mut d = 0.0;
        for ((x, y), range) in a.iter().zip(b).zip(&ranges) {
            d += match (x, y, range) {
                (Drawn::Missing, Drawn::Missing, _) => 0.0,
                (Drawn::Number(x), Drawn::Number(y), Some(r)) => ((x - y).abs() / r).min(1.0),
                (Drawn::Category(x), Drawn::Category(y), _) => f64::from(u8::from(x != y)),
                _ => 1.0,
            };
        }
        d / columns.len() as f64
    };
    let mut reference: Vec<usize> = (0..real.len()).collect();
    if reference.len() > PRIVACY_REFERENCE {
        rand::seq::SliceRandom::shuffle(&mut reference[..], rng);
        reference.truncate(PRIVACY_REFERENCE);
    }
    let reference: Vec<&[Drawn]> = reference.iter().map(|&r| real[r].as_slice()).collect();
    let closeness = |probes: &[(&[Drawn], Option<usize>)]| -> Closeness {
        let (mut dcr, mut nndr) = (Vec::new(), Vec::new());
        for (probe, itself) in probes {
            let (mut d1, mut d2) = (f64::INFINITY, f64::INFINITY);
            for (r, other) in reference.iter().enumerate() {
                if Some(r) == *itself {
                    continue;
                }
                let d = gower(probe, other);
                if d < d1 {
                    d2 = d1;
                    d1 = d;
                } else if d < d2 {
                    d2 = d;
                }
            }
            if d1.is_finite() {
                dcr.push(d1);
                nndr.push(if d2 > 0.0 && d2.is_finite() {
                    d1 / d2
                } else {
                    1.0
                });
            }
        }
        dcr.sort_by(f64::total_cmp);
        nndr.sort_by(f64::total_cmp);
        Closeness {
            dcr_p5: stats::percentile(&dcr, 0.05),
            dcr_median: stats::percentile(&dcr, 0.5),
            nndr_p5: stats::percentile(&nndr, 0.05),
            nndr_median: stats::percentile(&nndr, 0.5),
        }
    };
    let take = sample.min(synthetic.len());
    let synthetic_probes: Vec<(&[Drawn], Option<usize>)> = synthetic[..take]
        .iter()
        .map(|r| (r.as_slice(), None))
        .collect();
    let real_probes: Vec<(&[Drawn], Option<usize>)> = (0..sample.min(reference.len()))
        .map(|r| (reference[r], Some(r)))
        .collect();
    Privacy {
        resampled,
        dropped,
        exact_matches: 0,
        sample: take,
        synthetic_to_real: closeness(&synthetic_probes),
        real_to_real: closeness(&real_probes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Limits;

    fn engine() -> Engine {
        Engine::new().unwrap()
    }

    /// Income follows age; plan follows income; `name` and `id` must never be copied.
    fn people(n: usize) -> Table {
        let mut text = String::from("id,name,age,income,plan,zip\n");
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for i in 0..n {
            let age: f64 = 20.0 + rng.random::<f64>() * 50.0;
            let income = 1000.0 * age + 5000.0 * rng.random::<f64>();
            let plan = if income > 50_000.0 { "gold" } else { "basic" };
            let zip = ["94107", "10001", "60601"][i % 3];
            text.push_str(&format!(
                "{},person{i},{:.0},{income:.2},{plan},{zip}\n",
                1000 + i,
                age
            ));
        }
        Table::from_reader(text.as_bytes(), Format::Csv, Limits::default(), "t").unwrap()
    }

    #[test]
    fn identifiers_and_free_text_are_left_out() {
        let out = synthesize(
            &people(300),
            &SynthesisOptions {
                rows: 200,
                seed: Some(1),
                ..SynthesisOptions::default()
            },
            &engine(),
        )
        .unwrap();
        let left: Vec<&str> = out
            .report
            .left_out
            .iter()
            .map(|(c, _)| c.as_str())
            .collect();
        assert_eq!(left, ["id", "name"]);
        assert_eq!(out.table.columns, ["age", "income", "plan", "zip"]);
        assert_eq!(out.table.rows.len(), 200);
    }

    #[test]
    fn marginals_and_correlation_are_kept() {
        let real = people(2000);
        let out = synthesize(
            &real,
            &SynthesisOptions {
                rows: 2000,
                seed: Some(2),
                ..SynthesisOptions::default()
            },
            &engine(),
        )
        .unwrap();
        for c in &out.report.columns {
            assert!(
                c.distance < 0.08,
                "{}: {} = {}",
                c.name,
                c.metric,
                c.distance
            );
        }
        let corr = out.report.correlation.unwrap();
        assert!(corr.max_abs_difference < 0.1, "{corr:?}");
        // Income tracks age in the synthetic rows too.
        let ages: Vec<f64> = out
            .table
            .rows
            .iter()
            .filter_map(|r| r[0].number())
            .collect();
        let incomes: Vec<f64> = out
            .table
            .rows
            .iter()
            .filter_map(|r| r[1].number())
            .collect();
        let r = stats::correlation(&[ages, incomes])[0][1];
        assert!(r > 0.9, "{r}");
        // Values keep the input's precision and range.
        for row in &out.table.rows {
            let age = row[0].as_text();
            assert!(!age.contains('.'));
            let a: f64 = age.parse().unwrap();
            assert!((20.0..=70.0).contains(&a));
        }
    }

    #[test]
    fn no_synthetic_row_equals_a_real_one() {
        // Two columns of few values: most draws copy a real row and must be drawn again.
        let mut text = String::from("a,b\n");
        for i in 0..200 {
            text.push_str(&format!("{},{}\n", i % 2, ["x", "y", "z"][i % 3]));
        }
        text.push_str("0,y\n".repeat(5).as_str());
        let real =
            Table::from_reader(text.as_bytes(), Format::Csv, Limits::default(), "t").unwrap();
        let out = synthesize(
            &real,
            &SynthesisOptions {
                rows: 50,
                seed: Some(3),
                ..SynthesisOptions::default()
            },
            &engine(),
        )
        .unwrap();
        let real_rows: HashSet<(String, String)> = real
            .rows
            .iter()
            .map(|r| (r[0].as_text(), r[1].as_text()))
            .collect();
        for row in &out.table.rows {
            assert!(!real_rows.contains(&(row[0].as_text(), row[1].as_text())));
        }
        assert_eq!(out.report.privacy.exact_matches, 0);
        assert!(out.report.privacy.dropped + out.table.rows.len() == 50);
    }

    #[test]
    fn rare_categories_are_pooled_and_runs_are_reproducible() {
        let mut text = String::from("plan,score\n");
        for i in 0..100 {
            text.push_str(&format!(
                "{},{}\n",
                if i == 0 { "platinum" } else { "basic" },
                i
            ));
        }
        let real =
            Table::from_reader(text.as_bytes(), Format::Csv, Limits::default(), "t").unwrap();
        let options = SynthesisOptions {
            rows: 300,
            seed: Some(9),
            ..SynthesisOptions::default()
        };
        let a = synthesize(&real, &options, &engine()).unwrap();
        assert!(a.table.rows.iter().all(|r| r[0].as_text() != "platinum"));
        assert_eq!(a.report.columns[0].pooled, 1);
        let b = synthesize(&real, &options, &engine()).unwrap();
        assert_eq!(a.table, b.table);
    }

    #[test]
    fn json_lines_keep_numbers_and_absent_keys() {
        let mut text = String::new();
        for i in 0..100 {
            if i % 4 == 0 {
                text.push_str(&format!("{{\"x\": {}.5}}\n", i));
            } else {
                text.push_str(&format!(
                    "{{\"x\": {}.5, \"k\": \"{}\"}}\n",
                    i,
                    ["a", "b"][i % 2]
                ));
            }
        }
        let real =
            Table::from_reader(text.as_bytes(), Format::JsonLines, Limits::default(), "t").unwrap();
        let out = synthesize(
            &real,
            &SynthesisOptions {
                rows: 400,
                seed: Some(4),
                ..SynthesisOptions::default()
            },
            &engine(),
        )
        .unwrap();
        let x = real.column("x").unwrap();
        assert!(out
            .table
            .rows
            .iter()
            .all(|r| matches!(r[x], Cell::Json(Value::Number(_)))));
        let k = out.table.column("k").unwrap();
        let absent = out
            .table
            .rows
            .iter()
            .filter(|r| r[k] == Cell::Absent)
            .count();
        assert!(
            (50..150).contains(&absent),
            "{absent} of 400 missing, expected about 100"
        );
    }

    #[test]
    fn bad_requests_are_errors() {
        let real = people(10);
        for options in [
            SynthesisOptions {
                rows: 0,
                ..SynthesisOptions::default()
            },
            SynthesisOptions {
                columns: vec!["nope".into()],
                ..SynthesisOptions::default()
            },
            SynthesisOptions {
                columns: vec!["name".into()],
                max_categories: 3,
                ..SynthesisOptions::default()
            },
        ] {
            assert!(synthesize(&real, &options, &engine()).is_err());
        }
    }
}
