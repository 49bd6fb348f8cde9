//! LinearClassifier and LinearRegressor: logistic regression, linear SVMs, ridge and friends.
//!
//! onnxruntime computes these with a BLAS GEMM whose order of summation depends on the CPU, so
//! no runtime matches it bit for bit; sums here are taken in f64 and rounded once, which puts
//! every score within an f32 rounding of the exact value (the reference test allows 1e-5).
//! Labels, binary expansion and which post-transforms apply follow onnxruntime exactly.

use tract_hir::internal::*;
use tract_onnx::pb::NodeProto;

use crate::attrs::Attrs;
use crate::kernel::Kernel;
use crate::labels::Labels;
use crate::rows::{one_float_input, one_numeric_input, rows_and_width, rows_dim, values};
use crate::transform::PostTransform;

#[derive(Debug)]
pub(crate) struct LinearClassifier {
    coefficients: Vec<f32>,
    intercepts: Vec<f32>,
    labels: Labels,
    post: PostTransform,
}

pub(crate) fn classifier(node: &NodeProto, inputs: &[&TypedFact]) -> TractResult<Box<dyn Kernel>> {
    let a = Attrs::new(node);
    one_numeric_input(&a, inputs)?;
    let coefficients = a.floats("coefficients")?.unwrap_or_default();
    let intercepts = a.floats("intercepts")?.unwrap_or_default();
    let post = PostTransform::read(&a)?;
    let labels = Labels::read(&a, "classlabels_ints", "classlabels_strings")?;
    let classes = intercepts.len();
    if classes == 0 || coefficients.is_empty() || coefficients.len() % classes != 0 {
        return a.fail(
            "coefficients",
            format!(
                "{} coefficients do not split into {classes} classes",
                coefficients.len()
            ),
        );
    }
    let n_labels = labels.len();
    if classes == 1 && n_labels != 2 {
        return a.fail(
            "classlabels_ints",
            format!("one score column needs exactly two class labels, not {n_labels}"),
        );
    }
    if classes > 1 && n_labels != classes {
        return a.fail(
            "intercepts",
            format!("{classes} classes but {n_labels} labels"),
        );
    }
    Ok(Box::new(LinearClassifier {
        coefficients,
        intercepts,
        labels,
        post,
    }))
}

/// `x · wᵀ + b` for each row, summed in f64 and rounded once.
fn gemm(
    x: &[f32],
    rows: usize,
    width: usize,
    weights: &[f32],
    intercepts: Option<&[f32]>,
    targets: usize,
) -> TractResult<Vec<f32>> {
    if weights.len() != targets * width {
        bail!(
            "the model has {} coefficients per output but the input has {width} features per row",
            weights.len() / targets.max(1)
        );
    }
    let mut out = Vec::with_capacity(rows * targets);
    for r in 0..rows {
        let row = &x[r * width..(r + 1) * width];
        for t in 0..targets {
            let w = &weights[t * width..(t + 1) * width];
            let dot: f64 = row.iter().zip(w).map(|(a, b)| *a as f64 * *b as f64).sum();
            out.push((dot + intercepts.map_or(0.0, |b| b[t] as f64)) as f32);
        }
    }
    Ok(out)
}

impl LinearClassifier {
    /// One score column with two labels: onnxruntime writes `[1 - s, s]`.
    fn adds_second_class(&self) -> bool {
        self.intercepts.len() == 1 && self.labels.len() == 2
    }
}

impl Kernel for LinearClassifier {
    fn name(&self) -> &'static str {
        "LinearClassifier"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let rows = rows_dim(inputs[0]);
        let width = if self.adds_second_class() {
            2
        } else {
            self.intercepts.len()
        };
        let label = self.labels.datum_type().fact(std::slice::from_ref(&rows));
        Ok(tvec!(label, f32::fact(&[rows, width.into()])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let (rows, width) = rows_and_width("LinearClassifier", x.shape())?;
        let classes = self.intercepts.len();
        let scores = gemm(
            &values::<f32>(x)?,
            rows,
            width,
            &self.coefficients,
            Some(&self.intercepts),
            classes,
        )?;
        let mut picks = Vec::with_capacity(rows);
        for row in scores.chunks_exact(classes) {
            if classes == 1 {
                picks.push(if row[0] > 0.0 { 1usize } else { 0 });
            } else {
                let mut best = 0;
                for (k, s) in row.iter().enumerate().skip(1) {
                    if *s > row[best] {
                        best = k;
                    }
                }
                picks.push(best);
            }
        }
        let labels = self.labels.tensor(&picks)?;
        let out = if classes == 1 {
            // One score: only the logistic applies to it; with two labels onnxruntime writes
            // the complement beside it.
            let one = |s: f32| match self.post {
                PostTransform::Logistic => crate::transform::logistic(s),
                _ => s,
            };
            if self.adds_second_class() {
                let z: Vec<f32> = scores
                    .iter()
                    .flat_map(|s| [1.0 - one(*s), one(*s)])
                    .collect();
                Tensor::from_shape(&[rows, 2], &z)?
            } else {
                let z: Vec<f32> = scores.iter().map(|s| one(*s)).collect();
                Tensor::from_shape(&[rows, 1], &z)?
            }
        } else {
            let mut z = scores;
            z.chunks_exact_mut(classes)
                .for_each(|row| self.post.apply(row));
            Tensor::from_shape(&[rows, classes], &z)?
        };
        Ok(tvec!(labels.into_tvalue(), out.into_tvalue()))
    }
}

#[derive(Debug)]
pub(crate) struct LinearRegressor {
    coefficients: Vec<f32>,
    intercepts: Option<Vec<f32>>,
    targets: usize,
    post: PostTransform,
}

pub(crate) fn regressor(node: &NodeProto, inputs: &[&TypedFact]) -> TractResult<Box<dyn Kernel>> {
    let a = Attrs::new(node);
    one_float_input(&a, inputs, "LinearRegressor")?;
    let targets = match a.int("targets")?.unwrap_or(1) {
        t if t > 0 && t <= 1 << 20 => t as usize,
        t => return a.fail("targets", format!("{t} is not a number of outputs")),
    };
    let coefficients = a.floats("coefficients")?.unwrap_or_default();
    if coefficients.is_empty() || coefficients.len() % targets != 0 {
        return a.fail(
            "coefficients",
            format!(
                "{} coefficients do not split into {targets} targets",
                coefficients.len()
            ),
        );
    }
    let intercepts = a.floats("intercepts")?.filter(|i| i.len() == targets);
    Ok(Box::new(LinearRegressor {
        coefficients,
        intercepts,
        targets,
        post: PostTransform::read(&a)?,
    }))
}

impl Kernel for LinearRegressor {
    fn name(&self) -> &'static str {
        "LinearRegressor"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(&[
            rows_dim(inputs[0]),
            self.targets.into()
        ])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let (rows, width) = rows_and_width("LinearRegressor", x.shape())?;
        let mut z = gemm(
            &values::<f32>(x)?,
            rows,
            width,
            &self.coefficients,
            self.intercepts.as_deref(),
            self.targets,
        )?;
        if self.targets > 1 {
            z.chunks_exact_mut(self.targets)
                .for_each(|row| self.post.apply(row));
        }
        Ok(tvec!(
            Tensor::from_shape(&[rows, self.targets], &z)?.into_tvalue()
        ))
    }
}
