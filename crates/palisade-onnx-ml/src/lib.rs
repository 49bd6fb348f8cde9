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
//! Nothing here knows about Palisade: [`register`] adds the operators to a tract `Onnx`.

#![forbid(unsafe_code)]

mod attrs;
mod encoders;
mod features;
mod flatten;
mod kernel;
mod labels;
mod linear;
mod preprocess;
mod real;
mod rows;
mod svm;
mod text;
mod transform;
mod tree;
mod zipmap;

pub use zipmap::zipmap_classes;

use kernel::{Build, OutType, Pending};
use tract_hir::internal::*;
use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;

/// The operators this crate provides (replacing tract's where it has them), with the builder of
/// each and the types of its outputs before its inputs are typed.
const TABLE: &[(&str, Build, &[OutType])] = &[
    (
        "StringNormalizer",
        Build::Sized(text::string_normalizer),
        &[OutType::Is(DatumType::String)],
    ),
    (
        "TfIdfVectorizer",
        Build::Plain(text::tfidf_vectorizer),
        &[OutType::Is(DatumType::F32)],
    ),
    (
        "Tokenizer",
        Build::Sized(text::tokenizer),
        &[OutType::Is(DatumType::String)],
    ),
    (
        "CategoryMapper",
        Build::Plain(encoders::category_mapper),
        &[OutType::Later],
    ),
    (
        "LabelEncoder",
        Build::Plain(encoders::label_encoder),
        &[OutType::Later],
    ),
    (
        "OneHotEncoder",
        Build::Plain(encoders::one_hot_encoder),
        &[OutType::Is(DatumType::F32)],
    ),
    (
        "ArrayFeatureExtractor",
        Build::Plain(features::array_feature_extractor),
        &[OutType::SameAsInput(0)],
    ),
    (
        "FeatureVectorizer",
        Build::Plain(features::feature_vectorizer),
        &[OutType::Is(DatumType::F32)],
    ),
    (
        "Binarizer",
        Build::Plain(preprocess::binarizer),
        &[OutType::SameAsInput(0)],
    ),
    (
        "Imputer",
        Build::Plain(preprocess::imputer),
        &[OutType::SameAsInput(0)],
    ),
    (
        "LinearClassifier",
        Build::Plain(linear::classifier),
        &[OutType::Later, OutType::Is(DatumType::F32)],
    ),
    (
        "LinearRegressor",
        Build::Plain(linear::regressor),
        &[OutType::Is(DatumType::F32)],
    ),
    (
        "Normalizer",
        Build::Plain(preprocess::normalizer),
        &[OutType::Is(DatumType::F32)],
    ),
    (
        "Scaler",
        Build::Plain(preprocess::scaler),
        &[OutType::Is(DatumType::F32)],
    ),
    (
        "SVMClassifier",
        Build::Plain(svm::classifier),
        &[OutType::Later, OutType::Is(DatumType::F32)],
    ),
    (
        "SVMRegressor",
        Build::Plain(svm::regressor),
        &[OutType::Is(DatumType::F32)],
    ),
    (
        "TreeEnsembleClassifier",
        Build::Plain(tree::classifier),
        &[OutType::Later, OutType::Is(DatumType::F32)],
    ),
    (
        "TreeEnsembleRegressor",
        Build::Plain(tree::regressor),
        &[OutType::Is(DatumType::F32)],
    ),
    (
        "ZipMap",
        Build::Plain(zipmap::zipmap),
        &[OutType::Is(DatumType::F32)],
    ),
];

/// The names of the operators [`register`] adds.
pub fn operators() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(name, _, _)| *name)
}

/// Adds (or replaces) every operator in [`operators`], and replaces tract's `Flatten` with one
/// that takes more than one symbolic dimension (see `flatten.rs`).
pub fn register(reg: &mut OnnxOpRegister) {
    for (name, _, _) in TABLE {
        reg.insert(name, parse);
    }
    reg.insert("Flatten", |_, node| Ok((flatten::parse(node)?, vec![])));
}

fn parse(_: &ParsingContext, node: &NodeProto) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let Some((name, build, outputs)) = TABLE.iter().find(|(name, _, _)| *name == node.op_type)
    else {
        bail!(
            "{} is not an ai.onnx.ml operator this runtime provides",
            node.op_type
        );
    };
    Ok((Pending::boxed(name, node, *build, outputs.to_vec()), vec![]))
}
