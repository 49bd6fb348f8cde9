//! StringNormalizer, Tokenizer (com.microsoft) and TfIdfVectorizer: scikit-learn's
//! CountVectorizer and TfidfVectorizer as skl2onnx exports them, so a text classifier can be
//! served (behind the PII stage, which sees the text first).
//!
//! Tokenizer patterns are RE2's in onnxruntime: leftmost-longest matches, and `\w`, `\d`, `\s`,
//! `\b` meaning their ASCII sets. Patterns are rewritten to that meaning for the Rust engine
//! (linear-time, so a hostile pattern or input cannot stall a call) and matched leftmost-longest:
//! the leftmost start from a leftmost-first search, the longest end from an anchored DFA that
//! reports all matches. A pattern the rewrite or the engine cannot take is refused at load.

use std::collections::{HashMap, HashSet};

use regex_automata::{hybrid, meta, Anchored, Input, MatchKind};
use tract_hir::internal::*;
use tract_onnx::pb::NodeProto;

use crate::attrs::Attrs;
use crate::kernel::Kernel;
use crate::rows::{one_input, values};

/// The largest compiled pattern accepted (bytes of NFA), far above any tokenizer's.
const MAX_PATTERN_SIZE: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    None,
    Lower,
    Upper,
}

/// One character at a time, as onnxruntime's `std::tolower`/`toupper` on wide characters:
/// a character whose full mapping is several characters keeps its simple mapping.
fn change_case(s: &str, case: Case) -> String {
    match case {
        Case::None => s.to_string(),
        Case::Lower => s
            .chars()
            .map(|c| {
                let mut m = c.to_lowercase();
                match (m.len(), c) {
                    (1, _) => m.next().unwrap_or(c),
                    (_, '\u{130}') => 'i',
                    _ => c,
                }
            })
            .collect(),
        Case::Upper => s
            .chars()
            .map(|c| {
                let mut m = c.to_uppercase();
                if m.len() == 1 {
                    m.next().unwrap_or(c)
                } else {
                    c
                }
            })
            .collect(),
    }
}

#[derive(Debug)]
pub(crate) struct StringNormalizer {
    case: Case,
    /// Stopwords as compared: as given when case-sensitive, else in the comparison case.
    stopwords: HashSet<String>,
    compare: Option<Case>,
    /// The kept-word count when stopwords can remove words.
    kept: Option<TDim>,
}

pub(crate) fn string_normalizer(
    node: &NodeProto,
    inputs: &[&TypedFact],
    symbols: &SymbolScope,
) -> TractResult<Box<dyn Kernel>> {
    let a = Attrs::new(node);
    one_string_input(&a, inputs)?;
    let case = match a.string("case_change_action")?.as_deref() {
        None | Some("NONE") => Case::None,
        Some("LOWER") => Case::Lower,
        Some("UPPER") => Case::Upper,
        Some(other) => {
            return a.fail(
                "case_change_action",
                format!("'{other}' is not NONE, LOWER or UPPER"),
            )
        }
    };
    if let Some(locale) = a.string("locale")? {
        if !matches!(
            locale.as_str(),
            "en_US" | "en-US" | "en_US.UTF-8" | "en_US.utf8"
        ) {
            return a.fail(
                "locale",
                format!("'{locale}': only en_US case rules are served"),
            );
        }
    }
    let sensitive = a.int("is_case_sensitive")?.unwrap_or(0) != 0;
    let compare = if sensitive {
        None
    } else {
        Some(if case == Case::Upper {
            Case::Upper
        } else {
            Case::Lower
        })
    };
    let mut stopwords = HashSet::new();
    for word in a.strings("stopwords")?.unwrap_or_default() {
        if word.is_empty() {
            return a.fail("stopwords", "holds an empty word");
        }
        let word = compare.map_or(word.clone(), |c| change_case(&word, c));
        if !stopwords.insert(word) {
            return a.fail("stopwords", "holds a word twice");
        }
    }
    let kept = (!stopwords.is_empty()).then(|| symbols.new_with_prefix("kept_words").into());
    Ok(Box::new(StringNormalizer {
        case,
        stopwords,
        compare,
        kept,
    }))
}

