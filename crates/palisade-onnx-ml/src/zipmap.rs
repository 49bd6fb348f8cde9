//! ZipMap turns a `[N, C]` probability tensor into one `{class: probability}` map per row. A V2
//! answer carries tensors, not maps, so the tensor is served as it is: the output keeps its
//! name, FP32 `[N, C]`, columns in the order of the ZipMap's class labels.

use tract_hir::internal::*;
use tract_onnx::pb::NodeProto;

use crate::attrs::Attrs;
use crate::kernel::Kernel;

#[derive(Debug)]
pub(crate) struct ZipMap {
    classes: usize,
}

/// The number of class labels a ZipMap node names (so the runtime can type its output).
pub fn zipmap_classes(node: &NodeProto) -> TractResult<usize> {
    let a = Attrs::new(node);
    match (
        a.ints("classlabels_int64s")?,
        a.strings("classlabels_strings")?,
    ) {
        (Some(i), None) => Ok(i.len()),
        (None, Some(s)) => Ok(s.len()),
        _ => a.fail(
            "classlabels_int64s",
            "needs exactly one of classlabels_int64s and classlabels_strings",
        ),
    }
}

pub(crate) fn zipmap(node: &NodeProto, inputs: &[&TypedFact]) -> TractResult<Box<dyn Kernel>> {
    let a = Attrs::new(node);
    let classes = zipmap_classes(node)?;
    match inputs {
        [x] if x.datum_type == DatumType::F32 && x.rank() == 2 => Ok(Box::new(ZipMap { classes })),
        _ => a.fail_node("needs one float input of rank 2"),
    }
}

impl Kernel for ZipMap {
    fn name(&self) -> &'static str {
        "ZipMap"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(f32::fact(&[
            inputs[0].shape[0].clone(),
            self.classes.into()
        ])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        if x.shape().get(1) != Some(&self.classes) {
            bail!(
                "ZipMap names {} classes but its input has shape {:?}",
                self.classes,
                x.shape()
            );
        }
        Ok(inputs)
    }
}
