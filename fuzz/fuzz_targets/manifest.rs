//! Model manifests (`model.toml`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let _ = palisade_model::Manifest::parse(text);
});
