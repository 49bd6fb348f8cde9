//! Scaler, Imputer, Normalizer and Binarizer: the column-wise steps in front of most tabular
//! models (StandardScaler, SimpleImputer, MinMaxScaler, sklearn's Normalizer and Binarizer).
//! Arithmetic follows onnxruntime's, type by type, so outputs are bit-identical.

use tract_hir::internal::*;
use tract_onnx::pb::NodeProto;

use crate::attrs::Attrs;
use crate::kernel::Kernel;
use crate::rows::{one_numeric_input, rows_and_width, values};

/// `(x - offset) * scale`, per column or with one value for all.
#[derive(Debug)]
pub(crate) struct Scaler {
    offset: Vec<f32>,
    scale: Vec<f32>,
}

pub(crate) fn scaler(node: &NodeProto, inputs: &[&TypedFact]) -> TractResult<Box<dyn Kernel>> {
    let a = Attrs::new(node);
    one_numeric_input(&a, inputs)?;
    let scale = a.floats("scale")?.unwrap_or_default();
    let offset = a.floats("offset")?.unwrap_or_default();
    if scale.is_empty() {
        return a.fail("scale", "is empty");
    }
    a.same_len("offset", offset.len(), "scale", scale.len())?;
    Ok(Box::new(Scaler { offset, scale }))
}

impl Kernel for Scaler {
    fn name(&self) -> &'static str {
        "Scaler"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(inputs[0].shape.clone())))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let (_, width) = rows_and_width("Scaler", x.shape())?;
        let per_column = self.scale.len() == width;
        if !per_column && self.scale.len() != 1 {
            bail!(
                "Scaler has {} scales for {width} columns; it needs {width} or 1",
                self.scale.len()
            );
        }
        let at = |i: usize| if per_column { i % width } else { 0 };
        let out: Vec<f32> = match x.datum_type() {
            DatumType::F64 => {
                let v = values::<f64>(x)?;
                v.iter()
                    .enumerate()
                    .map(|(i, x)| {
                        ((x - self.offset[at(i)] as f64) * self.scale[at(i)] as f64) as f32
                    })
                    .collect()
            }
            _ => {
                let v = values::<f32>(x)?;
                v.iter()
                    .enumerate()
                    .map(|(i, x)| (x - self.offset[at(i)]) * self.scale[at(i)])
                    .collect()
            }
        };
        Ok(tvec!(Tensor::from_shape(x.shape(), &out)?.into_tvalue()))
    }
}

/// Replaces a missing value (NaN, or a sentinel) with a per-column or global value.
#[derive(Debug)]
pub(crate) enum Imputer {
    Floats { replaced: f32, imputed: Vec<f32> },
    Ints { replaced: i64, imputed: Vec<i64> },
}

pub(crate) fn imputer(node: &NodeProto, inputs: &[&TypedFact]) -> TractResult<Box<dyn Kernel>> {
    let a = Attrs::new(node);
    let x = one_numeric_input(&a, inputs)?;
    let floats = a.floats("imputed_value_floats")?.filter(|v| !v.is_empty());
    let ints = a.ints("imputed_value_int64s")?.filter(|v| !v.is_empty());
    let kernel = match (floats, ints) {
        (Some(imputed), None) => {
            let Some(replaced) = a.float("replaced_value_float")? else {
                return a.fail(
                    "replaced_value_float",
                    "is missing; it says which value imputed_value_floats replaces",
                );
            };
            if x.datum_type != DatumType::F32 {
                return a.fail_node(format!(
                    "float imputation needs a float input, got {:?}",
                    x.datum_type
                ));
            }
            Imputer::Floats { replaced, imputed }
        }
        (None, Some(imputed)) => {
            let Some(replaced) = a.int("replaced_value_int64")? else {
                return a.fail(
                    "replaced_value_int64",
                    "is missing; it says which value imputed_value_int64s replaces",
                );
            };
            if x.datum_type != DatumType::I64 {
                return a.fail_node(format!(
                    "int64 imputation needs an int64 input, got {:?}",
                    x.datum_type
                ));
            }
            Imputer::Ints { replaced, imputed }
        }
        (Some(_), Some(_)) => {
            return a.fail(
                "imputed_value_floats",
                "both float and int64 imputed values are set; keep one",
            )
        }
        (None, None) => {
            return a.fail(
                "imputed_value_floats",
                "no imputed values (imputed_value_floats or imputed_value_int64s)",
            )
        }
    };
    Ok(Box::new(kernel))
}

/// onnxruntime's rule: one value per column when the counts match, else the first for all.
fn impute<T: Copy>(x: &[T], width: usize, imputed: &[T], missing: impl Fn(T) -> bool) -> Vec<T> {
    let per_column = imputed.len() == width;
    x.iter()
        .enumerate()
        .map(|(i, v)| {
            if missing(*v) {
                imputed[if per_column { i % width } else { 0 }]
            } else {
                *v
            }
        })
        .collect()
}

