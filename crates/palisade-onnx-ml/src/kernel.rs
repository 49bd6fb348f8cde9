//! The one bridge to tract: every operator here is a [`Kernel`] built once its input types are
//! known, wrapped in one tract op. Inference rules only fix output types; shapes come from the
//! kernel when tract types the graph.

use std::fmt::Debug;
use std::sync::Arc;

use tract_hir::internal::*;
use tract_onnx::pb::NodeProto;

pub(crate) trait Kernel: Debug + Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>>;
    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>>;
}

type Built = TractResult<Box<dyn Kernel>>;

/// Builds a kernel from the node's attributes and its typed inputs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Build {
    /// Output shapes follow from input shapes.
    Plain(fn(&NodeProto, &[&TypedFact]) -> Built),
    /// An output has a length only the data decides (tokens per row, words kept): the builder
    /// gets the model's symbols to name it.
    Sized(fn(&NodeProto, &[&TypedFact], &SymbolScope) -> Built),
}

/// What an output's type is before the kernel is built.
#[derive(Clone, Copy, Debug)]
pub(crate) enum OutType {
    Is(DatumType),
    SameAsInput(usize),
    /// Decided by attributes (label type, target type); fixed when the kernel is built.
    Later,
}

/// How output shapes relate to the first input's, told to tract's inference so a batch size
/// fixed on the input reaches every output (and a symbol named in the graph is bound to it).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Rows {
    /// Every output has the input's shape (element-wise operators).
    SameShape,
    /// Every output's first axis is the input's first axis, when the input is `[N, …]`.
    SameFirstAxis,
    /// Decided by the data (tokens, kept words).
    Free,
}

/// The node as parsed, waiting for tract to type its inputs.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    op: &'static str,
    node: Arc<NodeProto>,
    build: Build,
    outputs: Vec<OutType>,
    rows: Rows,
}

impl Pending {
    pub(crate) fn boxed(
        op: &'static str,
        node: &NodeProto,
        build: Build,
        outputs: Vec<OutType>,
        rows: Rows,
    ) -> Box<dyn InferenceOp> {
        expand(Pending {
            op,
            node: Arc::new(node.clone()),
            build,
            outputs,
            rows,
        })
    }
}

impl Expansion for Pending {
    fn name(&self) -> StaticName {
        self.op.into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(self.outputs.len())
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        for (proxy, out) in outputs.iter().zip(&self.outputs) {
            match out {
                OutType::Is(dt) => s.equals(&proxy.datum_type, *dt)?,
                OutType::SameAsInput(i) if *i < inputs.len() => {
                    s.equals(&proxy.datum_type, &inputs[*i].datum_type)?
                }
                _ => {}
            }
        }
        if inputs.is_empty() {
            return Ok(());
        }
        match self.rows {
            Rows::SameShape => {
                for proxy in outputs {
                    s.equals(&proxy.shape, &inputs[0].shape)?;
                }
            }
            Rows::SameFirstAxis => {
                s.given(&inputs[0].rank, move |s, rank| {
                    if rank == 2 {
                        for proxy in outputs {
                            s.equals(&proxy.shape[0], &inputs[0].shape[0])?;
                        }
                    }
                    Ok(())
                })?;
            }
            Rows::Free => {}
        }
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let facts = inputs
            .iter()
            .map(|o| model.outlet_fact(*o).cloned())
            .collect::<TractResult<Vec<_>>>()?;
        let refs: Vec<&TypedFact> = facts.iter().collect();
        let kernel = match self.build {
            Build::Plain(build) => build(&self.node, &refs)?,
            Build::Sized(build) => build(&self.node, &refs, &model.symbols)?,
        };
        let outlets = model.wire_node(
            prefix,
            MlOp {
                kernel: Arc::from(kernel),
            },
            inputs,
        )?;
        Ok(outlets.into_iter().take(self.outputs.len()).collect())
    }
}

/// One ai.onnx.ml node in a typed tract plan.
#[derive(Clone, Debug)]
pub(crate) struct MlOp {
    kernel: Arc<dyn Kernel>,
}

impl MlOp {
    pub(crate) fn new(kernel: Box<dyn Kernel>) -> MlOp {
        MlOp {
            kernel: Arc::from(kernel),
        }
    }
}

impl PartialEq for MlOp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.kernel, &other.kernel)
    }
}

impl Eq for MlOp {}

impl Op for MlOp {
    fn name(&self) -> StaticName {
        self.kernel.name().into()
    }

    op_as_typed_op!();
}

impl EvalOp for MlOp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        // A tract matrix kernel may have run just before, leaving the vector registers dirty.
        crate::cpu::clear_upper_vector_state();
        self.kernel.eval(inputs)
    }
}

impl TypedOp for MlOp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        self.kernel.output_facts(inputs)
    }

    as_op!();
}
