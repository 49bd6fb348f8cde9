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
from onnx import TensorProto, helper, numpy_helper

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


def run_ort(m, feeds):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    s = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


DTYPES = {np.dtype("float32"): "f32", np.dtype("float64"): "f64", np.dtype("int64"): "i64"}


def encode(name, a):
    if a.dtype == object:
        return {"name": name, "dtype": "string", "shape": list(a.shape), "values": [str(v) for v in a.ravel()]}
    return {"name": name, "dtype": DTYPES[a.dtype], "shape": list(a.shape), "data": b64(a)}


def save(name, m, x, note, refuse=None, tolerance=0.0):
    """x: one array for the model's first input, or a dict of arrays by input name.

    tolerance: how far (absolute, or relative above 1) a float output may be from onnxruntime's;
    0 for operators whose arithmetic is reproduced exactly, 1e-5 where onnxruntime sums through
    a CPU-dependent BLAS or an approximate exp/tanh.
    """
    if refuse:
        # onnxruntime's answer is not defined here: the runtime must refuse the model.
        onnx.save(m, OUT / f"{name}.onnx")
        (OUT / f"{name}.json").write_text(json.dumps({"note": note, "refuse": refuse}))
        print(f"{name}: {note} (refused)")
        return
    feeds = x if isinstance(x, dict) else {m.graph.input[0].name: x}
    outs = run_ort(m, feeds)
    onnx.save(m, OUT / f"{name}.onnx")
    case = {"note": note, "tolerance": tolerance, "inputs": [encode(k, v) for k, v in feeds.items()], "outputs": []}
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


F, D, I, S = TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT64, TensorProto.STRING
NP = {F: np.float32, D: np.float64, I: np.int64}


