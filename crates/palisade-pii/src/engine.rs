//! The scan: one multi-pattern search over the text, candidates classified as they come.

use std::io::Read;

use regex_automata::meta::Regex;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, PatternID};
use serde::Serialize;

use crate::context::{self, Context, TextContext};
use crate::fold::Folded;
use crate::recognizers::{self, Candidate, Found, OnReject, Shape};
use crate::{Entity, PiiError};

/// One detected entity. Offsets are bytes into the scanned text, always on UTF-8 character
/// boundaries (every shape is ASCII, and a span found in the folded view is mapped back to
/// whole original characters).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    #[serde(rename = "type")]
    pub entity: Entity,
    pub score: f32,
    pub recognizer: &'static str,
}

/// Longest text one entity can span (a private key block), plus its context: how much a
/// streamed scan keeps from one block to the next.
const MAX_SPAN: usize = 16_384 + 512 + context::BEFORE;
/// Bytes read per block in a streamed scan.
const BLOCK: usize = 1 << 20;

/// Shapes that can match more than this many bytes get a search of their own (see
/// [`Lane`]); the rest share one automaton.
const SHORT_SHAPE: usize = 64;

/// The work a scan may do, in bytes its automata read and candidates it classifies (see
/// the weights below), per byte of text (plus [`WORK_FLOOR`], so a short string with a few
/// candidates is never refused). Prose takes 7 a byte, the dense labeled corpus 11, a column
/// of dates 41 (the densest legitimate text measured); inputs built so that a candidate
/// starts at every byte and every classifier rejects it (`::::`, `1-1-`) take 100 to 500.
/// Past the budget the scan stops and says so ([`TooCostly`]): a text nobody can inspect in
/// bounded time is refused, never passed on uninspected.
pub const WORK_PER_BYTE: u64 = 64;
const WORK_FLOOR: u64 = 4096;
/// What one classified candidate costs, in the units of a byte scanned by one automaton,
/// plus so much per byte of candidate (fitted so that a unit takes about the same time on
/// every input of bench/scan).
const CANDIDATE_COST: usize = 96;
const FAILED_ANCHORED_COST: usize = 8;
const CANDIDATE_BYTE_COST: usize = 6;

/// A scan that would cost more than [`WORK_PER_BYTE`] allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the text ({bytes} bytes) is too dense with look-alikes of personal data to inspect in bounded time; it was not inspected, so it is refused")]
pub struct TooCostly {
    pub bytes: usize,
}

/// What a scan has spent, against its budget.
struct Work {
    spent: u64,
    budget: u64,
    bytes: usize,
}

impl Work {
    fn new(bytes: usize) -> Work {
        Work {
            spent: 0,
            budget: WORK_FLOOR.saturating_add(WORK_PER_BYTE.saturating_mul(bytes as u64)),
            bytes,
        }
    }

    fn charge(&mut self, units: usize) -> Result<(), TooCostly> {
        self.spent = self.spent.saturating_add(units as u64);
        if self.spent > self.budget {
            return Err(TooCostly { bytes: self.bytes });
        }
        Ok(())
    }
}

pub struct Engine {
    /// The short shapes, one multi-pattern automaton.
    short: Regex,
    /// Pattern id in `short` → shape index.
    short_shapes: Vec<usize>,
    /// Shape index → where it is searched.
    searched_in: Vec<SearchedIn>,
    /// The long shapes, each searched on its own.
    long: Vec<(usize, Regex)>,
    shapes: Vec<Shape>,
    context: Context,
    min_score: f32,
}

#[derive(Clone, Copy)]
enum SearchedIn {
    Short(PatternID),
    /// Index into `long` and the lanes.
    Long(usize),
}

