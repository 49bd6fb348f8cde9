#!/usr/bin/env python3
"""Reference fixtures for crates/palisade-onnx-ml: models, inputs and onnxruntime's outputs.

Each case is a small ONNX model around one ai.onnx.ml operator, built to reach one branch of
onnxruntime's semantics (binary layouts, base values, post-transforms, classes no leaf votes
for, string labels, every node mode, NaN routing, double and int64 inputs, shared subtrees), plus
real scikit-learn exports. Inputs are random, and a third of them sit exactly on a split
threshold or one float step either side of it, or are NaN where the model says where NaN goes.

onnxruntime runs on one thread, so its order of summation is fixed and the comparison can be
exact. Run: .venv/bin/python scripts/make_onnx_ml_fixtures.py  (needs onnx, onnxruntime,
scikit-learn, skl2onnx).
"""
import base64
import json
import pathlib

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/palisade-onnx-ml/tests/fixtures"
ROWS = 600
rng = np.random.default_rng(20261130)

MODES = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]


def random_forest(n_trees, n_features, depth, modes=("BRANCH_LEQ",), missing=0.0, shuffle=False, share=False):
    """Nodes of n_trees random trees, node ids in depth-first order (or shuffled)."""
    nodes = []  # dicts
    leaves = []  # (tree, node)
    for t in range(n_trees):
        counter = [0]
        tree_nodes = []

        def grow(d):
            nid = counter[0]
            counter[0] += 1
            node = {"tree": t, "id": nid}
            tree_nodes.append(node)
            if d == 0 or (d < depth and rng.random() < 0.2):
                node.update(mode="LEAF", feature=0, value=0.0, true=0, false=0)
                leaves.append((t, nid))
                return nid
            mode = modes[rng.integers(len(modes))]
            feature = int(rng.integers(n_features))
            if mode in ("BRANCH_EQ", "BRANCH_NEQ"):
                value = float(rng.integers(0, 4))
            else:
                value = float(np.float32(rng.normal(0, 2)))
            node.update(mode=mode, feature=feature, value=value,
                        missing=1 if rng.random() < missing else 0)
            node["false"] = grow(d - 1)
            node["true"] = grow(d - 1)
            return nid

        grow(depth)
        if share and len(tree_nodes) > 6:
            # LightGBM-style: a later branch's true side reuses an earlier, finished subtree (the
            # root's false side), replacing a leaf, so nothing is orphaned and nothing loops.
            by_id = {n["id"]: n for n in tree_nodes}

            def subtree(i):
                n = by_id[i]
                return {i} if n["mode"] == "LEAF" else {i} | subtree(n["true"]) | subtree(n["false"])

            shared = tree_nodes[0]["false"]
            inside = subtree(shared)
            for n in reversed(tree_nodes):
                if n["mode"] != "LEAF" and n["id"] not in inside and by_id[n["true"]]["mode"] == "LEAF":
                    leaf = by_id[n["true"]]
                    tree_nodes.remove(leaf)
                    leaves.remove((t, leaf["id"]))
                    n["true"] = shared
                    break
        if shuffle:
            rng.shuffle(tree_nodes)
            # the root must stay first: it is how a tree is found
            root = [n for n in tree_nodes if n["id"] == 0][0]
            tree_nodes.remove(root)
            tree_nodes.insert(0, root)
        nodes.extend(tree_nodes)
    return nodes, leaves


def node_attrs(nodes, double=False):
    attrs = dict(
        nodes_treeids=[n["tree"] for n in nodes],
        nodes_nodeids=[n["id"] for n in nodes],
        nodes_featureids=[n["feature"] for n in nodes],
        nodes_modes=[n["mode"] for n in nodes],
        nodes_truenodeids=[n["true"] for n in nodes],
        nodes_falsenodeids=[n["false"] for n in nodes],
        nodes_missing_value_tracks_true=[n.get("missing", 0) for n in nodes],
        nodes_hitrates=[1.0] * len(nodes),
    )
    values = [n["value"] for n in nodes]
    if double:
        attrs["nodes_values_as_tensor"] = helper.make_tensor("v", TensorProto.DOUBLE, [len(values)], values)
    else:
        attrs["nodes_values"] = values
    return attrs


