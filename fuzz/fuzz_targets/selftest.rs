//! Self-test vectors (`selftest.json`): the parser must refuse garbage with an error, within
//! its size, case and tensor limits.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = palisade_model::selftest::SelfTest::parse(std::path::Path::new("selftest.json"), bytes);
});
