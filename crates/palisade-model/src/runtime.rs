//! The tract runtime: one optimized plan per model version, built once at load and shared
//! by every call (each call gets its own execution state, so there is no global lock).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;
use tract_onnx::pb::type_proto::Value as TypeValue;
use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, ValueInfoProto};
use tract_onnx::prelude::*;

use crate::v2::MissingValues;
use crate::{DataType, ModelError};

/// Operators tract does not ship, handed to the runtime from above: the ai.onnx.ml set lives
/// in `palisade-onnx-ml`, a crate on the same floor as this one, and ground-floor crates do
/// not import each other. Whoever opens a repository (the gate, the CLI, the bare benchmark
/// server, the fuzz targets) says which operators its models may use.
#[derive(Clone, Copy)]
pub struct Operators {
    /// Adds the operators to tract's ONNX parser.
    pub register: fn(&mut tract_onnx::model::OnnxOpRegister),
    /// Runs on the calling thread after every inference (the ai.onnx.ml set clears the upper
    /// AVX register state its kernels may leave).
    pub after_run: fn(),
    /// The number of classes a `ZipMap` node zips (its output is served as a tensor).
    pub zipmap_classes: fn(&NodeProto) -> TractResult<usize>,
    /// Runs on the optimized model before it is made runnable (the ai.onnx.ml set swaps in
    /// faster kernels for a few standard operators on short rows).
    pub after_plan: fn(&mut TypedModel) -> TractResult<()>,
}

impl Operators {
    /// tract's own operators and nothing else: a `ZipMap` output is refused.
    pub const TRACT_ONLY: Operators = Operators {
        register: |_| {},
        after_run: || {},
        zipmap_classes: |_| Err(TractError::msg("ZipMap needs the ai.onnx.ml operators")),
        after_plan: |_| Ok(()),
    };
}

impl std::fmt::Debug for Operators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Operators")
    }
}

/// Name, datatype and shape of one model input or output. `-1` marks a dimension the caller
/// chooses (the batch, usually).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub datatype: DataType,
    pub shape: Vec<i64>,
}

pub struct Runtime {
    plan: Arc<TypedRunnableModel>,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    /// Whether the graph reads NaN as a missing value.
    pub missing_values: MissingValues,
    /// What a call costs, measured at load ([`Runtime::measure_cost`]).
    pub cost: Cost,
    /// [`Operators::after_run`] of the operators it was planned with.
    after_run: fn(),
}

/// What one call costs on this machine, measured at load on zero inputs. The gate runs a call
/// whose estimate is above `[models.pool] offload_above` on its inference pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub per_call: Duration,
    pub per_row: Duration,
}

impl Cost {
    /// The estimated time of a call of `rows` rows.
    pub fn estimate(&self, rows: usize) -> Duration {
        self.per_call
            + self
                .per_row
                .saturating_mul(rows.saturating_sub(1).min(u32::MAX as usize) as u32)
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .finish()
    }
}

impl Runtime {
    /// Parse, check and plan an ONNX model. `path` only names the model in errors.
    pub fn load(path: &Path, bytes: &[u8], operators: &Operators) -> Result<Runtime, ModelError> {
        let proto = tract_onnx::onnx()
            .proto_model_for_read(&mut &bytes[..])
            .map_err(|e| ModelError::Invalid {
                path: path.to_path_buf(),
                message: format!("not a readable ONNX model: {e}"),
            })?;
        Runtime::from_proto(path, &proto, operators)
    }

