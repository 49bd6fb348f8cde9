//! Inputs as rows: the ai.onnx.ml operators read `[N, C]` (or one row `[C]`) and most compute in
//! f32 whatever the input type, as onnxruntime does.

use std::borrow::Cow;

use tract_hir::internal::*;

use crate::attrs::Attrs;

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

/// The one numeric input most operators take, or an error naming the node.
pub(crate) fn one_numeric_input<'a>(
    a: &Attrs,
    inputs: &[&'a TypedFact],
) -> TractResult<&'a TypedFact> {
    match inputs {
        [x] if is_numeric(x.datum_type) => Ok(x),
        [x] => a.fail_node(format!(
            "input type {:?} is not float, double, int64 or int32",
            x.datum_type
        )),
        _ => a.fail_node("needs exactly one input"),
    }
}

/// The one float input of an operator onnxruntime runs on float only.
pub(crate) fn one_float_input(a: &Attrs, inputs: &[&TypedFact], op: &str) -> TractResult<()> {
    match inputs {
        [x] if x.datum_type == DatumType::F32 => Ok(()),
        [x] => a.fail_node(format!(
            "input type {:?}: onnxruntime runs {op} on float only",
            x.datum_type
        )),
        _ => a.fail_node("needs exactly one input"),
    }
}

/// The one input of an operator, of any type.
pub(crate) fn one_input<'a>(a: &Attrs, inputs: &[&'a TypedFact]) -> TractResult<&'a TypedFact> {
    match inputs {
        [x] => Ok(x),
        _ => a.fail_node("needs exactly one input"),
    }
}