/// Where a long shape matches next. Why long shapes are apart: after a rejected candidate the
/// scan resumes one word later, and one automaton would re-read everything a long shape
/// could still match from there (256 bytes of a token, 2 KiB of a URL) at every word of a
/// dense input (`1-1-1-…` cost 470x prose). Searched alone, a long shape's next match is
/// found once and kept until the scan passes it, and a rejected one is not tried again
/// inside its own span.
#[derive(Clone, Copy)]
struct Lane {
    /// The next match at or after `from`: valid while the scan has not passed its start.
    next: Option<(usize, usize)>,
    from: usize,
    /// Candidates of this shape starting before this were rejected (skip_rejected shapes).
    dead_until: usize,
}

/// Shapes are byte patterns: ASCII classes, matched on any bytes.
fn syntax_config() -> syntax::Config {
    syntax::Config::new().unicode(false).utf8(false)
}

fn build(patterns: &[&str]) -> Result<Regex, Box<regex_automata::meta::BuildError>> {
    Regex::builder()
        .syntax(syntax_config())
        // Many shapes make many DFA states; a small cache thrashes and falls back to the
        // PikeVM (perf showed 60% of a dense scan in determinization and the PikeVM).
        .configure(
            Regex::config()
                .utf8_empty(false)
                .hybrid_cache_capacity(64 << 20),
        )
        .build_many(patterns)
        .map_err(Box::new)
}

