//! `palisade data anonymize --rules`: any text is a rules file or a clean error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_pii::dataset::Rules;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Ok(rules) = Rules::parse(text, "fuzz.toml") {
            // A target is only ever set over named quasi-identifiers.
            let p = &rules.privacy;
            assert!(p.k >= 1 && (p.k == 1 || !p.quasi_identifiers.is_empty()));
        }
    }
});
