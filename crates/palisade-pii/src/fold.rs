//! The view the recognizers match on: invisible characters dropped, look-alikes folded to
//! ASCII, with a map back to the original offsets.
//!
//! Why: every shape is ASCII, so `alice\u{200b}@example.com` (a zero-width space),
//! `536\u{2011}22\u{2011}1234` (non-breaking hyphens) or `ａｌｉｃｅ＠example.com` (fullwidth
//! forms) would pass unseen, and a caller can ask a generative model to write PII that way.
//! The text is folded (default-ignorable code points dropped, Unicode dashes and spaces
//! folded to `-` and ` `, everything else through NFKC one character at a time), scanned,
//! and each span mapped back, so what is minimized is the *original* text, the invisible
//! characters inside an entity included. ASCII text (the common case) is scanned as is.

use unicode_normalization::UnicodeNormalization;

/// A folded text and how its offsets map to the original's.
pub struct Folded {
    pub text: Vec<u8>,
    pub map: OffsetMap,
}

/// How offsets into a derived text (folded, or unescaped) map to the text it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetMap {
    /// One entry per original unit (a character, an escape) whose derived form differs from
    /// it, in order: `(derived_start, derived_end, original_start, original_end)`. Between
    /// entries, offsets move together.
    changes: Vec<(usize, usize, usize, usize)>,
}

impl OffsetMap {
    /// Record that `original` became `derived`; calls come in order.
    pub fn push(&mut self, derived: (usize, usize), original: (usize, usize)) {
        self.changes
            .push((derived.0, derived.1, original.0, original.1));
    }

    pub fn is_identity(&self) -> bool {
        self.changes.is_empty()
    }

    /// The original range of the derived range `start..end` (`start < end`): from the start
    /// of the unit that made its first byte to the end of the one that made its last.
    pub fn original(&self, start: usize, end: usize) -> (usize, usize) {
        (self.origin(start).0, self.origin(end - 1).1)
    }

    /// The original unit behind derived byte `at`.
    fn origin(&self, at: usize) -> (usize, usize) {
        // The last change starting at or before `at` (several can start at one place:
        // dropped characters have empty derived ranges).
        let i = self.changes.partition_point(|c| c.0 <= at);
        match i.checked_sub(1).map(|i| self.changes[i]) {
            Some((_, d_end, o_start, o_end)) if at < d_end => (o_start, o_end),
            Some((_, d_end, _, o_end)) => (o_end + (at - d_end), o_end + (at - d_end) + 1),
            None => (at, at + 1),
        }
    }
}

impl Folded {
    /// Fold `text`, or `None` when folding changes nothing (ASCII, or no character to fold).
    /// Bytes that are not UTF-8 are kept as they are.
    pub fn new(text: &[u8]) -> Option<Folded> {
        if text.is_ascii() {
            return None;
        }
        let mut out = Vec::with_capacity(text.len());
        let mut map = OffsetMap::default();
        let mut at = 0;
        let mut buf = [0u8; 4];
        for chunk in text.utf8_chunks() {
            for c in chunk.valid().chars() {
                let (start, len) = (at, c.len_utf8());
                at += len;
                if c.is_ascii() {
                    out.push(c as u8);
                    continue;
                }
                let from = out.len();
                match fold(c) {
                    Fold::Keep => out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes()),
                    Fold::Drop => {}
                    Fold::Ascii(b) => out.push(b),
                    Fold::Nfkc => {
                        for d in std::iter::once(c).nfkc() {
                            match fold(d) {
                                Fold::Drop => {}
                                Fold::Ascii(b) => out.push(b),
                                _ => out.extend_from_slice(d.encode_utf8(&mut buf).as_bytes()),
                            }
                        }
                    }
                }
                if out[from..] != text[start..start + len] {
                    map.push((from, out.len()), (start, start + len));
                }
            }
            out.extend_from_slice(chunk.invalid());
            at += chunk.invalid().len();
        }
        if map.is_identity() {
            return None;
        }
        Some(Folded { text: out, map })
    }
}

enum Fold {
    Keep,
    Drop,
    Ascii(u8),
    Nfkc,
}

