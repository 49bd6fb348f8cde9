//! `palisade data anonymize --rules`: any text is a rules file or a clean error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_pii::dataset::Rules;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Ok(rules) = Rules::parse(text, "fuzz.toml") {
            assert!(!rules.privacy.quasi_identifiers.is_empty() && rules.privacy.k >= 1);
        }
    }
});
