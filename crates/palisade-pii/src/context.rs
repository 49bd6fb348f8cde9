//! Context words: what the text around a candidate says it is.
//!
//! One Aho-Corasick automaton over every context word, run only on the few bytes around a
//! candidate (never over the whole text), so context costs nothing where nothing matched.

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
        let from = start.saturating_sub(BEFORE);
        let to = (end + AFTER).min(text.len());
        let mut bits = 0;
        for region in [(from, start), (end, to)] {
            let hay = &text[region.0..region.1];
            for m in self.words.find_overlapping_iter(hay) {
                let before = m.start().checked_sub(1).map(|i| hay[i]);
                let after = hay.get(m.end()).copied();
                let word_char = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphabetic());
                // "call" in "recall" is not a phone hint; plurals ("cards") still count.
                if !word_char(before)
                    && (!word_char(after) || after == Some(b's'))
                    && !in_marker(text, region.0 + m.start(), region.0 + m.end())
                {
                    bits |= WORDS[m.pattern().as_usize()].1;
                }
            }
        }
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
