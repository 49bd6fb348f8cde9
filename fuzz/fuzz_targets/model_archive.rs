//! Zip archives (PyTorch, Keras) and everything the scanner reads inside them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_model::scan::{scan_bytes, Limits};

fuzz_target!(|bytes: &[u8]| {
    let limits = Limits::default();
    let _ = scan_bytes("fuzz.pt", bytes, None, limits);
    let _ = scan_bytes("fuzz.keras", bytes, None, limits);
    let _ = scan_bytes("saved_model.pb", bytes, None, limits);
});