fn fold(c: char) -> Fold {
    if c.is_ascii() {
        return Fold::Ascii(c as u8);
    }
    if default_ignorable(c) {
        return Fold::Drop;
    }
    if dash(c) {
        return Fold::Ascii(b'-');
    }
    if c.is_whitespace() {
        // NEL and the line/paragraph separators end a line, the rest are spaces.
        return Fold::Ascii(if matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}') {
            b'\n'
        } else {
            b' '
        });
    }
    if unicode_normalization::is_nfkc_quick(std::iter::once(c))
        == unicode_normalization::IsNormalized::Yes
    {
        Fold::Keep
    } else {
        Fold::Nfkc
    }
}

/// Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): characters drawn as
/// nothing, which a renderer, a terminal and a reader skip.
fn default_ignorable(c: char) -> bool {
    matches!(c,
        '\u{AD}' | '\u{34F}' | '\u{61C}' | '\u{115F}'..='\u{1160}' | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFF8}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// Unicode's dash punctuation (general category Pd) and the minus signs.
fn dash(c: char) -> bool {
    matches!(c,
        '\u{58A}' | '\u{5BE}' | '\u{1400}' | '\u{1806}' | '\u{2010}'..='\u{2015}' | '\u{2043}'
        | '\u{2212}' | '\u{2E17}' | '\u{2E1A}' | '\u{2E3A}'..='\u{2E3B}' | '\u{2E40}'
        | '\u{2E5D}' | '\u{301C}' | '\u{3030}' | '\u{30A0}' | '\u{FE31}'..='\u{FE32}'
        | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' | '\u{10EAD}' | '\u{207B}' | '\u{208B}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(s: &str) -> String {
        Folded::new(s.as_bytes())
            .map(|f| String::from_utf8(f.text).unwrap())
            .unwrap_or_else(|| s.to_string())
    }

    #[test]
    fn invisible_characters_are_dropped_and_look_alikes_folded() {
        assert_eq!(folded("alice\u{200b}@example.com"), "alice@example.com");
        assert_eq!(folded("536\u{ad}-22-1234"), "536-22-1234");
        assert_eq!(folded("536\u{2011}22\u{2011}1234"), "536-22-1234");
        assert_eq!(
            folded("\u{ff41}lice\u{ff20}example.com"),
            "alice@example.com"
        );
        assert_eq!(folded("\u{ff15}\u{ff13}\u{ff16}"), "536");
        assert_eq!(
            folded("4111\u{a0}1111\u{202f}1111\u{3000}1111"),
            "4111 1111 1111 1111"
        );
        assert_eq!(folded("caf\u{e9} na\u{efb}ve"), "caf\u{e9} na\u{efb}ve");
        assert!(Folded::new(b"plain ascii").is_none());
        assert!(Folded::new("caf\u{e9}".as_bytes()).is_none());
    }

    #[test]
    fn spans_map_back_to_the_original_characters() {
        let text = "to \u{ff41}lice\u{200b}@example.com\u{200b} now";
        let f = Folded::new(text.as_bytes()).unwrap();
        let t = std::str::from_utf8(&f.text).unwrap();
        let (s, e) = (t.find("alice").unwrap(), t.find(" now").unwrap());
        let (os, oe) = f.map.original(s, e);
        // The fullwidth `a` and the zero-width space inside are covered; the one after the
        // entity's last character is not.
        assert_eq!(&text[os..oe], "\u{ff41}lice\u{200b}@example.com");
        let (os, oe) = f
            .map
            .original(t.find("example").unwrap(), t.find(".com").unwrap());
        assert_eq!(&text[os..oe], "example");
        let (os, oe) = f.map.original(0, 2);
        assert_eq!(&text[os..oe], "to");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_kept() {
        let text = b"\xff\xfe 536\xe2\x80\x9122\xe2\x80\x911234 \xc3";
        let f = Folded::new(text).unwrap();
        assert_eq!(&f.text, b"\xff\xfe 536-22-1234 \xc3");
        let (s, e) = f.map.original(3, 14);
        assert_eq!(&text[s..e], "536\u{2011}22\u{2011}1234".as_bytes());
    }
}
