#!/usr/bin/env python3
"""Write self-test vectors for a model: inputs and the outputs onnxruntime gives for them, in
the format `palisade models pin|add|sign --selftest FILE` takes (see docs/supply-chain.md).

    python scripts/make_selftest.py MODEL.onnx OUT.json [--rows 16] [--low 0] [--high 3] [--seed 0]
                                    [--from ROWS.npy]

Rows come from --from (a .npy of shape [n, features]) or are drawn uniformly in [low, high);
a few rows at the range's edges are added. Float outputs are written exactly (repr of each
float32), so a runtime that differs in any digit beyond the tolerance is caught.
"""
import argparse
import json

import numpy as np
import onnxruntime as ort

DATATYPES = {
    "tensor(float)": ("FP32", np.float32),
    "tensor(double)": ("FP64", np.float64),
    "tensor(int64)": ("INT64", np.int64),
    "tensor(int32)": ("INT32", np.int32),
    "tensor(string)": ("BYTES", object),
}


def v2(name, array, datatype):
    data = array.ravel().tolist()
    if datatype == "BYTES":
        data = [str(v) for v in data]
    elif datatype.startswith("FP"):
        data = [float(v) for v in data]
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": data}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--low", type=float, default=0.0)
    ap.add_argument("--high", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--from", dest="source")
    args = ap.parse_args()

    session = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    datatype, dtype = DATATYPES[inp.type]
    features = inp.shape[-1]
    if args.source:
        x = np.load(args.source)[: args.rows].astype(dtype)
    else:
        rng = np.random.default_rng(args.seed)
        x = rng.uniform(args.low, args.high, size=(args.rows, features))
        x[0], x[-1] = args.low, np.nextafter(args.high, args.low)
        x = x.astype(dtype)
    outputs = session.run(None, {inp.name: x})
    cases = [{
        "inputs": [v2(inp.name, x, datatype)],
        "outputs": [v2(o.name, value, DATATYPES[o.type][0]) for o, value in zip(session.get_outputs(), outputs)],
    }]
    doc = {
        "description": f"onnxruntime {ort.__version__} on {len(x)} rows",
        "tolerance": {"absolute": 1e-5, "relative": 1e-4},
        "cases": cases,
    }
    with open(args.out, "w") as f:
        json.dump(doc, f)
    print(f"{args.out}: {len(x)} rows, outputs {[o.name for o in session.get_outputs()]}")


if __name__ == "__main__":
    main()
