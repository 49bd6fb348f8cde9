#!/usr/bin/env python3
"""tests/fixtures/slow/model.onnx: a deliberately slow model (400 chained 256x256 MatMul + Tanh
layers, one shared weight) for the inference-pool test. Run: python scripts/make_slow_fixture.py"""
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "slow" / "model.onnx"
rng = np.random.default_rng(0)
w = (rng.normal(0, 1, (256, 256)) / 16).astype(np.float32)
nodes, prev = [], "x"
for i in range(400):
    nodes.append(helper.make_node("MatMul", [prev, "w"], [f"m{i}"]))
    nodes.append(helper.make_node("Tanh", [f"m{i}"], [f"t{i}"]))
    prev = f"t{i}"
nodes.append(helper.make_node("Identity", [prev], ["y"]))
graph = helper.make_graph(nodes, "slow", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 256])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 256])], [numpy_helper.from_array(w, "w")])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
model.doc_string = "Deliberately slow: 400 chained 256x256 MatMul+Tanh layers, for the inference-pool test."
OUT.parent.mkdir(parents=True, exist_ok=True)
onnx.save(model, OUT)