def single(op, attrs, inputs, outputs, opset_ml=3):
    """A one-node model. inputs/outputs: (name, elem type, shape) triples."""
    node = helper.make_node(op, [i[0] for i in inputs], [o[0] for o in outputs], domain="ai.onnx.ml", **attrs)
    graph = helper.make_graph(
        [node], op,
        [helper.make_tensor_value_info(*i) for i in inputs],
        [helper.make_tensor_value_info(*o) for o in outputs],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", opset_ml)])
    m.ir_version = 8
    return m


def hostile(rows, cols, dtype=np.float32, nan=False, gen=None):
    """Random values with extremes, zeros, negative zero, exact small integers and (optionally) NaN.
    gen: a generator of the caller's own, so that cases added later leave the others' draws be."""
    rng = gen or globals()["rng"]
    x = rng.normal(0, 3, size=(rows, cols))
    x[rng.random(x.shape) < 0.1] = 0.0
    x[rng.random(x.shape) < 0.05] = -0.0
    x[rng.random(x.shape) < 0.05] = rng.choice([1e30, -1e30, 1e-30, 65504.0, -1.0, 1.0])
    whole = rng.random(x.shape) < 0.1
    x[whole] = np.round(x[whole])
    if dtype == np.int64:
        x = np.clip(np.round(x), -1e6, 1e6)
    x = x.astype(dtype)
    if nan:
        x[rng.random(x.shape) < 0.1] = np.nan
    return x


def operator_cases():
    C = 5
    # Scaler, every input type; per-column and single values.
    for t, tname in [(F, "float"), (D, "double"), (I, "int64")]:
        attrs = dict(offset=list(rng.normal(0, 1, C).astype(np.float32)), scale=list(rng.normal(0, 2, C).astype(np.float32)))
        save(f"scaler_{tname}", single("Scaler", attrs, [("X", t, ["N", C])], [("Y", F, ["N", C])]),
             hostile(ROWS, C, NP[t]), f"Scaler on {tname}")
    save("scaler_single", single("Scaler", dict(offset=[0.5], scale=[-3.0]), [("X", F, ["N", C])], [("Y", F, ["N", C])]),
         hostile(ROWS, C), "Scaler, one offset and scale for all columns")
    # Imputer.
    save("imputer_nan", single("Imputer", dict(imputed_value_floats=list(rng.normal(0, 1, C).astype(np.float32)),
                                               replaced_value_float=float("nan")),
                               [("X", F, ["N", C])], [("Y", F, ["N", C])]), hostile(ROWS, C, nan=True), "Imputer of NaN, per column")
    save("imputer_sentinel", single("Imputer", dict(imputed_value_floats=[7.5], replaced_value_float=0.0),
                                    [("X", F, ["N", C])], [("Y", F, ["N", C])]), hostile(ROWS, C, nan=True),
         "Imputer of 0.0 (and -0.0), NaN left alone")
    save("imputer_int64", single("Imputer", dict(imputed_value_int64s=[1, 2, 3, 4, 5], replaced_value_int64=-1),
                                 [("X", I, ["N", C])], [("Y", I, ["N", C])]),
         np.where(rng.random((ROWS, C)) < 0.3, -1, rng.integers(-3, 3, (ROWS, C))).astype(np.int64), "Imputer of int64 -1")
    # Normalizer, Binarizer.
    for norm in ["MAX", "L1", "L2"]:
        x = hostile(ROWS, C)
        x[:20] = 0.0
        save(f"normalizer_{norm.lower()}", single("Normalizer", dict(norm=norm), [("X", F, ["N", C])], [("Y", F, ["N", C])]),
             x, f"Normalizer {norm}, zero rows included")
    save("normalizer_l2_int64", single("Normalizer", dict(norm="L2"), [("X", I, ["N", C])], [("Y", F, ["N", C])]),
         hostile(ROWS, C, np.int64), "Normalizer L2 on int64")
    save("binarizer", single("Binarizer", dict(threshold=0.25), [("X", F, ["N", C])], [("Y", F, ["N", C])]),
         hostile(ROWS, C), "Binarizer (onnxruntime refuses NaN inputs, and so does the runtime)")
    # LinearClassifier / LinearRegressor.
    for post in ["NONE", "LOGISTIC", "SOFTMAX"]:
        attrs = dict(coefficients=list(rng.normal(0, 1, 3 * C).astype(np.float32)), intercepts=list(rng.normal(0, 1, 3).astype(np.float32)),
                     classlabels_ints=[4, 8, 15], post_transform=post)
        save(f"linear_classifier_{post.lower()}", single("LinearClassifier", attrs, [("X", F, ["N", C])], [("label", I, ["N"]), ("scores", F, ["N", 3])]),
             rng.normal(0, 2, (ROWS, C)).astype(np.float32), f"LinearClassifier, 3 classes, {post}", tolerance=1e-5)
    for post in ["NONE", "LOGISTIC", "SOFTMAX"]:
        attrs = dict(coefficients=list(rng.normal(0, 1, C).astype(np.float32)), intercepts=[0.3], classlabels_strings=["no", "yes"], post_transform=post)
        save(f"linear_classifier_one_score_{post.lower()}", single("LinearClassifier", attrs, [("X", D, ["N", C])], [("label", S, ["N"]), ("scores", F, ["N", 2])]),
             rng.normal(0, 2, (ROWS, C)), f"LinearClassifier, one score column, two string labels, double input, {post}", tolerance=1e-5)
    attrs = dict(coefficients=list(rng.normal(0, 1, C).astype(np.float32)), intercepts=[0.3], classlabels_ints=[0, 1, 2], post_transform="LOGISTIC")
    save("linear_classifier_one_score_three_labels", single("LinearClassifier", attrs, [("X", F, ["N", C])], [("label", I, ["N"]), ("scores", F, ["N", 1])]),
         None, "LinearClassifier, one score column, three labels", refuse="exactly two class labels")
    attrs = dict(coefficients=list(rng.normal(0, 1, 2 * C).astype(np.float32)), intercepts=[0.1, -0.2], targets=2, post_transform="NONE")
    save("linear_regressor", single("LinearRegressor", attrs, [("X", F, ["N", C])], [("Y", F, ["N", 2])]),
         rng.normal(0, 2, (ROWS, C)).astype(np.float32), "LinearRegressor, 2 targets", tolerance=1e-5)
    # SVMs.
    V = [3, 2, 4]
    sv = list(rng.normal(0, 1, sum(V) * C).astype(np.float32))
    for kernel, params in [("RBF", [0.3, 0.0, 0.0]), ("POLY", [0.2, 1.0, 3.0]), ("LINEAR", [0.0, 0.0, 0.0]), ("SIGMOID", [0.1, 0.5, 0.0])]:
        attrs = dict(kernel_type=kernel, kernel_params=params, vectors_per_class=V, support_vectors=sv,
                     coefficients=list(rng.normal(0, 1, 2 * sum(V)).astype(np.float32)), rho=list(rng.normal(0, 0.5, 3).astype(np.float32)),
                     classlabels_ints=[0, 1, 2])
        save(f"svm_classifier_{kernel.lower()}", single("SVMClassifier", attrs, [("X", F, ["N", C])], [("label", I, ["N"]), ("scores", F, ["N", 3])]),
             rng.normal(0, 1.5, (ROWS, C)).astype(np.float32), f"SVMClassifier, 3 classes, {kernel}", tolerance=1e-5)
    attrs = dict(kernel_type="RBF", kernel_params=[0.3, 0.0, 0.0], vectors_per_class=V, support_vectors=sv,
                 coefficients=list(rng.normal(0, 1, 2 * sum(V)).astype(np.float32)), rho=list(rng.normal(0, 0.5, 3).astype(np.float32)),
                 prob_a=list(rng.normal(-2, 0.5, 3).astype(np.float32)), prob_b=list(rng.normal(0, 0.2, 3).astype(np.float32)),
                 classlabels_strings=["a", "b", "c"])
    save("svm_classifier_proba", single("SVMClassifier", attrs, [("X", F, ["N", C])], [("label", S, ["N"]), ("scores", F, ["N", 3])]),
         rng.normal(0, 1.5, (ROWS, C)).astype(np.float32), "SVMClassifier with probabilities, string labels", tolerance=1e-5)
    for post in ["NONE", "LOGISTIC", "SOFTMAX"]:
        attrs = dict(kernel_type="RBF", kernel_params=[0.3, 0.0, 0.0], vectors_per_class=[3, 2], support_vectors=sv[:5 * C],
                     coefficients=list(rng.normal(0, 1, 5).astype(np.float32)), rho=[0.1], classlabels_ints=[0, 1], post_transform=post)
        save(f"svm_classifier_binary_{post.lower()}", single("SVMClassifier", attrs, [("X", F, ["N", C])], [("label", I, ["N"]), ("scores", F, ["N", 2])]),
             rng.normal(0, 1.5, (ROWS, C)).astype(np.float32), f"SVMClassifier, binary, {post}", tolerance=1e-5)
    attrs = dict(kernel_type="LINEAR", kernel_params=[0.0, 0.0, 0.0], coefficients=list(rng.normal(0, 1, 3 * C).astype(np.float32)),
                 rho=[0.2], classlabels_ints=[1, 2, 3], post_transform="SOFTMAX")
    save("svm_classifier_liblinear", single("SVMClassifier", attrs, [("X", F, ["N", C])], [("label", I, ["N"]), ("scores", F, ["N", 3])]),
         rng.normal(0, 1.5, (ROWS, C)).astype(np.float32), "SVMClassifier in liblinear mode", tolerance=1e-5)
    for kernel, one_class in [("RBF", 0), ("POLY", 0), ("RBF", 1)]:
        attrs = dict(kernel_type=kernel, kernel_params=[0.3, 1.0, 2.0], n_supports=6, support_vectors=sv[:6 * C],
                     coefficients=list(rng.normal(0, 1, 6).astype(np.float32)), rho=[0.4], one_class=one_class)
        save(f"svm_regressor_{kernel.lower()}_{one_class}", single("SVMRegressor", attrs, [("X", F, ["N", C])], [("Y", F, ["N", 1])]),
             rng.normal(0, 1.5, (ROWS, C)).astype(np.float32), f"SVMRegressor {kernel}, one_class={one_class}", tolerance=1e-5)
    # Encoders.
    keys = [3, 1, 4, 15, 9, 2, 6]
    save("label_encoder_int_float", single("LabelEncoder", dict(keys_int64s=keys, values_floats=[float(k) / 2 for k in keys], default_float=-7.0),
                                           [("X", I, ["N"])], [("Y", F, ["N"])], opset_ml=2),
         rng.integers(0, 17, ROWS).astype(np.int64), "LabelEncoder int64 to float, unknowns to the default")
    save("label_encoder_string_int", single("LabelEncoder", dict(keys_strings=["a", "b", "c"], values_int64s=[10, 20, 30]),
                                            [("X", S, ["N", 1])], [("Y", I, ["N", 1])], opset_ml=2),
         rng.choice(["a", "b", "c", "d", ""], size=(ROWS, 1)).astype(object), "LabelEncoder string to int64, default -1")
    save("label_encoder_float_string", single("LabelEncoder", dict(keys_floats=[0.5, -0.0, float("nan"), 2.0], values_strings=["half", "zero", "missing", "two"]),
                                              [("X", F, ["N"])], [("Y", S, ["N"])], opset_ml=2),
         rng.choice(np.array([0.5, 0.0, -0.0, np.nan, 2.0, 3.0], dtype=np.float32), size=ROWS), "LabelEncoder float to string, NaN and -0.0 keys")
    # Opset 4: keys, values and the default as tensors.
    save("label_encoder_v4_string_float", single("LabelEncoder", dict(
        keys_tensor=helper.make_tensor("k", S, [3], [b"red", b"green", b"blue"]),
        values_tensor=helper.make_tensor("v", F, [3], [0.5, -1.5, 2.25]),
        default_tensor=helper.make_tensor("d", F, [1], [9.0])),
        [("X", S, ["N"])], [("Y", F, ["N"])], opset_ml=4),
        rng.choice(["red", "green", "blue", "mauve"], size=ROWS).astype(object), "LabelEncoder opset 4, string to float")
    save("label_encoder_v4_int_string", single("LabelEncoder", dict(
        keys_tensor=helper.make_tensor("k", I, [3], [7, 8, 9]),
        values_tensor=helper.make_tensor("v", S, [3], [b"seven", b"eight", b"nine"])),
        [("X", I, ["N"])], [("Y", S, ["N"])], opset_ml=4),
        rng.integers(6, 11, ROWS).astype(np.int64), "LabelEncoder opset 4, int64 to string, default _Unused")
    save("one_hot_strings", single("OneHotEncoder", dict(cats_strings=["north", "south", "east"], zeros=1),
                                   [("X", S, ["N", 1])], [("Y", F, ["N", 1, 3])]),
         rng.choice(["north", "south", "east", "atlantis"], size=(ROWS, 1)).astype(object), "OneHotEncoder on strings, unknown to zeros")
    save("one_hot_floats", single("OneHotEncoder", dict(cats_int64s=[0, 1, 2, 5], zeros=1), [("X", F, ["N", 2])], [("Y", F, ["N", 2, 4])]),
         rng.choice(np.array([0, 1, 2, 5, 1.7, -0.5, 7], dtype=np.float32), size=(ROWS, 2)), "OneHotEncoder on floats (truncated to int)")
    save("category_mapper_s2i", single("CategoryMapper", dict(cats_strings=["x", "y", "z"], cats_int64s=[7, 8, 9], default_int64=-5),
                                       [("X", S, ["N"])], [("Y", I, ["N"])]),
         rng.choice(["x", "y", "z", "w"], size=ROWS).astype(object), "CategoryMapper strings to ints")
    save("category_mapper_i2s", single("CategoryMapper", dict(cats_strings=["x", "y", "z"], cats_int64s=[7, 8, 9], default_string="?"),
                                       [("X", I, ["N"])], [("Y", S, ["N"])]),
         rng.integers(6, 11, ROWS).astype(np.int64), "CategoryMapper ints to strings")
    # ArrayFeatureExtractor, FeatureVectorizer.
    for rank, shape in [(1, [C]), (2, ["N", C]), (3, ["N", 2, C])]:
        x = hostile(ROWS, C) if rank == 2 else (hostile(1, C)[0] if rank == 1 else hostile(ROWS * 2, C).reshape(ROWS, 2, C))
        m = single("ArrayFeatureExtractor", {}, [("X", F, shape), ("Y", I, [3])], [("Z", F, None)])
        save(f"array_feature_extractor_rank{rank}", m, {"X": x, "Y": np.array([4, 0, 4], dtype=np.int64)}, f"ArrayFeatureExtractor on rank {rank}")
    m = single("ArrayFeatureExtractor", {}, [("X", S, ["N", 3]), ("Y", I, [])], [("Z", S, None)])
    save("array_feature_extractor_strings", m, {"X": rng.choice(["a", "b", "c"], size=(ROWS, 3)).astype(object), "Y": np.array(2, dtype=np.int64)},
         "ArrayFeatureExtractor on strings with a scalar index")
    m = single("FeatureVectorizer", dict(inputdimensions=[2, 4]), [("A", F, ["N", 3]), ("B", F, ["N", 2])], [("Y", F, ["N", 6])])
    save("feature_vectorizer", m, {"A": hostile(ROWS, 3), "B": hostile(ROWS, 2)}, "FeatureVectorizer cutting one input and padding another")


def text_cases():
    """StringNormalizer, Tokenizer and TfIdfVectorizer, with words and characters beyond ASCII."""
    words = ["Alpha", "beta", "GAMMA", "delta", "café", "naïve", "İstanbul", "ß", "x", "the", "The", "a", ""]
    def sentences(n):
        return np.array([" ".join(rng.choice(words, size=rng.integers(0, 7))) + rng.choice(["", ".", "!", ", ok"])
                         for _ in range(n)], dtype=object)
    def ms(domain, op, attrs, inputs, outputs):
        node = helper.make_node(op, [i[0] for i in inputs], [o[0] for o in outputs], domain=domain, **attrs)
        graph = helper.make_graph([node], op, [helper.make_tensor_value_info(*i) for i in inputs],
                                  [helper.make_tensor_value_info(*o) for o in outputs])
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
        m.ir_version = 8
        return m
    for action, sensitive, stop in [("LOWER", 0, []), ("UPPER", 0, ["the", "a"]), ("NONE", 1, ["The", "x"]), ("LOWER", 0, ["THE", "ALPHA"])]:
        m = ms("", "StringNormalizer", dict(case_change_action=action, is_case_sensitive=sensitive, stopwords=stop) if stop else
               dict(case_change_action=action, is_case_sensitive=sensitive), [("X", S, ["C"])], [("Y", S, None)])
        save(f"string_normalizer_{action.lower()}_{sensitive}_{len(stop)}", m, np.array(rng.choice(words[:-1], size=40), dtype=object),
             f"StringNormalizer {action}, case-sensitive={sensitive}, stopwords {stop}")
    m = ms("", "StringNormalizer", dict(case_change_action="NONE", is_case_sensitive=1, stopwords=["x"]), [("X", S, [1, "C"])], [("Y", S, None)])
    save("string_normalizer_all_stopwords", m, np.array([["x", "x"]], dtype=object), "StringNormalizer removing every word")
    for name, attrs in [
        ("tokenexp", dict(mark=0, mincharnum=1, pad_value="#", tokenexp="[a-zA-Z0-9_]+")),
        ("tokenexp_perl", dict(mark=1, mincharnum=2, pad_value="<pad>", tokenexp="\\b\\w\\w+\\b")),
        ("tokenexp_longest", dict(mark=0, mincharnum=1, pad_value="#", tokenexp="a|al|alp|[a-z]+")),
        ("separators", dict(mark=0, mincharnum=1, pad_value="#", separators=[" ", ",", "\\."])),
        ("chars", dict(mark=1, mincharnum=1, pad_value="#", tokenexp=".")),
    ]:
        m = ms("com.microsoft", "Tokenizer", attrs, [("X", S, ["N"])], [("Y", S, None)])
        save(f"tokenizer_{name}", m, sentences(50), f"Tokenizer ({name})")
    m = ms("com.microsoft", "Tokenizer", dict(mark=0, mincharnum=1, pad_value="#", tokenexp="[a-z]+"), [("X", S, ["N", 2])], [("Y", S, None)])
    save("tokenizer_rank2", m, sentences(40).reshape(20, 2), "Tokenizer on [N, 2]")
    pool = ["alpha", "beta", "gamma", "delta", "café", "alpha", "beta", "beta", "gamma", "gamma", "delta", "alpha", "alpha"]
    for mode, lo, hi, skip in [("TF", 1, 1, 0), ("TF", 1, 2, 0), ("IDF", 2, 2, 1), ("TFIDF", 1, 2, 2)]:
        attrs = dict(mode=mode, min_gram_length=lo, max_gram_length=hi, max_skip_count=skip, ngram_counts=[0, 5],
                     ngram_indexes=[0, 1, 2, 3, 4, 5, 6, 7, 8], pool_strings=pool, weights=[0.5, 1.5, 2.0, 0.25, 3.0, 1.0, 2.5, 0.75, 1.25])
        m = ms("", "TfIdfVectorizer", attrs, [("X", S, ["N", 8])], [("Y", F, ["N", 9])])
        x = rng.choice(["alpha", "beta", "gamma", "delta", "café", "#", "zeta"], size=(60, 8)).astype(object)
        save(f"tfidf_{mode.lower()}_{lo}{hi}_skip{skip}", m, x, f"TfIdfVectorizer {mode}, {lo}-{hi} grams, skip {skip}")
    attrs = dict(mode="TF", min_gram_length=1, max_gram_length=2, max_skip_count=1, ngram_counts=[0, 3], ngram_indexes=[2, 0, 1, 4, 3],
                 pool_int64s=[7, 8, 9, 7, 8, 8, 9])
    m = ms("", "TfIdfVectorizer", attrs, [("X", I, ["C"])], [("Y", F, [5])])
    save("tfidf_int64_1d", m, rng.integers(6, 11, size=30).astype(np.int64), "TfIdfVectorizer over int64, one row")


def v5_case(name, n_targets, aggregate, post, member=False, double=False, nan=False, refuse=None):
    """TreeEnsemble (ai.onnx.ml opset 5) from a random forest: nodes and leaves as indices,
    and (member=True) some equality tests turned into set-membership tests."""
    modes_v5 = {"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3, "BRANCH_EQ": 4, "BRANCH_NEQ": 5}
    modes = tuple(MODES) if member else ("BRANCH_LEQ",)
    nodes, _ = random_forest(6, 5, 4, modes, missing=0.3 if nan else 0.0)
    by_key = {(n["tree"], n["id"]): n for n in nodes}
    branches = [n for n in nodes if n["mode"] != "LEAF"]
    leaves = [n for n in nodes if n["mode"] == "LEAF"]
    b_index = {(n["tree"], n["id"]): i for i, n in enumerate(branches)}
    l_index = {(n["tree"], n["id"]): i for i, n in enumerate(leaves)}
    def child(n, key):
        c = by_key[(n["tree"], n[key])]
        return (l_index[(c["tree"], c["id"])], 1) if c["mode"] == "LEAF" else (b_index[(c["tree"], c["id"])], 0)
    members, node_modes, splits = [], [], []
    for n in branches:
        if member and n["mode"] == "BRANCH_EQ" and rng.random() < 0.7:
            node_modes.append(6)
            members.extend(sorted(set(rng.integers(0, 4, size=rng.integers(1, 4)).tolist())))
            members.append(float("nan"))
            splits.append(0.0)
        else:
            node_modes.append(modes_v5[n["mode"]])
            splits.append(n["value"])
    tcs = [child(n, "true") for n in branches]
    fcs = [child(n, "false") for n in branches]
    roots = [b_index[(n["tree"], n["id"])] for n in nodes if n["id"] == 0]
    dt = TensorProto.DOUBLE if double else TensorProto.FLOAT
    attrs = dict(
        aggregate_function={"AVERAGE": 0, "SUM": 1, "MIN": 2, "MAX": 3}[aggregate],
        post_transform={"NONE": 0, "SOFTMAX": 1, "LOGISTIC": 2, "SOFTMAX_ZERO": 3}[post],
        n_targets=n_targets,
        tree_roots=roots,
        nodes_modes=helper.make_tensor("m", TensorProto.UINT8, [len(node_modes)], node_modes),
        nodes_featureids=[n["feature"] for n in branches],
        nodes_splits=helper.make_tensor("s", dt, [len(splits)], splits),
        nodes_truenodeids=[c[0] for c in tcs], nodes_trueleafs=[c[1] for c in tcs],
        nodes_falsenodeids=[c[0] for c in fcs], nodes_falseleafs=[c[1] for c in fcs],
        nodes_missing_value_tracks_true=[n.get("missing", 0) for n in branches],
        leaf_targetids=[int(rng.integers(n_targets)) for _ in leaves],
        leaf_weights=helper.make_tensor("w", dt, [len(leaves)], [float(np.float32(rng.normal(0, 1))) for _ in leaves]),
    )
    if member:
        attrs["membership_values"] = helper.make_tensor("mv", dt, [len(members)], members)
    x = helper.make_tensor_value_info("X", dt, ["N", 5])
    y = helper.make_tensor_value_info("Y", dt, ["N", n_targets])
    node = helper.make_node("TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", **attrs)
    m = helper.make_model(helper.make_graph([node], "v5", [x], [y]),
                          opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)])
    m.ir_version = 10
    save(name, m, inputs_for(nodes, 5, np.float64 if double else np.float32, nan),
         f"TreeEnsemble v5, {n_targets} targets, {aggregate}, {post}, member={member}", refuse)