    /// Check and plan a decoded model (its external data already inlined).
    pub fn from_proto(
        path: &Path,
        proto: &ModelProto,
        operators: &Operators,
    ) -> Result<Runtime, ModelError> {
        let invalid = |message: String| ModelError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let onnx = onnx(operators);
        let graph = proto
            .graph
            .as_ref()
            .ok_or_else(|| invalid("ONNX model has no graph".into()))?;

        check_graph_names(graph).map_err(&invalid)?;
        check_outputs_produced(graph).map_err(&invalid)?;

        // Refuse operators tract lacks now, naming them, rather than at the first call.
        for node in &graph.node {
            if !onnx.op_register.0.contains_key(&node.op_type) {
                return Err(ModelError::UnsupportedOperator {
                    path: path.to_path_buf(),
                    node: if node.name.is_empty() {
                        node.output.first().cloned().unwrap_or_default()
                    } else {
                        node.name.clone()
                    },
                    op: node.op_type.clone(),
                    domain: node.domain.clone(),
                });
            }
        }

        let initializers: HashSet<&str> =
            graph.initializer.iter().map(|t| t.name.as_str()).collect();
        let input_infos: Vec<&ValueInfoProto> = graph
            .input
            .iter()
            .filter(|i| !initializers.contains(i.name.as_str()))
            .collect();
        let inputs = input_infos
            .iter()
            .map(|i| spec(i))
            .collect::<Result<Vec<_>, _>>()
            .map_err(&invalid)?;
        let outputs = graph
            .output
            .iter()
            .map(|o| output_spec(graph, o, operators))
            .collect::<Result<Vec<_>, _>>()
            .map_err(&invalid)?;

        // tract's parser and planner panic on some malformed graphs (an axis far outside the
        // rank, found by fuzzing): a model file is outside data, so a panic there is caught
        // and the model refused, never the loading thread lost.
        let planned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            plan(&onnx, proto, &input_infos, &inputs, operators)
        }));
        let plan = match planned {
            Ok(plan) => plan.map_err(invalid)?,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let what: String = what.chars().take(200).collect();
                return Err(invalid(format!(
                    "the runtime failed on this model's graph ({what}); it is malformed or \
                     uses an operator in a way tract does not support"
                )));
            }
        };
        Ok(Runtime {
            plan,
            inputs,
            outputs,
            missing_values: missing_values(graph),
            cost: Cost::default(),
            after_run: operators.after_run,
        })
    }

    /// Zero inputs of `rows` rows (other free axes 1), for timing.
    fn zeros(&self, rows: usize) -> Option<TVec<TValue>> {
        self.inputs
            .iter()
            .map(|spec| {
                let shape: Vec<usize> = spec
                    .shape
                    .iter()
                    .enumerate()
                    .map(|(axis, &d)| match (axis, d) {
                        (_, d) if d >= 0 => d as usize,
                        (0, _) => rows,
                        _ => 1,
                    })
                    .collect();
                Tensor::zero_dt(spec.datatype.datum(), &shape)
                    .ok()
                    .map(|t| t.into_tvalue())
            })
            .collect()
    }

    /// Times calls of 1 and 8 rows on zeros (the median of three each; a call slower than
    /// 50 ms is timed once, and its rows are assumed to cost as much as the call).
    pub fn measure_cost(&mut self) {
        let time = |rows: usize| -> Option<Duration> {
            let inputs = self.zeros(rows)?;
            let start = Instant::now();
            // An error still took the time it took; the answer does not matter here.
            let _ = self.plan.run(inputs);
            Some(start.elapsed())
        };
        let Some(first) = time(1) else {
            return;
        };
        if first > Duration::from_millis(50) {
            self.cost = Cost {
                per_call: first,
                per_row: first,
            };
            return;
        }
        let median = |rows: usize| -> Duration {
            let mut runs: Vec<Duration> = (0..3).filter_map(|_| time(rows)).collect();
            runs.sort();
            runs.get(runs.len() / 2).copied().unwrap_or(first)
        };
        let one = median(1);
        let eight = median(8);
        self.cost = Cost {
            per_call: one,
            per_row: eight.saturating_sub(one) / 7,
        };
    }

    /// Run one inference. Inputs are in the order of [`Runtime::inputs`].
    ///
    /// A NaN or an infinity in a floating-point output is an error, not a result: finite but
    /// extreme inputs (`3.4e38`) overflow inside the graph, and V2 JSON would carry the NaN
    /// as `null` with a 200, an answer nobody computed.
    pub fn run(&self, inputs: TVec<TValue>) -> Result<TVec<TValue>, RunError> {
        let ran = self.plan.run(inputs);
        // Whatever ran last may have been one of tract's AVX kernels: the ai.onnx.ml set
        // leaves the registers clean for the SSE code that follows on this thread.
        (self.after_run)();
        let outputs = ran
            .map_err(|e| RunError::Failed(format!("{e:#}")))?
            .into_iter()
            .map(plain_integers)
            .collect::<Result<TVec<_>, _>>()?;
        for (spec, tensor) in self.outputs.iter().zip(outputs.iter()) {
            if !all_finite(tensor) {
                return Err(RunError::NonFinite {
                    output: spec.name.clone(),
                });
            }
        }
        Ok(outputs)
    }
}

