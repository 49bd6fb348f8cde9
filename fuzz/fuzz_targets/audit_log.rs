//! Audit logs handed to `palisade audit verify`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = palisade_audit::verify_reader(bytes, "fuzz");
});
