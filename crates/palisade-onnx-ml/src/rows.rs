//! Inputs as rows: the ai.onnx.ml operators read `[N, C]` (or one row `[C]`) and most compute in
//! f32 whatever the input type, as onnxruntime does.

use std::borrow::Cow;

use tract_hir::internal::*;

/// `(rows, columns)` of a rank-1 or rank-2 input.
pub(crate) fn rows_and_width(op: &str, shape: &[usize]) -> TractResult<(usize, usize)> {
    match shape {
        [w] => Ok((1, *w)),
        [r, w] => Ok((*r, *w)),
        other => bail!("{op} takes rows of features (rank 1 or 2), got shape {other:?}"),
    }
}

/// The rows dimension of a typed input, for output facts.
pub(crate) fn rows_dim(fact: &TypedFact) -> TDim {
    if fact.rank() <= 1 {
        1.into()
    } else {
        fact.shape[0].clone()
    }
}

/// The input's values as `T`, borrowed when it already is `T`.
pub(crate) fn values<T: Datum>(x: &Tensor) -> TractResult<Cow<'_, [T]>> {
    if x.datum_type() == T::datum_type() {
        Ok(Cow::Borrowed(x.try_as_plain_ram()?.as_slice::<T>()?))
    } else {
        Ok(Cow::Owned(
            x.cast_to::<T>()?
                .try_as_plain_ram()?
                .as_slice::<T>()?
                .to_vec(),
        ))
    }
}

/// A numeric input type the operators accept.
pub(crate) fn is_numeric(dt: DatumType) -> bool {
    matches!(
        dt,
        DatumType::F32 | DatumType::F64 | DatumType::I64 | DatumType::I32
    )
}
