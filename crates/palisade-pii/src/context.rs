//! Context words: what the text around a candidate says it is.
//!
//! One Aho-Corasick automaton over every context word, run on the few bytes around a
//! candidate, so context costs nothing where nothing matched. Where candidates are dense
//! (a column of dates, or an input built to make a candidate of every byte) those windows
//! overlap and the same bytes would be read again and again: past a threshold the words of
//! the whole text are found once ([`TextContext`]) and each lookup is a binary search.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

/// What a context word suggests. A bit set: one word can say several things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hints(u32);

impl Hints {
    pub const SSN: u32 = 1;
    pub const ITIN: u32 = 1 << 1;
    pub const PASSPORT: u32 = 1 << 2;
    pub const DRIVER: u32 = 1 << 3;
    pub const BANK: u32 = 1 << 4;
    pub const MEDICAL_LICENSE: u32 = 1 << 5;
    pub const MEDICAL_RECORD: u32 = 1 << 6;
    pub const PHONE: u32 = 1 << 7;
    /// Order, invoice, tracking, serial numbers: digits that are not about a person.
    pub const NOT_PERSONAL: u32 = 1 << 8;
    pub const NHS: u32 = 1 << 9;
    pub const BIRTH: u32 = 1 << 10;
    pub const SECRET: u32 = 1 << 11;
    pub const VERSION: u32 = 1 << 12;
    pub const CARD: u32 = 1 << 13;
    pub const NINO: u32 = 1 << 14;
    pub const CRYPTO: u32 = 1 << 15;

    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
}

const WORDS: &[(&str, u32)] = &[
    ("ssn", Hints::SSN),
    ("social security", Hints::SSN),
    ("ss#", Hints::SSN),
    ("itin", Hints::ITIN),
    ("taxpayer", Hints::ITIN),
    ("tax id", Hints::ITIN | Hints::SSN),
    ("passport", Hints::PASSPORT),
    ("driver", Hints::DRIVER),
    ("driving", Hints::DRIVER),
    ("licence", Hints::DRIVER),
    ("license", Hints::DRIVER | Hints::MEDICAL_LICENSE),
    ("dl#", Hints::DRIVER),
    ("dl no", Hints::DRIVER),
    ("account", Hints::BANK),
    ("acct", Hints::BANK),
    ("bank", Hints::BANK),
    ("routing", Hints::BANK),
    ("checking", Hints::BANK),
    ("savings", Hints::BANK),
    ("dea", Hints::MEDICAL_LICENSE),
    ("npi", Hints::MEDICAL_LICENSE),
    ("medical license", Hints::MEDICAL_LICENSE),
    ("prescriber", Hints::MEDICAL_LICENSE),
    ("mrn", Hints::MEDICAL_RECORD),
    ("medical record", Hints::MEDICAL_RECORD),
    ("patient id", Hints::MEDICAL_RECORD),
    ("chart", Hints::MEDICAL_RECORD),
    ("phone", Hints::PHONE),
    ("call", Hints::PHONE),
    ("tel", Hints::PHONE),
    ("mobile", Hints::PHONE),
    ("cell", Hints::PHONE),
    ("fax", Hints::PHONE),
    ("text me", Hints::PHONE),
    ("reach", Hints::PHONE),
    ("whatsapp", Hints::PHONE),
    ("order", Hints::NOT_PERSONAL),
    ("invoice", Hints::NOT_PERSONAL),
    ("tracking", Hints::NOT_PERSONAL),
    ("ticket", Hints::NOT_PERSONAL),
    ("serial", Hints::NOT_PERSONAL),
    ("sku", Hints::NOT_PERSONAL),
    ("ref", Hints::NOT_PERSONAL),
    ("part no", Hints::NOT_PERSONAL),
    ("build", Hints::NOT_PERSONAL | Hints::VERSION),
    ("nhs", Hints::NHS),
    ("health service", Hints::NHS),
    ("national insurance", Hints::NINO),
    ("nino", Hints::NINO),
    ("ni number", Hints::NINO),
    ("born", Hints::BIRTH),
    ("birth", Hints::BIRTH),
    ("dob", Hints::BIRTH),
    ("d.o.b", Hints::BIRTH),
    ("key", Hints::SECRET),
    ("token", Hints::SECRET),
    ("secret", Hints::SECRET),
    ("password", Hints::SECRET),
    ("passwd", Hints::SECRET),
    ("api", Hints::SECRET),
    ("bearer", Hints::SECRET),
    ("credential", Hints::SECRET),
    ("version", Hints::VERSION),
    ("release", Hints::VERSION),
    ("firmware", Hints::VERSION),
    ("card", Hints::CARD),
    ("visa", Hints::CARD),
    ("mastercard", Hints::CARD),
    ("wallet", Hints::CRYPTO),
    ("bitcoin", Hints::CRYPTO),
    ("btc", Hints::CRYPTO),
];

/// How far before a candidate context words count, and how far after.
pub const BEFORE: usize = 48;
pub const AFTER: usize = 24;

pub struct Context {
    words: AhoCorasick,
}

