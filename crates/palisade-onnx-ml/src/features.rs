//! ArrayFeatureExtractor (picks columns by index: how skl2onnx maps a class index to its label,
//! and splits pipelines' columns) and FeatureVectorizer (joins columns), as onnxruntime shapes
//! them: a rank-1 input gives `[1, k]`, any other keeps its leading axes.

use tract_hir::internal::*;
use tract_onnx::pb::NodeProto;

use crate::attrs::Attrs;
use crate::kernel::Kernel;
use crate::rows::{is_numeric, rows_and_width, rows_dim, values};

#[derive(Debug)]
pub(crate) struct ArrayFeatureExtractor;

pub(crate) fn array_feature_extractor(
    node: &NodeProto,
    inputs: &[&TypedFact],
) -> TractResult<Box<dyn Kernel>> {
    let a = Attrs::new(node);
    match inputs {
        [x, y]
            if (is_numeric(x.datum_type) || x.datum_type == DatumType::String)
                && x.rank() > 0
                && y.datum_type == DatumType::I64 =>
        {
            Ok(Box::new(ArrayFeatureExtractor))
        }
        _ => a.fail_node("takes a numeric or string tensor of rank 1 or more, and int64 indices"),
    }
}

fn pick<T: Datum + Clone>(
    x: &Tensor,
    indices: &[usize],
    out_shape: &[usize],
) -> TractResult<Tensor> {
    let xs = x.try_as_plain_ram()?.as_slice::<T>()?;
    let stride = *x.shape().last().unwrap_or(&1);
    let mut out = Vec::with_capacity(out_shape.iter().product());
    if stride > 0 {
        for row in xs.chunks_exact(stride) {
            out.extend(indices.iter().map(|&i| row[i].clone()));
        }
    }
    Ok(tract_ndarray::ArrayD::from_shape_vec(out_shape, out)?.into_tensor())
}

impl Kernel for ArrayFeatureExtractor {
    fn name(&self) -> &'static str {
        "ArrayFeatureExtractor"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let k = inputs[1].shape.volume();
        let x = inputs[0];
        let shape: TVec<TDim> = if x.rank() == 1 {
            tvec![1.into(), k]
        } else {
            x.shape
                .iter()
                .take(x.rank() - 1)
                .cloned()
                .chain(std::iter::once(k))
                .collect()
        };
        Ok(tvec!(x.datum_type.fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (x, y) = (&inputs[0], &inputs[1]);
        let stride = *x.shape().last().unwrap_or(&0);
        let raw = values::<i64>(y)?;
        if raw.is_empty() {
            bail!("ArrayFeatureExtractor was given no indices");
        }
        let indices = raw
            .iter()
            .map(|&i| match usize::try_from(i) {
                Ok(i) if i < stride => Ok(i),
                _ => bail!("ArrayFeatureExtractor index {i} is outside the {stride} columns"),
            })
            .collect::<TractResult<Vec<usize>>>()?;
        let mut shape: Vec<usize> = x.shape().to_vec();
        if shape.len() == 1 {
            shape = vec![1, indices.len()];
        } else if let Some(last) = shape.last_mut() {
            *last = indices.len();
        }
        let out = match x.datum_type() {
            DatumType::F32 => pick::<f32>(x, &indices, &shape)?,
            DatumType::F64 => pick::<f64>(x, &indices, &shape)?,
            DatumType::I32 => pick::<i32>(x, &indices, &shape)?,
            DatumType::I64 => pick::<i64>(x, &indices, &shape)?,
            DatumType::TDim => pick::<i64>(&*x.cast_to::<i64>()?, &indices, &shape)?,
            DatumType::String => pick::<String>(x, &indices, &shape)?,
            other => bail!("ArrayFeatureExtractor cannot read {other:?}"),
        };
        Ok(tvec!(out.into_tvalue()))
    }
}

/// Concatenates its inputs' columns, each cut or zero-padded to its `inputdimensions` entry.
#[derive(Debug)]
pub(crate) struct FeatureVectorizer {
    dims: Vec<usize>,
}

pub(crate) fn feature_vectorizer(
    node: &NodeProto,
    inputs: &[&TypedFact],
) -> TractResult<Box<dyn Kernel>> {
    let a = Attrs::new(node);
    let dims = a
        .ints_or_empty("inputdimensions")?
        .into_iter()
        .map(|d| usize::try_from(d).ok().filter(|d| *d <= 1 << 24))
        .collect::<Option<Vec<_>>>();
    let Some(dims) = dims else {
        return a.fail("inputdimensions", "holds a negative or huge width");
    };
    a.same_len(
        "inputdimensions",
        dims.len(),
        "the node's inputs",
        inputs.len(),
    )?;
    if let Some(x) = inputs.iter().find(|x| !is_numeric(x.datum_type)) {
        return a.fail_node(format!(
            "input type {:?} is not float, double, int64 or int32",
            x.datum_type
        ));
    }
    Ok(Box::new(FeatureVectorizer { dims }))
}

impl Kernel for FeatureVectorizer {
    fn name(&self) -> &'static str {
        "FeatureVectorizer"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let width: usize = self.dims.iter().sum();
        Ok(tvec!(f32::fact(&[rows_dim(inputs[0]), width.into()])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let total: usize = self.dims.iter().sum();
        let (rows, _) = rows_and_width("FeatureVectorizer", inputs[0].shape())?;
        let mut out = vec![0f32; rows * total];
        let mut offset = 0;
        for (x, &dim) in inputs.iter().zip(&self.dims) {
            let (r, width) = rows_and_width("FeatureVectorizer", x.shape())?;
            if r != rows {
                bail!("FeatureVectorizer inputs have {rows} and {r} rows");
            }
            let xs = values::<f32>(x)?;
            for row in 0..rows {
                let n = width.min(dim);
                out[row * total + offset..row * total + offset + n]
                    .copy_from_slice(&xs[row * width..row * width + n]);
            }
            offset += dim;
        }
        Ok(tvec!(
            Tensor::from_shape(&[rows, total], &out)?.into_tvalue()
        ))
    }
}
