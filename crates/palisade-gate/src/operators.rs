//! The operators models may use beyond tract's own: the ai.onnx.ml set (linear models,
//! trees, SVMs, scalers, ZipMap...) that scikit-learn, LightGBM and XGBoost exports need.
//! `palisade-model` and `palisade-onnx-ml` sit on the same floor and do not import each
//! other; the gate, above both, hands one to the other.

use palisade_model::Operators;

/// tract's operators with Palisade's ai.onnx.ml set in place of tract's own.
pub const ONNX_ML: Operators = Operators {
    register: palisade_onnx_ml::register,
    after_run: palisade_onnx_ml::clear_upper_vector_state,
    zipmap_classes: palisade_onnx_ml::zipmap_classes,
    after_plan: palisade_onnx_ml::replace_slow_standard_ops,
};