def en_us_locale():
    """onnxruntime's StringNormalizer needs en_US.UTF-8; compile it privately when missing."""
    import os
    import subprocess
    import tempfile
    have = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.lower()
    if "en_us.utf8" not in have and "en_us.utf-8" not in have:
        folder = tempfile.mkdtemp(prefix="locale-")
        subprocess.run(["localedef", "-i", "en_US", "-f", "UTF-8", f"{folder}/en_US.UTF-8"], check=True)
        os.environ["LOCPATH"] = folder


def standard(op, attrs, x, outputs, extra_inputs=(), opset=17):
    """A one-node standard-domain model on X ([N, C] float) and constant extra inputs."""
    inits = [numpy_helper.from_array(v, name) for name, v in extra_inputs]
    node = helper.make_node(op, ["X"] + [n for n, _ in extra_inputs], [o[0] for o in outputs], **attrs)
    graph = helper.make_graph(
        [node], op, [helper.make_tensor_value_info("X", F, ["N", x.shape[1]])],
        [helper.make_tensor_value_info(*o) for o in outputs], initializer=inits,
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def standard_cases():
    """The standard operators the runtime computes itself (short-row Softmax, ArgMax, TopK,
    ReduceLogSumExp), on hostile values and on ties. Its own generator: run alone, it writes
    what a full run writes."""
    gen = np.random.default_rng(20261201)
    for c in (3, 7, 32, 40):
        x = np.clip(hostile(ROWS, c, gen=gen), -80, 80)
        save(f"std_softmax_{c}", standard("Softmax", {"axis": -1}, x, [("Y", F, ["N", c])], opset=13), x,
             f"Softmax over {c} classes", tolerance=1e-5)
    ties = np.round(hostile(ROWS, 10, gen=gen) / 4).astype(np.float32)
    for last in (0, 1):
        for keep in (0, 1):
            shape = ["N", 1] if keep else ["N"]
            m = standard("ArgMax", {"axis": 1, "keepdims": keep, "select_last_index": last}, ties,
                         [("Y", I, shape)], opset=13)
            save(f"std_argmax_last{last}_keep{keep}", m, ties, "ArgMax over rows full of ties")
    m = standard("ArgMin", {"axis": 1, "keepdims": 1}, ties, [("Y", I, ["N", 1])], opset=13)
    save("std_argmin", m, ties, "ArgMin over rows full of ties")
    for largest in (0, 1):
        for k in (1, 3, 10):
            m = standard("TopK", {"axis": -1, "largest": largest, "sorted": 1}, ties,
                         [("V", F, ["N", k]), ("I", I, ["N", k])], extra_inputs=[("K", np.array([k], np.int64))])
            save(f"std_topk_largest{largest}_k{k}", m, ties, f"TopK {k} of 10, ties broken by index")
    far = np.clip(hostile(ROWS, 5, gen=gen), -10, 10) * np.float32(1e5)
    far[: ROWS // 2] -= 1e6
    for keep in (0, 1):
        shape = ["N", 1] if keep else ["N"]
        m = standard("ReduceLogSumExp", {"axes": [1], "keepdims": keep}, far, [("Y", F, shape)], opset=13)
        save(f"std_logsumexp_keep{keep}", m, far, "ReduceLogSumExp far below zero (the naive form is -inf)",
             tolerance=1e-5)
    m = standard("ReduceLogSumExp", {"keepdims": 1}, far, [("Y", F, ["N", 1])],
                 extra_inputs=[("axes", np.array([-1], np.int64))], opset=18)
    save("std_logsumexp_opset18", m, far, "ReduceLogSumExp with axes as an input (opset 18)", tolerance=1e-5)


def main():
    en_us_locale()
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
    operator_cases()
    text_cases()
    v5_case("v5_sum_1", 1, "SUM", "NONE")
    # onnxruntime reads post_transform 1 and 2 the reverse of the ONNX spec: refused.
    v5_case("v5_softmax_refused", 3, "AVERAGE", "SOFTMAX", refuse="reverse")
    v5_case("v5_logistic_refused", 2, "SUM", "LOGISTIC", refuse="reverse")
    v5_case("v5_avg_3_softmax_zero", 3, "AVERAGE", "SOFTMAX_ZERO")
    v5_case("v5_member_nan", 2, "SUM", "NONE", member=True, nan=True)
    v5_case("v5_max_double", 2, "MAX", "NONE", double=True)
    v5_case("v5_min_member", 1, "MIN", "NONE", member=True)
    standard_cases()


if __name__ == "__main__":
    main()
