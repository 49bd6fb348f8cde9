//! TreeEnsembleClassifier and TreeEnsembleRegressor (ai.onnx.ml opsets 1 and 3), with
//! onnxruntime's semantics to the bit: the same node layout and order of summation, the same
//! aggregation (`SUM`, `AVERAGE`, `MIN`, `MAX`), the same treatment of base values and classes no
//! leaf votes for, and the same binary-classifier rules (one weighted class: the positive class
//! wins above 0.5 when every weight is positive, above 0 otherwise; scores `[1 - s, s]` or
//! `[-s, s]`). Labels come from the same scores the caller sees, so they cannot disagree.
//!
//! Rows are walked 128 at a time, tree by tree, so a tree's nodes stay in cache across the batch.

mod forest;
mod v5;

use tract_hir::internal::*;
use tract_onnx::pb::NodeProto;

use crate::attrs::Attrs;
use crate::kernel::Kernel;
use crate::labels::Labels;
use crate::real::Real;
use crate::rows::{rows_and_width, values};
use crate::transform::{logistic, PostTransform};
use forest::{Forest, Node};

/// Rows walked together through each tree (onnxruntime's batch, too).
const ROW_BLOCK: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

#[derive(Clone, Copy, Debug, Default)]
struct Score<T> {
    score: T,
    has: bool,
}

impl<T: Real> Score<T> {
    /// What onnxruntime writes for a score: zero when no leaf ever voted for it.
    fn value(self) -> f32 {
        if self.has {
            self.score.to_f32()
        } else {
            0.0
        }
    }

    #[inline(always)]
    fn add(&mut self, aggregate: Aggregate, w: T) {
        match aggregate {
            Aggregate::Sum | Aggregate::Average => {
                self.score = self.score + w;
                self.has = true;
            }
            Aggregate::Min => {
                if !self.has || w < self.score {
                    self.score = w;
                }
                self.has = true;
            }
            Aggregate::Max => {
                if !self.has || w > self.score {
                    self.score = w;
                }
                self.has = true;
            }
        }
    }
}

/// onnxruntime's label value for class index `k`: the int label, or the index itself when
/// labels are strings (mapped to the string on output).
fn label_value(labels: &Labels, k: usize) -> i64 {
    match labels {
        Labels::Ints(v) => v[k],
        Labels::Strings(_) => k as i64,
    }
}

#[derive(Debug)]
enum Kind {
    Classifier {
        labels: Labels,
        /// Two classes and only one of them carries leaf weights.
        binary: bool,
        all_positive: bool,
    },
    Regressor {
        aggregate: Aggregate,
    },
}

#[derive(Debug)]
struct Ensemble<T> {
    forest: Forest<T>,
    kind: Kind,
    base: Vec<T>,
    post: PostTransform,
    n_out: usize,
}

#[derive(Debug)]
enum Typed {
    F32(Ensemble<f32>),
    F64(Ensemble<f64>),
}

#[derive(Debug)]
pub(crate) struct TreeEnsemble {
    typed: Typed,
    classifier: bool,
    op: &'static str,
}

pub(crate) fn classifier(node: &NodeProto, inputs: &[&TypedFact]) -> TractResult<Box<dyn Kernel>> {
    build(node, inputs, true)
}

