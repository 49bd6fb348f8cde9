//! The PII engine on arbitrary bytes: spans in order, inside the input, on character
//! boundaries, and redaction leaves nothing the engine would find again. Run with
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
    let spans = engine().scan(bytes);
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
            let again = engine().scan_str(&out);
            // A redaction marker itself is never PII; new findings would mean a leak.
            assert!(again.is_empty(), "redacted text still holds {again:?}");
        }
    }
});
