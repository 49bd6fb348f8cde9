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

fuzz_target!(
    // The loader catches a panic inside tract's parser and planner and refuses the model (tract
    // has a few on malformed graphs). libfuzzer-sys's panic hook would abort on those caught
    // panics too; without it, a panic that escapes `Runtime::load` still aborts the run (the
    // harness's own catch_unwind), so the target checks what the server relies on: load
    // answers, never panics out.
    init: std::panic::set_hook(Box::new(|_| {})),
    |bytes: &[u8]| {
        let _ = palisade_model::Runtime::load(std::path::Path::new("fuzz.onnx"), bytes, &ONNX_ML);
    }
);