/// A graph reads NaN as "missing" when it imputes NaN or routes NaN down its trees.
fn missing_values(graph: &GraphProto) -> MissingValues {
    let reads_nan = graph.node.iter().any(|n| {
        let attr = |name: &str| n.attribute.iter().find(|a| a.name == name);
        match n.op_type.as_str() {
            "Imputer" => attr("replaced_value_float").is_some_and(|a| a.f.is_nan()),
            "TreeEnsembleClassifier" | "TreeEnsembleRegressor" => {
                attr("nodes_missing_value_tracks_true").is_some_and(|a| a.ints.contains(&1))
            }
            _ => false,
        }
    });
    if reads_nan {
        MissingValues::ReadAsNaN
    } else {
        MissingValues::Refused
    }
}

/// tract's ONNX parser with the operators handed in (in place of tract's own of the same name).
fn onnx(operators: &Operators) -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    (operators.register)(&mut onnx.op_register);
    onnx
}

/// Why a run produced no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The runtime failed; the message may describe input values, so it is for the log only.
    #[error("{0}")]
    Failed(String),
    /// An output holds NaN or an infinity.
    #[error("output '{output}' holds a non-finite value (NaN or infinity)")]
    NonFinite { output: String },
}

/// tract computes int64 values that may feed shapes (a label after `Cast`, an `ArgMax`) as
/// symbolic dimensions; the caller asked for INT64 and gets plain integers.
fn plain_integers(t: TValue) -> Result<TValue, RunError> {
    if t.datum_type() != DatumType::TDim {
        return Ok(t);
    }
    t.cast_to::<i64>()
        .map(|c| c.into_owned().into_tvalue())
        .map_err(|e| RunError::Failed(format!("an integer output is not a plain number: {e:#}")))
}

fn all_finite(t: &Tensor) -> bool {
    fn each<T: Datum>(t: &Tensor, finite: impl Fn(&T) -> bool) -> bool {
        // A tensor whose values cannot be read is not known to be finite.
        t.try_as_plain_ram()
            .and_then(|v| v.as_slice::<T>())
            .is_ok_and(|v| v.iter().all(finite))
    }
    match t.datum_type() {
        DatumType::F16 => each::<f16>(t, |x| x.to_f32().is_finite()),
        DatumType::F32 => each::<f32>(t, |x| x.is_finite()),
        DatumType::F64 => each::<f64>(t, |x| x.is_finite()),
        _ => true,
    }
}

fn input_fact(model: &InferenceModel, info: &ValueInfoProto, spec: &TensorSpec) -> InferenceFact {
    let dims = proto_dims(info);
    let shape: TVec<TDim> = dims
        .iter()
        .enumerate()
        .map(|(axis, d)| match d {
            Some(Dim::DimValue(v)) if *v >= 0 => TDim::Val(*v),
            Some(Dim::DimParam(name)) if !name.is_empty() => model.sym(name).into(),
            _ => model
                .sym(&format!(
                    "{}_{axis}",
                    if axis == 0 { "batch" } else { "dim" }
                ))
                .into(),
        })
        .collect();
    InferenceFact::dt_shape(spec.datatype.datum(), shape)
}

fn proto_dims(info: &ValueInfoProto) -> Vec<Option<Dim>> {
    match info.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(TypeValue::TensorType(t)) => t
            .shape
            .as_ref()
            .map(|s| s.dim.iter().map(|d| d.value.clone()).collect())
            .unwrap_or_default(),
        None => Vec::new(),
    }
}

