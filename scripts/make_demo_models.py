"""Build Palisade's bundled demo models and test fixtures, reproducibly.

Run from the repository root:  python scripts/make_demo_models.py
Needs: scikit-learn, skl2onnx, onnx (see scripts/requirements.txt).

Every model is trained on a public toy data set that ships inside scikit-learn,
with fixed seeds, and exported with skl2onnx. Outputs:
  models/<name>/1/model.onnx   and   models/<name>/model.toml (pinned SHA-256)
  tests/fixtures/unsupported/model.onnx  (uses DictVectorizer, which no V2 input can feed)
"""

import hashlib
import os
import textwrap

import numpy as np
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPSET = {"": 15, "ai.onnx.ml": 3}


def export(model, n_features, name, doc):
    # zipmap=False: tract has no ZipMap, and V2 clients want a plain tensor anyway.
    options = {id(model): {"zipmap": False}} if hasattr(model, "predict_proba") else None
    onx = convert_sklearn(
        model,
        name,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        target_opset=OPSET,
        options=options,
    )
    onx.doc_string = doc
    onx.producer_name = "palisade/scripts/make_demo_models.py"
    return onx.SerializeToString()


def write_model(name, blobs, description, owner, risk, n_features, default_version="1"):
    """blobs: {version: onnx bytes}. Writes every version and a manifest pinning each digest."""
    folder = os.path.join(ROOT, "models", name)
    pins = []
    for version, blob in blobs.items():
        os.makedirs(os.path.join(folder, version), exist_ok=True)
        with open(os.path.join(folder, version, "model.onnx"), "wb") as f:
            f.write(blob)
        digest = hashlib.sha256(blob).hexdigest()
        pins.append(f'[versions.{version}]\nsha256 = "{digest}"\n')
        print(f"{name}@{version}: {len(blob)} bytes, {n_features} features, sha256 {digest}")
    manifest = textwrap.dedent(
        f"""\
        # Manifest of the '{name}' demo model, written by scripts/make_demo_models.py.
        # Each version's SHA-256 is pinned: a file that does not match is refused at load.
        description = "{description}"
        owner = "{owner}"
        risk = "{risk}"
        default_version = "{default_version}"
        """
    )
    with open(os.path.join(folder, "model.toml"), "w") as f:
        f.write(manifest + "\n" + "\n".join(pins))


def main():
    iris = load_iris()
    x, y = iris.data.astype(np.float32), iris.target
    clf = LogisticRegression(max_iter=1000, random_state=0).fit(x, y)
    # Version 2: a more strongly regularized candidate, to show version switches and rollback.
    clf2 = LogisticRegression(C=0.05, max_iter=1000, random_state=0).fit(x, y)
    write_model(
        "iris",
        {
            "1": export(clf, 4, "iris", "Logistic regression on the iris data set (3 classes)."),
            "2": export(clf2, 4, "iris", "Logistic regression (C=0.05) on the iris data set (3 classes)."),
        },
        "Logistic regression classifier on the iris flowers data set: 4 measurements in cm, 3 species.",
        "demo@palisade.invalid",
        "low",
        4,
    )

    diabetes = load_diabetes()
    x, y = diabetes.data.astype(np.float32), diabetes.target.astype(np.float32)
    mlp = MLPRegressor(hidden_layer_sizes=(32, 16), max_iter=2000, random_state=0).fit(x, y)
    write_model(
        "diabetes",
        {"1": export(mlp, 10, "diabetes", "MLP regressor on the diabetes data set.")},
        "MLP regressor on the diabetes data set: 10 standardized features, disease progression after one year.",
        "demo@palisade.invalid",
        "medium",
        10,
    )

    cancer = load_breast_cancer()
    x, y = cancer.data.astype(np.float32), cancer.target
    tree = DecisionTreeClassifier(max_depth=5, random_state=0).fit(x, y)
    write_model(
        "breast-cancer",
        {"1": export(tree, 30, "breast_cancer", "Decision tree on the breast cancer data set.")},
        "Decision tree classifier on the Wisconsin breast cancer data set: 30 features, malignant (0) or benign (1).",
        "demo@palisade.invalid",
        "high",
        30,
    )

    # A fixture the runtime must refuse at load, naming the operator: DictVectorizer reads a
    # map, which no V2 tensor can carry.
    from onnx import TensorProto, helper

    words = helper.make_map_type_proto(TensorProto.STRING, helper.make_tensor_type_proto(TensorProto.FLOAT, None))
    graph = helper.make_graph(
        [helper.make_node("DictVectorizer", ["counts"], ["features"], domain="ai.onnx.ml",
                          string_vocabulary=["alpha", "beta"])],
        "unsupported",
        [helper.make_value_info("counts", words)],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 2])],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15), helper.make_opsetid("ai.onnx.ml", 3)])
    m.ir_version = 8
    blob = m.SerializeToString()
    fixture = os.path.join(ROOT, "tests", "fixtures", "unsupported")
    os.makedirs(fixture, exist_ok=True)
    with open(os.path.join(fixture, "model.onnx"), "wb") as f:
        f.write(blob)
    print(f"unsupported fixture: sha256 {hashlib.sha256(blob).hexdigest()}")


if __name__ == "__main__":
    main()