/// TreeEnsemble (ai.onnx.ml opset 5): a regressor whose forest is converted from its own
/// layout (see `v5.rs`); integer-coded aggregate and post-transform.
pub(crate) fn tree_ensemble(
    node: &NodeProto,
    inputs: &[&TypedFact],
) -> TractResult<Box<dyn Kernel>> {
    let a = Attrs::new(node);
    let Some(x) = inputs.first() else {
        return a.fail_node("needs one input");
    };
    let aggregate = match a.int("aggregate_function")?.unwrap_or(1) {
        0 => Aggregate::Average,
        1 => Aggregate::Sum,
        2 => Aggregate::Min,
        3 => Aggregate::Max,
        other => {
            return a.fail(
                "aggregate_function",
                format!("{other} is not 0 (AVERAGE), 1 (SUM), 2 (MIN) or 3 (MAX)"),
            )
        }
    };
    let post = match a.int("post_transform")?.unwrap_or(0) {
        0 => PostTransform::None,
        // The ONNX spec says 1 is SOFTMAX and 2 LOGISTIC; onnxruntime reads them the other
        // way round. Which one the exporter meant cannot be known, so neither is guessed.
        1 | 2 => return a.fail("post_transform", "1 and 2 mean SOFTMAX and LOGISTIC in the ONNX spec but the reverse in onnxruntime, so the answer depends on the runtime the exporter tested with; re-export with TreeEnsembleRegressor (ai.onnx.ml opset 3) or post_transform 0"),
        3 => PostTransform::SoftmaxZero,
        4 => return a.fail("post_transform", "4 (PROBIT) is not served: its onnxruntime result cannot be reproduced exactly"),
        other => return a.fail("post_transform", format!("{other} is not a post-transform (0 to 4)")),
    };
    let n_out = match a.int("n_targets")? {
        Some(n) if n > 0 && n <= 1 << 20 => n as usize,
        _ => return a.fail("n_targets", "must be set and positive"),
    };
    fn ensemble<T: Real>(
        a: &Attrs,
        aggregate: Aggregate,
        post: PostTransform,
        n_out: usize,
    ) -> TractResult<Ensemble<T>> {
        let forest = forest::build::<T>(a, v5::arrays(a)?, "leaf_target", n_out)?;
        Ok(Ensemble {
            forest,
            kind: Kind::Regressor { aggregate },
            base: Vec::new(),
            post,
            n_out,
        })
    }
    let typed = match x.datum_type {
        DatumType::F64 => Typed::F64(ensemble(&a, aggregate, post, n_out)?),
        DatumType::F32 => Typed::F32(ensemble(&a, aggregate, post, n_out)?),
        other => return a.fail_node(format!("input type {other:?} is not float or double")),
    };
    Ok(Box::new(TreeEnsemble {
        typed,
        classifier: false,
        op: "TreeEnsemble",
    }))
}

pub(crate) fn regressor(node: &NodeProto, inputs: &[&TypedFact]) -> TractResult<Box<dyn Kernel>> {
    build(node, inputs, false)
}

fn build(
    node: &NodeProto,
    inputs: &[&TypedFact],
    classifier: bool,
) -> TractResult<Box<dyn Kernel>> {
    let a = Attrs::new(node);
    let Some(x) = inputs.first() else {
        return a.fail_node("needs one input");
    };
    let typed = match x.datum_type {
        DatumType::F64 => Typed::F64(ensemble(&a, classifier)?),
        DatumType::F32 | DatumType::I64 | DatumType::I32 => Typed::F32(ensemble(&a, classifier)?),
        other => {
            return a.fail_node(format!(
                "input type {other:?} is not float, double, int64 or int32"
            ))
        }
    };
    let op = if classifier {
        "TreeEnsembleClassifier"
    } else {
        "TreeEnsembleRegressor"
    };
    Ok(Box::new(TreeEnsemble {
        typed,
        classifier,
        op,
    }))
}

fn ensemble<T: Real>(a: &Attrs, classifier: bool) -> TractResult<Ensemble<T>> {
    let post = PostTransform::read(a)?;
    let base: Vec<T> = a
        .reals("base_values")?
        .unwrap_or_default()
        .into_iter()
        .map(T::from_f64)
        .collect();
    if classifier {
        let labels = Labels::read(a, "classlabels_int64s", "classlabels_strings")?;
        let n = labels.len();
        if n < 2 {
            return a.fail(
                "classlabels_int64s",
                format!("a classifier needs at least two classes, this one has {n}"),
            );
        }
        if base.len() > n || (n == 2 && base.len() > 2) {
            return a.fail(
                "base_values",
                format!("{} base values for {n} classes", base.len()),
            );
        }
        let forest = forest::read::<T>(a, "class_", n)?;
        let class_ids = a.ints_or_empty("class_ids")?;
        let weights = a.reals("class_weights")?.unwrap_or_default();
        let mut classes = std::collections::BTreeSet::new();
        classes.extend(class_ids.iter().copied());
        let binary = n == 2 && classes.len() == 1;
        let all_positive = weights.iter().all(|w| *w >= 0.0);
        Ok(Ensemble {
            forest,
            kind: Kind::Classifier {
                labels,
                binary,
                all_positive,
            },
            base,
            post,
            n_out: n,
        })
    } else {
        let aggregate = match a.string("aggregate_function")?.as_deref() {
            None | Some("SUM") => Aggregate::Sum,
            Some("AVERAGE") => Aggregate::Average,
            Some("MIN") => Aggregate::Min,
            Some("MAX") => Aggregate::Max,
            Some(other) => {
                return a.fail(
                    "aggregate_function",
                    format!("'{other}' is not SUM, AVERAGE, MIN or MAX"),
                )
            }
        };
        let n_targets = match a.int("n_targets")? {
            Some(n) if n > 0 && n <= 1 << 20 => n as usize,
            Some(n) => return a.fail("n_targets", format!("{n} is not a number of outputs")),
            None => return a.fail("n_targets", "is missing"),
        };
        let forest = forest::read::<T>(a, "target_", n_targets)?;
        Ok(Ensemble {
            forest,
            kind: Kind::Regressor { aggregate },
            base,
            post,
            n_out: n_targets,
        })
    }
}

