//! Flatten that also takes two or more symbolic dimensions. tract's refuses those ("square of
//! symbols"), and a Tokenizer's output has two (the batch and the token count), which stopped
//! every text pipeline at load. Shapes tract can flatten still go through tract's own Flatten
//! (and its axis optimizations); the rest become a plain reshape.

use tract_hir::internal::*;
use tract_hir::ops::array::Flatten as TractFlatten;
use tract_onnx::pb::NodeProto;

use crate::attrs::Attrs;
use crate::kernel::{Kernel, MlOp};

#[derive(Clone, Debug)]
pub(crate) struct Flatten {
    axis: i64,
}

pub(crate) fn parse(node: &NodeProto) -> TractResult<Box<dyn InferenceOp>> {
    let axis = Attrs::new(node).int("axis")?.unwrap_or(1);
    Ok(expand(Flatten { axis }))
}

fn split_at(axis: i64, rank: usize) -> TractResult<usize> {
    let at = if axis < 0 { axis + rank as i64 } else { axis };
    if at < 0 || at as usize > rank {
        bail!("Flatten axis {axis} is outside rank {rank}");
    }
    Ok(at as usize)
}

impl Expansion for Flatten {
    fn name(&self) -> StaticName {
        "Flatten".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.equals(&outputs[0].rank, 2)
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let shape = model.outlet_fact(inputs[0])?.shape.to_tvec();
        if shape.iter().filter(|d| d.to_usize().is_err()).count() <= 1 {
            return TractFlatten::new(self.axis).wire(prefix, model, inputs);
        }
        let at = split_at(self.axis, shape.len())?;
        model.wire_node(prefix, MlOp::new(Box::new(Reshape { at })), inputs)
    }
}

/// `[a, b, …, y, z]` to `[a·b·…, y·z·…]` at `at`.
#[derive(Debug)]
struct Reshape {
    at: usize,
}

impl Kernel for Reshape {
    fn name(&self) -> &'static str {
        "Flatten"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let x = inputs[0];
        let outer: TDim = x.shape.iter().take(self.at).product();
        let inner: TDim = x.shape.iter().skip(self.at).product();
        Ok(tvec!(x.datum_type.fact(&[outer, inner])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let outer: usize = x.shape()[..self.at].iter().product();
        let inner: usize = x.shape()[self.at..].iter().product();
        let mut t = x.clone().into_tensor();
        t.set_shape(&[outer, inner])?;
        Ok(tvec!(t.into_tvalue()))
    }
}
