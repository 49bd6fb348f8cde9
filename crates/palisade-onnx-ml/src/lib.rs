//! The ai.onnx.ml operators in pure Rust, registered into tract's ONNX parser.
//!
//! Tabular models reach ONNX through skl2onnx and onnxmltools, and what they export is mostly
//! this domain: tree ensembles, linear models, scalers, imputers, encoders, ZipMap. tract covers
//! part of it, and where it does, a binary tree classifier's labels disagree with its own
//! probabilities. Serving a wrong label is worse than refusing the model, so every operator here
//! follows onnxruntime, the reference every exporter tests against, down to its order of
//! summation and its handling of classes no leaf votes for; `tests/` compares the two on random
//! and adversarial inputs.
//!
//! Nothing here knows about Palisade: [`register`] adds the operators to a tract `Onnx`, and
//! [`replace_slow_standard_ops`] swaps a few standard ones tract runs slowly on short rows in a
//! planned model.

// One reviewed module (`cpu`) clears vector-register state with `vzeroupper`; no other code
// may use `unsafe`.
#![deny(unsafe_code)]

mod attrs;
mod cdist;
mod cpu;
mod encoders;
mod features;
mod flatten;
mod kernel;
mod labels;
mod linear;
mod log_sum_exp;
mod preprocess;
mod real;
mod rows;
mod short_rows;
mod svm;
mod text;
mod transform;
mod tree;
mod zipmap;

pub use cpu::clear_upper_vector_state;
pub use short_rows::replace_slow_standard_ops;
pub use zipmap::zipmap_classes;

use kernel::{Build, OutType, Pending, Rows};
use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

const F32: OutType = OutType::Is(DatumType::F32);
const STRING: OutType = OutType::Is(DatumType::String);

/// The operators this crate provides (replacing tract's where it has them): the builder of
/// each, the types of its outputs before its inputs are typed, and how its output shapes
/// follow its input's.
#[rustfmt::skip]
const TABLE: &[(&str, Build, &[OutType], Rows)] = &[
    ("ArrayFeatureExtractor", Build::Plain(features::array_feature_extractor), &[OutType::SameAsInput(0)], Rows::SameFirstAxis),
    ("Binarizer", Build::Plain(preprocess::binarizer), &[OutType::SameAsInput(0)], Rows::SameShape),
    ("CategoryMapper", Build::Plain(encoders::category_mapper), &[OutType::Later], Rows::SameShape),
    ("FeatureVectorizer", Build::Plain(features::feature_vectorizer), &[F32], Rows::SameFirstAxis),
    ("Imputer", Build::Plain(preprocess::imputer), &[OutType::SameAsInput(0)], Rows::SameShape),
    ("LabelEncoder", Build::Plain(encoders::label_encoder), &[OutType::Later], Rows::SameShape),
    ("LinearClassifier", Build::Plain(linear::classifier), &[OutType::Later, F32], Rows::SameFirstAxis),
    ("LinearRegressor", Build::Plain(linear::regressor), &[F32], Rows::SameFirstAxis),
    ("Normalizer", Build::Plain(preprocess::normalizer), &[F32], Rows::SameShape),
    ("OneHotEncoder", Build::Plain(encoders::one_hot_encoder), &[F32], Rows::SameFirstAxis),
    ("Scaler", Build::Plain(preprocess::scaler), &[F32], Rows::SameShape),
    ("StringNormalizer", Build::Sized(text::string_normalizer), &[STRING], Rows::Free),
    ("SVMClassifier", Build::Plain(svm::classifier), &[OutType::Later, F32], Rows::SameFirstAxis),
    ("SVMRegressor", Build::Plain(svm::regressor), &[F32], Rows::SameFirstAxis),
    ("TfIdfVectorizer", Build::Plain(text::tfidf_vectorizer), &[F32], Rows::SameFirstAxis),
    ("Tokenizer", Build::Sized(text::tokenizer), &[STRING], Rows::Free),
    ("TreeEnsemble", Build::Plain(tree::tree_ensemble), &[F32], Rows::SameFirstAxis),
    ("TreeEnsembleClassifier", Build::Plain(tree::classifier), &[OutType::Later, F32], Rows::SameFirstAxis),
    ("TreeEnsembleRegressor", Build::Plain(tree::regressor), &[F32], Rows::SameFirstAxis),
    ("ZipMap", Build::Plain(zipmap::zipmap), &[F32], Rows::SameFirstAxis),
];

/// The names of the operators [`register`] adds.
pub fn operators() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(name, ..)| *name)
}

/// Adds (or replaces) every operator in [`operators`], and replaces tract's `Flatten` with one
/// that takes more than one symbolic dimension (see `flatten.rs`), its `ReduceLogSumExp` with
/// one that does not overflow (see `log_sum_exp.rs`), and computes skl2onnx's pairwise-distance
/// `Scan` in one kernel (see `cdist.rs`).
pub fn register(reg: &mut OnnxOpRegister) {
    for (name, ..) in TABLE {
        reg.insert(name, parse);
    }
    reg.insert("Flatten", |_, node| Ok((flatten::parse(node)?, vec![])));
    reg.insert("Scan", cdist::parse);
    reg.insert("ReduceLogSumExp", |_, node| {
        let build = Build::Plain(log_sum_exp::log_sum_exp);
        let outputs = vec![OutType::SameAsInput(0)];
        let op = Pending::boxed("ReduceLogSumExp", node, build, outputs, Rows::Free);
        Ok((op, vec![]))
    });
}

fn parse(_: &ParsingContext, node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let Some((name, build, outputs, rows)) = TABLE.iter().find(|(name, ..)| *name == node.op_type)
    else {
        bail!(
            "{} is not an ai.onnx.ml operator this runtime provides",
            node.op_type
        );
    };
    Ok((
        Pending::boxed(name, node, *build, outputs.to_vec(), *rows),
        vec![],
    ))
}
