//! Pairwise squared distances, where skl2onnx writes them as a Scan.
//!
//! skl2onnx exports a nearest-neighbours model's distances to its training rows as a Scan over
//! those rows whose body is `Sub` then `ReduceSumSquare`: one iteration per training row, each
//! a small broadcast through tract's generic machinery, which made KNN 2–3× slower than
//! onnxruntime. A Scan whose body is exactly that is computed here in one loop, summing the
//! squares feature by feature as the body does; any other Scan is tract's.

use tract_hir::internal::*;
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::{AttributeProto, GraphProto, NodeProto};

use crate::kernel::{Build, Kernel, OutType, Pending, Rows};

/// Parses a Scan: the distance pattern becomes [`SquaredDistances`], anything else goes to
/// tract's own Scan parser.
pub(crate) fn parse(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    if is_squared_distances(node) {
        let outputs = vec![OutType::SameAsInput(0), OutType::SameAsInput(0)];
        let op = Pending::boxed("Scan", node, Build::Plain(build), outputs, Rows::Free);
        return Ok((op, vec![]));
    }
    let tract = tract_onnx::onnx()
        .op_register
        .0
        .get("Scan")
        .copied()
        .context("tract's ONNX parser has no Scan")?;
    tract(ctx, node)
}

fn attribute<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

/// `Scan(state X, scan T)` with body `X' = Identity(X); Y = Identity(ReduceSumSquare(Sub(X,
/// t), axes=[1], keepdims=0))`, scanning T's rows forward and stacking Y on axis 0.
fn is_squared_distances(node: &NodeProto) -> bool {
    let forward_on_axis_0 = [
        "scan_input_axes",
        "scan_output_axes",
        "scan_input_directions",
        "scan_output_directions",
    ]
    .iter()
    .all(|name| attribute(node, name).is_none_or(|a| a.ints.iter().all(|v| *v == 0)));
    let one_scan_input = attribute(node, "num_scan_inputs").is_some_and(|a| a.i == 1);
    let Some(body) = attribute(node, "body").and_then(|a| a.g.as_ref()) else {
        return false;
    };
    node.input.len() == 2
        && node.output.len() == 2
        && node
            .input
            .iter()
            .chain(&node.output)
            .all(|name| !name.is_empty())
        && one_scan_input
        && forward_on_axis_0
        && body_is_squared_distance(body)
}

fn body_is_squared_distance(body: &GraphProto) -> bool {
    let names = |v: &[tract_onnx::pb::ValueInfoProto]| -> Vec<String> {
        v.iter().map(|i| i.name.clone()).collect()
    };
    let (inputs, outputs) = (names(&body.input), names(&body.output));
    let ([state, row], [state_out, distance]) = (inputs.as_slice(), outputs.as_slice()) else {
        return false;
    };
    let [copy, sub, reduce, out] = body.node.as_slice() else {
        return false;
    };
    let is = |n: &NodeProto, op: &str, ins: &[&str], outs: &[&str]| {
        n.op_type == op && n.domain.is_empty() && n.input == ins && n.output == outs
    };
    let ints = |n: &NodeProto, name: &str| attribute(n, name).map(|a| a.ints.clone());
    let int = |n: &NodeProto, name: &str| attribute(n, name).map(|a| a.i);
    let (diff, summed) = (sub.output.first(), reduce.output.first());
    let (Some(diff), Some(summed)) = (diff, summed) else {
        return false;
    };
    body.initializer.is_empty()
        && is(copy, "Identity", &[state], &[state_out])
        && is(sub, "Sub", &[state, row], &[diff])
        && is(reduce, "ReduceSumSquare", &[diff], &[summed])
        && reduce.attribute.len() == 2
        && ints(reduce, "axes") == Some(vec![1])
        && int(reduce, "keepdims") == Some(0)
        && is(out, "Identity", &[summed], &[distance])
}

fn build(_: &NodeProto, inputs: &[&TypedFact]) -> TractResult<Box<dyn Kernel>> {
    let [x, t] = inputs else {
        bail!(
            "Scan of squared distances with {} inputs (2 are served)",
            inputs.len()
        );
    };
    ensure!(
        x.rank() == 2 && t.rank() == 2,
        "Scan of squared distances over ranks {} and {} (2 and 2 are served)",
        x.rank(),
        t.rank()
    );
    ensure!(
        x.datum_type == t.datum_type && matches!(x.datum_type, DatumType::F32 | DatumType::F64),
        "Scan of squared distances between {:?} and {:?} (float or double, alike, are served)",
        x.datum_type,
        t.datum_type
    );
    if let (Ok(a), Ok(b)) = (x.shape[1].to_usize(), t.shape[1].to_usize()) {
        ensure!(
            a == b,
            "Scan of squared distances between {a} and {b} features"
        );
    }
    Ok(Box::new(SquaredDistances))
}

/// `[M, N]`: the squared distance from each of the N rows of X to each of the M rows of T.
#[derive(Debug)]
struct SquaredDistances;

impl SquaredDistances {
    fn run<T>(x: &[T], t: &[T], (n, m, features): (usize, usize, usize), zero: T) -> Vec<T>
    where
        T: Copy + std::ops::Sub<Output = T> + std::ops::Mul<Output = T> + std::ops::Add<Output = T>,
    {
        let mut out = Vec::with_capacity(m * n);
        for j in 0..m {
            let train = &t[j * features..(j + 1) * features];
            for i in 0..n {
                let row = &x[i * features..(i + 1) * features];
                // In feature order, as ReduceSumSquare sums one row of the body's difference.
                let d = row
                    .iter()
                    .zip(train)
                    .fold(zero, |acc, (a, b)| acc + (*a - *b) * (*a - *b));
                out.push(d);
            }
        }
        out
    }
}

