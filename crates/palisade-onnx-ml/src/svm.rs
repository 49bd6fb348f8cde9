//! SVMClassifier and SVMRegressor (scikit-learn's SVC, NuSVC, SVR, OneClassSVM; libsvm's
//! one-vs-one voting and Platt-scaled probabilities), following onnxruntime: the same kernels,
//! the same pairwise sums (in f64), votes, tie-breaking, binary score layout and the same
//! iterative pairwise-coupling for probabilities. Dot products sum in f64 and round once
//! (onnxruntime's GEMM order is CPU-dependent); the RBF distance sums in f32 in order, as it does.

use tract_hir::internal::*;
use tract_onnx::pb::NodeProto;

use crate::attrs::Attrs;
use crate::kernel::Kernel;
use crate::labels::Labels;
use crate::rows::{one_float_input, one_numeric_input, rows_and_width, rows_dim, values};
use crate::transform::PostTransform;

#[derive(Clone, Copy, Debug)]
enum KernelType {
    Linear,
    Poly { gamma: f32, coef0: f32, degree: f32 },
    Rbf { gamma: f32 },
    Sigmoid { gamma: f32, coef0: f32 },
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
}

impl KernelType {
    fn read(a: &Attrs) -> TractResult<KernelType> {
        let Some(params) = a.floats("kernel_params")? else {
            return a.fail("kernel_params", "is missing (gamma, coef0, degree)");
        };
        let (gamma, coef0, degree) = match params.as_slice() {
            [] => (0.0, 0.0, 0.0),
            [g, c, d, ..] => (*g, *c, *d),
            _ => return a.fail("kernel_params", "needs three values: gamma, coef0, degree"),
        };
        Ok(match a.string("kernel_type")?.as_deref() {
            None | Some("LINEAR") => KernelType::Linear,
            Some("POLY") => KernelType::Poly {
                gamma,
                coef0,
                degree,
            },
            Some("RBF") => KernelType::Rbf { gamma },
            Some("SIGMOID") => KernelType::Sigmoid { gamma, coef0 },
            Some(other) => {
                return a.fail(
                    "kernel_type",
                    format!("'{other}' is not LINEAR, POLY, RBF or SIGMOID"),
                )
            }
        })
    }

    fn apply(self, x: &[f32], v: &[f32]) -> f32 {
        match self {
            KernelType::Linear => dot(x, v) as f32,
            KernelType::Rbf { gamma } => {
                let mut sum = 0f32;
                for (a, b) in x.iter().zip(v) {
                    let d = a - b;
                    sum += d * d;
                }
                (-gamma * sum).exp()
            }
            KernelType::Poly {
                gamma,
                coef0,
                degree,
            } => {
                let base = (gamma as f64 * dot(x, v) + coef0 as f64) as f32;
                if degree == 2.0 {
                    base * base
                } else if degree == 3.0 {
                    base * base * base
                } else {
                    base.powf(degree)
                }
            }
            KernelType::Sigmoid { gamma, coef0 } => {
                ((gamma as f64 * dot(x, v) + coef0 as f64) as f32).tanh()
            }
        }
    }
}

#[derive(Debug)]
enum Mode {
    /// liblinear: one coefficient row per class.
    Linear,
    /// libsvm: support vectors grouped by class, one-vs-one classifiers.
    Svc {
        support_vectors: Vec<f32>,
        vectors_per_class: Vec<usize>,
        starts: Vec<usize>,
        vectors: usize,
    },
}

#[derive(Debug)]
pub(crate) struct SvmClassifier {
    kernel: KernelType,
    mode: Mode,
    coefficients: Vec<f32>,
    rho: Vec<f32>,
    prob_a: Vec<f32>,
    prob_b: Vec<f32>,
    labels: Labels,
    post: PostTransform,
    features: usize,
    all_positive: bool,
}

