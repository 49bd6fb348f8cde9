//! Recognizers, as *shapes*: one regex per shape of text, and a classifier that decides,
//! from checksums and the words around it, which entity (if any) a candidate is.
//!
//! Why shapes and not one regex per entity: many entities share a shape (nine digits can be
//! an SSN, an ITIN, a passport or a bank account; 3-3-4 digits a phone or an NHS number). All
//! shapes are compiled into one multi-pattern automaton and the text is searched once; the
//! classifier then looks at each candidate's checksum and context. Order matters: at one
//! start position the first shape wins, and a candidate its classifier rejects gives the
//! later shapes their turn at that position.

mod contact;
mod health;
mod network;
mod numbers;
mod secrets;

use std::cell::Cell;

use crate::context::{Hints, TextContext};
use crate::Entity;

/// A piece of text that has a shape, with what its surroundings say.
pub struct Candidate<'a> {
    pub text: &'a [u8],
    pub start: usize,
    pub end: usize,
    context: &'a TextContext<'a>,
    /// The span whose surroundings the hints describe (a shortened candidate keeps its
    /// original's).
    around: (usize, usize),
    /// Looked up on first use: most classifiers decide on shape and checksum alone.
    hints: Cell<Option<Hints>>,
}

impl<'a> Candidate<'a> {
    pub fn new(
        text: &'a [u8],
        start: usize,
        end: usize,
        context: &'a TextContext<'a>,
    ) -> Candidate<'a> {
        Candidate {
            text,
            start,
            end,
            context,
            around: (start, end),
            hints: Cell::new(None),
        }
    }

    /// What the words around the candidate say it is.
    pub fn hints(&self) -> Hints {
        if let Some(h) = self.hints.get() {
            return h;
        }
        let h = self.context.around(self.around.0, self.around.1);
        self.hints.set(Some(h));
        h
    }

    /// The same candidate ending at `end`, with the same surroundings.
    fn shortened(&self, end: usize) -> Candidate<'a> {
        Candidate {
            end,
            hints: Cell::new(self.hints.get()),
            ..*self
        }
    }

    pub fn value(&self) -> &[u8] {
        &self.text[self.start..self.end]
    }

    /// The byte just before the candidate.
    pub fn before(&self) -> Option<u8> {
        self.start.checked_sub(1).map(|i| self.text[i])
    }

    pub fn after(&self, n: usize) -> Option<u8> {
        self.text.get(self.end + n).copied()
    }
}

/// What a classifier decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    pub entity: Entity,
    pub score: f32,
    pub recognizer: &'static str,
    /// Start of the entity when it starts later than the shape (punctuation before a
    /// non-ASCII e-mail local part).
    pub start: Option<usize>,
    /// End of the entity when it is shorter than the shape (trailing punctuation of a URL).
    pub end: Option<usize>,
}

impl Found {
    pub fn new(entity: Entity, score: f32, recognizer: &'static str) -> Option<Found> {
        Some(Found {
            entity,
            score: score.clamp(0.0, 1.0),
            recognizer,
            start: None,
            end: None,
        })
    }
}

/// Try `classify` on the candidate, then on its shorter prefixes that end on a digit before a
/// separator, longest first: a greedy shape can swallow the next number.
pub fn longest_accepted(
    c: &Candidate,
    separators: &[u8],
    classify: fn(&Candidate) -> Option<Found>,
) -> Option<Found> {
    let v = c.value();
    let ends = std::iter::once(v.len()).chain(
        (1..v.len())
            .rev()
            .filter(|&i| separators.contains(&v[i]) && v[i - 1].is_ascii_digit()),
    );
    // The prefixes share the candidate's surroundings: look them up once, not per prefix.
    let _ = c.hints();
    ends.into_iter().find_map(|end| {
        let sub = c.shortened(c.start + end);
        let mut found = classify(&sub)?;
        if end < v.len() {
            found.end = Some(c.start + end);
        }
        Some(found)
    })
}

/// The candidate ends just before ".x", "-x", ":x" or "/x" (x a letter or digit): its
/// characters run on as something else (an address, a dashed number, a MAC, a date), so this
/// is not where an entity ends.
pub fn runs_on(c: &Candidate) -> bool {
    matches!(c.after(0), Some(b'.' | b'-' | b':' | b'/'))
        && c.after(1)
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b':')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnReject {
    /// The next word: another entity can start inside the rejected candidate.
    NextWord,
    /// Past the candidate, for every shape, when this shape was the first to match there
    /// (an IBAN with a bad check digit is not a bank account number in pieces); otherwise
    /// as `SkipShape`.
    SkipSpan,
    /// The next word, but this shape is not tried again inside its rejected span (a suffix
    /// of a URL without a host has none either).
    SkipShape,
}

pub struct Shape {
    pub name: &'static str,
    pub regex: &'static str,
    pub classify: fn(&Candidate) -> Option<Found>,
    /// Where the scan goes on when every shape was rejected at a position.
    pub on_reject: OnReject,
}

/// Every shape, in priority order.
pub fn shapes() -> Vec<Shape> {
    let mut all = Vec::new();
    all.extend(secrets::shapes_first());
    all.extend(contact::shapes_first());
    all.extend(network::shapes());
    all.extend(numbers::shapes_structured());
    all.extend(health::shapes());
    all.extend(contact::shapes_phone());
    all.extend(numbers::shapes_runs());
    all.extend(secrets::shapes_last());
    all
}
