//! Model files: the loader must refuse garbage with an error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = palisade_model::Runtime::load(std::path::Path::new("fuzz.onnx"), bytes);
});
