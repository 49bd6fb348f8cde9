//! Model files: the loader must refuse garbage with an error, with the ai.onnx.ml operators
//! handed in as the gate hands them in (their parsers read outside data too).
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_model::Operators;

const ONNX_ML: Operators = Operators {
    register: palisade_onnx_ml::register,
    after_run: palisade_onnx_ml::clear_upper_vector_state,
    zipmap_classes: palisade_onnx_ml::zipmap_classes,
    after_plan: palisade_onnx_ml::replace_slow_standard_ops,
};

fuzz_target!(|bytes: &[u8]| {
    let _ = palisade_model::Runtime::load(std::path::Path::new("fuzz.onnx"), bytes, &ONNX_ML);
});