impl Kernel for SquaredDistances {
    fn name(&self) -> &'static str {
        "Scan"
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let (x, t) = (inputs[0], inputs[1]);
        let distances = x.datum_type.fact([t.shape[0].clone(), x.shape[0].clone()]);
        Ok(tvec!(x.without_value(), distances))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (x, t) = (&inputs[0], &inputs[1]);
        let (n, features, m) = (x.shape()[0], x.shape()[1], t.shape()[0]);
        ensure!(
            t.shape()[1] == features,
            "Scan of squared distances between {features} and {} features",
            t.shape()[1]
        );
        let (xs, ts) = (x.try_as_plain_ram()?, t.try_as_plain_ram()?);
        let distances = match x.datum_type() {
            DatumType::F32 => {
                let (x, t) = (xs.as_slice::<f32>()?, ts.as_slice::<f32>()?);
                tensor1(&SquaredDistances::run(x, t, (n, m, features), 0.0))
            }
            DatumType::F64 => {
                let (x, t) = (xs.as_slice::<f64>()?, ts.as_slice::<f64>()?);
                tensor1(&SquaredDistances::run(x, t, (n, m, features), 0.0))
            }
            dt => bail!("Scan of squared distances over {dt:?}"),
        };
        Ok(tvec!(
            x.clone(),
            distances.into_shape(&[m, n])?.into_tvalue()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The zoo's KNN models, as skl2onnx exports them.
    fn zoo(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../tests/zoo/{name}/model.onnx"))
    }

    /// Plans `path` with this crate's operators, or with tract's Scan put back.
    fn plan(path: &Path, tracts_scan: bool, features: usize) -> std::sync::Arc<TypedRunnableModel> {
        let mut onnx = tract_onnx::onnx();
        crate::register(&mut onnx.op_register);
        if tracts_scan {
            let scan = tract_onnx::onnx().op_register.0["Scan"];
            onnx.op_register.0.insert("Scan".into(), scan);
        }
        let mut model = onnx.model_for_path(path).unwrap();
        let fact = InferenceFact::dt_shape(f32::datum_type(), [64, features]);
        model.set_input_fact(0, fact).unwrap();
        let typed = model.into_optimized().unwrap();
        let ours = typed
            .nodes()
            .iter()
            .any(|n| n.op_is::<crate::kernel::MlOp>() && n.op().name() == "Scan");
        assert_eq!(
            ours,
            !tracts_scan,
            "the distance Scan was {}recognized",
            if ours { "" } else { "not " }
        );
        typed.into_runnable().unwrap()
    }

    #[test]
    fn knn_exports_get_the_same_neighbours_as_tracts_scan() {
        for (name, features) in [("sk_knn_classifier", 4), ("sk_knn_regressor", 10)] {
            let (ours, tracts) = (
                plan(&zoo(name), false, features),
                plan(&zoo(name), true, features),
            );
            let mut seed = 3u64;
            for round in 0..20 {
                let data: Vec<f32> = (0..64 * features)
                    .map(|i| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let v = ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 20.0;
                        // Every fourth round, rows repeat: exact ties between rows.
                        if round % 4 == 0 && i >= 32 * features {
                            0.5
                        } else {
                            v
                        }
                    })
                    .collect();
                let x = tensor1(&data).into_shape(&[64, features]).unwrap();
                let a = ours.run(tvec![x.clone().into_tvalue()]).unwrap();
                let b = tracts.run(tvec![x.into_tvalue()]).unwrap();
                for (a, b) in a.iter().zip(b.iter()) {
                    if a.datum_type() == f32::datum_type() {
                        let (a, b) = (a.try_as_plain_ram().unwrap(), b.try_as_plain_ram().unwrap());
                        let (a, b) = (a.as_slice::<f32>().unwrap(), b.as_slice::<f32>().unwrap());
                        for (p, q) in a.iter().zip(b) {
                            assert!(
                                (p - q).abs() <= 1e-5 * q.abs().max(1.0),
                                "{name}: {p} vs {q}"
                            );
                        }
                    } else {
                        assert_eq!(a, b, "{name}: labels differ");
                    }
                }
            }
        }
    }

    #[test]
    fn any_other_scan_body_is_tracts() {
        let node = |body: GraphProto| NodeProto {
            op_type: "Scan".into(),
            input: vec!["X".into(), "T".into()],
            output: vec!["S".into(), "Y".into()],
            attribute: vec![
                AttributeProto {
                    name: "num_scan_inputs".into(),
                    i: 1,
                    ..Default::default()
                },
                AttributeProto {
                    name: "body".into(),
                    g: Some(body),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let proto = tract_onnx::onnx()
            .proto_model_for_path(zoo("sk_knn_classifier"))
            .unwrap();
        let scan = proto
            .graph
            .unwrap()
            .node
            .into_iter()
            .find(|n| n.op_type == "Scan")
            .unwrap();
        let body = scan
            .attribute
            .iter()
            .find(|a| a.name == "body")
            .unwrap()
            .g
            .clone()
            .unwrap();
        assert!(is_squared_distances(&node(body.clone())));
        // keepdims = 1, another reduction, a reversed direction: not the pattern.
        let mut kept = body.clone();
        kept.node[2]
            .attribute
            .iter_mut()
            .filter(|a| a.name == "keepdims")
            .for_each(|a| a.i = 1);
        assert!(!is_squared_distances(&node(kept)));
        let mut summed = body.clone();
        summed.node[2].op_type = "ReduceSum".into();
        assert!(!is_squared_distances(&node(summed)));
        let mut reversed = node(body);
        reversed.attribute.push(AttributeProto {
            name: "scan_input_directions".into(),
            ints: vec![1],
            ..Default::default()
        });
        assert!(!is_squared_distances(&reversed));
    }
}