impl Kernel for Imputer {
    fn name(&self) -> &'static str {
        "Imputer"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(inputs[0].without_value()))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let (_, width) = rows_and_width("Imputer", x.shape())?;
        let out = match self {
            Imputer::Floats { replaced, imputed } => {
                let nan = replaced.is_nan();
                let v = impute(&values::<f32>(x)?, width, imputed, |v| {
                    (nan && v.is_nan()) || v == *replaced
                });
                Tensor::from_shape(x.shape(), &v)?
            }
            Imputer::Ints { replaced, imputed } => {
                let v = impute(&values::<i64>(x)?, width, imputed, |v| v == *replaced);
                Tensor::from_shape(x.shape(), &v)?
            }
        };
        Ok(tvec!(out.into_tvalue()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Norm {
    Max,
    L1,
    L2,
}

/// Divides each row by its max, L1 or L2 norm (rows whose norm is zero pass unchanged).
#[derive(Debug)]
pub(crate) struct Normalizer {
    norm: Norm,
}

pub(crate) fn normalizer(node: &NodeProto, inputs: &[&TypedFact]) -> TractResult<Box<dyn Kernel>> {
    let a = Attrs::new(node);
    one_numeric_input(&a, inputs)?;
    let norm = match a.string("norm")?.as_deref() {
        None | Some("MAX") => Norm::Max,
        Some("L1") => Norm::L1,
        Some("L2") => Norm::L2,
        Some(other) => return a.fail("norm", format!("'{other}' is not MAX, L1 or L2")),
    };
    Ok(Box::new(Normalizer { norm }))
}

impl Kernel for Normalizer {
    fn name(&self) -> &'static str {
        "Normalizer"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(inputs[0].shape.clone())))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let (_, width) = rows_and_width("Normalizer", x.shape())?;
        // onnxruntime squares in the input's own type before converting, then works in f32.
        let (as_f32, squares): (Vec<f32>, Vec<f32>) = match x.datum_type() {
            DatumType::F64 => values::<f64>(x)?
                .iter()
                .map(|v| (*v as f32, (v * v) as f32))
                .unzip(),
            DatumType::I64 => values::<i64>(x)?
                .iter()
                .map(|v| (*v as f32, v.wrapping_mul(*v) as f32))
                .unzip(),
            DatumType::I32 => values::<i32>(x)?
                .iter()
                .map(|v| (*v as f32, v.wrapping_mul(*v) as f32))
                .unzip(),
            _ => values::<f32>(x)?.iter().map(|v| (*v, v * v)).unzip(),
        };
        let mut out = vec![0f32; as_f32.len()];
        if width > 0 {
            for (row, (xs, (sq, o))) in as_f32
                .chunks(width)
                .zip(squares.chunks(width).zip(out.chunks_mut(width)))
                .enumerate()
            {
                let _ = row;
                match self.norm {
                    Norm::Max => {
                        let max = xs.iter().fold(f32::MIN, |m, v| if m < *v { *v } else { m });
                        for (o, v) in o.iter_mut().zip(xs) {
                            *o = if max != 0.0 { v / max } else { *v };
                        }
                    }
                    Norm::L1 => {
                        let sum = xs.iter().fold(0f32, |s, v| s + v.abs());
                        for (o, v) in o.iter_mut().zip(xs) {
                            *o = if sum != 0.0 { v / sum } else { *v };
                        }
                    }
                    Norm::L2 => {
                        let sum = sq.iter().fold(0f32, |s, v| s + v);
                        for ((o, v), s) in o.iter_mut().zip(xs).zip(sq) {
                            *o = if sum == 0.0 {
                                *v
                            } else if *v < 0.0 {
                                -(s / sum).sqrt()
                            } else {
                                (s / sum).sqrt()
                            };
                        }
                    }
                }
            }
        }
        Ok(tvec!(Tensor::from_shape(x.shape(), &out)?.into_tvalue()))
    }
}

/// 1 above the threshold, 0 otherwise, in the input's type.
#[derive(Debug)]
pub(crate) struct Binarizer {
    threshold: f32,
}

pub(crate) fn binarizer(node: &NodeProto, inputs: &[&TypedFact]) -> TractResult<Box<dyn Kernel>> {
    let a = Attrs::new(node);
    let x = one_numeric_input(&a, inputs)?;
    if !matches!(x.datum_type, DatumType::F32 | DatumType::F64) {
        return a.fail_node(format!(
            "input type {:?} is not float or double",
            x.datum_type
        ));
    }
    Ok(Box::new(Binarizer {
        threshold: a.float("threshold")?.unwrap_or(0.0),
    }))
}

impl Kernel for Binarizer {
    fn name(&self) -> &'static str {
        "Binarizer"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(inputs[0].without_value()))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        // onnxruntime refuses NaN here rather than binarizing it.
        let nan = match x.datum_type() {
            DatumType::F64 => values::<f64>(x)?.iter().position(|v| v.is_nan()),
            _ => values::<f32>(x)?.iter().position(|v| v.is_nan()),
        };
        if let Some(i) = nan {
            bail!("Binarizer input element {i} is NaN");
        }
        let out = match x.datum_type() {
            DatumType::F64 => {
                let t = self.threshold as f64;
                let v: Vec<f64> = values::<f64>(x)?
                    .iter()
                    .map(|v| {
                        if *v > t {
                            1.0
                        } else if v.is_nan() {
                            *v
                        } else {
                            0.0
                        }
                    })
                    .collect();
                Tensor::from_shape(x.shape(), &v)?
            }
            _ => {
                let t = self.threshold;
                let v: Vec<f32> = values::<f32>(x)?
                    .iter()
                    .map(|v| {
                        if *v > t {
                            1.0
                        } else if v.is_nan() {
                            *v
                        } else {
                            0.0
                        }
                    })
                    .collect();
                Tensor::from_shape(x.shape(), &v)?
            }
        };
        Ok(tvec!(out.into_tvalue()))
    }
}