impl Engine {
    /// Every recognizer, reporting spans scoring at least 0.5.
    pub fn new() -> Result<Engine, PiiError> {
        let shapes = recognizers::shapes();
        let config = syntax_config();
        let mut short_shapes = Vec::new();
        let mut long = Vec::new();
        for (i, shape) in shapes.iter().enumerate() {
            let hir = syntax::parse_with(shape.regex, &config)
                .map_err(|e| PiiError::Build(format!("shape {}: {e}", shape.name)))?;
            match hir.properties().maximum_len() {
                Some(n) if n <= SHORT_SHAPE => short_shapes.push(i),
                Some(n) if n + context::BEFORE <= MAX_SPAN => long.push(i),
                _ => {
                    return Err(PiiError::Build(format!(
                        "shape {}: unbounded or longer than a streamed scan keeps",
                        shape.name
                    )))
                }
            }
        }
        let short = build(
            &short_shapes
                .iter()
                .map(|&i| shapes[i].regex)
                .collect::<Vec<_>>(),
        )
        .map_err(|e| {
            let shape = e
                .pattern()
                .map_or("?", |p| shapes[short_shapes[p.as_usize()]].name);
            PiiError::Build(format!("shape {shape}: {e}"))
        })?;
        let long = long
            .into_iter()
            .map(|i| {
                build(&[shapes[i].regex])
                    .map(|r| (i, r))
                    .map_err(|e| PiiError::Build(format!("shape {}: {e}", shapes[i].name)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut searched_in = vec![SearchedIn::Long(0); shapes.len()];
        for (pid, &i) in short_shapes.iter().enumerate() {
            searched_in[i] = SearchedIn::Short(PatternID::new_unchecked(pid));
        }
        for (lane, &(i, _)) in long.iter().enumerate() {
            searched_in[i] = SearchedIn::Long(lane);
        }
        Ok(Engine {
            short,
            short_shapes,
            searched_in,
            long,
            shapes,
            context: Context::new().map_err(PiiError::Build)?,
            min_score: 0.5,
        })
    }

    /// Report only spans scoring at least `min_score` (0 to 1).
    pub fn with_min_score(mut self, min_score: f32) -> Engine {
        self.min_score = min_score;
        self
    }

    fn classify(
        &self,
        shape: usize,
        context: &TextContext<'_>,
        text: &[u8],
        start: usize,
        end: usize,
    ) -> Option<Found> {
        let candidate = Candidate::new(text, start, end, context);
        (self.shapes[shape].classify)(&candidate).filter(|f| f.score >= self.min_score)
    }

    /// Every entity in `text`, in order, not overlapping; or [`TooCostly`] when finding
    /// them would take more than [`WORK_PER_BYTE`] allows.
    pub fn scan(&self, text: &[u8]) -> Result<Vec<Span>, TooCostly> {
        let mut spans = Vec::new();
        self.scan_into(text, &mut |s| spans.push(s))?;
        Ok(spans)
    }

    pub fn scan_str(&self, text: &str) -> Result<Vec<Span>, TooCostly> {
        self.scan(text.as_bytes())
    }

    /// The work a scan of `text` takes per byte, without the budget (for benchmarks and
    /// tests: how far an input is from [`WORK_PER_BYTE`]).
    pub fn work_per_byte(&self, text: &[u8]) -> f64 {
        let mut work = Work::new(text.len());
        work.budget = u64::MAX;
        let _ = self.scan_with(text, &mut |_| {}, &mut work);
        work.spent as f64 / text.len().max(1) as f64
    }

    /// Scan the folded view of `text` (see [`crate::fold`]), spans mapped back to `text`.
    fn scan_into(&self, text: &[u8], emit: &mut dyn FnMut(Span)) -> Result<(), TooCostly> {
        self.scan_with(text, emit, &mut Work::new(text.len()))
    }

    fn scan_with(
        &self,
        text: &[u8],
        emit: &mut dyn FnMut(Span),
        work: &mut Work,
    ) -> Result<(), TooCostly> {
        match Folded::new(text) {
            None => self.scan_folded(text, emit, work),
            Some(folded) => self.scan_folded(
                &folded.text,
                &mut |s| {
                    let (start, end) = folded.map.original(s.start, s.end);
                    emit(Span { start, end, ..s })
                },
                work,
            ),
        }
    }

    /// The candidates starting at the leftmost position where any shape matches, tried in
    /// shape order until one is accepted; then on past it (or one word on, if none was).
    fn scan_folded(
        &self,
        text: &[u8],
        emit: &mut dyn FnMut(Span),
        work: &mut Work,
    ) -> Result<(), TooCostly> {
        let context = TextContext::new(&self.context, text);
        let mut lanes = vec![
            Lane {
                next: None,
                from: usize::MAX,
                dead_until: 0,
            };
            self.long.len()
        ];
        // The short automaton's next match, kept like a lane's.
        let mut short: Option<(usize, usize, usize)> = None;
        let mut short_from = usize::MAX;
        let mut at = 0;
        while at < text.len() {
            if short_from > at || short.is_some_and(|(s, _, _)| s < at) {
                short = self
                    .short
                    .search(&Input::new(text).span(at..text.len()))
                    .map(|m| {
                        (
                            m.start(),
                            m.end(),
                            self.short_shapes[m.pattern().as_usize()],
                        )
                    });
                short_from = at;
                // Forward to the match's end, then back to its start.
                work.charge(short.map_or(text.len() - at, |s| 2 * s.1 - s.0 - at))?;
            }
            for (lane, (_, regex)) in lanes.iter_mut().zip(&self.long) {
                let from = at.max(lane.dead_until).min(text.len());
                if lane.from > from || lane.next.is_some_and(|(s, _)| s < from) {
                    lane.next = regex
                        .search(&Input::new(text).span(from..text.len()))
                        .map(|m| (m.start(), m.end()));
                    lane.from = from;
                    work.charge(
                        lane.next
                            .map_or(text.len() - from, |n| 2 * n.1 - n.0 - from),
                    )?;
                }
            }
            let start = lanes
                .iter()
                .filter_map(|l| l.next.map(|n| n.0))
                .chain(short.map(|s| s.0))
                .min();
            let Some(start) = start else { break };
            match self.first_accepted(&context, text, start, short, &mut lanes, work)? {
                Ok((f, shape_end)) => {
                    let end = f.end.unwrap_or(shape_end);
                    emit(Span {
                        start: f.start.unwrap_or(start),
                        end,
                        entity: f.entity,
                        score: f.score,
                        recognizer: f.recognizer,
                    });
                    at = end.max(start + 1);
                }
                Err(resume) => at = resume,
            }
        }
        Ok(())
    }

    /// The first shape, in shape order, whose candidate at `start` its classifier accepts,
    /// with the shape's end; or where to go on when none is.
    fn first_accepted(
        &self,
        context: &TextContext<'_>,
        text: &[u8],
        start: usize,
        short: Option<(usize, usize, usize)>,
        lanes: &mut [Lane],
        work: &mut Work,
    ) -> Result<Result<(Found, usize), usize>, TooCostly> {
        // The short automaton reports its highest-priority shape here; later short shapes are
        // tried anchored, earlier ones do not match here.
        let first_short = short.filter(|s| s.0 == start).map(|s| s.2);
        let mut first_tried: Option<(usize, usize)> = None;
        for (shape, searched_in) in self.searched_in.iter().enumerate() {
            let end = match *searched_in {
                SearchedIn::Short(pid) => match first_short {
                    Some(first) if shape == first => short.map(|s| s.1),
                    Some(first) if shape > first => {
                        let input = Input::new(text)
                            .span(start..text.len())
                            .anchored(Anchored::Pattern(pid));
                        let end = self.short.search(&input).map(|m| m.end());
                        // A shape that does not match here fails within a few bytes.
                        work.charge(end.map_or(FAILED_ANCHORED_COST, |e| e - start))?;
                        end
                    }
                    _ => None,
                },
                SearchedIn::Long(lane) => lanes[lane].next.filter(|n| n.0 == start).map(|n| n.1),
            };
            let Some(end) = end else { continue };
            // A classifier walks the candidate a few times and looks up its context words.
            work.charge(CANDIDATE_COST + CANDIDATE_BYTE_COST * (end - start))?;
            if let Some(f) = self.classify(shape, context, text, start, end) {
                return Ok(Ok((f, end)));
            }
            first_tried.get_or_insert((shape, end));
            if let SearchedIn::Long(lane) = searched_in {
                if self.shapes[shape].on_reject != OnReject::NextWord {
                    lanes[*lane].dead_until = end;
                }
            }
        }
        Ok(match first_tried {
            Some((shape, end)) if self.shapes[shape].on_reject == OnReject::SkipSpan => {
                Err(end.max(start + 1))
            }
            _ => Err(next_word(text, start)),
        })
    }

    /// Scan a stream of any length in blocks, keeping enough of each block for an entity (and
    /// its context) that straddles two. Offsets are from the start of the stream. Returns the
    /// bytes read; each block has its own work budget.
    pub fn scan_reader(
        &self,
        mut reader: impl Read,
        mut emit: impl FnMut(Span),
    ) -> Result<u64, ReadScanError> {
        let mut buf: Vec<u8> = Vec::with_capacity(BLOCK + MAX_SPAN);
        let mut base = 0usize; // stream offset of buf[0]
        let mut done_until = 0usize; // stream offset before which everything was reported
        let mut total = 0u64;
        loop {
            let before = buf.len();
            buf.resize(before + BLOCK, 0);
            let mut filled = before;
            while filled < buf.len() {
                match reader.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(ReadScanError::Io(e)),
                }
            }
            let eof = filled < buf.len();
            buf.truncate(filled);
            total += (filled - before) as u64;
            let safe = if eof {
                buf.len()
            } else {
                buf.len().saturating_sub(MAX_SPAN)
            };
            self.scan_into(&buf, &mut |s| {
                let (start, end) = (base + s.start, base + s.end);
                if start >= done_until && s.start < safe {
                    done_until = end;
                    emit(Span { start, end, ..s });
                }
            })
            .map_err(|e| ReadScanError::TooCostly { at: base, error: e })?;
            if eof {
                return Ok(total);
            }
            done_until = done_until.max(base + safe);
            let keep_from = safe.saturating_sub(context::BEFORE);
            buf.drain(..keep_from);
            base += keep_from;
        }
    }
}

/// Why a streamed scan stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadScanError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A block (from byte `at` of the stream) was too costly to inspect.
    #[error("from byte {at}: {error}")]
    TooCostly { at: usize, error: TooCostly },
}

/// Where to look next after a rejected candidate at `start`: past the word it starts.
fn next_word(text: &[u8], start: usize) -> usize {
    let word = text[start..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    start + word.max(1)
}
