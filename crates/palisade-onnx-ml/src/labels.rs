//! Class labels, ints or strings, as the classifiers declare them.

use tract_hir::internal::*;

use crate::attrs::Attrs;

#[derive(Debug)]
pub(crate) enum Labels {
    Ints(Vec<i64>),
    Strings(Vec<String>),
}

impl Labels {
    /// Reads exactly one of the two label attributes (their names differ between operators).
    pub(crate) fn read(a: &Attrs, ints: &str, strings: &str) -> TractResult<Labels> {
        match (a.ints(ints)?, a.strings(strings)?) {
            (Some(i), None) => Ok(Labels::Ints(i)),
            (None, Some(s)) => Ok(Labels::Strings(s)),
            (Some(_), Some(_)) => a.fail(
                strings,
                format!("both '{ints}' and '{strings}' are set; keep one"),
            ),
            (None, None) => a.fail(ints, format!("no class labels ('{ints}' or '{strings}')")),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Labels::Ints(v) => v.len(),
            Labels::Strings(v) => v.len(),
        }
    }

    pub(crate) fn datum_type(&self) -> DatumType {
        match self {
            Labels::Ints(_) => DatumType::I64,
            Labels::Strings(_) => DatumType::String,
        }
    }

    /// A label tensor `[rows]` from class indices.
    pub(crate) fn tensor(&self, picks: &[usize]) -> TractResult<Tensor> {
        Ok(match self {
            Labels::Ints(v) => {
                let l: Vec<i64> = picks.iter().map(|&k| v[k]).collect();
                Tensor::from_shape(&[picks.len()], &l)?
            }
            Labels::Strings(v) => {
                let l: Vec<String> = picks.iter().map(|&k| v[k].clone()).collect();
                tract_ndarray::Array1::from_vec(l).into_tensor()
            }
        })
    }
}