pub(crate) fn classifier(node: &NodeProto, inputs: &[&TypedFact]) -> TractResult<Box<dyn Kernel>> {
    let a = Attrs::new(node);
    one_numeric_input(&a, inputs)?;
    let labels = Labels::read(&a, "classlabels_ints", "classlabels_strings")?;
    let classes = labels.len();
    if !(1..65536).contains(&classes) {
        return a.fail("classlabels_ints", format!("{classes} classes"));
    }
    let coefficients = a.floats("coefficients")?.unwrap_or_default();
    let rho = a.floats("rho")?.unwrap_or_default();
    let prob_a = a.floats("prob_a")?.unwrap_or_default();
    let prob_b = a.floats("prob_b")?.unwrap_or_default();
    a.same_len("prob_b", prob_b.len(), "prob_a", prob_a.len())?;
    if coefficients.is_empty() {
        return a.fail("coefficients", "is empty");
    }
    let post = PostTransform::read(&a)?;
    let per_class: Vec<i64> = a.ints_or_empty("vectors_per_class")?;
    let support_vectors = a.floats("support_vectors")?.unwrap_or_default();
    let vectors: usize = per_class
        .iter()
        .map(|v| usize::try_from(*v).unwrap_or(usize::MAX))
        .fold(0, usize::saturating_add);
    let pairs = classes * (classes - 1) / 2;
    let (mode, kernel, features) = if vectors > 0 {
        if per_class.len() != classes {
            return a.fail(
                "vectors_per_class",
                format!("{} entries for {classes} classes", per_class.len()),
            );
        }
        if support_vectors.is_empty() || support_vectors.len() % vectors != 0 {
            return a.fail(
                "support_vectors",
                format!(
                    "{} values do not split into {vectors} vectors",
                    support_vectors.len()
                ),
            );
        }
        if coefficients.len() < (classes - 1) * vectors {
            return a.fail(
                "coefficients",
                format!(
                    "{} values, fewer than (classes - 1) × vectors = {}",
                    coefficients.len(),
                    (classes - 1) * vectors
                ),
            );
        }
        if rho.len() < pairs {
            return a.fail(
                "rho",
                format!("{} values for {pairs} class pairs", rho.len()),
            );
        }
        if !prob_a.is_empty() && prob_a.len() < pairs {
            return a.fail(
                "prob_a",
                format!("{} values for {pairs} class pairs", prob_a.len()),
            );
        }
        let vectors_per_class: Vec<usize> = per_class.iter().map(|v| *v as usize).collect();
        let starts = vectors_per_class
            .iter()
            .scan(0, |s, v| {
                let start = *s;
                *s += v;
                Some(start)
            })
            .collect();
        let features = support_vectors.len() / vectors;
        (
            Mode::Svc {
                support_vectors,
                vectors_per_class,
                starts,
                vectors,
            },
            KernelType::read(&a)?,
            features,
        )
    } else {
        if coefficients.len() % classes != 0 {
            return a.fail(
                "coefficients",
                format!(
                    "{} values do not split into {classes} classes",
                    coefficients.len()
                ),
            );
        }
        if rho.is_empty() {
            return a.fail("rho", "is empty");
        }
        KernelType::read(&a)?;
        (
            Mode::Linear,
            KernelType::Linear,
            coefficients.len() / classes,
        )
    };
    let all_positive = coefficients.iter().all(|c| *c >= 0.0);
    Ok(Box::new(SvmClassifier {
        kernel,
        mode,
        coefficients,
        rho,
        prob_a,
        prob_b,
        labels,
        post,
        features,
        all_positive,
    }))
}

impl SvmClassifier {
    fn classes(&self) -> usize {
        self.labels.len()
    }

    fn scores_per_row(&self) -> usize {
        let classes = self.classes();
        match self.mode {
            Mode::Svc { .. } if self.prob_a.is_empty() => {
                if classes > 2 {
                    classes * (classes - 1) / 2
                } else {
                    2
                }
            }
            _ => classes,
        }
    }

