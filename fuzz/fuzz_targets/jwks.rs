//! JWKS documents (fetched from an identity provider): keys or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = palisade_access::jwt::jwks_key_count(bytes);
});
