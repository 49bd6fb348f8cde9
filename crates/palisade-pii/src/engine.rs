//! The scan: one multi-pattern search over the text, candidates classified as they come.

use std::io::Read;

use regex_automata::meta::Regex;
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, PatternID};
use serde::Serialize;

use crate::context::{self, Context};
use crate::recognizers::{self, Candidate, Found, Shape};
use crate::{Entity, PiiError};

/// One detected entity. Offsets are bytes into the scanned text, always on UTF-8 character
/// boundaries (every shape is ASCII).
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

pub struct Engine {
    regex: Regex,
    shapes: Vec<Shape>,
    context: Context,
    min_score: f32,
}

impl Engine {
    /// Every recognizer, reporting spans scoring at least 0.5.
    pub fn new() -> Result<Engine, PiiError> {
        let shapes = recognizers::shapes();
        let regex = Regex::builder()
            .syntax(syntax::Config::new().unicode(false).utf8(false))
            // Many shapes make many DFA states; a small cache thrashes and falls back to the
            // PikeVM (perf showed 60% of a dense scan in determinization and the PikeVM).
            .configure(
                Regex::config()
                    .utf8_empty(false)
                    .hybrid_cache_capacity(64 << 20),
            )
            .build_many(&shapes.iter().map(|s| s.regex).collect::<Vec<_>>())
            .map_err(|e| {
                let shape = e.pattern().map_or("?", |p| shapes[p.as_usize()].name);
                PiiError::Build(format!("shape {shape}: {e}"))
            })?;
        Ok(Engine {
            regex,
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

    fn classify(&self, pid: usize, text: &[u8], start: usize, end: usize) -> Option<Found> {
        let shape = &self.shapes[pid];
        let candidate = Candidate::new(text, start, end, &self.context);
        (shape.classify)(&candidate).filter(|f| f.score >= self.min_score)
    }

    /// Every entity in `text`, in order, not overlapping.
    pub fn scan(&self, text: &[u8]) -> Vec<Span> {
        let mut spans = Vec::new();
        self.scan_into(text, &mut |s| spans.push(s));
        spans
    }

    pub fn scan_str(&self, text: &str) -> Vec<Span> {
        self.scan(text.as_bytes())
    }

    fn scan_into(&self, text: &[u8], emit: &mut dyn FnMut(Span)) {
        let mut at = 0;
        while at < text.len() {
            let Some(m) = self.regex.search(&Input::new(text).span(at..text.len())) else {
                break;
            };
            let (start, pid) = (m.start(), m.pattern().as_usize());
            let mut found = self
                .classify(pid, text, start, m.end())
                .map(|f| (f, m.end()));
            // Rejected: the later shapes get their turn at this position.
            if found.is_none() {
                for later in pid + 1..self.shapes.len() {
                    let input = Input::new(text)
                        .span(start..text.len())
                        .anchored(Anchored::Pattern(PatternID::new_unchecked(later)));
                    if let Some(m2) = self.regex.search(&input) {
                        if let Some(f) = self.classify(later, text, start, m2.end()) {
                            found = Some((f, m2.end()));
                            break;
                        }
                    }
                }
            }
            match found {
                Some((f, shape_end)) => {
                    let end = f.end.unwrap_or(shape_end);
                    emit(Span {
                        start,
                        end,
                        entity: f.entity,
                        score: f.score,
                        recognizer: f.recognizer,
                    });
                    at = end.max(start + 1);
                }
                None if self.shapes[pid].skip_rejected => at = m.end().max(start + 1),
                None => at = next_word(text, start),
            }
        }
    }

    /// Scan a stream of any length in blocks, keeping enough of each block for an entity (and
    /// its context) that straddles two. Offsets are from the start of the stream. Returns the
    /// bytes read.
    pub fn scan_reader(
        &self,
        mut reader: impl Read,
        mut emit: impl FnMut(Span),
    ) -> std::io::Result<u64> {
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
                    Err(e) => return Err(e),
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
            });
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

/// Where to look next after a rejected candidate at `start`: past the word it starts.
fn next_word(text: &[u8], start: usize) -> usize {
    let word = text[start..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    start + word.max(1)
}
