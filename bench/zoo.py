#!/usr/bin/env python3
"""µs per row for every zoo model: Palisade's runtime (tract + palisade-onnx-ml) against
onnxruntime, one thread each, batch 1 and 256, in one run. Prints a Markdown table.

    .venv/bin/python bench/zoo.py [--min-ms 400] [--rounds 3] [--only NAME,...] [--tract-kernels]

Both sides time the runtime alone on the same inputs (the zoo's held-out rows): onnxruntime
through its Python `run` (intra- and inter-op threads 1), Palisade's through
`cargo run --release --example time_models` (no HTTP, no gate). onnxruntime's column includes
its Python call overhead (a few µs per call), which matters at batch 1 only; it is measured and
printed beside the table (an `Identity` model's µs per call), so the ratio can be read with it.

This VM is shared: one round of the same build moved single cells by ±50%. So both sides run
`--rounds` times, onnxruntime's and Palisade's rounds taking turns, and each cell is the median.
"""
import argparse
import base64
import collections
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

ROOT = pathlib.Path(__file__).resolve().parent.parent
ZOO = ROOT / "tests" / "zoo"
sys.path.insert(0, str(ROOT / "tests" / "python"))


def encode(name, a):
    if a.dtype == object:
        return {"name": name, "dtype": "string", "shape": list(a.shape), "values": [str(v) for v in a.ravel()]}
    kind = {np.dtype("float32"): "f32", np.dtype("float64"): "f64", np.dtype("int64"): "i64"}[a.dtype]
    return {"name": name, "dtype": kind, "shape": list(a.shape), "data": base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()}


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def time_ort(s, feeds, batch, min_ms):
    for _ in range(20):
        s.run(None, feeds)
    runs, spent = 0, 0.0
    while spent < min_ms / 1000:
        t = time.perf_counter()
        s.run(None, feeds)
        spent += time.perf_counter() - t
        runs += 1
    return spent * 1e6 / (runs * batch)


def call_overhead(min_ms):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    m = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "id", [x], [y]),
                          opset_imports=[helper.make_opsetid("", 17)])
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "id.onnx"
        onnx.save(m, path)
        return time_ort(session(path), {"x": np.zeros((1, 4), np.float32)}, 1, min_ms)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--min-ms", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="")
    ap.add_argument("--tract-kernels", action="store_true",
                    help="keep tract's own Softmax, ArgMax and TopK (the figures before they were swapped)")
    args = ap.parse_args()
    import test_zoo  # noqa: F401  (compiles the en_US locale onnxruntime's StringNormalizer needs)

    index = json.loads((ZOO / "zoo.json").read_text())["models"]
    only = set(filter(None, args.only.split(",")))
    entries = [e for e in index if not only or e["name"] in only]
    jobs, sessions, feeds_of = [], {}, {}
    for e in entries:
        rows = dict(np.load(ZOO / e["name"] / "rows.npz", allow_pickle=True))
        sessions[e["name"]] = session(ZOO / e["name"] / "model.onnx")
        for batch in (1, 256):
            feeds = {k: v[:batch] for k, v in rows.items()}
            feeds_of[(e["name"], batch)] = feeds
            jobs.append({"name": e["name"], "model": str(ZOO / e["name"] / "model.onnx"), "batch": batch,
                         "inputs": [encode(k, v) for k, v in feeds.items()]})
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(jobs, f)
    ort_runs, our_runs = collections.defaultdict(list), collections.defaultdict(list)
    for _ in range(args.rounds):
        for (name, batch), feeds in feeds_of.items():
            ort_runs[(name, batch)].append(time_ort(sessions[name], feeds, batch, args.min_ms))
        out = subprocess.run(["cargo", "run", "--quiet", "--release", "-p", "palisade-onnx-ml", "--example", "time_models",
                              "--", f.name, "--min-ms", str(args.min_ms)] + (["--tract-kernels"] if args.tract_kernels else []), cwd=ROOT, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"time_models failed:\n{out.stderr}")
        for r in map(json.loads, out.stdout.splitlines()):
            our_runs[(r["name"], r["batch"])].append(r["us_per_row"])
    ort_us = {k: statistics.median(v) for k, v in ort_runs.items()}
    ours = {k: statistics.median(v) for k, v in our_runs.items()}
    overhead = call_overhead(args.min_ms)

    print(f"Measured {time.strftime('%Y-%m-%d')}, one thread each, median of {args.rounds} rounds, onnxruntime {ort.__version__}; "
          f"onnxruntime's Python call overhead (Identity model): {overhead:.1f} µs per call.\n")
    print("| model | operators | batch 1: Palisade µs | onnxruntime µs | ratio | batch 256: Palisade µs/row | onnxruntime µs/row | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for e in entries:
        n = e["name"]
        trees = any("TreeEnsemble" in op for op in e["operators"])
        cells = []
        for batch in (1, 256):
            p, o = ours[(n, batch)], ort_us[(n, batch)]
            cells += [f"{p:.2f}", f"{o:.2f}", f"{p / o:.2f}x"]
        print(f"| {n} | {'trees' if trees else 'other'} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
