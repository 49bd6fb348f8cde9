//! Every operator against onnxruntime, on the fixtures `scripts/make_onnx_ml_fixtures.py` writes:
//! random rows, rows on and one float step either side of split thresholds, NaN where the model
//! routes it; extremes, zeros and negative zero for the others; ties for ArgMax and TopK. Labels must be equal. Scores must
//! be bit-identical to onnxruntime's (run on one thread, so its order of summation is fixed; both
//! call the platform's `expf`) except where a case states a tolerance: operators onnxruntime
//! computes through a CPU-dependent BLAS or approximate exp/tanh (linear models, SVMs) allow
//! 1e-5, absolute or relative above 1.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tract_onnx::prelude::*;

mod fixture_io;
use fixture_io::{bytes, shape, tensor};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn run(model: &Path, inputs: Vec<Tensor>) -> TractResult<TVec<TValue>> {
    let mut onnx = tract_onnx::onnx();
    palisade_onnx_ml::register(&mut onnx.op_register);
    let mut m = onnx.model_for_path(model)?;
    for (ix, x) in inputs.iter().enumerate() {
        m.set_input_fact(ix, InferenceFact::dt_shape(x.datum_type(), x.shape()))?;
    }
    // Planned as the server plans: with the standard operators this crate computes swapped in.
    let mut planned = m.into_optimized()?;
    palisade_onnx_ml::replace_slow_standard_ops(&mut planned)?;
    planned
        .into_runnable()?
        .run(inputs.into_iter().map(|t| t.into_tvalue()).collect())
}

/// Compares one case; returns the failures, described.
fn check(name: &str) -> Vec<String> {
    let dir = fixtures();
    let case: Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).unwrap()).unwrap();
    if let Some(reason) = case["refuse"].as_str() {
        let x = Tensor::from_shape(&[1, 8], &[0f32; 8]).unwrap();
        return match run(&dir.join(format!("{name}.onnx")), vec![x]) {
            Err(e) if format!("{e:#}").contains(reason) => vec![],
            Err(e) => vec![format!("{name}: refused, but not for {reason}: {e:#}")],
            Ok(_) => vec![format!(
                "{name}: served, but onnxruntime's answer is undefined here ({reason})"
            )],
        };
    }
    let inputs: Vec<Tensor> = case["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(tensor)
        .collect();
    let rows = inputs[0].shape().first().copied().unwrap_or(1).max(1);
    let tolerance = case["tolerance"].as_f64().unwrap_or(0.0) as f32;
    let outs = match run(&dir.join(format!("{name}.onnx")), inputs) {
        Ok(o) => o,
        Err(e) => return vec![format!("{name}: does not run: {e:#}")],
    };
    let mut failures = Vec::new();
    for (k, expected) in case["outputs"].as_array().unwrap().iter().enumerate() {
        let got = &outs[k];
        if got.shape() != shape(&expected["shape"]).as_slice() {
            failures.push(format!(
                "{name} output {k}: shape {:?}, expected {}",
                got.shape(),
                expected["shape"]
            ));
            continue;
        }
        match expected["dtype"].as_str().unwrap() {
            "i64" => {
                let want: Vec<i64> = expected["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_i64().unwrap())
                    .collect();
                let have = got
                    .to_plain_array_view::<i64>()
                    .unwrap()
                    .iter()
                    .copied()
                    .collect::<Vec<_>>();
                let wrong = want.iter().zip(&have).filter(|(a, b)| a != b).count();
                if wrong > 0 {
                    let first = want.iter().zip(&have).position(|(a, b)| a != b).unwrap();
                    failures.push(format!("{name} labels: {wrong} of {rows} differ (row {first}: {} vs onnxruntime {})", have[first], want[first]));
                }
            }
            "string" => {
                let want: Vec<&str> = expected["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                let have = got
                    .to_plain_array_view::<String>()
                    .unwrap()
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>();
                let wrong = want.iter().zip(&have).filter(|(a, b)| *a != b).count();
                if wrong > 0 {
                    failures.push(format!("{name} labels: {wrong} of {rows} differ"));
                }
            }
            _ => {
                let raw = bytes(&expected["data"]);
                let want: Vec<f32> = raw
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                    .collect();
                let have = got
                    .to_plain_array_view::<f32>()
                    .unwrap()
                    .iter()
                    .copied()
                    .collect::<Vec<_>>();
                let mut worst = (0usize, 0f32);
                for (i, (a, b)) in want.iter().zip(&have).enumerate() {
                    let diff = match (a.is_nan(), b.is_nan()) {
                        (true, true) => 0.0,
                        (false, false) => (a - b).abs() / a.abs().max(1.0),
                        _ => f32::INFINITY,
                    };
                    if diff > worst.1 {
                        worst = (i, diff);
                    }
                }
                if worst.1 > tolerance {
                    let i = worst.0;
                    failures.push(format!(
                        "{name} scores: element {i} is {} vs onnxruntime {} (row {})",
                        have[i],
                        want[i],
                        i / (want.len() / rows)
                    ));
                }
            }
        }
    }
    failures
}

#[test]
fn every_fixture_matches_onnxruntime() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".json")
                .map(str::to_string)
        })
        .collect();
    names.sort();
    assert!(
        names.len() >= 40,
        "fixtures missing: run scripts/make_onnx_ml_fixtures.py"
    );
    let failures: Vec<String> = names.iter().flat_map(|n| check(n)).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from onnxruntime:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}
