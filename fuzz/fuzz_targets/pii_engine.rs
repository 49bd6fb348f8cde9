//! The PII engine on arbitrary bytes: spans in order, inside the input, on character
//! boundaries, and no value found in the input is found again after redaction. Run with
//! `-timeout=1` (scripts/fuzz.sh does) so a super-linear input is reported as a crash.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use palisade_pii::actions::apply;
use palisade_pii::{Action, Engine, Keys, Outcome, Policy};

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| Engine::new().expect("engine"))
}

fuzz_target!(|bytes: &[u8]| {
    // Too costly to inspect is an answer (the callers refuse the text), not a panic.
    let Ok(spans) = engine().scan(bytes) else {
        return;
    };
    let mut at = 0;
    for s in &spans {
        assert!(at <= s.start && s.start < s.end && s.end <= bytes.len());
        at = s.end;
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        for s in &spans {
            assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
        }
        if let Ok(Outcome::Minimized { text: out, .. }) =
            apply(text, &spans, &Policy::uniform(Action::Redact), &Keys::default())
        {
            // No value detected in the input is detected again in the output. (Junk input
            // can make a new boundary next to a marker; a value found before must not be.)
            let before: Vec<&str> = spans.iter().map(|s| &text[s.start..s.end]).collect();
            for s in engine().scan_str(&out).unwrap_or_default() {
                assert!(
                    !before.contains(&&out[s.start..s.end]),
                    "a redacted value is still in the output: {s:?}"
                );
            }
        }
    }
});