fn spec(info: &ValueInfoProto) -> Result<TensorSpec, String> {
    let Some(TypeValue::TensorType(t)) = info.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(format!(
            "'{}' is not a tensor; only tensor inputs and outputs can be served",
            info.name
        ));
    };
    let datatype = DataType::from_onnx(t.elem_type).ok_or_else(|| {
        format!(
            "'{}' has ONNX element type {}, which the V2 protocol here cannot carry",
            info.name, t.elem_type
        )
    })?;
    let shape = proto_dims(info)
        .into_iter()
        .map(|d| match d {
            Some(Dim::DimValue(v)) if v >= 0 => v,
            _ => -1,
        })
        .collect();
    Ok(TensorSpec {
        name: info.name.clone(),
        datatype,
        shape,
    })
}

/// A graph output's spec. A ZipMap's sequence of maps is served as the probability tensor it
/// zips (V2 has no maps): FP32 `[N, classes]`, columns in the order of its class labels.
fn output_spec(
    graph: &GraphProto,
    info: &ValueInfoProto,
    operators: &Operators,
) -> Result<TensorSpec, String> {
    let zipmap = graph
        .node
        .iter()
        .find(|n| n.op_type == "ZipMap" && n.output.iter().any(|o| o == &info.name));
    match zipmap {
        Some(node) => {
            let classes = (operators.zipmap_classes)(node).map_err(|e| format!("{e:#}"))?;
            Ok(TensorSpec {
                name: info.name.clone(),
                datatype: DataType::Fp32,
                shape: vec![-1, classes as i64],
            })
        }
        None => spec(info),
    }
}

/// tract's part of loading: parse the graph, fix the inputs' facts, optimize and plan.
fn plan(
    onnx: &tract_onnx::model::Onnx,
    proto: &ModelProto,
    input_infos: &[&ValueInfoProto],
    inputs: &[TensorSpec],
    operators: &Operators,
) -> Result<Arc<TypedRunnableModel>, String> {
    let mut model = onnx
        .model_for_proto_model(proto)
        .map_err(|e| format!("cannot build the model graph: {e:#}"))?;
    // skl2onnx leaves the batch dimension unnamed; tract plans only with a symbol there.
    for (ix, info) in input_infos.iter().enumerate() {
        let fact = input_fact(&model, info, &inputs[ix]);
        model
            .set_input_fact(ix, fact)
            .map_err(|e| format!("input '{}': {e}", inputs[ix].name))?;
    }
    model
        .into_optimized()
        .and_then(|mut m| {
            (operators.after_plan)(&mut m)?;
            m.into_runnable()
        })
        .map_err(|e| format!("the runtime cannot plan this model: {e:#}"))
}

/// Every output of the graph, and of each subgraph (a Scan's or an If's body), must be produced
/// by a node, an input or an initializer: tract's parser indexes its table of values by the
/// output's name and panics on one nothing produces.
fn check_outputs_produced(graph: &GraphProto) -> Result<(), String> {
    let mut produced: HashSet<&str> = graph.input.iter().map(|i| i.name.as_str()).collect();
    produced.extend(graph.initializer.iter().map(|t| t.name.as_str()));
    // As tract's table: node outputs, and node inputs from an enclosing graph.
    let nodes = graph.node.iter();
    produced.extend(nodes.flat_map(|n| n.output.iter().chain(&n.input).map(String::as_str)));
    if let Some(missing) = graph
        .output
        .iter()
        .find(|o| !produced.contains(o.name.as_str()))
    {
        let name: String = missing.name.chars().take(64).collect();
        return Err(format!(
            "graph output '{name}' is produced by no node, input or initializer"
        ));
    }
    let subgraphs = graph.node.iter().flat_map(|n| &n.attribute);
    for attribute in subgraphs {
        for body in attribute.g.iter().chain(&attribute.graphs) {
            check_outputs_produced(body)?;
        }
    }
    Ok(())
}