impl<T: Real> Ensemble<T> {
    fn origin(&self) -> T {
        if self.base.len() == 1 {
            self.base[0]
        } else {
            T::default()
        }
    }

    /// Scores (`rows × n_out`) and, for a classifier, label values (`rows`).
    fn run(&self, x: &[T], rows: usize, width: usize) -> TractResult<(Vec<f32>, Vec<i64>)> {
        if width <= self.forest.max_feature {
            bail!(
                "the trees read feature {} but the input has {width} features per row",
                self.forest.max_feature
            );
        }
        let n = self.n_out;
        let mut z = vec![0f32; rows * n];
        let mut labels = vec![
            0i64;
            if matches!(self.kind, Kind::Classifier { .. }) {
                rows
            } else {
                0
            }
        ];
        let aggregate = match self.kind {
            Kind::Classifier { .. } => Aggregate::Sum,
            Kind::Regressor { aggregate } => aggregate,
        };
        let mut scores = vec![Score::<T>::default(); ROW_BLOCK.min(rows.max(1)) * n];
        for start in (0..rows).step_by(ROW_BLOCK) {
            let block = ROW_BLOCK.min(rows - start);
            let scores = &mut scores[..block * n];
            scores.iter_mut().for_each(|s| *s = Score::default());
            let row = |r: usize| &x[(start + r) * width..(start + r + 1) * width];
            for &root in &self.forest.roots {
                if n == 1 {
                    for (r, score) in scores.iter_mut().enumerate() {
                        let leaf: &Node<T> = self.forest.leaf(root, row(r));
                        match aggregate {
                            // One output: the leaf's first weight, as onnxruntime reads it.
                            Aggregate::Sum | Aggregate::Average => {
                                score.score = score.score + leaf.value
                            }
                            _ => score.add(aggregate, leaf.value),
                        }
                    }
                } else {
                    for (r, row_scores) in scores.chunks_exact_mut(n).enumerate() {
                        let leaf = self.forest.leaf(root, row(r));
                        for w in self.forest.leaf_weights(leaf) {
                            row_scores[w.target as usize].add(aggregate, w.value);
                        }
                    }
                }
            }
            for (r, row_scores) in scores.chunks_exact_mut(n).enumerate() {
                let out = &mut z[(start + r) * n..(start + r + 1) * n];
                match &self.kind {
                    Kind::Regressor { aggregate } => {
                        self.finish_regression(*aggregate, row_scores, out)
                    }
                    Kind::Classifier {
                        labels: l,
                        binary,
                        all_positive,
                    } => {
                        labels[start + r] =
                            self.finish_classification(l, *binary, *all_positive, row_scores, out);
                    }
                }
            }
        }
        Ok((z, labels))
    }

    fn finish_regression(&self, aggregate: Aggregate, s: &mut [Score<T>], out: &mut [f32]) {
        let n_trees = T::from_usize(self.forest.roots.len());
        if s.len() == 1 {
            let origin = self.origin();
            let v = match aggregate {
                Aggregate::Sum => s[0].score + origin,
                Aggregate::Average => s[0].score / n_trees + origin,
                Aggregate::Min | Aggregate::Max if s[0].has => s[0].score + origin,
                Aggregate::Min | Aggregate::Max => origin,
            };
            out[0] = v.to_f32();
            return;
        }
        let use_base = self.base.len() == s.len();
        for (k, score) in s.iter_mut().enumerate() {
            let base = if use_base { self.base[k] } else { T::default() };
            score.score = match aggregate {
                Aggregate::Sum => score.score + base,
                Aggregate::Average => score.score / n_trees + base,
                Aggregate::Min | Aggregate::Max if score.has => base + score.score,
                Aggregate::Min | Aggregate::Max => base,
            };
        }
        for (o, score) in out.iter_mut().zip(s.iter()) {
            *o = score.value();
        }
        self.post.apply(out);
    }

