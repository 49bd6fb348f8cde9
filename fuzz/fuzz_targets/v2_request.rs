//! V2 inference bodies, JSON or binary-extension, with any header length.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_model::v2::{decode_request, DecodeLimits};

fuzz_target!(|input: (Option<u16>, &[u8])| {
    let (json_len, body) = input;
    let limits = DecodeLimits { max_tensor_elements: 1 << 16, max_json_depth: 16 };
    let _ = decode_request(body, json_len.map(usize::from), limits);
});