fn check_graph_names(graph: &GraphProto) -> Result<(), String> {
    let mut seen = HashSet::new();
    for name in graph.input.iter().chain(&graph.output).map(|i| &i.name) {
        if name.is_empty() || name.len() > 256 {
            return Err("a graph input or output has an empty or over-long name".into());
        }
        if !seen.insert(name) && graph.output.iter().any(|o| &o.name == name) {
            return Err(format!(
                "'{name}' is listed twice among the graph's inputs and outputs"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_path(rel: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(rel)
    }

    fn load(rel: &str) -> Result<Runtime, ModelError> {
        let path = model_path(rel);
        Runtime::load(
            &path,
            &std::fs::read(&path).unwrap(),
            &crate::tests::ONNX_ML,
        )
    }

    #[test]
    fn operators_tract_lacks_are_refused_at_load_unless_handed_in() {
        let path = model_path("crates/palisade-onnx-ml/tests/fixtures/imputer_nan.onnx");
        let bytes = std::fs::read(&path).unwrap();
        let refused = Runtime::load(&path, &bytes, &Operators::TRACT_ONLY);
        assert!(
            matches!(&refused, Err(ModelError::UnsupportedOperator { op, .. }) if op == "Imputer"),
            "{refused:?}"
        );
        assert!(Runtime::load(&path, &bytes, &crate::tests::ONNX_ML).is_ok());
    }

    #[test]
    fn iris_signature_has_a_free_batch() {
        let rt = load("models/iris/1/model.onnx").unwrap();
        assert_eq!(
            rt.inputs,
            [TensorSpec {
                name: "input".into(),
                datatype: DataType::Fp32,
                shape: vec![-1, 4]
            }]
        );
        let names: Vec<_> = rt.outputs.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["label", "probabilities"]);
        assert_eq!(rt.outputs[0].datatype, DataType::Int64);
    }

    #[test]
    fn iris_runs_with_any_batch() {
        let rt = load("models/iris/1/model.onnx").unwrap();
        for batch in [1usize, 3] {
            let x =
                Tensor::from_shape(&[batch, 4], &[5.1f32, 3.5, 1.4, 0.2].repeat(batch)).unwrap();
            let out = rt.run(tvec![x.into()]).unwrap();
            assert_eq!(out[0].shape(), &[batch]);
            assert_eq!(out[1].shape(), &[batch, 3]);
            assert_eq!(
                out[0]
                    .try_as_plain_ram()
                    .unwrap()
                    .as_slice::<i64>()
                    .unwrap()[0],
                0,
                "setosa"
            );
        }
    }

    #[test]
    fn non_finite_outputs_are_an_error_not_an_answer() {
        let rt = load("models/iris/1/model.onnx").unwrap();
        let mut found = Vec::new();
        for x in [3.4e38f32, -3.4e38, f32::MAX, f32::MIN] {
            let input = Tensor::from_shape(&[1, 4], &[x; 4]).unwrap();
            match rt.run(tvec![input.into()]) {
                Err(RunError::NonFinite { output }) => found.push(output),
                Err(e) => panic!("{e}"),
                Ok(out) => assert!(out.iter().all(|t| all_finite(t))),
            }
        }
        assert!(
            found.iter().any(|o| o == "probabilities"),
            "extreme finite inputs overflow iris's softmax: {found:?}"
        );
        let nan = Tensor::from_shape(&[2], &[1.0f32, f32::NAN]).unwrap();
        assert!(!all_finite(&nan));
        assert!(all_finite(&Tensor::from_shape(&[1], &[1.0f64]).unwrap()));
    }

    #[test]
    fn unsupported_operator_is_named_at_load() {
        let err = load("tests/fixtures/unsupported/model.onnx").unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, ModelError::UnsupportedOperator { .. }),
            "{text}"
        );
        assert!(
            text.contains("DictVectorizer") && text.contains("node '"),
            "{text}"
        );
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        for bytes in [&b""[..], b"not onnx at all", &[0xff; 64]] {
            assert!(Runtime::load(Path::new("x.onnx"), bytes, &crate::tests::ONNX_ML).is_err());
        }
    }

    #[test]
    fn a_graph_output_nothing_produces_is_refused_not_panicked_on() {
        // Found by the onnx_model fuzz target: a TopK without its k and graph output 'V' that no
        // node writes; tract's parser panicked on it.
        let refused = load("fuzz/seeds/onnx_model/output_produced_by_nothing.onnx");
        let Err(ModelError::Invalid { message, .. }) = refused else {
            panic!("{refused:?}")
        };
        assert!(
            message.contains("graph output 'V' is produced by no node"),
            "{message}"
        );
    }
}