    /// Scores and label index for one row.
    fn row(&self, x: &[f32], out: &mut [f32]) -> usize {
        let classes = self.classes();
        match &self.mode {
            Mode::Linear => {
                for (c, o) in out.iter_mut().enumerate() {
                    let w = &self.coefficients[c * self.features..(c + 1) * self.features];
                    *o = (dot(x, w) + self.rho[0] as f64) as f32;
                }
                let best = first_max(out);
                let label = if classes == 2 {
                    self.binary_label(out[best], best)
                } else {
                    best
                };
                self.post.apply(out);
                label
            }
            Mode::Svc {
                support_vectors,
                vectors_per_class,
                starts,
                vectors,
            } => {
                let kernels: Vec<f32> = support_vectors
                    .chunks_exact(self.features)
                    .map(|v| self.kernel.apply(x, v))
                    .collect();
                let mut votes = vec![0i64; classes];
                let mut pair_scores = Vec::with_capacity(classes * (classes - 1) / 2);
                let mut k = 0;
                for i in 0..classes - 1 {
                    for j in i + 1..classes {
                        let mut sum = 0f64;
                        let row_j = vectors * (j - 1);
                        for m in 0..vectors_per_class[i] {
                            sum += self.coefficients[row_j + starts[i] + m] as f64
                                * kernels[starts[i] + m] as f64;
                        }
                        let row_i = vectors * i;
                        for m in 0..vectors_per_class[j] {
                            sum += self.coefficients[row_i + starts[j] + m] as f64
                                * kernels[starts[j] + m] as f64;
                        }
                        sum += self.rho[k] as f64;
                        k += 1;
                        pair_scores.push(sum as f32);
                        votes[if sum > 0.0 { i } else { j }] += 1;
                    }
                }
                let best = first_max(&votes);
                if !self.prob_a.is_empty() {
                    self.probabilities(&pair_scores, out);
                    self.post.apply(out);
                    return best;
                }
                if classes > 2 {
                    out.copy_from_slice(&pair_scores);
                    self.post.apply(out);
                } else {
                    // One classifier: onnxruntime writes [-s, s], or [1 - t, t] with t the
                    // transformed score.
                    let s = pair_scores[0];
                    match self.post {
                        PostTransform::None => out.copy_from_slice(&[-s, s]),
                        PostTransform::Logistic => {
                            let t = crate::transform::logistic(s);
                            out.copy_from_slice(&[1.0 - t, t]);
                        }
                        _ => out.copy_from_slice(&[1.0 - s, s]),
                    }
                }
                if classes == 2 {
                    self.binary_label(0.0, best)
                } else {
                    best
                }
            }
        }
    }

    /// onnxruntime's `ChooseClass` for two classes without probabilities.
    fn binary_label(&self, max_weight: f32, best: usize) -> usize {
        if !self.prob_a.is_empty() {
            return best;
        }
        if (self.all_positive && max_weight >= 0.5) || (max_weight > 0.0 && !self.all_positive) {
            1
        } else {
            best
        }
    }

    /// Platt-scaled pairwise probabilities coupled into class probabilities (libsvm's method 2).
    fn probabilities(&self, pair_scores: &[f32], out: &mut [f32]) {
        let n = self.classes();
        let mut r = vec![0f32; n * n];
        let mut k = 0;
        for i in 0..n - 1 {
            for j in i + 1..n {
                let v = 1.0
                    - crate::transform::logistic(pair_scores[k] * self.prob_a[k] + self.prob_b[k]);
                let v = v.clamp(1.0e-7, 1.0 - 1.0e-7);
                r[i * n + j] = v;
                r[j * n + i] = 1.0 - v;
                k += 1;
            }
        }
        multiclass_probability(n, &r, out);
    }
}

fn first_max<T: PartialOrd + Copy>(v: &[T]) -> usize {
    let mut best = 0;
    for (k, x) in v.iter().enumerate().skip(1) {
        if *x > v[best] {
            best = k;
        }
    }
    best
}

/// onnxruntime's port of libsvm's pairwise coupling, in f32, 100 iterations at most.
fn multiclass_probability(k: usize, r: &[f32], p: &mut [f32]) {
    let mut q = vec![0f32; k * k];
    let mut qp = vec![0f32; k];
    let eps = 0.005 / k as f32;
    for i in 0..k {
        p[i] = 1.0 / k as f32;
        for j in 0..i {
            q[i * k + i] += r[j * k + i] * r[j * k + i];
            q[i * k + j] = q[j * k + i];
        }
        for j in i + 1..k {
            q[i * k + i] += r[j * k + i] * r[j * k + i];
            q[i * k + j] = -r[j * k + i] * r[i * k + j];
        }
    }
    for _ in 0..100 {
        let mut pqp = 0f32;
        for i in 0..k {
            qp[i] = 0.0;
            for j in 0..k {
                qp[i] += q[i * k + j] * p[j];
            }
            pqp += p[i] * qp[i];
        }
        let max_error = qp.iter().fold(0f32, |m, v| m.max((v - pqp).abs()));
        if max_error < eps {
            break;
        }
        for i in 0..k {
            let diff = (-qp[i] + pqp) / q[i * k + i];
            p[i] += diff;
            pqp = (pqp + diff * (diff * q[i * k + i] + 2.0 * qp[i])) / (1.0 + diff) / (1.0 + diff);
            for j in 0..k {
                qp[j] = (qp[j] + diff * q[i * k + j]) / (1.0 + diff);
                p[j] /= 1.0 + diff;
            }
        }
    }
}

