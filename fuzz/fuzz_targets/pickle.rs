//! Pickle streams handed to the model scanner: walked opcode by opcode, never executed.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_model::scan::pickle::{scan, Limits};

fuzz_target!(|bytes: &[u8]| {
    let _ = scan("fuzz.pkl", bytes, Limits::default());
});