    /// Returns the label value; writes the class scores.
    fn finish_classification(
        &self,
        labels: &Labels,
        binary: bool,
        all_positive: bool,
        s: &mut [Score<T>],
        out: &mut [f32],
    ) -> i64 {
        if s.len() > 2 {
            for (k, base) in self.base.iter().enumerate() {
                if s[k].has {
                    s[k].score = s[k].score + *base;
                } else {
                    s[k] = Score {
                        score: *base,
                        has: true,
                    };
                }
            }
            let mut best: Option<(usize, T)> = None;
            for (k, score) in s.iter().enumerate() {
                if score.has && best.is_none_or(|(_, w)| score.score > w) {
                    best = Some((k, score.score));
                }
            }
            for (o, score) in out.iter_mut().zip(s.iter()) {
                *o = score.value();
            }
            self.post.apply(out);
            return label_value(labels, best.map_or(0, |(k, _)| k));
        }

        // Two classes.
        let mut second_class: Option<u8> = None;
        let mut width = 2;
        match self.base.len() {
            2 if s[1].has => {
                s[1].score = self.base[1] + s[0].score;
                s[0].score = -s[1].score;
            }
            2 => {
                s[1].score = s[1].score + self.base[1];
                s[0].score = s[0].score + self.base[0];
            }
            1 => {
                s[0].score = s[0].score + self.base[0];
                if !s[1].has {
                    width = 1;
                }
            }
            _ => {
                second_class = Some(3);
                if !s[1].has {
                    width = 1;
                }
            }
        }
        let (pos_has, pos) = if width == 2 && s[1].has {
            (true, s[1].score)
        } else {
            (s[0].has, s[0].score)
        };
        let pos = if pos_has { pos } else { T::default() };
        let zero = T::default();
        let half = T::from_f64(0.5);
        let label = if binary {
            let (positive, code) = match (all_positive, pos > half, pos > zero) {
                (true, true, _) => (true, 0),
                (true, false, _) => (false, 1),
                (false, _, true) => (true, 2),
                (false, _, false) => (false, 3),
            };
            second_class = Some(code);
            label_value(labels, if positive { 1 } else { 0 })
        } else if pos > zero {
            1
        } else {
            0
        };

        if width == 2 {
            out[0] = s[0].value();
            out[1] = s[1].value();
            self.post.apply(out);
            return label;
        }
        let v = s[0].value();
        match second_class {
            Some(0) | Some(1) => {
                out[0] = 1.0 - v;
                out[1] = v;
            }
            Some(_) if self.post == PostTransform::Logistic => {
                out[0] = logistic(-v);
                out[1] = logistic(v);
            }
            Some(_) => {
                out[0] = -v;
                out[1] = v;
            }
            None => out[0] = v,
        }
        label
    }
}

impl Kernel for TreeEnsemble {
    fn name(&self) -> &'static str {
        self.op
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let rows: TDim = if inputs[0].rank() == 1 {
            1.into()
        } else {
            inputs[0].shape[0].clone()
        };
        let (n_out, labels) = match &self.typed {
            Typed::F32(e) => (e.n_out, labels_type(&e.kind)),
            Typed::F64(e) => (e.n_out, labels_type(&e.kind)),
        };
        let scores = f32::fact(&[rows.clone(), n_out.into()]);
        Ok(match labels {
            Some(dt) => tvec!(dt.fact(&[rows]), scores),
            None => tvec!(scores),
        })
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let (scores, labels, rows, n_out) = match &self.typed {
            Typed::F32(e) => {
                let (rows, width) = rows_and_width("a tree ensemble", x.shape())?;
                let values = values::<f32>(x)?;
                let (z, l) = e.run(&values, rows, width)?;
                (z, l, rows, e.n_out)
            }
            Typed::F64(e) => {
                let (rows, width) = rows_and_width("a tree ensemble", x.shape())?;
                let values = values::<f64>(x)?;
                let (z, l) = e.run(&values, rows, width)?;
                (z, l, rows, e.n_out)
            }
        };
        let scores = Tensor::from_shape(&[rows, n_out], &scores)?.into_tvalue();
        if !self.classifier {
            return Ok(tvec!(scores));
        }
        let label_names = match &self.typed {
            Typed::F32(e) => label_strings(&e.kind),
            Typed::F64(e) => label_strings(&e.kind),
        };
        let labels = match label_names {
            None => Tensor::from_shape(&[rows], &labels)?,
            Some(names) => {
                let strings: Vec<String> =
                    labels.iter().map(|&k| names[k as usize].clone()).collect();
                tract_ndarray::Array1::from_vec(strings).into_tensor()
            }
        };
        Ok(tvec!(labels.into_tvalue(), scores))
    }
}

fn labels_type(kind: &Kind) -> Option<DatumType> {
    match kind {
        Kind::Classifier {
            labels: Labels::Ints(_),
            ..
        } => Some(DatumType::I64),
        Kind::Classifier {
            labels: Labels::Strings(_),
            ..
        } => Some(DatumType::String),
        Kind::Regressor { .. } => None,
    }
}

fn label_strings(kind: &Kind) -> Option<&[String]> {
    match kind {
        Kind::Classifier {
            labels: Labels::Strings(s),
            ..
        } => Some(s),
        _ => None,
    }
}
