//! Times models through tract with Palisade's ai.onnx.ml operators, for `bench/zoo.py`.
//!
//! Reads a job file (JSON: `[{"name", "model", "batch", "inputs": [{name, dtype, shape, data |
//! values}]}]`), plans each model once, runs it repeatedly on one thread for at least
//! `--min-ms`, and prints one JSON line per job: `{"name", "batch", "us_per_row", "runs"}`.
//! No HTTP, no gate: the runtime alone, as onnxruntime is timed alone beside it.
//! `--tract-kernels` leaves tract's own Softmax, ArgMax and TopK in place (for comparison).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tract_hir::internal::Factoid;
use tract_onnx::prelude::*;

#[path = "../tests/fixture_io/mod.rs"]
mod fixture_io;
use fixture_io::tensor;

fn main() -> TractResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let jobs_path = args
        .get(1)
        .expect("usage: time_models JOBS.json [--min-ms N] [--tract-kernels]");
    let tract_kernels = args.iter().any(|a| a == "--tract-kernels");
    let min = Duration::from_millis(
        args.iter()
            .position(|a| a == "--min-ms")
            .and_then(|i| args.get(i + 1))
            .map_or(400, |v| v.parse().unwrap()),
    );
    let jobs: Vec<Value> = serde_json::from_slice(&std::fs::read(jobs_path)?)?;
    for job in jobs {
        let inputs: Vec<Tensor> = job["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(tensor)
            .collect();
        let mut onnx = tract_onnx::onnx();
        palisade_onnx_ml::register(&mut onnx.op_register);
        let mut model = onnx.model_for_path(job["model"].as_str().unwrap())?;
        // Planned as the server plans: the batch axis stays a symbol, whatever the call sends.
        for (ix, x) in inputs.iter().enumerate() {
            let declared: Vec<Option<TDim>> = model
                .input_fact(ix)?
                .shape
                .dims()
                .map(|d| d.concretize())
                .collect();
            let dims: TVec<TDim> = x
                .shape()
                .iter()
                .enumerate()
                .map(|(axis, &n)| match declared.get(axis) {
                    Some(Some(d)) => d.clone(),
                    _ if axis == 0 => model.sym("batch").into(),
                    _ => n.into(),
                })
                .collect();
            model.set_input_fact(ix, InferenceFact::dt_shape(x.datum_type(), dims))?;
        }
        let mut planned = model.into_optimized()?;
        if !tract_kernels {
            palisade_onnx_ml::replace_slow_standard_ops(&mut planned)?;
        }
        let plan = planned.into_runnable()?;
        let feed = || {
            inputs
                .iter()
                .map(|t| t.clone().into_tvalue())
                .collect::<TVec<_>>()
        };
        for _ in 0..20 {
            plan.run(feed())?;
        }
        let (mut runs, mut spent) = (0u64, Duration::ZERO);
        while spent < min {
            let f = feed();
            let start = Instant::now();
            plan.run(f)?;
            // As the server's runtime does after every run (see the crate's `cpu` module).
            palisade_onnx_ml::clear_upper_vector_state();
            spent += start.elapsed();
            runs += 1;
        }
        let batch = job["batch"].as_u64().unwrap();
        let us = spent.as_secs_f64() * 1e6 / (runs as f64 * batch as f64);
        println!(
            "{}",
            json!({"name": job["name"], "batch": batch, "us_per_row": us, "runs": runs})
        );
    }
    Ok(())
}