def leaf_weights(leaves, targets, prefix, sign="positive", per_leaf=1, skip_targets=()):
    ids, trees, nids, weights = [], [], [], []
    allowed = [t for t in targets if t not in skip_targets]
    for (t, nid) in leaves:
        chosen = rng.choice(allowed, size=min(per_leaf, len(allowed)), replace=False)
        for c in chosen:
            w = rng.random() if sign == "positive" else rng.normal(0, 1)
            ids.append(int(c))
            trees.append(t)
            nids.append(nid)
            weights.append(float(np.float32(w)))
    return {f"{prefix}ids" if prefix != "class_" else "class_ids": ids,
            f"{prefix}treeids": trees, f"{prefix}nodeids": nids, f"{prefix}weights": weights}


def inputs_for(nodes, n_features, dtype=np.float32, nan=False, rows=ROWS):
    x = rng.normal(0, 2.5, size=(rows, n_features))
    branches = [n for n in nodes if n["mode"] != "LEAF"]
    # a third of the rows: every feature placed on, or one step off, some threshold
    for r in range(rows // 3):
        for f in range(n_features):
            cands = [n["value"] for n in branches if n["feature"] == f]
            if cands:
                v = np.float32(cands[rng.integers(len(cands))])
                step = rng.integers(3)
                if step == 1:
                    v = np.nextafter(v, np.float32(np.inf))
                elif step == 2:
                    v = np.nextafter(v, np.float32(-np.inf))
                x[r, f] = v
    if dtype == np.int64:
        x = np.round(x)
    x = x.astype(dtype)
    if nan:
        mask = rng.random(x.shape) < 0.15
        x[mask] = np.nan
    return x


def model(op, attrs, n_features, in_type=TensorProto.FLOAT, outputs=None, rank=2):
    shape = ["N", n_features] if rank == 2 else [n_features]
    x = helper.make_tensor_value_info("X", in_type, shape)
    if op == "TreeEnsembleClassifier":
        label_type = TensorProto.STRING if "classlabels_strings" in attrs else TensorProto.INT64
        n = len(attrs.get("classlabels_strings") or attrs.get("classlabels_int64s"))
        outs = [helper.make_tensor_value_info("label", label_type, ["N"]),
                helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", n])]
    else:
        outs = [helper.make_tensor_value_info("variable", TensorProto.FLOAT, ["N", attrs["n_targets"]])]
    node = helper.make_node(op, ["X"], [o.name for o in outs], domain="ai.onnx.ml", **attrs)
    graph = helper.make_graph([node], op, [x], outs)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    m.ir_version = 8
    return m


def run_ort(m, x):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    s = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def save(name, m, x, note, refuse=None):
    if refuse:
        # onnxruntime's answer is not defined here: the runtime must refuse the model.
        onnx.save(m, OUT / f"{name}.onnx")
        (OUT / f"{name}.json").write_text(json.dumps({"note": note, "refuse": refuse}))
        print(f"{name}: {note} (refused)")
        return
    outs = run_ort(m, x)
    onnx.save(m, OUT / f"{name}.onnx")
    dtype = {np.dtype("float32"): "f32", np.dtype("float64"): "f64", np.dtype("int64"): "i64"}[x.dtype]
    case = {"note": note, "input": {"dtype": dtype, "shape": list(x.shape), "data": b64(x)}, "outputs": []}
    for o in outs:
        if o.dtype == object:
            case["outputs"].append({"dtype": "string", "shape": list(o.shape), "values": [str(v) for v in o.ravel()]})
        elif o.dtype == np.int64:
            case["outputs"].append({"dtype": "i64", "shape": list(o.shape), "values": [int(v) for v in o.ravel()]})
        else:
            case["outputs"].append({"dtype": "f32", "shape": list(o.shape), "data": b64(o.astype(np.float32))})
    (OUT / f"{name}.json").write_text(json.dumps(case))
    print(f"{name}: {note}")


def classifier_case(name, n_classes, weighted, sign, post, base, labels=None, modes=("BRANCH_LEQ",),
                    missing=0.0, nan=False, per_leaf=1, n_trees=8, depth=5, n_features=6, strings=False,
                    in_type=TensorProto.FLOAT, shuffle=False, share=False, refuse=None):
    double = in_type == TensorProto.DOUBLE
    nodes, leaves = random_forest(n_trees, n_features, depth, modes, missing, shuffle, share)
    attrs = node_attrs(nodes, double)
    attrs.update(leaf_weights(leaves, weighted, "class_", sign, per_leaf))
    if strings:
        attrs["classlabels_strings"] = [f"class-{i}" for i in range(n_classes)]
    else:
        attrs["classlabels_int64s"] = labels or list(range(n_classes))
    attrs["post_transform"] = post
    if base is not None:
        attrs["base_values"] = base
    dtype = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64, TensorProto.INT64: np.int64}[in_type]
    save(name, model("TreeEnsembleClassifier", attrs, n_features, in_type), inputs_for(nodes, n_features, dtype, nan),
         f"classifier, {n_classes} classes, weights on {list(weighted)}, {sign} weights, {post}, base {base}", refuse)


def regressor_case(name, n_targets, aggregate, post, base, sign="mixed", skip=(), modes=("BRANCH_LEQ",),
                   missing=0.0, nan=False, per_leaf=1, in_type=TensorProto.FLOAT):
    double = in_type == TensorProto.DOUBLE
    nodes, leaves = random_forest(7, 5, 5, modes, missing)
    attrs = node_attrs(nodes, double)
    attrs.update(leaf_weights(leaves, list(range(n_targets)), "target_", sign, per_leaf, skip))
    attrs.update(n_targets=n_targets, aggregate_function=aggregate, post_transform=post)
    if base is not None:
        attrs["base_values"] = base
    dtype = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64}[in_type]
    save(name, model("TreeEnsembleRegressor", attrs, 5, in_type), inputs_for(nodes, 5, dtype, nan),
         f"regressor, {n_targets} targets, {aggregate}, {post}, base {base}")


