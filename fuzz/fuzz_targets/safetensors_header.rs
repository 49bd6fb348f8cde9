//! safetensors headers: length prefix, JSON, offsets, shapes; every lie is a finding.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_model::scan::safetensors;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(tensors) = safetensors::read_header("fuzz.safetensors", bytes) {
        // What the header promises must hold: every tensor inside the file.
        let data_len = bytes.len() as u64;
        for t in tensors {
            assert!(t.begin <= t.end && t.end <= data_len);
        }
    }
});