impl Kernel for StringNormalizer {
    fn name(&self) -> &'static str {
        "StringNormalizer"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let x = inputs[0];
        let Some(kept) = &self.kept else {
            return Ok(tvec!(x.without_value()));
        };
        let shape: TVec<TDim> = if x.rank() == 2 {
            tvec![1.into(), kept.clone()]
        } else {
            tvec![kept.clone()]
        };
        Ok(tvec!(String::fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let batch = match x.shape() {
            [c] if *c > 0 => false,
            [1, c] if *c > 0 => true,
            other => {
                bail!("StringNormalizer takes [C] or [1, C] strings with C > 0, got {other:?}")
            }
        };
        let words = x.try_as_plain_ram()?.as_slice::<String>()?;
        let mut out: Vec<String> = Vec::with_capacity(words.len());
        for w in words {
            match self.compare {
                None => {
                    if !self.stopwords.contains(w) {
                        out.push(change_case(w, self.case));
                    }
                }
                Some(compare) => {
                    let folded = change_case(w, compare);
                    if !self.stopwords.contains(&folded) {
                        out.push(if self.stopwords.is_empty() {
                            change_case(w, self.case)
                        } else if self.case == Case::None {
                            w.clone()
                        } else {
                            folded
                        });
                    }
                }
            }
        }
        if out.is_empty() {
            out.push(String::new());
        }
        let shape = if batch {
            vec![1, out.len()]
        } else {
            vec![out.len()]
        };
        Ok(tvec!(tract_ndarray::ArrayD::from_shape_vec(shape, out)?
            .into_tensor()
            .into_tvalue()))
    }
}

fn one_string_input(a: &Attrs, inputs: &[&TypedFact]) -> TractResult<()> {
    if one_input(a, inputs)?.datum_type != DatumType::String {
        return a.fail_node("takes strings");
    }
    Ok(())
}

/// A pattern matched leftmost-longest, as RE2 matches with `longest_match`.
#[derive(Debug)]
struct Pattern {
    first: meta::Regex,
    longest: hybrid::dfa::DFA,
}

/// Rewrites RE2's ASCII perl classes and word boundaries for the Rust engine, whose `\w`,
/// `\d`, `\s` and `\b` are Unicode-aware.
fn ascii_classes(pattern: &str) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    return Err("ends with a lone backslash".into());
                };
                let (outside, inside) = match e {
                    'w' => ("[0-9A-Za-z_]", Some("0-9A-Za-z_")),
                    'd' => ("[0-9]", Some("0-9")),
                    's' => ("[\\t\\n\\f\\r ]", Some("\\t\\n\\f\\r ")),
                    'W' => ("[^0-9A-Za-z_]", None),
                    'D' => ("[^0-9]", None),
                    'S' => ("[^\\t\\n\\f\\r ]", None),
                    'b' => ("(?-u:\\b)", None),
                    'B' => ("(?-u:\\B)", None),
                    _ => {
                        out.push('\\');
                        out.push(e);
                        continue;
                    }
                };
                match (in_class, inside) {
                    (false, _) => out.push_str(outside),
                    (true, Some(inside)) => out.push_str(inside),
                    (true, None) => {
                        return Err(format!("\\{e} inside a bracket class is not supported"))
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A ']' right after '[' or '[^' is a literal.
                let rest = chars.as_str();
                if let Some(r) = rest.strip_prefix('^') {
                    out.push('^');
                    chars = r.chars();
                }
                if chars.as_str().starts_with(']') {
                    out.push_str("\\]");
                    chars.next();
                }
            }
            '[' if in_class && chars.as_str().starts_with(':') => {
                // A POSIX class such as [:alpha:]: ASCII in both engines.
                out.push('[');
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

impl Pattern {
    fn new(re2: &str) -> Result<Pattern, String> {
        let pattern = ascii_classes(re2)?;
        let first = meta::Regex::builder()
            .configure(meta::Config::new().nfa_size_limit(Some(MAX_PATTERN_SIZE)))
            .build(&pattern)
            .map_err(|e| e.to_string())?;
        let longest = hybrid::dfa::DFA::builder()
            .configure(hybrid::dfa::Config::new().match_kind(MatchKind::All))
            .thompson(
                regex_automata::nfa::thompson::Config::new().nfa_size_limit(Some(MAX_PATTERN_SIZE)),
            )
            .build(&pattern)
            .map_err(|e| e.to_string())?;
        Ok(Pattern { first, longest })
    }

    /// The leftmost-longest match in `text[start..]`, as byte offsets into `text`.
    fn find(
        &self,
        cache: &mut hybrid::dfa::Cache,
        text: &str,
        start: usize,
    ) -> TractResult<Option<(usize, usize)>> {
        let Some(m) = self.first.search(&Input::new(text).range(start..)) else {
            return Ok(None);
        };
        let anchored = Input::new(text).range(m.start()..).anchored(Anchored::Yes);
        let end = match self.longest.try_search_fwd(cache, &anchored) {
            Ok(Some(half)) => half.offset().max(m.end()),
            Ok(None) => m.end(),
            Err(e) => bail!("the token pattern gave up: {e}"),
        };
        Ok(Some((m.start(), end)))
    }
}

#[derive(Debug)]
enum Split {
    Chars,
    Separators(Vec<Pattern>),
    Expression(Box<Pattern>),
}

#[derive(Debug)]
pub(crate) struct Tokenizer {
    mark: bool,
    pad: String,
    mincharnum: usize,
    split: Split,
    tokens: TDim,
}

pub(crate) fn tokenizer(
    node: &NodeProto,
    inputs: &[&TypedFact],
    symbols: &SymbolScope,
) -> TractResult<Box<dyn Kernel>> {
    let a = Attrs::new(node);
    one_string_input(&a, inputs)?;
    let Some(mark) = a.int("mark")? else {
        return a.fail("mark", "is missing");
    };
    let Some(pad) = a.string("pad_value")? else {
        return a.fail("pad_value", "is missing");
    };
    let mincharnum = match a.int("mincharnum")? {
        Some(n) if n > 0 => n as usize,
        _ => return a.fail("mincharnum", "must be set and positive"),
    };
    let compile = |attr: &str, p: &str| {
        Pattern::new(p).or_else(|e| a.fail(attr, format!("pattern {p:?}: {e}")))
    };
    let split = match (a.strings("separators")?, a.string("tokenexp")?) {
        (Some(seps), _) if seps.len() == 1 && seps[0].is_empty() => Split::Chars,
        (Some(seps), _) if seps.is_empty() => return a.fail("separators", "is empty"),
        (Some(seps), _) => Split::Separators(
            seps.iter()
                .map(|s| compile("separators", s))
                .collect::<TractResult<_>>()?,
        ),
        (None, Some(exp)) if exp == "." => Split::Chars,
        (None, Some(exp)) if !exp.is_empty() => {
            Split::Expression(Box::new(compile("tokenexp", &exp)?))
        }
        _ => return a.fail("tokenexp", "needs separators or a non-empty tokenexp"),
    };
    if matches!(split, Split::Chars) && mincharnum > 1 {
        return a.fail("mincharnum", "must be 1 to tokenize by character");
    }
    Ok(Box::new(Tokenizer {
        mark: mark != 0,
        pad,
        mincharnum,
        split,
        tokens: symbols.new_with_prefix("tokens").into(),
    }))
}

fn char_len(s: &str) -> usize {
    s.chars().count()
}

impl Tokenizer {
    fn tokens_of(
        &self,
        cache: &mut Option<hybrid::dfa::Cache>,
        s: &str,
    ) -> TractResult<Vec<String>> {
        let mut row = Vec::new();
        match &self.split {
            Split::Chars => row.extend(s.chars().map(String::from)),
            Split::Expression(p) => {
                if char_len(s) < self.mincharnum {
                    return Ok(row);
                }
                let cache = cache.get_or_insert_with(|| p.longest.create_cache());
                let mut start = 0;
                while start <= s.len() {
                    let Some((at, end)) = p.find(cache, s, start)? else {
                        break;
                    };
                    if char_len(&s[at..end]) >= self.mincharnum {
                        row.push(s[at..end].to_string());
                        start = end;
                    } else {
                        start = at + s[at..].chars().next().map_or(1, char::len_utf8);
                    }
                }
            }
            Split::Separators(seps) => {
                let mut pieces = vec![s.to_string()];
                for sep in seps {
                    let mut cache = sep.longest.create_cache();
                    let mut tokens = Vec::new();
                    for text in &pieces {
                        let mut start = 0;
                        loop {
                            match (start <= text.len())
                                .then(|| sep.find(&mut cache, text, start))
                                .transpose()?
                                .flatten()
                            {
                                Some((at, end)) => {
                                    if char_len(&text[start..at]) >= self.mincharnum {
                                        tokens.push(text[start..at].to_string());
                                    }
                                    start = if end > at {
                                        end
                                    } else {
                                        at + text[at..].chars().next().map_or(1, char::len_utf8)
                                    };
                                }
                                None => {
                                    if start <= text.len()
                                        && char_len(&text[start..]) >= self.mincharnum
                                    {
                                        tokens.push(text[start..].to_string());
                                    }
                                    break;
                                }
                            }
                        }
                    }
                    if tokens.is_empty() {
                        pieces.clear();
                        break;
                    }
                    pieces = tokens;
                }
                row = pieces;
            }
        }
        Ok(row)
    }
}

impl Kernel for Tokenizer {
    fn name(&self) -> &'static str {
        "Tokenizer"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let mut shape: TVec<TDim> = inputs[0].shape.iter().cloned().collect();
        shape.push(self.tokens.clone());
        Ok(tvec!(String::fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let dims = x.shape().to_vec();
        if dims.is_empty() || dims.len() > 2 {
            bail!("Tokenizer takes [C] or [N, C] strings, got shape {dims:?}");
        }
        let strings = x.try_as_plain_ram()?.as_slice::<String>()?;
        if strings.is_empty() {
            let mut shape = if dims.len() == 2 {
                vec![dims[0]]
            } else {
                vec![]
            };
            shape.push(0);
            return Ok(tvec!(tract_ndarray::ArrayD::<String>::from_shape_vec(
                shape,
                vec![]
            )?
            .into_tensor()
            .into_tvalue()));
        }
        let mut cache = None;
        let rows = strings
            .iter()
            .map(|s| self.tokens_of(&mut cache, s))
            .collect::<TractResult<Vec<_>>>()?;
        let most = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut shape = dims.clone();
        if most == 0 {
            shape.push(0);
            return Ok(tvec!(tract_ndarray::ArrayD::<String>::from_shape_vec(
                shape,
                vec![]
            )?
            .into_tensor()
            .into_tvalue()));
        }
        let width = most + if self.mark { 2 } else { 0 };
        shape.push(width);
        let mut out = Vec::with_capacity(rows.len() * width);
        for row in rows {
            let n = row.len();
            if self.mark {
                out.push("\u{2}".to_string());
            }
            out.extend(row);
            if self.mark {
                out.push("\u{3}".to_string());
            }
            out.extend(std::iter::repeat_n(self.pad.clone(), most - n));
        }
        Ok(tvec!(tract_ndarray::ArrayD::from_shape_vec(shape, out)?
            .into_tensor()
            .into_tvalue()))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Item {
    Int(i64),
    Str(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Weighting {
    Tf,
    Idf,
    TfIdf,
}

#[derive(Debug)]
pub(crate) struct TfIdfVectorizer {
    weighting: Weighting,
    min_gram: usize,
    max_gram: usize,
    max_skip: usize,
    pool: HashMap<Vec<Item>, usize>,
    ngram_indexes: Vec<usize>,
    weights: Vec<f32>,
    output_size: usize,
    strings: bool,
}

pub(crate) fn tfidf_vectorizer(
    node: &NodeProto,
    inputs: &[&TypedFact],
) -> TractResult<Box<dyn Kernel>> {
    let a = Attrs::new(node);
    let x = one_input(&a, inputs)?;
    let weighting = match a.string("mode")?.as_deref() {
        Some("TF") => Weighting::Tf,
        Some("IDF") => Weighting::Idf,
        Some("TFIDF") => Weighting::TfIdf,
        other => return a.fail("mode", format!("{other:?} is not TF, IDF or TFIDF")),
    };
    let positive = |name: &str, min: i64| -> TractResult<usize> {
        match a.int(name)? {
            Some(v) if v >= min && v <= 1 << 16 => Ok(v as usize),
            Some(v) => a.fail(name, format!("{v} is out of range")),
            None => a.fail(name, "is missing"),
        }
    };
    let min_gram = positive("min_gram_length", 1)?;
    let max_gram = positive("max_gram_length", 1)?;
    let max_skip = positive("max_skip_count", 0)?;
    if max_gram < min_gram {
        return a.fail("max_gram_length", "is below min_gram_length");
    }
    let counts = a.ints_or_empty("ngram_counts")?;
    if counts.is_empty() || max_gram > counts.len() {
        return a.fail(
            "ngram_counts",
            "must list a start for every n-gram length up to max_gram_length",
        );
    }
    let indexes = a.ints_or_empty("ngram_indexes")?;
    if indexes.is_empty() || indexes.iter().any(|i| *i < 0 || *i > 1 << 24) {
        return a.fail(
            "ngram_indexes",
            "must be non-empty and hold output positions",
        );
    }
    let ngram_indexes: Vec<usize> = indexes.iter().map(|i| *i as usize).collect();
    let output_size = ngram_indexes.iter().max().map_or(0, |m| m + 1);
    let weights = a.floats("weights")?.unwrap_or_default();
    if !weights.is_empty() {
        a.same_len(
            "weights",
            weights.len(),
            "ngram_indexes",
            ngram_indexes.len(),
        )?;
    }
    let (items, strings): (Vec<Item>, bool) =
        match (a.strings("pool_strings")?, a.ints("pool_int64s")?) {
            (Some(s), _) if !s.is_empty() => (s.into_iter().map(Item::Str).collect(), true),
            (_, Some(i)) if !i.is_empty() => (i.into_iter().map(Item::Int).collect(), false),
            _ => {
                return a.fail(
                    "pool_strings",
                    "needs a non-empty pool_strings or pool_int64s",
                )
            }
        };
    match (strings, x.datum_type) {
        (true, DatumType::String) | (false, DatumType::I64 | DatumType::I32 | DatumType::TDim) => {}
        (_, dt) => return a.fail_node(format!("input type {dt:?} does not match the pool's")),
    }
    let mut pool = HashMap::new();
    let mut id = 0usize;
    for (i, &start) in counts.iter().enumerate() {
        let size = i + 1;
        let end = counts.get(i + 1).map_or(items.len() as i64, |e| *e);
        if start < 0 || end < start || end as usize > items.len() {
            return a.fail(
                "ngram_counts",
                format!("{size}-grams are out of the pool's bounds"),
            );
        }
        let slice = &items[start as usize..end as usize];
        if slice.len() % size != 0 {
            return a.fail(
                "ngram_counts",
                format!("the {size}-grams do not divide into whole n-grams"),
            );
        }
        for gram in slice.chunks_exact(size) {
            if size >= min_gram && size <= max_gram && pool.insert(gram.to_vec(), id).is_some() {
                return a.fail("pool_strings", format!("a {size}-gram is listed twice"));
            }
            id += 1;
        }
    }
    if id > ngram_indexes.len() {
        return a.fail(
            "ngram_indexes",
            format!("{} positions for {id} n-grams", ngram_indexes.len()),
        );
    }
    Ok(Box::new(TfIdfVectorizer {
        weighting,
        min_gram,
        max_gram,
        max_skip,
        pool,
        ngram_indexes,
        weights,
        output_size,
        strings,
    }))
}

impl TfIdfVectorizer {
    fn count(&self, row: &[Item], freq: &mut [u32]) {
        let hit = |gram: &[Item], freq: &mut [u32]| {
            if let Some(&id) = self.pool.get(gram) {
                freq[self.ngram_indexes[id]] += 1;
            }
        };
        let mut start_size = self.min_gram;
        if start_size == 1 {
            for item in row {
                hit(std::slice::from_ref(item), freq);
            }
            start_size += 1;
            if start_size > self.max_gram {
                return;
            }
        }
        let mut gram = Vec::with_capacity(self.max_gram);
        for skip in 1..=self.max_skip + 1 {
            for first in 0..row.len() {
                if first + skip * (start_size - 1) >= row.len() {
                    break;
                }
                gram.clear();
                let mut at = first;
                let mut size = 1;
                while size <= self.max_gram && at < row.len() {
                    gram.push(row[at].clone());
                    if size >= start_size {
                        hit(&gram, freq);
                    }
                    size += 1;
                    at += skip;
                }
            }
        }
    }
}

impl Kernel for TfIdfVectorizer {
    fn name(&self) -> &'static str {
        "TfIdfVectorizer"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let x = inputs[0];
        let shape: TVec<TDim> = if x.rank() == 2 {
            tvec![x.shape[0].clone(), self.output_size.into()]
        } else {
            tvec![self.output_size.into()]
        };
        Ok(tvec!(f32::fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let (rows, width, batched) = match x.shape() {
            [] => (1, 1, false),
            [c] => (1, *c, false),
            [b, c] if *b > 0 => (*b, *c, true),
            other => bail!("TfIdfVectorizer takes [C] or [B, C] with B > 0, got {other:?}"),
        };
        let items: Vec<Item> = if self.strings {
            x.try_as_plain_ram()?
                .as_slice::<String>()?
                .iter()
                .cloned()
                .map(Item::Str)
                .collect()
        } else {
            values::<i64>(x)?.iter().map(|v| Item::Int(*v)).collect()
        };
        let mut freq = vec![0u32; rows * self.output_size];
        if width > 0 {
            for (r, row) in items.chunks_exact(width).enumerate() {
                self.count(
                    row,
                    &mut freq[r * self.output_size..(r + 1) * self.output_size],
                );
            }
        }
        let out: Vec<f32> = freq
            .iter()
            .enumerate()
            .map(|(i, &f)| {
                let w = self.weights.get(i % self.output_size.max(1)).copied();
                match (self.weighting, w) {
                    (Weighting::Tf, _) | (Weighting::TfIdf, None) => f as f32,
                    (Weighting::Idf, Some(w)) => {
                        if f > 0 {
                            w
                        } else {
                            0.0
                        }
                    }
                    (Weighting::Idf, None) => {
                        if f > 0 {
                            1.0
                        } else {
                            0.0
                        }
                    }
                    (Weighting::TfIdf, Some(w)) => f as f32 * w,
                }
            })
            .collect();
        let shape = if batched {
            vec![rows, self.output_size]
        } else {
            vec![self.output_size]
        };
        Ok(tvec!(Tensor::from_shape(&shape, &out)?.into_tvalue()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_leftmost_longest_with_ascii_classes() {
        let p = Pattern::new("a|ab").unwrap();
        let mut cache = p.longest.create_cache();
        assert_eq!(p.find(&mut cache, "xab", 0).unwrap(), Some((1, 3)));
        let w = Pattern::new(r"\w+").unwrap();
        let mut cache = w.longest.create_cache();
        // RE2's \w is ASCII: 'é' ends the word.
        assert_eq!(w.find(&mut cache, "café au", 0).unwrap(), Some((0, 3)));
        assert!(Pattern::new(r"[\W]").is_err());
        assert!(Pattern::new("(").is_err());
    }

    #[test]
    fn case_changes_keep_one_character_per_character() {
        assert_eq!(change_case("İSTANBUL ß ﬁ", Case::Lower), "istanbul ß ﬁ");
        assert_eq!(change_case("straße ﬁx", Case::Upper), "STRAßE ﬁX");
    }
}