impl Context {
    pub fn new() -> Result<Context, String> {
        let words = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            // A full DFA: the windows are a few dozen bytes, where a prefilter costs more than
            // it saves and one table lookup per byte is the fastest there is.
            .kind(Some(AhoCorasickKind::DFA))
            .prefilter(false)
            .build(WORDS.iter().map(|(w, _)| w))
            .map_err(|e| format!("context words: {e}"))?;
        Ok(Context { words })
    }

    /// Hints from the words around `text[start..end]`, matched as whole words.
    pub fn around(&self, text: &[u8], start: usize, end: usize) -> Hints {
        let (from, to) = window(text, start, end);
        let mut bits = 0;
        for region in [(from, start), (end, to)] {
            for m in self.words.find_overlapping_iter(&text[region.0..region.1]) {
                let (s, e) = (region.0 + m.start(), region.0 + m.end());
                if counts(text, s, e) {
                    bits |= WORDS[m.pattern().as_usize()].1;
                }
            }
        }
        Hints(bits)
    }

    /// Every counting context word of `text`, by start: what [`TextContext`] searches.
    fn index(&self, text: &[u8]) -> Vec<(usize, usize, u32)> {
        let mut words: Vec<(usize, usize, u32)> = self
            .words
            .find_overlapping_iter(text)
            .filter(|m| counts(text, m.start(), m.end()))
            .map(|m| (m.start(), m.end(), WORDS[m.pattern().as_usize()].1))
            .collect();
        words.sort_unstable();
        words
    }
}

/// The bytes around `text[start..end]` whose words count.
fn window(text: &[u8], start: usize, end: usize) -> (usize, usize) {
    (start.saturating_sub(BEFORE), (end + AFTER).min(text.len()))
}

/// Does the word at `text[start..end]` count? "call" in "recall" is not a phone hint;
/// plurals ("cards") still count; entity names inside redaction markers do not.
fn counts(text: &[u8], start: usize, end: usize) -> bool {
    let word_char = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphabetic());
    let before = start.checked_sub(1).and_then(|i| text.get(i));
    let after = text.get(end);
    !word_char(before)
        && (!word_char(after) || after == Some(&b's'))
        && !in_marker(text, start, end)
}

/// The context of one text: windows read one by one while lookups are few, the whole
/// text's words found once when they are many. Both give the same hints.
pub struct TextContext<'a> {
    context: &'a Context,
    text: &'a [u8],
    /// Window bytes read so far one by one.
    read: std::cell::Cell<usize>,
    index: std::cell::OnceCell<Vec<(usize, usize, u32)>>,
}

impl<'a> TextContext<'a> {
    pub fn new(context: &'a Context, text: &'a [u8]) -> TextContext<'a> {
        TextContext {
            context,
            text,
            read: std::cell::Cell::new(0),
            index: std::cell::OnceCell::new(),
        }
    }

    pub fn around(&self, start: usize, end: usize) -> Hints {
        if self.index.get().is_none() {
            // Until windows add up to the text's length, reading them is the cheaper way.
            let read = self.read.get() + BEFORE + AFTER;
            if read <= self.text.len() {
                self.read.set(read);
                return self.context.around(self.text, start, end);
            }
        }
        let words = self.index.get_or_init(|| self.context.index(self.text));
        let (from, to) = window(self.text, start, end);
        let first = words.partition_point(|w| w.0 < from);
        let bits = words[first..]
            .iter()
            .take_while(|w| w.0 < to)
            .filter(|w| w.1 <= start || (w.0 >= end && w.1 <= to))
            .fold(0, |bits, w| bits | w.2);
        Hints(bits)
    }
}

/// Inside a redaction marker (`<PHONE_NUMBER>`, `<US_SSN:...>`)? Markers name entity types,
/// and those names are not context: redacting must not make the next number look personal.
fn in_marker(hay: &[u8], start: usize, end: usize) -> bool {
    let marker_char = |b: &u8| b.is_ascii_uppercase() || *b == b'_';
    let opened = hay[..start]
        .iter()
        .rev()
        .take_while(|b| marker_char(b))
        .count();
    let open_at = start - opened;
    let closed = hay[end..].iter().take_while(|b| marker_char(b)).count();
    open_at > 0
        && hay[open_at - 1] == b'<'
        && hay[start..end].iter().all(marker_char)
        && matches!(hay.get(end + closed), Some(b'>' | b':'))
}

#[cfg(test)]
mod index_tests {
    use super::*;

    /// Windows read one by one and the whole-text index give the same hints everywhere.
    #[test]
    fn the_index_agrees_with_the_windows() {
        let context = Context::new().unwrap();
        let text = b"call me: 415 555 2671; recall 12; SSN 536-22-1234, <US_SSN> 99; cards 4111 \
            born 1987-03-14, order #12 serial 7 wallet 1A2b bitcoin key=abc; v1.2 release 3";
        let indexed = TextContext::new(&context, text);
        indexed.index.get_or_init(|| context.index(text));
        for start in 0..text.len() {
            for end in [
                start,
                (start + 1).min(text.len()),
                (start + 7).min(text.len()),
            ] {
                assert_eq!(
                    indexed.around(start, end),
                    context.around(text, start, end),
                    "{start}..{end}"
                );
            }
        }
    }
}