impl Kernel for SvmClassifier {
    fn name(&self) -> &'static str {
        "SVMClassifier"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let rows = rows_dim(inputs[0]);
        Ok(tvec!(
            self.labels.datum_type().fact(std::slice::from_ref(&rows)),
            f32::fact(&[rows, self.scores_per_row().into()])
        ))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let (rows, width) = rows_and_width("SVMClassifier", x.shape())?;
        if width != self.features {
            bail!(
                "the model takes {} features per row, the input has {width}",
                self.features
            );
        }
        let xs = values::<f32>(x)?;
        let per_row = self.scores_per_row();
        let mut scores = vec![0f32; rows * per_row];
        let mut picks = Vec::with_capacity(rows);
        for (r, out) in scores.chunks_exact_mut(per_row).enumerate() {
            picks.push(self.row(&xs[r * width..(r + 1) * width], out));
        }
        let labels = self.labels.tensor(&picks)?;
        Ok(tvec!(
            labels.into_tvalue(),
            Tensor::from_shape(&[rows, per_row], &scores)?.into_tvalue()
        ))
    }
}

#[derive(Debug)]
pub(crate) struct SvmRegressor {
    kernel: KernelType,
    support_vectors: Option<Vec<f32>>,
    coefficients: Vec<f32>,
    rho: f32,
    features: usize,
    one_class: bool,
}

pub(crate) fn regressor(node: &NodeProto, inputs: &[&TypedFact]) -> TractResult<Box<dyn Kernel>> {
    let a = Attrs::new(node);
    one_float_input(&a, inputs, "SVMRegressor")?;
    let Some(n_supports) = a.int("n_supports")? else {
        return a.fail("n_supports", "is missing");
    };
    let coefficients = a.floats("coefficients")?.unwrap_or_default();
    if coefficients.is_empty() {
        return a.fail("coefficients", "is empty");
    }
    let Some(&rho) = a.floats("rho")?.unwrap_or_default().first() else {
        return a.fail("rho", "is empty");
    };
    let kernel = KernelType::read(&a)?;
    let one_class = a.int("one_class")?.unwrap_or(0) != 0;
    let (kernel, support_vectors, features) = if n_supports > 0 {
        let vectors = n_supports as usize;
        let sv = a.floats("support_vectors")?.unwrap_or_default();
        if sv.is_empty() || sv.len() % vectors != 0 || coefficients.len() < vectors {
            return a.fail(
                "support_vectors",
                format!(
                    "{} values do not split into {vectors} vectors with a coefficient each",
                    sv.len()
                ),
            );
        }
        let features = sv.len() / vectors;
        (kernel, Some(sv), features)
    } else {
        (KernelType::Linear, None, coefficients.len())
    };
    Ok(Box::new(SvmRegressor {
        kernel,
        support_vectors,
        coefficients,
        rho,
        features,
        one_class,
    }))
}

impl Kernel for SvmRegressor {
    fn name(&self) -> &'static str {
        "SVMRegressor"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(&[rows_dim(inputs[0]), 1.into()])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let (rows, width) = rows_and_width("SVMRegressor", x.shape())?;
        if width != self.features {
            bail!(
                "the model takes {} features per row, the input has {width}",
                self.features
            );
        }
        let xs = values::<f32>(x)?;
        let out: Vec<f32> = xs
            .chunks_exact(width.max(1))
            .take(rows)
            .map(|row| {
                let y = match &self.support_vectors {
                    Some(sv) => {
                        let k: Vec<f32> = sv
                            .chunks_exact(self.features)
                            .map(|v| self.kernel.apply(row, v))
                            .collect();
                        (dot(&k, &self.coefficients[..k.len()]) + self.rho as f64) as f32
                    }
                    None => (dot(row, &self.coefficients) + self.rho as f64) as f32,
                };
                if self.one_class {
                    if y > 0.0 {
                        1.0
                    } else {
                        -1.0
                    }
                } else {
                    y
                }
            })
            .collect();
        Ok(tvec!(Tensor::from_shape(&[rows, 1], &out)?.into_tvalue()))
    }
}
