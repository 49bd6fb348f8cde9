//! The integration tests of palisade-model, in one test binary.

mod scan_corpus;
mod supply_chain;

/// The ai.onnx.ml operators, handed in as the gate hands them in.
pub const ONNX_ML: palisade_model::Operators = palisade_model::Operators {
    register: palisade_onnx_ml::register,
    after_run: palisade_onnx_ml::clear_upper_vector_state,
    zipmap_classes: palisade_onnx_ml::zipmap_classes,
    after_plan: palisade_onnx_ml::replace_slow_standard_ops,
};