def sklearn_cases():
    from sklearn.datasets import load_breast_cancer, load_iris, load_diabetes
    from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier,
                                  GradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor)
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    from skl2onnx import to_onnx

    def export(name, est, X, note):
        est.fit(X, Y)
        m = to_onnx(est, X[:1].astype(np.float32), options={"zipmap": False} if hasattr(est, "predict_proba") else None,
                    target_opset={"": 17, "ai.onnx.ml": 3})
        lo, hi = X.min(0), X.max(0)
        x = rng.uniform(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo), size=(ROWS, X.shape[1])).astype(np.float32)
        save(name, m, x, note)

    X, Y = load_breast_cancer(return_X_y=True)
    export("sk_tree_binary", DecisionTreeClassifier(max_depth=6, random_state=0), X, "sklearn decision tree, binary")
    export("sk_forest_binary", RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0), X, "sklearn random forest, binary")
    export("sk_gb_binary", GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0), X, "sklearn gradient boosting, binary")
    X, Y = load_iris(return_X_y=True)
    export("sk_forest_iris", RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0), X, "sklearn random forest, 3 classes")
    export("sk_extra_iris", ExtraTreesClassifier(n_estimators=10, max_depth=4, random_state=0), X, "sklearn extra trees, 3 classes")
    export("sk_gb_iris", GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0), X, "sklearn gradient boosting, 3 classes")
    X, Y = load_diabetes(return_X_y=True)
    export("sk_tree_reg", DecisionTreeRegressor(max_depth=6, random_state=0), X, "sklearn decision tree regressor")
    export("sk_forest_reg", RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0), X, "sklearn random forest regressor")
    export("sk_gb_reg", GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0), X, "sklearn gradient boosting regressor")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*"):
        old.unlink()
    # Binary, one weighted class (skl2onnx's trees and forests; XGBoost and LightGBM binary).
    classifier_case("bin_pos_none", 2, [0], "positive", "NONE", None)
    classifier_case("bin_pos_base1", 2, [0], "positive", "NONE", [0.1])
    classifier_case("bin_pos_base2", 2, [0], "positive", "NONE", [0.2, 0.2])
    classifier_case("bin_mixed_none", 2, [0], "mixed", "NONE", None)
    classifier_case("bin_mixed_logistic", 2, [0], "mixed", "LOGISTIC", None)
    classifier_case("bin_mixed_logistic_base1", 2, [0], "mixed", "LOGISTIC", [-0.3])
    classifier_case("bin_probit_refused", 2, [0], "positive", "PROBIT", None, depth=3, n_trees=1, refuse="PROBIT")
    classifier_case("multi_probit_refused", 3, [0, 1, 2], "positive", "PROBIT", None, per_leaf=3, n_trees=1, depth=3, refuse="PROBIT")
    classifier_case("bin_labels_3_7", 2, [0], "positive", "NONE", None, labels=[3, 7])
    classifier_case("bin_strings", 2, [0], "mixed", "LOGISTIC", None, strings=True)
    # Binary, both classes weighted.
    classifier_case("bin_both_none", 2, [0, 1], "positive", "NONE", None, per_leaf=2)
    classifier_case("bin_both_mixed_labels", 2, [0, 1], "mixed", "NONE", None, labels=[3, 7])
    classifier_case("bin_both_sparse", 2, [0, 1], "mixed", "LOGISTIC", None, per_leaf=1)
    classifier_case("bin_both_base2", 2, [0, 1], "mixed", "NONE", [0.5, -0.5], per_leaf=1)
    classifier_case("bin_both_base1", 2, [0, 1], "mixed", "SOFTMAX", [0.25], per_leaf=1)
    # Multi-class.
    classifier_case("multi_softmax_base", 4, [0, 1, 2, 3], "mixed", "SOFTMAX", [0.1, -0.2, 0.3, 0.0], per_leaf=4)
    classifier_case("multi_none_missing_class", 4, [0, 1, 3], "positive", "NONE", None, per_leaf=2)
    classifier_case("multi_logistic", 3, [0, 1, 2], "mixed", "LOGISTIC", None, per_leaf=3)
    classifier_case("multi_softmax_zero", 3, [0, 1, 2], "mixed", "SOFTMAX_ZERO", None, per_leaf=1)
    classifier_case("multi_strings", 5, [0, 1, 2, 3, 4], "positive", "NONE", None, per_leaf=2, strings=True)
    classifier_case("multi_labels", 3, [0, 1, 2], "positive", "NONE", None, labels=[10, -4, 99], per_leaf=2)
    # Node modes, NaN routing, layout.
    classifier_case("modes_all_nan", 3, [0, 1, 2], "mixed", "SOFTMAX", None, modes=tuple(MODES), missing=0.5, nan=True, per_leaf=3)
    classifier_case("leq_nan_tracks", 2, [0], "mixed", "LOGISTIC", None, missing=0.5, nan=True)
    classifier_case("leq_nan_no_tracks", 2, [0], "positive", "NONE", None, nan=True)
    classifier_case("shuffled_shared", 3, [0, 1, 2], "positive", "NONE", None, shuffle=True, share=True, per_leaf=2)
    classifier_case("double_input", 3, [0, 1, 2], "mixed", "SOFTMAX", None, per_leaf=3, in_type=TensorProto.DOUBLE)
    classifier_case("int64_input", 2, [0], "positive", "NONE", None, in_type=TensorProto.INT64)
    classifier_case("many_trees", 3, [0, 1, 2], "mixed", "SOFTMAX", None, n_trees=120, depth=5, per_leaf=3)
    # Regression.
    for agg in ["SUM", "AVERAGE", "MIN", "MAX"]:
        regressor_case(f"reg1_{agg.lower()}", 1, agg, "NONE", [0.5])
        regressor_case(f"reg3_{agg.lower()}", 3, agg, "NONE", [0.1, 0.2, 0.3], per_leaf=2)
    regressor_case("reg1_nobase_nan", 1, "SUM", "NONE", None, modes=tuple(MODES), missing=0.5, nan=True)
    regressor_case("reg3_untouched_target", 3, "SUM", "NONE", [1.0, 2.0, 3.0], skip=(1,))
    regressor_case("reg3_softmax", 3, "SUM", "SOFTMAX", None, per_leaf=3)
    regressor_case("reg3_logistic_avg", 3, "AVERAGE", "LOGISTIC", None, per_leaf=3)
    regressor_case("reg2_double", 2, "SUM", "NONE", [0.25, 0.75], per_leaf=2, in_type=TensorProto.DOUBLE)
    sklearn_cases()


if __name__ == "__main__":
    main()
