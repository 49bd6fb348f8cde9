//! ONNX external-data references and operator domains, as the scanner reads them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_model::scan::onnx;

fuzz_target!(|bytes: &[u8]| {
    let _ = onnx::scan("fuzz.onnx", bytes, None);
    if let Ok(model) = onnx::decode(bytes) {
        if let Ok(refs) = onnx::external_refs(&model) {
            for r in refs {
                let _ = onnx::location_escapes(&r.location, None);
            }
        }
    }
});
